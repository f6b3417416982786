"""RobustBench out: evaluate the RobustBench way and write the leaderboard's model-info JSON.

(RobustBench in: :mod:`mireg.models.robustbench` loads Model-Zoo models; :func:`mireg.train.finetune`
fine-tunes any model with any mireg method.)

- :func:`robustbench_evaluate`: evaluate the RobustBench way: the FIRST n test points, AutoAttack
  ``version="standard"`` at 8/255 (L-inf) or 0.5 (L2), plus mireg's sanity checks.
- :func:`model_info` / :func:`write_model_info`: the leaderboard's model-info JSON with every field
  of ``robustbench.utils.ModelInfo`` plus ``unreliable`` and ``external``, filled from the run where
  known and marked ``"TODO(author): ..."`` where only the author can say.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mireg._optional import require
from mireg._validation import check_choice, check_number
from mireg.evaluation.report import EvaluationReport
from mireg.evaluation.runner import evaluate
from mireg.evaluation.suites import format_eps
from mireg.utils.atomic import atomic_write_text

__all__ = ["robustbench_evaluate", "model_info", "write_model_info", "read_model_info", "missing_fields",
           "MODEL_INFO_EXTRA_FIELDS", "TODO"]

THREAT_MODELS = ("Linf", "L2")
#: Fields the leaderboard JSON files carry beyond ``ModelInfo`` (RobustBench ``model_info/*/*.json``).
MODEL_INFO_EXTRA_FIELDS = ("unreliable", "external")
#: Prefix of the values only the author can fill in.
TODO = "TODO(author)"
_EPS = {"Linf": 8 / 255, "L2": 0.5}


def _robustbench_fields() -> list[str]:
    require("robustbench", "RobustBench's model-info fields")
    from robustbench.utils import ModelInfo

    return [f.name for f in dataclasses.fields(ModelInfo)]


def robustbench_evaluate(model: nn.Module, data: Any, n: int = 10_000, threat_model: str = "Linf",
                         eps: float | None = None, *, batch_size: int = 500, device: str | torch.device | None = None,
                         seed: int = 0, progress: bool = True, sanity: bool | Sequence[str] = True,
                         dataset: str | None = None, max_steps: int | None = None) -> EvaluationReport:
    """Evaluate the RobustBench way: the first ``n`` test points, AutoAttack standard.

    ``eps`` defaults to the leaderboard's (8/255 for L-inf, 0.5 for L2). ``data`` is ``(x, y)`` of
    the test split in its fixed order, an ``ImageTensors`` or a dataset name. Gradient-masking
    probes run too (``sanity``): a failed check is written as ``"unreliable": true`` by
    :func:`model_info`.
    """
    check_choice("threat_model", threat_model, THREAT_MODELS)
    suite = "robustbench-linf" if threat_model == "Linf" else "robustbench-l2"
    return evaluate(model, data, suite=suite, eps=eps, n=n, batch_size=batch_size, device=device, seed=seed,
                    progress=progress, sanity=sanity, dataset=dataset, max_steps=max_steps)


def model_info(report: EvaluationReport, *, name: str | None = None, dataset: str | None = None,
               external: EvaluationReport | float | None = None, **fields: Any) -> dict[str, Any]:
    """The RobustBench model-info dict for a report of :func:`robustbench_evaluate`.

    Filled from the run: ``dataset``, ``eps`` (``"8/255"`` / ``"0.5"``), ``clean_acc`` and
    ``autoattack_acc`` (percent strings with 2 decimals, as RobustBench writes them),
    ``number_forward_passes`` (1: one deterministic forward pass), ``unreliable`` (True when a
    gradient-masking check failed), ``external`` (a lower robust accuracy from a stronger suite
    report or a number in [0, 1], else None) and the corruption fields (None: not a corruptions
    threat model). Everything else (``link``, ``name``, ``authors``, ``additional_data``,
    ``venue``, ``architecture``, ``reported``, ``footnote``) is ``"TODO(author): ..."`` unless given
    in ``fields``. A report with a reduced budget is refused: it is not a claim.
    """
    if not isinstance(report, EvaluationReport):
        raise TypeError(f"report must be an EvaluationReport, got {type(report).__name__}")
    if "AutoAttack" not in report.results:
        raise ValueError(f"report of suite {report.suite!r} has no AutoAttack result; use robustbench_evaluate")
    if report.meta.get("reduced_budget"):
        raise ValueError("the report was run with a reduced budget (max_steps): not a RobustBench claim")
    known = set(_robustbench_fields()) | set(MODEL_INFO_EXTRA_FIELDS)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"unknown model-info fields {unknown}; known: {sorted(known)}")
    dataset = dataset or report.meta.get("dataset") or f"{TODO}: cifar10 | cifar100 | imagenet"
    aa = report.robust_accuracy["AutoAttack"]
    external_acc = None
    if isinstance(external, EvaluationReport):
        external_acc = external.worst_case_accuracy if external.worst_case_accuracy < aa else None
    elif external is not None:
        external_acc = float(check_number("external", external, low=0.0, high=1.0))
    info: dict[str, Any] = {
        "link": f"{TODO}: URL of the paper",
        "name": name or f"{TODO}: title of the paper",
        "authors": f"{TODO}: author list",
        "additional_data": f"{TODO}: true if trained with data beyond the {dataset} training set",
        "number_forward_passes": 1,
        "dataset": dataset,
        "venue": f"{TODO}: venue, e.g. ICML 2022",
        "architecture": f"{TODO}: architecture, e.g. WideResNet-34-10",
        "eps": format_eps(report.eps, report.norm),
        "clean_acc": f"{100 * report.clean_accuracy:.2f}",
        "reported": f"{TODO}: robust accuracy reported in the paper (percent)",
        "corruptions_acc": None, "corruptions_acc_3d": None, "corruptions_mce": None, "corruptions_mce_3d": None,
        "autoattack_acc": f"{100 * aa:.2f}",
        "footnote": None,
        "unreliable": report.masking_suspected,
        "external": None if external_acc is None else f"{100 * external_acc:.2f}",
    }
    info.update(fields)
    return {key: info[key] for key in [*_robustbench_fields(), *MODEL_INFO_EXTRA_FIELDS]}


def write_model_info(report: EvaluationReport, model_name: str, out_dir: str | os.PathLike = "model_info",
                     **kwargs: Any) -> Path:
    """Write ``out_dir/<dataset>/<threat_model>/<model_name>.json`` (RobustBench's layout).

    ``model_name`` follows RobustBench's ``<Surname><Year><FirstWordOfTitle>[_arch]``;
    ``kwargs`` go to :func:`model_info`. Returns the path.
    """
    if not isinstance(model_name, str) or not model_name or "/" in model_name:
        raise ValueError(f"model_name must be a file-name-safe string, got {model_name!r}")
    info = model_info(report, **kwargs)
    dataset = info["dataset"] if not str(info["dataset"]).startswith(TODO) else "unknown-dataset"
    path = Path(out_dir) / dataset / report.norm / f"{model_name}.json"
    return atomic_write_text(path, json.dumps(info, indent=2) + "\n")


def read_model_info(path: str | os.PathLike) -> dict[str, Any]:
    """Read a model-info JSON (ours or RobustBench's)."""
    return json.loads(Path(path).read_text())


def missing_fields(info: Mapping[str, Any]) -> list[str]:
    """The fields still marked for the author (``"TODO(author): ..."``)."""
    return [k for k, v in info.items() if isinstance(v, str) and v.startswith(TODO)]
