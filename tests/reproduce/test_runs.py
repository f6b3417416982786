"""mireg.reproduce with real training on a tiny budget (slow: about a minute on 2 CPU cores): a study
split over two runs and merged gives the one-run report; an interrupted training resumes from its
last.pt; a cell without its cell.json is redone; NAMID's estimators come from the AT model of the seed."""

from __future__ import annotations

import json
import shutil

import pytest

from mireg.reproduce import Arm, Budget, EstimatorBudget, EvalBudget, Evaluation, Study, merge, reproduce, runner
from mireg.reproduce.cells import cell_dir, read_cell

pytestmark = pytest.mark.slow

#: 8x8 digits, a 4-channel CNN, one epoch of 2-step attacks: seconds per cell
TINY = {"epochs": 1, "lr_milestones": [], "val_size": 100, "batch_size": 128, "steps": 2, "val_steps": 2,
        "channels": 3, "image_size": 8, "model_kwargs": {"width": 4, "hidden": 16}}


def tiny_study(**overrides) -> Study:
    budget = Budget("smoke", "tiny test budget", {"AT": "digits-at", "NAMID": "digits-namid"},
                    overrides={**TINY, **overrides},
                    evaluation=EvalBudget(n=16, n_autoattack=8, max_steps=1, eps={"linf": 0.1}, batch_size=64),
                    estimators=EstimatorBudget(epochs=1, batch_size=64, width=16, attack_steps=2))
    return Study("tiny", "a tiny test study", "nobody", "Table 0",
                 (Arm("AT", "at"), Arm("NAMID", "namid", {"mi_weight": 5.0, "lam": 0.1}, needs_estimators=True)),
                 "AT", (Evaluation("linf", "infoat"),), (budget,), estimators_from="AT")


def _without_cost(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "cost"}


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    return out, reproduce(tiny_study(), "smoke", seeds=[0], out_dir=out, device="cpu", progress=False)


def test_split_runs_merge_to_the_one_run_report(one_run, tmp_path):
    out, report = one_run
    assert report["arms"] == ["AT", "NAMID"] and not report["failed"]
    ev = report["evaluations"]["linf"]
    assert ev["points"]["PGD-20"] == [16] and ev["points"]["AutoAttack"] == [8] and ev["points"]["worst case"] == [8]
    part_a = reproduce(tiny_study(), "smoke", seeds=[0], methods="at", out_dir=tmp_path / "a", progress=False)
    part_b = reproduce(tiny_study(), "smoke", seeds=[0], methods="namid", out_dir=tmp_path / "b", progress=False)
    assert part_a["arms"] == ["AT"] and part_b["arms"] == ["NAMID"]
    # the NAMID run trained its AT dependency for the estimators, without reporting it
    assert (cell_dir(tmp_path / "b", "at", 0) / "last.pt").is_file()
    assert read_cell(cell_dir(tmp_path / "b", "at", 0)) is None
    merged = merge([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")
    assert _without_cost(merged) == _without_cost(report)   # training is deterministic on CPU; times are not
    assert merged["cost"].keys() == report["cost"].keys()
    same = [json.loads((d / "estimators" / "seed0" / "estimators.json").read_text())["check"]
            for d in (out, tmp_path / "b")]
    assert same[0] == same[1]


def test_a_cell_without_its_record_is_redone_from_its_checkpoint(one_run, tmp_path):
    out, report = one_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    at_record = (cell_dir(copy, "at", 0) / "cell.json").read_text()
    (cell_dir(copy, "namid", 0) / "cell.json").unlink()
    again = reproduce(tiny_study(), "smoke", seeds=[0], out_dir=copy, progress=False)
    record = read_cell(cell_dir(copy, "namid", 0))
    assert record["cost"]["resumed_after_epoch"] == 1        # training found finished in last.pt
    assert (cell_dir(copy, "at", 0) / "cell.json").read_text() == at_record   # skipped, untouched
    assert _without_cost(again) == _without_cost(report)


class _Stop(Exception):
    pass


def test_an_interrupted_training_resumes_from_last_pt(tmp_path):
    from mireg.train import train

    study = tiny_study(epochs=2)
    whole = reproduce(study, "smoke", seeds=[0], methods="at", out_dir=tmp_path / "whole", progress=False)

    def stop(epoch, row):
        raise _Stop

    run = runner._Run(study, study.budget("smoke"), tmp_path / "cut", "cpu", False)
    runner.prepare_out(run.out, study.describe("smoke"))
    with pytest.raises(_Stop):
        train(run.config(study.arm("AT"), 0), callbacks=[stop])   # stops after epoch 1's checkpoint
    resumed = reproduce(study, "smoke", seeds=[0], methods="at", out_dir=tmp_path / "cut", progress=False)
    assert read_cell(cell_dir(tmp_path / "cut", "at", 0))["cost"]["resumed_after_epoch"] == 1
    assert _without_cost(resumed) == _without_cost(whole)
