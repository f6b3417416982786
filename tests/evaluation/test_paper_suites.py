"""Every entry of the papers' suites against the papers' text (or the reference code where a paper is
silent): one row per entry, with the words it follows. A row fails when a setting drifts from the
text or when the entry's citation stops quoting it.

Sources: NAMID = Zhou et al., ICML 2022 (arXiv:2207.12203, the corrected version committed in
dwDavidxd/MIAT); MIAT = dwDavidxd/MIAT ``test_comparison.py`` at e2bfdbb; InfoAT = Xu et al., IEEE TNNLS
2022, as quoted in mireg issue 12 (the PDF could not be read where these rows were written).
"""

from __future__ import annotations

import pytest

import mireg  # noqa: F401  (registers the attacks)
from mireg.evaluation import get_suite

EPS = 8 / 255
NAMID_40 = "The iteration number of PGD and FWA is set to 40 with step size ϵ/4."
NAMID_20 = "The iteration number of CW2 and DDN are set to 20 respectively with step size 0.01."
NAMID_EPS = "the perturbation budgets for L2-norm attacks [...] are ϵ = 0.5"
INFOAT_STEP = '"PGD with step size ε/4"'
MIAT_FWA = "LinfFWA(eps=8/255, kernel_size=4, lr=0.007, nb_iter=40, dual_max_iter=15, grad_tol=1e-4, int_tol=1e-4)"
MIAT_TIDIM = "TIDIM_Attack(eps=8/255, steps=40, step_size=0.007, momentum=0.1, prob=0.5, low=32, high=32)"
MIAT_CW = "confidence=1, initial_const=1"
MIAT_DDN = "DDNL2Attack(nb_iter=20, gamma=0.05, init_norm=1.0"
MIAT_AA = "AutoAttack(model, norm='Linf', eps=8/255, version='standard')"
ATHALYE = "Athalye, Carlini & Wagner, ICML 2018, Sec. 4.1"
AA_STANDARD = {"norm": "Linf", "version": "standard", "n_iter": 100, "n_queries": 5000}

# (suite, label, registered attack, settings at the suite's eps, restarts, bounded, threat, the words it follows)
ROWS = [
    ("infoat", "FGSM", "fgsm", {"eps": EPS}, 1, True, "norm", "one step of size eps"),
    ("infoat", "PGD-20", "pgd", {"eps": EPS, "alpha": EPS / 4, "steps": 20, "random_start": True}, 1, True, "norm",
     INFOAT_STEP),
    ("infoat", "PGD-100", "pgd", {"eps": EPS, "alpha": EPS / 4, "steps": 100, "random_start": True}, 1, True,
     "norm", INFOAT_STEP),
    ("infoat", "PGD+", "pgd", {"eps": EPS, "alpha": 0.01, "steps": 40, "random_start": True}, 5, True, "norm",
     "5 random restarts of 40 steps of 0.01"),
    ("infoat", "CW-inf-20", "cw-inf", {"eps": EPS, "alpha": EPS / 4, "steps": 20, "random_start": True}, 1, True,
     "norm", INFOAT_STEP),
    ("infoat", "CW-inf-100", "cw-inf", {"eps": EPS, "alpha": EPS / 4, "steps": 100, "random_start": True}, 1, True,
     "norm", INFOAT_STEP),
    ("infoat", "InfoPGD-20", "infopgd", {"eps": EPS, "alpha": EPS / 4, "steps": 20, "random_start": True}, 1, True,
     "norm", INFOAT_STEP),
    ("infoat", "AutoAttack", "autoattack", {"eps": EPS, **AA_STANDARD}, 1, True, "norm", "AutoAttack standard"),
    ("infoat", "BPDA", "bpda-pgd", {"eps": EPS, "alpha": EPS / 4, "steps": 20, "random_start": True, "levels": 256},
     1, True, "norm", ATHALYE),
    ("namid-linf", "PGD-40", "pgd", {"eps": EPS, "alpha": EPS / 4, "steps": 40, "random_start": True}, 1, True,
     "norm", NAMID_40),
    ("namid-linf", "AutoAttack", "autoattack", {"eps": EPS, **AA_STANDARD}, 1, True, "norm", MIAT_AA),
    ("namid-linf", "FWA-40", "wasserstein-pgd", {"eps": EPS, "alpha": 0.007, "steps": 40, "kernel_size": 4,
                                                 "dual_max_iter": 15, "grad_tol": 1e-4, "int_tol": 1e-4},
     1, True, "wasserstein", MIAT_FWA),
    ("namid-linf", "TI-DIM", "ti-dim", {"eps": EPS, "alpha": 0.007, "steps": 40, "decay": 0.1, "len_kernel": 15,
                                        "nsig": 3.0, "diversity_prob": 0.5, "resize_rate": 1.0, "random_start": False},
     1, True, "norm", MIAT_TIDIM),
    ("namid-l2", "PGD-40", "pgd-l2", {"eps": 0.5, "alpha": 0.5 / 4, "steps": 40, "random_start": True}, 1, True,
     "norm", NAMID_40),
    ("namid-l2", "CW-L2", "cw-l2", {"c": 1.0, "kappa": 1.0, "steps": 20, "lr": 0.01}, 1, False, "norm", NAMID_20),
    ("namid-l2", "DDN", "ddn", {"steps": 20, "alpha": 1.0, "alpha_min": 0.01, "gamma": 0.05, "init_norm": 1.0,
                                "levels": None}, 1, False, "norm", NAMID_20),
]
#: the reference code (or the paper's budget sentence) a row also follows, where its citation must name it
ALSO_CITED = {("namid-l2", "CW-L2"): MIAT_CW, ("namid-l2", "DDN"): MIAT_DDN, ("namid-l2", "PGD-40"): NAMID_EPS,
              ("namid-linf", "FWA-40"): NAMID_40}


@pytest.mark.parametrize(("suite", "label", "attack", "settings", "restarts", "bounded", "threat", "words"), ROWS,
                         ids=[f"{r[0]}:{r[1]}" for r in ROWS])
def test_entry_follows_the_text(suite, label, attack, settings, restarts, bounded, threat, words):
    entry = {e.label: e for e in get_suite(suite).resolve()}[label]
    assert entry.spec.attack == attack
    assert dict(entry.kwargs) == pytest.approx(settings)
    assert (entry.spec.restarts, entry.spec.bounded, entry.spec.threat) == (restarts, bounded, threat)
    assert words in entry.spec.citation
    assert ALSO_CITED.get((suite, label), "") in entry.spec.citation


@pytest.mark.parametrize("suite", ["infoat", "namid-linf", "namid-l2"])
def test_every_entry_has_a_row_and_the_suite_names_its_table(suite):
    s = get_suite(suite)
    assert s.labels == [r[1] for r in ROWS if r[0] == suite]
    assert ("Table II" if suite == "infoat" else "Sec. 4.3, Table 1") in s.citation


def test_silent_papers_say_so_and_what_mireg_chose():
    cites = {(n, a.label): a.citation for n in ("infoat", "namid-linf", "namid-l2") for a in get_suite(n).attacks}
    assert "gives no BPDA settings" in cites["infoat", "BPDA"] and "mireg's choice" in cites["infoat", "BPDA"]
    assert "prints no TI-DIM settings" in cites["namid-linf", "TI-DIM"]
    assert "start is not printed" in cites["namid-linf", "PGD-40"]
    assert "c and kappa are not printed" in cites["namid-l2", "CW-L2"]
    assert "could not be re-read" in cites["infoat", "PGD-20"]
    assert not any("prints no step size" in c for c in cites.values())
    assert "not Frank-Wolfe" in cites["namid-linf", "FWA-40"] and "not bounded" in cites["namid-linf", "FWA-40"]


def test_eps_scaling_keeps_the_ratios_of_the_text():
    half = {e.label: e.kwargs for e in get_suite("infoat").resolve(eps=4 / 255)}
    assert half["PGD-20"]["alpha"] == pytest.approx(1 / 255) and half["BPDA"]["alpha"] == pytest.approx(1 / 255)
    fwa = {e.label: e.kwargs for e in get_suite("namid-linf").resolve(eps=0.1)}["FWA-40"]
    assert fwa["eps"] == 0.1 and fwa["alpha"] == 0.007  # the plan step is not in image units: not scaled
