"""The one module that reads and writes mireg's torch files (below ``train``, ``evaluation``, ``estimators``).

Every file is a dict of tensors and plain Python values, written atomically
(:func:`mireg.utils.atomic.atomic_writer`: tmp file, fsync, ``os.replace``) and read with
``torch.load(..., weights_only=True)``, so loading runs no pickled code. A missing or unreadable
file is a one-line ``FileNotFoundError`` / ``ValueError`` naming the file.

A training checkpoint (``last.pt``, ``best.pt``, ``epoch_NNNN.pt``)::

    {"format": "mireg-train-v1", "epoch": int (completed epochs), "model": state_dict,
     "optimizer": state_dict, "scheduler": state_dict, "rng": [{"cpu": ByteTensor, "cuda": ...}],
     "best": {"metric": float, "epoch": int}, "history": [per-epoch metric dicts],
     "config": TrainConfig.to_dict()}

Estimator files (:mod:`mireg.estimators.io`) and the image-folder cache use :func:`save_file` /
:func:`load_file` with their own layouts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mireg.utils.atomic import atomic_writer

__all__ = ["FORMAT", "load_checkpoint", "load_file", "load_model_weights", "save_checkpoint", "save_file"]

FORMAT = "mireg-train-v1"


def save_file(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (its folder is created); returns the path."""
    path = Path(path)
    with atomic_writer(path, "wb") as fh:
        torch.save(obj, fh)
    return path


def load_file(path: str | os.PathLike, map_location: str | torch.device | None = "cpu", *,
              what: str = "checkpoint") -> Any:
    """Read a file written by :func:`save_file` (or any weights-only torch file).

    Raises:
        FileNotFoundError: ``"<what> '<path>' does not exist"``.
        ValueError: the file is not a readable weights-only torch file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise ValueError(f"{str(path)!r} is not a readable weights-only torch {what}: {_load_error(err)}") from None


def _load_error(err: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in one line, without torch's advice to load the file
    unsafely (no mireg option does that, by design)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (f"it holds a pickled Python object ({found.group(1)}), which weights-only loading refuses "
                "(mireg files hold only tensors and plain values)")
    if "WeightsUnpickler error:" in text:
        detail = next((line.strip() for line in text.split("WeightsUnpickler error:", 1)[1].splitlines()
                       if line.strip()), "")
        return f"not a file written by torch.save, or a damaged one ({detail or 'unreadable pickle'})"
    if isinstance(err, EOFError) or not text.strip():
        return "the file is empty or cut short"
    return text.strip().splitlines()[0]


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a training checkpoint ``state`` to ``path`` atomically; returns the path."""
    return save_file(state, path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint (weights-only); clear errors when it is missing or not a checkpoint."""
    state = load_file(path, map_location)
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{str(path)!r} is not a mireg checkpoint (no 'model' entry)")
    return state


def load_model_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> dict[str, Any]:
    """Load the ``model`` weights of a mireg checkpoint (``last.pt`` or ``best.pt``) into ``model``.

    Returns the checkpoint dict (epoch, metrics, config). Example::

        model = mireg.models.create_model("resnet18")
        info = load_model_weights(model, "runs/at/best.pt")
    """
    state = load_checkpoint(path)
    model.load_state_dict(state["model"], strict=strict)
    return state
