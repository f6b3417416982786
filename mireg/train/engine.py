"""The one training loop of mireg: every method (clean, AT, TRADES, MART, MART+, InfoAT, NAMID, ...)
runs through :func:`train`; a method only supplies a loss term and an attack (:mod:`mireg.train.methods`).

One optimisation step on a batch ``(x, y)``:

1. ``x_adv = TrainingAttack(attack, mode)(x, y)`` on the unwrapped model (eval-mode BN by default,
   no parameter gradients, fp32 perturbation; under bf16 autocast on CUDA);
2. ``logits_adv = f(x_adv)`` and, when ``loss.uses_natural``, ``logits_nat = f(x)``, in train mode;
3. ``loss = term(logits_nat, logits_adv, y, x=x, x_adv=x_adv)`` (images only when ``uses_images``);
4. ``loss.backward(); optimizer.step()`` (gradients all-reduced by DDP when distributed).

The run, as named steps: :func:`~mireg.train.rundir.open_run_folder` (``out_dir`` checked, locked,
cleaned, and refused when it holds another run), :func:`_set_up` (data split, model, method,
optimizer, loader, lr schedule, step; the speed settings of the device, :mod:`mireg.train.speed`),
:func:`_start` (resume from ``last.pt``, or a fresh start; the records rewritten), then per epoch
:func:`~mireg.train.epoch.run_epoch` (an :class:`~mireg.train.epoch.EpochRecord`; the lr schedule is
stepped after every optimisation step), :func:`_validate` (clean and PGD accuracy on the held-out
split), :func:`_save` (``last.pt`` with everything to resume, the one commit point; then ``best.pt``
with the best validation PGD accuracy and the metrics files) and the epoch callbacks (a callback ends
the run early by raising :class:`StopTraining`), and :func:`_finish` (metrics files and curves). A
file that cannot be written stops the run with a one-line :class:`~mireg.utils.atomic.WriteError`
that says what ``last.pt`` holds.

Data: the config's dataset by name (the fast path: the whole split in memory as uint8, batches cut,
shuffled and augmented on the device by :class:`~mireg.data.TensorLoader`), or ``train_data=``: an
:class:`~mireg.data.ImageTensors`, a torch ``Dataset`` (materialised once into the fast path; lossless
for 8-bit images; a random transform of the Dataset is then drawn once) or a ``DataLoader`` (streamed
every epoch: its own batch size, sampler, workers and transforms; no validation split unless
``val_data=`` is given); :mod:`mireg.train.loading`. Such a run records ``dataset = "custom"``.

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
from mireg.data.torch_data import StreamLoader
from mireg.estimators import load_estimators
from mireg.registry import METHODS
from mireg.runs import CUSTOM_DATASET, build_model, train_val_split, with_data_defaults
from mireg.train import distributed as D
from mireg.train.callbacks import EpochCallback, StopTraining, call_back
from mireg.train.epoch import NonFiniteLossError, run_epoch
from mireg.train.loading import given_stats, make_loader
from mireg.train.methods import MethodSpec, needs_estimators
from mireg.train.metrics import format_row, plot_history, run_summary, write_history
from mireg.train.optim import build_optimizer, build_scheduler
from mireg.train.rundir import RunFolder, check_names, open_run_folder
from mireg.train.schedules import PerIterationLR
from mireg.train.speed import Speed, resolve_speed
from mireg.train.state import Progress, best_state, checkpoint_state, gather_rng, initialise, resume
from mireg.train.step import TrainingStep
from mireg.train.validation import evaluate_accuracy
from mireg.utils.atomic import WriteError, atomic_write_text

__all__ = ["EpochCallback", "NonFiniteLossError", "StopTraining", "TrainResult", "evaluate_accuracy", "train"]

@dataclass
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        model: the trained model (weights of the last epoch; unwrapped, on the training device).
        history: one metrics dict per epoch (also in ``metrics.csv`` / ``metrics.json``).
        best_epoch: the epoch (1-based) with the highest validation PGD accuracy (None: no validation).
        best_metric: that accuracy.
        out_dir: the run's folder.
        last_path: the last checkpoint.
        best_path: the best checkpoint (None without validation).
        config: the configuration of the run ("auto" data settings resolved for its dataset).
        stopped_early: whether a callback ended the run with :class:`StopTraining`.
        stop_reason: its message.
        extra: ``{"speed": ...}`` the speed settings the run used on its device (:mod:`mireg.train.speed`).

    Examples:
        >>> result = mireg.train(config)  # a training run (see train): not run here  # doctest: +SKIP
    """

    model: nn.Module
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_metric: float | None
    out_dir: Path
    last_path: Path
    best_path: Path | None
    config: TrainConfig
    stopped_early: bool = False
    stop_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Run:
    """Everything :func:`_set_up` assembles for the epochs."""

    model: nn.Module
    step: TrainingStep
    optimizer: torch.optim.Optimizer
    scheduler: PerIterationLR
    loader: TensorLoader | StreamLoader
    val_data: ImageTensors | None
    out_dir: Path
    log: Callable[[str], None]
    speed: Speed

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"


def train(config: TrainConfig, *, model: nn.Module | None = None, callbacks: list[EpochCallback] | None = None,
          train_data: Any = None, val_data: Any = None) -> TrainResult:
    """Train one model as ``config`` says; see the module docstring and ``docs/training.md``.

    Args:
        config: the run (build it with :func:`mireg.train.build_config`).
        model: use this model instead of ``MODELS[config.model]`` (inputs in [0, 1], logits out).
        callbacks: functions ``fn(epoch, metrics_row)`` called after each epoch's checkpoint is
            written (1-based epoch), e.g. :class:`mireg.train.loggers.TensorBoardLogger`; one may raise
            :class:`StopTraining` to end the run there.
        train_data: train on this instead of ``config.dataset``: an ``ImageTensors``, a torch ``Dataset``
            of (image (C, H, W) in [0, 1], label) (materialised) or a ``DataLoader`` (streamed).
        val_data: the validation set (ImageTensors, Dataset or DataLoader) instead of ``val_size``
            held-out training images.

    Raises:
        NonFiniteLossError: the loss became NaN/inf; ``last.pt`` holds the last good epoch.
        ValueError: ``out_dir`` cannot be written, holds a run (without ``resume`` or ``overwrite``),
            or holds a run that ``config`` would mix with another experiment (``resume``).
        mireg.utils.lock.FolderInUseError: another live run works in ``out_dir``.
        mireg.utils.atomic.WriteError: a file could not be written (disk full, read-only, ...).

    Returns:
        A :class:`TrainResult` (the model, the history, the checkpoints' paths).

    Examples:
        >>> from mireg.train import build_config, train
        >>> from torchvision import datasets, transforms  # needs the MNIST files: not run  # doctest: +SKIP
        >>> mnist = datasets.MNIST("data", train=True, transform=transforms.ToTensor())  # doctest: +SKIP
        >>> result = train(build_config("trades-mnist"), train_data=mnist)  # doctest: +SKIP
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    if train_data is not None:
        config = config.replace(dataset=CUSTOM_DATASET)
    check_names(config, model)
    config = with_data_defaults(config, train_data)
    ctx = D.setup(config.device)
    try:
        folder = open_run_folder(config, ctx, _logger(ctx.is_main and not config.quiet))
        try:
            return _train(config, ctx, model, callbacks or [], folder, (train_data, val_data))
        finally:
            folder.release()
    finally:
        D.cleanup(ctx)


def _train(config: TrainConfig, ctx: D.DistContext, model: nn.Module | None, callbacks: list[EpochCallback],
           folder: RunFolder, data: tuple[Any, Any]) -> TrainResult:
    run = _set_up(config, ctx, model, *data)
    progress = _start(run, config, ctx, folder.state)
    try:
        stop = _epochs(run, config, ctx, progress, callbacks)
        _finish(run, config, ctx, progress)
    except WriteError as err:
        kept = f"holds epoch {progress.committed}" if progress.committed else "was not written (no epoch saved)"
        raise err.with_detail(f"; the run stopped: {str(run.last_path)!r} {kept}, nothing before it is lost; fix "
                              "the cause and rerun with resume=true (--resume) to continue") from None
    return TrainResult(model=run.model, history=progress.history, best_epoch=progress.best_epoch,
                       best_metric=progress.best_metric, out_dir=run.out_dir, last_path=run.last_path,
                       best_path=run.best_path if progress.best_epoch is not None else None, config=config,
                       stopped_early=bool(stop), stop_reason=stop, extra={"speed": run.speed})


def _epochs(run: _Run, config: TrainConfig, ctx: D.DistContext, progress: Progress,
            callbacks: list[EpochCallback]) -> str:
    """The epochs from ``progress.start_epoch``; the reason a callback stopped the run ("" if none did)."""
    for epoch in range(progress.start_epoch, config.epochs):
        run.loader.set_epoch(epoch)
        run.model.train()
        lr = run.optimizer.param_groups[0]["lr"]  # the rate of the epoch's first step
        record = run_epoch(run.step, run.loader, config, ctx, epoch, last_path=run.last_path,
                           epochs_done=len(progress.history))
        row = record.row(epoch + 1, lr, run.step.criterion.uses_natural)
        improved = _validate(run, config, ctx, epoch, row, progress)
        progress.history.append(row)
        _save(run, config, ctx, epoch, row, progress, improved)
        D.barrier(ctx)
        stop = call_back(callbacks, epoch, row, ctx)
        if stop:
            run.log(f"stopped after epoch {epoch + 1}: {stop}")
            return stop
    return ""


def _set_up(config: TrainConfig, ctx: D.DistContext, model: nn.Module | None, train_data: Any,
            val_data: Any) -> _Run:
    """Data split, model (seeded with ``config.seed``), method, optimizer, loader, lr schedule and step, with
    the speed settings of the device."""
    device, speed = ctx.device, resolve_speed(config, ctx.device)
    if config.batch_size % ctx.world_size:
        raise ValueError(f"batch_size={config.batch_size} (the global batch) must be divisible by the "
                         f"number of processes ({ctx.world_size})")
    log, given = _logger(ctx.is_main and not config.quiet), train_data is not None
    train_data, val_data = train_val_split(config, train_data, val_data,
                                           progress=ctx.is_main and config.progress and not config.quiet)
    loader = make_loader(config, ctx, train_data, speed, log)
    if isinstance(loader, StreamLoader) and val_data is None and config.val_size:
        log("no validation split of a streamed DataLoader: pass val_data= to select the best epoch")
    shape = loader if isinstance(loader, StreamLoader) else train_data  # num_classes, image_shape
    torch.manual_seed(config.seed)  # after the data: iterating a DataLoader draws from the global generator
    if model is None:
        model = build_model(config, shape, stats=given_stats(config, train_data) if given else None)
    model = model.to(device)
    if speed.channels_last:
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    spec = _method(config, device, shape, model)
    optimizer = build_optimizer(config, model, fused=speed.fused)
    scheduler = build_scheduler(config, optimizer, len(loader))
    step = TrainingStep(config, model, spec, optimizer, ctx, speed=speed, scheduler=scheduler,
                        iterations_per_epoch=len(loader))
    log(f"{config.method} on {device}: {speed.describe()}")
    return _Run(model, step, optimizer, scheduler, loader, val_data, Path(config.out_dir), log, speed)


def _method(config: TrainConfig, device: torch.device, train_data: Any, model: nn.Module) -> MethodSpec:
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


def _start(run: _Run, config: TrainConfig, ctx: D.DistContext, state: dict[str, Any] | None) -> Progress:
    """Resume from ``last.pt`` (``config.resume``; the main process has read it already) or start fresh;
    then ``config.json`` and the metrics files say what this run is."""
    if config.resume and (state is not None or (not ctx.is_main and run.last_path.is_file())):
        if state is None:
            state = load_checkpoint(run.last_path)
        progress = resume(state, run.model, run.step.criterion, run.optimizer, run.scheduler, config, ctx, run.log)
        run.log(f"resumed from {run.last_path} after epoch {progress.start_epoch}")
    else:
        progress = initialise(run.model, config, ctx, run.log)
        if config.resume:
            run.log(f"no checkpoint at {run.last_path}: starting from epoch 1")
    if ctx.is_main:
        atomic_write_text(run.out_dir / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
        if progress.history:
            _write_records(run, config, progress)
    return progress


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
            progress.new_best(metric, epoch + 1)
            improved = True
    else:
        row["val_clean_acc"] = row["val_robust_acc"] = None
    row["best"] = improved
    return improved


def _save(run: _Run, config: TrainConfig, ctx: D.DistContext, epoch: int, row: dict[str, Any], progress: Progress,
          improved: bool) -> None:
    """``last.pt`` (the commit point), then ``best.pt`` (when improved), ``epoch_NNNN.pt`` (every
    ``save_every``), the metrics files and the epoch's log line; only the main process writes. A kill
    between ``last.pt`` and the others is repaired on resume (:func:`mireg.train.rundir.reconcile`)."""
    rngs = gather_rng(ctx)
    if not ctx.is_main:
        return
    state = checkpoint_state(epoch + 1, run.model, run.step.criterion, run.optimizer, run.scheduler, rngs, progress,
                             config)
    save_checkpoint(state, run.last_path)
    progress.committed = epoch + 1
    if improved:
        save_checkpoint(best_state(state), run.best_path)
    if config.save_every and (epoch + 1) % config.save_every == 0:
        save_checkpoint(state, run.out_dir / f"epoch_{epoch + 1:04d}.pt")
    _write_records(run, config, progress)
    run.log(format_row(row, config))


def _write_records(run: _Run, config: TrainConfig, progress: Progress) -> None:
    write_history(progress.history, run.out_dir,
                  run_summary(config, progress.best_epoch, progress.best_metric, progress.resumes))


def _finish(run: _Run, config: TrainConfig, ctx: D.DistContext, progress: Progress) -> None:
    """The final metrics files and ``curves.png`` (a plotting failure is logged, never fatal)."""
    if not (ctx.is_main and progress.history):
        return
    _write_records(run, config, progress)
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
