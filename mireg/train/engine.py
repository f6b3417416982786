"""The one training loop of mireg: every method (clean, AT, TRADES, MART, MART+, InfoAT, NAMID, ...)
runs through :func:`train`; a method only supplies a loss term and an attack (:mod:`mireg.train.methods`).

One optimisation step on a batch ``(x, y)``:

1. ``x_adv = TrainingAttack(attack, mode)(x, y)`` on the unwrapped model (eval-mode BN by default,
   no parameter gradients, fp32 perturbation; under bf16 autocast on CUDA);
2. ``logits_adv = f(x_adv)`` and, when ``loss.uses_natural``, ``logits_nat = f(x)``, in train mode;
3. ``loss = term(logits_nat, logits_adv, y, x=x, x_adv=x_adv)`` (images only when ``uses_images``);
4. ``loss.backward(); optimizer.step()`` (gradients all-reduced by DDP when distributed).

The run, as named steps: :func:`_set_up` (data split, model, method, optimizer, schedule, loader,
step), :func:`_start` (resume from ``last.pt``, or a fresh start), then per epoch
:func:`~mireg.train.epoch.run_epoch` (an :class:`~mireg.train.epoch.EpochRecord`), the lr schedule
step, :func:`_validate` (clean and PGD accuracy on the held-out split) and :func:`_save` (the metrics
row, ``last.pt`` with everything to resume, ``best.pt`` with the best validation PGD accuracy), and
:func:`_finish` (metrics files and curves).

Example::

    from mireg.train import build_config, train

    result = train(build_config("digits-at", overrides={"epochs": 5, "out_dir": "runs/at"}))
    result.best_epoch, result.history[-1]["val_robust_acc"]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mireg.checkpoints import load_checkpoint, save_checkpoint
from mireg.config import TrainConfig
from mireg.data import ImageTensors, TensorLoader
from mireg.estimators import load_estimators
from mireg.registry import METHODS
from mireg.runs import build_model, train_val_split
from mireg.train import distributed as D
from mireg.train.epoch import EpochRecord, NonFiniteLossError, run_epoch
from mireg.train.methods import MethodSpec, needs_estimators
from mireg.train.metrics import format_row, plot_history, run_summary, write_history
from mireg.train.optim import LRSchedule, build_optimizer
from mireg.train.state import Progress, checkpoint_state, gather_rng, initialise, resume
from mireg.train.step import TrainingStep
from mireg.train.validation import evaluate_accuracy
from mireg.utils.atomic import atomic_write_text

__all__ = ["EpochCallback", "NonFiniteLossError", "TrainResult", "evaluate_accuracy", "train"]

EpochCallback = Callable[[int, dict[str, Any]], None]


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


@dataclass
class _Run:
    """Everything :func:`_set_up` assembles for the epochs."""

    model: nn.Module
    step: TrainingStep
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    loader: TensorLoader
    val_data: ImageTensors | None
    out_dir: Path
    log: Callable[[str], None]

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"


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
    run = _set_up(config, ctx, model)
    progress = _start(run, config, ctx)
    if ctx.is_main:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run.out_dir / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    for epoch in range(progress.start_epoch, config.epochs):
        run.loader.set_epoch(epoch)
        run.model.train()
        record = run_epoch(run.step, run.loader, config, ctx, epoch, last_path=run.last_path,
                           epochs_done=len(progress.history))
        row = _epoch_row(run, record, epoch)
        improved = _validate(run, config, ctx, epoch, row, progress)
        progress.history.append(row)
        _save(run, config, ctx, epoch, row, progress, improved)
        D.barrier(ctx)
        for callback in callbacks:
            callback(epoch + 1, row)
    _finish(run, config, ctx, progress)
    return TrainResult(model=run.model, history=progress.history, best_epoch=progress.best_epoch,
                       best_metric=progress.best_metric, out_dir=run.out_dir, last_path=run.last_path,
                       best_path=run.best_path if progress.best_epoch is not None else None, config=config)


def _set_up(config: TrainConfig, ctx: D.DistContext, model: nn.Module | None) -> _Run:
    """Data split, model (seeded with ``config.seed``), method, optimizer, schedule, loader and step."""
    device, cuda = ctx.device, ctx.device.type == "cuda"
    if config.batch_size % ctx.world_size:
        raise ValueError(f"batch_size={config.batch_size} (the global batch) must be divisible by the "
                         f"number of processes ({ctx.world_size})")
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
    spec = _method(config, device, train_data, model)
    optimizer = build_optimizer(config, model)
    step = TrainingStep(config, model, spec, optimizer, ctx)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, LRSchedule(config))
    loader = TensorLoader(train_data, batch_size=config.batch_size // ctx.world_size, shuffle=True,
                          augment=config.augment, device=device, seed=config.seed, rank=ctx.rank,
                          world_size=ctx.world_size, channels_last=cuda and config.channels_last)
    return _Run(model, step, optimizer, scheduler, loader, val_data, Path(config.out_dir),
                _logger(ctx.is_main and config.progress))


def _method(config: TrainConfig, device: torch.device, train_data: ImageTensors, model: nn.Module) -> MethodSpec:
    """The method's :class:`MethodSpec`, with the NAMID estimators of ``config.estimators`` when it
    needs them (or when given) and the build context of :mod:`mireg.train.methods`."""
    estimators = metadata = None
    if needs_estimators(config.method) or config.estimators:
        if not config.estimators:
            raise ValueError(f"method {config.method!r} needs NAMID estimators trained on an adversarially "
                             "trained classifier: set estimators=<path of a `mireg estimators` checkpoint> "
                             "(see `mireg estimators --help`), or run `mireg demo` for the whole pipeline")
        natural, adversarial, metadata = load_estimators(config.estimators, map_location=device)
        estimators = (natural, adversarial)
    spec = METHODS.get(config.method)(config, estimators=estimators, estimator_metadata=metadata,
                                      num_classes=train_data.num_classes, in_channels=train_data.image_shape[0],
                                      image_shape=tuple(train_data.image_shape), model=model)
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"method {config.method!r} must return a MethodSpec, got {type(spec).__name__}")
    return spec


def _start(run: _Run, config: TrainConfig, ctx: D.DistContext) -> Progress:
    """Resume from ``last.pt`` (``config.resume``) or start fresh."""
    if config.resume and run.last_path.is_file():
        state = load_checkpoint(run.last_path, map_location=ctx.device)
        progress = resume(state, run.model, run.step.criterion, run.optimizer, run.scheduler, config, ctx, run.log)
        run.log(f"resumed from {run.last_path} after epoch {progress.start_epoch}")
        return progress
    progress = initialise(run.model, config, ctx, run.log)
    if config.resume:
        run.log(f"no checkpoint at {run.last_path}: starting from epoch 1")
    return progress


def _epoch_row(run: _Run, record: EpochRecord, epoch: int) -> dict[str, Any]:
    """The metrics row of the epoch just trained (the lr it ran with), then one step of the schedule."""
    lr = run.optimizer.param_groups[0]["lr"]
    run.scheduler.step()
    return record.row(epoch + 1, lr, run.step.criterion.uses_natural)


def _validate(run: _Run, config: TrainConfig, ctx: D.DistContext, epoch: int, row: dict[str, Any],
              progress: Progress) -> bool:
    """Validation accuracies into ``row`` (every ``eval_every`` epochs and after the last); True when
    the epoch is the best so far (PGD accuracy, or clean accuracy without an attack)."""
    improved = False
    if run.val_data is not None and ((epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs):
        clean_acc, robust_acc = evaluate_accuracy(run.model, run.val_data, config, ctx)
        row["val_clean_acc"], row["val_robust_acc"] = clean_acc, robust_acc
        metric = robust_acc if robust_acc == robust_acc else clean_acc
        if progress.best_metric is None or metric > progress.best_metric:
            progress.best_metric, progress.best_epoch, improved = metric, epoch + 1, True
    else:
        row["val_clean_acc"] = row["val_robust_acc"] = None
    row["best"] = improved
    return improved


def _save(run: _Run, config: TrainConfig, ctx: D.DistContext, epoch: int, row: dict[str, Any], progress: Progress,
          improved: bool) -> None:
    """``last.pt``, ``best.pt`` (when improved), ``epoch_NNNN.pt`` (every ``save_every``), the metrics
    files and the epoch's log line; only the main process writes."""
    rngs = gather_rng(ctx)
    if not ctx.is_main:
        return
    state = checkpoint_state(epoch + 1, run.model, run.step.criterion, run.optimizer, run.scheduler, rngs, progress,
                             config)
    save_checkpoint(state, run.last_path)
    if improved:
        save_checkpoint({"format": state["format"], "epoch": epoch + 1, "model": state["model"], "metrics": row,
                         "config": state["config"]}, run.best_path)
    if config.save_every and (epoch + 1) % config.save_every == 0:
        save_checkpoint(state, run.out_dir / f"epoch_{epoch + 1:04d}.pt")
    write_history(progress.history, run.out_dir, run_summary(config, progress.best_epoch, progress.best_metric))
    run.log(format_row(row, config))


def _finish(run: _Run, config: TrainConfig, ctx: D.DistContext, progress: Progress) -> None:
    """The final metrics files and ``curves.png`` (a plotting failure is logged, never fatal)."""
    if not (ctx.is_main and progress.history):
        return
    write_history(progress.history, run.out_dir, run_summary(config, progress.best_epoch, progress.best_metric))
    try:
        plot_history(progress.history, run.out_dir / "curves.png", title=f"{config.method} on {config.dataset}")
    except Exception as err:  # noqa: BLE001 - a plotting failure must not lose a finished run
        run.log(f"could not draw curves.png: {err}")


def _logger(enabled: bool) -> Callable[[str], None]:
    def log(message: str) -> None:
        if enabled:
            from tqdm.auto import tqdm

            tqdm.write(message, file=sys.stderr)

    return log
