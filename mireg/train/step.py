"""One optimisation step of the engine, for any method (the steps 1-4 of :mod:`mireg.train.engine`)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from mireg._validation import value_checks
from mireg.attacks import TrainingAttack, create_attack
from mireg.config import TrainConfig
from mireg.train import distributed as D
from mireg.train.methods import MethodSpec
from mireg.train.schedules import mi_weight_factor

__all__ = ["NonFiniteLogits", "TrainingStep"]


class NonFiniteLogits(Exception):
    """The model's logits became NaN or inf in this step (the engine turns it into NonFiniteLossError)."""


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when ``enabled``; a no-op elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class TrainingStep:
    """One optimisation step of the engine, for any method (the module docstring's steps 1-4).

    Built from a config, the (unwrapped) model, the method's :class:`MethodSpec` and the optimizer;
    wraps the model in DDP when ``ctx`` is distributed and in ``torch.compile`` when asked. The
    attack always runs on the unwrapped (possibly compiled) module, never on the DDP wrapper.
    ``step(x, y, iteration=0) -> (loss, logits_nat or None, logits_adv)``, all still on the device;
    ``iteration`` (0-based, over the whole run) sets the weight of the method's MI term
    (``spec.mi_term``) to its value times :func:`~mireg.train.schedules.mi_weight_factor` of
    ``config.mi_warmup_epochs`` / ``mi_ramp_epochs``, given ``iterations_per_epoch``.

    Finiteness: the logits are checked once per step (one host sync, the one the loss terms' own
    value checks would otherwise make; they are switched off for the loss call), and non-finite
    logits raise :class:`NonFiniteLogits` before the weights are updated.
    """

    def __init__(self, config: TrainConfig, model: nn.Module, spec: MethodSpec, optimizer: torch.optim.Optimizer,
                 ctx: D.DistContext, iterations_per_epoch: int = 1) -> None:
        device = ctx.device
        self.mi_term = spec.mi_term
        self.mi_weight = None if spec.mi_term is None else spec.mi_term.weight
        self.mi_schedule = {"iterations_per_epoch": iterations_per_epoch, "warmup_epochs": config.mi_warmup_epochs,
                            "ramp_epochs": config.mi_ramp_epochs}
        if self.mi_term is None and (config.mi_warmup_epochs or config.mi_ramp_epochs):
            raise ValueError(f"mi_warmup_epochs / mi_ramp_epochs schedule the MI term of namid, namid_t, namid_m "
                             f"or wmim; method {config.method!r} has none: leave them at 0")
        self.device, self.optimizer = device, optimizer
        self.amp = config.amp and device.type == "cuda"
        self.criterion = spec.loss.to(device)
        fast = torch.compile(model) if config.compile else model
        self.net: nn.Module = fast
        if ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ddp = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
            self.net = torch.compile(ddp) if config.compile else ddp
        attack_name = config.attack if config.attack is not None else spec.attack
        self.hook = None
        if attack_name is not None:
            own = spec.attack_kwargs if attack_name == spec.attack else {}  # e.g. InfoPGD's lam
            budget = {"eps": config.eps, "alpha": config.alpha, "steps": config.steps}
            attack = create_attack(attack_name, fast, budget=budget, **{**own, **config.attack_kwargs})
            self.hook = TrainingAttack(attack, mode=config.attack_mode)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, iteration: int = 0):
        criterion, net = self.criterion, self.net
        if self.mi_term is not None:
            self.mi_term.weight = self.mi_weight * mi_weight_factor(iteration, **self.mi_schedule)
        with autocast(self.device, self.amp):
            x_adv = self.hook(x, y) if self.hook is not None else x
            logits_adv = net(x_adv)
            logits_nat = None
            if criterion.uses_natural:
                logits_nat = net(x) if self.hook is not None else logits_adv
        finite = torch.isfinite(logits_adv).all()
        if logits_nat is not None and logits_nat is not logits_adv:
            finite = finite & torch.isfinite(logits_nat).all()
        if not bool(finite):
            raise NonFiniteLogits
        images = {"x": x, "x_adv": x_adv} if criterion.uses_images else {}
        with autocast(self.device, self.amp), value_checks(False):
            loss = criterion(None if logits_nat is None else logits_nat.float(), logits_adv.float(), y, **images)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss, logits_nat, logits_adv
