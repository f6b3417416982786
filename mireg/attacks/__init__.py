"""Attacks as torchattacks ``Attack`` subclasses (one per file) and the training-time hook.

Every attack takes images in [0, 1] and integer labels and returns detached adversarial images in
[0, 1]; they compose with torchattacks (``MultiAttack``, ``save``, targeted modes, devices).
"""

from mireg.attacks import zoo as _zoo  # noqa: F401  (registers torchattacks' attacks by name)
from mireg.attacks.base import Attack
from mireg.attacks.bpda import BPDA, bpda
from mireg.attacks.cw_inf import CWInf
from mireg.attacks.ddn import DDN, DDNBounded
from mireg.attacks.fwa import FWA
from mireg.attacks.infopgd import InfoPGD
from mireg.attacks.rays import RayS
from mireg.attacks.training import TrainingAttack

__all__ = ["Attack", "InfoPGD", "TrainingAttack", "BPDA", "bpda", "CWInf", "DDN", "DDNBounded", "FWA", "RayS"]
