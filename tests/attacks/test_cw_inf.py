"""CW-inf (L-inf PGD on the Carlini-Wagner margin): margin formula, one exact step, ball property, digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchattacks
from hypothesis import given, settings
from hypothesis import strategies as st

import mireg  # noqa: F401  (applies the torchattacks mode-restore patch)
from mireg.attacks import CWInf
from mireg.attacks.cw_inf import cw_margin
from mireg.registry import ATTACKS
from tests._attack_helpers import TinyNet, accuracy, linear_problem


@pytest.mark.parametrize("kappa", [None, 0.5])
def test_cw_margin_matches_float64_numpy(kappa):
    logits = torch.randn(7, 5)
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 2])
    z = logits.double().numpy()
    expected = []
    for row, label in zip(z, labels.numpy(), strict=True):
        other = max(v for j, v in enumerate(row) if j != label)
        m = other - row[label]
        expected.append(m if kappa is None else min(m, kappa))
    np.testing.assert_allclose(cw_margin(logits, labels, kappa).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_one_step_without_random_start_is_the_analytic_sign_step():
    # For the 2-class linear model the margin of class 1 is -z, of class 0 +z: its gradient is -/+ w.
    model, x, y, _, _ = linear_problem(n=6)
    adv = CWInf(model, eps=0.05, alpha=0.01, steps=1, random_start=False)(x, y)
    w = model.w.detach().double().view(1, 1, 4, 4)
    direction = torch.where(y.view(-1, 1, 1, 1) == 1, -1.0, 1.0).double()
    expected = (x.double() + 0.01 * direction * torch.sign(w)).clamp(0, 1)
    torch.testing.assert_close(adv.double(), expected, rtol=0, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 3), size=st.integers(3, 6), eps=st.floats(0.01, 0.5), alpha=st.floats(0.005, 0.3),
       steps=st.integers(1, 4), seed=st.integers(0, 10_000), extreme=st.booleans())
def test_outputs_stay_in_box_and_ball(batch, size, eps, alpha, steps, seed, extreme):
    torch.manual_seed(seed)
    model = TinyNet().eval()
    x = torch.rand(batch, 1, size, size)
    if extreme:
        x = (x > 0.5).float()  # pixels exactly at 0 and 1
    y = torch.randint(0, 3, (batch,))
    adv = CWInf(model, eps=eps, alpha=alpha, steps=steps)(x, y)
    assert adv.shape == x.shape and adv.dtype == torch.float32 and not adv.requires_grad
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().max() <= eps + 1e-6


def test_lowers_digits_accuracy_and_targeted_mode(digits_model, digits_split):
    x, y = digits_split["x_test"][:100], digits_split["y_test"][:100]
    clean = accuracy(digits_model, x, y)
    adv = CWInf(digits_model, eps=0.2, alpha=0.05, steps=10)(x, y)
    assert accuracy(digits_model, adv, y) < clean - 0.5

    atk = CWInf(digits_model, eps=0.3, alpha=0.05, steps=20)
    atk.set_mode_targeted_by_function(lambda images, labels: (labels + 1) % 10, quiet=True)
    adv = atk(x, y)
    hit = (digits_model(adv).argmax(1) == (y + 1) % 10).float().mean().item()
    assert hit > 0.6
    assert (adv - x).abs().max() <= 0.3 + 1e-6


def test_inside_multiattack_and_registry(digits_model, digits_split):
    x, y = digits_split["x_test"][:50], digits_split["y_test"][:50]
    atk1 = ATTACKS.create("cw-inf", model=digits_model, eps=0.15, steps=5)
    assert isinstance(atk1, CWInf)
    atk2 = torchattacks.PGD(digits_model, eps=0.15, alpha=0.05, steps=5)
    adv = torchattacks.MultiAttack([atk1, atk2])(x, y)
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= 0.15 + 1e-6
    assert accuracy(digits_model, adv, y) <= accuracy(digits_model, atk1(x, y), y) + 1e-9




@pytest.mark.parametrize("kwargs, error", [
    ({"eps": 0.0}, ValueError), ({"eps": -1.0}, ValueError), ({"alpha": 0}, ValueError),
    ({"steps": 0}, ValueError), ({"steps": 2.5}, TypeError), ({"kappa": -1.0}, ValueError),
    ({"random_start": 1}, TypeError), ({"eps": "8/255"}, TypeError),
])
def test_bad_hyperparameters(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        CWInf(TinyNet(), **kwargs)
