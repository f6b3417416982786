"""RobustBench in and out: Model-Zoo loading from a local directory, fine-tuning, benchmark, model-info JSON."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import mireg  # noqa: F401  (compat before robustbench)
from mireg.evaluation import evaluate
from mireg.evaluation.robustbench_io import (
    MODEL_INFO_EXTRA_FIELDS,
    TODO,
    missing_fields,
    model_info,
    read_model_info,
    robustbench_evaluate,
    write_model_info,
)
from mireg.models.robustbench import load_robustbench_model, robustbench_checkpoint_path, with_normalization
from mireg.train import finetune


@pytest.fixture(scope="module")
def aa_report(digits_model, digits_split):
    # eps 0.3: APGD-CE (full standard budget) breaks every point at once, so this stays fast.
    x, y = digits_split["x_test"], digits_split["y_test"]
    return robustbench_evaluate(digits_model, (x, y), n=8, eps=0.3, progress=False, sanity=False,
                                dataset="cifar10")


def test_model_info_has_every_robustbench_field_and_round_trips(tmp_path, aa_report):
    from robustbench.utils import ModelInfo

    path = write_model_info(aa_report, "Doe2026Mutual", out_dir=tmp_path, name="Mutual information AT",
                            venue="arXiv 2026")
    assert path == tmp_path / "cifar10" / "Linf" / "Doe2026Mutual.json"
    info = read_model_info(path)
    rb_fields = [f.name for f in dataclasses.fields(ModelInfo)]
    # RobustBench's order; the fields without a value (corruptions, footnote, external) left out, as in its entries
    absent = {"corruptions_acc", "corruptions_acc_3d", "corruptions_mce", "corruptions_mce_3d", "external"}
    assert list(info) == [k for k in rb_fields + list(MODEL_INFO_EXTRA_FIELDS) if k not in absent]
    assert info["footnote"].startswith("Partial evaluation")  # n = 8 of CIFAR-10's 10,000
    rebuilt = ModelInfo(**{k: info[k] for k in rb_fields if k in info})
    assert {k: v for k, v in dataclasses.asdict(rebuilt).items() if v is not None} == \
        {k: info[k] for k in rb_fields if k in info}
    assert info["dataset"] == "cifar10" and info["eps"] == "0.3" and info["number_forward_passes"] == 1
    assert info["clean_acc"] == f"{100 * aa_report.clean_accuracy:.2f}"
    assert info["autoattack_acc"] == "0.00"
    assert info["unreliable"] is False and "external" not in info
    assert info["name"] == "Mutual information AT" and info["venue"] == "arXiv 2026"
    assert set(missing_fields(info)) == {"link", "authors", "additional_data", "architecture", "reported"}
    assert all(info[k].startswith(TODO) for k in missing_fields(info))
    assert json.loads(path.read_text()) == info


def test_model_info_matches_robustbench_update_json(tmp_path, monkeypatch, aa_report):
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
    from robustbench.utils import update_json

    monkeypatch.chdir(tmp_path)
    update_json(BenchmarkDataset.cifar_10, ThreatModel.Linf, "Ref", aa_report.clean_accuracy,
                aa_report.robust_accuracy["AutoAttack"], 0.3)
    theirs = json.loads((tmp_path / "model_info" / "cifar10" / "Linf" / "Ref.json").read_text())
    ours = model_info(aa_report)
    assert {k for k, v in theirs.items() if v is not None} <= set(ours)  # (its nulls: fields its entries omit)
    for key in ("clean_acc", "autoattack_acc"):
        assert float(ours[key]) == pytest.approx(float(theirs[key]))
    assert ours["dataset"] == theirs["dataset"]


def test_model_info_refuses_what_is_not_a_claim(digits_model, digits_split, aa_report):
    data = (digits_split["x_test"], digits_split["y_test"])
    quick = evaluate(digits_model, data, suite="quick", n=4, max_steps=1, progress=False, sanity=False)
    with pytest.raises(ValueError, match="no AutoAttack"):
        model_info(quick)
    reduced = robustbench_evaluate(digits_model, data, n=4, eps=0.3, max_steps=2, progress=False, sanity=False)
    with pytest.raises(ValueError, match="reduced budget"):
        model_info(reduced)
    with pytest.raises(ValueError, match="unknown model-info fields"):
        model_info(aa_report, venu="typo")
    with pytest.raises(ValueError, match="measured by the evaluation"):
        model_info(aa_report, autoattack_acc="99.00")
    with pytest.raises(TypeError, match="EvaluationReport"):
        model_info({"clean_acc": 1})
    with pytest.raises(ValueError, match="model_name"):
        write_model_info(aa_report, "a/b")
    with pytest.raises(ValueError, match="threat_model"):
        robustbench_evaluate(digits_model, data, threat_model="L1")
    info = model_info(aa_report, external=0.0)
    assert info["external"] == "0.00"


def _write_image_folder(root, n_per_class=1, size=32):
    from PIL import Image

    rng = np.random.default_rng(0)
    for k in range(10):
        folder = root / "train" / f"class{k}"
        folder.mkdir(parents=True)
        for i in range(n_per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_robustbench_resnet18_loads_from_a_local_checkpoint_finetunes_and_evaluates(tmp_path):
    from robustbench.model_zoo.architectures.resnet import ResNet18

    name = "Sehwag2021Proxy_R18"  # a Model-Zoo entry whose architecture is RobustBench's CIFAR ResNet-18
    torch.manual_seed(0)
    original = ResNet18().eval()
    path = robustbench_checkpoint_path(name, tmp_path / "models")
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in original.state_dict().items()}}, path)
    model = load_robustbench_model(name, model_dir=tmp_path / "models")
    assert type(model) is type(original) and not model.training
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), original(x))
    before = [p.detach().clone() for p in model.parameters()]

    _write_image_folder(tmp_path / "images")
    result = finetune(model, method="at", dataset="image-folder", epochs=1, data_root=str(tmp_path / "images"),
                      batch_size=10, val_size=0, steps=1, alpha=2 / 255, lr=0.01, device="cpu", amp=False,
                      channels_last=False, progress=False, out_dir=str(tmp_path / "run"))
    assert result.model is model
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))
    assert (tmp_path / "run" / "last.pt").is_file()

    report = evaluate(model.eval(), (torch.rand(4, 3, 32, 32), torch.arange(4)), suite="quick", max_steps=1,
                      progress=False, sanity=False)
    assert set(report.results) == {"PGD-20", "APGD-CE"}


def test_load_robustbench_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Sehwag2021Proxy_R18.pt"):
        load_robustbench_model("Sehwag2021Proxy_R18", model_dir=tmp_path)
    with pytest.raises(ValueError, match="Did you mean"):
        load_robustbench_model("Sehwag2021Proxy_R1", model_dir=tmp_path)
    with pytest.raises(ValueError, match="dataset"):
        load_robustbench_model("Standard", model_dir=tmp_path, dataset="mnist")
    with pytest.raises(ValueError, match="threat_model"):
        load_robustbench_model("Standard", model_dir=tmp_path, threat_model="linf")
    with pytest.raises(TypeError, match="download"):
        load_robustbench_model("Standard", model_dir=tmp_path, download="yes")


def test_with_normalization_puts_the_standardisation_inside(digits_model):
    inner = torch.nn.Conv2d(3, 2, 1)
    wrapped = with_normalization(inner, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))
    x = torch.rand(2, 3, 4, 4)
    mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
    assert torch.allclose(wrapped(x), inner((x - mean) / 0.2))


def test_robustbench_benchmark_runs_through_the_compat_layer(tmp_path, monkeypatch, digits_model, digits_split):
    import robustbench.eval

    x, y = digits_split["x_test"][:8], digits_split["y_test"][:8]
    calls = []

    def fake_loader(dataset, n_examples, data_dir, prepr):
        calls.append((dataset.value, n_examples))
        return x[:n_examples], y[:n_examples]

    monkeypatch.setattr(robustbench.eval, "load_clean_dataset", fake_loader)
    monkeypatch.chdir(tmp_path)
    clean, robust = robustbench.eval.benchmark(digits_model, n_examples=8, dataset="cifar10", threat_model="Linf",
                                               eps=0.3, batch_size=8, to_disk=True, model_name="Tiny")
    assert calls == [("cifar10", 8)]
    ours = robustbench_evaluate(digits_model, (x, y), n=8, eps=0.3, progress=False, sanity=False)
    assert clean == pytest.approx(ours.clean_accuracy)
    assert robust == pytest.approx(ours.robust_accuracy["AutoAttack"]) == 0.0
    written = json.loads((tmp_path / "model_info" / "cifar10" / "Linf" / "Tiny.json").read_text())
    assert float(written["clean_acc"]) == pytest.approx(100 * clean)


def test_mireg_eval_robustbench_model_from_a_local_dir(tmp_path, capsys):
    from robustbench.model_zoo.architectures.resnet import ResNet18

    from mireg.cli import main

    name = "Sehwag2021Proxy_R18"
    path = robustbench_checkpoint_path(name, tmp_path / "models")
    path.parent.mkdir(parents=True)
    torch.save(ResNet18().state_dict(), path)
    from PIL import Image

    rng = np.random.default_rng(1)
    for k in range(2):
        folder = tmp_path / "images" / "test" / f"class{k}"
        folder.mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / "0.png")
    out = tmp_path / "eval"
    assert main(["eval", "--robustbench", name, "--model-dir", str(tmp_path / "models"), "--dataset", "image-folder",
                 "--data-root", str(tmp_path / "images"), "--suite", "quick", "--max-steps", "1", "--no-sanity",
                 "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["n"] == 2 and report["meta"]["model"] == "ResNet" and report["meta"]["dataset"] == "image-folder"
    assert "worst case" in capsys.readouterr().out
