"""NAMID, NAMID_T, NAMID_M and WMIM as named compositions: the same loss values as the compositions they
name, each default in one place, and the method builders passing only what the config sets."""

from __future__ import annotations

import copy

import pytest
import torch

import mireg
from mireg import ATLoss, MARTLoss, NaturalAdversarialMILoss, TRADESLoss, WMIMLoss
from mireg.config import TrainConfig
from mireg.estimators import LocalDIMEstimator
from mireg.losses import NAMID, NAMID_M, NAMID_T, WMIM, InfoAT, SumLoss
from mireg.registry import METHODS
from mireg.train.methods import needs_estimators


def _estimators(seed: int = 0) -> tuple[LocalDIMEstimator, LocalDIMEstimator]:
    torch.manual_seed(seed)
    return LocalDIMEstimator(10, 1, 8), LocalDIMEstimator(10, 1, 8)


@pytest.fixture(scope="module")
def batch(digits_split, digits_model):
    x, y = digits_split["x_test"][:48], digits_split["y_test"][:48]
    x_adv = (x + 0.3 * torch.randn_like(x).sign()).clamp(0, 1)
    with torch.no_grad():
        logits_nat, logits_adv = digits_model(x), digits_model(x_adv)
    assert 0 < int(((logits_nat.argmax(1) == y) & (logits_adv.argmax(1) != y)).sum()) < 48  # Eq. 6 non-empty
    return logits_nat, logits_adv, y, x, x_adv


@pytest.mark.parametrize("named, composed", [
    (lambda e: NAMID(*e), lambda e: ATLoss() + 5.0 * NaturalAdversarialMILoss(*e, lam=0.1)),
    (lambda e: NAMID(*e, alpha=2.0, lam=0.3), lambda e: ATLoss() + 2.0 * NaturalAdversarialMILoss(*e, lam=0.3)),
    (lambda e: NAMID_T(*e), lambda e: TRADESLoss(beta=6.0) + 5.0 * NaturalAdversarialMILoss(*e, lam=0.1)),
    (lambda e: NAMID_T(*e, beta=3.0, alpha=1.0),
     lambda e: TRADESLoss(beta=3.0) + 1.0 * NaturalAdversarialMILoss(*e, lam=0.1)),
    (lambda e: NAMID_M(*e), lambda e: MARTLoss(beta=6.0) + 5.0 * NaturalAdversarialMILoss(*e, lam=0.1)),
    (lambda e: NAMID_M(*e, beta=5.0, lam=0.0),
     lambda e: MARTLoss(beta=5.0) + 5.0 * NaturalAdversarialMILoss(*e, lam=0.0)),
])
def test_namid_family_equals_its_composition(batch, named, composed):
    logits_nat, logits_adv, y, x, x_adv = batch
    a, b = named(_estimators()), composed(_estimators())
    assert isinstance(a, SumLoss) and a.uses_natural and a.uses_images
    assert torch.equal(a(logits_nat, logits_adv, y, x=x, x_adv=x_adv), b(logits_nat, logits_adv, y, x=x, x_adv=x_adv))
    assert a.components.keys() == b.components.keys()
    assert a.state_dict().keys() == b.state_dict().keys()  # checkpoints of either load into the other


def test_wmim_equals_its_composition_also_while_co_training(batch):
    logits_nat, logits_adv, y, x, x_adv = batch
    estimator = LocalDIMEstimator(10, 1, 8)
    named, composed = WMIM(copy.deepcopy(estimator)), ATLoss() + 0.1 * WMIMLoss(copy.deepcopy(estimator))
    for _ in range(2):  # train mode: each call also takes one co-training step of the estimator
        assert torch.equal(named(logits_nat, logits_adv, y, x=x, x_adv=x_adv),
                           composed(logits_nat, logits_adv, y, x=x, x_adv=x_adv))


def test_defaults_live_in_the_loss_classes():
    e_n, e_a = _estimators()
    namid = NAMID(e_n, e_a)
    assert namid.terms[1].weight == 5.0 and namid.terms[1].term.lam == NaturalAdversarialMILoss(e_n, e_a).lam == 0.1
    assert NAMID_T(e_n, e_a).terms[0].beta == TRADESLoss().beta and NAMID_M(e_n, e_a).terms[0].beta == MARTLoss().beta
    assert mireg.NAMID is NAMID and mireg.NAMID_T is NAMID_T and mireg.NAMID_M is NAMID_M and mireg.WMIM is WMIM
    with pytest.raises(ValueError, match="alpha"):
        NAMID(e_n, e_a, alpha=-1.0)
    with pytest.raises(TypeError, match="LocalDIMEstimator"):
        NAMID_T(None, e_a)


def test_method_builders_pass_only_what_the_config_sets():
    e_n, e_a = _estimators()
    spec = METHODS.get("namid")(TrainConfig(method="namid"), estimators=(e_n, e_a))
    assert isinstance(spec.loss, NAMID) and spec.loss.terms[1].weight == 5.0 and spec.loss.terms[1].term.lam == 0.1
    spec = METHODS.get("namid_t")(TrainConfig(mi_weight=2.0, lam=0.3, beta=4.0), estimators=(e_n, e_a))
    assert (spec.loss.terms[0].beta, spec.loss.terms[1].weight, spec.loss.terms[1].term.lam) == (4.0, 2.0, 0.3)
    assert spec.attack == "tpgd"
    spec = METHODS.get("infoat")(TrainConfig(lam=1.5))
    infoat = spec.loss.terms[1]
    assert isinstance(infoat, InfoAT) and (infoat.lam, infoat.beta) == (1.5, InfoAT().beta)
    assert spec.attack_kwargs == {"lam": 1.5}  # InfoPGD maximises with the loss's own lam (Eq. 18)
    assert METHODS.get("infoat")(TrainConfig()).attack_kwargs == {"lam": InfoAT().lam}
    assert METHODS.get("trades")(TrainConfig()).loss.beta == TRADESLoss().beta
    assert isinstance(METHODS.get("wmim")(TrainConfig(), num_classes=10, in_channels=1).loss, WMIM)


def test_needs_estimators_is_declared_by_the_method():
    namid_ablations = {"namid-no-adv-mi", "namid-no-nat-mi", "namid-lam0", "namid-mim-estimators"}  # Fig. 5, Fig. 7
    assert {m for m in METHODS.names() if needs_estimators(m)} == {"namid", "namid_t", "namid_m", *namid_ablations}
