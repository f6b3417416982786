"""The papers' ablations (mireg.losses.ablations): every ablation's loss equals the composition it
claims, recomputed in float64 from the papers' formulas; the new loss options (InfoAT's entropy term,
NAMID's natural/adversarial switches) against float64 re-derivations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mireg.functional as MF
from mireg.losses import ATLoss, InfoAT, InfoATMINE, NaturalAdversarialMILoss
from mireg.losses.ablations import ABLATIONS, ablation_loss
from tests import _reference as ref
from tests.functional.test_functional import CASES, _case
from tests.losses.test_namid import _estimators, batch  # noqa: F401  (pytest fixture)

INFOAT_EXPECTED = {  # name -> (weight, divergence, entropy sign, entropy of which output)
    "infoat-weight-none": ("none", "mse", -1, "adv"),
    "infoat-weight-1-p": ("1-p_y", "mse", -1, "adv"),
    "infoat-div-js": ("entropy", "js", -1, "adv"),
    "infoat-div-ce": ("entropy", "ce", -1, "adv"),
    "infoat-div-kl": ("entropy", "kl", -1, "adv"),
    "infoat-reg-plus-hadv": ("entropy", "mse", +1, "adv"),
    "infoat-reg-minus-hnat": ("entropy", "mse", -1, "nat"),
    "infoat-reg-plus-hnat": ("entropy", "mse", +1, "nat"),
    "infoat-reg-none": ("entropy", "mse", 0, "adv"),
}


def _infoat_float64(z_nat, z_adv, y, weight, kind, sign, side, lam=2.5, beta=0.2):
    """CE(p(x'), y) + lam w(x) D(p(x), p(x')) + sign beta H(p(side)), per sample, float64 NumPy."""
    h = ref.entropy(z_adv if side == "adv" else z_nat)
    return (ref.cross_entropy(z_adv, y) + lam * ref.weight(z_nat, y, weight) * ref.divergence(z_nat, z_adv, kind)
            + sign * beta * h)


def test_every_ablation_is_listed_with_its_figure():
    expected = set(INFOAT_EXPECTED) | {f"infoat-mine-layer{k}" for k in range(1, 5)} | {
        "namid-no-adv-mi", "namid-no-nat-mi", "namid-lam0", "namid-mim-estimators"}
    assert set(ABLATIONS) == expected
    for name, row in ABLATIONS.items():
        assert row.name == name and "Fig." in row.source and row.changes


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", sorted(INFOAT_EXPECTED))
def test_infoat_ablation_equals_its_composition_in_float64(name, case):
    nat, adv, y = _case(case)
    loss = ablation_loss(name)
    got = loss(nat, adv, y)
    want = _infoat_float64(nat.numpy(), adv.numpy(), y.numpy(), *INFOAT_EXPECTED[name]).mean()
    np.testing.assert_allclose(float(got), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("entropy_term", ["-adv", "+adv", "-nat", "+nat", "none"])
def test_infoat_entropy_term_option_against_float64(entropy_term):
    nat, adv, y = _case("random")
    sign = {"-": -1, "+": 1, "n": 0}[entropy_term[0]]
    side = "adv" if entropy_term.endswith("adv") else "nat"
    got = MF.infoat_term(nat, adv, 2.5, 0.2, entropy_term=entropy_term, reduction="none")
    want = _infoat_float64(nat.numpy(), adv.numpy(), y.numpy(), "entropy", "mse", sign, side)
    np.testing.assert_allclose(got.numpy(), want - ref.cross_entropy(adv.numpy(), y.numpy()), rtol=1e-10,
                               atol=1e-10)
    default = MF.infoat_term(nat, adv, 2.5, 0.2, reduction="none")
    assert torch.equal(default, MF.infoat_term(nat, adv, 2.5, 0.2, entropy_term="-adv", reduction="none"))


def test_entropy_term_is_validated():
    nat, adv, _ = _case("random")
    with pytest.raises(ValueError, match="entropy_term"):
        MF.infoat_term(nat, adv, entropy_term="adv")
    with pytest.raises(ValueError, match="entropy_term"):
        InfoAT(entropy_term="+x")


# --- NAMID -----------------------------------------------------------------------------------------

def _namid_parts_float64(e_n, e_a, logits_nat, logits_adv, y, x, x_adv):
    """(Lcos_n, Lcos_a, mean E_n(h(x')), mean E_a(h(x'))) over the Eq. 6 selection, float64."""
    import copy

    out = []
    sel = ((logits_nat.argmax(1) == y) & (logits_adv.argmax(1) != y)).numpy()
    for est, local_input in ((e_n, x), (e_a, x_adv - x)):
        est = copy.deepcopy(est).double().eval()
        with torch.no_grad():
            loc = est.local_features(local_input.double()).numpy()
            glob = [est.global_features(t.double()).numpy() for t in (logits_nat, logits_adv)]
        scores = []
        for g in glob:
            s = np.einsum("id,jdk->ijk", g, loc)
            n = s.shape[0]
            dv = [(s[i, i] - (np.log(np.exp(np.delete(s[i], i, 0)).sum(0)) - np.log(n - 1))).mean() for i in range(n)]
            scores.append(np.array(dv)[sel])
        on_nat, on_adv = scores
        out.append((1 - on_adv @ on_nat / np.linalg.norm(on_adv) / np.linalg.norm(on_nat), on_adv.mean()))
    (cos_n, mean_n), (cos_a, mean_a) = out
    return cos_n, cos_a, mean_n, mean_a


@pytest.mark.parametrize("name", ["namid-no-adv-mi", "namid-no-nat-mi", "namid-lam0", "namid-mim-estimators"])
def test_namid_ablation_equals_its_composition_in_float64(name, batch, digits_model):  # noqa: F811
    x, x_adv, y, _ = batch
    e_n, e_a = _estimators()
    with torch.no_grad():
        logits_nat, logits_adv = digits_model(x), digits_model(x_adv)
    cos_n, cos_a, mean_n, mean_a = _namid_parts_float64(e_n, e_a, logits_nat, logits_adv, y, x, x_adv)
    mi = {"namid-no-adv-mi": cos_n - 0.1 * mean_n, "namid-no-nat-mi": cos_a + 0.1 * mean_a,
          "namid-lam0": cos_n + cos_a, "namid-mim-estimators": cos_n + cos_a + 0.1 * (mean_a - mean_n)}[name]
    want = F.cross_entropy(logits_adv.double(), y).item() + 5.0 * mi
    got = ablation_loss(name, estimators=(e_n, e_a))(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
    assert float(got) == pytest.approx(want, rel=1e-4, abs=1e-5)
    assert ABLATIONS[name].estimator_objective == ("mim" if name == "namid-mim-estimators" else "eq5")


def test_namid_switches_validate():
    e_n, e_a = _estimators()
    with pytest.raises(ValueError, match="at least one"):
        NaturalAdversarialMILoss(e_n, e_a, natural=False, adversarial=False)
    with pytest.raises(TypeError, match="bools"):
        NaturalAdversarialMILoss(e_n, e_a, natural=0)


# --- InfoAT's MINE ablation ------------------------------------------------------------------------

class _Staged(nn.Module):
    """A model with ResNet-like stage names layer1..layer4 (wrapped, as mireg's Normalized does)."""

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential()
        self.model.add_module("flat", nn.Flatten())
        for k, (i, o) in enumerate(((16, 12), (12, 12), (12, 8), (8, 8)), start=1):
            self.model.add_module(f"layer{k}", nn.Sequential(nn.Linear(i, o), nn.Tanh()))
        self.model.add_module("head", nn.Linear(8, 10))

    def forward(self, x):
        return self.model(x)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_infoat_mine_ablation_taps_layer_k_and_equals_its_composition(k):
    model = _Staged().double()
    loss = ablation_loss(f"infoat-mine-layer{k}", model=model, image_shape=(1, 4, 4), hidden=8, update_mine=False)
    at, term = loss.terms
    assert isinstance(at, ATLoss) and isinstance(term, InfoATMINE) and term.tap.layer == f"model.layer{k}"
    x = torch.rand(8, 1, 4, 4, dtype=torch.float64)
    x_adv = (x + 0.05).clamp(0, 1)
    y = torch.randint(0, 10, (8,))
    logits_adv, logits_nat = model(x_adv), model(x)
    got = loss(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
    w = term.last_mi.clamp(min=0)
    want = F.cross_entropy(logits_adv, y) + MF.mi_weighted_term(logits_nat, logits_adv, w, 2.5, 0.2)
    torch.testing.assert_close(got, want)
    term.remove()


def test_ablation_errors_are_clear():
    with pytest.raises(ValueError, match="unknown ablation"):
        ablation_loss("infoat-weight-entropy")
    with pytest.raises(ValueError, match="model="):
        ablation_loss("infoat-mine-layer2")
    with pytest.raises(ValueError, match="estimators="):
        ablation_loss("namid-lam0")
    with pytest.raises(ValueError, match="layer=<submodule name>"):
        ablation_loss("infoat-mine-layer3", model=nn.Sequential(nn.Flatten(), nn.Linear(16, 10)))
