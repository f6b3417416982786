"""The optimiser and the learning-rate schedule of a run (as the TRADES / MART / Rice et al. code has them).

The schedule is stepped after every optimisation step (:class:`~mireg.train.schedules.PerIterationLR`,
formulas in :mod:`mireg.train.schedules`); a multistep or constant schedule without warmup gives every
step of an epoch the rate a per-epoch schedule gives that epoch.
"""

from __future__ import annotations

import torch
from torch import nn

from mireg.config import CYCLES, TrainConfig
from mireg.train.schedules import IterationSchedule, PerIterationLR

__all__ = ["build_optimizer", "build_scheduler", "schedule_options"]


def schedule_options(config: TrainConfig) -> dict:
    """The keyword options of ``config.lr_schedule`` (:data:`mireg.train.schedules.SCHEDULES`)."""
    if config.lr_schedule in CYCLES:
        return {} if config.lr_peak is None else {"peak": config.lr_peak}
    options: dict = {"warmup_epochs": config.lr_warmup_epochs} if config.lr_warmup_epochs else {}
    if config.lr_schedule == "multistep":
        options.update(milestones=list(config.lr_milestones), gamma=config.lr_gamma)
    return options


def build_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer, iterations_per_epoch: int
                    ) -> PerIterationLR:
    """The run's :class:`PerIterationLR` (``iterations_per_epoch``: optimisation steps per epoch)."""
    schedule = IterationSchedule(config.lr_schedule, iterations_per_epoch, config.epochs, schedule_options(config))
    return PerIterationLR(optimizer, schedule)


def build_optimizer(config: TrainConfig, model: nn.Module, *, fused: bool = False) -> torch.optim.Optimizer:
    """SGD (momentum, nesterov), Adam or AdamW over all parameters, weight decay on all of them
    (as the TRADES / MART / Rice et al. reference code does); ``fused``: torch's fused implementation
    (one kernel for all parameters; the engine asks for it on CUDA)."""
    params = [p for p in model.parameters() if p.requires_grad]
    extra = {"fused": True} if fused else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay, **extra)
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay, **extra)
