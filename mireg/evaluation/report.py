"""The result of an evaluation: per-attack and per-sample outcomes, worst case, sanity checks.

Accounting (the AutoAttack / RobustBench convention): a test point is *robust* to an attack when it
is classified correctly clean AND its adversarial example (inside the threat model's ball, or the
attack's own transport budget for a Wasserstein entry, and in
[0, 1]) is classified correctly. Robust accuracy = mean over the n points. The *worst case* over a
suite is robust only if it is robust to every attack run, so

    worst_case_accuracy <= min over attacks of robust_accuracy <= clean_accuracy.

``report.save(dir)`` writes ``report.json`` (everything but the per-sample arrays) and
``outcomes.npz`` (per-sample flags, adversarial predictions and perturbation norms), and
:meth:`EvaluationReport.load` reads them back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mireg.evaluation.advice import next_steps
from mireg.evaluation.plots import plot_report
from mireg.evaluation.suites import format_eps, threat_note
from mireg.utils.atomic import atomic_write_text, atomic_writer

__all__ = ["AttackResult", "SanityCheck", "EvaluationReport", "format_eps"]

REPORT_JSON = "report.json"
OUTCOMES_NPZ = "outcomes.npz"


@dataclasses.dataclass
class AttackResult:
    """Outcome of one attack over the n points.

    Attributes:
        label: suite label (e.g. ``"PGD-20"``).
        robust: (n,) bool, clean-correct and still correct under the attack.
        pred: (n,) long, prediction on the adversarial example (the clean prediction where the
            point was not attacked because it was already misclassified).
        perturbation: (n,) float, norm of ``x_adv - x`` in the suite's norm (NaN where not attacked);
            for a ``threat="wasserstein"`` entry the transport cost per unit of image mass.
        seconds: wall-clock time of the attack.
        attacked: number of points attacked (the clean-correct ones).
        ball_violations: points whose perturbation left the eps-ball (bounded attacks: a bug;
            never counted as successes).
        range_violations: points whose adversarial example left [0, 1] (never counted as successes).
        config: the resolved attack description (name, arguments, citation).
    """

    label: str
    robust: torch.Tensor
    pred: torch.Tensor
    perturbation: torch.Tensor
    seconds: float
    attacked: int
    ball_violations: int = 0
    range_violations: int = 0
    config: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return float(self.robust.double().mean()) if self.robust.numel() else float("nan")

    @property
    def kind(self) -> str:
        return str(self.config.get("kind", "white-box"))

    def summary(self) -> dict[str, Any]:
        return {"label": self.label, "robust_accuracy": self.accuracy, "seconds": self.seconds,
                "attacked": self.attacked, "ball_violations": self.ball_violations,
                "range_violations": self.range_violations, "config": self.config}


@dataclasses.dataclass
class SanityCheck:
    """One gradient-masking check: ``passed`` is False when the check is violated."""

    name: str
    passed: bool
    message: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class EvaluationReport:
    """Clean accuracy, robust accuracy per attack, per-sample worst case and sanity checks.

    Example::

        >>> report = mireg.evaluate(model, (x_test, y_test), suite="quick", n=1000)
        >>> print(report.table())
        >>> report.worst_case_accuracy, report.robust_accuracy["PGD-20"]
        >>> report.save("runs/eval")      # report.json + outcomes.npz (+ plots with report.plot())
    """

    suite: str
    norm: str
    eps: float
    labels: torch.Tensor
    clean_pred: torch.Tensor
    results: dict[str, AttackResult]
    indices: torch.Tensor | None = None
    checks: list[SanityCheck] = dataclasses.field(default_factory=list)
    eps_curve: dict[str, Any] | None = None
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    # -- accounting -------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.labels.numel())

    @property
    def clean_correct(self) -> torch.Tensor:
        return self.clean_pred == self.labels

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_correct.double().mean())

    @property
    def robust_accuracy(self) -> dict[str, float]:
        return {label: r.accuracy for label, r in self.results.items()}

    @property
    def worst_case(self) -> torch.Tensor:
        """(n,) bool: clean-correct and robust to every attack that ran."""
        flags = self.clean_correct.clone()
        for result in self.results.values():
            flags &= result.robust
        return flags

    @property
    def worst_case_accuracy(self) -> float:
        return float(self.worst_case.double().mean())

    @property
    def broken_by(self) -> list[str | None]:
        """Per point: ``"clean"`` if misclassified clean, else the first attack (suite order) that
        broke it, or None if it survived all."""
        out: list[str | None] = []
        clean = self.clean_correct.tolist()
        flags = {label: r.robust.tolist() for label, r in self.results.items()}
        for i in range(self.n):
            if not clean[i]:
                out.append("clean")
                continue
            out.append(next((label for label, f in flags.items() if not f[i]), None))
        return out

    @property
    def failed_checks(self) -> list[SanityCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def masking_suspected(self) -> bool:
        """True when any gradient-masking sanity check failed (the numbers are then not reliable)."""
        return bool(self.failed_checks)

    @property
    def next_steps(self) -> list[dict[str, str]]:
        """Per failed check: what it means and the command to run next (:mod:`mireg.evaluation.advice`);
        the command names ``meta["checkpoint"]`` when the report has one."""
        return next_steps(self.failed_checks, norm=self.norm, eps=format_eps(self.eps, self.norm),
                          checkpoint=self.meta.get("checkpoint"))

    # -- presentation ------------------------------------------------------------------------
    def table(self) -> str:
        """A plain-text table for the terminal."""
        eps_text = format_eps(self.eps, self.norm)
        head = (f"mireg evaluation | suite {self.suite} | {self.norm} eps={eps_text} | n={self.n} | "
                f"seed {self.meta.get('seed', '?')} | {self.meta.get('device', '?')}")
        lines = [head]
        if self.meta.get("eps_source"):
            lines.append(f"eps {eps_text}: {self.meta['eps_source']}")
        if self.meta.get("reduced_budget"):
            lines.append(f"!! REDUCED BUDGET (max_steps={self.meta.get('max_steps')}): a smoke test, not a claim")
        width = max([len("worst case")] + [len(k) for k in self.results]) + 2
        lines.append(f"{'attack':<{width}}{'accuracy':>10}{'attacked':>10}{'time (s)':>10}")
        lines.append("-" * (width + 30))
        lines.append(f"{'clean':<{width}}{100 * self.clean_accuracy:>9.2f}%{'':>10}{'':>10}")
        for label, r in self.results.items():
            note = "" if not (r.ball_violations or r.range_violations) else \
                f"  [{r.ball_violations} outside ball, {r.range_violations} outside [0,1]]"
            lines.append(f"{label:<{width}}{100 * r.accuracy:>9.2f}%{r.attacked:>10d}{r.seconds:>10.1f}{note}")
        lines.append("-" * (width + 30))
        lines.append(f"{'worst case':<{width}}{100 * self.worst_case_accuracy:>9.2f}%")
        for r in self.results.values():
            note = threat_note({"label": r.label, **r.config})
            if note:
                lines.append(f"note: {note}")
        for label, reason in self.skipped.items():
            lines.append(f"skipped {label}: {reason}")
        if self.checks:
            lines.append("sanity checks (gradient masking):")
            for c in self.checks:
                lines.append(f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.message}")
            if self.masking_suspected:
                lines.append("  => gradient masking suspected: these robust accuracies may overestimate robustness. "
                             "What failed, and what to run next:")
                for step in self.next_steps:
                    lines += [f"  - {step['check']}: {step['meaning']}.", f"      next: {step['run']}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary (no per-sample arrays)."""
        return {
            "suite": self.suite, "norm": self.norm, "eps": self.eps, "eps_text": format_eps(self.eps, self.norm),
            "n": self.n, "clean_accuracy": self.clean_accuracy, "robust_accuracy": self.robust_accuracy,
            "worst_case_accuracy": self.worst_case_accuracy, "masking_suspected": self.masking_suspected,
            "attacks": {label: r.summary() for label, r in self.results.items()},
            "checks": [c.to_dict() for c in self.checks], "next_steps": self.next_steps, "eps_curve": self.eps_curve,
            "skipped": dict(self.skipped), "meta": dict(self.meta),
        }

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write ``report.json`` and ``outcomes.npz`` into ``directory``; returns their paths."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "labels": self.labels.cpu().numpy(), "clean_pred": self.clean_pred.cpu().numpy(),
            "clean_correct": self.clean_correct.cpu().numpy(), "worst_case": self.worst_case.cpu().numpy(),
        }
        if self.indices is not None:
            arrays["indices"] = self.indices.cpu().numpy()
        for i, r in enumerate(self.results.values()):
            arrays[f"robust_{i}"] = r.robust.cpu().numpy()
            arrays[f"pred_{i}"] = r.pred.cpu().numpy()
            arrays[f"perturbation_{i}"] = r.perturbation.cpu().numpy()
        summary = self.summary()
        summary["outcomes"] = {"file": OUTCOMES_NPZ,
                               "attack_keys": {label: i for i, label in enumerate(self.results)}}
        paths = {"json": out / REPORT_JSON, "npz": out / OUTCOMES_NPZ}
        with atomic_writer(paths["npz"]) as fh:
            np.savez_compressed(fh, **arrays)
        atomic_write_text(paths["json"], json.dumps(_jsonable(summary), indent=2))
        return paths

    @classmethod
    def load(cls, directory: str | os.PathLike) -> EvaluationReport:
        """Read a report written by :meth:`save`."""
        src = Path(directory)
        summary = json.loads((src / REPORT_JSON).read_text())
        with np.load(src / OUTCOMES_NPZ) as npz:
            arrays = {k: npz[k] for k in npz.files}
        results = {}
        for label, i in summary["outcomes"]["attack_keys"].items():
            info = summary["attacks"][label]
            results[label] = AttackResult(
                label=label, robust=torch.from_numpy(arrays[f"robust_{i}"]), pred=torch.from_numpy(arrays[f"pred_{i}"]),
                perturbation=torch.from_numpy(arrays[f"perturbation_{i}"]), seconds=info["seconds"],
                attacked=info["attacked"], ball_violations=info["ball_violations"],
                range_violations=info["range_violations"], config=info["config"])
        return cls(
            suite=summary["suite"], norm=summary["norm"], eps=summary["eps"],
            labels=torch.from_numpy(arrays["labels"]), clean_pred=torch.from_numpy(arrays["clean_pred"]),
            results=results, indices=torch.from_numpy(arrays["indices"]) if "indices" in arrays else None,
            checks=[SanityCheck(**c) for c in summary["checks"]], eps_curve=summary["eps_curve"],
            skipped=summary["skipped"], meta=summary["meta"])

    def plot(self, directory: str | os.PathLike) -> list[Path]:
        """Draw the report's figures into ``directory`` (see :mod:`mireg.evaluation.plots`)."""
        return plot_report(self, directory)


def _jsonable(value: Any) -> Any:
    """Plain JSON types (NaN/inf become None; tensors and numpy scalars become numbers/lists)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):
        return getattr(value, "__name__", repr(value))
    return repr(value)
