"""RobustBench Model-Zoo models as mireg models (inputs in [0, 1], logits out).

- :func:`load_robustbench_model`: any Model-Zoo entry by name from a local model directory in
  RobustBench's layout (``model_dir/<dataset>/<threat_model>/<name>.pt``, an ensemble's members
  ``<name>.pt_m0.pt``, ``<name>.pt_m1.pt``, ...), through ``robustbench.utils.load_model``;
  ``download=True`` fetches missing files with RobustBench's own Google-Drive downloader first.
- :func:`robustbench_checkpoint_path`: where that file lives.
- :func:`with_normalization`: any ``nn.Module`` that expects standardised inputs becomes a model of
  [0, 1] images (:class:`mireg.models.Normalized`).

Weights-only, whatever torch's default. ``robustbench.utils.load_model`` (1.1.1) reads the file with
``torch.load(path, map_location="cpu")`` without ``weights_only``: unpickling that may run code under
torch 2.1-2.5 (allowed by mireg's ``torch>=2.1``) or with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``. So
every file it will read is first loaded here with ``torch.load(..., weights_only=True)``
(:func:`mireg.checkpoints.load_file`, which an explicit ``weights_only=True`` keeps safe under that
variable too); a file that holds anything but tensors and plain values is refused with one line
naming it, before RobustBench opens it. RobustBench's own ``load_model`` then builds the model, with
its per-model key fixes (``module.``/``model.`` prefixes, ensembles, ImageNet wrappers), which mireg
does not copy. Between the check and RobustBench's read only someone who can already write the
user's model directory could swap the file. Models that RobustBench serves from the timm hub
(``download=True`` only) are loaded by timm.

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
from mireg.checkpoints import load_file
from mireg.models.normalize import Normalized

__all__ = ["load_robustbench_model", "robustbench_checkpoint_path", "with_normalization"]

DATASETS = ("cifar10", "cifar100", "imagenet")
THREAT_MODELS = ("Linf", "L2")


def robustbench_checkpoint_path(name: str, model_dir: str | os.PathLike = "./models", dataset: str = "cifar10",
                                threat_model: str = "Linf") -> Path:
    """Where RobustBench keeps a Model-Zoo checkpoint: ``model_dir/<dataset>/<threat_model>/<name>.pt``.

    Args:
        name: the Model-Zoo name (e.g. ``"Carmon2019Unlabeled"``).
        model_dir: RobustBench's model folder.
        dataset: "cifar10", "cifar100" or "imagenet".
        threat_model: "Linf", "L2" or "corruptions".

    Returns:
        The checkpoint's path (nothing is read).

    Examples:
        >>> from mireg.models import robustbench_checkpoint_path
        >>> robustbench_checkpoint_path("Carmon2019Unlabeled", "models").as_posix()
        'models/cifar10/Linf/Carmon2019Unlabeled.pt'
    """
    check_choice("dataset", dataset, DATASETS)
    check_choice("threat_model", threat_model, THREAT_MODELS)
    return Path(model_dir) / dataset / threat_model / f"{name}.pt"


def load_robustbench_model(name: str, model_dir: str | os.PathLike = "./models", dataset: str = "cifar10",
                           threat_model: str = "Linf", download: bool = False) -> nn.Module:
    """A RobustBench Model-Zoo model by name, in eval mode (inputs in [0, 1], logits out).

    Without ``download`` the checkpoint must already be at :func:`robustbench_checkpoint_path`
    (copy it there; no network is touched). With ``download=True`` RobustBench fetches it.

    Args:
        name: the Model-Zoo name.
        model_dir: RobustBench's model folder.
        dataset: "cifar10", "cifar100" or "imagenet".
        threat_model: "Linf", "L2" or "corruptions".
        download: let RobustBench download a missing checkpoint.

    Returns:
        The model in eval mode, normalisation inside.

    Examples:
        The checkpoint (hundreds of MB) must be in ``models/`` or be downloaded, so this is not run here:

        >>> from mireg.evaluation.robustbench_io import robustbench_evaluate
        >>> from mireg.models import load_robustbench_model
        >>> model = load_robustbench_model("Carmon2019Unlabeled", model_dir="models")  # doctest: +SKIP
        >>> report = robustbench_evaluate(model, "cifar10", n=1000)  # doctest: +SKIP
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
    builds_itself = dataset == "imagenet" and "Standard" in name  # torchvision weights, no Model-Zoo file
    files = [] if builds_itself else _checkpoint_files(path, zoo[name].get("gdrive_id"))
    if download:
        _download_missing(files, zoo[name].get("gdrive_id"))
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(
                f"RobustBench checkpoint not found at {file}. Put the file there (RobustBench layout "
                "model_dir/<dataset>/<threat_model>/<name>.pt) or pass download=True (needs internet).")
        load_file(file, what="RobustBench checkpoint")  # weights-only: refuses pickled code before RobustBench
    model = load_model(model_name=name, model_dir=str(model_dir), dataset=dataset, threat_model=threat_model)
    return model.eval()


def _checkpoint_files(path: Path, gdrive_id: object) -> list[Path]:
    """The files ``robustbench.utils.load_model`` reads: ``<name>.pt``, or one ``<name>.pt_m<i>.pt`` per
    member of an ensemble (a list of Google-Drive ids); none for models it builds without a file."""
    if isinstance(gdrive_id, list):
        return [Path(f"{path}_m{i}.pt") for i in range(len(gdrive_id))]
    return [path] if gdrive_id else []


def _download_missing(files: list[Path], gdrive_id: object) -> None:
    """Fetch the missing ``files`` with RobustBench's Google-Drive downloader (needs internet)."""
    require("robustbench", "load_robustbench_model")
    from robustbench.utils import download_gdrive_new

    ids = gdrive_id if isinstance(gdrive_id, list) else [gdrive_id]
    for file, gid in zip(files, ids, strict=True):
        if not file.is_file():
            file.parent.mkdir(parents=True, exist_ok=True)
            download_gdrive_new(gid, file)


def with_normalization(model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> nn.Module:
    """Put ``(x - mean) / std`` inside ``model`` so it takes [0, 1] images (mireg.models.Normalized).

    Args:
        model: a module that expects normalised images.
        mean: per-channel means in [0, 1] units.
        std: per-channel standard deviations.

    Returns:
        ``Normalized(model, mean, std)``.

    Examples:
        >>> import torch
        >>> from mireg.models import with_normalization
        >>> model = with_normalization(torch.nn.Identity(), mean=(0.5,), std=(0.5,))
        >>> model(torch.ones(1, 1, 1, 1)).item()
        1.0
    """
    return Normalized(model, mean, std)
