"""The papers' evaluation suites, registered in :data:`mireg.registry.SUITES`.

The types (:class:`~mireg.evaluation.suites.AttackSpec`, :class:`~mireg.evaluation.suites.Suite`) are
in :mod:`mireg.evaluation.suites`.

Every entry names the paper, section or table, and the setting it comes from; where a paper is
silent the entry says so and what mireg chose. ``mireg eval --list-suites`` prints them all.
"""

from __future__ import annotations

from mireg.evaluation.suites import AttackSpec, Suite
from mireg.registry import SUITES

_EPS_LINF = 8 / 255
_INFOAT = "InfoAT (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292), Sec. IV-A / Table II"
_INFOAT_STEP = ("step 0.003 as in MART's evaluation script (YisenWang/MART), which InfoAT's printed recipe "
                "follows; InfoAT prints no step size for PGD-k")
_NAMID = "NAMID (Zhou et al., ICML 2022, arXiv:2207.12203), Sec. 5.1 / Tables 1-2"


def _autoattack(norm: str, citation: str) -> AttackSpec:
    """The official AutoAttack entry (standard version, full budget)."""
    return AttackSpec("AutoAttack", "autoattack", {"norm": norm, "version": "standard", "n_iter": 100,
                                                   "n_queries": 5000},
                      citation, scaled=(), steps_keys=("n_iter", "n_queries"))


@SUITES.register("infoat")
def infoat_suite() -> Suite:
    """InfoAT's white-box evaluation at L-inf 8/255."""
    return Suite(
        name="infoat", norm="Linf", eps=_EPS_LINF,
        citation=_INFOAT,
        description="InfoAT L-inf 8/255: FGSM, PGD-20/100, PGD+, CW-inf-20/100, InfoPGD-20, AutoAttack",
        attacks=(
            AttackSpec("FGSM", "fgsm", {}, f"{_INFOAT}: FGSM (Goodfellow et al. 2015)", scaled=(), steps_keys=()),
            AttackSpec("PGD-20", "pgd", {"alpha": 0.003, "steps": 20, "random_start": True},
                       f"{_INFOAT}: PGD-20 (Madry et al. 2018), {_INFOAT_STEP}"),
            AttackSpec("PGD-100", "pgd", {"alpha": 0.003, "steps": 100, "random_start": True},
                       f"{_INFOAT}: PGD-100, {_INFOAT_STEP}"),
            AttackSpec("PGD+", "pgd", {"alpha": 0.01, "steps": 40, "random_start": True},
                       f"{_INFOAT}: PGD+ = 5 random restarts of 40 steps, step 0.01", restarts=5),
            AttackSpec("CW-inf-20", "cw-inf", {"alpha": 0.003, "steps": 20},
                       f"{_INFOAT}: CW-inf = PGD on the CW margin loss (Carlini & Wagner 2017), 20 steps, "
                       f"{_INFOAT_STEP}"),
            AttackSpec("CW-inf-100", "cw-inf", {"alpha": 0.003, "steps": 100},
                       f"{_INFOAT}: CW-inf, 100 steps, {_INFOAT_STEP}"),
            AttackSpec("InfoPGD-20", "infopgd", {"alpha": 0.003, "steps": 20},
                       f"{_INFOAT}: InfoPGD (the paper's Eq. 18 inner maximisation), 20 steps, {_INFOAT_STEP}"),
            _autoattack("Linf", "AutoAttack standard (Croce & Hein, ICML 2020; fra31/auto-attack via pyautoattack): "
                       "APGD-CE, APGD-T, FAB-T (100 iterations), Square (5000 queries)"),
        ),
        orderings=(("PGD-100", "PGD-20", "FGSM"), ("CW-inf-100", "CW-inf-20")),
    )


@SUITES.register("namid-linf")
def namid_linf_suite() -> Suite:
    """NAMID's white-box L-inf evaluation at 8/255."""
    return Suite(
        name="namid-linf", norm="Linf", eps=_EPS_LINF, citation=_NAMID,
        description="NAMID L-inf 8/255: PGD-40 (step eps/4), AutoAttack, FWA-40, TI-DIM",
        attacks=(
            AttackSpec("PGD-40", "pgd", {"alpha": _EPS_LINF / 4, "steps": 40, "random_start": True},
                       f"{_NAMID}: PGD-40, step eps/4"),
            _autoattack("Linf", "AutoAttack standard (Croce & Hein, ICML 2020) via pyautoattack, as in NAMID Table 1"),
            AttackSpec("FWA-40", "fwa", {"steps": 40},
                       f"{_NAMID}: FWA-40, Frank-Wolfe Wasserstein attack (Wu, Wang & Yu, ICML 2020) "
                       "inside the L-inf ball", scaled=()),
            AttackSpec("TI-DIM", "ti-dim", {"alpha": 0.007, "steps": 40, "decay": 0.1, "diversity_prob": 0.5},
                       f"{_NAMID}: TI-DIM (Dong et al. 2019 + Xie et al. 2019) as in dwDavidxd/MIAT "
                       "test_comparison.py: 40 steps, step 0.007, momentum 0.1, diversity prob 0.5"),
        ),
    )


@SUITES.register("namid-l2")
def namid_l2_suite() -> Suite:
    """NAMID's white-box L2 evaluation at 0.5."""
    return Suite(
        name="namid-l2", norm="L2", eps=0.5, citation=_NAMID,
        description="NAMID L2 0.5: PGD-40 (step eps/4), CW-L2, DDN",
        attacks=(
            AttackSpec("PGD-40", "pgd-l2", {"alpha": 0.5 / 4, "steps": 40, "random_start": True},
                       f"{_NAMID}: L2 PGD-40, step eps/4"),
            AttackSpec("CW-L2", "cw-l2", {"c": 1.0, "kappa": 0.0, "steps": 100, "lr": 0.01},
                       f"{_NAMID}: CW-L2 (Carlini & Wagner 2017; torchattacks CW). NAMID prints no CW "
                       "hyperparameters: c=1, kappa=0, 100 Adam steps of lr 0.01 is mireg's choice. "
                       "Minimum-norm attack: a success counts only within eps",
                       eps_key=None, scaled=(), bounded=False),
            AttackSpec("DDN", "ddn", {"steps": 20},
                       f"{_NAMID}: DDN (Rony et al., CVPR 2019), 20 iterations. Minimum-norm attack: a "
                       "success counts only within eps", eps_key=None, scaled=(), bounded=False),
        ),
    )


@SUITES.register("quick")
def quick_suite() -> Suite:
    """A cheap check during training: PGD-20 and APGD-CE at L-inf 8/255."""
    return Suite(
        name="quick", norm="Linf", eps=_EPS_LINF,
        citation="mireg quick check (not a claim): PGD-20 (Madry et al. 2018) and APGD-CE (Croce & Hein 2020)",
        description="quick L-inf 8/255 check during training: PGD-20 (step 2/255) and APGD-CE (100 iterations)",
        attacks=(
            AttackSpec("PGD-20", "pgd", {"alpha": 2 / 255, "steps": 20, "random_start": True},
                       "PGD-20, step 2/255 (Madry et al. 2018; torchattacks default step)"),
            AttackSpec("APGD-CE", "apgd-ce", {"steps": 100},
                       "APGD-CE, 100 iterations, 1 restart (Croce & Hein, ICML 2020; torchattacks APGD)",
                       scaled=()),
        ),
    )


@SUITES.register("blackbox")
def blackbox_suite() -> Suite:
    """Black-box evaluation at L-inf 8/255: transfer from a surrogate and SPSA."""
    return Suite(
        name="blackbox", norm="Linf", eps=_EPS_LINF,
        citation="Transfer from a separately trained VGG-19 surrogate (NAMID Sec. 5.2) and SPSA (InfoAT Sec. IV)",
        description="black-box L-inf 8/255: PGD-40 transferred from a surrogate, SPSA",
        attacks=(
            AttackSpec("Transfer-PGD-40", "transfer",
                       {"attack": "pgd", "attack_kwargs": {"alpha": _EPS_LINF / 4, "steps": 40,
                                                           "random_start": True}},
                       f"{_NAMID}: black-box transfer, PGD-40 (step eps/4) crafted on a VGG-19 surrogate",
                       scaled=(), steps_keys=(), kind="transfer", needs_surrogate=True),
            AttackSpec("SPSA", "spsa", {"delta": 0.01, "lr": 0.01, "nb_iter": 100, "nb_sample": 128,
                                        "max_batch_size": 64},
                       f"{_INFOAT}: SPSA (Uesato et al., ICML 2018; torchattacks SPSA). InfoAT prints no SPSA "
                       "budget: 100 iterations of 128 samples, delta = lr = 0.01 is mireg's choice",
                       scaled=(), steps_keys=("nb_iter",), kind="black-box"),
        ),
    )


@SUITES.register("robustbench-linf")
def robustbench_linf_suite() -> Suite:
    """The RobustBench L-inf claim: AutoAttack standard at 8/255."""
    return Suite(
        name="robustbench-linf", norm="Linf", eps=_EPS_LINF,
        citation="RobustBench (Croce et al., NeurIPS 2021 D&B): AutoAttack standard, L-inf 8/255",
        description="RobustBench L-inf: AutoAttack standard at 8/255",
        attacks=(_autoattack("Linf", "AutoAttack standard (Croce & Hein, ICML 2020) via pyautoattack"),),
    )


@SUITES.register("robustbench-l2")
def robustbench_l2_suite() -> Suite:
    """The RobustBench L2 claim: AutoAttack standard at 0.5."""
    return Suite(
        name="robustbench-l2", norm="L2", eps=0.5,
        citation="RobustBench (Croce et al., NeurIPS 2021 D&B): AutoAttack standard, L2 0.5",
        description="RobustBench L2: AutoAttack standard at 0.5",
        attacks=(_autoattack("L2", "AutoAttack standard (Croce & Hein, ICML 2020) via pyautoattack"),),
    )
