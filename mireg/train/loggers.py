"""Epoch loggers for :func:`mireg.train.train`: callbacks ``fn(epoch, metrics_row)`` that send each epoch's
metrics to the tools people already use.

:class:`TensorBoardLogger` writes every number of the engine's metrics row as a TensorBoard scalar
(needs ``pip install "mireg[tensorboard]"``).
"""

from __future__ import annotations

import math
import os
from typing import Any

from mireg._optional import require

__all__ = ["TensorBoardLogger", "scalar_tags"]

_SPEED = ("train_seconds", "images_per_second")


def scalar_tags(row: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of an engine metrics row under TensorBoard tags: ``val_*`` -> ``val/*``,
    throughput -> ``speed/*``, everything else -> ``train/*`` (``train_adv_acc`` -> ``train/adv_acc``).
    ``epoch`` (the step), flags such as ``best``, and missing or NaN values are left out.

    Examples:
        >>> scalar_tags({"epoch": 3, "loss": 0.7, "val_robust_acc": 0.4, "best": True, "train_nat_acc": None})
        {'train/loss': 0.7, 'val/robust_acc': 0.4}
    """
    tags = {}
    for key, value in row.items():
        if key == "epoch" or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            continue
        if key.startswith("val_"):
            tag = f"val/{key[4:]}"
        elif key in _SPEED:
            tag = f"speed/{key}"
        else:
            tag = f"train/{key.removeprefix('train_')}"
        tags[tag] = float(value)
    return tags


class TensorBoardLogger:
    """An epoch callback that logs the engine's metrics row to TensorBoard, one scalar per number.

    Pass it in ``callbacks``; the engine calls it after each epoch with the 1-based epoch (the
    TensorBoard step) and the row that also goes to ``metrics.csv``. Under DDP only rank 0 writes.

    Args:
        log_dir: the TensorBoard run folder (``tensorboard --logdir`` its parent to compare runs).
        writer: an existing ``torch.utils.tensorboard.SummaryWriter`` (or any object with
            ``add_scalar(tag, value, step)`` and ``flush()``) to write into instead; it is not closed.

    Examples:
        >>> from mireg.train import build_config, train
        >>> from mireg.train.loggers import TensorBoardLogger
        >>> with TensorBoardLogger("runs/tb/infoat") as logger:
        ...     train(build_config("digits-infoat"), callbacks=[logger])
        >>> # then: tensorboard --logdir runs/tb
    """

    def __init__(self, log_dir: str | os.PathLike[str], *, writer: Any = None) -> None:
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a path (str or os.PathLike), got {type(log_dir).__name__}")
        if writer is not None and not callable(getattr(writer, "add_scalar", None)):
            raise TypeError(f"writer must have add_scalar(tag, value, step), got {type(writer).__name__}")
        if writer is None:
            require("tensorboard", "TensorBoardLogger")
        self.log_dir = os.fspath(log_dir)
        self._writer = writer
        self._owns_writer = writer is None

    @property
    def writer(self) -> Any:
        """The SummaryWriter (created on first use, so that only the rank that logs opens files)."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=self.log_dir)
        return self._writer

    def __call__(self, epoch: int, row: dict[str, Any]) -> None:
        if _rank() != 0:
            return
        for tag, value in scalar_tags(row).items():
            self.writer.add_scalar(tag, value, epoch)
        self.writer.flush()

    def close(self) -> None:
        """Close the writer this logger created (a writer passed in is left open)."""
        if self._owns_writer and self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TensorBoardLogger({self.log_dir!r})"


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
