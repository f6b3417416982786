"""The one module that reads and writes mireg's torch files (below ``train``, ``evaluation``, ``estimators``).

Every file is a dict of tensors and plain Python values, written atomically
(:func:`mireg.utils.atomic.atomic_writer`: tmp file, fsync, ``os.replace``) and read with
``torch.load(..., weights_only=True)``, so loading runs no pickled code. A missing or unreadable
file is a one-line ``FileNotFoundError`` / ``ValueError`` naming the file and the cause; a file
that cannot be written (disk full, read-only) a one-line :class:`~mireg.utils.atomic.WriteError`.

A training checkpoint (``last.pt``, ``best.pt``, ``epoch_NNNN.pt``)::

    {"format": "mireg-train-v1", "epoch": int (completed epochs), "model": state_dict,
     "optimizer": state_dict, "scheduler": state_dict, "rng": [{"cpu": ByteTensor, "cuda": ...}],
     "best": {"metric": float, "epoch": int, "id": str}, "history": [per-epoch metric dicts],
     "resumes": [{"after_epoch": int, "changed": {field: [old, new]}}], "config": TrainConfig.to_dict()}

``best.pt``: ``{"format", "epoch", "model", "metrics" (that epoch's row), "config", "id"}``; its ``id``
is the ``best["id"]`` of the ``last.pt`` that made it the best (:mod:`mireg.train.rundir`).

Estimator files (:mod:`mireg.estimators.io`) and the image-folder cache use :func:`save_file` /
:func:`load_file` with their own layouts.
"""

from __future__ import annotations

import errno
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
    """``torch.save(obj)`` to ``path`` atomically (its folder is created); returns the path.

    Args:
        obj: what ``torch.save`` writes (keep it weights-only: tensors and plain Python/JSON types).
        path: the file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        WriteError: :class:`mireg.utils.atomic.WriteError` (one line: the file and the cause, e.g. a
            full disk) when the file cannot be written; the previous version of ``path`` is then kept.

    Examples:
        >>> import torch
        >>> from mireg.checkpoints import load_file, save_file
        >>> path = save_file({"w": torch.ones(2)}, "out/w.pt")
        >>> load_file(path)
        {'w': tensor([1., 1.])}
    """
    path = Path(path)
    with atomic_writer(path, "wb") as fh:
        sink = _RecordingWriter(fh)
        try:
            torch.save(obj, sink)
        except RuntimeError:  # torch reports a failed write as "enforce fail at inline_container.cc"
            if sink.error is not None:
                raise sink.error from None
            raise
    return path


class _RecordingWriter:
    """A file wrapper that keeps the ``OSError`` of a failed write, which torch.save hides."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.error = fh, None

    def write(self, data: Any) -> int:
        try:
            return self.fh.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.fh.flush()


def load_file(path: str | os.PathLike, map_location: str | torch.device | None = "cpu", *,
              what: str = "checkpoint") -> Any:
    """Read a file written by :func:`save_file` (or any weights-only torch file), weights-only.

    Args:
        path: the file.
        map_location: where tensors go (``torch.load``'s argument).
        what: what the file is, for the error messages.

    Returns:
        What the file holds.

    Raises:
        FileNotFoundError: ``"<what> '<path>' does not exist"`` (or is a folder).
        ValueError: one line naming the file and why it cannot be read (not a torch file, damaged,
            holds Python objects that weights-only loading refuses, unreadable).

    Examples:
        >>> from mireg.checkpoints import load_file
        >>> load_file("missing.pt", what="estimators file")
        Traceback (most recent call last):
        FileNotFoundError: estimators file 'missing.pt' does not exist
    """
    path = Path(path)
    if not path.is_file():
        kind = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"{what} {str(path)!r} {kind}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise ValueError(f"{str(path)!r} is not a readable weights-only torch {what}: "
                         f"{_load_failure(path, err)}") from None


def _load_failure(path: Path, err: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in one line (without torch's advice)."""
    text = str(err)
    if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    blocked = re.search(r"(?:unsupported|Unsupported) (?:GLOBAL|global):? (?:GLOBAL )?([\w.]+)", text)
    if blocked:
        return (f"it holds a Python object ({blocked.group(1)}) that weights-only loading refuses, because "
                "unpickling it could run code; mireg loads only tensors and plain values")
    with open(path, "rb") as fh:
        head = fh.read(2)
    if not head.startswith((b"PK", b"\x80")):  # neither torch's zip format nor a legacy pickle
        return "not a file written by torch.save (neither a torch zip archive nor a pickle)"
    return f"the file is truncated or damaged ({_first_line(text) or type(err).__name__})"


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip() and not line.startswith("Weights only load failed"):
            return line.strip()
    return ""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a training checkpoint ``state`` to ``path`` atomically.

    Args:
        state: the checkpoint: ``"model"`` (a state dict) and plain metadata (epoch, metrics, config).
        path: the file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Examples:
        >>> import torch
        >>> from mireg.train import load_checkpoint, save_checkpoint
        >>> model = torch.nn.Linear(4, 2)
        >>> path = save_checkpoint({"model": model.state_dict(), "epoch": 3}, "run/last.pt")
        >>> load_checkpoint(path)["epoch"]
        3
    """
    return save_file(state, path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint (weights-only); clear errors when it is missing or not a checkpoint.

    Args:
        path: the checkpoint file (``last.pt``, ``best.pt``).
        map_location: where tensors go.

    Returns:
        The checkpoint dict (``"model"``: the state dict; epoch, metrics, config).

    Examples:
        >>> from mireg.train import load_checkpoint, save_checkpoint
        >>> _ = save_checkpoint({"model": {}, "epoch": 1}, "last.pt")
        >>> load_checkpoint("last.pt")
        {'model': {}, 'epoch': 1}
    """
    state = load_file(path, map_location)
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{str(path)!r} is not a mireg checkpoint (no 'model' entry)")
    return state


def load_model_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> dict[str, Any]:
    """Load the ``model`` weights of a mireg checkpoint (``last.pt`` or ``best.pt``) into ``model``.

    Args:
        model: the architecture the checkpoint was trained with.
        path: the checkpoint file.
        strict: ``load_state_dict``'s ``strict``.

    Returns:
        The checkpoint dict (epoch, metrics, config).

    Examples:
        >>> import torch
        >>> from mireg.train import load_model_weights, save_checkpoint
        >>> trained = torch.nn.Linear(4, 2)
        >>> _ = save_checkpoint({"model": trained.state_dict(), "epoch": 9}, "runs/at/best.pt")
        >>> model = torch.nn.Linear(4, 2)
        >>> load_model_weights(model, "runs/at/best.pt")["epoch"], torch.equal(model.weight, trained.weight)
        (9, True)
    """
    state = load_checkpoint(path)
    model.load_state_dict(state["model"], strict=strict)
    return state
