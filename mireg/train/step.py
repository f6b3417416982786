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
from mireg.train.speed import CompileFallback, Speed

__all__ = ["TrainingStep", "autocast"]


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when ``enabled``; a no-op elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class TrainingStep:
    """One optimisation step of the engine, for any method (the module docstring's steps 1-4), then
    one step of the lr ``scheduler`` (per iteration).

    Built from a config, the (unwrapped) model, the method's :class:`MethodSpec`, the optimizer and
    the run's :class:`~mireg.train.speed.Speed`; wraps the model in DDP when ``ctx`` is distributed
    and in ``torch.compile`` when ``speed.compile`` (falling back to eager with one warning when
    compiling fails: :mod:`mireg.train.speed`). The attack always runs on the unwrapped (possibly
    compiled) module, never on the DDP wrapper. ``step(x, y, iteration=0) -> (loss, logits_nat or
    None, logits_adv)``, all still on the device; ``iteration`` (0-based, over the whole run) sets the
    weight of the method's MI term (``spec.mi_term``) to its value times
    :func:`~mireg.train.schedules.mi_weight_factor` of ``config.mi_warmup_epochs`` / ``mi_ramp_epochs``
    at ``iterations_per_epoch``.

    No host-device synchronisation: the value checks of the attacks and loss terms (which read
    tensors) are off inside the step (the engine's loader only makes images in [0, 1]); the caller
    checks the logits and the loss for NaN/inf on the device and reads the result every
    ``log_every`` steps (:func:`mireg.train.epoch.run_epoch`).
    """

    def __init__(self, config: TrainConfig, model: nn.Module, spec: MethodSpec, optimizer: torch.optim.Optimizer,
                 ctx: D.DistContext, *, speed: Speed, scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                 iterations_per_epoch: int = 1) -> None:
        device = ctx.device
        self.mi_term, self.mi_weight = spec.mi_term, None if spec.mi_term is None else spec.mi_term.weight
        self.mi_schedule = {"iterations_per_epoch": iterations_per_epoch, "warmup_epochs": config.mi_warmup_epochs,
                            "ramp_epochs": config.mi_ramp_epochs}
        if self.mi_term is None and (config.mi_warmup_epochs or config.mi_ramp_epochs):
            raise ValueError(f"mi_warmup_epochs / mi_ramp_epochs schedule the MI term of namid, namid_t, namid_m "
                             f"or wmim; method {config.method!r} has none: leave them at 0")
        self.device, self.optimizer, self.scheduler, self.amp = device, optimizer, scheduler, speed.amp
        self.criterion = spec.loss.to(device)
        self.compiler = CompileFallback(speed.compile_mode) if speed.compile else None
        fast = self.compiler.wrap(model) if self.compiler else model
        self.net: nn.Module = fast
        if ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ddp = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
            self.net = self.compiler.wrap(ddp) if self.compiler else ddp
        # CUDA graphs (compile's "reduce-overhead"): each step starts a new generation of graph outputs
        self.cuda_graphs = speed.compile and speed.compile_mode == "reduce-overhead" and device.type == "cuda"
        attack_name = config.attack if config.attack is not None else spec.attack
        self.hook = None
        if attack_name is not None:
            own = spec.attack_kwargs if attack_name == spec.attack else {}  # e.g. InfoPGD's lam
            budget = {"eps": config.eps, "alpha": config.alpha, "steps": config.steps}
            attack = create_attack(attack_name, fast, budget=budget, **{**own, **config.attack_kwargs})
            self.hook = TrainingAttack(attack, mode=config.attack_mode)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, iteration: int = 0):
        if self.mi_term is not None:
            self.mi_term.weight = self.mi_weight * mi_weight_factor(iteration, **self.mi_schedule)
        with value_checks(False):
            try:
                out = self._step(x, y)
            except Exception as err:
                if self.compiler is None or not self.compiler.active:
                    raise
                self.compiler.active = False  # e.g. the backward graph failed to compile: redo the step eagerly
                out = self._step(x, y)
                self.compiler.failed(err)
        if self.scheduler is not None:
            self.scheduler.step()
        return out

    def _step(self, x: torch.Tensor, y: torch.Tensor):
        criterion, net = self.criterion, self.net
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(self.device, self.amp):
            x_adv = self.hook(x, y) if self.hook is not None else x
            logits_adv = net(x_adv)
            logits_nat = None
            if criterion.uses_natural:
                logits_nat = net(x) if self.hook is not None else logits_adv
        images = {"x": x, "x_adv": x_adv} if criterion.uses_images else {}
        with autocast(self.device, self.amp):
            loss = criterion(None if logits_nat is None else logits_nat.float(), logits_adv.float(), y, **images)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss, logits_nat, logits_adv
