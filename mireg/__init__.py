"""mireg: mutual-information techniques of adversarial training for the PyTorch robustness ecosystem.

Drop-in loss terms and torchattacks-compatible attacks from two papers:

- InfoAT (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292): :class:`InfoAT`, :class:`InfoPGD`, :class:`MARTPlus`;
- NAMID (Zhou et al., ICML 2022, arXiv:2207.12203): :class:`NAMID` (Eq. 9), :class:`NAMID_T`, :class:`NAMID_M`,
  built on :class:`NaturalAdversarialMILoss` and :mod:`mireg.estimators`; the :class:`WMIM` baseline;

the reference losses (:class:`ATLoss`, :class:`TRADESLoss`, :class:`MARTLoss`), the attacks the papers
evaluate with (:mod:`mireg.attacks`), the training engine (:mod:`mireg.train`), data
(:mod:`mireg.data`), models (:mod:`mireg.models`) and the evaluation suite (:func:`evaluate`).

``import mireg`` is light: it imports no torch. Every public name (``mireg.InfoAT``,
``mireg.evaluate``, ``mireg.train``, ...) is imported on first use (PEP 562), and each name registry
(:mod:`mireg.registry`) imports the modules that fill it on its first lookup, then the installed
plugins of its entry-point group. ``import mireg`` also arms the robustbench repair of
:mod:`mireg.compat` (standard library only; it acts only when robustbench is imported;
``MIREG_NO_ROBUSTBENCH_REPAIR=1`` switches it off). It imports none of the optional packages and
patches nothing in torchattacks.

Example:
    >>> import mireg
    >>> term = mireg.InfoAT(lam=2.5, beta=0.2)     # imports mireg.losses (and torch) now
    >>> "resnet18" in mireg.registry.MODELS       # imports mireg.models to fill the registry
    True
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

from mireg import compat, registry

compat.apply()

#: the modules that register each registry's built-in entries, imported on its first lookup
_REGISTRY_IMPORTS = {
    "MODELS": "mireg.models",
    "ATTACKS": "mireg.attacks",
    "DATASETS": "mireg.data",
    "METHODS": "mireg.train.methods",
    "RECIPES": "mireg.recipes",
    "SUITES": "mireg.evaluation.paper_suites",
}
for _name, _module in _REGISTRY_IMPORTS.items():
    getattr(registry, _name).provided_by(_module)

#: module -> the public names imported from it on first use (PEP 562)
_LAZY_IMPORTS = {
    "mireg.attacks": ("BPDA", "DDN", "FWA", "CWInf", "DDNBounded", "InfoPGD", "RayS", "TrainingAttack"),
    "mireg.losses": ("NAMID", "NAMID_M", "NAMID_T", "WMIM", "ATLoss", "EntropyWeightedMSEReg", "InfoAT", "LossTerm",
                     "MARTLoss", "MARTPlus", "NaturalAdversarialMILoss", "TRADESLoss", "WMIMLoss"),
    "mireg.evaluation": ("EvaluationReport", "evaluate"),
    "mireg.config": ("TrainConfig",),
}
#: the subpackages and modules reachable as attributes (``mireg.train``), imported on first use
_SUBMODULE_IMPORTS = ("mireg.attacks", "mireg.checkpoints", "mireg.config", "mireg.data", "mireg.estimators",
                      "mireg.evaluation", "mireg.functional", "mireg.losses", "mireg.models", "mireg.recipes",
                      "mireg.reproduce", "mireg.runs", "mireg.train", "mireg.utils")
_WHERE = {name: module for module, names in _LAZY_IMPORTS.items() for name in names}
_SUBMODULES = {module.rpartition(".")[2]: module for module in _SUBMODULE_IMPORTS}

__all__ = sorted(
    ["ATLoss", "BPDA", "CWInf", "DDN", "DDNBounded", "EntropyWeightedMSEReg", "EvaluationReport", "FWA", "InfoAT",
     "InfoPGD", "LossTerm", "MARTLoss", "MARTPlus", "NAMID", "NAMID_M", "NAMID_T", "NaturalAdversarialMILoss", "RayS",
     "TRADESLoss", "TrainConfig", "TrainingAttack", "WMIM", "WMIMLoss", "attacks", "data", "estimators", "evaluate",
     "functional", "models", "registry", "train"])


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562); later lookups find it in the module's namespace."""
    if name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"module 'mireg' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE) | set(_SUBMODULES))
