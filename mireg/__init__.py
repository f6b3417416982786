"""mireg: mutual-information techniques of adversarial training for the PyTorch robustness ecosystem.

Drop-in loss terms and torchattacks-compatible attacks from two papers:

- InfoAT (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292): :class:`InfoAT`, :class:`InfoPGD`, :class:`MARTPlus`.
- NAMID (Zhou et al., ICML 2022, arXiv:2207.12203): :class:`NaturalAdversarialMILoss` and its estimators.

``import mireg`` also repairs the PyPI robustbench / torchattacks releases (see :mod:`mireg.compat`).
"""

__version__ = "0.1.0"

from mireg import compat as _compat

_compat.apply()

from mireg import functional
from mireg.losses import (
    ATLoss,
    EntropyWeightedMSEReg,
    InfoAT,
    LossTerm,
    MARTLoss,
    MARTPlus,
    TRADESLoss,
)
from mireg.losses import NaturalAdversarialMILoss, WMIMLoss
from mireg import estimators
from mireg.attacks import InfoPGD, TrainingAttack
from mireg.evaluation import EvaluationReport, evaluate
