"""The papers' tables as registered :class:`~mireg.reproduce.Study` s: ``infoat-table2``, ``namid-table1``.

Budgets (the same meaning in every study, see ``docs/reproduce.md``):

- ``smoke``: scikit-learn's bundled digits on CPU, the ``digits-*`` recipes (small CNN, L-inf eps 0.1)
  shortened to :data:`SMOKE_EPOCHS` epochs, and the table's own attacks at the digits radius on the
  first :data:`SMOKE_POINTS` test digits with every iteration budget capped at :data:`SMOKE_MAX_STEPS`
  (a reduced evaluation: a smoke test of the pipeline and of the ordering, never a claim);
- ``fast``: CIFAR-10 ResNet-18 with the ``fast-*-resnet18`` recipes (one GPU), the full suite on the
  first 1,000 test images;
- ``paper``: the papers' own recipes (``mireg/train/recipes.py``) and the full suite on the whole test set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mireg.reproduce.studies import Arm, Budget, EstimatorBudget, EvalBudget, Evaluation, Study, register_study

__all__ = ["SMOKE_EPOCHS", "SMOKE_POINTS", "SMOKE_MAX_STEPS", "smoke_budget", "fast_evaluation",
           "paper_evaluation"]

SMOKE_EPOCHS = 5
SMOKE_POINTS = 100
SMOKE_MAX_STEPS = 10
#: digits radii: the digits recipes' L-inf 0.1, and for L2 the same fraction of the L-inf ball's L2
#: radius as CIFAR-10's 0.5 vs 8/255 (0.5 / (8/255 sqrt(3072)) = 0.29; 0.29 x 0.1 sqrt(3 x 16 x 16) = 0.8)
SMOKE_EPS = {"linf": 0.1, "l2": 0.8}


def smoke_budget(recipes: Mapping[str, str]) -> Budget:
    """The CPU budget on digits: ``recipes`` maps each arm to a ``digits-*`` recipe."""
    return Budget(
        "smoke",
        f"CPU smoke test on scikit-learn's digits (16x16, grey replicated to 3 channels), small CNN, "
        f"{SMOKE_EPOCHS} epochs of the digits-* recipes (L-inf eps 0.1, 7-step training attack); the "
        f"table's attacks at the digits radius on the first {SMOKE_POINTS} test digits, every iteration "
        f"budget capped at {SMOKE_MAX_STEPS}",
        recipes,
        # 3 channels: torchattacks' TI-DIM (in NAMID's suite) only runs on 3-channel images
        overrides={"epochs": SMOKE_EPOCHS, "lr_milestones": [SMOKE_EPOCHS - 1], "channels": 3},
        evaluation=EvalBudget(n=SMOKE_POINTS, n_autoattack=SMOKE_POINTS, max_steps=SMOKE_MAX_STEPS,
                              eps=SMOKE_EPS, batch_size=256, sanity=False),
        estimators=EstimatorBudget(epochs=8, batch_size=128, width=256, lr=1e-2, attack_steps=10))


def fast_evaluation() -> EvalBudget:
    """CIFAR-10 on one GPU: every attack at full strength on the first 1,000 test images."""
    return EvalBudget(n=1000, n_autoattack=1000, max_steps=None, batch_size=500, sanity=("gradients",))


def paper_evaluation() -> EvalBudget:
    """The whole CIFAR-10 test set, every attack at full strength, all sanity probes."""
    return EvalBudget(n=None, n_autoattack=None, max_steps=None, batch_size=500, sanity=True)


def _paper_rows(columns: Sequence[str], rows: Mapping[str, Sequence[float | None]]) -> dict[str, dict[str, Any]]:
    """``{arm: {column: value}}`` from rows written in ``columns`` order (lengths checked)."""
    out = {}
    for arm, values in rows.items():
        if len(values) != len(columns):
            raise ValueError(f"paper row {arm!r} has {len(values)} values for {len(columns)} columns")
        out[arm] = dict(zip(columns, values, strict=True))
    return out


# ---------------------------------------------------------------------------------------------
# InfoAT, Table II: ResNet-18 on CIFAR-10, L-inf 8/255.

_INFOAT_COLUMNS = ("clean", "FGSM", "PGD-20", "PGD-100", "PGD+", "CW-inf-20", "CW-inf-100", "InfoPGD-20",
                   "AutoAttack", "BPDA")
# TODO(lead): the numbers of InfoAT's Table II in percent, from the audit; None = not filled in.
_INFOAT_TABLE2 = _paper_rows(_INFOAT_COLUMNS, {
    #         clean FGSM  PGD-20 PGD-100 PGD+  CW-20 CW-100 InfoPGD AA    BPDA
    "AT":     (None, None, None,  None,   None, None, None,  None,   None, None),
    "TRADES": (None, None, None,  None,   None, None, None,  None,   None, None),
    "MART":   (None, None, None,  None,   None, None, None,  None,   None, None),
    "MART+":  (None, None, None,  None,   None, None, None,  None,   None, None),
    "InfoAT": (None, None, None,  None,   None, None, None,  None,   None, None),
})

register_study(Study(
    name="infoat-table2",
    title="InfoAT Table II: AT, TRADES, MART, MART+ and InfoAT, ResNet-18 on CIFAR-10, L-inf 8/255",
    paper="Xu, Zhang, Li, Zhang, 'InfoAT: Improving Adversarial Training Using the Information Bottleneck "
          "Principle', IEEE TNNLS 2022, arXiv:2206.12292",
    reproduces="Table II",
    arms=(Arm("AT", "at"), Arm("TRADES", "trades", {"beta": 6.0}), Arm("MART", "mart", {"beta": 5.0}),
          Arm("MART+", "mart+", {"beta": 5.0}), Arm("InfoAT", "infoat", {"lam": 2.5, "beta": 0.2})),
    baseline="AT",
    evaluations=(Evaluation("linf", "infoat", paper=_INFOAT_TABLE2),),
    budgets=(
        smoke_budget({"AT": "digits-at", "TRADES": "digits-trades", "MART": "digits-mart",
                      "MART+": "digits-mart+", "InfoAT": "digits-infoat"}),
        Budget("fast", "CIFAR-10 ResNet-18, the fast-*-resnet18 recipes on one GPU; every attack at full "
                       "strength on the first 1,000 test images",
               {"AT": "fast-at-resnet18", "TRADES": "fast-trades-resnet18", "MART": "fast-mart-resnet18",
                "MART+": "fast-mart+-resnet18", "InfoAT": "fast-infoat-resnet18"},
               evaluation=fast_evaluation()),
        # The InfoAT paper prints one optimiser for all methods: MART's ResNet-18 script (mart-resnet18).
        Budget("paper", "CIFAR-10 ResNet-18 with the recipe the InfoAT paper prints (MART's ResNet-18 "
                        "script, 120 epochs) for every method; the whole test set, every attack at full "
                        "strength",
               {"AT": "mart-resnet18", "TRADES": "mart-resnet18", "MART": "mart-resnet18",
                "MART+": "mart+-resnet18", "InfoAT": "infoat-resnet18"},
               evaluation=paper_evaluation()),
    ),
    notes="TODO(lead): deviations from the InfoAT paper, e.g. the training attack of infoat-resnet18, the "
          "BPDA column, TRADES's beta on MART's recipe (6, the TRADES paper's; InfoAT prints none).",
))


# ---------------------------------------------------------------------------------------------
# NAMID, Table 1: ResNet-18 on CIFAR-10, L-inf 8/255 and L2 0.5.

_NAMID_ARMS = ("AT", "WMIM", "NAMID", "TRADES", "NAMID_T", "MART", "NAMID_M")
_NAMID_LINF_COLUMNS = ("clean", "PGD-40", "AutoAttack", "FWA-40", "TI-DIM")
_NAMID_L2_COLUMNS = ("clean", "PGD-40", "CW-L2", "DDN")
# TODO(lead): the numbers of NAMID's Table 1 in percent, from the audit; None = not filled in.
_NAMID_LINF = _paper_rows(_NAMID_LINF_COLUMNS, {arm: (None,) * 5 for arm in _NAMID_ARMS})
_NAMID_L2 = _paper_rows(_NAMID_L2_COLUMNS, {arm: (None,) * 4 for arm in _NAMID_ARMS})
# NAMID Eq. 9: alpha = 5, lam = 0.1; the MI weight ramped in over the first 3 epochs (from scratch it
# collapses the model otherwise: docs/namid.md, "Training from scratch")
_MI = {"mi_weight": 5.0, "lam": 0.1, "mi_ramp_epochs": 3.0}
_NO_MI = {"mi_weight": None, "lam": None}   # namid-resnet18 sets them: baselines leave them; WMIM its own 0.1

register_study(Study(
    name="namid-table1",
    title="NAMID Table 1: AT, WMIM, NAMID, TRADES, NAMID_T, MART, NAMID_M, ResNet-18 on CIFAR-10, "
          "L-inf 8/255 and L2 0.5",
    paper="Zhou, Wang, Gao, Han, Wang, Zhan, Liu, 'Improving Adversarial Robustness via Mutual Information "
          "Estimation', ICML 2022, arXiv:2207.12203",
    reproduces="Table 1",
    arms=(Arm("AT", "at"), Arm("WMIM", "wmim"),
          # NAMID's training settings are data: the lead adjusts them (e.g. a clean warm-up) here.
          Arm("NAMID", "namid", _MI, needs_estimators=True),
          Arm("TRADES", "trades", {"beta": 6.0}), Arm("NAMID_T", "namid_t", {"beta": 6.0, **_MI}, True),
          Arm("MART", "mart", {"beta": 6.0}), Arm("NAMID_M", "namid_m", {"beta": 6.0, **_MI}, True)),
    baseline="AT",
    estimators_from="AT",
    evaluations=(Evaluation("linf", "namid-linf", paper=_NAMID_LINF),
                 Evaluation("l2", "namid-l2", paper=_NAMID_L2)),
    budgets=(
        smoke_budget({"AT": "digits-at", "WMIM": "digits-at", "NAMID": "digits-namid", "TRADES": "digits-trades",
                      "NAMID_T": "digits-trades", "MART": "digits-mart", "NAMID_M": "digits-mart"}),
        Budget("fast", "CIFAR-10 ResNet-18, the fast-*-resnet18 recipes on one GPU (NAMID and WMIM on AT's, "
                       "NAMID_T on TRADES's, NAMID_M on MART's); estimators 10 epochs, width 512; every "
                       "attack at full strength on the first 1,000 test images",
               {"AT": "fast-at-resnet18", "WMIM": "fast-at-resnet18", "NAMID": "fast-at-resnet18",
                "TRADES": "fast-trades-resnet18", "NAMID_T": "fast-trades-resnet18",
                "MART": "fast-mart-resnet18", "NAMID_M": "fast-mart-resnet18"},
               evaluation=fast_evaluation(),
               estimators=EstimatorBudget(epochs=10, batch_size=400, width=512, attack_steps=10)),
        Budget("paper", "CIFAR-10 ResNet-18 with the NAMID paper's recipe (namid-resnet18: 100 epochs, batch "
                        "1024, PGD-10) for every method; estimators as the released code (25 epochs, batch "
                        "400, width 2048, PGD-20); the whole test set, every attack at full strength",
               {arm: "namid-resnet18" for arm in _NAMID_ARMS},
               arm_overrides={"AT": _NO_MI, "WMIM": _NO_MI, "TRADES": _NO_MI, "MART": _NO_MI},
               evaluation=paper_evaluation(), estimators=EstimatorBudget()),
    ),
    notes="Every model is trained against L-inf attacks and evaluated by both suites. TODO(lead): whether "
          "NAMID's L2 columns come from L2-trained models (the engine has no L2 TRADES/MART inner "
          "maximiser), NAMID trained from scratch (warm-up), MART's and TRADES's beta (NAMID prints none: "
          "6, their papers' CIFAR-10 values), WMIM's weight (0.1, untuned).",
))
