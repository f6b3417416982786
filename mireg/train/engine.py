"""The one training loop of mireg: every method (clean, AT, TRADES, MART, MART+, InfoAT, NAMID, ...)
runs through :func:`train`; a method only supplies a loss term and an attack (:mod:`mireg.train.methods`).

One optimisation step on a batch ``(x, y)``:

1. ``x_adv = TrainingAttack(attack, mode)(x, y)`` on the unwrapped model (eval-mode BN by default,
   no parameter gradients, fp32 perturbation; under bf16 autocast on CUDA);
2. ``logits_adv = f(x_adv)`` and, when ``loss.uses_natural``, ``logits_nat = f(x)``, in train mode;
3. ``loss = term(logits_nat, logits_adv, y, x=x, x_adv=x_adv)`` (images only when ``uses_images``);
4. ``loss.backward(); optimizer.step()`` (gradients all-reduced by DDP when distributed).

After each epoch: lr schedule step, validation (clean and PGD accuracy on the held-out split), the
metrics row, ``last.pt`` (everything to resume) and ``best.pt`` (best validation PGD accuracy).

Example::

    from mireg.train import build_config, train

    result = train(build_config("digits-at", overrides={"epochs": 5, "out_dir": "runs/at"}))
    result.best_epoch, result.history[-1]["val_robust_acc"]
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from mireg.attacks import create_attack
from mireg.checkpoints import load_checkpoint, save_checkpoint
from mireg.config import TrainConfig
from mireg.losses import SumLoss
from mireg.registry import METHODS
from mireg.runs import build_model, train_val_split
from mireg.train import distributed as D
from mireg.train.checkpoint import capture_rng, restore_rng
from mireg.train.methods import MethodSpec, needs_estimators
from mireg.train.metrics import plot_history, write_history
from mireg.utils.atomic import atomic_write_text
from mireg.utils.modes import preserved_modes
from mireg.utils.seeding import seeded

EpochCallback = Callable[[int, dict[str, Any]], None]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or inf; the run stopped and the last good checkpoint was kept."""


@dataclass
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        model: the trained model (weights of the last epoch; unwrapped, on the training device).
        history: one metrics dict per epoch (also in ``metrics.csv`` / ``metrics.json``).
        best_epoch, best_metric: the epoch (1-based) with the highest validation PGD accuracy and
            that accuracy (None without a validation split).
        out_dir, last_path, best_path: where the files are (best_path None without validation).
        config: the configuration of the run.
    """

    model: nn.Module
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_metric: float | None
    out_dir: Path
    last_path: Path
    best_path: Path | None
    config: TrainConfig
    extra: dict[str, Any] = field(default_factory=dict)


class _Schedule:
    """lr multiplier of (0-based) epoch ``e``: multistep on 1-based milestones, cosine, or constant."""

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


def load_estimator_pair(path: str, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """The (natural, adversarial) NAMID estimators of a ``mireg estimators`` checkpoint, frozen, on
    ``device``, in eval mode."""
    from mireg.estimators import load_estimators

    natural, adversarial, _ = load_estimators(path, map_location=device)
    for est in (natural, adversarial):
        est.eval().requires_grad_(False)
    return natural, adversarial


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class _NonFiniteLogits(Exception):
    pass


class TrainingStep:
    """One optimisation step of the engine, for any method (the module docstring's steps 1-4).

    Built from a config, the (unwrapped) model, the method's :class:`MethodSpec` and the optimizer;
    wraps the model in DDP when ``ctx`` is distributed and in ``torch.compile`` when asked. The
    attack always runs on the unwrapped (possibly compiled) module, never on the DDP wrapper.
    ``step(x, y) -> (loss, logits_nat or None, logits_adv)``, all still on the device (no host sync).
    """

    def __init__(self, config: TrainConfig, model: nn.Module, spec: MethodSpec, optimizer: torch.optim.Optimizer,
                 ctx: D.DistContext) -> None:
        device = ctx.device
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
            from mireg.attacks import TrainingAttack

            own = spec.attack_kwargs if attack_name == spec.attack else {}  # e.g. InfoPGD's lam
            budget = {"eps": config.eps, "alpha": config.alpha, "steps": config.steps}
            attack = create_attack(attack_name, fast, budget=budget, **{**own, **config.attack_kwargs})
            self.hook = TrainingAttack(attack, mode=config.attack_mode)

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        criterion, net = self.criterion, self.net
        with _autocast(self.device, self.amp):
            x_adv = self.hook(x, y) if self.hook is not None else x
            logits_adv = net(x_adv)
            logits_nat = None
            if criterion.uses_natural:
                logits_nat = net(x) if self.hook is not None else logits_adv
        images = {"x": x, "x_adv": x_adv} if criterion.uses_images else {}
        try:
            with _autocast(self.device, self.amp):
                loss = criterion(None if logits_nat is None else logits_nat.float(), logits_adv.float(), y,
                                 **images)
        except ValueError:  # the loss terms reject non-finite logits: report it as a NaN loss
            if all(bool(torch.isfinite(t).all()) for t in (logits_adv, logits_nat) if t is not None):
                raise
            raise _NonFiniteLogits from None
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss, logits_nat, logits_adv


def evaluate_accuracy(model: nn.Module, data, config: TrainConfig, ctx: D.DistContext,
                      batch_size: int = 256) -> tuple[float, float]:
    """(clean accuracy, PGD accuracy) of ``model`` on ``data`` (this rank's shard, summed over ranks).

    PGD: L-inf, eps = ``config.eps``, ``config.val_steps`` steps of ``config.validation_alpha``,
    uniform random start drawn from a fixed seed (the same starts every epoch, without touching the
    training RNG stream), fp32, model in eval mode.
    """
    from mireg.data import TensorLoader

    shard = data[ctx.rank::ctx.world_size]  # exact shards (no padding): every example counted once
    attack = None
    if config.val_steps > 0 and config.eps > 0:
        attack = create_attack("pgd", model, eps=config.eps, alpha=config.validation_alpha, steps=config.val_steps)
    counts = torch.zeros(3, dtype=torch.float64, device=ctx.device)
    with preserved_modes(model, training=False), seeded(config.seed, ctx.device):
        batches = TensorLoader(shard, batch_size=batch_size, shuffle=False, device=ctx.device) if len(shard) else []
        for x, y in batches:
            with torch.no_grad():
                counts[0] += (model(x).argmax(1) == y).sum()
            if attack is not None:
                x_adv = attack(x, y)
                with torch.no_grad():
                    counts[1] += (model(x_adv).argmax(1) == y).sum()
            counts[2] += y.numel()
    D.all_reduce_sum(counts, ctx)
    clean, robust, n = counts.tolist()
    return clean / n, (robust / n if attack is not None else float("nan"))


def train(config: TrainConfig, *, model: nn.Module | None = None,
          callbacks: list[EpochCallback] | None = None) -> TrainResult:
    """Train one model as ``config`` says; see the module docstring and ``docs/training.md``.

    Args:
        config: the run (build it with :func:`mireg.train.build_config`).
        model: use this model instead of ``MODELS[config.model]`` (inputs in [0, 1], logits out).
        callbacks: functions ``fn(epoch, metrics_row)`` called after each epoch's checkpoint is
            written (1-based epoch).

    Raises:
        NonFiniteLossError: the loss became NaN/inf; ``last.pt`` holds the last good epoch.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    ctx = D.setup(config.device)
    try:
        return _train(config, ctx, model, callbacks or [])
    finally:
        D.cleanup(ctx)


def _train(config: TrainConfig, ctx: D.DistContext, model: nn.Module | None,
           callbacks: list[EpochCallback]) -> TrainResult:
    from tqdm.auto import tqdm

    from mireg.data import TensorLoader

    device, cuda = ctx.device, ctx.device.type == "cuda"
    if config.batch_size % ctx.world_size:
        raise ValueError(f"batch_size={config.batch_size} (the global batch) must be divisible by the "
                         f"number of processes ({ctx.world_size})")
    out_dir = Path(config.out_dir)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    log = _logger(ctx.is_main and config.progress)

    torch.manual_seed(config.seed)
    train_data, val_data = train_val_split(config)
    if model is None:
        model = build_model(config, train_data)
    elif not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    model = model.to(device)
    if cuda and config.channels_last:
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    estimators = None
    if needs_estimators(config.method) or config.estimators:
        if not config.estimators:
            raise ValueError(f"method {config.method!r} needs estimators=<path of a `mireg estimators` "
                             "checkpoint trained on an adversarially trained classifier>")
        estimators = load_estimator_pair(config.estimators, device)
    spec = METHODS.get(config.method)(config, estimators=estimators, num_classes=train_data.num_classes,
                                      in_channels=train_data.image_shape[0])
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"method {config.method!r} must return a MethodSpec, got {type(spec).__name__}")

    optimizer = build_optimizer(config, model)
    step_fn = TrainingStep(config, model, spec, optimizer, ctx)
    criterion = step_fn.criterion
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _Schedule(config))
    loader = TensorLoader(train_data, batch_size=config.batch_size // ctx.world_size, shuffle=True,
                          augment=config.augment, device=device, seed=config.seed, rank=ctx.rank,
                          world_size=ctx.world_size, channels_last=cuda and config.channels_last)

    history: list[dict[str, Any]] = []
    best_metric, best_epoch, start_epoch = None, None, 0
    if config.resume and last_path.is_file():
        state = load_checkpoint(last_path, map_location=device)
        model.load_state_dict(state["model"])
        if state.get("criterion"):
            criterion.load_state_dict(state["criterion"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scheduler.lr_lambdas = [_Schedule(config)]  # the config's schedule (e.g. more epochs), not the saved one
        start_epoch, history = int(state["epoch"]), list(state["history"])
        best_metric, best_epoch = state["best"]["metric"], state["best"]["epoch"]
        rngs = state["rng"]
        if len(rngs) == ctx.world_size:
            restore_rng(rngs[ctx.rank], device)
        else:
            log(f"resuming with {ctx.world_size} processes from a {len(rngs)}-process run: RNG reseeded")
            torch.manual_seed(config.seed + 7919 * start_epoch + ctx.rank)
        log(f"resumed from {last_path} after epoch {start_epoch}")
    else:
        if config.init_from:
            init = load_checkpoint(config.init_from, map_location=device)
            model.load_state_dict(init["model"])
            log(f"initialised the model from {config.init_from} (epoch {init.get('epoch', '?')})")
        torch.manual_seed(config.seed + ctx.rank)
        if config.resume:
            log(f"no checkpoint at {last_path}: starting from epoch 1")

    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "config.json", _json(config.to_dict()))
    for epoch in range(start_epoch, config.epochs):
        loader.set_epoch(epoch)
        model.train()
        sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, adv correct, nat correct, n
        comp_sums: dict[str, torch.Tensor] = {}
        t0 = time.perf_counter()
        bar = tqdm(loader, total=len(loader), desc=f"{config.method} {epoch + 1}/{config.epochs}",
                   leave=False, disable=not (config.progress and ctx.is_main), dynamic_ncols=True,
                   file=sys.stderr)
        for step, (x, y) in enumerate(bar, 1):
            try:
                loss, logits_nat, logits_adv = step_fn(x, y)
            except _NonFiniteLogits:
                raise NonFiniteLossError(_nonfinite_message(epoch, step, criterion, last_path, history,
                                                            "the model's logits became NaN or inf")) from None
            with torch.no_grad():
                sums[0] += loss.detach() * y.numel()
                sums[1] += (logits_adv.argmax(1) == y).sum()
                if logits_nat is not None:
                    sums[2] += (logits_nat.argmax(1) == y).sum()
                sums[3] += y.numel()
                if isinstance(criterion, SumLoss):
                    for key, value in criterion.components.items():
                        comp_sums[key] = comp_sums.get(key, 0.0) + value.double() * y.numel()
            if step % config.log_every == 0 or step == len(loader):
                _check_finite(sums[0], ctx, epoch, step, criterion, last_path, history)
                s = sums.tolist()
                bar.set_postfix(loss=f"{s[0] / s[3]:.4f}", acc=f"{s[1] / s[3]:.3f}", refresh=False)
        bar.close()
        train_seconds = time.perf_counter() - t0
        D.all_reduce_sum(sums, ctx)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        s = sums.tolist()
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "loss": s[0] / s[3],
                               "train_adv_acc": s[1] / s[3],
                               "train_nat_acc": s[2] / s[3] if criterion.uses_natural else None}
        for key in sorted(comp_sums):
            total = comp_sums[key].reshape(1)
            D.all_reduce_sum(total, ctx)
            row[f"loss_{key}"] = float(total) / s[3]
        row["train_seconds"] = train_seconds
        row["images_per_second"] = s[3] / max(train_seconds, 1e-9)
        improved = False
        if val_data is not None and ((epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs):
            clean_acc, robust_acc = evaluate_accuracy(model, val_data, config, ctx)
            row["val_clean_acc"], row["val_robust_acc"] = clean_acc, robust_acc
            metric = robust_acc if robust_acc == robust_acc else clean_acc
            if best_metric is None or metric > best_metric:
                best_metric, best_epoch, improved = metric, epoch + 1, True
        else:
            row["val_clean_acc"] = row["val_robust_acc"] = None
        row["best"] = improved
        history.append(row)
        rngs = _gather_rng(device, ctx)
        if ctx.is_main:
            weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            config_dict = config.to_dict()
            state = {"format": "mireg-train-v1", "epoch": epoch + 1, "model": weights,
                     "criterion": {k: v.detach().cpu() for k, v in criterion.state_dict().items()},
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rngs,
                     "best": {"metric": best_metric, "epoch": best_epoch}, "history": history,
                     "config": config_dict}
            save_checkpoint(state, last_path)
            if improved:
                save_checkpoint({"format": "mireg-train-v1", "epoch": epoch + 1, "model": weights,
                                 "metrics": row, "config": config_dict}, best_path)
            if config.save_every and (epoch + 1) % config.save_every == 0:
                save_checkpoint(state, out_dir / f"epoch_{epoch + 1:04d}.pt")
            write_history(history, out_dir, _summary(config, best_epoch, best_metric))
            log(_format_row(row, config))
        D.barrier(ctx)
        for callback in callbacks:
            callback(epoch + 1, row)

    if ctx.is_main and history:
        write_history(history, out_dir, _summary(config, best_epoch, best_metric))
        try:
            plot_history(history, out_dir / "curves.png", title=f"{config.method} on {config.dataset}")
        except Exception as err:  # noqa: BLE001 - a plotting failure must not lose a finished run
            log(f"could not draw curves.png: {err}")
    return TrainResult(model=model, history=history, best_epoch=best_epoch, best_metric=best_metric,
                       out_dir=out_dir, last_path=last_path,
                       best_path=best_path if best_epoch is not None else None, config=config)


def _check_finite(loss_sum: torch.Tensor, ctx: D.DistContext, epoch: int, step: int, criterion,
                  last_path: Path, history: list[dict[str, Any]]) -> None:
    bad = (~torch.isfinite(loss_sum)).to(torch.float64).reshape(1)
    D.all_reduce_sum(bad, ctx)
    if float(bad) == 0:
        return
    raise NonFiniteLossError(_nonfinite_message(epoch, step, criterion, last_path, history,
                                                "training loss became NaN or inf"))


def _nonfinite_message(epoch: int, step: int, criterion, last_path: Path, history: list[dict[str, Any]],
                       what: str) -> str:
    components = getattr(criterion, "components", {})
    detail = ", ".join(f"{k}={float(v):.4g}" for k, v in components.items())
    done = len(history)
    kept = (f"the last good checkpoint {str(last_path)!r} (epoch {done}) is kept; resume from it with "
            "resume=true after lowering lr" if done else "no epoch finished, so no checkpoint was written")
    return (f"{what} in epoch {epoch + 1}, step {step}{f' ({detail})' if detail else ''}; the run is "
            f"stopped and {kept}. Common causes: a learning rate too high for the method's weights "
            "(beta, lam, mi_weight), or data outside [0, 1].")


def _gather_rng(device: torch.device, ctx: D.DistContext) -> list[dict[str, Any]]:
    mine = capture_rng(device)
    if not ctx.distributed:
        return [mine]
    mine = {k: v.cpu() for k, v in mine.items()}
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, mine)
    return gathered


def _summary(config: TrainConfig, best_epoch: int | None, best_metric: float | None) -> dict[str, Any]:
    return {"method": config.method, "model": config.model, "dataset": config.dataset,
            "selection": f"best validation PGD-{config.val_steps} accuracy on {config.val_size} held-out "
                         "training images" if config.val_size else "none (no validation split)",
            "best_epoch": best_epoch, "best_val_robust_acc": best_metric, "config": config.to_dict()}


def _format_row(row: dict[str, Any], config: TrainConfig) -> str:
    parts = [f"[{config.method}] epoch {row['epoch']}/{config.epochs}", f"loss {row['loss']:.4f}",
             f"train adv acc {row['train_adv_acc']:.3f}"]
    if row.get("val_clean_acc") is not None:
        parts.append(f"val clean {row['val_clean_acc']:.3f}")
        if row["val_robust_acc"] == row["val_robust_acc"]:
            parts.append(f"val PGD-{config.val_steps} {row['val_robust_acc']:.3f}")
    parts.append(f"{row['images_per_second']:.0f} img/s")
    return " | ".join(parts) + (" *best*" if row["best"] else "")


def _logger(enabled: bool) -> Callable[[str], None]:
    def log(message: str) -> None:
        if enabled:
            from tqdm.auto import tqdm

            tqdm.write(message, file=sys.stderr)

    return log


def _json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2) + "\n"
