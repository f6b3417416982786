"""NaturalAdversarialMILoss (NAMID Eq. 8 on Eq. 6) and the WMIM term."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mireg import ATLoss, MARTLoss, NaturalAdversarialMILoss, TRADESLoss, WMIMLoss
from mireg.estimators import LocalDIMEstimator

WIDTH = 16



@pytest.fixture(scope="module")
def batch(digits_split, digits_model):
    import torchattacks

    x, y = digits_split["x_test"][:64], digits_split["y_test"][:64]
    x_adv = torchattacks.PGD(digits_model, eps=0.15, alpha=0.04, steps=5)(x, y)
    with torch.no_grad():
        sel = (digits_model(x).argmax(1) == y) & (digits_model(x_adv).argmax(1) != y)
    assert 5 < int(sel.sum()) < 64
    return x, x_adv, y, sel


def _estimators(seed=0):
    torch.manual_seed(seed)
    e_n, e_a = LocalDIMEstimator(10, 1, WIDTH), LocalDIMEstimator(10, 1, WIDTH)
    # a few train-mode passes so the BatchNorm running statistics are not the identity
    with torch.no_grad():
        for _ in range(3):
            e_n(torch.rand(32, 1, 8, 8), torch.randn(32, 10) * 3)
            e_a(torch.rand(32, 1, 8, 8) * 0.2 - 0.1, torch.randn(32, 10) * 3)
    return e_n, e_a


def _reference(e_n, e_a, logits_nat, logits_adv, y, x, x_adv, lam):
    """Eq. 8 in float64 NumPy from the estimators' features, with the DV score written out."""
    e_n, e_a = copy.deepcopy(e_n).double().eval(), copy.deepcopy(e_a).double().eval()
    with torch.no_grad():
        ln = e_n.local_features(x.double()).numpy()
        la = e_a.local_features((x_adv - x).double()).numpy()
        gn = [e_n.global_features(t.double()).numpy() for t in (logits_nat, logits_adv)]
        ga = [e_a.global_features(t.double()).numpy() for t in (logits_nat, logits_adv)]
    ln_, la_ = logits_nat.detach().numpy(), logits_adv.detach().numpy()
    sel = (ln_.argmax(1) == y.numpy()) & (la_.argmax(1) != y.numpy())

    def dv(local, glob):
        s = np.einsum("id,jdk->ijk", glob, local)
        n = s.shape[0]
        out = []
        for i in range(n):
            others = np.delete(s[i], i, axis=0)  # (N-1, K)
            neg = np.log(np.exp(others - others.max(0)).sum(0)) + others.max(0) - np.log(n - 1)
            out.append((s[i, i] - neg).mean())
        return np.array(out)

    en_nat, en_adv = dv(ln, gn[0])[sel], dv(ln, gn[1])[sel]
    ea_nat, ea_adv = dv(la, ga[0])[sel], dv(la, ga[1])[sel]

    def lcos(a, b):
        return 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b)

    return lcos(en_adv, en_nat) + lcos(ea_adv, ea_nat) + lam * (ea_adv - en_adv).mean()


def test_value_matches_float64_reference(batch, digits_model):
    x, x_adv, y, _ = batch
    e_n, e_a = _estimators()
    with torch.no_grad():
        logits_nat, logits_adv = digits_model(x), digits_model(x_adv)
    for lam in (0.0, 0.1, 2.0):
        got = NaturalAdversarialMILoss(e_n, e_a, lam=lam)(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
        want = _reference(e_n, e_a, logits_nat, logits_adv, y, x, x_adv, lam)
        assert float(got) == pytest.approx(want, rel=1e-4, abs=1e-5)


def test_selection_is_eq6(batch, digits_model):
    x, x_adv, y, sel = batch
    term = NaturalAdversarialMILoss(*_estimators())
    with torch.no_grad():
        term(digits_model(x), digits_model(x_adv), y, x=x, x_adv=x_adv)
    assert torch.equal(term.last_selected, sel)


def test_gradients_reach_both_logits_only_on_selected_rows_and_never_the_estimators(batch, digits_model):
    x, x_adv, y, sel = batch
    e_n, e_a = _estimators()
    with torch.no_grad():
        logits_nat = digits_model(x).requires_grad_(True)
        logits_adv = digits_model(x_adv).requires_grad_(True)
    term = NaturalAdversarialMILoss(e_n, e_a, lam=0.1)
    term(logits_nat, logits_adv, y, x=x, x_adv=x_adv).backward()
    for grad in (logits_nat.grad, logits_adv.grad):
        assert grad[sel].abs().sum(1).gt(0).all()
        assert grad[~sel].abs().sum() == 0
    for est in (e_n, e_a):
        assert all(p.grad is None and not p.requires_grad for p in est.parameters())
        assert not est.training


def test_estimators_stay_frozen_inside_a_composed_training_loss(batch, digits_model):
    x, x_adv, y, _ = batch
    e_n, e_a = _estimators()
    namid = ATLoss() + 5.0 * NaturalAdversarialMILoss(e_n, e_a, lam=0.1)
    namid.train()
    assert not e_n.training and not e_a.training
    assert namid.uses_natural and namid.uses_images
    model = copy.deepcopy(digits_model).train()
    loss = namid(model(x), model(x_adv), y, x=x, x_adv=x_adv)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert all(p.grad is None for est in (e_n, e_a) for p in est.parameters())
    with torch.no_grad():
        mi = NaturalAdversarialMILoss(e_n, e_a, lam=0.1)(model(x), model(x_adv), y, x=x, x_adv=x_adv)
        ce = F.cross_entropy(model(x_adv), y)
    torch.testing.assert_close(loss.detach(), ce + 5.0 * mi)
    assert set(namid.components) == {"ATLoss", "NaturalAdversarialMILoss"}


def test_lam_term_step_raises_natural_minus_adversarial_mi(batch, digits_model):
    """One SGD step on the classifier along the lam term raises E_n - E_a on the adversarial inputs."""
    x, x_adv, y, sel = batch
    e_n, e_a = _estimators(seed=1)
    model = copy.deepcopy(digits_model).eval()
    with_lam, without = NaturalAdversarialMILoss(e_n, e_a, lam=1.0), NaturalAdversarialMILoss(e_n, e_a, lam=0.0)

    def gap():
        with torch.no_grad():
            logits_adv = model(x_adv)
            return float((e_n(x, logits_adv) - e_a(x_adv - x, logits_adv))[sel].mean())

    logits_nat, logits_adv = model(x), model(x_adv)
    lam_term = (with_lam(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
                - without(logits_nat, logits_adv, y, x=x, x_adv=x_adv))
    # the difference is exactly lam * mean(E_a - E_n) over the selection
    assert float(lam_term) == pytest.approx(-gap(), rel=1e-4, abs=1e-5)
    before = gap()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    lam_term.backward()
    optimizer.step()
    assert gap() > before + 1e-4


def test_full_namid_step_with_large_lam_raises_the_gap(batch, digits_model):
    x, x_adv, y, sel = batch
    e_n, e_a = _estimators(seed=2)
    model = copy.deepcopy(digits_model).eval()
    term = NaturalAdversarialMILoss(e_n, e_a, lam=10.0)

    def gap():
        with torch.no_grad():
            logits_adv = model(x_adv)
            return float((e_n(x, logits_adv) - e_a(x_adv - x, logits_adv))[sel].mean())

    before = gap()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    term(model(x), model(x_adv), y, x=x, x_adv=x_adv).backward()
    optimizer.step()
    assert gap() > before


def test_empty_selection_is_an_exact_zero_with_a_graph(digits_model, digits_split):
    x, y = digits_split["x_test"][:16], digits_split["y_test"][:16]
    logits = digits_model(x).detach().requires_grad_(True)
    term = NaturalAdversarialMILoss(*_estimators())
    loss = term(logits, logits, y, x=x, x_adv=x)  # x_adv = x: nothing is wrong on x_adv only
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))
    assert int(term.last_selected.sum()) == 0


@pytest.mark.parametrize("batch_size", [1, 2])
def test_tiny_batches_are_finite(batch_size):
    x = torch.rand(batch_size, 1, 8, 8)
    x_adv = (x + 0.1).clamp(0, 1)
    y = torch.zeros(batch_size, dtype=torch.long)
    logits_nat = torch.tensor([[3.0] + [0.0] * 9]).repeat(batch_size, 1).requires_grad_(True)
    logits_adv = torch.tensor([[0.0, 3.0] + [0.0] * 8]).repeat(batch_size, 1).requires_grad_(True)
    loss = NaturalAdversarialMILoss(*_estimators(), lam=0.1)(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits_nat.grad).all() and torch.isfinite(logits_adv.grad).all()


def test_namid_t_and_namid_m_compose(batch, digits_model):
    x, x_adv, y, _ = batch
    e_n, e_a = _estimators()
    mi = NaturalAdversarialMILoss(e_n, e_a)
    with torch.no_grad():
        logits_nat, logits_adv = digits_model(x), digits_model(x_adv)
        mi_value = mi(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
        for base in (ATLoss(), TRADESLoss(beta=6.0), MARTLoss(beta=6.0)):
            total = (base + 5.0 * mi)(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
            torch.testing.assert_close(total, base(logits_nat, logits_adv, y) + 5.0 * mi_value)


@pytest.mark.parametrize("call, error, match", [
    (lambda t, ln, la, y, x, xa: t(None, la, y, x=x, x_adv=xa), ValueError, "needs logits_nat"),
    (lambda t, ln, la, y, x, xa: t(ln, la, None, x=x, x_adv=xa), ValueError, "needs the labels"),
    (lambda t, ln, la, y, x, xa: t(ln, la, y, x=x), ValueError, "needs the images"),
    (lambda t, ln, la, y, x, xa: t(ln[:, :5], la[:, :5], y % 5, x=x, x_adv=xa), ValueError, "global_dim=10"),
    (lambda t, ln, la, y, x, xa: t(ln, la, y, x=x.repeat(1, 3, 1, 1), x_adv=xa.repeat(1, 3, 1, 1)), ValueError,
     "in_channels=1"),
    (lambda t, ln, la, y, x, xa: t(ln, la, y, x=x * 4, x_adv=xa), ValueError, r"x must be in \[0, 1\]"),
    (lambda t, ln, la, y, x, xa: t(ln, la[:3], y, x=x, x_adv=xa), ValueError, "logits_nat has batch size"),
    (lambda t, ln, la, y, x, xa: t(ln, la, y.float(), x=x, x_adv=xa), TypeError, "integer class"),
    (lambda t, ln, la, y, x, xa: t(ln, la, y, x=x, x_adv=xa[:, :, :4]), ValueError, "same shape"),
])
def test_bad_calls(call, error, match):
    term = NaturalAdversarialMILoss(*_estimators())
    x = torch.rand(4, 1, 8, 8)
    with pytest.raises(error, match=match):
        call(term, torch.randn(4, 10), torch.randn(4, 10), torch.zeros(4, dtype=torch.long), x, x.clone())


def test_bad_construction():
    e_n, e_a = _estimators()
    with pytest.raises(TypeError, match="estimator_n must be"):
        NaturalAdversarialMILoss(torch.nn.Linear(2, 2), e_a)
    with pytest.raises(ValueError, match="two different"):
        NaturalAdversarialMILoss(e_n, e_n)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        NaturalAdversarialMILoss(e_n, e_a, lam=-0.1)


# ----------------------------------------------------------------------------- WMIM
def test_wmim_maximises_the_estimated_mi_and_cotrains_its_estimator(batch, digits_model):
    x, x_adv, y, _ = batch
    est = LocalDIMEstimator(10, 1, WIDTH)
    term = WMIMLoss(est, estimator_lr=1e-2)
    before = copy.deepcopy(est.state_dict())
    logits_adv = digits_model(x_adv).detach().requires_grad_(True)
    term.train()
    loss = term(None, logits_adv, y, x=x, x_adv=x_adv)
    with torch.no_grad():
        assert float(loss) == pytest.approx(-float(est.eval()(x_adv, logits_adv).mean()), rel=1e-5, abs=1e-6)
    loss.backward()
    assert logits_adv.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in est.parameters())
    assert any(not torch.equal(v, before[k]) for k, v in est.state_dict().items())  # one Adam step taken
    frozen = copy.deepcopy(est.state_dict())
    term.eval()
    term(None, logits_adv, y, x=x, x_adv=x_adv)
    assert all(torch.equal(v, frozen[k]) for k, v in est.state_dict().items())  # no update in eval mode
    wmim = ATLoss() + 0.1 * WMIMLoss(LocalDIMEstimator(10, 1, WIDTH), update_estimator=False)
    assert not wmim.uses_natural and wmim.uses_images


def test_wmim_cotraining_raises_the_estimate(batch, digits_model):
    x, x_adv, y, _ = batch
    est = LocalDIMEstimator(10, 1, WIDTH)
    term = WMIMLoss(est, estimator_lr=1e-2).train()
    with torch.no_grad():
        logits_adv = digits_model(x_adv)
        first = -float(term(None, logits_adv, y, x_adv=x_adv))
        for _ in range(15):
            last = -float(term(None, logits_adv, y, x_adv=x_adv))
    assert last > first + 0.1


def test_wmim_bad_inputs():
    est = LocalDIMEstimator(10, 1, WIDTH)
    with pytest.raises(TypeError, match="estimator must be"):
        WMIMLoss(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="estimator_lr"):
        WMIMLoss(est, estimator_lr=0.0)
    term = WMIMLoss(est)
    with pytest.raises(ValueError, match="x_adv="):
        term(None, torch.randn(4, 10), None)
    with pytest.raises(ValueError, match="global_dim=10"):
        term(None, torch.randn(4, 5), None, x_adv=torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match="B = 4"):
        term(None, torch.randn(4, 10), None, x_adv=torch.rand(3, 1, 8, 8))
