"""Attacks as torchattacks ``Attack`` subclasses (one per file), the one factory, and the training hook.

Every attack takes images in [0, 1] and integer labels and returns detached adversarial images in
[0, 1]; they compose with torchattacks (``MultiAttack``, ``save``, targeted modes, devices). Every
attack is registered in :data:`mireg.registry.ATTACKS` and built by :func:`create_attack`:
mireg's own (``infopgd``, ``cw-inf``, ``ddn``, ``ddn-bounded``, ``fwa``, ``wasserstein-pgd``, ``ti-dim``,
``bpda-pgd``, ``rays``, ``autoattack``, ``transfer``) and torchattacks' (:mod:`mireg.attacks.zoo`).
"""

from mireg.attacks import zoo as _zoo  # noqa: F401  (registers torchattacks' attacks by name)
from mireg.attacks.autoattack import AutoAttack
from mireg.attacks.base import Attack
from mireg.attacks.bpda import BPDA, bpda
from mireg.attacks.bpda_pgd import BPDAPGD
from mireg.attacks.cw_inf import CWInf
from mireg.attacks.ddn import DDN, DDNBounded
from mireg.attacks.factory import attack_norm, create_attack
from mireg.attacks.fwa import FWA
from mireg.attacks.infopgd import InfoPGD
from mireg.attacks.rays import RayS
from mireg.attacks.ti_dim import TIDIM
from mireg.attacks.training import TrainingAttack
from mireg.attacks.transfer import TransferAttack
from mireg.attacks.wasserstein_pgd import WassersteinPGD

__all__ = ["Attack", "AutoAttack", "BPDA", "BPDAPGD", "CWInf", "DDN", "DDNBounded", "FWA", "InfoPGD", "RayS", "TIDIM",
           "TrainingAttack", "TransferAttack", "WassersteinPGD", "attack_norm", "bpda", "create_attack"]
