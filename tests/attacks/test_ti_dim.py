"""TI-DIM (NAMID's evaluation as MIAT runs it): kernels, a float64 re-derivation of MIAT's loop, agreement with
torchattacks' TIFGSM where no pixel saturates, the eps-ball, digits (1 channel), torchattacks composition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchattacks
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.signal import correlate2d

import mireg  # noqa: F401
from mireg.attacks import TIDIM
from mireg.attacks.ti_dim import ti_kernel
from mireg.registry import ATTACKS
from tests._attack_helpers import TinyNet, accuracy, assert_modes_preserved


class _Linear(torch.nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight)
        self.bias = torch.nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.t() + self.bias


def _miat_tidim(x: np.ndarray, y: np.ndarray, weight: np.ndarray, bias: np.ndarray, *, eps: float, alpha: float,
                steps: int, decay: float) -> np.ndarray:
    """MIAT's ti_dim_gpu.TIDIM_Attack.perturb re-derived in float64 for a linear model, diversity a no-op:
    eta in the L-inf ball only, gradient of the batch-mean CE through the clamp, 'same' 15x15 Gaussian."""
    n, c, h, w = x.shape
    kernel = np.outer(stats.norm.pdf(np.linspace(-3, 3, 15)), stats.norm.pdf(np.linspace(-3, 3, 15)))
    kernel /= kernel.sum()
    eta, g = np.zeros_like(x), np.zeros_like(x)
    for _ in range(steps):
        raw = x + eta
        adv = np.clip(raw, 0, 1)
        logits = adv.reshape(n, -1) @ weight.T + bias
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(n), y] -= 1.0
        grad = (p @ weight / n).reshape(x.shape) * ((raw >= 0) & (raw <= 1))
        ti = np.stack([[correlate2d(grad[i, j], kernel, mode="same") for j in range(c)] for i in range(n)])
        ti /= np.abs(ti).mean(axis=(1, 2, 3), keepdims=True)
        g = decay * g + ti
        eta = np.clip(eta + alpha * np.sign(g), -eps, eps)
    return np.clip(x + eta, 0, 1)


@pytest.mark.parametrize("name", ["gaussian", "uniform", "linear"])
def test_kernels_match_torchattacks(name):
    ours = ti_kernel(name, 15, 3)
    assert ours.sum().item() == pytest.approx(1.0)
    theirs = torchattacks.TIFGSM(TinyNet(3), kernel_name=name).stacked_kernel[0, 0].double()
    torch.testing.assert_close(ours, theirs, atol=1e-7, rtol=1e-6)  # theirs is stored in float32


@pytest.mark.parametrize("channels", [1, 3])
def test_matches_float64_rederivation_of_miat_loop(channels):
    g = torch.Generator().manual_seed(channels)
    x = torch.rand(4, channels, 6, 6, generator=g)
    x[:, :, :2] = 0.0  # saturated pixels exercise the clamp's zero gradient and the unclipped eta
    x[:, :, -1] = 1.0
    y = torch.tensor([0, 1, 2, 1])
    model = _Linear(torch.randn(3, channels * 36, generator=g), torch.randn(3, generator=g)).eval()
    # dyadic eps and step: x + eta is exact in float32 and float64 alike, so the clip's mask agrees
    adv = TIDIM(model, eps=3 / 32, alpha=1 / 32, steps=12, decay=0.7)(x, y)
    ref = _miat_tidim(x.double().numpy(), y.numpy(), model.weight.detach().double().numpy(),
                      model.bias.detach().double().numpy(), eps=3 / 32, alpha=1 / 32, steps=12, decay=0.7)
    np.testing.assert_allclose(adv.double().numpy(), ref, atol=1e-6)


def test_equals_torchattacks_tifgsm_where_no_pixel_saturates():
    """The torchattacks arguments that reproduce MIAT's TI-DIM on CIFAR-10-like 3-channel images, away from 0/1."""
    torch.manual_seed(0)
    model = TinyNet(3).eval()
    x = 0.1 + 0.8 * torch.rand(4, 3, 16, 16)  # x +- 8/255 stays inside [0, 1]
    y = torch.tensor([0, 1, 2, 0])
    ours = TIDIM(model)(x, y)
    theirs = torchattacks.TIFGSM(model, eps=8 / 255, alpha=0.007, steps=40, decay=0.1, kernel_name="gaussian",
                                 len_kernel=15, nsig=3, resize_rate=0.9, diversity_prob=0.0,
                                 random_start=False)(x, y)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_diversity_is_off_at_resize_rate_one_and_on_below():
    torch.manual_seed(0)
    model = TinyNet().eval()
    x, y = torch.rand(3, 1, 8, 8), torch.tensor([0, 1, 2])
    assert torch.equal(TIDIM(model, steps=5, diversity_prob=0.0)(x, y), TIDIM(model, steps=5, diversity_prob=1.0)(x, y))
    atk = TIDIM(model, resize_rate=0.5, diversity_prob=1.0)
    views = [atk.input_diversity(x) for _ in range(20)]
    assert all(v.shape == x.shape for v in views)
    assert any(not torch.equal(v, x) for v in views)
    assert torch.equal(TIDIM(model, resize_rate=0.5, diversity_prob=0.0).input_diversity(x), x)


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 3), channels=st.integers(1, 3), size=st.integers(4, 9), eps=st.floats(1e-3, 0.5),
       steps=st.integers(1, 4), rate=st.floats(0.3, 1.0), prob=st.floats(0.0, 1.0), start=st.booleans(),
       seed=st.integers(0, 9999), extreme=st.booleans())
def test_property_stays_in_ball_and_range(batch, channels, size, eps, steps, rate, prob, start, seed, extreme):
    torch.manual_seed(seed)
    x = torch.rand(batch, channels, size, size)
    if extreme:
        x = (x > 0.5).float()
    atk = TIDIM(TinyNet(channels).eval(), eps=eps, alpha=eps / 3, steps=steps, resize_rate=rate,
                diversity_prob=prob, random_start=start)
    adv = atk(x, torch.randint(0, 3, (batch,)))
    assert adv.shape == x.shape and adv.dtype == torch.float32 and not adv.requires_grad
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= eps + 1e-6


def test_lowers_digits_accuracy_and_targeted_mode(digits_model, digits_split):
    x, y = digits_split["x_test"][:60], digits_split["y_test"][:60]
    # 1 channel (torchattacks' TIFGSM raises); a 15-pixel kernel flattens an 8x8 gradient, so a 3-pixel one
    adv = TIDIM(digits_model, eps=0.2, alpha=0.02, steps=20, len_kernel=3, nsig=1.0)(x, y)
    assert accuracy(digits_model, adv, y) < accuracy(digits_model, x, y) - 0.3
    atk = TIDIM(digits_model, eps=0.3, alpha=0.03, steps=20, len_kernel=3, nsig=1.0)
    atk.set_mode_targeted_by_function(lambda images, labels: (labels + 1) % 10, quiet=True)
    assert (digits_model(atk(x, y)).argmax(1) == (y + 1) % 10).float().mean().item() > 0.3


def test_inside_multiattack_and_registry(digits_model, digits_split):
    x, y = digits_split["x_test"][:20], digits_split["y_test"][:20]
    atk1 = ATTACKS.create("ti-dim", model=digits_model, eps=0.2, alpha=0.02, steps=5)
    assert isinstance(atk1, TIDIM) and ATTACKS.get("tifgsm") is torchattacks.TIFGSM
    atk2 = torchattacks.PGD(digits_model, eps=0.2, alpha=0.05, steps=5)
    adv = torchattacks.MultiAttack([atk1, atk2])(x, y)
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= 0.2 + 1e-6
    assert accuracy(digits_model, adv, y) <= accuracy(digits_model, atk1(x, y), y)


def test_model_modes_and_weights_untouched():
    x, y = torch.rand(2, 1, 6, 6), torch.randint(0, 3, (2,))
    assert_modes_preserved(lambda m: TIDIM(m, steps=2, resize_rate=0.5), TinyNet(), x, y)


@pytest.mark.parametrize("kwargs, error", [
    ({"eps": 0.0}, ValueError), ({"alpha": -1.0}, ValueError), ({"steps": 0}, ValueError),
    ({"decay": -0.1}, ValueError), ({"len_kernel": 4}, ValueError), ({"nsig": 0.0}, ValueError),
    ({"kernel_name": "box"}, ValueError), ({"resize_rate": 0.0}, ValueError), ({"resize_rate": 1.5}, ValueError),
    ({"diversity_prob": 2.0}, ValueError), ({"random_start": 1}, TypeError),
])
def test_bad_hyperparameters(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        TIDIM(TinyNet(), **kwargs)


def test_bad_inputs():
    atk = TIDIM(TinyNet(), steps=1)
    x, y = torch.rand(2, 1, 5, 5), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"images must be in \[0, 1\]"):
        atk(x - 1, y)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        atk(x.flatten(1), y)
    with pytest.raises(ValueError, match="labels must lie in"):
        atk(x, torch.tensor([0, 5]))


@pytest.mark.cuda
def test_runs_on_cuda():
    model = TinyNet().cuda().eval()
    x, y = torch.rand(4, 1, 8, 8).cuda(), torch.randint(0, 3, (4,), device="cuda")
    adv = TIDIM(model, eps=0.1, steps=3, resize_rate=0.75)(x, y)
    assert adv.is_cuda and adv.dtype == torch.float32 and not adv.requires_grad
    assert adv.min() >= 0 and adv.max() <= 1 and bool((adv - x).abs().max() <= 0.1 + 1e-6)
