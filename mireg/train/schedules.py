"""Learning-rate schedules stepped once per optimisation step (iteration), with linear warmup.

Every schedule is a pure function ``f(iteration, iterations_per_epoch, epochs, **options) -> float``:
the multiplier of the base learning rate for the optimisation step with 0-based index
``iteration`` (``T = epochs * iterations_per_epoch`` steps in all; iterations past the end keep the
value of the end). :class:`IterationSchedule` names one with its options and is the ``lr_lambda``
of ``torch.optim.lr_scheduler.LambdaLR``; :class:`PerIterationLR` is that ``LambdaLR``, stepped
after every ``optimizer.step()``, whose only state is the iteration count, so a run resumed in the
middle of a warmup or a cycle gets the exact learning rate back::

    schedule = IterationSchedule("one_cycle", iterations_per_epoch=len(loader), epochs=30)
    scheduler = PerIterationLR(optimizer, schedule)
    for epoch in range(30):
        for x, y in loader:
            ...; optimizer.step(); scheduler.step()

Position. Unless a schedule says otherwise, it is a function of ``s = (iteration + 1) / n`` (n
iterations per epoch), the epochs completed once this step is done, as Rice, Wong & Kolter's code
evaluates its schedules (``lr_schedule(epoch + (i + 1) / len(train_loader))``, locuslab/
robust_overfitting ``train_cifar.py``): the first step never runs at lr 0, and a schedule that
decays to 0 spends its last step at lr 0.

=============  ===============================================================  =========================
name           multiplier at position s (E epochs, w warmup epochs)             source
=============  ===============================================================  =========================
``constant``   ``warmup(s)``                                                    --
``multistep``  ``warmup(s) * gamma ** #{m in milestones: epoch >= m}``          the engine's per-epoch rule
``cosine``     ``s / w`` for s <= w, then ``(1 + cos(pi (s - w) / (E - w))) / 2``  Rice et al. 2020 (cosine)
``one_cycle``  linear 0 -> 1 at ``s = peak * E`` -> 0 at ``s = E``              Rice et al. 2020 ("superconverge")
``cyclic``     linear 0 -> 1 -> 0 in iterations t: ``t / (peak T)`` then            Wong et al. 2020 (CIFAR-10)
               ``(T - t) / ((1 - peak) T)``
=============  ===============================================================  =========================

``warmup(s) = min(1, s / w)`` (1 without warmup): a linear ramp whose first step runs at
``lr / (w n)`` and whose step ``w n - 1`` reaches the base rate. ``multistep`` milestones are 1-based
epochs as :class:`mireg.train.TrainConfig` prints them ("lr x0.1 at epoch 75" is ``[75]``); the
epoch of iteration t is ``t // n + 1``.

``one_cycle`` is Rice et al.'s "superconverge" schedule (``np.interp(s, [0, E * 2 // 5, E],
[0, lr_max, 0])``, also the cyclic lr of Wong et al.'s MNIST script); ``peak = 0.4`` is their 2/5
(their code floors the peak to whole epochs, which is the same for E a multiple of 5).
``cyclic`` is the exact schedule of Wong, Rice & Kolter, "Fast is better than free: revisiting
adversarial training", ICLR 2020 (locuslab/fast_adversarial ``CIFAR10/train_fgsm.py`` and
``train_pgd.py``): ``torch.optim.lr_scheduler.CyclicLR(base_lr=0, max_lr=lr_max, step_size_up=T/2,
step_size_down=T/2)`` stepped after every batch, i.e. a triangle with its peak at the half
(``peak = 0.5``), evaluated at iteration t before the step (so the first step runs at lr 0). That
``CyclicLR`` also cycled SGD's momentum inversely, 0.9 -> 0.8 at the peak -> 0.9 (its defaults
``cycle_momentum=True, base_momentum=0.8, max_momentum=0.9``); these schedules set the lr only.
``one_cycle`` and ``cyclic`` ramp up from 0 themselves and take no ``warmup_epochs``.

Linear scaling rule (Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
2017, §2): when the minibatch size is multiplied by k, multiply the learning rate by k
(:func:`scale_lr`), and warm the rate up gradually over the first epochs (they ramp linearly to
``k * lr`` over 5 epochs), because early in training the weights change too fast for the rule to
hold. Their base is lr 0.1 at batch 256; the CIFAR adversarial-training scripts use 0.1 at batch 128
(Madry et al., Rice et al., TRADES), and Pang et al. ("Bag of tricks for adversarial training", ICLR
2021) find the batch size insignificant once the rate is scaled this way (batch 256 with lr 0.2).
The rule has a limit: Goyal et al. keep accuracy up to batch 8k on ImageNet; a 50,000-image
CIFAR-10 epoch at batch 1024 is only 48 steps, so short runs at large batches need the warmup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from mireg._validation import check_choice, check_number

__all__ = ["SCHEDULES", "IterationSchedule", "PerIterationLR", "constant", "cosine", "cyclic", "linear_warmup",
           "mi_weight_factor", "multistep", "one_cycle", "scale_lr"]


def _check_run(iteration: int, iterations_per_epoch: int, epochs: int) -> None:
    check_number("iteration", iteration, low=0, integer=True)
    check_number("iterations_per_epoch", iterations_per_epoch, low=1, integer=True)
    check_number("epochs", epochs, low=1, integer=True)


def _position(iteration: int, iterations_per_epoch: int, epochs: int) -> float:
    """Epochs completed once step ``iteration`` is done, clamped to ``epochs``."""
    return min((iteration + 1) / iterations_per_epoch, float(epochs))


def _check_warmup(warmup_epochs: float, epochs: int) -> None:
    check_number("warmup_epochs", warmup_epochs, low=0)
    if warmup_epochs >= epochs:
        raise ValueError(f"warmup_epochs={warmup_epochs} must be shorter than the run (epochs={epochs})")


def _check_peak(peak: float) -> None:
    check_number("peak", peak, low=0, low_open=True)
    if peak >= 1:
        raise ValueError(f"peak must be a fraction of the run in (0, 1), got {peak}")


def linear_warmup(iteration: int, iterations_per_epoch: int, warmup_epochs: float) -> float:
    """``min(1, s / warmup_epochs)`` at ``s = (iteration + 1) / iterations_per_epoch``; 1 without warmup."""
    check_number("iteration", iteration, low=0, integer=True)
    check_number("iterations_per_epoch", iterations_per_epoch, low=1, integer=True)
    check_number("warmup_epochs", warmup_epochs, low=0)
    if warmup_epochs == 0:
        return 1.0
    return min(1.0, (iteration + 1) / iterations_per_epoch / warmup_epochs)


def mi_weight_factor(iteration: int, iterations_per_epoch: int, *, warmup_epochs: float = 0.0,
                     ramp_epochs: float = 0.0) -> float:
    """The multiplier of a method's MI weight (NAMID's alpha, WMIM's w) for step ``iteration``:
    0 while ``s <= warmup_epochs``, then ``min(1, (s - warmup_epochs) / ramp_epochs)`` (1 without a
    ramp), at ``s = (iteration + 1) / iterations_per_epoch`` as for the learning rate.

    ``TrainConfig.mi_warmup_epochs`` / ``mi_ramp_epochs``: the first epochs train the method without
    its MI term, then the term comes in linearly (``docs/namid.md``, "Training from scratch")::

        >>> [mi_weight_factor(t, 10, warmup_epochs=1, ramp_epochs=2) for t in (9, 14, 19, 29, 40)]
        [0.0, 0.25, 0.5, 1.0, 1.0]
    """
    check_number("iteration", iteration, low=0, integer=True)
    check_number("iterations_per_epoch", iterations_per_epoch, low=1, integer=True)
    check_number("warmup_epochs", warmup_epochs, low=0)
    check_number("ramp_epochs", ramp_epochs, low=0)
    s = (iteration + 1) / iterations_per_epoch
    if s <= warmup_epochs:
        return 0.0
    return 1.0 if ramp_epochs == 0 else min(1.0, (s - warmup_epochs) / ramp_epochs)


def constant(iteration: int, iterations_per_epoch: int, epochs: int, *, warmup_epochs: float = 0.0) -> float:
    """1 after a linear warmup of ``warmup_epochs`` (module docstring)."""
    _check_run(iteration, iterations_per_epoch, epochs)
    _check_warmup(warmup_epochs, epochs)
    return linear_warmup(iteration, iterations_per_epoch, warmup_epochs)


def multistep(iteration: int, iterations_per_epoch: int, epochs: int, *, milestones: Sequence[int] = (),
              gamma: float = 0.1, warmup_epochs: float = 0.0) -> float:
    """``gamma ** (number of 1-based milestones <= the epoch of this step)`` times the warmup."""
    _check_run(iteration, iterations_per_epoch, epochs)
    _check_warmup(warmup_epochs, epochs)
    check_number("gamma", gamma, low=0, low_open=True)
    if not isinstance(milestones, (list, tuple)):
        raise TypeError(f"milestones must be a list of 1-based epoch numbers, got {milestones!r}")
    for m in milestones:
        check_number("milestones[]", m, low=1, integer=True)
    epoch = min(iteration // iterations_per_epoch, epochs - 1) + 1
    decay = gamma ** sum(epoch >= m for m in milestones)
    return linear_warmup(iteration, iterations_per_epoch, warmup_epochs) * decay


def cosine(iteration: int, iterations_per_epoch: int, epochs: int, *, warmup_epochs: float = 0.0) -> float:
    """Linear warmup to 1 over ``warmup_epochs``, then a half cosine from 1 to 0 at the end of the run."""
    _check_run(iteration, iterations_per_epoch, epochs)
    _check_warmup(warmup_epochs, epochs)
    s = _position(iteration, iterations_per_epoch, epochs)
    if s <= warmup_epochs:
        return s / warmup_epochs
    return 0.5 * (1.0 + math.cos(math.pi * (s - warmup_epochs) / (epochs - warmup_epochs)))


def one_cycle(iteration: int, iterations_per_epoch: int, epochs: int, *, peak: float = 0.4) -> float:
    """Rice et al.'s one cycle: linear 0 -> 1 at ``s = peak * epochs`` -> 0 at ``s = epochs``."""
    _check_run(iteration, iterations_per_epoch, epochs)
    _check_peak(peak)
    s, top = _position(iteration, iterations_per_epoch, epochs), peak * epochs
    return s / top if s <= top else (epochs - s) / (epochs - top)


def cyclic(iteration: int, iterations_per_epoch: int, epochs: int, *, peak: float = 0.5) -> float:
    """Wong et al.'s triangle (``CyclicLR`` from 0, stepped per batch): ``t / (peak T)`` up to the peak,
    then ``(T - t) / ((1 - peak) T)``, at iteration t before the step (0 at the first step)."""
    _check_run(iteration, iterations_per_epoch, epochs)
    _check_peak(peak)
    total = epochs * iterations_per_epoch
    x = min(iteration, total) / total
    return x / peak if x <= peak else (1.0 - x) / (1.0 - peak)


SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant, "multistep": multistep, "cosine": cosine, "one_cycle": one_cycle, "cyclic": cyclic,
}


def scale_lr(lr: float, batch_size: int, reference_batch_size: int = 128) -> float:
    """The linear scaling rule (Goyal et al. 2017): ``lr * batch_size / reference_batch_size``.

    Example::

        scale_lr(0.1, 512)   # 0.4: lr 0.1 at batch 128 (the CIFAR AT scripts) for batch 512
    """
    check_number("lr", lr, low=0, low_open=True)
    check_number("batch_size", batch_size, low=1, integer=True)
    check_number("reference_batch_size", reference_batch_size, low=1, integer=True)
    return lr * batch_size / reference_batch_size


@dataclass(frozen=True)
class IterationSchedule:
    """A named schedule of :data:`SCHEDULES` with its run length and options: ``schedule(t)`` is the lr
    multiplier of step t, so it is the ``lr_lambda`` of ``LambdaLR`` stepped per iteration.

    Args:
        name: "constant", "multistep", "cosine", "one_cycle" or "cyclic".
        iterations_per_epoch: optimisation steps per epoch (``len(loader)``).
        epochs: epochs of the run.
        options: the schedule's keyword options (``warmup_epochs``; ``milestones``, ``gamma``; ``peak``).

    Example::

        schedule = IterationSchedule("cosine", 98, 30, {"warmup_epochs": 2})
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    """

    name: str
    iterations_per_epoch: int
    epochs: int
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("name", self.name, tuple(SCHEDULES))
        if not isinstance(self.options, dict):
            raise TypeError(f"options must be a dict of the schedule's keyword options, got "
                            f"{type(self.options).__name__}")
        try:
            self(0)
        except TypeError as err:
            if "unexpected keyword" not in str(err):
                raise
            raise TypeError(f"schedule {self.name!r} got options it does not take ({sorted(self.options)}): "
                            f"{err}") from None

    @property
    def total_iterations(self) -> int:
        """``epochs * iterations_per_epoch``."""
        return self.epochs * self.iterations_per_epoch

    def __call__(self, iteration: int) -> float:
        return SCHEDULES[self.name](iteration, self.iterations_per_epoch, self.epochs, **self.options)


class PerIterationLR(torch.optim.lr_scheduler.LambdaLR):
    """``LambdaLR(optimizer, schedule)``, to be stepped after every ``optimizer.step()``.

    Its state is the iteration count (``last_epoch`` counts steps here) and the base rates: the
    schedule itself comes from the constructor, not from the saved state (a resumed run follows
    its own configuration, e.g. more epochs), and :meth:`load_state_dict` writes the learning rate
    of the restored iteration into the optimizer, so that it is exact even when only the
    scheduler's state is restored; it also reads the per-epoch state of older checkpoints.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: IterationSchedule) -> None:
        if not isinstance(schedule, IterationSchedule):
            raise TypeError(f"schedule must be an IterationSchedule, got {type(schedule).__name__}")
        self.schedule = schedule
        super().__init__(optimizer, schedule)

    @property
    def iteration(self) -> int:
        """Index of the next optimisation step (steps taken so far)."""
        return self.last_epoch

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas", "schedule")}
        state["schedule"] = {"name": self.schedule.name, "iterations_per_epoch": self.schedule.iterations_per_epoch,
                             "epochs": self.schedule.epochs, "options": dict(self.schedule.options)}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the iteration count (and write its lr into the optimizer).

        Saved at another loader length (``iterations_per_epoch``), the count is converted through the
        epochs it covers (exact at epoch ends, where the engine saves). A state without the schedule is
        that of a ``LambdaLR`` stepped once per epoch (mireg 0.1 checkpoints): its count is in epochs.
        """
        state = {k: v for k, v in state_dict.items() if k not in ("lr_lambdas", "schedule")}
        saved, n = state_dict.get("schedule"), self.schedule.iterations_per_epoch
        if saved is None:
            state["last_epoch"] = int(state["last_epoch"]) * n
        elif saved["iterations_per_epoch"] != n:
            state["last_epoch"] = round(int(state["last_epoch"]) * n / saved["iterations_per_epoch"])
        self.__dict__.update(state)
        lrs = [base * self.schedule(self.last_epoch) for base in self.base_lrs]
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = lrs
