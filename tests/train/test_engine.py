"""The training engine: exact resume, NaN stop, weights-only checkpoints, selection, errors."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch import nn

from mireg.checkpoints import save_checkpoint
from mireg.losses import ATLoss, InfoAT
from mireg.registry import METHODS
from mireg.train import MethodSpec, NonFiniteLossError, TrainConfig, build_config, load_checkpoint, train


def tiny(tmp_path, **changes) -> TrainConfig:
    """8x8 grey digits, a 4-channel small CNN, 2-step attacks: about a second per epoch."""
    base = {"image_size": 8, "channels": 1, "model_kwargs": {"width": 4, "hidden": 16}, "val_size": 97,
            "epochs": 3, "batch_size": 200, "steps": 2, "val_steps": 2, "eps": 0.1, "alpha": 0.05,
            "lr_milestones": [3], "augment": True, "progress": False, "out_dir": str(tmp_path / "run")}
    return build_config("digits-at", overrides={**base, **changes})


def _weights(path):
    return load_checkpoint(path)["model"]


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path):
    full = train(tiny(tmp_path / "a", method="trades"))

    class Crash(Exception):
        pass

    def crash_after_epoch_2(epoch, row):
        if epoch == 2:
            raise Crash

    cfg = tiny(tmp_path / "b", method="trades")
    with pytest.raises(Crash):
        train(cfg, callbacks=[crash_after_epoch_2])
    assert load_checkpoint(cfg.out_dir + "/last.pt")["epoch"] == 2
    resumed = train(cfg.replace(resume=True))

    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]  # none lost or repeated
    a, b = _weights(full.last_path), _weights(resumed.last_path)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    for row_a, row_b in zip(full.history, resumed.history, strict=True):
        assert row_a["loss"] == row_b["loss"] and row_a["val_robust_acc"] == row_b["val_robust_acc"]


def test_resume_when_finished_or_missing(tmp_path):
    cfg = tiny(tmp_path, epochs=1, resume=True)  # no checkpoint yet: starts at epoch 1
    first = train(cfg)
    assert len(first.history) == 1
    again = train(cfg)  # already done: nothing trained, same weights
    assert len(again.history) == 1
    for key, value in _weights(first.last_path).items():
        assert torch.equal(value, again.model.state_dict()[key].cpu())


def test_checkpoints_load_weights_only_and_hold_plain_metadata(tmp_path):
    result = train(tiny(tmp_path, epochs=2))
    last = torch.load(result.last_path, weights_only=True)
    assert last["epoch"] == 2 and set(last) >= {"model", "optimizer", "scheduler", "rng", "history", "config",
                                                "best", "criterion"}
    best = torch.load(result.best_path, weights_only=True)
    assert best["epoch"] == result.best_epoch
    assert best["metrics"]["val_robust_acc"] == max(r["val_robust_acc"] for r in result.history)
    assert json.loads(json.dumps(last["config"]))["epochs"] == 2
    assert not list(result.out_dir.glob("*.tmp-*"))
    metrics = json.loads((result.out_dir / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["epochs"]] == [1, 2]
    assert "validation PGD" in metrics["selection"]
    assert (result.out_dir / "metrics.csv").read_text().count("\n") == 3
    assert (result.out_dir / "curves.png").stat().st_size > 1000
    # the lr schedule: milestone 2 (1-based) multiplies the lr of the 2nd epoch by lr_gamma
    cfg = tiny(tmp_path / "lr", epochs=2, lr_milestones=[2])
    lrs = [row["lr"] for row in train(cfg).history]
    assert lrs == pytest.approx([cfg.lr, cfg.lr * cfg.lr_gamma])


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    model = _small_model()

    def poison_after_epoch_1(epoch, row):
        if epoch == 1:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("nan"))

    cfg = tiny(tmp_path, epochs=3)
    with pytest.raises(NonFiniteLossError, match=r"NaN or inf in epoch 2.*last good checkpoint.*\(epoch 1\)"):
        train(cfg, model=model, callbacks=[poison_after_epoch_1])
    state = load_checkpoint(cfg.out_dir + "/last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_loss_components_logged_and_best_selected_on_validation(tmp_path):
    result = train(tiny(tmp_path, method="infoat", epochs=2))
    row = result.history[-1]
    assert "loss_ATLoss" in row and "loss_InfoAT" in row
    assert row["loss"] == pytest.approx(row["loss_ATLoss"] + row["loss_InfoAT"], rel=1e-5, abs=1e-6)
    assert row["train_nat_acc"] is not None
    assert result.best_metric == max(r["val_robust_acc"] for r in result.history)


def _small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 10))


class _Counting(ATLoss):
    calls = 0

    def forward(self, logits_nat, logits_adv, y=None, *, x=None, x_adv=None):
        type(self).calls += 1
        assert x is not None and x_adv is not None and x.shape == x_adv.shape
        assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6
        return super().forward(logits_nat, logits_adv, y)


_Counting.uses_images = True


def _images_method(config, **context):
    return MethodSpec(_Counting() + 0.0 * InfoAT(), attack="fgsm")


@pytest.fixture
def images_method():
    METHODS.add("test-images", _images_method)
    yield "test-images"
    METHODS._entries.pop("test-images")  # noqa: SLF001 - keep the registry as other tests expect it


def test_registered_method_gets_images_and_its_attack(tmp_path, images_method):
    _Counting.calls = 0
    result = train(tiny(tmp_path, method=images_method, epochs=1, val_size=0), model=_small_model())
    assert _Counting.calls == 7  # all 1297 training images (no validation split) in batches of 200
    assert result.best_path is None and result.history[0]["val_robust_acc"] is None


def test_attack_override_replaces_the_methods_attack(tmp_path):
    # infoat's own attack is InfoPGD(lam=...); --attack pgd must not receive InfoPGD's lam
    result = train(tiny(tmp_path, method="infoat", attack="pgd", epochs=1, val_size=0))
    assert len(result.history) == 1


def test_clean_training_learns_and_is_not_robust(tmp_path):
    result = train(tiny(tmp_path, method="clean", epochs=2, batch_size=50, augment=False, eps=0.3, val_steps=5,
                        alpha=0.1))
    assert result.history[-1]["val_clean_acc"] > 0.5
    assert result.history[-1]["val_robust_acc"] < result.history[-1]["val_clean_acc"]


@pytest.mark.parametrize("changes, kwargs, error, match", [
    ({"val_size": 5000}, {}, ValueError, "val_size"),
    ({"method": "namid"}, {}, ValueError, "estimators"),
    ({"method": "nope"}, {}, ValueError, "unknown method"),
    ({"attack": "fgsm", "attack_kwargs": {"steps": 3}}, {}, ValueError, "fgsm.*rejected"),
    ({}, {"model": "resnet18"}, TypeError, "nn.Module"),
    ({"init_from": "/nonexistent/last.pt"}, {}, FileNotFoundError, "does not exist"),
])
def test_errors(tmp_path, changes, kwargs, error, match):
    with pytest.raises(error, match=match):
        train(tiny(tmp_path, **changes), **kwargs)


def test_config_type_and_checkpoint_errors(tmp_path):
    with pytest.raises(TypeError, match="TrainConfig"):
        train({"epochs": 1})
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="weights-only"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint({"epoch": 1}, tmp_path / "nomodel.pt")
    with pytest.raises(ValueError, match="not a mireg checkpoint"):
        load_checkpoint(tmp_path / "nomodel.pt")


@pytest.mark.cuda
def test_cuda_step_uses_bf16_autocast_channels_last_and_fp32_images(tmp_path):
    seen = []
    model = _small_model()

    def record(module, inputs, output):
        seen.append((inputs[0].dtype, output.dtype, inputs[0].is_contiguous(memory_format=torch.channels_last)))

    model[0].register_forward_hook(record)
    result = train(tiny(tmp_path, device="cuda", epochs=1, compile=False), model=model)  # hooks see eager calls
    assert result.history[0]["loss"] == result.history[0]["loss"]  # finite
    assert next(result.model.parameters()).dtype == torch.float32 and next(result.model.parameters()).is_cuda
    assert any(out == torch.bfloat16 for _, out, _ in seen)      # the model ran under bf16 autocast
    assert all(inp == torch.float32 for inp, _, _ in seen)       # images (and x_adv) stay fp32
    assert any(cl for _, _, cl in seen)                          # channels_last batches
    torch.load(result.last_path, weights_only=True)


@pytest.mark.slow
def test_compiled_model_trains_like_eager(tmp_path):
    eager = train(tiny(tmp_path / "eager", epochs=1, method="clean"), model=_small_model())
    compiled = train(tiny(tmp_path / "compiled", epochs=1, method="clean", compile=True), model=_small_model())
    for key, value in eager.model.state_dict().items():
        torch.testing.assert_close(compiled.model.state_dict()[key], value, rtol=1e-4, atol=1e-5)


# --- per-iteration lr schedules, resume in the middle of them, StopTraining, no per-step sync, drop_last ---


class _StepLRs:
    """Records the lr of every optimisation step of every optimizer (torch's global step pre-hook)."""

    def __enter__(self):
        from torch.optim.optimizer import register_optimizer_step_pre_hook

        self.lrs: list[float] = []
        self.handle = register_optimizer_step_pre_hook(lambda opt, args, kwargs: self.lrs.append(
            opt.param_groups[0]["lr"]))
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def _expected_lrs(cfg: TrainConfig, n: int) -> list[float]:
    """The formulas, written out here (s = (t + 1) / n epochs done after step t; E epochs; w warmup)."""
    import math

    import numpy as np

    E, w, total, out = cfg.epochs, cfg.lr_warmup_epochs, cfg.epochs * n, []
    for t in range(total):
        s, epoch = (t + 1) / n, t // n + 1
        warm = min(1.0, s / w) if w else 1.0
        if cfg.lr_schedule == "multistep":  # the per-epoch rule of the papers: x gamma from each milestone on
            f = warm * cfg.lr_gamma ** sum(epoch >= m for m in cfg.lr_milestones)
        elif cfg.lr_schedule == "constant":
            f = warm
        elif cfg.lr_schedule == "cosine":
            f = s / w if s <= w else 0.5 * (1 + math.cos(math.pi * (s - w) / (E - w)))
        elif cfg.lr_schedule == "one_cycle":  # Rice et al.: interp(s, [0, 2E/5, E], [0, 1, 0])
            f = float(np.interp(s, [0, 0.4 * E, E], [0, 1, 0]))
        else:  # cyclic, Wong et al.: CyclicLR(0 -> max -> 0, up = down = T/2) at t before the step
            f = t / (total / 2) if t <= total / 2 else (total - t) / (total / 2)
        out.append(cfg.lr * f)
    return out


@pytest.mark.parametrize("changes", [
    {"lr_schedule": "multistep", "lr_milestones": [2]},
    {"lr_schedule": "multistep", "lr_milestones": [3], "lr_warmup_epochs": 1.5},
    {"lr_schedule": "constant", "lr_warmup_epochs": 1},
    {"lr_schedule": "cosine", "lr_warmup_epochs": 0.5},
    {"lr_schedule": "one_cycle"},
    {"lr_schedule": "cyclic"},
])
def test_engine_steps_the_schedule_per_iteration_as_the_formula_says(tmp_path, changes):
    cfg = tiny(tmp_path, val_size=0, steps=1, batch_size=160, **changes)  # 1297 images: 9 steps, the last short
    with _StepLRs() as rec:
        result = train(cfg)
    assert rec.lrs == pytest.approx(_expected_lrs(cfg, 9), rel=1e-12, abs=1e-15)
    assert [row["lr"] for row in result.history] == [rec.lrs[0], rec.lrs[9], rec.lrs[18]]  # each epoch's first


def test_multistep_without_warmup_gives_every_step_the_per_epoch_rate(tmp_path):
    cfg = tiny(tmp_path, val_size=0, steps=1, lr_milestones=[2, 3], lr_gamma=0.5)
    with _StepLRs() as rec:
        train(cfg)
    per_epoch = [cfg.lr, cfg.lr * 0.5, cfg.lr * 0.25]  # lr x gamma at each milestone, exactly
    assert rec.lrs == [per_epoch[t // 7] for t in range(21)]


class _Crash(Exception):
    pass


def _crash_after(n):
    def callback(epoch, row):
        if epoch == n:
            raise _Crash

    return callback


def _assert_same_run(a, b):
    wa, wb = _weights(a.last_path), _weights(b.last_path)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]


@pytest.mark.parametrize("changes", [{"lr_schedule": "cosine", "lr_warmup_epochs": 2},  # crash mid-warmup
                                     {"lr_schedule": "one_cycle"}])                       # crash mid-cycle
def test_resume_in_the_middle_of_a_warmup_or_a_cycle_restores_the_exact_lr(tmp_path, changes):
    with _StepLRs() as full_lrs:
        full = train(tiny(tmp_path / "a", **changes))
    cfg = tiny(tmp_path / "b", **changes)
    with _StepLRs() as resumed_lrs:
        with pytest.raises(_Crash):
            train(cfg, callbacks=[_crash_after(1)])
        resumed = train(cfg.replace(resume=True))
    assert resumed_lrs.lrs == full_lrs.lrs  # every step's lr, bit for bit
    assert 0 < full_lrs.lrs[7] < max(full_lrs.lrs)  # the first step after the crash is mid-ramp
    _assert_same_run(full, resumed)


def test_resume_converts_a_per_epoch_scheduler_state_of_older_checkpoints(tmp_path):
    from mireg.checkpoints import save_checkpoint as save

    full = train(tiny(tmp_path / "a", lr_milestones=[3]))
    cfg = tiny(tmp_path / "b", lr_milestones=[3])
    with pytest.raises(_Crash):
        train(cfg, callbacks=[_crash_after(2)])

    class PerEpoch:  # mireg 0.1's LRSchedule: a LambdaLR stepped once per epoch
        def __init__(self):
            self.kind, self.milestones, self.gamma, self.epochs = "multistep", [3], 0.1, 3

        def __call__(self, e):
            return self.gamma ** sum(e + 1 >= m for m in self.milestones)

    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    old = torch.optim.lr_scheduler.LambdaLR(opt, PerEpoch())
    for _ in range(2):
        opt.step()
        old.step()
    state = load_checkpoint(cfg.out_dir + "/last.pt")
    state["scheduler"] = old.state_dict()  # last_epoch = 2 epochs, no "schedule" entry
    save(state, cfg.out_dir + "/last.pt")
    resumed = train(cfg.replace(resume=True))
    assert resumed.history[-1]["lr"] == pytest.approx(cfg.lr * 0.1)
    _assert_same_run(full, resumed)


def test_stop_training_from_a_callback_ends_the_run_cleanly(tmp_path):
    from mireg.train import StopTraining

    def stop_after_2(epoch, row):
        if epoch == 2:
            raise StopTraining("target reached")

    seen = []
    result = train(tiny(tmp_path, epochs=4), callbacks=[stop_after_2, lambda e, row: seen.append(e)])
    assert result.stopped_early and result.stop_reason == "target reached"
    assert [r["epoch"] for r in result.history] == [1, 2] and seen == [1, 2]  # later callbacks still ran
    assert load_checkpoint(result.last_path)["epoch"] == 2
    assert [r["epoch"] for r in json.loads((result.out_dir / "metrics.json").read_text())["epochs"]] == [1, 2]
    assert (result.out_dir / "curves.png").stat().st_size > 1000
    assert not train(tiny(tmp_path / "plain", epochs=1)).stopped_early


def test_no_host_reads_inside_an_epoch_between_log_steps(tmp_path, monkeypatch):
    # Every way Python reads a tensor's value (a device sync on CUDA) is counted while run_epoch runs;
    # with log_every above the epoch's length, 2 and 8 steps per epoch must read the same number of times.
    # TrainingAttack's per-call seed (mireg.utils.seeding.draw_seed) reads a CPU tensor: not counted.
    import mireg.train.engine as engine
    from mireg.utils.seeding import draw_seed

    counts = {"on": False, "reads": 0}
    for name in ("__bool__", "__float__", "__int__", "__index__", "item", "tolist", "numpy"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            drawing_a_seed = sys._getframe(1).f_code is draw_seed.__code__  # a CPU draw, never a device read
            counts["reads"] += counts["on"] and not drawing_a_seed
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    run_epoch = engine.run_epoch

    def counting_run_epoch(*args, **kwargs):
        counts["on"] = True
        try:
            return run_epoch(*args, **kwargs)
        finally:
            counts["on"] = False

    monkeypatch.setattr(engine, "run_epoch", counting_run_epoch)
    reads = []
    for batch_size in (600, 150):  # 1200 training images: 2 or 8 steps
        counts["reads"] = 0
        train(tiny(tmp_path / str(batch_size), method="trades", epochs=1, batch_size=batch_size, log_every=100))
        reads.append(counts["reads"])
    assert reads[0] == reads[1] and reads[0] > 0  # only the end-of-epoch reads (NaN check, progress, totals)


def test_drop_last_keeps_shapes_static_and_counts_only_the_trained_images(tmp_path):
    shapes = []
    model = _small_model()
    model[0].register_forward_hook(lambda module, inputs, output: shapes.append(inputs[0].shape[0]))
    with _StepLRs() as rec:
        result = train(tiny(tmp_path, epochs=2, val_size=0, batch_size=500, drop_last=True, lr_schedule="cosine"),
                       model=model)
    assert set(shapes) == {500}  # 1297 images: 2 full batches per epoch, the short one dropped
    assert result.history[0]["images_per_second"] * result.history[0]["train_seconds"] == pytest.approx(1000)
    assert len(rec.lrs) == 4 and rec.lrs[-1] == 0.0  # the schedule counts 2 steps per epoch
    with pytest.raises(ValueError, match="drop_last drops that short batch"):
        train(tiny(tmp_path / "big", batch_size=1500, drop_last=True))


@pytest.mark.cuda
@pytest.mark.parametrize("compile_mode", ["default", "reduce-overhead"])
def test_cuda_steps_after_the_first_never_synchronise(tmp_path, monkeypatch, compile_mode):
    # torch's sync debug mode turns every host-device synchronisation into an error; the first two steps
    # are left out (compilation, cuDNN autotuning and CUDA-graph recording synchronise), and log_every is
    # beyond the epoch
    import mireg.train.epoch as epoch_module
    from mireg.train.step import TrainingStep

    calls = {"n": 0}
    step_call, add = TrainingStep.__call__, epoch_module._RunningTotals.add

    def strict(fn):
        def wrapped(*args, **kwargs):
            calls["n"] += fn is step_call
            if calls["n"] <= 2:
                return fn(*args, **kwargs)
            torch.cuda.set_sync_debug_mode("error")
            try:
                return fn(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return wrapped

    monkeypatch.setattr(TrainingStep, "__call__", strict(step_call))
    monkeypatch.setattr(epoch_module._RunningTotals, "add", strict(add))
    result = train(tiny(tmp_path, device="cuda", epochs=1, method="trades", log_every=100,
                        compile_mode=compile_mode), model=_small_model())
    assert calls["n"] == 6 and result.extra["speed"].compile and result.extra["speed"].drop_last
