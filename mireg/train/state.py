"""What a training checkpoint holds, and resuming from it exactly (the files: :mod:`mireg.checkpoints`).

A run keeps, after every epoch, everything needed to continue as if it had never stopped: model,
loss-term state (e.g. WMIM's co-trained estimator), optimizer, lr schedule, the random state of every
process, the best epoch so far (with the ``id`` its ``best.pt`` carries), the metrics history and
the record of every resume.

Resuming takes the optimiser's state (momentum buffers, Adam moments) and the schedule's position
(steps taken) from ``last.pt``, and the values a resumed run may change
(:data:`mireg.config.RESUME_MAY_CHANGE`: lr, momentum, weight decay, the schedule, the number of
epochs) from the new config, so they take effect from the next epoch; what changed is recorded in
``resumes`` (``last.pt``, ``metrics.json``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from mireg.checkpoints import FORMAT, load_checkpoint
from mireg.config import RESUME_MAY_CHANGE, TrainConfig
from mireg.train import distributed as D
from mireg.train.schedules import PerIterationLR

__all__ = ["Progress", "best_state", "capture_rng", "checkpoint_state", "gather_rng", "initialise", "restore_rng",
           "resume"]


@dataclass
class Progress:
    """Where a run stands: epochs done, the metrics rows so far, the best validation epoch (and the id
    of its ``best.pt``), the resumes so far and the last epoch saved in ``last.pt``."""

    start_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    best_id: str | None = None
    resumes: list[dict[str, Any]] = field(default_factory=list)
    committed: int = 0

    def new_best(self, metric: float, epoch: int) -> None:
        """Record 1-based ``epoch`` as the best, under a new id (drawn without touching torch's RNG)."""
        self.best_metric, self.best_epoch, self.best_id = metric, epoch, secrets.token_hex(8)


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


def gather_rng(ctx: D.DistContext) -> list[dict[str, Any]]:
    """Every process's :func:`capture_rng`, in rank order (on CPU)."""
    mine = capture_rng(ctx.device)
    if not ctx.distributed:
        return [mine]
    mine = {k: v.cpu() for k, v in mine.items()}
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, mine)
    return gathered


def checkpoint_state(epoch: int, model: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: Any, rngs: list[dict[str, Any]], progress: Progress,
                     config: TrainConfig) -> dict[str, Any]:
    """The ``last.pt`` dict after 1-based ``epoch`` (tensors on CPU, plain Python values)."""
    return {"format": FORMAT, "epoch": epoch, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "criterion": {k: v.detach().cpu() for k, v in criterion.state_dict().items()},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rngs,
            "best": {"metric": progress.best_metric, "epoch": progress.best_epoch, "id": progress.best_id},
            "history": progress.history, "resumes": progress.resumes, "config": config.to_dict()}


def best_state(state: dict[str, Any]) -> dict[str, Any]:
    """The ``best.pt`` dict of a ``last.pt`` ``state`` whose epoch is its best epoch: its weights, that
    epoch's metrics row, the config and the best ``id``."""
    epoch = state["best"]["epoch"]
    return {"format": state["format"], "epoch": epoch, "model": state["model"], "metrics": state["history"][epoch - 1],
            "config": state["config"], "id": state["best"].get("id")}


def resume(state: dict[str, Any], model: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer,
           scheduler: PerIterationLR, config: TrainConfig, ctx: D.DistContext, log) -> Progress:
    """Load a ``last.pt`` ``state`` into the run's objects with ``config``'s hyperparameters and schedule
    (see the module docstring); restore this process's RNG (or reseed it when the number of processes
    changed)."""
    model.load_state_dict(state["model"])
    if state.get("criterion"):
        criterion.load_state_dict(state["criterion"])
    _restore_optimizer(optimizer, scheduler, state)
    best = state["best"]
    done = int(state["epoch"])
    changed = {k: [v, config.to_dict()[k]] for k, v in (state.get("config") or {}).items()
               if k in RESUME_MAY_CHANGE and k not in ("resume", "overwrite") and v != config.to_dict()[k]}
    progress = Progress(done, list(state["history"]), best["metric"], best["epoch"], best.get("id"),
                        [*state.get("resumes", []), {"after_epoch": done, "changed": changed}], committed=done)
    if changed:
        log("resumed with new values: " + ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items()))
    rngs = state["rng"]
    if len(rngs) == ctx.world_size:
        restore_rng(rngs[ctx.rank], ctx.device)
    else:
        log(f"resuming with {ctx.world_size} processes from a {len(rngs)}-process run: RNG reseeded")
        torch.manual_seed(config.seed + 7919 * progress.start_epoch + ctx.rank)
    return progress


def _restore_optimizer(optimizer: torch.optim.Optimizer, scheduler: PerIterationLR, state: dict[str, Any]) -> None:
    """The optimiser's state and the schedule's position (its iteration count) from ``state``; the
    hyperparameters (lr, momentum, weight decay, ...) and the schedule as the run's objects were built
    from the new config."""
    fresh = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    base_lrs = list(scheduler.base_lrs)
    optimizer.load_state_dict(state["optimizer"])
    for group, values in zip(optimizer.param_groups, fresh, strict=True):
        group.update(values)
    scheduler.load_state_dict(state["scheduler"])
    scheduler.base_lrs = base_lrs
    lrs = [base * scheduler.schedule(scheduler.last_epoch) for base in base_lrs]
    for group, lr in zip(optimizer.param_groups, lrs, strict=True):
        group["lr"] = lr
    scheduler._last_lr = lrs


def initialise(model: nn.Module, config: TrainConfig, ctx: D.DistContext, log) -> Progress:
    """A fresh start: the model weights of ``config.init_from`` when given; the training RNG stream
    seeded with ``seed + rank``."""
    if config.init_from:
        init = load_checkpoint(config.init_from, map_location=ctx.device)
        model.load_state_dict(init["model"])
        log(f"initialised the model from {config.init_from} (epoch {init.get('epoch', '?')})")
    torch.manual_seed(config.seed + ctx.rank)
    return Progress()
