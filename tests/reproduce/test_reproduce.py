"""mireg.reproduce: statistics on fixed inputs, studies and their validation, resumability (with the
training and evaluation replaced by fakes), the report, merge and the command line. No training here:
the runs with real training are in test_reproduce_runs.py (slow)."""

from __future__ import annotations

import argparse
import ast
import json
import math
from pathlib import Path

import pytest

from mireg.cli import reproduce as reproduce_cli
from mireg.evaluation import get_suite
from mireg.reproduce import (
    Arm,
    Budget,
    EstimatorBudget,
    EvalBudget,
    Evaluation,
    Study,
    build_report,
    get_study,
    merge,
    paired_difference,
    reproduce,
    runner,
    summarize,
    t_quantile,
    write_report,
)
from mireg.reproduce.cells import CELL_FORMAT, cell_dir, find_cells, prepare_out, train_fingerprint, write_json
from mireg.reproduce.render import format_paired, format_summary, render_markdown
from mireg.reproduce.stats import t_cdf

# ---------------------------------------------------------------------------------------------
# statistics


@pytest.mark.parametrize("p, df, expected", [
    (0.975, 4, 2.776), (0.975, 9, 2.262), (0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 30, 2.042),
    (0.95, 10, 1.812), (0.995, 3, 5.841), (0.9, 5, 1.476)])
def test_t_quantile_matches_printed_tables(p, df, expected):
    assert round(t_quantile(p, df), 3) == expected


@pytest.mark.parametrize("p", [0.55, 0.7, 0.9, 0.975, 0.999])
def test_t_quantile_closed_forms_for_one_and_two_degrees_of_freedom(p):
    assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9)
    assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-9)
    assert t_quantile(1 - p, 7) == pytest.approx(-t_quantile(p, 7), rel=1e-12)
    assert t_cdf(t_quantile(p, 7.5), 7.5) == pytest.approx(p, abs=1e-10)


def test_t_quantile_tends_to_the_normal_quantile():
    assert t_quantile(0.975, 1e6) == pytest.approx(1.959964, abs=1e-5)
    assert t_quantile(0.5, 3) == 0.0


@pytest.mark.parametrize("p, df", [(0.0, 3), (1.0, 3), (0.9, 0), (0.9, -1), (True, 3), (0.9, float("inf"))])
def test_t_quantile_rejects_bad_arguments(p, df):
    with pytest.raises(ValueError):
        t_quantile(p, df)


def test_summarize_by_hand():
    s = summarize([70.0, 72.0, 71.0])          # mean 71; deviations -1, 1, 0 -> var 2/2 = 1
    assert s["mean"] == pytest.approx(71.0) and s["std"] == pytest.approx(1.0) and s["n"] == 3
    assert summarize([5.0]) == {"mean": 5.0, "std": None, "n": 1}
    assert summarize([]) == {"mean": None, "std": None, "n": 0}


def test_paired_difference_by_hand():
    # seed 3 has no pair and is left out; d = 2, 1, 3: mean 2, sd 1, half width t_{0.975,2} / sqrt(3)
    d = paired_difference({0: 80.0, 1: 82.0, 2: 85.0}, {0: 78.0, 1: 81.0, 2: 82.0, 3: 90.0})
    half = 4.302653 / math.sqrt(3)
    assert d["seeds"] == [0, 1, 2] and d["n"] == 3
    assert d["mean"] == pytest.approx(2.0) and d["std"] == pytest.approx(1.0)
    assert d["low"] == pytest.approx(2.0 - half, abs=1e-5) and d["high"] == pytest.approx(2.0 + half, abs=1e-5)
    single = paired_difference({0: 1.0}, {0: 0.5})
    assert single["mean"] == 0.5 and single["low"] is None and single["high"] is None


# ---------------------------------------------------------------------------------------------
# studies

def test_registered_tables():
    infoat = get_study("infoat-table2")
    assert [a.name for a in infoat.arms] == ["AT", "TRADES", "MART", "MART+", "InfoAT"]
    assert [e.suite for e in infoat.evaluations] == ["infoat"] and infoat.baseline == "AT"
    namid = get_study("namid-table1")
    assert [a.name for a in namid.arms] == ["AT", "WMIM", "NAMID", "TRADES", "NAMID_T", "MART", "NAMID_M"]
    assert [e.suite for e in namid.evaluations] == ["namid-linf", "namid-l2"]
    assert {a.name for a in namid.arms if a.needs_estimators} == {"NAMID", "NAMID_T", "NAMID_M"}
    assert namid.estimators_from == "AT"
    for study in (infoat, namid):
        assert [b.name for b in study.budgets] == ["smoke", "fast", "paper"]
        assert all(r.startswith("digits-") for r in study.budget("smoke").recipes.values())
        assert all(r.startswith("fast-") for r in study.budget("fast").recipes.values())
        # every reported column is a label of the evaluation's suite
        for e in study.evaluations:
            assert set(e.paper["AT"]) - {"clean"} <= set(get_suite(e.suite).labels), e.name
    # InfoAT's Table II could not be read: no number is invented, and the report says why
    assert all(v is None for e in infoat.evaluations for row in e.paper.values() for v in row.values())
    assert "could not be read" in infoat.evaluations[0].paper_note
    assert "NOT COMPARABLE" in namid.evaluations[1].paper_note


# NAMID App. E.2, Tables 3 (L-inf) and 4 (L2), CIFAR-10 rows as printed (mean ± std); Table 1 prints the means.
NAMID_TABLE3 = """Standard 83.39±0.95 42.38±0.56 39.01±0.51 15.44±0.32 55.63±0.67
WMIM 80.32±0.60 40.76±0.45 36.05±0.57 12.14±0.46 53.10±0.53
NAMID 83.41±0.56 44.79±0.50 39.26±0.56 15.67±0.47 58.23±0.63
TRADES 80.70±0.63 46.29±0.59 42.71±0.49 20.54±0.47 57.06±0.51
NAMID T 80.67±0.73 47.53±0.59 43.39±0.83 21.17±0.44 59.13±0.72
MART 78.21±0.65 50.23±0.70 43.96±0.67 25.56±0.61 58.62±0.65
NAMID M 78.38±0.68 51.69±0.51 44.42±0.71 25.64±0.49 61.26±0.67"""
NAMID_TABLE4 = """Standard 83.97±0.51 61.69±0.74 30.96±0.53 29.34±0.70
WMIM 81.29±0.73 58.36±0.51 28.41±0.47 27.13±0.54
NAMID 84.35±0.76 62.38±0.70 34.48±0.58 32.41±0.69
TRADES 83.72±0.66 63.17±0.43 33.81±0.71 32.06±0.75
NAMID T 84.19±0.56 64.75±0.84 35.41±0.65 34.27±0.75
MART 83.36±0.47 65.38±0.49 35.57±0.66 34.69±0.62
NAMID M 84.07±0.65 66.03±0.53 36.19±0.46 35.76±0.69"""


@pytest.mark.parametrize(("evaluation", "printed", "columns"), [
    ("linf", NAMID_TABLE3, ("clean", "PGD-40", "AutoAttack", "FWA-40", "TI-DIM")),
    ("l2", NAMID_TABLE4, ("clean", "PGD-40", "CW-L2", "DDN")),
])
def test_namid_paper_numbers_are_the_printed_ones(evaluation, printed, columns):
    paper = {e.name: e.paper for e in get_study("namid-table1").evaluations}[evaluation]
    names = {"Standard": "AT", "NAMID T": "NAMID_T", "NAMID M": "NAMID_M"}
    for line in printed.splitlines():
        cells = line.split()
        name = " ".join(c for c in cells if "±" not in c)
        means = [float(c.split("±")[0]) for c in cells if "±" in c]
        assert dict(paper[names.get(name, name)]) == dict(zip(columns, means, strict=True)), name
    assert set(paper) == {"AT", "WMIM", "NAMID", "TRADES", "NAMID_T", "MART", "NAMID_M"}


def test_paper_budgets_use_registered_paper_recipes():
    from mireg.registry import RECIPES

    for name in ("infoat-table2", "namid-table1"):
        study = get_study(name)
        runner.check_available(study, study.budget("paper"), study.arms)
        assert all(r in RECIPES for r in study.budget("paper").recipes.values())


@pytest.mark.parametrize("budget", ["smoke", "paper"])
def test_each_arm_trains_with_its_methods_weights(budget):
    from mireg.train import build_config

    def configs_of(study):
        return {a.name: build_config(recipe, overrides=overrides) for a in study.arms
                for recipe, overrides in [study.train_settings(a, budget)]}

    study = get_study("namid-table1")
    configs = configs_of(study)
    assert {n: c.method for n, c in configs.items()} == {a.name: a.method for a in study.arms}
    for name in ("NAMID", "NAMID_T", "NAMID_M"):
        assert (configs[name].mi_weight, configs[name].lam) == (5.0, 0.1)
    for name in ("AT", "WMIM", "TRADES", "MART"):
        assert (configs[name].mi_weight, configs[name].lam) == (None, None)
    assert configs["TRADES"].beta == configs["NAMID_T"].beta == configs["MART"].beta == 6.0
    infoat = get_study("infoat-table2")
    configs = configs_of(infoat)
    assert (configs["InfoAT"].lam, configs["InfoAT"].beta) == (2.5, 0.2)
    assert (configs["TRADES"].beta, configs["MART"].beta, configs["MART+"].beta) == (6.0, 5.0, 5.0)
    assert len({(c.epochs, c.model, c.dataset, c.eps, c.alpha) for c in configs.values()}) == 1  # one budget
    if budget == "paper":  # InfoAT's training attack for every method: eps 8/255, step eps/4, uniform start
        assert (configs["AT"].eps, configs["AT"].alpha) == (8 / 255, 2 / 255)
        for name in ("MART", "MART+", "InfoAT"):
            assert configs[name].attack_kwargs == {"random_start": "uniform"}, name


def test_unknown_names_are_clear_value_errors():
    with pytest.raises(ValueError, match="unknown study 'infoat-table3'.*infoat-table2"):
        get_study("infoat-table3")
    study = get_study("infoat-table2")
    with pytest.raises(ValueError, match="unknown budget 'tiny'.*smoke, fast, paper"):
        study.budget("tiny")
    with pytest.raises(ValueError, match="no method 'namid'.*at, trades, mart, mart\\+, infoat"):
        study.select("at,namid")
    assert [a.name for a in study.select("infoat, AT")] == ["AT", "InfoAT"]
    with pytest.raises(ValueError, match="at least one"):
        study.select(",")


def test_fast_budget_uses_registered_recipes_and_fails_clearly_without_one(monkeypatch):
    from mireg.registry import RECIPES

    study = get_study("infoat-table2")
    assert study.budget("fast").recipes["InfoAT"] == "fast-infoat-resnet18"
    assert all(name in RECIPES for name in study.budget("fast").recipes.values())
    entries = {k: v for k, v in RECIPES._entries.items() if k != "fast-at-resnet18"}
    monkeypatch.setattr(RECIPES, "_entries", entries)
    with pytest.raises(ValueError, match="recipe 'fast-at-resnet18'.*not registered.*--budget smoke"):
        reproduce("infoat-table2", "fast", seeds=1, out_dir="unused")


def _budget(name="smoke", recipes=None, **kw):
    return Budget(name, "test budget", recipes or {"AT": "digits-at", "InfoAT": "digits-infoat"}, **kw)


def _study(**kw):
    args = dict(name="t", title="test study", paper="nobody", reproduces="Table 0",
                arms=(Arm("AT", "at"), Arm("InfoAT", "infoat", {"lam": 2.0})), baseline="AT",
                evaluations=(Evaluation("linf", "quick"),), budgets=(_budget(),))
    args.update(kw)
    return Study(**args)


@pytest.mark.parametrize("change, message", [
    ({"arms": (Arm("AT", "at"), Arm("at", "trades"))}, "arm names must be unique"),
    ({"baseline": "MART"}, "baseline names unknown arms \\['MART'\\]"),
    ({"budgets": (_budget(recipes={"AT": "digits-at"}),)}, "no recipe for \\['InfoAT'\\]"),
    ({"budgets": (_budget(arm_overrides={"PGD": {}}),)}, "arm_overrides names unknown arms"),
    ({"evaluations": (Evaluation("linf", "quick", paper={"NAMID": {}}),)}, "paper numbers.*unknown arms"),
    ({"arms": (Arm("AT", "at"), Arm("InfoAT", "namid", needs_estimators=True))}, "estimators_from"),
    ({"kind": "figure"}, "kind must be"),
])
def test_study_validation(change, message):
    with pytest.raises(ValueError, match=message):
        _study(**change)


def test_budget_and_evaluation_budget_validation():
    with pytest.raises(ValueError, match="budget name"):
        _budget(name="huge")
    with pytest.raises(ValueError, match="n_autoattack=50 must not exceed n=10"):
        EvalBudget(n=10, n_autoattack=50)
    with pytest.raises(ValueError, match="max_steps"):
        EvalBudget(max_steps=0)
    with pytest.raises(ValueError, match="select"):
        EvalBudget(select="first")
    with pytest.raises(ValueError, match="needs estimator settings"):
        _study(arms=(Arm("AT", "at"), Arm("InfoAT", "namid", needs_estimators=True)), estimators_from="AT")


def test_training_settings_precedence():
    study = _study(budgets=(_budget(overrides={"epochs": 3, "lam": 1.0, "beta": 0.5},
                                    arm_overrides={"InfoAT": {"beta": 0.1}}),))
    recipe, overrides = study.train_settings(study.arm("infoat"), "smoke")
    assert recipe == "digits-infoat"
    assert overrides == {"epochs": 3, "lam": 2.0, "beta": 0.1, "method": "infoat"}


def test_check_available_rejects_columns_the_suite_lacks():
    study = _study(evaluations=(Evaluation("linf", "quick", columns=("PGD-20", "BPDA")),))
    with pytest.raises(ValueError, match="reports \\['BPDA'\\].*suite 'quick'"):
        runner.check_available(study, study.budget("smoke"), study.arms)


def test_seed_list():
    assert runner.seed_list(3) == [0, 1, 2]
    assert runner.seed_list([4, 1]) == [1, 4]
    for bad in (0, [], [1, 1], [-1]):
        with pytest.raises(ValueError):
            runner.seed_list(bad)
    with pytest.raises(TypeError):
        runner.seed_list("5")


# ---------------------------------------------------------------------------------------------
# report and merge, on cell records with fixed numbers

ACCURACY = {  # (arm, seed) -> clean, PGD-20, APGD-CE, worst case (fractions)
    ("AT", 0): (0.90, 0.60, 0.58, 0.57), ("AT", 1): (0.92, 0.62, 0.60, 0.59), ("AT", 2): (0.94, 0.64, 0.61, 0.60),
    ("InfoAT", 0): (0.91, 0.63, 0.60, 0.60), ("InfoAT", 1): (0.90, 0.66, 0.61, 0.61),
    ("InfoAT", 2): (0.95, 0.66, 0.65, 0.64),
}
COLUMNS = ("clean", "PGD-20", "APGD-CE", "worst case")


def _report_study(**kw) -> Study:
    paper = {"AT": {"PGD-20": 47.5, "clean": None}, "InfoAT": {"BPDA": 50.0}}
    kw.setdefault("budgets", (_budget(evaluation=EvalBudget(n=10, max_steps=5, eps={"linf": 0.1})),))
    return _study(evaluations=(Evaluation("linf", "quick", paper=paper),), **kw)


@pytest.fixture
def drawing():
    """Requested by the tests that draw the report's figures."""


@pytest.fixture(autouse=True)
def _no_plots(request, monkeypatch):
    """Drawing takes seconds on a shared CPU: only the tests that request ``drawing`` draw."""
    if "drawing" not in request.fixturenames:
        monkeypatch.setattr("mireg.reproduce.plots.plot_report", lambda report, directory: [])


def _record(arm: str, seed: int, status: str = "done") -> dict:
    done = status == "done"
    return {
        "format": CELL_FORMAT, "study": "t", "budget": "smoke", "arm": arm, "method": arm.lower(), "seed": seed,
        "status": status, "error": None if done else "training loss became NaN or inf in epoch 2",
        "train": {"method": arm.lower()}, "selected_epoch": 2 if done else None,
        "evaluation": {"linf": {"suite": "quick", "norm": "Linf", "eps": 0.1, "n": 10, "n_autoattack": None,
                                "max_steps": 5, "attacks": ["PGD-20", "APGD-CE"], "seconds": 1.5}} if done else {},
        "accuracy": {"linf": dict(zip(COLUMNS, ACCURACY[arm, seed], strict=True))} if done else {},
        "n": {"linf": dict.fromkeys(COLUMNS, 10)} if done else {},
        "failed_checks": {"linf": ["orderings: APGD-CE above PGD-20"] if (arm, seed) == ("AT", 2) else []},
        "cost": {"train_seconds": 10.0 + seed, "images_per_second": 100.0 * (seed + 1), "wall_seconds": 12.0,
                 "epochs": 2, "resumed_after_epoch": 0, "device": "cpu", "estimator_seconds": None}}


def _folder(path: Path, cells, study: Study | None = None) -> Path:
    study = study or _report_study()
    prepare_out(path, study.describe("smoke"))
    for arm, seed, *status in cells:
        write_json(cell_dir(path, arm.lower(), seed) / "cell.json", _record(arm, seed, *status))
    return path


ALL = [(arm, seed) for arm in ("AT", "InfoAT") for seed in range(3)]


def test_report_statistics_by_hand(tmp_path):
    report = build_report(_report_study().describe("smoke"), find_cells(_folder(tmp_path, ALL)))
    ev = report["evaluations"]["linf"]
    assert ev["columns"] == list(COLUMNS)
    pgd = ev["summary"]["AT"]["PGD-20"]                    # 60, 62, 64 percent
    assert pgd["mean"] == pytest.approx(62.0) and pgd["std"] == pytest.approx(2.0) and pgd["n"] == 3
    assert pgd["values"] == {"0": pytest.approx(60.0), "1": pytest.approx(62.0), "2": pytest.approx(64.0)}
    d = ev["paired"]["InfoAT"]["PGD-20"]                   # differences 3, 4, 2: mean 3, sd 1
    half = 4.302653 / math.sqrt(3)
    assert d["mean"] == pytest.approx(3.0) and d["std"] == pytest.approx(1.0)
    assert (d["low"], d["high"]) == (pytest.approx(3 - half, abs=1e-5), pytest.approx(3 + half, abs=1e-5))
    assert "AT" not in ev["paired"]
    assert ev["paper"]["AT"]["PGD-20"] == 47.5 and ev["paper"]["InfoAT"]["PGD-20"] is None
    assert ev["paper_only_columns"] == ["BPDA"]
    assert ev["points"]["PGD-20"] == [10]
    assert report["cost"]["AT"]["train_seconds"]["mean"] == pytest.approx(11.0)
    assert report["failed_checks"] == [{"arm": "AT", "seed": 2, "evaluation": "linf",
                                        "checks": ["orderings: APGD-CE above PGD-20"]}]


def test_failed_cells_are_listed_and_left_out_of_the_statistics(tmp_path):
    folder = _folder(tmp_path, [("AT", 0), ("AT", 1), ("InfoAT", 0), ("InfoAT", 1, "failed")])
    report = build_report(_report_study().describe("smoke"), find_cells(folder))
    assert report["failed"] == [{"arm": "InfoAT", "seed": 1,
                                 "error": "training loss became NaN or inf in epoch 2"}]
    assert report["evaluations"]["linf"]["summary"]["InfoAT"]["PGD-20"]["n"] == 1
    assert report["evaluations"]["linf"]["paired"]["InfoAT"]["PGD-20"]["seeds"] == [0]


def test_markdown_states_the_budget_the_paper_and_the_intervals(tmp_path, drawing):
    report = write_report(_folder(tmp_path, ALL))
    text = (tmp_path / "report.md").read_text()
    assert "**Budget `smoke`**: test budget." in text
    assert "Reduced evaluation budget" in text and "capped at 5" in text
    assert "| AT | 92.0 ± 2.0 (3) | 62.0 ± 2.0 (3) |" in text
    assert "| AT (paper) | — | 47.5 | — | — |" in text
    assert "| InfoAT | +0.0 [-4.3, +4.3] (3) | +3.0 [+0.5, +5.5] (3) |" in text   # clean: d = 1, -2, 1
    assert "without a mireg suite entry: BPDA" in text
    assert "APGD-CE above PGD-20" in text
    assert "Linf eps = 0.1" in text and "digits-infoat" in text
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(json.dumps(report))
    for name in ("linf.png", "linf-paired.png"):
        assert (tmp_path / name).stat().st_size > 1000 and f"]({name})" in text


def test_missing_paper_numbers_are_said_with_their_reason(tmp_path):
    study = _study(evaluations=(Evaluation("linf", "quick", paper_note="the PDF could not be read"),))
    text = render_markdown(build_report(study.describe("smoke"), find_cells(_folder(tmp_path, ALL, study))))
    assert "**Paper numbers not available**: the PDF could not be read." in text
    bare = render_markdown(build_report(_study().describe("smoke"), []))
    assert "**Paper numbers not available**: none recorded in the study." in bare


def test_a_folder_evaluated_with_other_suite_settings_is_refused(tmp_path):
    description = _study().describe("smoke")
    attacks = description["settings"]["evaluations"][0]["attacks"]
    assert [a["label"] for a in attacks] == get_suite("quick").labels and "citation" not in attacks[0]
    prepare_out(tmp_path, description)
    attacks[0]["kwargs"]["steps"] = 7  # as if the suite's PGD-20 had changed since the folder was made
    with pytest.raises(ValueError, match="other settings"):
        prepare_out(tmp_path, description)


def test_formatting_of_missing_values():
    assert format_summary({"mean": None, "std": None, "n": 0}) == "—"
    assert format_summary({"mean": 50.0, "std": None, "n": 1}) == "50.0 (1)"
    assert format_paired({"mean": 1.25, "low": None, "high": None, "n": 1}) == "+1.2 (1)"
    assert "no methods" not in render_markdown(build_report(_report_study().describe("smoke"), []))


def test_merge_of_split_folders_equals_the_one_run_report(tmp_path):
    one = write_report(_folder(tmp_path / "one", ALL))
    _folder(tmp_path / "a", [c for c in ALL if c[0] == "AT"])
    _folder(tmp_path / "b", [c for c in ALL if c[0] == "InfoAT"])
    merged = merge([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")
    assert merged == one
    assert (tmp_path / "merged" / "report.md").read_text() == (tmp_path / "one" / "report.md").read_text()
    # a merged folder merges again
    assert merge([tmp_path / "merged"], tmp_path / "again") == one


def test_merge_takes_a_repeated_cell_from_the_first_folder_and_says_so(tmp_path):
    _folder(tmp_path / "a", [("AT", 0)])
    _folder(tmp_path / "b", [("AT", 0), ("InfoAT", 0)])
    report = merge([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    assert len(report["cells"]) == 2
    assert report["notes"] == ["AT seed 0 is in a and b: the cell of a is used"]


def test_merge_refuses_other_settings_and_its_own_inputs(tmp_path):
    _folder(tmp_path / "a", [("AT", 0)])
    other = _report_study(arms=(Arm("AT", "at"), Arm("InfoAT", "infoat", {"lam": 9.0})))
    _folder(tmp_path / "b", [("InfoAT", 0)], study=other)
    with pytest.raises(ValueError, match="another study, budget or settings"):
        merge([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    with pytest.raises(ValueError, match="must not be one of the folders merged"):
        merge([tmp_path / "a"], tmp_path / "a")
    with pytest.raises(ValueError, match="not a 'mireg reproduce' output folder"):
        merge([tmp_path / "nothing"], tmp_path / "m2")


# ---------------------------------------------------------------------------------------------
# resumability: the training and the evaluation replaced by fakes that count their calls

class _FakeResult:
    history = [{"epoch": 1, "train_seconds": 2.0, "images_per_second": 50.0}]


@pytest.fixture
def fake_work(monkeypatch):
    calls = []

    def fake_train(run, arm, seed, config):
        calls.append((arm.name, seed))
        return _FakeResult(), {"train_seconds": 2.0, "images_per_second": 50.0, "wall_seconds": 3.0, "epochs": 1,
                               "resumed_after_epoch": 0, "device": "cpu"}

    def fake_evaluate(result, study, budget, seed, directory, progress=True):
        acc = dict(zip(COLUMNS, ACCURACY["AT", seed], strict=True))
        return {"selected_epoch": 1, "accuracy": {"linf": acc}, "n": {"linf": dict.fromkeys(COLUMNS, 10)},
                "failed_checks": {"linf": []},
                "evaluation": {"linf": {"suite": "quick", "attacks": ["PGD-20", "APGD-CE"], "seconds": 1.0}}}

    monkeypatch.setattr(runner, "_train", fake_train)
    monkeypatch.setattr(runner, "evaluate_cell", fake_evaluate)
    return calls


def test_finished_cells_are_skipped_and_incomplete_ones_redone(tmp_path, fake_work):
    study = _report_study()
    report = reproduce(study, "smoke", seeds=2, out_dir=tmp_path, device="cpu", progress=False)
    assert sorted(fake_work) == [("AT", 0), ("AT", 1), ("InfoAT", 0), ("InfoAT", 1)]
    assert len(report["cells"]) == 4
    fake_work.clear()
    reproduce(study, "smoke", seeds=2, out_dir=tmp_path, device="cpu", progress=False)
    assert fake_work == []                                   # everything finished: nothing redone
    record_path = cell_dir(tmp_path, "infoat", 1) / "cell.json"
    record = json.loads(record_path.read_text())
    del record["cost"]                                       # a cell.json without every key is not finished
    record_path.write_text(json.dumps(record))
    (cell_dir(tmp_path, "at", 0) / "cell.json").write_text('{"format": "mireg-reproduce-cell/1", "stat')
    reproduce(study, "smoke", seeds=2, out_dir=tmp_path, device="cpu", progress=False)
    assert sorted(fake_work) == [("AT", 0), ("InfoAT", 1)]
    assert "cost" in json.loads(record_path.read_text())


def test_a_failed_training_is_recorded_not_retried(tmp_path, fake_work, monkeypatch):
    def diverge(run, arm, seed, config):
        fake_work.append((arm.name, seed))
        return "training loss became NaN or inf in epoch 1", {"epochs": 0, "device": "cpu"}

    monkeypatch.setattr(runner, "_train", diverge)
    report = reproduce(_report_study(), "smoke", seeds=1, methods="infoat", out_dir=tmp_path, progress=False)
    assert report["failed"] == [{"arm": "InfoAT", "seed": 0, "error": "training loss became NaN or inf in epoch 1"}]
    reproduce(_report_study(), "smoke", seeds=1, methods="infoat", out_dir=tmp_path, progress=False)
    assert fake_work == [("InfoAT", 0)]


def test_an_output_folder_of_other_settings_is_refused(tmp_path, fake_work):
    reproduce(_report_study(), "smoke", seeds=1, methods="at", out_dir=tmp_path, progress=False)
    other = _report_study(budgets=(_budget(overrides={"epochs": 7}, evaluation=EvalBudget(n=10, max_steps=5)),))
    with pytest.raises(ValueError, match="other settings than requested now"):
        reproduce(other, "smoke", seeds=1, methods="at", out_dir=tmp_path, progress=False)


def test_a_cell_trained_with_other_settings_is_refused(tmp_path, fake_work):
    reproduce(_report_study(), "smoke", seeds=1, methods="at", out_dir=tmp_path, progress=False)
    path = cell_dir(tmp_path, "at", 0) / "cell.json"
    record = json.loads(path.read_text())
    record["train"] = {**record["train"], "lr": 123.0}
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="trained with other settings \\(lr\\)"):
        reproduce(_report_study(), "smoke", seeds=1, methods="at", out_dir=tmp_path, progress=False)


def test_the_record_keeps_the_training_fingerprint(tmp_path, fake_work):
    reproduce(_report_study(), "smoke", seeds=1, methods="infoat", out_dir=tmp_path, progress=False)
    record = json.loads((cell_dir(tmp_path, "infoat", 0) / "cell.json").read_text())
    assert record["train"]["method"] == "infoat" and record["train"]["lam"] == 2.0 and record["train"]["seed"] == 0
    assert "device" not in record["train"] and "out_dir" not in record["train"]
    assert train_fingerprint({"device": "cuda", "lr": 0.1}) == {"lr": 0.1}


# ---------------------------------------------------------------------------------------------
# command line

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mireg")
    reproduce_cli.add_parser(parser.add_subparsers())
    return parser


def test_cli_module_imports_no_torch_at_module_level():
    tree = ast.parse(Path(reproduce_cli.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in top if isinstance(n, ast.ImportFrom)}
    assert modules <= {"__future__", "argparse", "sys", "typing"}


def test_cli_parses_the_documented_commands(capsys):
    args = _parser().parse_args(["reproduce", "infoat-table2", "--budget", "smoke", "--seeds", "5",
                                 "--methods", "at,infoat", "--out", "runs/x", "--device", "cpu"])
    assert (args.study, args.budget, args.seeds, args.methods, args.out) == ("infoat-table2", "smoke", 5, "at,infoat",
                                                                             "runs/x")
    assert _parser().parse_args(["reproduce", "namid-table1", "--seeds", "5,7"]).seeds == [5, 7]
    with pytest.raises(SystemExit):
        _parser().parse_args(["reproduce", "x", "--seeds", "0"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["reproduce", "x", "--budget", "huge"])
    help_text = reproduce_cli.EXAMPLES
    for example in ("--budget smoke --seeds 5", "--methods at,trades,mart", "mireg reproduce merge runs/a runs/b",
                    "--list", "--device cuda"):
        assert example in help_text


def test_cli_list_and_merge(tmp_path, capsys):
    parser = _parser()
    assert reproduce_cli.run(parser.parse_args(["reproduce", "--list"])) == 0
    listing = capsys.readouterr().out
    assert "infoat-table2" in listing and "namid-table1" in listing and "namid_t" in listing
    _folder(tmp_path / "a", [c for c in ALL if c[0] == "AT"])
    _folder(tmp_path / "b", [c for c in ALL if c[0] == "InfoAT"])
    args = parser.parse_args(["reproduce", "merge", str(tmp_path / "a"), str(tmp_path / "b"),
                              "--out", str(tmp_path / "m")])
    assert reproduce_cli.run(args) == 0
    assert "6 cells (0 failed)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="merge needs"):
        reproduce_cli.run(parser.parse_args(["reproduce", "merge", str(tmp_path / "a")]))
    with pytest.raises(ValueError, match="only 'merge' takes folders"):
        reproduce_cli.run(parser.parse_args(["reproduce", "infoat-table2", str(tmp_path / "a")]))


def test_estimator_budget_validation():
    with pytest.raises(ValueError, match="epochs"):
        EstimatorBudget(epochs=0)
    with pytest.raises(ValueError, match="lr"):
        EstimatorBudget(lr=0)
