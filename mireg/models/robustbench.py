"""RobustBench Model-Zoo models as mireg models (inputs in [0, 1], logits out).

- :func:`load_robustbench_model`: any Model-Zoo entry by name from a local model directory in
  RobustBench's layout (``model_dir/<dataset>/<threat_model>/<name>.pt``), through
  ``robustbench.utils.load_model``; ``download=True`` keeps RobustBench's own download path
  (Google Drive / timm hub) for users with internet.
- :func:`robustbench_checkpoint_path`: where that file lives (an ensemble's k members live next to it,
  ``<name>.pt_m0.pt`` ... ``<name>.pt_m<k-1>.pt``, as RobustBench names them).
- :func:`with_normalization`: any ``nn.Module`` that expects standardised inputs becomes a model of
  [0, 1] images (:class:`mireg.models.Normalized`).

robustbench (and timm) are imported inside the functions that need them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from mireg._optional import require
from mireg._validation import check_choice
from mireg.models.normalize import Normalized

__all__ = ["load_robustbench_model", "robustbench_checkpoint_path", "with_normalization"]

DATASETS = ("cifar10", "cifar100", "imagenet")
THREAT_MODELS = ("Linf", "L2")


def robustbench_checkpoint_path(name: str, model_dir: str | os.PathLike = "./models", dataset: str = "cifar10",
                                threat_model: str = "Linf") -> Path:
    """Where RobustBench keeps a Model-Zoo checkpoint: ``model_dir/<dataset>/<threat_model>/<name>.pt``."""
    check_choice("dataset", dataset, DATASETS)
    check_choice("threat_model", threat_model, THREAT_MODELS)
    return Path(model_dir) / dataset / threat_model / f"{name}.pt"


def load_robustbench_model(name: str, model_dir: str | os.PathLike = "./models", dataset: str = "cifar10",
                           threat_model: str = "Linf", download: bool = False) -> nn.Module:
    """A RobustBench Model-Zoo model by name, in eval mode (inputs in [0, 1], logits out).

    Without ``download`` the checkpoint must already be at :func:`robustbench_checkpoint_path`
    (copy it there; no network is touched). With ``download=True`` RobustBench fetches it.

    Example::

        >>> model = load_robustbench_model("Carmon2019Unlabeled", model_dir="models")
        >>> report = robustbench_evaluate(model, "cifar10", n=1000)
    """
    require("robustbench", "load_robustbench_model")
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
    from robustbench.utils import load_model

    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a RobustBench model name (str), got {name!r}")
    path = robustbench_checkpoint_path(name, model_dir, dataset, threat_model)
    zoo = model_dicts[BenchmarkDataset(dataset)][ThreatModel(threat_model)]
    if name not in zoo:
        close = difflib.get_close_matches(name, list(zoo), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown RobustBench model {name!r} for {dataset}/{threat_model}.{hint}")
    if not isinstance(download, bool):
        raise TypeError(f"download must be a bool, got {type(download).__name__}")
    if not download:
        import timm

        timm_name = f"{name.lower().replace('-', '_')}_{dataset}_{threat_model.lower()}"
        if timm.is_model(timm_name):
            raise ValueError(f"{name!r} is served from the timm hub ({timm_name}); load it with download=True")
        missing = [p for p in _checkpoint_files(path, zoo[name]) if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"RobustBench checkpoint not found at {', '.join(map(str, missing))}. Put the file there "
                "(RobustBench layout model_dir/<dataset>/<threat_model>/<name>.pt; an ensemble of k models is k "
                "files <name>.pt_m0.pt ... <name>.pt_m<k-1>.pt) or pass download=True (needs internet).")
    model = load_model(model_name=name, model_dir=str(model_dir), dataset=dataset, threat_model=threat_model)
    return model.eval()


def _checkpoint_files(path: Path, entry: dict) -> list[Path]:
    """The files RobustBench's ``load_model`` reads for a Model-Zoo entry: ``<name>.pt``, or for an
    ensemble (a list of ``gdrive_id``) one file per member, ``<name>.pt_m0.pt``, ``<name>.pt_m1.pt``, ..."""
    ids = entry.get("gdrive_id")
    if isinstance(ids, list):
        return [path.with_name(f"{path.name}_m{i}.pt") for i in range(len(ids))]
    return [path]


def with_normalization(model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> nn.Module:
    """Put ``(x - mean) / std`` inside ``model`` so it takes [0, 1] images (mireg.models.Normalized)."""
    return Normalized(model, mean, std)
