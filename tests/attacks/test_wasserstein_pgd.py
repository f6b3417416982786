"""WassersteinPGD (NAMID's FWA-40): window geometry, simplex and dual projections and one attack step against
float64 re-derivations (generic QP/LP solvers, loops), the Wasserstein constraint, digits, torchattacks composition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchattacks
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog, minimize

import mireg  # noqa: F401
from mireg.attacks import WassersteinPGD
from mireg.attacks.fwa import transport, transport_offsets
from mireg.attacks.wasserstein_pgd import (
    dual_projection,
    simplex_projection,
    window_cost,
    window_offsets,
    window_transport,
)
from mireg.registry import ATTACKS
from tests._attack_helpers import TinyNet, accuracy, assert_modes_preserved

# ---------------------------------------------------------------------------------------------
# float64 references, written from the definitions with loops and generic solvers


def _offsets(k: int) -> list[tuple[int, int]]:
    """The reference C++ window: target (h1 + k1 - k // 2, w1 + k2 - k // 2), k1, k2 in 0..k-1, row-major."""
    return [(k1 - k // 2, k2 - k // 2) for k1 in range(k) for k2 in range(k)]


def _valid(k: int, h: int, w: int) -> np.ndarray:
    """(K², H, W) bool: the target of each (offset, source pixel) lies in the image."""
    out = np.zeros((k * k, h, w), dtype=bool)
    for o, (dy, dx) in enumerate(_offsets(k)):
        for i in range(h):
            for j in range(w):
                out[o, i, j] = 0 <= i + dy < h and 0 <= j + dx < w
    return out


def _distance(k: int, h: int, w: int) -> np.ndarray:
    return np.array([math.hypot(dy, dx) for dy, dx in _offsets(k)])[:, None, None] * np.ones((1, h, w))


def _loop_transport(plan: np.ndarray, k: int) -> np.ndarray:
    """(C, K², H, W) -> (C, H, W): add each entry's mass at its target pixel, dropping targets outside."""
    c, _, h, w = plan.shape
    out = np.zeros((c, h, w))
    for o, (dy, dx) in enumerate(_offsets(k)):
        for i in range(h):
            for j in range(w):
                if 0 <= i + dy < h and 0 <= j + dx < w:
                    out[:, i + dy, j + dx] += plan[:, o, i, j]
    return out


def _constraints(x: np.ndarray, k: int, budget: float):
    """Feasible set of one 1-channel image over the entries whose target is inside the image: equalities
    (each pixel's entries sum to its mass), the cost row and budget, the entries' flat indices."""
    h, w = x.shape
    keep = np.flatnonzero(_valid(k, h, w).ravel())
    a_eq = np.zeros((h * w, keep.size))
    a_eq[keep % (h * w), np.arange(keep.size)] = 1.0  # entry (o, i, j) belongs to pixel (i, j)
    cost = _distance(k, h, w).ravel()[keep]
    return a_eq, x.ravel(), cost, budget, keep


def _qp_projection(g: np.ndarray, x: np.ndarray, k: int, budget: float) -> np.ndarray:
    """argmin 0.5 ||P - G||^2 over the local Wasserstein ball, by SLSQP (a generic solver), shape of g."""
    a_eq, b_eq, cost, bud, keep = _constraints(x, k, budget)
    gv = g.ravel()[keep]
    cons = [{"type": "eq", "fun": lambda p: a_eq @ p - b_eq, "jac": lambda p: a_eq},
            {"type": "ineq", "fun": lambda p: bud - cost @ p, "jac": lambda p: -cost[None]}]
    start = np.where(cost == 0, x.ravel()[keep % x.size], 0.0)  # the identity plan is feasible
    res = minimize(lambda p: 0.5 * np.sum((p - gv) ** 2), start, jac=lambda p: p - gv,
                   bounds=[(0.0, None)] * keep.size, constraints=cons, method="SLSQP",
                   options={"ftol": 1e-14, "maxiter": 1000})
    # status 8 is SLSQP's "cannot improve further" at this ftol: accept it when the point is feasible
    assert res.status in (0, 8), res.message
    assert np.abs(a_eq @ res.x - b_eq).max() < 1e-8 and cost @ res.x <= bud + 1e-8 and res.x.min() > -1e-8
    out = np.zeros(g.size)
    out[keep] = res.x
    return out.reshape(g.shape)


def _is_projection(plan: np.ndarray, g: np.ndarray, x: np.ndarray, k: int, budget: float, tol: float) -> None:
    """Optimality certificate by an LP: P* is the projection of G iff max over the set <G - P*, P> <= <G - P*, P*>."""
    a_eq, b_eq, cost, bud, keep = _constraints(x, k, budget)
    assert np.all(np.delete(plan.ravel(), keep) == 0)
    direction = (g - plan).ravel()[keep]
    lp = linprog(-direction, A_ub=cost[None], b_ub=[bud], A_eq=a_eq, b_eq=b_eq, bounds=(0, None))
    assert lp.status == 0
    assert -lp.fun <= direction @ plan.ravel()[keep] + tol


def _simplex_by_bisection(v: np.ndarray, m: float) -> np.ndarray:
    """Projection onto {p >= 0, sum p = m} from its KKT form p = max(v - t, 0), t found by bisection."""
    lo, hi = v.min() - m - 1.0, v.max()
    for _ in range(200):
        t = (lo + hi) / 2
        lo, hi = (t, hi) if np.maximum(v - t, 0).sum() > m else (lo, t)
    return np.maximum(v - (lo + hi) / 2, 0)


# ---------------------------------------------------------------------------------------------
# geometry and projections


def test_window_offsets_follow_the_reference_even_and_odd():
    assert window_offsets(4).tolist() == [list(o) for o in _offsets(4)]
    assert sorted({dy for dy, _ in window_offsets(4).tolist()}) == [-2, -1, 0, 1]  # K = 4 is asymmetric
    assert window_offsets(4)[10].tolist() == [0, 0]  # identity index (K // 2) * (K + 1)
    assert torch.equal(window_offsets(5), transport_offsets(5)[0])  # odd K: mireg's FWA window
    cost = window_cost(4, 3, 5, dtype=torch.float64)
    valid = torch.from_numpy(_valid(4, 3, 5))
    torch.testing.assert_close(cost[valid], torch.from_numpy(_distance(4, 3, 5))[valid])
    assert bool(torch.isinf(cost[~valid]).all())


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_window_transport_matches_float64_loop(k):
    plan = torch.rand(2, 3, k * k, 4, 5, dtype=torch.float64)
    expected = np.stack([_loop_transport(p, k) for p in plan.numpy()])
    np.testing.assert_allclose(window_transport(plan, k).numpy(), expected, rtol=1e-12, atol=1e-12)
    if k % 2:
        torch.testing.assert_close(window_transport(plan, k), transport(plan, k))


def test_simplex_projection_matches_bisection_reference():
    g = torch.Generator().manual_seed(3)
    values = torch.randn(3, 2, 16, 4, 4, generator=g, dtype=torch.float64)
    values[0, 0, :, 0, 0] = 0.25  # ties
    mass = torch.rand(3, 2, 4, 4, generator=g, dtype=torch.float64)
    mass[1, 1] = 0.0  # black pixels keep nothing
    out = simplex_projection(values, mass)
    for idx in np.ndindex(3, 2, 4, 4):
        b, c, i, j = idx
        ref = _simplex_by_bisection(values[b, c, :, i, j].numpy(), float(mass[idx]))
        np.testing.assert_allclose(out[b, c, :, i, j].numpy(), ref, atol=1e-12)
    assert bool((out[1, 1] == 0).all())


@pytest.mark.parametrize("k, size, seed", [(4, 3, 1), (2, 4, 2), (3, 3, 0),
                                           pytest.param(3, 4, 0, marks=pytest.mark.slow),
                                           pytest.param(4, 4, 3, marks=pytest.mark.slow)])
def test_dual_projection_is_the_euclidean_projection(k, size, seed):
    """Run to convergence, the bisection gives the QP solution (SLSQP) and passes the LP certificate."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, size, size, generator=g, dtype=torch.float64)
    plan0 = torch.zeros(1, 1, k * k, size, size, dtype=torch.float64)
    plan0[:, :, (k // 2) * (k + 1)] = x
    target = plan0 + 0.3 * torch.randn(plan0.shape, generator=g, dtype=torch.float64)
    budget = 0.05 * x.sum().reshape(1)
    cost = window_cost(k, size, size, dtype=torch.float64)
    plan, lam = dual_projection(target, x, cost, budget, max_iter=80, grad_tol=None, int_tol=None)
    assert lam.item() > 0  # the budget binds
    exact = _qp_projection(target[0, 0].numpy(), x[0, 0].numpy(), k, budget.item())
    np.testing.assert_allclose(plan[0, 0].numpy(), exact, atol=2e-6)
    _is_projection(plan[0, 0].numpy(), target[0, 0].numpy(), x[0, 0].numpy(), k, budget.item(), tol=1e-9)
    assert (plan * cost.nan_to_num(posinf=0.0)).sum().item() <= budget.item() * (1 + 1e-12)


@pytest.mark.parametrize("budget_scale", [0.05, 10.0])
def test_dual_projection_with_miat_tolerances_is_within_its_bracket(budget_scale):
    """15 steps / tolerances 1e-4: feasible, and (projections are 1-Lipschitz) at most |dλ|·||C|| from exact."""
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 2, 5, 5, generator=g, dtype=torch.float64)
    plan0 = torch.zeros(3, 2, 16, 5, 5, dtype=torch.float64)
    plan0[:, :, 10] = x
    target = plan0 + 0.2 * torch.randn(plan0.shape, generator=g, dtype=torch.float64)
    cost = window_cost(4, 5, 5, dtype=torch.float64)
    budget = budget_scale * x.flatten(1).sum(1)
    plan, lam = dual_projection(target, x, cost, budget)  # MIAT: 15 iterations, grad_tol = int_tol = 1e-4
    exact, lam_star = dual_projection(target, x, cost, budget, max_iter=100, grad_tol=None, int_tol=None)
    assert bool(((plan * cost.nan_to_num(posinf=0.0)).flatten(1).sum(1) <= budget).all())
    torch.testing.assert_close(plan.sum(2), x, atol=1e-12, rtol=0)
    assert bool(((lam - lam_star).abs() <= 2 * 2 ** -15 * (2 * target.abs().amax() + 1)).all())
    c_norm = cost.nan_to_num(posinf=0.0).expand_as(plan).flatten(1).norm(dim=1)
    assert bool(((plan - exact).flatten(1).norm(dim=1) <= (lam - lam_star).abs() * c_norm + 1e-12).all())


# ---------------------------------------------------------------------------------------------
# one attack step against a float64 re-derivation on a linear model


class _Linear(torch.nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight)
        self.bias = torch.nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.t() + self.bias


def _reference_step(plan: np.ndarray, x: np.ndarray, y: int, weight: np.ndarray, bias: np.ndarray, k: int,
                    alpha: float, eps: float) -> np.ndarray:
    """One iteration for one 1-channel image, float64: CE-sum gradient through the clip, max-normalised, QP."""
    h, w = x.shape
    moved = _loop_transport(plan[None], k)[0]
    logits = weight @ np.clip(moved, 0, 1).ravel() + bias
    p = np.exp(logits - logits.max())
    p /= p.sum()
    p[y] -= 1.0
    grad_image = (weight.T @ p).reshape(h, w) * ((moved >= 0) & (moved <= 1))
    grad = np.zeros_like(plan)
    for o, (dy, dx) in enumerate(_offsets(k)):
        for i in range(h):
            for j in range(w):
                if 0 <= i + dy < h and 0 <= j + dx < w:
                    grad[o, i, j] = grad_image[i + dy, j + dx]
    target = plan + alpha * grad / np.abs(grad).max()
    return _qp_projection(target, x, k, eps * x.sum())


@pytest.mark.parametrize("k", [3, 4])
def test_two_attack_steps_match_float64_rederivation(k):
    g = torch.Generator().manual_seed(7)
    x = 0.9 * torch.rand(2, 1, 3, 3, generator=g)
    x[:, :, 0, 0] = 0.0  # black pixels: the gradient through the clip must pass at exactly 0
    y = torch.tensor([0, 2])
    model = _Linear(torch.randn(3, 9, generator=g), torch.randn(3, generator=g)).eval()
    kwargs = {"eps": 0.05, "alpha": 0.2, "kernel_size": k, "dual_max_iter": 60, "grad_tol": None, "int_tol": None}
    w64, b64 = model.weight.detach().double().numpy(), model.bias.detach().double().numpy()
    for steps in (1, 2):
        atk = WassersteinPGD(model, steps=steps, **kwargs)
        adv = atk(x, y)
        for n in range(2):
            xn = x[n, 0].double().numpy()
            ref = np.zeros((k * k, 3, 3))
            ref[(k // 2) * (k + 1)] = xn
            for _ in range(steps):
                ref = _reference_step(ref, xn, int(y[n]), w64, b64, k, alpha=0.2, eps=0.05)
            np.testing.assert_allclose(atk.last_plan[n, 0].double().numpy(), ref, atol=5e-5)
            np.testing.assert_allclose(adv[n, 0].double().numpy(), np.clip(_loop_transport(ref[None], k)[0], 0, 1),
                                       atol=1e-4)


# ---------------------------------------------------------------------------------------------
# the attack


def _assert_in_wasserstein_ball(atk: WassersteinPGD, x: torch.Tensor, adv: torch.Tensor) -> None:
    plan, k = atk.last_plan, atk.kernel_size
    assert bool((plan >= 0).all())
    torch.testing.assert_close(plan.sum(2), x, atol=1e-5, rtol=0)  # mass conservation: Pi 1 = x
    outside = torch.isinf(window_cost(k, *x.shape[-2:]))
    assert bool((plan[:, :, outside] == 0).all())  # no mass leaves the image
    torch.testing.assert_close(atk.last_budget, atk.eps * x.flatten(1).sum(1))
    assert bool((atk.last_cost <= atk.last_budget * (1 + 1e-5) + 1e-7).all())
    torch.testing.assert_close(atk.last_transported, window_transport(plan, k))
    assert torch.equal(adv, atk.last_transported.clamp(0, 1))
    assert adv.dtype == torch.float32 and not adv.requires_grad and adv.min() >= 0 and adv.max() <= 1


def test_defaults_are_miat_fwa40():
    atk = WassersteinPGD(TinyNet())
    assert (atk.eps, atk.alpha, atk.steps, atk.kernel_size) == (8 / 255, 0.007, 40, 4)
    assert (atk.dual_max_iter, atk.grad_tol, atk.int_tol) == (15, 1e-4, 1e-4)


@settings(max_examples=8, deadline=None)
@given(batch=st.integers(1, 2), channels=st.integers(1, 3), size=st.integers(3, 6), eps=st.floats(1e-3, 1.0),
       k=st.integers(2, 5), steps=st.integers(1, 3), alpha=st.floats(1e-3, 1.0), seed=st.integers(0, 9999),
       extreme=st.booleans())
def test_property_constraints_hold(batch, channels, size, eps, k, steps, alpha, seed, extreme):
    torch.manual_seed(seed)
    model = TinyNet(channels=channels).eval()
    x = torch.rand(batch, channels, size, size)
    if extreme:
        x = (x > 0.5).float()
    atk = WassersteinPGD(model, eps=eps, alpha=alpha, kernel_size=k, steps=steps)
    adv = atk(x, torch.randint(0, 3, (batch,)))
    assert adv.shape == x.shape
    _assert_in_wasserstein_ball(atk, x, adv)


def test_black_image_cannot_change():
    x = torch.zeros(2, 1, 5, 5)
    atk = WassersteinPGD(TinyNet(), steps=2)
    adv = atk(x, torch.tensor([0, 1]))
    assert torch.equal(adv, x) and bool((atk.last_cost == 0).all())


def test_lowers_digits_accuracy_beyond_the_linf_ball_and_targeted_mode(digits_model, digits_split):
    x, y = digits_split["x_test"][:40], digits_split["y_test"][:40]
    clean = accuracy(digits_model, x, y)
    atk = WassersteinPGD(digits_model, eps=0.1, alpha=0.05, steps=10)
    adv = atk(x, y)
    _assert_in_wasserstein_ball(atk, x, adv)
    assert accuracy(digits_model, adv, y) < clean - 0.2
    assert (adv - x).abs().amax().item() > 8 / 255 * 5  # the L-inf size is not bounded; the cost is
    atk = WassersteinPGD(digits_model, eps=0.3, alpha=0.05, steps=10)
    atk.set_mode_targeted_by_function(lambda images, labels: (labels + 1) % 10, quiet=True)
    adv = atk(x, y)
    assert (digits_model(adv).argmax(1) == (y + 1) % 10).float().mean().item() > 0.3


@pytest.mark.slow
def test_miat_defaults_lower_digits_accuracy(digits_model, digits_split):
    x, y = digits_split["x_test"][:200], digits_split["y_test"][:200]
    atk = WassersteinPGD(digits_model)  # FWA-40 exactly as MIAT's test_comparison.py
    adv = atk(x, y)
    _assert_in_wasserstein_ball(atk, x, adv)
    assert accuracy(digits_model, adv, y) < accuracy(digits_model, x, y) - 0.03


def test_inside_multiattack_and_registry(digits_model, digits_split):
    x, y = digits_split["x_test"][:20], digits_split["y_test"][:20]
    atk1 = ATTACKS.create("wasserstein-pgd", model=digits_model, eps=0.1, steps=3)
    assert isinstance(atk1, WassersteinPGD)
    atk2 = torchattacks.PGD(digits_model, eps=0.2, alpha=0.05, steps=5)
    adv = torchattacks.MultiAttack([atk1, atk2])(x, y)
    assert adv.min() >= 0 and adv.max() <= 1
    assert accuracy(digits_model, adv, y) <= accuracy(digits_model, atk1(x, y), y)


def test_model_modes_and_weights_untouched():
    x, y = torch.rand(2, 1, 6, 6), torch.randint(0, 3, (2,))
    assert_modes_preserved(lambda m: WassersteinPGD(m, steps=2), TinyNet(), x, y)


@pytest.mark.parametrize("kwargs, error", [
    ({"eps": 0.0}, ValueError), ({"alpha": -1.0}, ValueError), ({"steps": 0}, ValueError),
    ({"kernel_size": 1}, ValueError), ({"kernel_size": 3.0}, TypeError), ({"dual_max_iter": 0}, ValueError),
    ({"grad_tol": 0.0}, ValueError), ({"int_tol": "1e-4"}, TypeError),
])
def test_bad_hyperparameters(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        WassersteinPGD(TinyNet(), **kwargs)


def test_bad_inputs():
    atk = WassersteinPGD(TinyNet(), steps=1)
    x, y = torch.rand(2, 1, 5, 5), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"images must be in \[0, 1\]"):
        atk(x + 1, y)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        atk(x.flatten(1), y)
    with pytest.raises(TypeError, match="labels must hold integer"):
        atk(x, y.float())
    with pytest.raises(ValueError, match="labels must lie in"):
        atk(x, torch.tensor([0, 7]))


@pytest.mark.cuda
def test_runs_on_cuda_without_host_sync_in_the_loop():
    model = TinyNet().cuda().eval()
    x, y = torch.rand(4, 1, 8, 8).cuda(), torch.randint(0, 3, (4,), device="cuda")
    atk = WassersteinPGD(model, eps=0.1, steps=3)
    with mireg._validation.value_checks(False):  # the once-per-call value checks are the only syncs
        torch.cuda.set_sync_debug_mode("error")
        try:
            adv = atk(x, y)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert adv.is_cuda and adv.dtype == torch.float32 and not adv.requires_grad
    _assert_in_wasserstein_ball(atk, x, adv)
