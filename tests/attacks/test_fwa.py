"""FWA: transport operators vs float64 loops, entropic LMO vs an exact LP, the Wasserstein constraint, digits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchattacks
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import mireg  # noqa: F401
from mireg.attacks import FWA
from mireg.attacks.fwa import entropic_lmo, transport, transport_cost, transport_offsets
from mireg.registry import ATTACKS
from tests._attack_helpers import TinyNet, accuracy


def _loop_transport(plan: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Float64 reference: column marginal and cost per sample by explicit loops over pixels and offsets."""
    b, c, _, h, w = plan.shape
    r = k // 2
    out = np.zeros((b, c, h, w))
    cost = np.zeros(b)
    for o, (dy, dx) in enumerate((dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)):
        for i in range(h):
            for j in range(w):
                if 0 <= i + dy < h and 0 <= j + dx < w:
                    out[:, :, i + dy, j + dx] += plan[:, :, o, i, j]
                    cost += plan[:, :, o, i, j].sum(1) * math.hypot(dy, dx)
    return out, cost


def _assert_feasible(plan, images, budget, k, tol=1e-5):
    assert bool((plan >= 0).all())
    torch.testing.assert_close(plan.sum(2), images, atol=tol, rtol=0)  # mass conservation: Pi 1 = x
    inside = torch.zeros_like(plan[:1, :1])
    off = transport_offsets(k)[0]
    h, w = images.shape[-2:]
    for o, (dy, dx) in enumerate(off.tolist()):
        inside[..., o, max(0, -dy):min(h, h - dy), max(0, -dx):min(w, w - dx)] = 1
    assert bool((plan * (1 - inside) == 0).all())  # no mass leaves the image
    assert bool((transport_cost(plan, k) <= budget * (1 + tol) + 1e-7).all())


@pytest.mark.parametrize("k", [3, 5])
def test_transport_and_cost_match_float64_loops(k):
    plan = torch.rand(2, 2, k * k, 4, 5, dtype=torch.float64)
    out, cost = _loop_transport(plan.numpy(), k)
    inside_plan = plan.clone()
    for o, (dy, dx) in enumerate(transport_offsets(k)[0].tolist()):  # zero the entries that leave the image
        mask = torch.zeros(4, 5, dtype=torch.bool)
        mask[max(0, -dy):min(4, 4 - dy), max(0, -dx):min(5, 5 - dx)] = True
        inside_plan[:, :, o][:, :, ~mask] = 0
    np.testing.assert_allclose(transport(plan, k).numpy(), out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(transport_cost(inside_plan, k).numpy(), cost, rtol=1e-12)
    offsets, c = transport_offsets(k)
    assert c[(k * k) // 2] == 0 and c.min() == 0 and c.max() == pytest.approx(math.sqrt(2) * (k // 2))
    assert offsets.shape == (k * k, 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entropic_lmo_is_feasible_and_near_the_exact_lp_optimum(seed):
    """Gap bound of the entropic LMO: reg * mass * log(K^2) * max|G| (the entropy's range, rescaled)."""
    torch.manual_seed(seed)
    k, h, w = 3, 3, 3
    x = torch.rand(1, 1, h, w, dtype=torch.float64)
    grad = torch.randn(1, 1, k * k, h, w, dtype=torch.float64)
    budget = 0.3 * x.sum().reshape(1)
    off, cost = transport_offsets(k)
    bounds = []
    for dy, dx in off.tolist():
        bounds += [(0, None) if 0 <= i + dy < h and 0 <= j + dx < w else (0, 0) for i in range(h) for j in range(w)]
    a_eq = np.tile(np.eye(h * w), (1, k * k))
    a_ub = np.repeat(cost.double().numpy(), h * w)[None]
    lp = linprog(-grad.flatten().numpy(), A_ub=a_ub, b_ub=[budget.item()], A_eq=a_eq, b_eq=x.flatten().numpy(),
                 bounds=bounds)
    assert lp.status == 0
    best = -lp.fun
    for reg in (1e-2, 1e-3):
        plan = entropic_lmo(grad, x, budget, k, reg=reg, dual_iters=40)
        _assert_feasible(plan, x, budget, k, tol=1e-9)
        value = (plan * grad).sum().item()
        assert value <= best + 1e-9
        assert best - value <= reg * x.sum().item() * math.log(k * k) * grad.abs().max().item() + 1e-6


def test_plan_satisfies_wasserstein_constraint_and_output_is_the_clamped_transport(digits_model, digits_split):
    x, y = digits_split["x_test"][:16], digits_split["y_test"][:16]
    atk = FWA(digits_model, eps=0.3, radius=0.05, kernel_size=5, steps=5)
    adv = atk(x, y)
    _assert_feasible(atk.last_plan, x, atk.last_budget, 5)
    torch.testing.assert_close(atk.last_budget, 0.05 * x.flatten(1).sum(1))
    torch.testing.assert_close(atk.last_transported, transport(atk.last_plan, 5))
    expected = torch.min(torch.max(atk.last_transported, (x - 0.3).clamp(min=0)), (x + 0.3).clamp(max=1))
    assert torch.equal(adv, expected)
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= 0.3 + 1e-6
    # the transported image conserves each channel's mass
    torch.testing.assert_close(atk.last_transported.sum(dim=(2, 3)), x.sum(dim=(2, 3)), atol=1e-4, rtol=0)
    assert float((adv - x).abs().sum()) > 0  # something moved
    assert len(repr(atk)) < 1000  # the stored plan is not part of torchattacks' repr


@settings(max_examples=8, deadline=None)
@given(batch=st.integers(1, 2), channels=st.integers(1, 2), size=st.integers(3, 6), eps=st.floats(0.01, 1.0),
       radius=st.floats(1e-3, 1.0), k=st.sampled_from([3, 5]), steps=st.integers(1, 3), seed=st.integers(0, 9999),
       extreme=st.booleans())
def test_property_constraints_hold(batch, channels, size, eps, radius, k, steps, seed, extreme):
    torch.manual_seed(seed)
    model = TinyNet(channels=channels).eval()
    x = torch.rand(batch, channels, size, size)
    if extreme:
        x = (x > 0.5).float()
    y = torch.randint(0, 3, (batch,))
    atk = FWA(model, eps=eps, radius=radius, kernel_size=k, steps=steps)
    adv = atk(x, y)
    assert adv.shape == x.shape and adv.dtype == torch.float32 and not adv.requires_grad
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= eps + 1e-6
    _assert_feasible(atk.last_plan, x, atk.last_budget, k)


def test_black_image_cannot_change():
    x = torch.zeros(2, 1, 5, 5)
    atk = FWA(TinyNet(), steps=2)
    adv = atk(x, torch.tensor([0, 1]))
    assert torch.equal(adv, x) and bool((atk.last_cost == 0).all())


def test_lowers_digits_accuracy_and_targeted_mode(digits_model, digits_split):
    x, y = digits_split["x_test"][:40], digits_split["y_test"][:40]
    clean = accuracy(digits_model, x, y)
    adv = FWA(digits_model, eps=0.3, radius=0.1, steps=6)(x, y)
    assert accuracy(digits_model, adv, y) < clean - 0.3
    atk = FWA(digits_model, eps=0.5, radius=0.2, steps=6)
    atk.set_mode_targeted_by_function(lambda images, labels: (labels + 1) % 10, quiet=True)
    adv = atk(x, y)
    assert (digits_model(adv).argmax(1) == (y + 1) % 10).float().mean().item() > 0.3


def test_inside_multiattack_and_registry(digits_model, digits_split):
    x, y = digits_split["x_test"][:20], digits_split["y_test"][:20]
    atk1 = ATTACKS.create("fwa", model=digits_model, eps=0.2, radius=0.05, steps=3)
    assert isinstance(atk1, FWA)
    atk2 = torchattacks.PGD(digits_model, eps=0.2, alpha=0.05, steps=5)
    adv = torchattacks.MultiAttack([atk1, atk2])(x, y)
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= 0.2 + 1e-6
    assert accuracy(digits_model, adv, y) <= accuracy(digits_model, atk1(x, y), y)




@pytest.mark.parametrize("kwargs, error", [
    ({"eps": 0.0}, ValueError), ({"eps": -1.0}, ValueError), ({"radius": 0.0}, ValueError),
    ({"kernel_size": 4}, ValueError), ({"kernel_size": 1}, ValueError), ({"kernel_size": 3.0}, TypeError),
    ({"steps": 0}, ValueError), ({"reg": 0.0}, ValueError), ({"dual_iters": 0}, ValueError),
])
def test_bad_hyperparameters(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        FWA(TinyNet(), **kwargs)


def test_images_must_be_a_batch_of_images():
    """(The checks every mireg attack makes are in test_contract.py.)"""
    atk = FWA(TinyNet(), steps=1)
    x, y = torch.rand(2, 1, 5, 5), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        atk(x.flatten(1), y)
