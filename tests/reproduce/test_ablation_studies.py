"""The papers' ablation studies (mireg.reproduce.ablations): their arms are the registered ablation
methods of the figure they name, every recipe, method and reported column exists, and (slow) the MINE
ablation and NAMID's Eq. 4 arm run through the runner on a tiny budget."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mireg.estimators import load_estimators
from mireg.losses.ablations import ABLATIONS
from mireg.reproduce import Arm, Budget, EstimatorBudget, EvalBudget, get_study, reproduce
from mireg.reproduce.cells import cell_dir, read_cell
from mireg.reproduce.runner import check_available

STUDIES = {"infoat-fig3": ("InfoAT", "Fig. 3b", "Fig. 3c", "Fig. 3d"), "infoat-table1": ("InfoAT", "Table I"),
           "namid-fig5": ("NAMID", "Fig. 5"), "namid-fig7": ("NAMID", "Fig. 7")}


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_each_study_runs_the_ablations_of_its_figure(name):
    study = get_study(name)
    baseline, *figures = STUDIES[name]
    assert study.kind == "ablation" and study.baseline == baseline
    ablation_arms = [arm for arm in study.arms if arm.method in ABLATIONS]
    assert ablation_arms and all(arm.name == arm.method for arm in ablation_arms)
    for arm in ablation_arms:
        assert any(f in ABLATIONS[arm.method].source for f in figures), arm.method
        row = ABLATIONS[arm.method]
        assert arm.needs_estimators == ("estimators" in row.needs)
        if row.estimator_objective is not None:
            assert (arm.estimator_objective or "eq5") == row.estimator_objective
    for budget in ("smoke", "paper"):
        check_available(study, study.budget(budget), study.arms)


def test_the_studies_cover_every_ablation_once():
    arms = [arm.method for name in STUDIES for arm in get_study(name).arms if arm.method in ABLATIONS]
    assert sorted(arms) == sorted(ABLATIONS)


def test_namid_fig5_and_fig7_arms_and_columns_follow_the_paper():
    """NAMID Sec. 4.4: "(i) removing the adversarial MI; (ii) removing the natural MI; and (iii) setting the
    hyperparameter lambda (in Equation (8)) to 0"; Fig. 5 adds "'Standard' denotes Standard AT".
    Fig. 7's axis: "None PGD40 AA TI-DIM"."""
    fig5 = get_study("namid-fig5")
    assert [a.method for a in fig5.arms] == ["namid", "namid-no-adv-mi", "namid-no-nat-mi", "namid-lam0", "at"]
    assert fig5.evaluations[0].suite == "namid-linf"
    assert set(fig5.evaluations[0].columns) == {"PGD-40", "AutoAttack", "FWA-40"}
    fig7 = get_study("namid-fig7")
    assert fig7.evaluations[0].columns == ("PGD-40", "AutoAttack", "TI-DIM")
    assert {a.name: a.estimator_objective for a in fig7.arms} == {"NAMID": None, "namid-mim-estimators": "mim",
                                                                   "AT": None}


def test_arm_estimator_objective_is_checked_and_described():
    with pytest.raises(ValueError, match="estimator_objective"):
        Arm("x", "namid", estimator_objective="mim")          # no estimators
    with pytest.raises(ValueError, match="estimator_objective"):
        Arm("x", "namid", needs_estimators=True, estimator_objective="eq4")
    arms = get_study("namid-fig7").describe("smoke")["settings"]["arms"]
    assert [a.get("estimator_objective") for a in arms] == [None, "mim", None]
    assert all("estimator_objective" not in a for a in get_study("namid-table1").describe("smoke")["settings"]["arms"])


TINY = {"epochs": 1, "lr_milestones": [], "val_size": 100, "batch_size": 128, "steps": 2, "val_steps": 2,
        "channels": 3, "image_size": 8, "model_kwargs": {"width": 4, "hidden": 16}}


def _tiny(name: str) -> object:
    study = get_study(name)
    smoke = study.budget("smoke")
    budget = Budget("smoke", "tiny test budget", smoke.recipes, overrides=TINY,
                    evaluation=EvalBudget(n=16, n_autoattack=8, max_steps=1, eps={"linf": 0.1}, batch_size=64),
                    estimators=EstimatorBudget(epochs=1, batch_size=64, width=16, attack_steps=2))
    return dataclasses.replace(study, budgets=(budget,))


@pytest.mark.slow
def test_namid_fig7_trains_a_second_pair_of_estimators_by_eq4(tmp_path):
    report = reproduce(_tiny("namid-fig7"), "smoke", seeds=[0], methods="namid-mim-estimators", out_dir=tmp_path,
                       progress=False)
    assert report["arms"] == ["namid-mim-estimators"] and not report["failed"]
    assert not (tmp_path / "estimators" / "seed0").exists()        # the budget's eq5 pair was not needed
    _, _, meta = load_estimators(tmp_path / "estimators" / "seed0-mim" / "estimators.pt")
    assert meta["objective"] == "mim"
    assert read_cell(cell_dir(tmp_path, "namid-mim-estimators", 0))["status"] == "done"
    assert "objective `mim`" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_the_mine_ablation_runs_through_the_runner(tmp_path):
    report = reproduce(_tiny("infoat-table1"), "smoke", seeds=[0], methods="infoat-mine-layer2", out_dir=tmp_path,
                       progress=False)
    record = read_cell(cell_dir(tmp_path, "infoat-mine-layer2", 0))
    assert record["status"] == "done" and not report["failed"]
    assert set(record["accuracy"]["linf"]) == {"clean", "PGD-20", "AutoAttack", "worst case"}
    assert json.loads((tmp_path / "study.json").read_text())["kind"] == "ablation"
