"""Speed settings by device, and torch.compile's fallback to eager (one warning, the eager result)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from mireg.train import TrainConfig, build_config, train
from mireg.train.speed import CompileFallback, resolve_speed


def test_auto_is_fast_on_cuda_and_eager_on_the_cpu():
    auto = TrainConfig()
    cuda = resolve_speed(auto, torch.device("cuda", 0))  # resolving needs no GPU: it reads the device type
    assert (cuda.compile, cuda.fused, cuda.drop_last, cuda.amp, cuda.channels_last) == (True,) * 5
    cpu = resolve_speed(auto, torch.device("cpu"))
    assert (cpu.compile, cpu.fused, cpu.drop_last, cpu.amp, cpu.channels_last) == (False,) * 5
    eager_cuda = resolve_speed(TrainConfig(compile=False), torch.device("cuda"))
    assert not eager_cuda.compile and not eager_cuda.drop_last and eager_cuda.fused  # static shapes only to compile
    forced = resolve_speed(TrainConfig(compile=True, drop_last=False, fused=True, compile_mode="reduce-overhead"),
                           torch.device("cpu"))
    assert (forced.compile, forced.drop_last, forced.fused, forced.compile_mode) == (True, False, True,
                                                                                      "reduce-overhead")
    assert "compile (reduce-overhead)" in forced.describe()


def _config(tmp_path, **changes):
    base = {"image_size": 8, "channels": 1, "model_kwargs": {"width": 4, "hidden": 16}, "val_size": 97,
            "epochs": 2, "batch_size": 200, "steps": 2, "val_steps": 2, "eps": 0.1, "alpha": 0.05,
            "augment": True, "progress": False, "device": "cpu", "out_dir": str(tmp_path)}
    return build_config("digits-trades", overrides={**base, **changes})


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 64, 10))


def _train_recording_warnings(cfg, model=None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(cfg, model=model or _model())
    return result, [w for w in caught if "torch.compile failed" in str(w.message)]


def _assert_same_weights(a, b):
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key


class _Broken:
    """What a compiled module whose backend fails does: raise at its first call (counted)."""

    calls = 0

    def __init__(self, module, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        type(self).calls += 1
        raise RuntimeError("backend compiler failed: no such kernel")


def test_a_failure_at_the_first_compiled_call_falls_back_to_eager_exactly(tmp_path, monkeypatch):
    eager = train(_config(tmp_path / "eager", compile=False), model=_model())
    monkeypatch.setattr(torch, "compile", _Broken)
    _Broken.calls = 0
    result, warned = _train_recording_warnings(_config(tmp_path / "fallback", compile=True))
    assert len(warned) == 1 and "RuntimeError: backend compiler failed" in str(warned[0].message)
    assert "--no-compile" in str(warned[0].message)
    assert _Broken.calls == 1  # never tried again after the first failure
    _assert_same_weights(eager, result)  # the failed call was re-run eagerly: nothing lost or repeated


def test_torch_compile_raising_at_wrap_time_falls_back_with_one_warning(tmp_path, monkeypatch):
    def unsupported(module, **kwargs):
        raise RuntimeError("torch.compile is not supported on this platform")

    eager = train(_config(tmp_path / "eager", compile=False), model=_model())
    monkeypatch.setattr(torch, "compile", unsupported)
    result, warned = _train_recording_warnings(_config(tmp_path / "fallback", compile=True))
    assert len(warned) == 1 and "not supported on this platform" in str(warned[0].message)
    _assert_same_weights(eager, result)


class _FailingBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("failed to compile the backward graph")


class _BackwardBroken:
    """A compiled module whose forward works but whose (lazily compiled) backward fails."""

    calls = 0

    def __init__(self, module, **kwargs):
        self.module = module

    def __call__(self, *args, **kwargs):
        type(self).calls += 1
        return _FailingBackward.apply(self.module(*args, **kwargs))


def test_a_failure_outside_the_forward_call_redoes_the_step_eagerly(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "compile", _BackwardBroken)
    _BackwardBroken.calls = 0
    result, warned = _train_recording_warnings(_config(tmp_path, compile=True))
    assert len(warned) == 1 and "backward graph" in str(warned[0].message)
    assert _BackwardBroken.calls == 2  # TPGD: p(x), then the first p(x') whose backward failed; eager from then on
    assert len(result.history) == 2 and result.history[-1]["loss"] == result.history[-1]["loss"]


def test_a_genuine_error_is_raised_not_hidden_by_the_fallback(tmp_path, monkeypatch):
    class Bad(nn.Module):
        def forward(self, x):
            raise ValueError("the model itself is broken")

    monkeypatch.setattr(torch, "compile", _Broken)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ValueError, match="model itself is broken"):
        warnings.simplefilter("always")
        model = Bad()
        model.w = nn.Parameter(torch.zeros(1))
        train(_config(tmp_path, compile=True, epochs=1), model=model)
    assert not [w for w in caught if "torch.compile failed" in str(w.message)]


def test_compile_fallback_wraps_without_new_parameters():
    model = _model()
    fast = CompileFallback().wrap(model)
    assert list(fast.parameters()) == list(model.parameters())
    fast.eval()
    assert not model.training and not model[1].training  # modes reach the wrapped model


@pytest.mark.slow
def test_a_real_dynamo_backend_failure_falls_back_to_eager_exactly(tmp_path, monkeypatch):
    real_compile = torch.compile

    def failing_backend(graph_module, example_inputs):
        raise RuntimeError("this backend cannot compile anything")

    monkeypatch.setattr(torch, "compile", lambda module, **kw: real_compile(module, backend=failing_backend))
    torch._dynamo.reset()
    eager = train(_config(tmp_path / "eager", compile=False), model=_model())
    result, warned = _train_recording_warnings(_config(tmp_path / "fallback", compile=True))
    assert len(warned) == 1 and "this backend cannot compile anything" in str(warned[0].message)
    _assert_same_weights(eager, result)
