"""``mireg eval``: help by example, a digits model trained by ``mireg train`` gets the full InfoAT report."""

from __future__ import annotations

import argparse
import json

import pytest

import mireg  # noqa: F401
from mireg.cli import build_parser, main
from mireg.cli.eval import choose_eps, parse_eps
from mireg.evaluation.suites import get_suite

INFOAT_FILES = {"report.json", "outcomes.npz", "robust_accuracy.png", "accuracy_vs_eps.png", "infoat-fig1b.json",
                "infoat-fig1b.png", "infoat-fig4.json", "infoat-fig4.png", "infoat-fig5.json", "infoat-fig5.png"}


@pytest.fixture(scope="module")
def digits_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    assert main(["train", "--recipe", "digits-infoat", "--epochs", "1", "--steps", "1", "--out", str(out),
                 "--device", "cpu", "--no-progress"]) == 0
    return out / "best.pt"


def test_help_teaches_by_example(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--help"])
    text = capsys.readouterr().out
    for needle in ("mireg eval runs/infoat/best.pt --suite infoat --n 500 --out", "--robustbench",
                   "--model-info", "namid-l2", "quick", "AutoAttack"):
        assert needle in text


def test_parse_eps_and_list_suites(capsys):
    assert parse_eps("8/255") == pytest.approx(8 / 255) and parse_eps("0.5") == 0.5
    for bad in ("abc", "0", "-1/255", "1/0"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_eps(bad)
    assert main(["eval", "--list-suites"]) == 0
    text = capsys.readouterr().out
    assert "PGD+" in text and "x5 restarts" in text and "AutoAttack" in text


def test_mireg_eval_gives_the_full_infoat_report_with_plots(tmp_path, digits_checkpoint, capsys):
    out = tmp_path / "eval"
    assert main(["eval", str(digits_checkpoint), "--suite", "infoat", "--eps", "0.1", "--n", "20", "--max-steps",
                 "3", "--out", str(out), "--analysis", "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "worst case" in table and "REDUCED BUDGET" in table
    assert {p.name for p in out.iterdir()} >= INFOAT_FILES
    report = json.loads((out / "report.json").read_text())
    assert list(report["robust_accuracy"]) == get_suite("infoat").labels
    assert report["meta"]["dataset"] == "digits" and report["n"] == 20 and report["eps"] == 0.1
    assert {c["name"] for c in report["checks"]} >= {"stronger attacks score lower", "non-zero input gradients",
                                                     "accuracy vanishes at large eps"}


@pytest.mark.slow
def test_mireg_eval_full_infoat_budget(tmp_path, digits_checkpoint):
    out = tmp_path / "eval"
    assert main(["eval", str(digits_checkpoint), "--suite", "infoat", "--eps", "0.1", "--n", "100", "--out",
                 str(out), "--analysis", "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["reduced_budget"] is False
    assert report["attacks"]["PGD-100"]["config"]["kwargs"]["steps"] == 100
    assert {p.name for p in out.iterdir()} >= INFOAT_FILES


@pytest.mark.parametrize("argv, message", [
    (["--suite", "quick"], "either a checkpoint or --robustbench"),
    (["CKPT", "--analysis"], "need --out"),
    (["CKPT", "--suite", "nope"], "unknown evaluation suite 'nope'"),
    (["MISSING"], "does not exist"),
])
def test_mireg_eval_errors(tmp_path, digits_checkpoint, capsys, argv, message):
    argv = [str(digits_checkpoint) if a == "CKPT" else str(tmp_path / "missing.pt") if a == "MISSING" else a
            for a in argv]
    assert main(["eval", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mireg eval: error:") and message in err


def test_eval_takes_eps_from_the_checkpoint_unless_given_and_says_so(tmp_path, digits_checkpoint, capsys):
    trained = json.loads((digits_checkpoint.parent / "config.json").read_text())["eps"]
    out = tmp_path / "eval"
    assert main(["eval", str(digits_checkpoint), "--suite", "quick", "--n", "8", "--max-steps", "1", "--no-sanity",
                 "--no-progress", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["eps"] == pytest.approx(trained) != pytest.approx(get_suite("quick").eps)
    assert "the radius the checkpoint was trained at" in table.splitlines()[1]
    assert main(["eval", str(digits_checkpoint), "--suite", "quick", "--n", "8", "--max-steps", "1", "--no-sanity",
                 "--no-progress", "--eps", "0.3"]) == 0
    table = capsys.readouterr().out
    assert "eps=0.3" in table and "given by --eps" in table


def test_choose_eps_keeps_the_suites_radius_where_the_training_radius_does_not_apply():
    linf, l2, rb = get_suite("quick"), get_suite("namid-l2"), get_suite("robustbench-linf")
    assert choose_eps(None, linf, {"eps": 0.1})[0] == 0.1
    assert choose_eps(0.3, linf, {"eps": 0.1}) == (0.3, "given by --eps")
    eps, why = choose_eps(None, l2, {"eps": 0.1})
    assert eps is None and "L2" in why and "0.1" in why
    eps, why = choose_eps(None, rb, {"eps": 0.1})
    assert eps is None and "RobustBench" in why
    assert choose_eps(None, linf, {"eps": 0.0})[0] is None and choose_eps(None, linf, None)[0] is None
