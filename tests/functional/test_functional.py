"""mireg.functional and the loss terms against independent float64 re-derivations (tests/_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mireg
import mireg.functional as MF
from tests import _reference as ref


def _case(name: str):
    g = torch.Generator().manual_seed(1)
    if name == "random":
        nat, adv = torch.randn(8, 10, generator=g) * 3, torch.randn(8, 10, generator=g) * 3
        y = torch.randint(0, 10, (8,), generator=g)
    elif name == "batch1":
        nat, adv = torch.randn(1, 10, generator=g), torch.randn(1, 10, generator=g)
        y = torch.tensor([3])
    elif name == "extreme":  # logits of +-1e4: saturated softmax, exact zeros in p
        nat = (torch.randint(0, 2, (6, 10), generator=g) * 2 - 1).double() * 1e4
        adv = (torch.randint(0, 2, (6, 10), generator=g) * 2 - 1).double() * 1e4
        y = torch.randint(0, 10, (6,), generator=g)
    elif name == "one_class":  # every sample of the batch has the same label
        nat, adv = torch.randn(5, 10, generator=g), torch.randn(5, 10, generator=g)
        y = torch.full((5,), 7)
    elif name == "two_classes":
        nat, adv = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
        y = torch.tensor([0, 1, 1, 0])
    else:
        raise ValueError(name)
    return nat.double(), adv.double(), y


CASES = ["random", "batch1", "extreme", "one_class", "two_classes"]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _close(actual: torch.Tensor, expected: np.ndarray) -> None:
    assert torch.isfinite(actual).all()
    np.testing.assert_allclose(_np(actual), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("normalize", [False, True])
def test_entropy(case, normalize):
    nat, _, _ = _case(case)
    _close(MF.entropy(nat, normalize=normalize, reduction="none"), ref.entropy(_np(nat), normalize))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", ["mse", "kl", "js", "ce"])
def test_divergence(case, kind):
    nat, adv, _ = _case(case)
    _close(MF.divergence(nat, adv, kind=kind, reduction="none"), ref.divergence(_np(nat), _np(adv), kind))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("divergence", ["mse", "kl", "js", "ce"])
@pytest.mark.parametrize("weight", ["entropy", "none", "1-p_y"])
def test_weighted_divergence(case, divergence, weight):
    nat, adv, y = _case(case)
    got = MF.weighted_divergence(nat, adv, y, divergence=divergence, weight=weight, reduction="none")
    expected = ref.weight(_np(nat), _np(y), weight) * ref.divergence(_np(nat), _np(adv), divergence)
    _close(got, expected)


@pytest.mark.parametrize("case", CASES)
def test_entropy_weighted_mse_is_eq16_weighted(case):
    nat, adv, _ = _case(case)
    expected = ref.entropy(_np(nat)) * ((ref.softmax(_np(adv)) - ref.softmax(_np(nat))) ** 2).sum(1)
    _close(MF.entropy_weighted_mse(nat, adv, reduction="none"), expected)
    _close(mireg.EntropyWeightedMSEReg(lam=1.7, reduction="none")(nat, adv), 1.7 * expected)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("lam,beta", [(2.5, 0.2), (0.0, 0.0), (6.0, 1.0)])
@pytest.mark.parametrize("normalize", [False, True])
def test_infoat_eq17(case, lam, beta, normalize):
    nat, adv, y = _case(case)
    expected = ref.infoat(_np(nat), _np(adv), _np(y), lam, beta, normalize=normalize)
    _close(MF.infoat_loss(nat, adv, y, lam, beta, normalize_entropy=normalize, reduction="none"), expected)
    # the documented one-liner: CE + InfoAT(lam, beta)(logits_nat, logits_adv) is exactly Eq. 17
    one_liner = F.cross_entropy(adv, y) + mireg.InfoAT(lam, beta, normalize_entropy=normalize)(nat, adv)
    np.testing.assert_allclose(float(one_liner), expected.mean(), rtol=1e-10, atol=1e-10)
    composed = (mireg.ATLoss() + mireg.InfoAT(lam, beta, normalize_entropy=normalize))(nat, adv, y)
    np.testing.assert_allclose(float(composed), expected.mean(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("divergence", ["mse", "kl", "js", "ce"])
@pytest.mark.parametrize("weight", ["entropy", "none", "1-p_y"])
def test_infoat_ablation_variants(divergence, weight):
    nat, adv, y = _case("random")
    expected = ref.infoat(_np(nat), _np(adv), _np(y), 2.5, 0.2, divergence, weight)
    got = MF.infoat_loss(nat, adv, y, 2.5, 0.2, divergence=divergence, weight=weight, reduction="none")
    _close(got, expected)


@pytest.mark.parametrize("case", CASES)
def test_infoat_with_zero_weights_is_madry_at(case):
    nat, adv, y = _case(case)
    assert torch.equal(MF.infoat_loss(nat, adv, y, 0.0, 0.0), MF.at_loss(adv, y))
    assert torch.equal((mireg.ATLoss() + mireg.InfoAT(0.0, 0.0))(nat, adv, y), mireg.ATLoss()(nat, adv, y))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("lam", [0.0, 2.5])
def test_infopgd_objective_eq18(case, lam):
    nat, adv, y = _case(case)
    _close(MF.infopgd_objective(adv, y, nat, lam, reduction="none"), ref.infopgd(_np(adv), _np(y), _np(nat), lam))


@pytest.mark.parametrize("case", CASES)
def test_at(case):
    _, adv, y = _case(case)
    _close(MF.at_loss(adv, y, reduction="none"), ref.cross_entropy(_np(adv), _np(y)))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("beta", [1.0, 6.0])
def test_trades(case, beta):
    nat, adv, y = _case(case)
    expected = ref.trades(_np(nat), _np(adv), _np(y), beta)
    _close(MF.trades_loss(nat, adv, y, beta, reduction="none"), expected)
    # reduction="mean" is the reference's CE-mean + beta * KLDivLoss(sum) / B
    np.testing.assert_allclose(float(mireg.TRADESLoss(beta)(nat, adv, y)), expected.mean(), rtol=1e-10)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("beta", [5.0, 6.0])
def test_mart_and_mart_plus(case, beta):
    nat, adv, y = _case(case)
    _close(MF.mart_loss(nat, adv, y, beta, reduction="none"), ref.mart(_np(nat), _np(adv), _np(y), beta))
    expected_plus = ref.mart(_np(nat), _np(adv), _np(y), beta, weight_kind="entropy")
    _close(MF.mart_plus_loss(nat, adv, y, beta, reduction="none"), expected_plus)
    np.testing.assert_allclose(float(mireg.MARTPlus(beta)(nat, adv, y)), expected_plus.mean(), rtol=1e-10)
    np.testing.assert_allclose(float(mireg.MARTLoss(beta, reduction="sum")(nat, adv, y)),
                               ref.mart(_np(nat), _np(adv), _np(y), beta).sum(), rtol=1e-10)


@pytest.mark.parametrize("fn", [
    lambda n, a, y, r: MF.infoat_loss(n, a, y, reduction=r),
    lambda n, a, y, r: MF.trades_loss(n, a, y, reduction=r),
    lambda n, a, y, r: MF.mart_loss(n, a, y, reduction=r),
    lambda n, a, y, r: MF.entropy_weighted_mse(n, a, reduction=r),
])
def test_reductions_agree(fn):
    nat, adv, y = _case("random")
    per_sample = fn(nat, adv, y, "none")
    assert per_sample.shape == (8,)
    assert torch.allclose(fn(nat, adv, y, "mean"), per_sample.mean())
    assert torch.allclose(fn(nat, adv, y, "sum"), per_sample.sum())


GRADCHECK_FNS = {
    "entropy": lambda n, a, y: MF.entropy(n, reduction="none"),
    "divergence_js": lambda n, a, y: MF.divergence(n, a, kind="js", reduction="none"),
    "infoat": lambda n, a, y: MF.infoat_loss(n, a, y, reduction="none"),
    "infoat_detached": lambda n, a, y: MF.infoat_loss(n, a, y, detach_weight=True, reduction="none"),
    "infopgd": lambda n, a, y: MF.infopgd_objective(a, y, n, reduction="none"),
    "trades": lambda n, a, y: MF.trades_loss(n, a, y, reduction="none"),
    "mart": lambda n, a, y: MF.mart_loss(n, a, y, reduction="none"),
    "mart_plus": lambda n, a, y: MF.mart_plus_loss(n, a, y, reduction="none"),
}


DETACHED_NATURAL = {"infoat_detached", "infopgd"}


@pytest.mark.parametrize("name", sorted(GRADCHECK_FNS))
def test_gradcheck_float64(name):
    g = torch.Generator().manual_seed(2)
    nat = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    adv = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 2, 4])
    fn = GRADCHECK_FNS[name]
    if name in DETACHED_NATURAL:  # the natural logits enter as a constant: check the adversarial gradient
        nat = nat.detach()
        assert torch.autograd.gradcheck(lambda a: fn(nat, a, y), (adv,))
    else:
        assert torch.autograd.gradcheck(lambda n, a: fn(n, a, y), (nat, adv))


def test_detached_weight_stops_gradient_through_entropy():
    nat, adv, _ = _case("random")
    nat.requires_grad_(True)
    grad_detached, = torch.autograd.grad(MF.entropy_weighted_mse(nat, adv, detach_weight=True), nat)
    # by hand: the weight is a constant, so the gradient is H(p) * d||q - p||^2 / d nat only
    weight = MF.entropy(nat, reduction="none").detach()
    by_hand, = torch.autograd.grad((weight * MF.divergence(nat, adv, reduction="none")).mean(), nat)
    assert torch.allclose(grad_detached, by_hand)
    grad_full, = torch.autograd.grad(MF.entropy_weighted_mse(nat, adv), nat)
    assert not torch.allclose(grad_full, grad_detached)  # the default lets the weight's gradient through


def test_gradients_flow_where_the_equations_say():
    nat, adv, y = _case("random")
    nat.requires_grad_(True)
    adv.requires_grad_(True)
    # AT ignores the natural branch entirely
    assert mireg.ATLoss().uses_natural is False
    grads = torch.autograd.grad(mireg.ATLoss()(nat, adv, y), (nat, adv), allow_unused=True)
    assert grads[0] is None and grads[1].abs().sum() > 0
    # InfoAT, TRADES, MART: both branches carry gradient (the KL target is not detached)
    for term in (mireg.ATLoss() + mireg.InfoAT(), mireg.TRADESLoss(), mireg.MARTLoss(), mireg.MARTPlus()):
        g_nat, g_adv = torch.autograd.grad(term(nat, adv, y), (nat, adv))
        assert g_nat.abs().sum() > 0 and g_adv.abs().sum() > 0
    # InfoPGD's objective treats p(x) as a constant
    g = torch.autograd.grad(MF.infopgd_objective(adv, y, nat), (nat, adv), allow_unused=True)
    assert g[0] is None and g[1].abs().sum() > 0
    # beta's entropy term only touches the adversarial branch
    g = torch.autograd.grad(mireg.InfoAT(lam=0.0, beta=1.0)(nat, adv), (nat, adv), allow_unused=True)
    assert (g[0] is None or g[0].abs().sum() == 0) and g[1].abs().sum() > 0


def test_minimising_the_beta_term_raises_adversarial_entropy():
    nat, adv, _ = _case("random")
    adv.requires_grad_(True)
    term = mireg.InfoAT(lam=0.0, beta=1.0)
    g, = torch.autograd.grad(term(nat, adv), adv)
    before = MF.entropy(adv)
    after = MF.entropy(adv - 0.01 * g)
    assert after > before


def test_sum_loss_components_for_logging():
    nat, adv, y = _case("random")
    criterion = mireg.ATLoss() + 2.0 * mireg.InfoAT()
    total = criterion(nat, adv, y)
    assert set(criterion.components) == {"ATLoss", "InfoAT"}
    assert torch.allclose(criterion.components["ATLoss"] + criterion.components["InfoAT"], total)
    assert criterion.uses_natural and not criterion.uses_images


# ----------------------------------------------------------------------------------------------- bad input
BAD_CALLS = [
    (lambda: MF.entropy(torch.randn(10)), ValueError, "logits"),
    (lambda: MF.entropy(torch.randn(4, 1)), ValueError, "at least 2 classes"),
    (lambda: MF.entropy(torch.randint(0, 3, (4, 10))), TypeError, "floating"),
    (lambda: MF.entropy([[0.0, 1.0]]), TypeError, "torch.Tensor"),
    (lambda: MF.infoat_loss(torch.randn(4, 10), torch.randn(5, 10), torch.zeros(4, dtype=torch.long)),
     ValueError, "same shape"),
    (lambda: MF.infoat_loss(torch.randn(4, 10), torch.randn(4, 10), torch.zeros(5, dtype=torch.long)),
     ValueError, "y must have shape"),
    (lambda: MF.infoat_loss(torch.randn(4, 10), torch.randn(4, 10), torch.zeros(4)), TypeError, "integer"),
    (lambda: MF.infoat_loss(torch.randn(4, 10), torch.randn(4, 10), torch.full((4,), 10)), ValueError, r"\[0, 9\]"),
    (lambda: MF.infoat_loss(torch.full((4, 10), float("nan")), torch.randn(4, 10), torch.zeros(4, dtype=torch.long)),
     ValueError, "logits_nat contains NaN"),
    (lambda: MF.trades_loss(torch.randn(4, 10), torch.full((4, 10), float("inf")), torch.zeros(4, dtype=torch.long)),
     ValueError, "logits_adv contains NaN or inf"),
    (lambda: MF.infoat_loss(torch.randn(4, 10), torch.randn(4, 10), torch.zeros(4, dtype=torch.long), lam=-1.0),
     ValueError, "lam must be >= 0"),
    (lambda: MF.entropy(torch.randn(4, 10), reduction="avg"), ValueError, "reduction"),
    (lambda: MF.weighted_divergence(torch.randn(4, 10), torch.randn(4, 10), weight="1-p_y"), ValueError, "y"),
    (lambda: MF.divergence(torch.randn(4, 10), torch.randn(4, 10), kind="l1"), ValueError, "kind"),
    (lambda: mireg.InfoAT(beta=-0.1), ValueError, "beta"),
    (lambda: mireg.InfoAT(lam="2"), TypeError, "lam"),
    (lambda: mireg.TRADESLoss()(torch.randn(4, 10), torch.randn(4, 10)), ValueError, "y"),
    (lambda: mireg.ATLoss()(None, torch.randn(4, 10)), ValueError, "y"),
    (lambda: mireg.ATLoss() + 3, TypeError, "unsupported operand"),
]


@pytest.mark.parametrize("call,error,match", BAD_CALLS)
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
