"""mireg.functional.mi against independent float64 re-derivations (NAMID Sec. 3.2, Eq. 6, Eq. 8; MINE)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mireg.functional import cosine_loss, dv_bound, dv_local_scores, mine_surrogate, namid_selection


def _dv_reference(local: np.ndarray, global_: np.ndarray, diagonal: str) -> np.ndarray:
    """Per-sample DV by explicit loops in float64: mean_k [s_iik - log(1/(N-1) sum_j exp s_ijk)]."""
    n, _, k = local.shape
    out = np.zeros(n)
    for i in range(n):
        total = 0.0
        for loc in range(k):
            pos = float(global_[i] @ local[i, :, loc])
            if diagonal == "exclude":
                exps = [float(global_[i] @ local[j, :, loc]) for j in range(n) if j != i]
            else:  # released code: the positive set to 0 inside the sum, still divided by N - 1
                exps = [float(global_[i] @ local[j, :, loc]) if j != i else 0.0 for j in range(n)]
            top = max(exps)  # log-sum-exp with the max factored out, so large critics do not overflow
            total += pos - (top + math.log(sum(math.exp(e - top) for e in exps)) - math.log(n - 1))
        out[i] = total / k
    return out


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 6), d=st.integers(1, 5), k=st.integers(1, 4), scale=st.floats(0.1, 3.0),
       seed=st.integers(0, 2**16), diagonal=st.sampled_from(["exclude", "zero"]))
def test_dv_local_scores_matches_float64_loops(n, d, k, scale, seed, diagonal):
    g = torch.Generator().manual_seed(seed)
    local = torch.randn(n, d, k, generator=g, dtype=torch.float64) * scale
    global_ = torch.randn(n, d, generator=g, dtype=torch.float64) * scale
    got = dv_local_scores(local, global_, diagonal=diagonal)
    want = _dv_reference(local.numpy(), global_.numpy(), diagonal)
    assert got.shape == (n,)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)


def test_dv_local_scores_float32_extreme_values_are_finite():
    local = torch.randn(8, 16, 4) * 50  # critic values in the thousands: exp would overflow naively
    global_ = torch.randn(8, 16) * 50
    scores = dv_local_scores(local, global_)
    assert torch.isfinite(scores).all()
    want = _dv_reference(local.double().numpy(), global_.double().numpy(), "exclude")
    np.testing.assert_allclose(scores.double().numpy(), want, rtol=1e-4, atol=0.5)


@pytest.mark.parametrize("n", [1, 5])
def test_dv_local_scores_stacked_globals_equal_separate_calls(n):
    local, globals_ = torch.randn(n, 6, 3), torch.randn(3, n, 6)
    for diagonal in ("exclude", "zero"):
        stacked = dv_local_scores(local, globals_, diagonal=diagonal)
        assert stacked.shape == (3, n)
        for g in range(3):
            torch.testing.assert_close(stacked[g], dv_local_scores(local, globals_[g], diagonal=diagonal))


def test_dv_local_scores_is_permutation_equivariant():
    local, global_ = torch.randn(7, 5, 3), torch.randn(7, 5)
    perm = torch.randperm(7)
    torch.testing.assert_close(dv_local_scores(local[perm], global_[perm]), dv_local_scores(local, global_)[perm])


def test_dv_local_scores_dependent_pairs_score_higher():
    # global embeddings aligned with their own patches: positive MI; a shuffled pairing: lower
    local = torch.randn(32, 8, 4)
    global_ = local.mean(dim=2) * 3
    dependent = dv_local_scores(local, global_).mean()
    shuffled = dv_local_scores(local, global_.roll(1, 0)).mean()
    assert dependent > 0.0 > shuffled
    assert dependent > shuffled + 3.0


def test_dv_local_scores_batch_of_one_is_zero_with_finite_gradient():
    local = torch.randn(1, 4, 3, requires_grad=True)
    global_ = torch.randn(1, 4, requires_grad=True)
    scores = dv_local_scores(local, global_)
    assert scores.shape == (1,) and scores.item() == 0.0
    scores.sum().backward()
    assert torch.isfinite(local.grad).all() and torch.isfinite(global_.grad).all()
    assert float(local.grad.abs().sum()) == 0.0


def test_dv_local_scores_gradient_matches_float64_gradcheck():
    local = torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True)
    global_ = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: dv_local_scores(a, b), (local, global_))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"local": torch.randn(4, 3), "global_": torch.randn(4, 3)}, ValueError, "local must have 3 dimensions"),
    ({"local": torch.randn(4, 3, 2), "global_": torch.randn(4, 2)}, ValueError, "global_ must have shape"),
    ({"local": torch.randn(4, 3, 2), "global_": torch.randn(5, 3)}, ValueError, "global_ must have shape"),
    ({"local": torch.randn(4, 3, 2), "global_": torch.randn(2, 5, 3)}, ValueError, "global_ must have shape"),
    ({"local": torch.randn(4, 3, 2), "global_": torch.randn(1, 2, 4, 3)}, ValueError, "global_ must have shape"),
    ({"local": [1.0], "global_": torch.randn(4, 3)}, TypeError, "local must be a torch.Tensor"),
    ({"local": torch.ones(4, 3, 2, dtype=torch.long), "global_": torch.randn(4, 3)}, TypeError, "floating"),
    ({"local": torch.randn(0, 3, 2), "global_": torch.randn(0, 3)}, ValueError, "empty"),
    ({"local": torch.randn(4, 3, 2), "global_": torch.randn(4, 3), "diagonal": "mask"}, ValueError, "diagonal"),
])
def test_dv_local_scores_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        dv_local_scores(**kwargs)


def test_dv_bound_matches_float64():
    tj, tm = torch.randn(9, dtype=torch.float64), torch.randn(13, dtype=torch.float64) * 4
    want = tj.numpy().mean() - math.log(np.exp(tm.numpy()).mean())
    assert abs(float(dv_bound(tj, tm)) - want) < 1e-12


def test_dv_bound_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        dv_bound(torch.zeros(0), torch.zeros(3))
    with pytest.raises(ValueError, match="t_joint must have 1 dimensions"):
        dv_bound(torch.zeros(3, 1), torch.zeros(3))


def test_mine_surrogate_has_the_moving_average_corrected_gradient():
    tj = torch.randn(6, dtype=torch.float64, requires_grad=True)
    tm = torch.randn(8, dtype=torch.float64, requires_grad=True)
    ma = 1.7
    rate = 0.1
    surrogate, new_log_ma = mine_surrogate(tj, tm, torch.tensor(math.log(ma), dtype=torch.float64), rate)
    et = np.exp(tm.detach().numpy()).mean()
    want_ma = (1 - rate) * ma + rate * et
    assert abs(math.exp(float(new_log_ma)) - want_ma) < 1e-12
    surrogate.backward()
    np.testing.assert_allclose(tj.grad.numpy(), np.full(6, 1 / 6))
    # d/dT_j of -(mean exp T) / ma  =  -exp(T_j) / (M * ma): the biased 1/mean(e^T) replaced by 1/ma
    np.testing.assert_allclose(tm.grad.numpy(), -np.exp(tm.detach().numpy()) / (8 * want_ma), rtol=1e-10)
    assert not new_log_ma.requires_grad


def test_mine_surrogate_first_step_and_rate_one_use_the_batch():
    tj, tm = torch.randn(4), torch.randn(4)
    for log_ma, rate in ((None, 0.01), (torch.tensor(5.0), 1.0)):
        surrogate, new_log_ma = mine_surrogate(tj, tm, log_ma, rate)
        torch.testing.assert_close(new_log_ma, torch.logsumexp(tm, 0) - math.log(4))
        torch.testing.assert_close(surrogate, tj.mean() - 1.0)
    with pytest.raises(ValueError, match="rate"):
        mine_surrogate(tj, tm, None, 0.0)


def test_cosine_loss_matches_float64():
    a, b = torch.randn(3, 7, dtype=torch.float64), torch.randn(3, 7, dtype=torch.float64)
    an, bn = a.numpy(), b.numpy()
    want = 1 - (an * bn).sum(1) / np.linalg.norm(an, axis=1) / np.linalg.norm(bn, axis=1)
    np.testing.assert_allclose(cosine_loss(a, b).numpy(), want, rtol=1e-12)
    assert float(cosine_loss(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0]))) == pytest.approx(0.0, abs=1e-6)
    assert float(cosine_loss(torch.tensor([1.0, 2.0]), torch.tensor([-1.0, -2.0]))) == pytest.approx(2.0)


def test_cosine_loss_zero_vector_is_finite():
    a = torch.zeros(4, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    value = cosine_loss(a, b)
    value.backward()
    assert value.item() == pytest.approx(1.0)
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_cosine_loss_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        cosine_loss(torch.randn(3), torch.randn(4))
    with pytest.raises(TypeError, match="a must be a torch.Tensor"):
        cosine_loss([1.0], torch.randn(1))


def test_namid_selection_equals_hand_computed_mask():
    logits_nat = torch.tensor([[3.0, 0.0, 0.0],   # correct
                               [3.0, 0.0, 0.0],   # correct
                               [0.0, 3.0, 0.0],   # wrong (y = 0)
                               [0.0, 0.0, 3.0]])  # correct (y = 2)
    logits_adv = torch.tensor([[0.0, 2.0, 0.0],   # wrong -> selected
                               [2.0, 0.0, 0.0],   # still correct -> not selected
                               [0.0, 2.0, 0.0],   # wrong, but wrong on x too -> not selected
                               [1.0, 0.0, 0.0]])  # wrong -> selected
    y = torch.tensor([0, 0, 0, 2])
    assert namid_selection(logits_nat, logits_adv, y).tolist() == [True, False, False, True]


def test_namid_selection_uses_argmax_over_classes_not_batch_softmax():
    # the released code's argmax(softmax(logits, dim=0), 1) picks class 1 for sample 0 here
    logits_nat = torch.tensor([[5.0, 4.0], [9.0, 0.0]])
    logits_adv = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 0])
    assert torch.softmax(logits_nat, dim=0).argmax(1)[0] == 1  # the bug would call sample 0 wrong
    assert namid_selection(logits_nat, logits_adv, y).tolist() == [True, True]


def test_namid_selection_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        namid_selection(torch.randn(4, 3), torch.randn(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        namid_selection(torch.randn(4, 3), torch.randn(4, 3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        namid_selection(torch.randn(4, 3), torch.randn(4, 3), torch.zeros(3, dtype=torch.long))
