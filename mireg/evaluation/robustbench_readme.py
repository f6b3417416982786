"""The README.md of a RobustBench submission bundle (:mod:`mireg.evaluation.robustbench_export`): what the
bundle holds, whether the evaluation is partial, what the author must fill in, how the model takes its
inputs and how a RobustBench Model-Zoo entry loads it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mireg.evaluation.report import EvaluationReport
from mireg.evaluation.suites import format_eps

__all__ = ["readme"]


def readme(record: dict[str, Any], info: dict[str, Any], report: EvaluationReport, todo: Sequence[str]) -> str:
    """The bundle's README (markdown) from its ``model.json`` record, model-info JSON and report.

    Example::

        >>> text = readme(record, info, report, missing_fields(info))
    """
    name = record["model_name"]
    lines = [f"# RobustBench submission bundle: {name}", "",
             f"Written by {info['evaluation']['tool']} (`mireg export`) on {record['written']}.", "",
             *_summary(info, report), "", "## Files", "",
             f"- `{record['weights']}`: the weights, a plain state dict of the bare architecture "
             f"({record['state_dict_keys']} tensors; sha256 `{record['sha256']}`)"
             + (", with RobustBench's `mu` / `sigma` normalisation buffers" if record["normalization"] else ""),
             f"- `model_info/{info['dataset']}/{report.norm}/{name}.json`: the leaderboard entry",
             "- `autoattack.log`: AutoAttack's own log of every batch it attacked, with mireg's summary",
             "- `report.json`, `outcomes.npz`: mireg's evaluation report (per-sample outcomes, gradient-masking "
             "checks)",
             "- `model.json`: the architecture, its arguments and the normalisation, to rebuild the model", "",
             "## Before you submit", "", *_todo(todo, info), "", "## Inputs and normalisation", "",
             *_inputs(record, name)]
    return "\n".join(lines) + "\n"


def _summary(info: dict[str, Any], report: EvaluationReport) -> list[str]:
    ev = info["evaluation"]
    if ev["partial"]:
        points = (f"the first {ev['n']} of {ev['test_set_size']} test points: a **PARTIAL evaluation**, not a "
                  f"leaderboard claim until it is run on all {ev['test_set_size']} (`mireg export ... --n "
                  f"{ev['test_set_size']}`)")
    elif ev["partial"] is None:
        points = f"{ev['n']} points of a dataset RobustBench does not list"
    else:
        points = f"all {ev['n']} test points RobustBench evaluates"
    checks = "all passed" if not report.masking_suspected else \
        "FAILED (" + "; ".join(c.name for c in report.failed_checks) + "): the entry says `\"unreliable\": true`"
    rows = [("dataset", info["dataset"]), ("threat model", f"{report.norm}, eps {format_eps(report.eps, report.norm)}"),
            ("evaluated points", points), ("clean accuracy", f"{info['clean_acc']}%"),
            ("AutoAttack robust accuracy", f"{info['autoattack_acc']}% ({ev['attack']})"),
            ("gradient-masking checks", checks)]
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def _todo(todo: Sequence[str], info: dict[str, Any]) -> list[str]:
    lines = []
    if todo:
        lines.append("Fill in the fields of the JSON marked `TODO(author)`: " + ", ".join(f"`{k}`" for k in todo)
                     + " (or pass them to `mireg export --info KEY=VALUE`).")
    if info["evaluation"]["partial"]:
        lines.append("Run the evaluation on the whole test set: RobustBench reports all of it.")
    lines += ["Upload the weights where RobustBench can fetch them (its `gdrive_id`), add the architecture's "
              "source to `robustbench/model_zoo/architectures/` and a Model-Zoo entry (below), and open a pull "
              "request with the JSON and this log (https://github.com/RobustBench/robustbench)."]
    return [f"- {line}" for line in lines]


def _inputs(record: dict[str, Any], name: str) -> list[str]:
    arch = record.get("architecture") or {}
    lines = ["The model takes images in [0, 1], shape (N, C, H, W), and normalises inside, as every RobustBench "
             "model does."]
    if record["normalization"]:
        lines += ["", f"Normalisation: `(x - mu) / sigma` with mu = {record['normalization']['mu']}, sigma = "
                  f"{record['normalization']['sigma']}: buffers `mu` and `sigma` of shape (1, C, 1, 1) in the "
                  "state dict, the way RobustBench's Model Zoo stores them (e.g. its `Rice2020OverfittingNet`)."]
    else:
        lines += ["", "No normalisation: the architecture reads the [0, 1] images directly."]
    base = arch.get("class", "Architecture")
    lines += ["", "A Model-Zoo entry in RobustBench's pattern (`robustbench/model_zoo/<dataset>.py`):", "",
              "```python", f"class {name}Net({base}):  # the architecture's source goes to model_zoo/architectures/",
              "    def __init__(self):", f"        {_constructor(arch)}"]
    if record["normalization"]:
        mu, sigma = record["normalization"]["mu"], record["normalization"]["sigma"]
        shape = f"(1, {len(mu)}, 1, 1)"
        lines += [f"        self.register_buffer('mu', torch.tensor({mu}).view{shape})",
                  f"        self.register_buffer('sigma', torch.tensor({sigma}).view{shape})", "",
                  "    def forward(self, x):", "        return super().forward((x - self.mu) / self.sigma)"]
    lines += ["```", "", "With mireg installed, the bundle loads back as a mireg model:", "", "```python",
              "from mireg.evaluation.robustbench_export import load_submission",
              "model = load_submission('PATH/TO/THIS/FOLDER')   # eval mode, inputs in [0, 1]", "```"]
    return lines


def _constructor(arch: dict[str, Any]) -> str:
    """The ``super().__init__(...)`` line of the Model-Zoo entry."""
    if arch.get("class_arguments") is not None:
        return "super().__init__(" + ", ".join(f"{k}={v!r}" for k, v in arch["class_arguments"].items()) + ")"
    if arch.get("name"):
        kwargs = "".join(f", {k}={v!r}" for k, v in arch.get("kwargs", {}).items())
        return (f"super().__init__(...)  # TODO(author): the arguments that build mireg.models.create_model("
                f"{arch['name']!r}, num_classes={arch.get('num_classes')}, in_channels={arch.get('in_channels')}"
                f"{kwargs}).model")
    return "super().__init__(...)  # TODO(author): the architecture's arguments"
