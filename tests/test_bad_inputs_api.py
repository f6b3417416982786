"""The catalogue of bad inputs to the public API (issue 10): every case is refused where it enters.

Each case calls one public name with one bad argument and expects a ``ValueError`` or ``TypeError`` (an
``OSError`` for a file that cannot be read or written) whose message names the argument (the pattern),
never a deep torch error and never a silent acceptance. Tiny models and tensors: the whole file runs in
seconds. The CLI's catalogue is ``tests/cli/test_bad_inputs.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from torch import nn

import mireg
from mireg import functional as F
from mireg.attacks import create_attack
from mireg.checkpoints import load_checkpoint, load_file, load_model_weights, save_file
from mireg.config import TrainConfig
from mireg.data import TensorLoader, dataset_info, load_dataset, split_validation
from mireg.data.base import ImageTensors
from mireg.estimators import (
    MINE,
    FeatureTap,
    LocalDIMEstimator,
    check_estimators,
    default_attack,
    estimate_layer_mi,
    fit_mine,
    global_inputs,
    load_estimators,
    mi_scores,
    save_estimators,
    train_estimators,
)
from mireg.models import LogitsOnly, Normalized, create_model
from mireg.recipes import build_config
from mireg.reproduce import reproduce
from mireg.train import train

NAN = math.nan
X = torch.rand(4, 1, 8, 8)
Y = torch.tensor([0, 1, 2, 3])
LN = torch.randn(4, 10)
LA = torch.randn(4, 10)
XA = (X + 0.01).clamp(0, 1)


class Case(NamedTuple):
    id: str
    call: Callable[[], object]
    error: type[BaseException] | tuple[type[BaseException], ...]
    match: str


def model() -> nn.Module:
    torch.manual_seed(0)
    return create_model("small_cnn", num_classes=10, in_channels=1, width=4, hidden=16).eval()


class TupleNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x):
        out = self.body(x)
        return out, out


def est(width: int = 8) -> LocalDIMEstimator:
    torch.manual_seed(0)
    return LocalDIMEstimator(10, in_channels=1, width=width)


def with_x(term, x=X, x_adv=XA, y=Y, ln=LN, la=LA):
    return lambda: term()(ln, la, y, x=x, x_adv=x_adv)


def nat(v):
    return v


BAD_LOGITS = [  # (id, logits_adv, error, match)
    ("1d", torch.randn(4), ValueError, "logits_adv must have 2 dimensions"),
    ("int", torch.ones(4, 10, dtype=torch.long), TypeError, "logits_adv must be a floating-point"),
    ("nan", torch.full((4, 10), NAN), ValueError, "logits_adv contains NaN"),
    ("inf", torch.full((4, 10), math.inf), ValueError, "logits_adv contains NaN or inf"),
    ("one-class", torch.randn(4, 1), ValueError, "logits_adv must have at least 2 classes"),
    ("list", [[0.0] * 10] * 4, TypeError, "logits_adv must be a torch.Tensor"),
    ("batch", torch.randn(3, 10), ValueError, r"(logits_nat and logits_adv|y) must have( the same)? shape"),
]
BAD_LABELS = [  # (id, y, error, match)
    ("float", Y.float(), TypeError, "y must hold integer class indices"),
    ("bool", Y > 1, TypeError, "y must hold integer class indices"),
    ("2d", Y[:, None], ValueError, r"y must have shape \(4,\)"),
    ("short", Y[:3], ValueError, r"y must have shape \(4,\)"),
    ("too-large", torch.tensor([0, 1, 2, 10]), ValueError, r"y must lie in \[0, 9\]"),
    ("negative", torch.tensor([0, 1, 2, -100]), ValueError, r"y must lie in \[0, 9\]"),
    ("list", [0, 1, 2, 3], TypeError, "y must be a torch.Tensor"),
]
LOSSES = {  # name -> the term (built lazily: estimators are modules)
    "ATLoss": lambda: mireg.ATLoss(),
    "TRADESLoss": lambda: mireg.TRADESLoss(),
    "MARTLoss": lambda: mireg.MARTLoss(),
    "MARTPlus": lambda: mireg.MARTPlus(),
    "InfoAT": lambda: mireg.ATLoss() + mireg.InfoAT(),
    "NAMID": lambda: mireg.NAMID(est(), est()),
}


def _loss_call(name, ln=LN, la=LA, y=Y):
    return lambda: LOSSES[name]()(ln, la, y, x=X, x_adv=XA)


def loss_cases() -> list[Case]:
    cases = []
    for name in LOSSES:
        for bad, logits, error, match in BAD_LOGITS:
            cases.append(Case(f"{name}-logits-{bad}", _loss_call(name, la=logits), error, match))
        for bad, labels, error, match in BAD_LABELS:
            cases.append(Case(f"{name}-labels-{bad}", _loss_call(name, y=labels), error, match))
        cases.append(Case(f"{name}-no-labels", _loss_call(name, y=None), ValueError, r"y \(integer labels"))
    return cases


CONSTRUCTORS = [
    Case("ATLoss-reduction", lambda: mireg.ATLoss(reduction="avg"), ValueError, "reduction must be one of"),
    Case("TRADESLoss-beta-negative", lambda: mireg.TRADESLoss(beta=-1), ValueError, "beta"),
    Case("TRADESLoss-beta-str", lambda: mireg.TRADESLoss(beta="6"), TypeError, "beta must be a number"),
    Case("TRADESLoss-reduction", lambda: mireg.TRADESLoss(reduction="max"), ValueError, "reduction must be one of"),
    Case("MARTLoss-beta-nan", lambda: mireg.MARTLoss(beta=NAN), ValueError, "beta must be finite"),
    Case("MARTPlus-beta-negative", lambda: mireg.MARTPlus(beta=-0.5), ValueError, "beta"),
    Case("InfoAT-lam-negative", lambda: mireg.InfoAT(lam=-1), ValueError, "lam"),
    Case("InfoAT-beta-str", lambda: mireg.InfoAT(beta="0.2"), TypeError, "beta must be a number"),
    Case("InfoAT-divergence", lambda: mireg.InfoAT(divergence="l3"), ValueError, "divergence must be one of"),
    Case("InfoAT-weight", lambda: mireg.InfoAT(weight="loss"), ValueError, "weight must be one of"),
    Case("EntropyWeightedMSEReg-lam", lambda: mireg.EntropyWeightedMSEReg(lam=math.inf), ValueError,
         "lam must be finite"),
    Case("NAMID-estimator-type", lambda: mireg.NAMID("en.pt", est()), TypeError, "estimator_n"),
    Case("NAMID-alpha-negative", lambda: mireg.NAMID(est(), est(), alpha=-1), ValueError, "alpha"),
    Case("NAMID_T-estimator-type", lambda: mireg.NAMID_T(est(), None), TypeError, "estimator_a"),
    Case("NAMID_M-alpha-str", lambda: mireg.NAMID_M(est(), est(), alpha="5"), TypeError, "alpha must be a number"),
    Case("NaturalAdversarialMILoss-lam", lambda: mireg.NaturalAdversarialMILoss(est(), est(), lam=NAN), ValueError,
         "lam must be finite"),
    Case("WMIM-estimator-type", lambda: mireg.WMIM(nn.Linear(2, 2)), TypeError, "estimator"),
    Case("WMIM-alpha-negative", lambda: mireg.WMIM(est(), alpha=-1), ValueError, "alpha"),
    Case("ScaledLoss-weight", lambda: "2" * mireg.ATLoss(), TypeError, "ATLoss"),
    Case("SumLoss-non-term", lambda: mireg.ATLoss() + 3, TypeError, "ATLoss"),
]

IMAGE_TERMS = [
    Case("NAMID-no-x", lambda: mireg.NAMID(est(), est())(LN, LA, Y, x=None, x_adv=XA), ValueError, r"\bx\b"),
    Case("NAMID-no-x_adv", lambda: mireg.NAMID(est(), est())(LN, LA, Y, x=X, x_adv=None), ValueError, "x_adv"),
    Case("NAMID-x-shape", with_x(lambda: mireg.NAMID(est(), est()), x_adv=XA[:, :, :4]), ValueError, "x_adv"),
    Case("NAMID-x-range", with_x(lambda: mireg.NAMID(est(), est()), x=X * 255), ValueError, r"x must be in \[0, 1\]"),
    Case("NAMID-x-batch", with_x(lambda: mireg.NAMID(est(), est()), x=X[:3], x_adv=XA[:3]), ValueError, "batch"),
    Case("WMIM-no-x_adv", lambda: mireg.WMIM(est())(LN, LA, Y, x=X, x_adv=None), ValueError, "x_adv"),
    Case("WMIM-x-int", with_x(lambda: mireg.WMIM(est()), x=(X * 255).to(torch.uint8)), TypeError, r"\bx\b"),
    Case("NAMID-x-channels", with_x(lambda: mireg.NAMID(est(), est()), x=torch.rand(4, 3, 8, 8),
                                    x_adv=torch.rand(4, 3, 8, 8)), ValueError, "channel"),
]

FUNCTIONAL = [
    Case("at_loss-logits-list", lambda: F.at_loss([[0.0, 1.0]], Y), TypeError, "logits_adv must be a torch.Tensor"),
    Case("at_loss-reduction", lambda: F.at_loss(LA, Y, reduction="avg"), ValueError, "reduction must be one of"),
    Case("at_loss-labels-range", lambda: F.at_loss(LA, Y + 7), ValueError, r"y must lie in \[0, 9\]"),
    Case("trades_loss-nan", lambda: F.trades_loss(LN.clone().fill_(NAN), LA, Y), ValueError, "logits_nat contains NaN"),
    Case("trades_loss-beta", lambda: F.trades_loss(LN, LA, Y, beta=-1), ValueError, "beta"),
    Case("mart_loss-labels-float", lambda: F.mart_loss(LN, LA, Y.float()), TypeError, "y must hold integer"),
    Case("mart_plus_loss-shape", lambda: F.mart_plus_loss(LN, LA[:, :5], Y), ValueError, "same shape"),
    Case("entropy-int", lambda: F.entropy(torch.ones(4, 10, dtype=torch.long)), TypeError, "logits"),
    Case("entropy-reduction", lambda: F.entropy(LN, reduction="median"), ValueError, "reduction must be one of"),
    Case("divergence-kind", lambda: F.divergence(LN, LA, kind="wasserstein"), ValueError, "kind must be one of"),
    Case("sample_weight-kind", lambda: F.sample_weight(LN, Y, kind="margin"), ValueError, "kind must be one of"),
    Case("weighted_divergence-1d", lambda: F.weighted_divergence(LN[0], LA[0], Y), ValueError, "logits_nat"),
    Case("entropy_weighted_mse-shape", lambda: F.entropy_weighted_mse(LN, LA[:2]), ValueError, "same shape"),
    Case("infoat_term-lam", lambda: F.infoat_term(LN, LA, lam="2.5"), TypeError, "lam must be a number"),
    Case("infoat_term-beta-nan", lambda: F.infoat_term(LN, LA, beta=NAN), ValueError, "beta must be finite"),
    Case("infoat_loss-no-labels", lambda: F.infoat_loss(LN, LA, None), ValueError, r"\by\b"),
    Case("infopgd_objective-labels", lambda: F.infopgd_objective(LA, Y[:2], LN), ValueError, r"y must have shape"),
    Case("mi_weighted_term-mi-shape", lambda: F.mi_weighted_term(LN, LA, torch.ones(3)), ValueError, r"\bmi\b"),
    Case("dv_local_scores-dims", lambda: F.dv_local_scores(torch.randn(4, 8), torch.randn(4, 8)), ValueError, "local"),
    Case("dv_local_scores-diagonal", lambda: F.dv_local_scores(torch.randn(4, 8, 3), torch.randn(4, 8),
                                                               diagonal="keep"), ValueError, "diagonal must be one of"),
    Case("dv_bound-shapes", lambda: F.dv_bound(torch.randn(4), torch.randn(4, 2)), ValueError, "t_marginal"),
    Case("dv_bound-int", lambda: F.dv_bound(torch.ones(4, dtype=torch.long), torch.randn(4)), TypeError, "t_joint"),
    Case("mine_surrogate-type", lambda: F.mine_surrogate([1.0], torch.randn(4), None), TypeError, "t_joint"),
    Case("cosine_loss-shape", lambda: F.cosine_loss(torch.randn(4, 8), torch.randn(4, 7)), ValueError, "same shape"),
    Case("namid_selection-labels", lambda: F.namid_selection(LN, LA, Y.float()), TypeError,
         "y must be a tensor of integer"),
    Case("worst_case_offset_means-empty", lambda: F.worst_case_offset_means({}), ValueError, "scores"),
    Case("worst_case_offset_means-type", lambda: F.worst_case_offset_means([1, 2]), ValueError,
         "scores must be a non-empty mapping"),
]

ATTACKS = [
    Case("create_attack-unknown", lambda: create_attack("pgdd", model()), (KeyError, ValueError), "pgdd"),
    Case("create_attack-type", lambda: create_attack(123, model()), TypeError, "attack"),
    Case("create_attack-model", lambda: create_attack("pgd", "model.pt"), TypeError, "model"),
    Case("create_attack-eps-pixels", lambda: create_attack("pgd", model(), eps=8), ValueError, "did you mean 8/255"),
    Case("create_attack-eps-zero", lambda: create_attack("pgd", model(), eps=0), ValueError, "eps must be > 0"),
    Case("create_attack-steps", lambda: create_attack("pgd", model(), steps=0), ValueError, "steps"),
    Case("create_attack-budget-type", lambda: create_attack("pgd", model(), budget=5), TypeError, "budget"),
    Case("create_attack-l2-eps", lambda: create_attack("pgd-l2", model(), eps=-0.5), ValueError, "eps must be > 0"),
    Case("create_attack-unknown-kwarg", lambda: create_attack("pgd", model(), epsilon=0.1), ValueError, "epsilon"),
    Case("InfoPGD-model", lambda: mireg.InfoPGD("model"), TypeError, "model"),
    Case("InfoPGD-eps-pixels", lambda: mireg.InfoPGD(model(), eps=16), ValueError, "did you mean 16/255"),
    Case("InfoPGD-alpha", lambda: mireg.InfoPGD(model(), alpha=-0.1), ValueError, "alpha must be > 0"),
    Case("InfoPGD-steps-zero", lambda: mireg.InfoPGD(model(), steps=0), ValueError, "steps"),
    Case("InfoPGD-steps-float", lambda: mireg.InfoPGD(model(), steps=2.5), TypeError, "steps must be an int"),
    Case("InfoPGD-lam", lambda: mireg.InfoPGD(model(), lam=NAN), ValueError, "lam must be finite"),
    Case("InfoPGD-random_start", lambda: mireg.InfoPGD(model(), random_start="maybe"), ValueError, "random_start"),
    Case("InfoPGD-images-range", lambda: mireg.InfoPGD(model(), steps=1)(X * 255, Y), ValueError,
         r"images must be in \[0, 1\]"),
    Case("InfoPGD-images-int", lambda: mireg.InfoPGD(model(), steps=1)((X * 255).byte(), Y), TypeError, "images"),
    Case("InfoPGD-labels-range", lambda: mireg.InfoPGD(model(), steps=1)(X, Y + 7), ValueError,
         r"labels must lie in \[0, 9\]"),
    Case("InfoPGD-labels-float", lambda: mireg.InfoPGD(model(), steps=1)(X, Y.float()), TypeError, "labels"),
    Case("InfoPGD-labels-batch", lambda: mireg.InfoPGD(model(), steps=1)(X, Y[:2]), ValueError, "labels"),
    Case("InfoPGD-tuple-model", lambda: mireg.InfoPGD(TupleNet(), steps=1)(X, Y), TypeError, "LogitsOnly"),
    Case("CWInf-eps-zero", lambda: mireg.CWInf(model(), eps=0), ValueError, "eps must be > 0"),
    Case("CWInf-steps", lambda: mireg.CWInf(model(), steps=-1), ValueError, "steps"),
    Case("CWInf-labels", lambda: mireg.CWInf(model(), steps=1)(X, Y - 1), ValueError, "labels must lie"),
    Case("DDN-steps", lambda: mireg.DDN(model(), steps=0), ValueError, "steps"),
    Case("DDN-gamma", lambda: mireg.DDN(model(), gamma=1.5), ValueError, "gamma"),
    Case("DDNBounded-eps", lambda: mireg.DDNBounded(model(), eps=-1), ValueError, "eps must be > 0"),
    Case("FWA-eps", lambda: mireg.FWA(model(), eps=0), ValueError, "eps must be > 0"),
    Case("FWA-steps", lambda: mireg.FWA(model(), steps="10"), TypeError, "steps must be an int"),
    Case("RayS-query_limit", lambda: mireg.RayS(model(), query_limit=0), ValueError, "query_limit"),
    Case("RayS-eps", lambda: mireg.RayS(model(), eps=2), ValueError, "did you mean 2/255"),
    Case("BPDA-model", lambda: mireg.BPDA(model(), defense="not callable"), TypeError, "defense"),
    Case("TrainingAttack-attack", lambda: mireg.TrainingAttack(5), TypeError, "attack must be"),
    Case("TrainingAttack-mode", lambda: mireg.TrainingAttack(mireg.InfoPGD(model()), mode="frozen"), ValueError,
         "mode must be one of"),
    Case("TrainingAttack-images", lambda: mireg.TrainingAttack(mireg.InfoPGD(model(), steps=1))(X - 1, Y), ValueError,
         r"must be in \[0, 1\]"),
    Case("TrainingAttack-labels", lambda: mireg.TrainingAttack(mireg.InfoPGD(model(), steps=1))(X, Y + 9), ValueError,
         "must lie in"),
    Case("TrainingAttack-tuple-model", lambda: mireg.TrainingAttack(create_attack("pgd", TupleNet(), steps=1))(X, Y),
         TypeError, "LogitsOnly"),
    Case("AutoAttack-norm", lambda: mireg.attacks.AutoAttack(model(), norm="L1"), ValueError, "norm"),
    Case("AutoAttack-version", lambda: mireg.attacks.AutoAttack(model(), version="fast"), ValueError, "version"),
    Case("default_attack-steps", lambda: default_attack(model(), steps=0), ValueError, "steps"),
    Case("default_attack-alpha", lambda: default_attack(model(), alpha=0), ValueError, "alpha must be > 0"),
]


def _garbage(tmp: Path) -> Path:
    path = tmp / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint")
    return path


ESTIMATORS = [
    Case("LocalDIMEstimator-global_dim", lambda: LocalDIMEstimator(0), ValueError, "global_dim must be >= 1"),
    Case("LocalDIMEstimator-in_channels", lambda: LocalDIMEstimator(10, in_channels="3"), TypeError, "in_channels"),
    Case("LocalDIMEstimator-width", lambda: LocalDIMEstimator(10, width=0), ValueError, "width"),
    Case("LocalDIMEstimator-diagonal", lambda: LocalDIMEstimator(10, diagonal="keep"), ValueError, "diagonal"),
    Case("LocalDIMEstimator-forward-x", lambda: est()(torch.rand(4, 64), LN), ValueError, "local_input"),
    Case("LocalDIMEstimator-forward-global", lambda: est()(X, torch.randn(4, 7)), ValueError, "global"),
    Case("LocalDIMEstimator-forward-batch", lambda: est()(X, LN[:3]), ValueError, "batch"),
    Case("MINE-x_shape", lambda: MINE((0, 8), (10,)), ValueError, "x_shape"),
    Case("MINE-hidden", lambda: MINE((1, 8, 8), (10,), hidden=0), ValueError, "hidden"),
    Case("MINE-ma_rate", lambda: MINE((1, 8, 8), (10,), ma_rate=2.0), ValueError, "ma_rate"),
    Case("FeatureTap-layer-type", lambda: FeatureTap(model(), 5), TypeError, "layer"),
    Case("FeatureTap-layer-unknown", lambda: FeatureTap(model(), "model.no_such"), ValueError, "no_such"),
    Case("FeatureTap-model", lambda: FeatureTap("model", "x"), TypeError, "model"),
    Case("train_estimators-labels-float", lambda: train_estimators(model(), X, Y.float(), progress=False), TypeError,
         r"\by\b"),
    Case("train_estimators-labels-range", lambda: train_estimators(model(), X, Y + 7, progress=False), ValueError,
         r"y must lie in \[0, 9\]"),
    Case("train_estimators-x-range", lambda: train_estimators(model(), X * 255, Y, progress=False), ValueError,
         r"x must be in \[0, 1\]"),
    Case("train_estimators-epochs", lambda: train_estimators(model(), X, Y, epochs=0, progress=False), ValueError,
         "epochs"),
    Case("train_estimators-batch_size", lambda: train_estimators(model(), X, Y, batch_size=1, progress=False),
         ValueError, "batch_size"),
    Case("train_estimators-lr", lambda: train_estimators(model(), X, Y, lr=-1.0, progress=False), ValueError, "lr"),
    Case("train_estimators-objective", lambda: train_estimators(model(), X, Y, objective="eq6", progress=False),
         ValueError, "objective must be one of"),
    Case("train_estimators-width", lambda: train_estimators(model(), X, Y, width=0, progress=False), ValueError,
         "width"),
    Case("train_estimators-layer", lambda: train_estimators(model(), X, Y, layer="model.nope", progress=False),
         ValueError, "nope"),
    Case("train_estimators-x_val-only", lambda: train_estimators(model(), X, Y, x_val=X, progress=False), ValueError,
         "y_val"),
    Case("train_estimators-x_adv-shape", lambda: train_estimators(model(), X, Y, x_adv=X[:2], progress=False),
         ValueError, "x_adv"),
    Case("train_estimators-tuple-model", lambda: train_estimators(TupleNet(), X, Y, progress=False), TypeError,
         "LogitsOnly"),
    Case("train_estimators-milestones", lambda: train_estimators(model(), X, Y, milestones=(1.5,), progress=False),
         ValueError, "milestones"),
    Case("mi_scores-shapes", lambda: mi_scores(est(), est(), X, XA[:2], LN, LA), ValueError, "x_adv"),
    Case("mi_scores-estimator", lambda: mi_scores("en", est(), X, XA, LN, LA), TypeError, "natural"),
    Case("check_estimators-labels", lambda: check_estimators(model(), est(), est(), X, Y + 9, XA), ValueError,
         "must lie in"),
    Case("global_inputs-layer", lambda: global_inputs(model(), X, layer="model.nope"), ValueError, "nope"),
    Case("global_inputs-batch_size", lambda: global_inputs(model(), X, batch_size=0), ValueError, "batch_size"),
    Case("fit_mine-batch", lambda: fit_mine(X, LN[:3], epochs=1), ValueError, r"\bz\b"),
    Case("fit_mine-epochs", lambda: fit_mine(X, LN, epochs=0), ValueError, "epochs"),
    Case("estimate_layer_mi-layer", lambda: estimate_layer_mi(model(), X, ["model.nope"], epochs=1), ValueError,
         "nope"),
    Case("save_estimators-type", lambda: save_estimators("/tmp/x.pt", "en", est()), TypeError, "natural"),
]

EVALUATE = [
    Case("evaluate-model", lambda: mireg.evaluate("best.pt", (X, Y), progress=False), TypeError, "model"),
    Case("evaluate-data", lambda: mireg.evaluate(model(), 5, progress=False), TypeError, "data"),
    Case("evaluate-data-tuple", lambda: mireg.evaluate(model(), (X,), progress=False), (TypeError, ValueError), "data"),
    Case("evaluate-suite", lambda: mireg.evaluate(model(), (X, Y), suite="fast", progress=False),
         (KeyError, ValueError), "fast"),
    Case("evaluate-eps-pixels", lambda: mireg.evaluate(model(), (X, Y), eps=8, progress=False), ValueError,
         "did you mean 8/255"),
    Case("evaluate-eps-negative", lambda: mireg.evaluate(model(), (X, Y), eps=-0.1, progress=False), ValueError,
         "eps must be > 0"),
    Case("evaluate-n-zero", lambda: mireg.evaluate(model(), (X, Y), n=0, progress=False), ValueError, r"\bn\b"),
    Case("evaluate-n-float", lambda: mireg.evaluate(model(), (X, Y), n=2.5, progress=False), TypeError, r"\bn\b"),
    Case("evaluate-batch_size", lambda: mireg.evaluate(model(), (X, Y), batch_size=0, progress=False), ValueError,
         "batch_size"),
    Case("evaluate-seed", lambda: mireg.evaluate(model(), (X, Y), seed="0", progress=False), TypeError, "seed"),
    Case("evaluate-attacks", lambda: mireg.evaluate(model(), (X, Y), attacks=["pgd-1000"], progress=False), ValueError,
         "pgd-1000"),
    Case("evaluate-attacks-str", lambda: mireg.evaluate(model(), (X, Y), attacks=5, progress=False), ValueError,
         "attacks"),
    Case("evaluate-max_steps", lambda: mireg.evaluate(model(), (X, Y), max_steps=0, progress=False), ValueError,
         "max_steps"),
    Case("evaluate-labels-range", lambda: mireg.evaluate(model(), (X, Y + 7), progress=False), ValueError,
         r"must lie in \[0, 9\]"),
    Case("evaluate-labels-float", lambda: mireg.evaluate(model(), (X, Y.float()), progress=False), TypeError, "label"),
    Case("evaluate-images-range", lambda: mireg.evaluate(model(), (X * 255, Y), progress=False), ValueError,
         r"in \[0, 1\]"),
    Case("evaluate-images-batch", lambda: mireg.evaluate(model(), (X, Y[:2]), progress=False), ValueError, "shape"),
    Case("evaluate-tuple-model", lambda: mireg.evaluate(TupleNet(), (X, Y), progress=False), TypeError, "LogitsOnly"),
    Case("evaluate-device", lambda: mireg.evaluate(model(), (X, Y), device="gpu", progress=False), ValueError,
         "device"),
    Case("evaluate-sanity", lambda: mireg.evaluate(model(), (X, Y), sanity="maybe", progress=False), (TypeError,
                                                                                                      ValueError),
         "sanity"),
    Case("evaluate-blackbox_queries", lambda: mireg.evaluate(model(), (X, Y), blackbox_queries=0, progress=False),
         ValueError, "blackbox_queries"),
    Case("evaluate-dataset-name", lambda: mireg.evaluate(model(), "imagenet-1k", progress=False),
         (KeyError, ValueError), "imagenet-1k"),
]

TRAIN = [
    Case("TrainConfig-epochs", lambda: TrainConfig(epochs=0), ValueError, "epochs"),
    Case("TrainConfig-epochs-float", lambda: TrainConfig(epochs=2.5), TypeError, "epochs"),
    Case("TrainConfig-batch_size", lambda: TrainConfig(batch_size=0), ValueError, "batch_size"),
    Case("TrainConfig-lr", lambda: TrainConfig(lr=-0.1), ValueError, r"\blr\b"),
    Case("TrainConfig-lr-str", lambda: TrainConfig(lr="0.1"), TypeError, r"\blr\b"),
    Case("TrainConfig-momentum", lambda: TrainConfig(momentum=1.5), ValueError, "momentum"),
    Case("TrainConfig-weight_decay", lambda: TrainConfig(weight_decay=-1e-4), ValueError, "weight_decay"),
    Case("train-method", lambda: run_train(method="infoatt"), ValueError, "infoatt"),
    Case("train-model", lambda: run_train(model="resnet-18"), ValueError, "resnet-18"),
    Case("train-dataset", lambda: run_train(dataset="cifar-10"), ValueError, "cifar-10"),
    Case("TrainConfig-eps-pixels", lambda: TrainConfig(eps=8), ValueError, "did you mean 8/255"),
    Case("TrainConfig-eps-zero", lambda: TrainConfig(eps=0), ValueError, "eps must be > 0"),
    Case("TrainConfig-alpha", lambda: TrainConfig(alpha=-2 / 255), ValueError, "alpha"),
    Case("TrainConfig-steps", lambda: TrainConfig(steps=0), ValueError, "steps"),
    Case("TrainConfig-optimizer", lambda: TrainConfig(optimizer="adamw2"), ValueError, "optimizer"),
    Case("TrainConfig-lr_schedule", lambda: TrainConfig(lr_schedule="linear-ish"), ValueError, "lr_schedule"),
    Case("TrainConfig-lr_milestones", lambda: TrainConfig(lr_milestones=[5, 3]), ValueError, "lr_milestones"),
    Case("TrainConfig-lr_milestones-type", lambda: TrainConfig(lr_milestones="50,75"), TypeError, "lr_milestones"),
    Case("TrainConfig-lr_gamma", lambda: TrainConfig(lr_gamma=0), ValueError, "lr_gamma"),
    Case("train-attack", lambda: run_train(attack="pgdd"), ValueError, "pgdd"),
    Case("TrainConfig-attack_mode", lambda: TrainConfig(attack_mode="frozen"), ValueError, "attack_mode"),
    Case("TrainConfig-beta", lambda: TrainConfig(method="trades", beta=-6), ValueError, "beta"),
    Case("TrainConfig-val_size", lambda: TrainConfig(val_size=-1), ValueError, "val_size"),
    Case("TrainConfig-val_steps", lambda: TrainConfig(val_steps=-1), ValueError, "val_steps"),
    Case("TrainConfig-seed", lambda: TrainConfig(seed="0"), TypeError, "seed"),
    Case("train-device", lambda: run_train(device="gpu"), ValueError, "device"),
    Case("TrainConfig-image_size", lambda: TrainConfig(image_size=0), ValueError, "image_size"),
    Case("train-channels", lambda: run_train(channels=2), ValueError, "channels"),
    Case("TrainConfig-unknown", lambda: TrainConfig(learning_rate=0.1), TypeError, "learning_rate"),
    Case("TrainConfig-log_every", lambda: TrainConfig(log_every=-1), ValueError, "log_every"),
    Case("TrainConfig-compile_mode", lambda: TrainConfig(compile_mode="fastest"), ValueError, "compile_mode"),
    Case("TrainConfig-model_kwargs", lambda: TrainConfig(model_kwargs=[("width", 8)]), TypeError, "model_kwargs"),
    Case("TrainConfig-resume-overwrite", lambda: TrainConfig(resume=True, overwrite=True), ValueError, "overwrite"),
    Case("build_config-recipe", lambda: build_config("digits-att"), (KeyError, ValueError), "digits-att"),
    Case("build_config-override", lambda: build_config("digits-at", overrides={"lrr": 0.1}), (TypeError, ValueError),
         "lrr"),
    Case("train-config-type", lambda: train({"epochs": 1}), TypeError, "config"),
    Case("train-model-type", lambda: train(TrainConfig(), model="small_cnn"), TypeError, "model"),
]


def run_train(**changes):
    """``train`` of a one-epoch digits run into a fresh temporary folder (each case fails before it trains)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        return train(build_config("digits-at", overrides={"epochs": 1, "progress": False, "out_dir": str(out),
                                                          **changes}))


def _digits() -> ImageTensors:
    return ImageTensors(torch.zeros(20, 1, 8, 8, dtype=torch.uint8), torch.arange(20) % 10, [str(i) for i in range(10)])


DATA = [
    Case("load_dataset-name", lambda: load_dataset("cifar-10"), (KeyError, ValueError), "cifar-10"),
    Case("load_dataset-split", lambda: load_dataset("digits", split="validation"), ValueError, "split"),
    Case("load_dataset-name-type", lambda: load_dataset(10), TypeError, "name"),
    Case("dataset_info-name", lambda: dataset_info("svhm"), (KeyError, ValueError), "svhm"),
    Case("split_validation-negative", lambda: split_validation(_digits(), n_val=-1), ValueError, "n_val"),
    Case("split_validation-too-many", lambda: split_validation(_digits(), n_val=20), ValueError, "n_val"),
    Case("split_validation-fraction", lambda: split_validation(_digits(), n_val=1.5), ValueError, "n_val"),
    Case("split_validation-data", lambda: split_validation((X, Y), n_val=1), TypeError, "data"),
    Case("TensorLoader-batch_size", lambda: TensorLoader(X, Y, batch_size=0), ValueError, "batch_size"),
    Case("TensorLoader-labels", lambda: TensorLoader(X, Y[:3]), ValueError, r"\by\b"),
    Case("TensorLoader-world_size", lambda: TensorLoader(X, Y, world_size=0), ValueError, "world_size"),
    Case("TensorLoader-rank", lambda: TensorLoader(X, Y, rank=2, world_size=2), ValueError, "rank"),
    Case("TensorLoader-padding", lambda: TensorLoader(X, Y, padding=-1), ValueError, "padding"),
    Case("TensorLoader-x-type", lambda: TensorLoader(X.numpy(), Y), TypeError, "data_or_x"),
    Case("ImageTensors-labels", lambda: ImageTensors(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), Y[:2]),
         ValueError, "x and y must have the same length"),
    Case("ImageTensors-x-float", lambda: ImageTensors(X, Y), TypeError, "x must be a uint8 tensor"),
]

MODELS = [
    Case("create_model-name", lambda: create_model("resnet-18"), (KeyError, ValueError), "resnet-18"),
    Case("create_model-num_classes", lambda: create_model("small_cnn", num_classes=1), ValueError, "num_classes"),
    Case("create_model-in_channels", lambda: create_model("small_cnn", in_channels=0), ValueError, "in_channels"),
    Case("create_model-in_channels-float", lambda: create_model("small_cnn", in_channels=3.0), TypeError,
         "in_channels"),
    Case("create_model-mean-length", lambda: create_model("small_cnn", in_channels=1, mean=[0.5, 0.5, 0.5]),
         ValueError, "mean"),
    Case("create_model-std-zero", lambda: create_model("small_cnn", in_channels=1, std=[0.0]), ValueError, "std"),
    Case("create_model-kwarg", lambda: create_model("small_cnn", depthh=3), TypeError, "depthh"),
    Case("Normalized-model", lambda: Normalized("resnet18"), TypeError, "model"),
    Case("Normalized-std-negative", lambda: Normalized(nn.Identity(), [0.5], [-0.1]), ValueError, "std"),
    Case("LogitsOnly-model", lambda: LogitsOnly(None), TypeError, "model"),
    Case("LogitsOnly-index", lambda: LogitsOnly(TupleNet(), index=1.5), TypeError, "index"),
    Case("LogitsOnly-index-range", lambda: LogitsOnly(TupleNet(), index=5)(X), (IndexError, ValueError), "index"),
    Case("Normalized-wrong-channels", lambda: create_model("small_cnn", in_channels=1)(torch.rand(2, 3, 8, 8)),
         ValueError, r"x must have shape \(N, 1, H, W\)"),
]

REPRODUCE = [
    Case("reproduce-study", lambda: reproduce("infoat-table3"), (KeyError, ValueError), "infoat-table3"),
    Case("reproduce-budget", lambda: reproduce("infoat-table2", budget="huge"), ValueError, "budget"),
    Case("reproduce-seeds-zero", lambda: reproduce("infoat-table2", seeds=0), ValueError, "seeds"),
    Case("reproduce-seeds-str", lambda: reproduce("infoat-table2", seeds="5"), TypeError, "seeds"),
    Case("reproduce-seeds-negative", lambda: reproduce("infoat-table2", seeds=[0, -1]), ValueError, "seeds"),
    Case("reproduce-seeds-repeat", lambda: reproduce("infoat-table2", seeds=[1, 1]), ValueError, "seeds"),
    Case("reproduce-methods", lambda: reproduce("infoat-table2", methods="at,infoatt"), ValueError, "infoatt"),
    Case("reproduce-device", lambda: reproduce("infoat-table2", device="gpu"), ValueError, "device"),
]


def file_cases(tmp: Path) -> list[Case]:
    return [
        Case("load_file-missing", lambda: load_file(tmp / "missing.pt"), FileNotFoundError, "missing.pt"),
        Case("load_file-folder", lambda: load_file(tmp), FileNotFoundError, "is a folder, not a file"),
        Case("load_file-garbage", lambda: load_file(_garbage(tmp)), ValueError, "garbage.pt"),
        Case("load_checkpoint-garbage", lambda: load_checkpoint(_garbage(tmp)), ValueError, "garbage.pt"),
        Case("load_model_weights-garbage", lambda: load_model_weights(model(), _garbage(tmp)), ValueError,
             "garbage.pt"),
        Case("load_estimators-garbage", lambda: load_estimators(_garbage(tmp)), ValueError, "garbage.pt"),
        Case("load_estimators-missing", lambda: load_estimators(tmp / "est.pt"), FileNotFoundError, "est.pt"),
        Case("save_file-no-folder", lambda: save_file({"a": 1}, Path("/dev/null/x.pt")), OSError, "x.pt"),
    ]


ALL = loss_cases() + CONSTRUCTORS + IMAGE_TERMS + FUNCTIONAL + ATTACKS + ESTIMATORS + EVALUATE + TRAIN + DATA \
    + MODELS + REPRODUCE
FILE_IDS = [case.id for case in file_cases(Path("."))]


def _check(case: Case) -> None:
    with pytest.raises(case.error, match=case.match) as info:
        case.call()
    message = str(info.value)
    assert "\n" not in message.strip(), message
    assert "Traceback" not in message


@pytest.mark.parametrize("case", ALL, ids=[case.id for case in ALL])
def test_bad_input_is_refused_naming_the_argument(case):
    _check(case)


@pytest.mark.parametrize("index", range(len(FILE_IDS)), ids=FILE_IDS)
def test_bad_file_is_refused_naming_it(index, tmp_path):
    _check(file_cases(tmp_path)[index])


def test_the_catalogue_is_large_enough():
    assert len(ALL) + len(FILE_IDS) >= 150
    assert len({case.id for case in ALL}) == len(ALL)
