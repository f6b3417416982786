"""Loss terms as thin ``nn.Module``s over :mod:`mireg.functional`; one file per paper method.

All share the call ``term(logits_nat, logits_adv, y=None, *, x=None, x_adv=None)`` and compose
with ``+`` and ``*`` (see :mod:`mireg.losses.base`).
"""

from mireg.losses.at import ATLoss
from mireg.losses.base import LossTerm, ScaledLoss, SumLoss
from mireg.losses.infoat import EntropyWeightedMSEReg, InfoAT
from mireg.losses.infoat_mine import InfoATMINE
from mireg.losses.mart import MARTLoss, MARTPlus
from mireg.losses.namid import NaturalAdversarialMILoss
from mireg.losses.trades import TRADESLoss
from mireg.losses.wmim import WMIMLoss

__all__ = [
    "ATLoss",
    "EntropyWeightedMSEReg",
    "InfoAT",
    "InfoATMINE",
    "LossTerm",
    "MARTLoss",
    "MARTPlus",
    "NaturalAdversarialMILoss",
    "ScaledLoss",
    "SumLoss",
    "TRADESLoss",
    "WMIMLoss",
]
