"""DDN and DDN-bounded: Alg. 1 step vs float64, minimal L2 distance on a linear model, ball/box properties."""

from __future__ import annotations

import math

import pytest
import torch
import torchattacks
from hypothesis import given, settings
from hypothesis import strategies as st

import mireg  # noqa: F401
from mireg.attacks import DDN, DDNBounded
from mireg.registry import ATTACKS
from tests._attack_helpers import TinyNet, accuracy, linear_problem


def test_alpha_schedule_is_cosine_from_alpha_to_namid_step():
    atk = DDN(TinyNet(), steps=20)
    assert (atk.steps, atk.gamma, atk.alpha, atk.alpha_min) == (20, 0.05, 1.0, 0.01)
    for k in range(1, 21):
        expected = 0.01 + 0.99 * (1 + math.cos(math.pi * k / 20)) / 2
        assert atk._alpha(k) == pytest.approx(expected, abs=1e-12)
    assert atk._alpha(20) == pytest.approx(0.01)


def test_first_iteration_matches_algorithm_1_in_float64():
    # Linear model: the CE gradient is parallel to w, so after one step x1 = x + 0.1 (1 + gamma) * (-/+ w/||w||).
    model, x, y, l2, _ = linear_problem(n=6, low=0.02, high=0.08)
    atk = DDN(model, steps=1, init_norm=0.1, gamma=0.05)
    adv = atk(x, y)
    w = model.w.detach().double()
    direction = torch.where(y == 1, -1.0, 1.0).double().unsqueeze(1) * (w / w.norm())
    expected = (x.flatten(1).double() + 0.1 * 1.05 * direction).clamp(0, 1)
    assert bool(atk.last_success.all())  # every boundary is closer than 0.105
    torch.testing.assert_close(adv.flatten(1).double(), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(atk.last_norms.double(), torch.full((6,), 0.105, dtype=torch.float64), atol=1e-6,
                               rtol=0)


def test_minimal_l2_distance_on_linear_model():
    """Tolerance: the found norm is never below the true distance and at most 1% above it (100 steps)."""
    model, x, y, l2, _ = linear_problem(n=8, low=0.02, high=0.1)
    atk = DDN(model, steps=100)
    adv = atk(x, y)
    found = atk.last_norms.double()
    assert bool(atk.last_success.all())
    assert bool((found >= l2 * (1 - 1e-5)).all())
    assert bool((found <= l2 * 1.01).all()), (found / l2).max()
    # the returned images are adversarial and their norms are the reported ones
    assert bool((model(adv).argmax(1) != y).all())
    torch.testing.assert_close((adv - x).flatten(1).norm(dim=1).double(), found, atol=1e-6, rtol=0)


def test_already_misclassified_gets_zero_norm_and_failure_returns_clean():
    model, x, y, _, _ = linear_problem(n=4)
    atk = DDN(model, steps=3)
    adv = atk(x, 1 - y)  # wrong labels: the clean image is already "adversarial"
    assert torch.equal(adv, x) and bool((atk.last_norms == 0).all())
    bounded = DDNBounded(model, eps=1e-3, steps=3)  # far too small a ball
    adv = bounded(x, y)
    assert torch.equal(adv, x)
    assert not bool(bounded.last_success.any()) and bool(torch.isinf(bounded.last_norms).all())


@settings(max_examples=12, deadline=None)
@given(batch=st.integers(1, 3), size=st.integers(3, 6), eps=st.floats(0.05, 2.0), steps=st.integers(1, 6),
       seed=st.integers(0, 10_000), levels=st.sampled_from([None, 256]))
def test_bounded_outputs_in_box_and_l2_ball(batch, size, eps, steps, seed, levels):
    torch.manual_seed(seed)
    model = TinyNet().eval()
    x = torch.rand(batch, 1, size, size)
    y = torch.randint(0, 3, (batch,))
    atk = DDNBounded(model, eps=eps, steps=steps, levels=levels)
    adv = atk(x, y)
    assert adv.shape == x.shape and adv.dtype == torch.float32 and not adv.requires_grad
    assert adv.min() >= 0 and adv.max() <= 1
    assert bool(((adv - x).flatten(1).norm(dim=1) <= eps * (1 + 1e-5)).all())
    pred = model(adv).argmax(1)
    # reported successes are adversarial; failures come back clean
    assert bool((pred[atk.last_success] != y[atk.last_success]).all())
    assert torch.equal(adv[~atk.last_success], x[~atk.last_success])


def test_quantized_outputs_are_on_the_grid():
    x = torch.rand(3, 1, 5, 5)
    adv = DDN(TinyNet(), steps=3, levels=256)(x, torch.tensor([0, 1, 2]))
    changed = (adv != x).flatten(1).any(1)
    grid = adv[changed] * 255
    torch.testing.assert_close(grid, grid.round(), atol=1e-4, rtol=0)


def test_lowers_digits_accuracy_untargeted_bounded_and_targeted(digits_model, digits_split):
    x, y = digits_split["x_test"][:100], digits_split["y_test"][:100]
    clean = accuracy(digits_model, x, y)
    atk = DDN(digits_model)  # NAMID's DDN-20
    assert accuracy(digits_model, atk(x, y), y) < 0.05
    bounded = DDNBounded(digits_model, eps=0.5)
    adv = bounded(x, y)
    assert accuracy(digits_model, adv, y) < clean - 0.15
    assert bool(((adv - x).flatten(1).norm(dim=1) <= 0.5 * (1 + 1e-5)).all())
    targeted = DDN(digits_model, steps=30)
    targeted.set_mode_targeted_by_function(lambda images, labels: (labels + 3) % 10, quiet=True)
    adv = targeted(x, y)
    assert (digits_model(adv).argmax(1) == (y + 3) % 10).float().mean().item() > 0.9


def test_inside_multiattack_and_registry(digits_model, digits_split):
    x, y = digits_split["x_test"][:50], digits_split["y_test"][:50]
    atk1 = ATTACKS.create("ddn-bounded", model=digits_model, eps=0.5, steps=10)
    assert isinstance(atk1, DDNBounded) and isinstance(ATTACKS.create("ddn", model=digits_model), DDN)
    atk2 = torchattacks.PGDL2(digits_model, eps=0.5, alpha=0.1, steps=5)
    adv = torchattacks.MultiAttack([atk1, atk2])(x, y)
    assert adv.min() >= 0 and adv.max() <= 1
    assert bool(((adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all())
    assert accuracy(digits_model, adv, y) <= accuracy(digits_model, atk1(x, y), y)




@pytest.mark.parametrize("cls, kwargs, error", [
    (DDNBounded, {"eps": 0.0}, ValueError), (DDNBounded, {"eps": -0.5}, ValueError),
    (DDN, {"steps": 0}, ValueError), (DDN, {"steps": 1.0}, TypeError), (DDN, {"gamma": 0.0}, ValueError),
    (DDN, {"gamma": 1.0}, ValueError), (DDN, {"init_norm": 0}, ValueError), (DDN, {"alpha_min": 2.0}, ValueError),
    (DDN, {"levels": 1}, ValueError), (DDN, {"alpha": -1.0}, ValueError),
])
def test_bad_hyperparameters(cls, kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        cls(TinyNet(), **kwargs)
