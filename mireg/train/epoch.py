"""One training epoch: the optimisation steps over the loader and what they measured (an :class:`EpochRecord`).

The running totals stay on the device, and so does the NaN/inf check: each step's logits and loss
are tested there and the first bad step is remembered. The host reads them only every ``log_every``
steps (to show progress and to stop on a NaN/inf) and once at the end of the epoch, so a CUDA run
never waits for the device in between.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mireg.config import TrainConfig
from mireg.data import TensorLoader
from mireg.losses import SumLoss
from mireg.train import distributed as D
from mireg.train.step import TrainingStep

__all__ = ["EpochRecord", "NonFiniteLossError", "run_epoch"]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or inf; the run stopped and the last good checkpoint was kept."""


@dataclass
class EpochRecord:
    """What one training epoch measured, summed over its batches (and over all processes).

    ``loss_sum``: sum of batch loss x batch size; ``adv_correct`` / ``nat_correct``: correct predictions
    on the adversarial / clean batches (``nat_correct`` 0 when the loss reads no clean logits);
    ``seen``: images; ``components``: per loss term, sum of its value x batch size; ``seconds``: wall time.
    """

    loss_sum: float
    adv_correct: float
    nat_correct: float
    seen: float
    components: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def row(self, epoch: int, lr: float, uses_natural: bool) -> dict[str, Any]:
        """The epoch's metrics row (1-based ``epoch``; the columns of ``metrics.csv``, in order)."""
        n = self.seen
        row: dict[str, Any] = {"epoch": epoch, "lr": lr, "loss": self.loss_sum / n,
                               "train_adv_acc": self.adv_correct / n,
                               "train_nat_acc": self.nat_correct / n if uses_natural else None}
        for key in sorted(self.components):
            row[f"loss_{key}"] = self.components[key] / n
        row["train_seconds"] = self.seconds
        row["images_per_second"] = n / max(self.seconds, 1e-9)
        return row


class _RunningTotals:
    """The device-side sums behind an :class:`EpochRecord` and the first non-finite step (no host sync
    while adding)."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum, self.adv_correct, self.nat_correct, self.seen = (
            torch.zeros((), dtype=torch.float64, device=device) for _ in range(4))
        self.components: dict[str, torch.Tensor] = {}
        # 1-based step of the first non-finite logits or loss (0: none yet), and whether the logits were
        self.bad_step = torch.zeros((), dtype=torch.int64, device=device)
        self.bad_logits = torch.zeros((), dtype=torch.bool, device=device)

    @torch.no_grad()
    def add(self, step: int, loss: torch.Tensor, logits_nat: torch.Tensor | None, logits_adv: torch.Tensor,
            y: torch.Tensor, criterion: nn.Module) -> None:
        finite_logits = torch.isfinite(logits_adv).all()
        if logits_nat is not None and logits_nat is not logits_adv:
            finite_logits &= torch.isfinite(logits_nat).all()
        first = (self.bad_step == 0) & ~(finite_logits & torch.isfinite(loss.detach()))
        self.bad_step = torch.where(first, step, self.bad_step)
        self.bad_logits = torch.where(first, ~finite_logits, self.bad_logits)
        self.loss_sum += loss.detach() * y.numel()
        self.adv_correct += (logits_adv.argmax(1) == y).sum()
        if logits_nat is not None:
            self.nat_correct += (logits_nat.argmax(1) == y).sum()
        self.seen += y.numel()
        if isinstance(criterion, SumLoss):
            for key, value in criterion.components.items():
                self.components[key] = self.components.get(key, 0.0) + value.double() * y.numel()

    def progress(self) -> tuple[float, float, float]:
        """(loss sum, adversarial correct, images) read on the host."""
        loss_sum, adv_correct, seen = torch.stack([self.loss_sum, self.adv_correct, self.seen]).tolist()
        return loss_sum, adv_correct, seen

    def reduced(self, ctx: D.DistContext, seconds: float) -> EpochRecord:
        """The totals summed over all processes."""
        sums = D.all_reduce_sum(torch.stack([self.loss_sum, self.adv_correct, self.nat_correct, self.seen]), ctx)
        loss_sum, adv_correct, nat_correct, seen = sums.tolist()
        components = {}
        for key, value in self.components.items():
            total = value.reshape(1)
            D.all_reduce_sum(total, ctx)
            components[key] = float(total)
        return EpochRecord(loss_sum, adv_correct, nat_correct, seen, components, seconds)


def run_epoch(step_fn: TrainingStep, loader: TensorLoader, config: TrainConfig, ctx: D.DistContext, epoch: int,
              *, last_path: Path, epochs_done: int) -> EpochRecord:
    """Train one epoch (0-based ``epoch``) and return its :class:`EpochRecord`.

    Raises :class:`NonFiniteLossError` when the logits or the loss of a step became NaN or inf (read
    every ``config.log_every`` steps and at the end; the message names the first such step); it names
    ``last_path``, the checkpoint of the ``epochs_done`` epochs that are kept.
    """
    from tqdm.auto import tqdm

    def describe_stop(step: int, what: str) -> str:
        return nonfinite_message(epoch, step, step_fn.criterion, last_path, epochs_done, what)

    totals = _RunningTotals(ctx.device)
    start = time.perf_counter()
    bar = tqdm(loader, total=len(loader), desc=f"{config.method} {epoch + 1}/{config.epochs}", leave=False,
               disable=not (config.progress and not config.quiet and ctx.is_main), dynamic_ncols=True,
               file=sys.stderr)
    for step, (x, y) in enumerate(bar, 1):
        loss, logits_nat, logits_adv = step_fn(x, y, epoch * len(loader) + step - 1)
        totals.add(step, loss, logits_nat, logits_adv, y, step_fn.criterion)
        if step % config.log_every == 0 or step == len(loader):
            _stop_if_not_finite(totals, ctx, describe_stop, step)
            loss_sum, adv_correct, seen = totals.progress()
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{adv_correct / seen:.3f}", refresh=False)
    bar.close()
    return totals.reduced(ctx, time.perf_counter() - start)


def _stop_if_not_finite(totals: _RunningTotals, ctx: D.DistContext, describe_stop: Callable[[int, str], str],
                        step: int) -> None:
    """Raise :class:`NonFiniteLossError` when a step of any process had NaN/inf logits or loss."""
    flags = torch.stack([totals.bad_step, totals.bad_logits.long()]).tolist()
    bad = torch.tensor([float(flags[0] > 0)], dtype=torch.float64, device=totals.bad_step.device)
    D.all_reduce_sum(bad, ctx)
    if float(bad) == 0:
        return
    if flags[0] > 0:
        what = "the model's logits became NaN or inf" if flags[1] else "training loss became NaN or inf"
        raise NonFiniteLossError(describe_stop(flags[0], what))
    raise NonFiniteLossError(describe_stop(step, "the logits or the loss of another process became NaN or inf"))


def nonfinite_message(epoch: int, step: int, criterion: nn.Module, last_path: Path, epochs_done: int,
                      what: str) -> str:
    """The one-line explanation of a :class:`NonFiniteLossError` (0-based ``epoch``, 1-based ``step``)."""
    components = getattr(criterion, "components", {})
    detail = ", ".join(f"{k}={float(v):.4g}" for k, v in components.items())
    kept = (f"the last good checkpoint {str(last_path)!r} (epoch {epochs_done}) is kept; resume from it with "
            "resume=true after lowering lr" if epochs_done else "no epoch finished, so no checkpoint was written")
    return (f"{what} in epoch {epoch + 1}, step {step}{f' ({detail})' if detail else ''}; the run is "
            f"stopped and {kept}. Common causes: a learning rate too high for the method's weights "
            "(beta, lam, mi_weight), or data outside [0, 1].")
