"""What a training checkpoint holds, and resuming from it exactly (the files: :mod:`mireg.checkpoints`).

A run keeps, after every epoch, everything needed to continue as if it had never stopped: model,
loss-term state (e.g. WMIM's co-trained estimator), optimizer, lr schedule, the random state of every
process, the best epoch so far and the metrics history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from mireg.checkpoints import FORMAT, load_checkpoint
from mireg.config import TrainConfig
from mireg.train import distributed as D

__all__ = ["Progress", "capture_rng", "checkpoint_state", "gather_rng", "initialise", "restore_rng", "resume"]


@dataclass
class Progress:
    """Where a run stands: epochs done, the metrics rows so far and the best validation epoch."""

    start_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None


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
            "best": {"metric": progress.best_metric, "epoch": progress.best_epoch}, "history": progress.history,
            "config": config.to_dict()}


def resume(state: dict[str, Any], model: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer,
           scheduler: Any, config: TrainConfig, ctx: D.DistContext, log) -> Progress:
    """Load a ``last.pt`` ``state`` into the run's objects; restore this process's RNG (or reseed it
    when the number of processes changed)."""
    model.load_state_dict(state["model"])
    if state.get("criterion"):
        criterion.load_state_dict(state["criterion"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])  # the config's schedule (e.g. more epochs) at the saved step
    progress = Progress(int(state["epoch"]), list(state["history"]), state["best"]["metric"],
                        state["best"]["epoch"])
    rngs = state["rng"]
    if len(rngs) == ctx.world_size:
        restore_rng(rngs[ctx.rank], ctx.device)
    else:
        log(f"resuming with {ctx.world_size} processes from a {len(rngs)}-process run: RNG reseeded")
        torch.manual_seed(config.seed + 7919 * progress.start_epoch + ctx.rank)
    return progress


def initialise(model: nn.Module, config: TrainConfig, ctx: D.DistContext, log) -> Progress:
    """A fresh start: the model weights of ``config.init_from`` when given; the training RNG stream
    seeded with ``seed + rank``."""
    if config.init_from:
        init = load_checkpoint(config.init_from, map_location=ctx.device)
        model.load_state_dict(init["model"])
        log(f"initialised the model from {config.init_from} (epoch {init.get('epoch', '?')})")
    torch.manual_seed(config.seed + ctx.rank)
    return Progress()
