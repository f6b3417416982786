"""Every ablation of InfoAT and NAMID runs by name as a training method: each method's loss equals
``mireg.losses.ablations.ablation_loss(name)`` and the composition written out by hand on fixed
inputs, with the paper method's attack; the MINE ablation gets the model from the engine; one-epoch
runs through ``mireg train``."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import mireg.functional as MF
from mireg.cli import main
from mireg.estimators import save_estimators
from mireg.losses import ATLoss, InfoAT, InfoATMINE, NaturalAdversarialMILoss
from mireg.losses.ablations import ABLATIONS, ablation_loss
from mireg.models import create_model
from mireg.registry import METHODS
from mireg.train import build_config, load_checkpoint, train
from mireg.train.methods import needs_estimators
from tests.losses.test_namid import _estimators, batch  # noqa: F401  (pytest fixture)
from tests.train.test_engine import tiny

INFOAT_BY_HAND = {
    "infoat-weight-none": lambda: ATLoss() + InfoAT(2.5, 0.2, weight="none"),
    "infoat-weight-1-p": lambda: ATLoss() + InfoAT(2.5, 0.2, weight="1-p_y"),
    "infoat-div-js": lambda: ATLoss() + InfoAT(2.5, 0.2, divergence="js"),
    "infoat-div-ce": lambda: ATLoss() + InfoAT(2.5, 0.2, divergence="ce"),
    "infoat-div-kl": lambda: ATLoss() + InfoAT(2.5, 0.2, divergence="kl"),
    "infoat-reg-plus-hadv": lambda: ATLoss() + InfoAT(2.5, 0.2, entropy_term="+adv"),
    "infoat-reg-minus-hnat": lambda: ATLoss() + InfoAT(2.5, 0.2, entropy_term="-nat"),
    "infoat-reg-plus-hnat": lambda: ATLoss() + InfoAT(2.5, 0.2, entropy_term="+nat"),
    "infoat-reg-none": lambda: ATLoss() + InfoAT(2.5, 0.2, entropy_term="none"),
}
NAMID_BY_HAND = {  # (natural, adversarial, lam)
    "namid-no-adv-mi": (True, False, 0.1),
    "namid-no-nat-mi": (False, True, 0.1),
    "namid-lam0": (True, True, 0.0),
    "namid-mim-estimators": (True, True, 0.1),
}


def _logits(seed=0):
    g = torch.Generator().manual_seed(seed)
    nat, adv = torch.randn(16, 10, generator=g) * 3, torch.randn(16, 10, generator=g) * 3
    return nat, adv, torch.randint(0, 10, (16,), generator=g)


def test_every_ablation_is_a_method_citing_its_figure():
    assert set(INFOAT_BY_HAND) | set(NAMID_BY_HAND) | {f"infoat-mine-layer{k}" for k in range(1, 5)} == set(ABLATIONS)
    for name, row in ABLATIONS.items():
        build = METHODS.get(name)
        assert row.source in build.__doc__ and "Fig." in build.__doc__
        assert needs_estimators(name) == (name in NAMID_BY_HAND)


@pytest.mark.parametrize("name", sorted(INFOAT_BY_HAND))
def test_infoat_ablation_method_equals_its_composition(name):
    config = build_config("digits-infoat")   # lam 2.5, beta 0.2: the paper's
    spec = METHODS.get(name)(config)
    nat, adv, y = _logits()
    got = spec.loss(nat, adv, y)
    assert spec.attack == "infopgd" and spec.attack_kwargs == {"lam": 2.5}
    torch.testing.assert_close(got, ablation_loss(name)(nat, adv, y), rtol=0, atol=0)
    torch.testing.assert_close(got, INFOAT_BY_HAND[name]()(nat, adv, y), rtol=0, atol=0)


def test_infoat_ablation_method_takes_the_configs_weights():
    spec = METHODS.get("infoat-div-js")(build_config("digits-infoat", overrides={"lam": 1.0, "beta": 0.5}))
    nat, adv, y = _logits(1)
    assert spec.attack_kwargs == {"lam": 1.0}
    want = ATLoss() + InfoAT(1.0, 0.5, divergence="js")
    torch.testing.assert_close(spec.loss(nat, adv, y), want(nat, adv, y), rtol=0, atol=0)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_mine_ablation_method_taps_layer_k_of_the_model_it_is_given(k):
    torch.manual_seed(0)
    model = create_model("small_cnn", num_classes=10, in_channels=1, width=4, hidden=16).double().eval()
    spec = METHODS.get(f"infoat-mine-layer{k}")(build_config("digits-infoat"), model=model, image_shape=(1, 8, 8))
    at, term = spec.loss.terms
    assert isinstance(at, ATLoss) and isinstance(term, InfoATMINE) and spec.attack == "infopgd"
    assert term.tap.layer == f"model.{model.model.stages[k - 1]}" and (term.lam, term.beta) == (2.5, 0.2)
    term.mine.double()
    spec.loss.eval()  # no MINE step: the weight is the DV bound of MINE as it is
    x = torch.rand(12, 1, 8, 8, dtype=torch.float64)
    x_adv, y = (x + 0.05).clamp(0, 1), torch.randint(0, 10, (12,))
    logits_adv, logits_nat = model(x_adv), model(x)
    torch.manual_seed(3)  # MINE's negatives: a random cyclic shift of the batch
    got = spec.loss(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
    _, feats = term.tap(x)
    torch.manual_seed(3)
    weight = term.mine(x, feats).clamp(min=0)
    want = F.cross_entropy(logits_adv, y) + MF.mi_weighted_term(logits_nat, logits_adv, weight, 2.5, 0.2)
    torch.testing.assert_close(got, want)
    term.remove()


def test_mine_ablation_method_needs_the_model():
    with pytest.raises(ValueError, match="model="):
        METHODS.get("infoat-mine-layer1")(build_config("digits-infoat"))


@pytest.mark.parametrize("name", sorted(NAMID_BY_HAND))
def test_namid_ablation_method_equals_its_composition(name, batch):  # noqa: F811
    x, x_adv, y, _ = batch
    e_n, e_a = _estimators()
    g = torch.Generator().manual_seed(0)
    logits_nat, logits_adv = torch.randn(64, 10, generator=g) * 3, torch.randn(64, 10, generator=g) * 3
    config = build_config("digits-namid")   # mi_weight 5, lam 0.1: the paper's
    spec = METHODS.get(name)(config, estimators=(e_n, e_a), estimator_metadata={"objective": "mim"}
                             if name == "namid-mim-estimators" else {"objective": "eq5"})
    natural, adversarial, lam = NAMID_BY_HAND[name]
    by_hand = ATLoss() + 5.0 * NaturalAdversarialMILoss(e_n, e_a, lam, natural=natural, adversarial=adversarial)
    got = spec.loss(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
    assert spec.attack == "mart-pgd" and got.requires_grad is False
    for other in (ablation_loss(name, estimators=(e_n, e_a)), by_hand):
        torch.testing.assert_close(got, other(logits_nat, logits_adv, y, x=x, x_adv=x_adv), rtol=0, atol=0)


def test_namid_lam0_keeps_lam_at_zero_and_mim_checks_its_estimators():
    e_n, e_a = _estimators()
    spec = METHODS.get("namid-lam0")(build_config("digits-namid", overrides={"lam": 0.3}), estimators=(e_n, e_a))
    assert spec.loss.terms[1].term.lam == 0.0
    spec = METHODS.get("namid-no-adv-mi")(build_config("digits-namid", overrides={"lam": 0.3, "mi_weight": 2.0}),
                                          estimators=(e_n, e_a))
    assert spec.loss.terms[1].term.lam == 0.3 and spec.loss.terms[1].weight == 2.0
    with pytest.raises(ValueError, match="--objective mim"):
        METHODS.get("namid-mim-estimators")(build_config("digits-namid"), estimators=(e_n, e_a),
                                            estimator_metadata={"objective": "eq5"})


def test_engine_hands_the_model_to_the_mine_ablation_and_trains_mine(tmp_path):
    config = tiny(tmp_path, method="infoat-mine-layer2", epochs=1, lam=2.5, beta=0.2)
    result = train(config)
    state = load_checkpoint(result.last_path)
    mine_keys = [k for k in state["criterion"] if "mine.net" in k]
    assert mine_keys and result.history[0]["loss"] == result.history[0]["loss"]  # finite, MINE saved to resume
    torch.manual_seed(config.seed)
    fresh = METHODS.get("infoat-mine-layer2")(config, model=copy.deepcopy(result.model).cpu(), image_shape=(1, 8, 8))
    fresh_state = fresh.loss.state_dict()
    assert any(not torch.equal(state["criterion"][k], fresh_state[k]) for k in mine_keys)  # MINE was trained
    assert torch.isfinite(state["criterion"]["terms.1.mine.log_ma"])
    fresh.loss.terms[1].remove()


def _tiny_args(out):
    return ["--epochs", "1", "--no-progress", "--out", str(out), "--set", "image_size=8", "--set", "channels=1",
            "--set", "model_kwargs={width = 4, hidden = 16}", "--set", "val_size=97", "--set", "batch_size=200",
            "--steps", "2", "--set", "val_steps=2", "--alpha", "0.05"]


def test_one_epoch_of_an_infoat_and_a_namid_ablation_through_mireg_train(tmp_path):
    assert main(["train", "--recipe", "digits-infoat", "--method", "infoat-reg-plus-hnat",
                 *_tiny_args(tmp_path / "infoat")]) == 0
    assert load_checkpoint(tmp_path / "infoat" / "last.pt")["config"]["method"] == "infoat-reg-plus-hnat"
    torch.manual_seed(0)
    e_n, e_a = _estimators()
    save_estimators(tmp_path / "est.pt", e_n, e_a, {"objective": "eq5"})
    assert main(["train", "--recipe", "digits-namid", "--method", "namid-no-adv-mi", "--estimators",
                 str(tmp_path / "est.pt"), *_tiny_args(tmp_path / "namid")]) == 0
    history = load_checkpoint(tmp_path / "namid" / "last.pt")["history"]
    assert len(history) == 1 and history[0]["loss"] == history[0]["loss"]
