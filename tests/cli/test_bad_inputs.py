"""The catalogue of bad command lines (issue 10): every ``mireg`` subcommand refuses them before the work.

Each case runs ``mireg <cmd> ...`` in-process and expects exit status 2 (a bad argument) or 1 (an I/O
failure), exactly one line on stderr that starts ``mireg <cmd>: error:`` and names the culprit (the
pattern), and no traceback. The training epochs, the attacks of ``mireg eval`` and the estimator
training are replaced by a tripwire: a case that reaches them fails, so every refusal comes before any
heavy work. The API's catalogue is ``tests/test_bad_inputs_api.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

import mireg.estimators.training as estimator_training
import mireg.evaluation.runner as evaluation_runner
import mireg.train.engine as engine
from mireg.cli import main
from mireg.config import TrainConfig
from mireg.models import create_model

NOT_WRITABLE = "/dev/null/out"  # a path under a file: no folder can be made there


class Case(NamedTuple):
    id: str
    argv: list[str]
    match: str
    code: int = 2


def _cases(command: str, rows: list[tuple]) -> list[Case]:
    return [Case(f"{command}-{row[0]}", [command, *row[1]], *row[2:]) for row in rows]


TRAIN = ["train", "--recipe", "digits-at", "--no-progress", "--device", "cpu"][1:]
TRAIN_CASES = _cases("train", [
    ("epochs-zero", [*TRAIN, "--epochs", "0"], "epochs must be >= 1"),
    ("epochs-negative", [*TRAIN, "--epochs", "-1"], "epochs"),
    ("epochs-word", [*TRAIN, "--epochs", "two"], "argument --epochs"),
    ("epochs-float", [*TRAIN, "--epochs", "2.5"], "argument --epochs"),
    ("batch-size-zero", [*TRAIN, "--batch-size", "0"], "batch_size"),
    ("lr-negative", [*TRAIN, "--lr", "-0.1"], r"\blr\b"),
    ("lr-word", [*TRAIN, "--lr", "fast"], "argument --lr"),
    ("lr-nan", [*TRAIN, "--lr", "nan"], r"\blr\b"),
    ("weight-decay-negative", [*TRAIN, "--weight-decay=-1e-4"], "weight_decay"),
    ("eps-pixels", [*TRAIN, "--eps", "8"], "did you mean 8/255"),
    ("eps-zero", [*TRAIN, "--eps", "0"], r"eps"),
    ("eps-negative", [*TRAIN, "--eps", "-8/255"], "eps"),
    ("eps-division-by-zero", [*TRAIN, "--eps", "8/0"], "eps"),
    ("eps-word", [*TRAIN, "--eps", "small"], "eps"),
    ("alpha-pixels", [*TRAIN, "--alpha", "2"], "did you mean 2/255"),
    ("steps-zero", [*TRAIN, "--steps", "0"], "steps"),
    ("steps-negative", [*TRAIN, "--steps", "-2"], "steps"),
    ("beta-negative", [*TRAIN, "--beta", "-1"], "beta"),
    ("lam-word", [*TRAIN, "--lam", "big"], "argument --lam"),
    ("mi-weight-negative", [*TRAIN, "--mi-weight", "-5"], "mi_weight"),
    ("method-unknown", [*TRAIN, "--method", "infoatt"], "unknown method 'infoatt'. Did you mean 'infoat'"),
    ("model-unknown", [*TRAIN, "--model", "resnet-18"], "unknown model 'resnet-18'"),
    ("dataset-unknown", [*TRAIN, "--dataset", "cifar-10"], "unknown dataset 'cifar-10'"),
    ("attack-unknown", [*TRAIN, "--attack", "pgdd"], "unknown attack 'pgdd'"),
    ("device-unknown", [*TRAIN, "--device", "gpu"], "device"),
    ("seed-negative", [*TRAIN, "--seed", "-1"], "seed"),
    ("seed-word", [*TRAIN, "--seed", "x"], "argument --seed"),
    ("set-unknown-key", [*TRAIN, "--set", "learning_rate=0.1"], "learning_rate"),
    ("set-no-value", [*TRAIN, "--set", "lr"], "override 'lr' must look like key=value"),
    ("set-milestones-decreasing", [*TRAIN, "--set", "lr_milestones=[5,3]"], "lr_milestones"),
    ("set-bool-word", [*TRAIN, "--set", "augment=maybe"], "augment"),
    ("set-image-too-small", [*TRAIN, "--set", "image_size=3"], "image_size=3"),
    ("recipe-unknown", ["--recipe", "digits-att", "--no-progress"], "digits-att"),
    ("resume-and-overwrite", [*TRAIN, "--resume", "--overwrite"], "choose one"),
    ("out-not-writable", [*TRAIN, "--out", NOT_WRITABLE], "'/dev/null' is not a folder"),
    ("estimators-missing", [*TRAIN, "--method", "namid", "--estimators", "missing-estimators.pt"],
     "missing-estimators.pt"),
    ("unknown-flag", [*TRAIN, "--learning-rate", "0.1"], "unrecognized arguments: --learning-rate"),
])

DEMO_CASES = _cases("demo", [
    ("epochs-zero", ["--epochs", "0"], "epochs"),
    ("eps-zero", ["--eps", "0"], "eps"),
    ("eps-pixels", ["--eps", "8"], "did you mean 8/255"),
    ("methods-unknown", ["--methods", "at,infoatt"], "infoatt"),
    ("methods-empty", ["--methods", ""], "methods"),
    ("test-steps-zero", ["--test-steps", "0"], "test"),
    ("estimator-epochs-zero", ["--estimator-epochs", "0"], "estimator"),
    ("threads-zero", ["--threads", "0"], "threads"),
    ("seed-negative", ["--seed", "-1"], "seed"),
    ("device-unknown", ["--device", "gpu"], "device"),
    ("out-not-writable", ["--out", NOT_WRITABLE], "'/dev/null' is not a folder"),
    ("unknown-flag", ["--epochz", "3"], "unrecognized arguments: --epochz 3"),
])


def estimators_cases(files: dict[str, Path]) -> list[Case]:
    ckpt = ["--checkpoint", str(files["checkpoint"]), "--no-progress", "--device", "cpu"]
    return _cases("estimators", [
        ("checkpoint-absent", ["--no-progress"], "the following arguments are required: --checkpoint"),
        ("checkpoint-missing", ["--checkpoint", str(files["folder"] / "missing.pt")], "missing.pt"),
        ("checkpoint-garbage", ["--checkpoint", str(files["garbage"])], "garbage.pt"),
        ("checkpoint-folder", ["--checkpoint", str(files["folder"])], "folder"),
        ("model-unknown", [*ckpt, "--model", "resnet-18"], "resnet-18"),
        ("model-kwargs-json", [*ckpt, "--model-kwargs", "{width: 8"], "model-kwargs"),
        ("model-kwargs-list", [*ckpt, "--model-kwargs", "[8]"], "model-kwargs"),
        ("dataset-unknown", [*ckpt, "--dataset", "cifar-10"], "cifar-10"),
        ("n-train-negative", [*ckpt, "--n-train", "-5"], "n-train"),
        ("n-train-zero", [*ckpt, "--n-train", "0"], "n-train"),
        ("n-val-negative", [*ckpt, "--n-val", "-1"], "n-val"),
        ("attack-unknown", [*ckpt, "--attack", "pgdd"], "pgdd"),
        ("eps-negative", [*ckpt, "--eps", "-1"], "eps"),
        ("eps-pixels", [*ckpt, "--eps", "8"], "did you mean 8/255"),
        ("alpha-zero", [*ckpt, "--alpha", "0"], "alpha"),
        ("steps-zero", [*ckpt, "--steps", "0"], "steps"),
        ("objective-unknown", [*ckpt, "--objective", "eq6"], "argument --objective"),
        ("epochs-zero", [*ckpt, "--epochs", "0"], "epochs"),
        ("batch-size-one", [*ckpt, "--batch-size", "1"], "batch"),
        ("lr-zero", [*ckpt, "--lr", "0"], r"\blr\b"),
        ("width-zero", [*ckpt, "--width", "0"], "width"),
        ("layer-unknown", [*ckpt, "--layer", "model.nope"], "nope"),
        ("out-not-writable", [*ckpt, "--out", f"{NOT_WRITABLE}/est.pt"], "'/dev/null' is not a folder"),
        ("figure-without-analyze", [*ckpt, "--figure", str(files["folder"] / "mi.png")], "--analyze"),
        ("analyze-unknown", [*ckpt, "--analyze", "pgd,pgdd"], "pgdd"),
        ("device-unknown", [*ckpt[:-2], "--device", "gpu"], "device"),
        ("image-size-zero", [*ckpt, "--image-size", "0"], "image"),
        ("channels-two", [*ckpt, "--channels", "2"], "channels"),
    ])


def eval_cases(files: dict[str, Path]) -> list[Case]:
    ckpt = [str(files["checkpoint"]), "--no-progress", "--device", "cpu"]
    return _cases("eval", [
        ("checkpoint-absent", ["--no-progress"], "checkpoint"),
        ("checkpoint-missing", [str(files["folder"] / "missing.pt")], "missing.pt"),
        ("checkpoint-folder", [str(files["folder"])], "folder"),
        ("checkpoint-garbage", [str(files["garbage"])], "garbage.pt"),
        ("suite-unknown", [*ckpt, "--suite", "fast"], "'fast'"),
        ("eps-pixels", [*ckpt, "--eps", "8"], "did you mean 8/255"),
        ("eps-zero", [*ckpt, "--eps", "0"], "eps"),
        ("eps-l2-too-large", [*ckpt, "--suite", "namid-l2", "--eps", "100"], "eps"),
        ("n-zero", [*ckpt, "--n", "0"], r"\bn\b"),
        ("n-negative", [*ckpt, "--n", "-3"], r"\bn\b"),
        ("attacks-unknown", [*ckpt, "--attacks", "PGD-1000"], "PGD-1000"),
        ("batch-size-zero", [*ckpt, "--batch-size", "0"], "batch"),
        ("device-unknown", [*ckpt[:-2], "--device", "gpu"], "device"),
        ("seed-word", [*ckpt, "--seed", "x"], "argument --seed"),
        ("max-steps-zero", [*ckpt, "--max-steps", "0"], "max"),
        ("out-not-writable", [*ckpt, "--out", NOT_WRITABLE], "'/dev/null' is not a folder"),
        ("surrogate-missing", [*ckpt, "--suite", "blackbox", "--surrogate", str(files["folder"] / "sur.pt")],
         "sur.pt"),
        ("threat-model-unknown", [*ckpt, "--threat-model", "L1"], "argument --threat-model"),
        ("rb-dataset-unknown", [*ckpt, "--rb-dataset", "mnist"], "argument --rb-dataset"),
        ("checkpoint-and-robustbench", [*ckpt, "--robustbench", "Carmon2019Unlabeled"], "robustbench"),
        ("robustbench-offline-missing", ["--robustbench", "Carmon2019Unlabeled", "--model-dir",
                                         str(files["folder"]), "--no-progress"], "Carmon2019Unlabeled"),
        ("dataset-unknown", [*ckpt, "--dataset", "cifar-10"], "cifar-10"),
    ])


def export_cases(files: dict[str, Path]) -> list[Case]:
    ckpt = [str(files["checkpoint"]), "--no-progress", "--device", "cpu"]
    out = ["--name", "Doe2026Mutual", "--out", "bundle"]
    return _cases("export", [
        ("name-absent", [*ckpt, "--out", "bundle"], "the following arguments are required: --name"),
        ("checkpoint-missing", [str(files["folder"] / "missing.pt"), *out], "missing.pt"),
        ("checkpoint-garbage", [str(files["garbage"]), *out], "garbage.pt"),
        ("eps-pixels", [*ckpt, *out, "--eps", "8"], "did you mean 8/255"),
        ("n-zero", [*ckpt, *out, "--n", "0"], r"\bn\b"),
        ("threat-model-unknown", [*ckpt, *out, "--threat-model", "L1"], "argument --threat-model"),
        ("info-no-value", [*ckpt, *out, "--info", "venue"], "venue"),
        ("out-not-writable", [*ckpt, "--name", "Doe2026Mutual", "--out", NOT_WRITABLE], "'/dev/null' is not a folder"),
        ("device-unknown", [*ckpt[:-2], *out, "--device", "gpu"], "device"),
    ])


def figures_cases(files: dict[str, Path]) -> list[Case]:
    ckpt = [str(files["checkpoint"]), "--n", "8", "--no-progress", "--device", "cpu"]
    return _cases("figures", [
        ("figure-unknown", ["infoat-fig9", *ckpt], "infoat-fig9"),
        ("checkpoint-missing", ["infoat-fig1b", str(files["folder"] / "missing.pt")], "missing.pt"),
        ("checkpoint-garbage", ["infoat-fig1b", str(files["garbage"])], "garbage.pt"),
        ("eps-pixels", ["infoat-fig1b", *ckpt, "--eps", "8"], "did you mean 8/255"),
        ("steps-zero", ["infoat-fig1b", *ckpt, "--steps", "0"], "steps"),
        ("n-zero", ["infoat-fig1b", *ckpt, "--n", "0"], r"\bn\b"),
        ("n-too-many", ["infoat-fig1b", str(files["checkpoint"]), "--n", "1000"], "n=1000 exceeds the 500"),
        ("out-not-writable", ["infoat-fig1b", *ckpt, "--out", NOT_WRITABLE], "'/dev/null' is not a folder"),
        ("device-unknown", ["infoat-fig1b", *ckpt[:-2], "--device", "gpu"], "device"),
    ])


REPRODUCE_CASES = _cases("reproduce", [
    ("study-absent", ["--no-progress"], "study"),
    ("study-unknown", ["infoat-table3"], "infoat-table3"),
    ("budget-unknown", ["infoat-table2", "--budget", "huge"], "argument --budget"),
    ("seeds-zero", ["infoat-table2", "--seeds", "0"], "seeds"),
    ("seeds-negative", ["infoat-table2", "--seeds", "0,-1"], "seeds"),
    ("seeds-repeat", ["infoat-table2", "--seeds", "1,1"], "seeds"),
    ("seeds-word", ["infoat-table2", "--seeds", "five"], "seeds"),
    ("methods-unknown", ["infoat-table2", "--methods", "at,infoatt"], "infoatt"),
    ("device-unknown", ["infoat-table2", "--device", "gpu"], "device"),
    ("out-not-writable", ["infoat-table2", "--out", NOT_WRITABLE], "'/dev/null' is not a folder"),
    ("merge-no-folders", ["merge", "--out", "merged"], "merge"),
    ("merge-no-out", ["merge", "a", "b"], "--out"),
    ("folders-without-merge", ["infoat-table2", "a", "b"], "merge"),
])

TOP_CASES = [Case("mireg-unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'")]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A 'mireg train' checkpoint of the 8x8 digits small CNN (random weights), a garbage file, a folder."""
    folder = tmp_path_factory.mktemp("inputs")
    config = TrainConfig(image_size=8, channels=1, model_kwargs={"width": 4, "hidden": 16}).to_dict()
    model = create_model("small_cnn", num_classes=10, in_channels=1, width=4, hidden=16)
    torch.save({"format": "mireg-train-v1", "model": model.state_dict(), "config": config}, folder / "best.pt")
    (folder / "garbage.pt").write_bytes(b"not a checkpoint at all")
    (folder / "empty").mkdir()
    return {"checkpoint": folder / "best.pt", "garbage": folder / "garbage.pt", "folder": folder / "empty"}


@pytest.fixture(autouse=True)
def tripwire(monkeypatch, tmp_path):
    """The heavy work (training epochs, evaluation attacks, estimator training) fails the test if reached;
    relative output paths land in a temporary folder."""
    def heavy(*args, **kwargs):
        raise AssertionError("the command started its work before refusing the bad input")

    monkeypatch.setattr(engine, "run_epoch", heavy)
    monkeypatch.setattr(evaluation_runner, "run_attack", heavy)
    monkeypatch.setattr(estimator_training, "_train", heavy)
    monkeypatch.chdir(tmp_path)


def _check(case: Case, capsys) -> None:
    code = main(case.argv)
    err = capsys.readouterr().err
    assert code == case.code, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    command = case.argv[0] if case.argv[0] in ALL_COMMANDS else ""
    assert lines[0].startswith(f"mireg{' ' * bool(command)}{command}: error:"), err
    assert re.search(case.match, lines[0]), err
    assert "Traceback" not in err


ALL_COMMANDS = ("train", "demo", "estimators", "eval", "export", "figures", "reproduce")
FILE_CASES = (estimators_cases, eval_cases, export_cases, figures_cases)
STATIC = TRAIN_CASES + DEMO_CASES + REPRODUCE_CASES + TOP_CASES
WITH_FILES = [case.id for cases in FILE_CASES
              for case in cases({k: Path(k) for k in ("checkpoint", "garbage", "folder")})]


@pytest.mark.parametrize("case", STATIC, ids=[case.id for case in STATIC])
def test_bad_command_line_is_one_line_before_the_work(case, capsys):
    _check(case, capsys)


@pytest.mark.parametrize("case_id", WITH_FILES)
def test_bad_command_line_with_files_is_one_line_before_the_work(case_id, files, capsys):
    cases = {case.id: case for make in FILE_CASES for case in make(files)}
    _check(cases[case_id], capsys)


def test_the_catalogue_covers_every_command_and_is_large_enough():
    assert len(STATIC) + len(WITH_FILES) >= 80
    commands = {case.argv[0] for case in STATIC} | {case_id.split("-")[0] for case_id in WITH_FILES}
    assert set(ALL_COMMANDS) <= commands
