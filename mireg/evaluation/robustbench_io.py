"""RobustBench out: evaluate the RobustBench way and write the leaderboard's model-info JSON.

(RobustBench in: :mod:`mireg.models.robustbench` loads Model-Zoo models; :func:`mireg.train.finetune`
fine-tunes any model with any mireg method.)

- :func:`robustbench_evaluate`: evaluate the RobustBench way: the FIRST n test points, AutoAttack
  ``version="standard"`` at 8/255 (L-inf) or 0.5 (L2), plus mireg's sanity checks.
- :func:`model_info` / :func:`write_model_info`: the leaderboard's model-info JSON in the form of
  RobustBench's own ``model_info/<dataset>/<threat_model>/*.json`` entries (every field of
  ``robustbench.utils.ModelInfo`` that has a value, ``unreliable``, ``external`` only when a stronger
  evaluation gave a lower number, as in RobustBench's entries: never ``null``, which its leaderboard
  sorting cannot read) plus ``evaluation``: n, the test-set size, whether the evaluation is partial,
  the threat model. Filled from the run where known, ``"TODO(author): ..."`` where only the author can say.
- :func:`~mireg.evaluation.robustbench_export.export_submission` writes a whole submission bundle.
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
from mireg.evaluation.suites import format_eps, get_suite
from mireg.utils.atomic import atomic_write_text

__all__ = ["robustbench_evaluate", "model_info", "write_model_info", "read_model_info", "missing_fields",
           "MODEL_INFO_EXTRA_FIELDS", "TEST_SET_SIZES", "TODO"]

THREAT_MODELS = ("Linf", "L2")
#: Fields beyond ``ModelInfo``: RobustBench's entries carry ``unreliable`` and ``external``; ``evaluation``
#: (n, test-set size, partial, threat model, attack) is mireg's record of what was run.
MODEL_INFO_EXTRA_FIELDS = ("unreliable", "external", "evaluation")
#: Points RobustBench evaluates per dataset (the whole CIFAR test sets, its 5,000 ImageNet images).
TEST_SET_SIZES = {"cifar10": 10_000, "cifar100": 10_000, "imagenet": 5_000}
#: ModelInfo fields left out when they have no value (RobustBench's L-inf / L2 entries do not carry them).
_OPTIONAL_FIELDS = ("corruptions_acc", "corruptions_acc_3d", "corruptions_mce", "corruptions_mce_3d", "footnote",
                    "external")
#: Fields the evaluation measures (``dataset`` and ``external`` have their own arguments): never overridden.
_MEASURED = ("eps", "clean_acc", "autoattack_acc", "unreliable", "evaluation")
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
                         dataset: str | None = None, max_steps: int | None = None,
                         log_path: str | os.PathLike | None = None) -> EvaluationReport:
    """Evaluate the RobustBench way: the first ``n`` test points, AutoAttack standard.

    ``eps`` defaults to the leaderboard's (8/255 for L-inf, 0.5 for L2). ``data`` is ``(x, y)`` of
    the test split in its fixed order, an ``ImageTensors``, a torch Dataset or DataLoader, or a dataset
    name. Gradient-masking probes run too (``sanity``): a failed check is written as
    ``"unreliable": true`` by :func:`model_info`. ``log_path``: append AutoAttack's own log of every
    batch it attacks (the clean-correct points) to this file.

    Example::

        >>> report = robustbench_evaluate(model, "cifar10", n=10_000, log_path="autoattack.log")
    """
    check_choice("threat_model", threat_model, THREAT_MODELS)
    suite = get_suite("robustbench-linf" if threat_model == "Linf" else "robustbench-l2")
    if log_path is not None:
        suite = dataclasses.replace(suite, attacks=tuple(
            dataclasses.replace(a, kwargs={**a.kwargs, "log_path": os.fspath(log_path)}) for a in suite.attacks))
    return evaluate(model, data, suite=suite, eps=eps, n=n, batch_size=batch_size, device=device, seed=seed,
                    progress=progress, sanity=sanity, dataset=dataset, max_steps=max_steps)


def model_info(report: EvaluationReport, *, name: str | None = None, dataset: str | None = None,
               external: EvaluationReport | float | None = None, **fields: Any) -> dict[str, Any]:
    """The RobustBench model-info dict for a report of :func:`robustbench_evaluate`.

    Filled from the run: ``dataset``, ``eps`` (``"8/255"`` / ``"0.5"``), ``clean_acc`` and
    ``autoattack_acc`` (percent strings with 2 decimals, as RobustBench writes them),
    ``number_forward_passes`` (1: one deterministic forward pass), ``unreliable`` (True when a
    gradient-masking check failed), ``external`` (only when a stronger suite report, or a number in
    [0, 1], is lower than AutoAttack's: RobustBench's "best known robust accuracy"), ``evaluation``
    (n, the dataset's RobustBench test-set size, ``partial``: n smaller than it, the threat model, the
    attack and tool versions) and, for a partial evaluation, a ``footnote`` saying so. Everything else
    (``link``, ``name``, ``authors``, ``additional_data``, ``venue``, ``architecture``, ``reported``) is
    ``"TODO(author): ..."`` unless given in ``fields``. Fields without a value (the corruption fields)
    are left out, as in RobustBench's own entries. The measured fields cannot be given in ``fields``, and
    a report with a reduced budget is refused: neither is a claim.

    Example::

        >>> info = model_info(report, name="Mutual information AT", dataset="cifar10", venue="ICML 2026")
        >>> info["autoattack_acc"], info["evaluation"]["partial"]
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
    measured = sorted(set(fields) & set(_MEASURED))
    if measured:
        raise ValueError(f"model-info fields {measured} are measured by the evaluation, not given: run "
                         "robustbench_evaluate again instead of overriding them")
    dataset = dataset or report.meta.get("dataset") or f"{TODO}: cifar10 | cifar100 | imagenet"
    aa = report.robust_accuracy["AutoAttack"]
    evaluation = _evaluation_record(report, dataset)
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
        "autoattack_acc": f"{100 * aa:.2f}",
        "unreliable": report.masking_suspected,
        "external": _external(external, aa),
        "evaluation": evaluation,
    }
    notes = [fields.pop("footnote", None), _partial_note(evaluation)]
    info["footnote"] = " ".join(n for n in notes if n) or None
    info.update(fields)
    keys = [*_robustbench_fields(), *MODEL_INFO_EXTRA_FIELDS]
    return {k: info.get(k) for k in keys if not (k in _OPTIONAL_FIELDS and info.get(k) is None)}


def _external(external: EvaluationReport | float | None, autoattack_acc: float) -> str | None:
    """RobustBench's ``external`` ("best known robust accuracy"): a lower number than AutoAttack's, else None."""
    if isinstance(external, EvaluationReport):
        lower = external.worst_case_accuracy if external.worst_case_accuracy < autoattack_acc else None
    elif external is not None:
        lower = float(check_number("external", external, low=0.0, high=1.0))
    else:
        lower = None
    return None if lower is None else f"{100 * lower:.2f}"


def _evaluation_record(report: EvaluationReport, dataset: str) -> dict[str, Any]:
    """What was run: n of the test-set size (partial or not), the threat model, the attack, the tools."""
    full = TEST_SET_SIZES.get(dataset)
    versions = report.meta.get("versions", {})
    return {"n": report.n, "test_set_size": full, "partial": None if full is None else report.n < full,
            "first_n_points": True, "threat_model": report.norm, "eps": report.eps,
            "attack": f"AutoAttack standard (pyautoattack {versions.get('pyautoattack', '?')})",
            "tool": f"mireg {versions.get('mireg', '?')}", "seed": report.meta.get("seed")}


def _partial_note(evaluation: Mapping[str, Any]) -> str | None:
    if evaluation["partial"]:
        return (f"Partial evaluation: AutoAttack on the first {evaluation['n']} of the "
                f"{evaluation['test_set_size']} test points.")
    if evaluation["partial"] is None:
        return f"Evaluated on {evaluation['n']} points of a dataset RobustBench does not list."
    return None


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
