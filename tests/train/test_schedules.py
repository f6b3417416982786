"""Per-iteration lr schedules: every iteration against the formula and the reference code, exact resume."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from mireg.train.schedules import (
    SCHEDULES,
    IterationSchedule,
    PerIterationLR,
    constant,
    cosine,
    cyclic,
    linear_warmup,
    multistep,
    one_cycle,
    scale_lr,
)

RUNS = [(1, 5), (3, 10), (7, 15), (4, 1)]  # (iterations per epoch, epochs)


def _sgd(lr: float = 0.2) -> torch.optim.SGD:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, momentum=0.9)


@pytest.mark.parametrize(("n", "epochs"), [r for r in RUNS if r[1] % 5 == 0])
def test_one_cycle_is_rice_et_al_superconverge_at_every_iteration(n, epochs):
    # locuslab/robust_overfitting train_cifar.py: lr = interp(epoch + (i+1)/len, [0, E*2//5, E], [0, max, 0])
    for t in range(n * epochs):
        epoch, i = divmod(t, n)
        ref = np.interp([epoch + (i + 1) / n], [0, epochs * 2 // 5, epochs], [0, 1.0, 0])[0]
        assert one_cycle(t, n, epochs) == pytest.approx(ref, abs=1e-12), t
    assert one_cycle(n * epochs - 1, n, epochs) == 0.0  # the last step runs at lr 0
    assert one_cycle(2 * n * epochs // 5 - 1, n, epochs) == pytest.approx(1.0)  # the peak
    assert one_cycle(0, n, epochs) == pytest.approx(1 / (0.4 * epochs * n))  # the first step is not at 0


@pytest.mark.parametrize(("n", "epochs"), RUNS)
@pytest.mark.parametrize("peak", [0.5, 0.3])
def test_cyclic_is_wong_et_al_cycliclr_at_every_iteration(n, epochs, peak):
    # locuslab/fast_adversarial CIFAR10/train_pgd.py: CyclicLR(base 0, max lr_max, up = down = T/2), step per batch
    total = n * epochs
    opt = _sgd(1.0)
    ref = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=0.0, max_lr=1.0, step_size_up=peak * total,
                                            step_size_down=(1 - peak) * total)
    for t in range(total):
        assert cyclic(t, n, epochs, peak=peak) == pytest.approx(opt.param_groups[0]["lr"], abs=1e-12), t
        opt.step()
        ref.step()
    assert cyclic(0, n, epochs) == 0.0
    assert cyclic(total, n, epochs) == 0.0 and cyclic(total + 5, n, epochs) == 0.0  # past the end: stays at 0


@pytest.mark.parametrize(("n", "epochs"), RUNS)
@pytest.mark.parametrize("warmup", [0.0, 0.5, 1.0])
def test_cosine_with_warmup_at_every_iteration(n, epochs, warmup):
    if warmup >= epochs:
        pytest.skip("warmup longer than the run")
    w = warmup * n  # warmup length in iterations (may be fractional)
    values = [cosine(t, n, epochs, warmup_epochs=warmup) for t in range(n * epochs)]
    for t, value in enumerate(values):
        done = t + 1  # iterations completed after this step
        expected = (done / w if done <= w else
                    0.5 * (1 + math.cos(math.pi * (done - w) / (epochs * n - w))))
        assert value == pytest.approx(expected, abs=1e-12), t
    assert values[-1] == pytest.approx(0.0, abs=1e-12)
    if warmup:
        assert max(values) <= 1.0
        if w == int(w):
            assert values[int(w) - 1] == 1.0  # the last warmup step reaches the base rate
        assert all(a < b for a, b in zip(values[: int(w)], values[1: int(w)], strict=False))  # increasing
    assert cosine(10 * n * epochs, n, epochs, warmup_epochs=warmup) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("warmup", [0.0, 1.5])
def test_multistep_with_warmup_uses_one_based_milestones(warmup):
    n, epochs, milestones = 4, 6, [3, 5]
    for t in range(n * epochs + 3):
        epoch = min(t // n, epochs - 1) + 1  # 1-based epoch of this step
        decay = 0.1 ** len([m for m in milestones if epoch >= m])
        ramp = min(1.0, (t + 1) / (warmup * n)) if warmup else 1.0
        got = multistep(t, n, epochs, milestones=milestones, gamma=0.1, warmup_epochs=warmup)
        assert got == pytest.approx(ramp * decay, rel=1e-12), t
    # without warmup, every iteration of an epoch gets that epoch's per-epoch value
    assert [multistep(t, n, epochs, milestones=milestones) for t in (0, 7, 8, 15, 16, 23)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.1, 0.01, 0.01])


def test_constant_and_the_warmup_ramp():
    n, epochs = 10, 3
    values = [constant(t, n, epochs, warmup_epochs=0.5) for t in range(n * epochs)]
    assert values[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert values[5:] == [1.0] * 25
    assert [constant(t, n, epochs) for t in range(n * epochs)] == [1.0] * 30
    assert linear_warmup(0, 10, 0) == 1.0 and linear_warmup(9, 10, 2) == pytest.approx(0.5)


def test_scale_lr_is_the_linear_rule():
    assert scale_lr(0.1, 512) == pytest.approx(0.4)
    assert scale_lr(0.1, 256, reference_batch_size=256) == pytest.approx(0.1)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: cosine(0, 10, 3, warmup_epochs=3), "warmup_epochs"),
    (lambda: one_cycle(0, 10, 3, peak=1.0), "peak"),
    (lambda: cyclic(-1, 10, 3), "iteration"),
    (lambda: constant(0, 0, 3), "iterations_per_epoch"),
    (lambda: multistep(0, 10, 3, milestones=[0]), "milestones"),
    (lambda: IterationSchedule("linear", 10, 3), "name"),
    (lambda: scale_lr(0.1, 0), "batch_size"),
])
def test_bad_arguments_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_options_a_schedule_does_not_take_are_a_type_error():
    with pytest.raises(TypeError, match="one_cycle"):
        IterationSchedule("one_cycle", 10, 3, {"warmup_epochs": 1})
    with pytest.raises(TypeError, match="options"):
        IterationSchedule("cosine", 10, 3, options=[("warmup_epochs", 1)])


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_per_iteration_scheduler_follows_the_schedule(name):
    options = {"multistep": {"milestones": [2], "warmup_epochs": 0.5},
               "cosine": {"warmup_epochs": 0.5}, "constant": {"warmup_epochs": 1}}.get(name, {})
    schedule = IterationSchedule(name, 5, 3, options)
    opt = _sgd(0.4)
    scheduler = PerIterationLR(opt, schedule)
    for t in range(schedule.total_iterations):
        assert opt.param_groups[0]["lr"] == pytest.approx(0.4 * schedule(t), abs=1e-15), t
        assert scheduler.iteration == t
        opt.step()
        scheduler.step()


def _roundtrip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)  # checkpoints load weights-only


@pytest.mark.parametrize(("name", "options", "stop"), [
    ("cosine", {"warmup_epochs": 2}, 7),         # mid-warmup (warmup = 10 iterations)
    ("multistep", {"milestones": [3], "warmup_epochs": 1.5}, 4),
    ("one_cycle", {}, 9),                          # on the way up
    ("one_cycle", {}, 16),                         # on the way down
    ("cyclic", {}, 12),
])
def test_resume_restores_the_exact_lr(name, options, stop):
    schedule = IterationSchedule(name, 5, 5, options)
    opt = _sgd(0.3)
    full = PerIterationLR(opt, schedule)
    lrs = []
    for _ in range(schedule.total_iterations):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        full.step()

    opt = _sgd(0.3)
    first = PerIterationLR(opt, schedule)
    for _ in range(stop):
        opt.step()
        first.step()
    saved = _roundtrip(first.state_dict())

    fresh = _sgd(0.3)  # only the scheduler's state is restored: the lr must still be exact
    resumed = PerIterationLR(fresh, IterationSchedule(name, 5, 5, options))
    resumed.load_state_dict(saved)
    assert resumed.iteration == stop
    got = []
    for _ in range(stop, schedule.total_iterations):
        got.append(fresh.param_groups[0]["lr"])
        fresh.step()
        resumed.step()
    assert got == lrs[stop:]  # bit for bit


def test_plain_lambdalr_with_an_iteration_schedule_resumes_with_the_optimizer_state():
    schedule = IterationSchedule("one_cycle", 4, 5)
    opt = _sgd(0.2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    for _ in range(6):
        opt.step()
        sched.step()
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    opt2 = _sgd(0.2)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, IterationSchedule("one_cycle", 4, 5))
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.2 * schedule(6))
    opt.step(), sched.step(), opt2.step(), sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_a_resumed_run_follows_its_own_schedule_not_the_saved_one():
    opt = _sgd(0.1)
    sched = PerIterationLR(opt, IterationSchedule("cosine", 4, 5))
    for _ in range(8):
        opt.step()
        sched.step()
    longer = IterationSchedule("cosine", 4, 10)  # the resumed configuration asks for more epochs
    opt2 = _sgd(0.1)
    sched2 = PerIterationLR(opt2, longer)
    sched2.load_state_dict(_roundtrip(sched.state_dict()))
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.1 * longer(8))
    assert sched2.schedule is longer
