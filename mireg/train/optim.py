"""The optimiser and the learning-rate schedule of a run (as the TRADES / MART / Rice et al. code has them)."""

from __future__ import annotations

import math

import torch
from torch import nn

from mireg.config import TrainConfig

__all__ = ["LRSchedule", "build_optimizer"]


class LRSchedule:
    """lr multiplier of (0-based) epoch ``e``: multistep on 1-based milestones, cosine, or constant
    (``torch.optim.lr_scheduler.LambdaLR(optimizer, LRSchedule(config))``)."""

    def __init__(self, config: TrainConfig) -> None:
        self.kind, self.milestones, self.gamma = config.lr_schedule, config.lr_milestones, config.lr_gamma
        self.epochs = config.epochs

    def __call__(self, e: int) -> float:
        if self.kind == "multistep":
            return self.gamma ** sum(e + 1 >= m for m in self.milestones)
        if self.kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(e, self.epochs) / self.epochs))
        return 1.0


def build_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD (momentum, nesterov), Adam or AdamW over all parameters, weight decay on all of them
    (as the TRADES / MART / Rice et al. reference code does)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)
