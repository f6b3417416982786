"""Epoch callbacks of :func:`mireg.train` and the one way a callback ends a run early.

A callback is ``callback(epoch, row)``, called on every process after each epoch's checkpoint and
metrics are written (``epoch`` 1-based, ``row`` the epoch's metrics row); raising
:class:`StopTraining` ends the run there, cleanly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mireg.train import distributed as D

__all__ = ["EpochCallback", "StopTraining", "call_back"]

EpochCallback = Callable[[int, dict[str, Any]], None]


class StopTraining(Exception):  # noqa: N818 - a signal, not an error
    """Raised by an epoch callback to end the run after this epoch, cleanly: the epoch's checkpoint and
    metrics are written, the curves drawn, and :func:`mireg.train` returns a :class:`~mireg.train.TrainResult` with
    ``stopped_early=True``. Under DDP a stop raised on any process stops every process.

    Examples:
        >>> from mireg.train import StopTraining
        >>> def stop_at_target(epoch, row):
        ...     if row["val_robust_acc"] is not None and row["val_robust_acc"] >= 0.5:
        ...         raise StopTraining(f"validation PGD accuracy {row['val_robust_acc']:.3f} reached 0.5")
        >>> stop_at_target(3, {"val_robust_acc": 0.61})
        Traceback (most recent call last):
        mireg.train.callbacks.StopTraining: validation PGD accuracy 0.610 reached 0.5

        With ``result = mireg.train(config, callbacks=[stop_at_target])``, ``result.stopped_early`` is
        True and ``result.stop_reason`` that message.
    """


def call_back(callbacks: list[EpochCallback], epoch: int, row: dict[str, Any], ctx: D.DistContext) -> str:
    """Call every callback; the reason of a :class:`StopTraining` raised by any of them on any process
    ("" when the run goes on)."""
    reasons = []
    for callback in callbacks:
        try:
            callback(epoch + 1, row)
        except StopTraining as err:
            reasons.append(str(err) or f"StopTraining raised by {getattr(callback, '__name__', callback)!r}")
    stops = torch.tensor([float(bool(reasons))], dtype=torch.float64, device=ctx.device)
    D.all_reduce_sum(stops, ctx)
    if not reasons and float(stops):
        reasons.append("StopTraining raised on another process")
    return "; ".join(reasons)
