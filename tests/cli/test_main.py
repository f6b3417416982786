"""The ``mireg`` command end to end on digits (tiny budgets), its help texts and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from mireg.cli import build_parser, main

TINY = ["--set", "image_size=8", "--set", "channels=1", "--set", "model_kwargs={width = 4, hidden = 16}",
        "--set", "val_size=97", "--set", "val_steps=2", "--steps", "2", "--batch-size", "200", "--no-progress"]


def test_module_entry_point_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "mireg", "--help"], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert out.returncode == 0, out.stderr
    for command in ("train", "demo", "estimators", "eval"):
        assert command in out.stdout
    assert "examples:" in out.stdout


def test_every_subcommand_help_teaches_by_example(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    assert {"train", "demo", "estimators", "eval"} <= set(commands)
    for name, sub in commands.items():
        text = sub.format_help()
        assert "example" in text.lower() and f"mireg {name}" in text, name


def test_train_end_to_end_then_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--recipe", "digits-at", "--epochs", "1", "--eps", "1/10", "--out", str(out), *TINY]
    assert main(args) == 0
    assert "best epoch 1" in capsys.readouterr().out
    for name in ("last.pt", "best.pt", "metrics.csv", "metrics.json", "curves.png", "config.json"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["eps"] == pytest.approx(0.1) and config["steps"] == 2 and config["recipe"] == "digits-at"
    # --resume with more epochs continues at epoch 2
    assert main(["train", "--recipe", "digits-at", "--epochs", "2", "--eps", "0.1", "--out", str(out), "--resume",
                 *TINY]) == 0
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and [r["epoch"] for r in state["history"]] == [1, 2]


def test_train_from_a_config_file_with_cli_winning(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('recipe = "digits-infoat"\nepochs = 3\nlam = 1.0\n')
    assert main(["train", "--config", str(path), "--epochs", "2", "--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert (config["method"], config["epochs"], config["lam"]) == ("infoat", 2, 1.0)


def test_list_recipes_names_sources(capsys):
    assert main(["train", "--list-recipes"]) == 0
    text = capsys.readouterr().out
    assert "mart-resnet18" in text and "YisenWang/MART" in text and "infoat-resnet18" in text


@pytest.mark.parametrize("args, message", [
    (["train", "--recipe", "nope"], "unknown recipe 'nope'"),
    (["train", "--set", "epoch=3"], "unknown training setting 'epoch'"),
    (["train", "--epochs", "0", "--print-config"], "epochs must be >= 1"),
    (["train", "--method", "namid", "--out", "{tmp}", "--no-progress"], "estimators"),
    (["demo", "--methods", "at,nope"], "unknown method 'nope'"),
])
def test_errors_are_one_line_messages(args, message, capsys, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_fraction_is_an_argparse_error(capsys):
    assert main(["train", "--eps", "8//255"]) == 2
    assert "fraction like 8/255" in capsys.readouterr().err


def test_demo_end_to_end_with_namid_pipeline(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--methods", "at,namid", "--epochs", "1", "--estimator-epochs", "1", "--test-steps", "2",
                 "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "| at |" in text and "| namid |" in text and "PGD-2 acc (test)" in text
    results = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in results["rows"]] == ["at", "namid"]
    assert all(r["n_test"] == 500 and 0 <= r["test_pgd_acc"] <= r["test_clean_acc"] + 0.05 for r in results["rows"])
    assert (out / "estimators.pt").is_file() and (out / "demo.png").stat().st_size > 1000
    namid = json.loads((out / "namid" / "config.json").read_text())
    # NAMID fine-tunes the AT snapshot its estimators were trained on
    assert namid["estimators"] == str(out / "estimators.pt")
    assert namid["init_from"] == str(out / "at" / "epoch_0001.pt") and (out / "at" / "epoch_0001.pt").is_file()
