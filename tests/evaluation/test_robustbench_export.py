"""The RobustBench round trip out: the submission bundle's weights load through RobustBench's own
``load_model`` into the Model-Zoo entry its README prints, and RobustBench's own leaderboard code reads the
exported JSON next to real leaderboard entries (issue 13)."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

import mireg  # noqa: F401  (the robustbench repair before robustbench)
from mireg.evaluation.report import AttackResult, EvaluationReport
from mireg.evaluation.robustbench_export import bare_state_dict, export_robustbench, load_submission
from mireg.evaluation.robustbench_io import model_info
from mireg.models import Normalized, SmallCNN

REAL_ENTRIES = Path(__file__).parent / "robustbench_model_info"
NAME = "Doe2026Mutual"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, digits_model, digits_split):
    """A normalised copy of the digits model exported with n = 8 points (eps 0.3: AutoAttack is quick)."""
    model = Normalized(copy.deepcopy(digits_model.model), mean=[0.1], std=[0.9]).eval()
    out = tmp_path_factory.mktemp("bundle")
    arch = {"name": "small_cnn", "kwargs": {"width": 16, "hidden": 64}, "num_classes": 10, "in_channels": 1,
            "input_shape": [1, 8, 8]}
    report, paths = export_robustbench(model, (digits_split["x_test"], digits_split["y_test"]), out, NAME, n=8,
                                       eps=0.3, architecture=arch, dataset="cifar10", progress=False, sanity=False,
                                       name="Mutual information AT", venue="arXiv 2026")
    return model, report, paths, out


def test_the_weights_are_a_plain_state_dict_of_the_bare_architecture(bundle):
    model, _, paths, out = bundle
    weights = torch.load(paths["weights"], weights_only=True)
    assert set(weights) == set(model.model.state_dict()) | {"mu", "sigma"}  # no "model." prefix
    assert all(isinstance(v, torch.Tensor) for v in weights.values())
    assert torch.equal(weights["mu"], model.mean) and weights["sigma"].shape == (1, 1, 1, 1)
    record = json.loads((out / "model.json").read_text())
    assert record["normalization"] == {"mu": [pytest.approx(0.1)], "sigma": [pytest.approx(0.9)]}
    assert record["reload_check"].startswith("passed") and len(record["sha256"]) == 64
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(load_submission(out)(x), model(x))
    plain, normalisation = bare_state_dict(create_identity_model())
    assert normalisation is None and "mu" not in plain


def create_identity_model():
    return mireg.models.create_model("small_cnn", num_classes=10, in_channels=1, width=4, hidden=8)


def test_robustbenchs_own_loader_reads_the_weights_into_the_readme_entry(bundle, tmp_path, monkeypatch):
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
    from robustbench.utils import load_model

    model, _, paths, out = bundle
    code = (out / "README.md").read_text().split("```python\n")[1].split("```")[0]
    namespace = {"SmallCNN": SmallCNN, "torch": torch}
    exec(code, namespace)  # the Model-Zoo entry the README prints
    entry = namespace[f"{NAME}Net"]
    zoo = model_dicts[BenchmarkDataset.cifar_10][ThreatModel.Linf]
    monkeypatch.setitem(zoo, NAME, {"model": entry, "gdrive_id": "unused: the file is already there"})
    target = tmp_path / "models" / "cifar10" / "Linf" / f"{NAME}.pt"
    target.parent.mkdir(parents=True)
    shutil.copy(paths["weights"], target)
    loaded = load_model(NAME, model_dir=tmp_path / "models", dataset="cifar10", threat_model="Linf")
    x = torch.rand(6, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)


def _leaderboard_folder(tmp_path: Path, entries: dict[str, dict]) -> Path:
    """``tmp_path/model_info``: the real entries plus ``{"Linf/<name>": entry, ...}``."""
    folder = tmp_path / "model_info"
    shutil.copytree(REAL_ENTRIES / "cifar10", folder / "cifar10")
    for key, entry in entries.items():
        (folder / "cifar10" / f"{key}.json").write_text(json.dumps(entry, indent=2))
    return folder


def _with_real_template(template, monkeypatch) -> None:
    """The PyPI wheel of robustbench lacks its leaderboard's jinja template: use RobustBench's own file (copied
    unchanged into REAL_ENTRIES) where the installed package does not carry it."""
    import jinja2

    try:
        jinja2.Environment(loader=template.PackageLoader("robustbench", "leaderboard")).get_template(
            "leaderboard.html.j2")
    except (jinja2.TemplateNotFound, ValueError):
        monkeypatch.setattr(template, "PackageLoader", lambda *a: jinja2.FileSystemLoader(str(REAL_ENTRIES)))


def _html_rows(html: str) -> list[str]:
    """The leaderboard table's rows, in its order, as the text of their cells."""
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in body.split("<tr>")[1:]]


def test_robustbenchs_leaderboard_code_reads_the_json_next_to_real_entries(bundle, tmp_path, monkeypatch):
    from robustbench.leaderboard import template
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
    from robustbench.utils import get_leaderboard_bibtex, get_leaderboard_latex, list_available_models

    _, _, paths, _ = bundle
    entry = json.loads(paths["model_info"].read_text())
    assert "external" not in entry and entry["evaluation"]["partial"] is True
    folder = _leaderboard_folder(tmp_path, {f"Linf/{NAME}": entry})
    monkeypatch.chdir(tmp_path)
    rows = get_leaderboard_latex("cifar10", "Linf").splitlines()  # sorts by float(external or autoattack_acc)
    assert len(rows) == 6 and rows[-1].startswith(f"6 &\\citet{{{NAME}}}")  # 0.00% robust: last
    _, bibtex = get_leaderboard_bibtex("cifar10", "Linf")
    assert f"@article{{{NAME}," in bibtex and "{Mutual information AT}" in bibtex
    _with_real_template(template, monkeypatch)
    html = _html_rows(template.generate_leaderboard("cifar10", "Linf", str(folder)))
    assert len(html) == 6 and html[-1].startswith("6 Mutual information AT Partial evaluation: AutoAttack on "
                                                  "the first 8 of the 10000 test points.")
    assert f"{entry['clean_acc']}% 0.00% 0.00%" in html[-1]  # AutoAttack and "best known" robust accuracy
    # the README's markdown table, once the Model-Zoo entry exists
    monkeypatch.setitem(model_dicts[BenchmarkDataset.cifar_10][ThreatModel.Linf], NAME, {"model": None})
    list_available_models("cifar10", "Linf")
    # what mireg wrote before issue 13 ("external": null) breaks the same code
    (folder / "cifar10" / "Linf" / f"{NAME}.json").write_text(json.dumps({**entry, "external": None}))
    with pytest.raises(TypeError):
        get_leaderboard_latex("cifar10", "Linf")


def test_an_l2_entry_with_a_stronger_evaluation_ranks_by_its_best_known_accuracy(tmp_path, monkeypatch):
    from robustbench.leaderboard import template
    from robustbench.utils import get_leaderboard_latex

    # AutoAttack 50.00% on all 10,000 points, a stronger attack 10.00%: RobustBench ranks by the lower one
    info = model_info(_report(10_000, norm="L2"), dataset="cifar10", external=0.10, name="Strong L2",
                      authors="J. Doe", venue="arXiv 2026", additional_data=False, architecture="SmallCNN",
                      link="https://arxiv.org/abs/0000.00000", reported="50.00")
    assert info["eps"] == "0.5" and info["external"] == "10.00" and "footnote" not in info
    folder = _leaderboard_folder(tmp_path, {f"L2/{NAME}": info})
    monkeypatch.chdir(tmp_path)
    rows = get_leaderboard_latex("cifar10", "L2").splitlines()
    assert rows[-1].startswith(f"3 &\\citet{{{NAME}}} & 100.00 & 10.00 & N")  # 10% < Augustin's, Amini's
    _with_real_template(template, monkeypatch)
    html = _html_rows(template.generate_leaderboard("cifar10", "L2", str(folder)))
    # generate_leaderboard sorts by AutoAttack's number and shows both
    assert html[-1].startswith("3 Strong L2 100.00% 50.00% 10.00%")


def test_a_partial_evaluation_is_marked_and_a_full_one_is_not(bundle):
    _, report, paths, out = bundle
    entry = json.loads(paths["model_info"].read_text())
    assert entry["evaluation"] == {**entry["evaluation"], "n": 8, "test_set_size": 10_000, "partial": True,
                                   "threat_model": "Linf", "eps": 0.3}
    assert entry["footnote"] == "Partial evaluation: AutoAttack on the first 8 of the 10000 test points."
    readme = (out / "README.md").read_text()
    assert "PARTIAL evaluation" in readme and "`authors`" in readme and "autoattack_acc" not in readme.split("##")[2]
    log = (out / "autoattack.log").read_text()
    assert "the first 8 points of cifar10" in log and "robust accuracy after APGD-CE" in log
    assert log.rstrip().endswith(f"robust accuracy (AutoAttack): {100 * report.robust_accuracy['AutoAttack']:.2f}% "
                                 "of 8 points")
    full = _report(10_000)
    info = model_info(full, dataset="cifar10")
    assert info["evaluation"]["partial"] is False and "footnote" not in info and "external" not in info
    assert "corruptions_acc" not in info and info["unreliable"] is False
    assert model_info(full, dataset="cifar10", external=0.4)["external"] == "40.00"
    stronger, weaker = _report(10_000, robust_every=4, attack="PGD-100"), _report(10_000, robust_every=1)
    assert model_info(full, dataset="cifar10", external=stronger)["external"] == "25.00"
    assert "external" not in model_info(full, dataset="cifar10", external=weaker)  # not lower: AutoAttack's stands


def _report(n: int, norm: str = "Linf", robust_every: int = 2, attack: str = "AutoAttack") -> EvaluationReport:
    """A full-budget report of n points: all clean-correct, every ``robust_every``-th one robust."""
    y = torch.zeros(n, dtype=torch.long)
    robust = torch.arange(n) % robust_every == 0
    result = AttackResult(attack, robust=robust, pred=y, perturbation=torch.zeros(n, dtype=torch.float64),
                          seconds=1.0, attacked=n)
    return EvaluationReport(suite=f"robustbench-{norm.lower()}", norm=norm, eps=8 / 255 if norm == "Linf" else 0.5,
                            labels=y, clean_pred=y, results={attack: result}, meta={"seed": 0})


def test_export_refuses_keys_robustbench_would_cut(tmp_path):
    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.submodule = torch.nn.Linear(2, 2)  # "submodule.weight" contains "module."

    with pytest.raises(ValueError, match="rm_substr_from_state_dict"):
        from mireg.evaluation.robustbench_export import export_submission

        export_submission(Holder(), _report(4), tmp_path, NAME)
