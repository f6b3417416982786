"""Atomic, weights-only checkpoints with everything needed to resume a run exactly.

A training checkpoint is a dict of tensors and plain Python values only, so it loads with
``torch.load(path, weights_only=True)`` (no pickled code runs on load)::

    {"format": "mireg-train-v1", "epoch": int (completed epochs), "model": state_dict,
     "optimizer": state_dict, "scheduler": state_dict, "rng": {"cpu": ByteTensor, "cuda": [...]},
     "best": {"metric": float, "epoch": int}, "history": [per-epoch metric dicts],
     "config": TrainConfig.to_dict()}

Files are written to ``<path>.tmp-<pid>`` and moved into place with ``os.replace`` (atomic on POSIX
and Windows), so a crash mid-write never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "mireg-train-v1"


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically (tmp file, fsync, ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(..., weights_only=True)``; clear errors when it is missing
    or not a checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise ValueError(f"{str(path)!r} is not a readable weights-only torch checkpoint: {err}") from None
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


def capture_rng(device: torch.device) -> dict[str, Any]:
    """The torch RNG states that the training stream consumes (CPU, and CUDA when used)."""
    rng: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def restore_rng(rng: dict[str, Any], device: torch.device) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(rng["cpu"])
    if device.type == "cuda" and "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"], device)
