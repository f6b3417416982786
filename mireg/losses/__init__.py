"""Loss terms as thin ``nn.Module``s over :mod:`mireg.functional`; one file per paper method.

All share the call ``term(logits_nat, logits_adv, y=None, *, x=None, x_adv=None)`` and compose
with ``+`` and ``*`` (see :mod:`mireg.losses.base`). The NAMID paper's methods are named compositions:
:class:`NAMID` (Eq. 9), :class:`NAMID_T`, :class:`NAMID_M` and the :class:`WMIM` baseline.
"""

from mireg.losses.at import ATLoss
from mireg.losses.base import LossTerm, ScaledLoss, SumLoss, default_of
from mireg.losses.infoat import EntropyWeightedMSEReg, InfoAT
from mireg.losses.infoat_mine import InfoATMINE
from mireg.losses.mart import MARTLoss, MARTPlus
from mireg.losses.namid import NAMID, NAMID_M, NAMID_T, NaturalAdversarialMILoss
from mireg.losses.trades import TRADESLoss
from mireg.losses.wmim import WMIM, WMIMLoss

__all__ = [
    "ATLoss",
    "EntropyWeightedMSEReg",
    "InfoAT",
    "InfoATMINE",
    "LossTerm",
    "MARTLoss",
    "MARTPlus",
    "NAMID",
    "NAMID_M",
    "NAMID_T",
    "NaturalAdversarialMILoss",
    "ScaledLoss",
    "SumLoss",
    "TRADESLoss",
    "WMIM",
    "WMIMLoss",
    "default_of",
]
