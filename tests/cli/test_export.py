"""``mireg export``: help by example, ``--info KEY=VALUE``, and a checkpoint of ``mireg train`` exported as a
RobustBench submission bundle that loads back into the same model."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

import mireg  # noqa: F401
from mireg.cli import build_parser, main
from mireg.cli.export import parse_info


def test_help_teaches_by_example(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--help"])
    text = capsys.readouterr().out
    for needle in ("mireg export runs/infoat/best.pt --name Doe2026Mutual", "--n 500", "PARTIAL", "--external",
                   "model_info/<dataset>/<threat model>/<name>.json", "autoattack.log"):
        assert needle in text


def test_parse_info_reads_json_values_and_keeps_text():
    assert parse_info("venue=ICML 2026") == ("venue", "ICML 2026")
    assert parse_info("additional_data=false") == ("additional_data", False)
    assert parse_info("reported=55.1") == ("reported", 55.1)
    for bad in ("venue", "=x"):
        with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
            parse_info(bad)


def test_a_trained_checkpoint_exports_a_bundle_that_loads_back(tmp_path, capsys):
    from mireg.evaluation.robustbench_export import load_submission
    from mireg.runs import load_trained_model

    run = tmp_path / "run"
    assert main(["train", "--recipe", "digits-infoat", "--epochs", "1", "--steps", "1", "--out", str(run),
                 "--device", "cpu", "--no-progress", "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "bundle"
    assert main(["export", str(run / "best.pt"), "--name", "Doe2026Mutual", "--out", str(out), "--n", "8",
                 "--eps", "0.3", "--device", "cpu", "--no-sanity", "--no-progress", "--info", "venue=arXiv 2026",
                 "--info", "additional_data=false"]) == 0
    printed = capsys.readouterr().out
    assert "fill in before submitting: link, name, authors" in printed
    entry = json.loads((out / "model_info" / "digits" / "Linf" / "Doe2026Mutual.json").read_text())
    assert entry["venue"] == "arXiv 2026" and entry["additional_data"] is False and entry["eps"] == "0.3"
    assert entry["evaluation"]["n"] == 8 and entry["evaluation"]["partial"] is None  # digits: not RobustBench's
    assert "of a dataset RobustBench does not list" in entry["footnote"]
    assert {p.name for p in out.iterdir()} >= {"Doe2026Mutual.pt", "model_info", "autoattack.log", "report.json",
                                              "model.json", "README.md"}
    record = json.loads((out / "model.json").read_text())
    assert record["architecture"]["name"] == "small_cnn" and record["reload_check"].startswith("passed")
    model, data, _ = load_trained_model(run / "best.pt")
    x = data.x[:4].float() / 255
    with torch.no_grad():
        assert torch.allclose(load_submission(out)(x), model.eval()(x), atol=1e-6)
