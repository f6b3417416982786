"""InfoAT Eq. 19 (the MINE ablation): the pure function against a float64 re-derivation, and the
loss term that co-trains MINE on a tapped layer (updates, gradients, composition, errors)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mireg
import mireg.functional as MF
from mireg.estimators import MINE, FeatureTap
from mireg.losses import ATLoss, InfoATMINE
from tests import _reference as ref
from tests.functional.test_functional import CASES, _case


def _eq19(z_nat, z_adv, w, lam, beta, kind="mse"):
    """Eq. 19 without the CE, per sample, float64: lam * w * D(p(x), p(x')) - beta * H(p(x'))."""
    return lam * np.asarray(w, dtype=np.float64) * ref.divergence(z_nat, z_adv, kind) - beta * ref.entropy(z_adv)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", ["mse", "js", "kl", "ce"])
def test_mi_weighted_term_matches_float64(case, kind):
    nat, adv, _ = _case(case)
    for w in (0.7, torch.tensor(1.3, dtype=torch.float64), torch.rand(nat.shape[0], dtype=torch.float64)):
        out = MF.mi_weighted_term(nat, adv, w, lam=2.5, beta=0.2, divergence=kind, reduction="none")
        w_np = w.numpy() if isinstance(w, torch.Tensor) else w
        expected = _eq19(nat.numpy(), adv.numpy(), w_np, 2.5, 0.2, kind)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
        mean = MF.mi_weighted_term(nat, adv, w, lam=2.5, beta=0.2, divergence=kind)
        np.testing.assert_allclose(float(mean), expected.mean(), rtol=1e-10, atol=1e-10)


def test_mi_weighted_term_with_entropy_weight_is_infoat_eq17():
    nat, adv, y = _case("random")
    h = MF.entropy(nat, reduction="none")
    np.testing.assert_allclose(MF.mi_weighted_term(nat, adv, h, 2.5, 0.2, reduction="none").numpy(),
                               MF.infoat_term(nat, adv, 2.5, 0.2, reduction="none").numpy(), rtol=1e-12)


def test_mi_weighted_term_gradient_float64():
    nat, adv, _ = _case("random")
    nat.requires_grad_(True)
    adv.requires_grad_(True)
    w = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: MF.mi_weighted_term(a, b, c, 2.5, 0.2), (nat, adv, w))


@pytest.mark.parametrize("bad, error, match", [
    (torch.ones(3), ValueError, "scalar"), (torch.tensor(float("nan")), ValueError, "NaN"),
    ("0.5", TypeError, "mi"), (torch.tensor(1), TypeError, "floating"),
])
def test_mi_weighted_term_rejects_bad_weights(bad, error, match):
    nat, adv, _ = _case("random")
    with pytest.raises(error, match=match):
        MF.mi_weighted_term(nat, adv, bad)


def test_mi_weighted_term_rejects_bad_options():
    nat, adv, _ = _case("random")
    with pytest.raises(ValueError, match="lam"):
        MF.mi_weighted_term(nat, adv, 1.0, lam=-1.0)
    with pytest.raises(ValueError, match="divergence"):
        MF.mi_weighted_term(nat, adv, 1.0, divergence="l1")


# --- the loss term -------------------------------------------------------------------------------

class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.Tanh())
        self.head = nn.Linear(12, 10)

    def forward(self, x):
        return self.head(self.body(x))


def _setup(**kwargs):
    torch.manual_seed(3)
    model = _Net().double()
    term = InfoATMINE.for_layer(model, "body", image_shape=(1, 4, 4), hidden=16, **kwargs).double()
    x = torch.rand(16, 1, 4, 4, dtype=torch.float64)
    x_adv = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    y = torch.randint(0, 10, (16,))
    return model, term, x, x_adv, y


def _pretrain(term, model, x, steps=150):
    """Fit MINE on the batch so that its estimate is clearly positive."""
    opt = torch.optim.Adam(term.mine.parameters(), lr=1e-2)
    term.mine.requires_grad_(True)
    with torch.no_grad():
        z = model.body(x)
    for _ in range(steps):
        loss = term.mine.loss(x, z)
        opt.zero_grad()
        loss.backward()
        opt.step()
    term.mine.requires_grad_(False)
    for p in term.mine.parameters():
        p.grad = None


def test_mine_is_updated_in_train_mode_only_and_keeps_no_grad():
    model, term, x, x_adv, y = _setup()
    before = [p.clone() for p in term.mine.parameters()]
    term.train()
    term(model(x), model(x_adv), y, x=x, x_adv=x_adv)
    assert any(not torch.equal(a, b) for a, b in zip(before, term.mine.parameters(), strict=True))
    assert all(p.grad is None and not p.requires_grad for p in term.mine.parameters())
    frozen = [p.clone() for p in term.mine.parameters()]
    term.eval()
    term(model(x), model(x_adv), y, x=x, x_adv=x_adv)
    assert all(torch.equal(a, b) for a, b in zip(frozen, term.mine.parameters(), strict=True))
    term.train()
    term.update_mine = False
    term(model(x), model(x_adv), y, x=x, x_adv=x_adv)
    assert all(torch.equal(a, b) for a, b in zip(frozen, term.mine.parameters(), strict=True))


def test_classifier_gradient_is_eq19_with_the_estimate_as_a_constant():
    model, term, x, x_adv, y = _setup()
    _pretrain(term, model, x)
    term.train()
    logits_nat, logits_adv = model(x), model(x_adv)
    loss = (ATLoss() + term)(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    w = float(term.last_mi)
    assert w > 0.1  # the test is about a real weight, not a clamped zero
    p_nat, p_adv = F.softmax(model(x), 1), F.softmax(model(x_adv), 1)
    logits_adv = model(x_adv)
    manual = (F.cross_entropy(logits_adv, y) + 2.5 * w * (p_adv - p_nat).pow(2).sum(1).mean()
              - 0.2 * (-(p_adv * F.log_softmax(logits_adv, 1)).sum(1)).mean())
    expected = torch.autograd.grad(manual, list(model.parameters()))
    for g, e in zip(grads, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)


def test_undetached_weight_sends_the_bound_gradient_through_the_features():
    model, term, x, x_adv, y = _setup(detach_weight=False)
    _pretrain(term, model, x)
    term.eval()  # no MINE update: the bound is a fixed function of (x, z)
    torch.manual_seed(11)  # the critic's shuffle of the negatives
    loss = term(model(x), model(x_adv), y, x=x, x_adv=x_adv)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    torch.manual_seed(11)
    bound = term.mine(x, model.body(x)).clamp(min=0)
    manual = MF.mi_weighted_term(model(x), model(x_adv), bound, 2.5, 0.2)
    expected = torch.autograd.grad(manual, list(model.parameters()))
    for g, e in zip(grads, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)
    term.detach_weight = True
    torch.manual_seed(11)
    detached = torch.autograd.grad(term(model(x), model(x_adv), y, x=x, x_adv=x_adv), list(model.parameters()))
    assert not torch.allclose(detached[0], grads[0])


def test_composes_with_at_loss_like_the_other_terms():
    model, term, x, x_adv, y = _setup(update_mine=False)
    criterion = ATLoss() + term
    assert criterion.uses_natural and criterion.uses_images
    torch.manual_seed(5)
    total = criterion(model(x), model(x_adv), y, x=x, x_adv=x_adv)
    torch.manual_seed(5)
    alone = term(model(x), model(x_adv), y, x=x, x_adv=x_adv)
    torch.testing.assert_close(total, F.cross_entropy(model(x_adv), y) + alone)
    assert set(criterion.components) == {"ATLoss", "InfoATMINE"}
    assert isinstance(mireg.losses.InfoATMINE, type)


def test_batch_of_one_gives_a_zero_weight_and_no_update():
    model, term, x, x_adv, y = _setup()
    before = [p.clone() for p in term.mine.parameters()]
    term.train()
    x1, x1_adv = x[:1], x_adv[:1]  # a slice is a new tensor: keep the one the model saw
    out = term(model(x1), model(x1_adv), y[:1], x=x1, x_adv=x1_adv)
    assert torch.isfinite(out) and float(term.last_mi) == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, term.mine.parameters(), strict=True))


def test_bad_inputs_give_clear_errors():
    model, term, x, x_adv, y = _setup()
    model(x_adv)
    with pytest.raises(ValueError, match="has not been run on this tensor"):
        term(model(x_adv), model(x_adv), y, x=x.clone(), x_adv=x_adv)
    with pytest.raises(ValueError, match="x=..."):
        term(model(x), model(x_adv), y)
    with pytest.raises(ValueError, match="logits_nat"):
        term(None, model(x_adv), y, x=x, x_adv=x_adv)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        term(model(x), model(x_adv), y, x=x * 5, x_adv=x_adv)
    with pytest.raises(TypeError, match="by_input=True"):
        InfoATMINE(FeatureTap(model, "body"), MINE((1, 4, 4), (12,)))
    with pytest.raises(TypeError, match="MINE"):
        InfoATMINE(FeatureTap(model, "body", by_input=True), nn.Linear(2, 2))
    wrong = InfoATMINE(FeatureTap(model, "body", by_input=True), MINE((1, 4, 4), (7,)).double())
    with pytest.raises(ValueError, match="per-sample shapes"):
        wrong(model(x), model(x_adv), y, x=x, x_adv=x_adv)
    with pytest.raises(ValueError, match="lam"):
        InfoATMINE.for_layer(model, "body", (1, 4, 4), lam=-1.0)
    with pytest.raises(ValueError, match="not a submodule"):
        InfoATMINE.for_layer(model, "layer9", (1, 4, 4))


def test_tap_features_of_matches_each_input_whatever_the_order():
    model = _Net()
    x, x_adv = torch.rand(4, 1, 4, 4), torch.rand(4, 1, 4, 4)
    with FeatureTap(model, "body", by_input=True) as tap:
        model(x_adv)
        model(x)
        torch.testing.assert_close(tap.features_of(x), model.body(x))
        torch.testing.assert_close(tap.features_of(x_adv), model.body(x_adv))
    assert not model._forward_pre_hooks and not model.body._forward_hooks
    with pytest.raises(ValueError, match="by_input=True"):
        FeatureTap(model, "body").features_of(x)


def test_a_tapped_model_stays_deep_copyable_and_its_copy_taps_itself():
    """The training engine keeps the MINE ablation's tap on the model; a deep copy of that model (as the
    analyses make) must neither fail on stored graph tensors nor write into the original's tap."""
    model = _Net()
    tap = FeatureTap(model, "body", by_input=True)
    x = torch.rand(4, 1, 4, 4, requires_grad=True)
    model(x * 2)  # non-leaf input and features with a graph are stored
    twin = copy.deepcopy(model)
    twin_tap = twin._forward_pre_hooks[next(iter(twin._forward_pre_hooks))].__self__
    assert twin_tap is not tap and twin_tap.model is twin and twin_tap._recent == []
    x2 = torch.rand(4, 1, 4, 4)
    twin(x2)
    torch.testing.assert_close(twin_tap.features_of(x2), twin.body(x2))
    with pytest.raises(ValueError, match="has not been run"):
        tap.features_of(x2)
    tap.clear()
    assert tap._recent == [] and tap.features is None
    tap.remove()
