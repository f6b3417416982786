"""mireg: mutual-information techniques of adversarial training for the PyTorch robustness ecosystem.

Drop-in loss terms and torchattacks-compatible attacks from two papers:

- InfoAT (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292): :class:`InfoAT`, :class:`InfoPGD`, :class:`MARTPlus`;
- NAMID (Zhou et al., ICML 2022, arXiv:2207.12203): :class:`NAMID` (Eq. 9), :class:`NAMID_T`, :class:`NAMID_M`,
  built on :class:`NaturalAdversarialMILoss` and :mod:`mireg.estimators`; the :class:`WMIM` baseline;

the reference losses (:class:`ATLoss`, :class:`TRADESLoss`, :class:`MARTLoss`), the attacks the papers
evaluate with (:mod:`mireg.attacks`), the training engine (:mod:`mireg.train`), data
(:mod:`mireg.data`), models (:mod:`mireg.models`) and the evaluation suite (:func:`evaluate`).

``import mireg`` fills the name registries (:mod:`mireg.registry`) with every model, dataset, attack,
method, recipe and evaluation suite, and arms the robustbench repair of :mod:`mireg.compat` (it acts
only when robustbench is imported; ``MIREG_NO_ROBUSTBENCH_REPAIR=1`` switches it off). It imports none
of the optional packages (robustbench, pyautoattack, matplotlib, scikit-learn, tensorboard; scipy only
as far as torchattacks itself imports it) and patches nothing in torchattacks.
"""

__version__ = "0.2.0"

from mireg import compat as _compat

_compat.apply()

from mireg import attacks, data, estimators, functional, models, registry, train
from mireg.attacks import BPDA, DDN, FWA, CWInf, DDNBounded, InfoPGD, RayS, TrainingAttack
from mireg.evaluation import EvaluationReport, evaluate
from mireg.losses import (
    NAMID,
    NAMID_M,
    NAMID_T,
    WMIM,
    ATLoss,
    EntropyWeightedMSEReg,
    InfoAT,
    LossTerm,
    MARTLoss,
    MARTPlus,
    NaturalAdversarialMILoss,
    TRADESLoss,
    WMIMLoss,
)
from mireg.train import TrainConfig

__all__ = [
    "ATLoss",
    "BPDA",
    "CWInf",
    "DDN",
    "DDNBounded",
    "EntropyWeightedMSEReg",
    "EvaluationReport",
    "FWA",
    "InfoAT",
    "InfoPGD",
    "LossTerm",
    "MARTLoss",
    "MARTPlus",
    "NAMID",
    "NAMID_M",
    "NAMID_T",
    "NaturalAdversarialMILoss",
    "RayS",
    "TRADESLoss",
    "TrainConfig",
    "TrainingAttack",
    "WMIM",
    "WMIMLoss",
    "attacks",
    "data",
    "estimators",
    "evaluate",
    "functional",
    "models",
    "registry",
    "train",
]
