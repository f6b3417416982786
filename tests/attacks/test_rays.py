"""RayS: exact query counts, L-inf boundary distance on a linear model, ADBD, ball property, digits."""

from __future__ import annotations

import math

import pytest
import torch
import torchattacks
from hypothesis import given, settings
from hypothesis import strategies as st

import mireg  # noqa: F401
from mireg.attacks import RayS
from mireg.registry import ATTACKS
from tests._attack_helpers import CallCounter, TinyNet, accuracy, linear_problem


def test_linf_boundary_distance_on_linear_model():
    """Tolerance: |found - true| <= tol (1e-4) + 1e-6; the hierarchical search reaches the optimal sign vector."""
    model, x, y, _, linf = linear_problem(n=6, low=0.02, high=0.1)
    atk = RayS(model, eps=1.0, query_limit=600, early_stop=False)
    adv = atk(x, y)
    found = atk.last_distances.double()
    assert bool(((found - linf).abs() <= atk.tol + 1e-6).all()), (found - linf).abs().max()
    assert bool((found >= linf - 1e-6).all())  # the reported point is on the adversarial side
    assert bool((model(adv).argmax(1) != y).all())
    torch.testing.assert_close((adv - x).abs().flatten(1).amax(1).double(), found, atol=1e-7, rtol=0)
    assert atk.last_adbd == pytest.approx(found.mean().item(), rel=1e-6)
    assert atk.last_adbd == pytest.approx(linf.mean().item(), abs=2e-4)


def test_query_counts_are_exact_per_sample_and_in_batch(digits_model, digits_split):
    x, y = digits_split["x_test"][:6], digits_split["y_test"][:6]
    counter = CallCounter(digits_model)
    atk = RayS(counter, eps=0.15, query_limit=60)
    adv = atk(x, y)
    assert counter.rows == int(atk.last_queries.sum())
    assert bool((atk.last_queries <= 60).all()) and bool((atk.last_queries >= 1).all())
    # each sample's count equals the model calls made when it is attacked alone (the search is deterministic)
    for i in range(2):
        single = CallCounter(digits_model)
        one = RayS(single, eps=0.15, query_limit=60)
        out = one(x[i:i + 1], y[i:i + 1])
        assert single.rows == int(one.last_queries[0]) == int(atk.last_queries[i])
        torch.testing.assert_close(out, adv[i:i + 1], atol=1e-6, rtol=0)
    # samples that did not succeed spent the whole budget (early stop only on success)
    failed = ~atk.last_success & (digits_model(x).argmax(1) == y)
    assert bool((atk.last_queries[failed] == 60).all())
    assert bool(failed.any()) and bool(atk.last_success.any())  # both branches are exercised


def test_early_stop_and_misclassified_samples(digits_model, digits_split):
    x, y = digits_split["x_test"][:10], digits_split["y_test"][:10]
    wrong = (y + 1) % 10
    atk = RayS(digits_model, eps=0.5, query_limit=300)
    adv = atk(x, wrong)  # every clean image is already misclassified w.r.t. these labels
    assert torch.equal(adv, x) and bool((atk.last_queries == 1).all())
    assert bool((atk.last_distances == 0).all()) and math.isnan(atk.last_adbd)
    early = RayS(digits_model, eps=1.0, query_limit=300)
    early(x, y)
    assert bool(early.last_success.all()) and int(early.last_queries.max()) < 300


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 3), size=st.integers(2, 5), eps=st.floats(0.02, 1.0), limit=st.integers(1, 60),
       seed=st.integers(0, 10_000), early=st.booleans())
def test_outputs_in_box_and_ball(batch, size, eps, limit, seed, early):
    torch.manual_seed(seed)
    model = TinyNet().eval()
    x = torch.rand(batch, 1, size, size)
    y = torch.randint(0, 3, (batch,))
    counter = CallCounter(model)
    atk = RayS(counter, eps=eps, query_limit=limit, early_stop=early)
    adv = atk(x, y)
    assert adv.shape == x.shape and adv.dtype == torch.float32 and not adv.requires_grad
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().max() <= eps + 1e-6
    assert counter.rows == int(atk.last_queries.sum()) and bool((atk.last_queries <= limit).all())
    s = atk.last_success
    assert bool((model(adv[s]).argmax(1) != y[s]).all())
    assert torch.equal(adv[~s], x[~s])


def test_lowers_digits_accuracy_and_targeted_mode(digits_model, digits_split):
    x, y = digits_split["x_test"][:16], digits_split["y_test"][:16]
    clean = accuracy(digits_model, x, y)
    atk = RayS(digits_model, eps=0.25, query_limit=80)
    adv = atk(x, y)
    assert accuracy(digits_model, adv, y) < clean - 0.4
    assert (adv - x).abs().max() <= 0.25 + 1e-6
    targeted = RayS(digits_model, eps=0.5, query_limit=80)
    targeted.set_mode_targeted_by_function(lambda images, labels: (labels + 1) % 10, quiet=True)
    adv = targeted(x, y)
    hit = digits_model(adv).argmax(1) == (y + 1) % 10
    assert torch.equal(hit, targeted.last_success) and hit.float().mean().item() > 0.3


def test_inside_multiattack_and_registry(digits_model, digits_split):
    x, y = digits_split["x_test"][:16], digits_split["y_test"][:16]
    atk1 = ATTACKS.create("rays", model=digits_model, eps=0.2, query_limit=30)
    assert isinstance(atk1, RayS)
    atk2 = torchattacks.FGSM(digits_model, eps=0.2)
    adv = torchattacks.MultiAttack([atk1, atk2])(x, y)
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= 0.2 + 1e-6
    assert accuracy(digits_model, adv, y) <= accuracy(digits_model, atk1(x, y), y)




@pytest.mark.parametrize("kwargs, error", [
    ({"eps": 0.0}, ValueError), ({"eps": -0.1}, ValueError), ({"query_limit": 0}, ValueError),
    ({"query_limit": 10.0}, TypeError), ({"tol": 0.0}, ValueError), ({"early_stop": "yes"}, TypeError),
])
def test_bad_hyperparameters(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        RayS(TinyNet(), **kwargs)
