"""The papers' ablation studies as registered :class:`~mireg.reproduce.Study` s (``kind="ablation"``),
with the same budgets and reports as the tables (:mod:`mireg.reproduce.tables`):

- ``infoat-fig3``: InfoAT Fig. 3(b) weight, 3(c) divergence, 3(d) regulariser; every arm is InfoAT
  with one part changed (:data:`mireg.losses.ablations.ABLATIONS`), paired with InfoAT;
- ``infoat-table1``: InfoAT Table I / Fig. 3(a), the entropy weight replaced by the MINE estimate of
  I(x; z) at layer #1-#4 (Eq. 19), paired with InfoAT;
- ``namid-fig5``: NAMID Fig. 5, NAMID ("Ori") without the adversarial MI (i), without the natural MI
  (ii), with lambda = 0 (iii), and standard AT ("Standard"), paired with NAMID;
- ``namid-fig7``: NAMID App. E.1 Fig. 7, NAMID on estimators trained by Eq. 4 ("MIM") against Eq. 5
  ("Our"), paired with Eq. 5.

An arm's name is its method's name (``mireg train --method <name>`` runs it alone), except the
papers' own methods. What the InfoAT paper's figures evaluate could not be read here (its full text
was not available to this project): the InfoAT studies report PGD-20 and AutoAttack of the paper's
suite; see ``docs/ablations.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mireg.reproduce.studies import Arm, Budget, EstimatorBudget, Evaluation, Study, register_study
from mireg.reproduce.tables import fast_evaluation, paper_evaluation, smoke_budget

__all__ = ["INFOAT_FIG3_ARMS", "INFOAT_TABLE1_ARMS", "NAMID_FIG5_ARMS"]

_INFOAT_PAPER = ("Xu, Zhang, Li, Zhang, 'InfoAT: Improving Adversarial Training Using the Information Bottleneck "
                 "Principle', IEEE TNNLS 2022, arXiv:2206.12292")
_NAMID_PAPER = ("Zhou, Wang, Gao, Han, Wang, Zhan, Liu, 'Improving Adversarial Robustness via Mutual Information "
                "Estimation', ICML 2022, arXiv:2207.12203")
_INFOAT_WEIGHTS = {"lam": 2.5, "beta": 0.2}
_MI = {"mi_weight": 5.0, "lam": 0.1, "mi_ramp_epochs": 3.0}  # NAMID Eq. 9 (alpha 5, lam 0.1); ramp as namid-table1
_NO_MI = {"mi_weight": None, "lam": None}

#: InfoAT Fig. 3(b) weight, 3(c) divergence, 3(d) regulariser
INFOAT_FIG3_ARMS = ("infoat-weight-none", "infoat-weight-1-p", "infoat-div-js", "infoat-div-ce", "infoat-div-kl",
                    "infoat-reg-plus-hadv", "infoat-reg-minus-hnat", "infoat-reg-plus-hnat", "infoat-reg-none")
#: InfoAT Table I / Fig. 3(a): MINE on layer #1-#4
INFOAT_TABLE1_ARMS = tuple(f"infoat-mine-layer{k}" for k in range(1, 5))
#: NAMID Fig. 5 (i), (ii), (iii)
NAMID_FIG5_ARMS = ("namid-no-adv-mi", "namid-no-nat-mi", "namid-lam0")


def _infoat_budgets(arms: Sequence[str]) -> tuple[Budget, ...]:
    names = ("InfoAT", *arms)
    return (
        smoke_budget({name: "digits-infoat" for name in names}),
        Budget("fast", "CIFAR-10 ResNet-18, InfoAT's fast recipe (fast-infoat-resnet18) for every arm on one GPU; "
                       "the reported attacks at full strength on the first 1,000 test images",
               {name: "fast-infoat-resnet18" for name in names}, evaluation=fast_evaluation()),
        Budget("paper", "CIFAR-10 ResNet-18 with the recipe the InfoAT paper prints (infoat-resnet18) for every "
                        "arm; the whole test set, the reported attacks at full strength",
               {name: "infoat-resnet18" for name in names}, evaluation=paper_evaluation()),
    )


_INFOAT_EVALUATION = (Evaluation("linf", "infoat", columns=("PGD-20", "AutoAttack")),)
_INFOAT_NOTES = ("Every arm is InfoAT (lam 2.5, beta 0.2, InfoPGD with the same lam as the inner maximiser) with one "
                 "part changed; InfoPGD is kept as InfoAT's in every arm (whether the paper's ablations also change "
                 "Eq. 18 could not be checked). The InfoAT paper's full text was not available to this project: "
                 "which attacks its ablation figures report, on how many runs, is unverified here; PGD-20 and "
                 "AutoAttack of the paper's suite are reported. See docs/ablations.md.")

register_study(Study(
    name="infoat-fig3",
    title="InfoAT Fig. 3(b-d): the entropy weight, the divergence and the regulariser of Eq. 17",
    paper=_INFOAT_PAPER, reproduces="Fig. 3(b), 3(c), 3(d)", kind="ablation",
    arms=(Arm("InfoAT", "infoat", _INFOAT_WEIGHTS), *(Arm(name, name, _INFOAT_WEIGHTS) for name in INFOAT_FIG3_ARMS)),
    baseline="InfoAT", evaluations=_INFOAT_EVALUATION, budgets=_infoat_budgets(INFOAT_FIG3_ARMS),
    notes=_INFOAT_NOTES,
))

register_study(Study(
    name="infoat-table1",
    title="InfoAT Table I / Fig. 3(a): the entropy weight replaced by MINE's estimate of I(x; z) at layer #1-#4",
    paper=_INFOAT_PAPER, reproduces="Table I, Fig. 3(a) (Eq. 19)", kind="ablation",
    arms=(Arm("InfoAT", "infoat", _INFOAT_WEIGHTS),
          *(Arm(name, name, _INFOAT_WEIGHTS) for name in INFOAT_TABLE1_ARMS)),
    baseline="InfoAT", evaluations=_INFOAT_EVALUATION, budgets=_infoat_budgets(INFOAT_TABLE1_ARMS),
    notes=_INFOAT_NOTES + " MINE (a 3-layer MLP on x and z_k pooled to 4x4) is co-trained with one Adam step "
                          "(lr 1e-4) per training step; its clamped, detached batch estimate is the weight. Layer #k "
                          "is ResNet stage layer<k>; on the digits small CNN, its stages (two pooled conv blocks, the "
                          "pooled third block, the hidden layer).",
))


def _namid_budgets(recipes_smoke: Mapping[str, str], names: Sequence[str]) -> tuple[Budget, ...]:
    return (
        smoke_budget(recipes_smoke),
        Budget("fast", "CIFAR-10 ResNet-18, the fast-*-resnet18 recipes on one GPU (NAMID's arms on AT's); "
                       "estimators 10 epochs, width 512; the reported attacks at full strength on the first "
                       "1,000 test images",
               {name: "fast-at-resnet18" for name in names}, evaluation=fast_evaluation(),
               estimators=EstimatorBudget(epochs=10, batch_size=400, width=512, attack_steps=10)),
        Budget("paper", "CIFAR-10 ResNet-18 with the NAMID paper's recipe (namid-resnet18) for every arm; "
                        "estimators as the released code (25 epochs, batch 400, width 2048, PGD-20); the whole "
                        "test set, the reported attacks at full strength",
               {name: "namid-resnet18" for name in names}, arm_overrides={"AT": _NO_MI},
               evaluation=paper_evaluation(), estimators=EstimatorBudget()),
    )


_FIG5_ARMS = (Arm("NAMID", "namid", _MI, needs_estimators=True),
              *(Arm(name, name, _MI, needs_estimators=True) for name in NAMID_FIG5_ARMS),
              Arm("AT", "at"))
register_study(Study(
    name="namid-fig5",
    title="NAMID Fig. 5: without the adversarial MI (i), without the natural MI (ii), lambda = 0 (iii)",
    paper=_NAMID_PAPER, reproduces="Sec. 4.4, Fig. 5", kind="ablation", arms=_FIG5_ARMS, baseline="NAMID",
    estimators_from="AT",
    evaluations=(Evaluation("linf", "namid-linf", columns=("PGD-40", "AutoAttack", "FWA-40")),),
    budgets=_namid_budgets({arm.name: "digits-at" if arm.name == "AT" else "digits-namid" for arm in _FIG5_ARMS},
                           [arm.name for arm in _FIG5_ARMS]),
    notes="Rows: NAMID is the figure's 'Ori', namid-no-adv-mi (i), namid-no-nat-mi (ii), namid-lam0 (iii), AT its "
          "'Standard'. Removing an MI drops its cosine term and its part of the lambda term (the paper does not "
          "say what happens to the lambda term). The text says the variants are evaluated with 'L-inf-norm PGD and "
          "FWA attacks', the figure's axis reads 'PGD' and 'AA': PGD-40, AutoAttack and FWA-40 are reported. "
          "NAMID's arms are trained from scratch as in namid-table1 (no warm-up).",
))

_FIG7_ARMS = (Arm("NAMID", "namid", _MI, needs_estimators=True),
              Arm("namid-mim-estimators", "namid-mim-estimators", _MI, needs_estimators=True,
                  estimator_objective="mim"),
              Arm("AT", "at"))
register_study(Study(
    name="namid-fig7",
    title="NAMID Fig. 7: the defence on estimators trained by Eq. 4 (MIM) against Eq. 5 (Our)",
    paper=_NAMID_PAPER, reproduces="App. E.1, Fig. 7", kind="ablation", arms=_FIG7_ARMS, baseline="NAMID",
    estimators_from="AT",
    evaluations=(Evaluation("linf", "namid-linf", columns=("PGD-40", "AutoAttack", "TI-DIM")),),
    budgets=_namid_budgets({arm.name: "digits-at" if arm.name == "AT" else "digits-namid" for arm in _FIG7_ARMS},
                           [arm.name for arm in _FIG7_ARMS]),
    notes="Rows: NAMID is the figure's 'Our' (estimators by Eq. 5), namid-mim-estimators its 'MIM' (Eq. 4 on the same "
          "Eq. 6 selection, 'for a fair comparison', Sec. 4.2); AT is not in the figure: it is the classifier both "
          "pairs of estimators are trained on. Columns as the figure: None (clean), PGD-40, AA, TI-DIM.",
))
