"""Figures: robust accuracy per attack, accuracy against eps, and the InfoAT paper's analyses.

matplotlib is imported inside each function, which draws on a ``matplotlib.figure.Figure`` (no pyplot,
no change of the global backend), so importing mireg never needs matplotlib.
Every function writes one PNG and returns its path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mireg._optional import require
from mireg.evaluation.suites import format_eps
from mireg.utils.atomic import save_figure

if TYPE_CHECKING:  # the report imports this module (EvaluationReport.plot); the type is for annotations only
    from mireg.evaluation.report import EvaluationReport

__all__ = ["plot_report", "plot_robust_accuracy", "plot_eps_curve", "plot_weight_surface", "plot_input_surface",
           "plot_entropy_vs_perturbation"]


def _figure(figsize: tuple[float, float]) -> Any:
    """A ``matplotlib.figure.Figure`` (no pyplot: no global state, the backend is left alone)."""
    require("matplotlib", "plotting an evaluation")
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _save(fig: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_robust_accuracy(report: EvaluationReport, path: str | os.PathLike) -> Path:
    """Bar chart: clean, each attack, and the per-sample worst case (percent)."""
    names = ["clean", *report.results, "worst case"]
    values = [report.clean_accuracy, *report.robust_accuracy.values(), report.worst_case_accuracy]
    fig = _figure((max(4.0, 0.8 * len(names) + 1), 3.5))
    ax = fig.subplots()
    colors = ["tab:gray"] + ["tab:blue" if r.kind == "white-box" else "tab:orange"
                             for r in report.results.values()] + ["tab:red"]
    bars = ax.bar(range(len(names)), [100 * v for v in values], color=colors)
    for bar, v in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, 100 * v + 1, f"{100 * v:.1f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{report.suite}: {report.norm} eps={format_eps(report.eps, report.norm)}, n={report.n}")
    return _save(fig, path)


def plot_eps_curve(report: EvaluationReport, path: str | os.PathLike) -> Path:
    """Accuracy against eps (the sanity sweep; the suite's eps marked)."""
    if not report.eps_curve:
        raise ValueError("the report has no eps curve: evaluate with sanity=True (or sanity=['eps'])")
    curve = report.eps_curve
    eps = [0.0, *curve["eps"]]
    acc = [report.clean_accuracy, *curve["accuracy"]]
    fig = _figure((4.5, 3.5))
    ax = fig.subplots()
    ax.plot(eps, [100 * a for a in acc], marker="o", label=curve.get("attack", "PGD"))
    ax.axvline(report.eps, color="tab:red", linestyle="--", linewidth=1, label=f"eps={format_eps(report.eps)}")
    ax.set_xlabel(f"eps ({report.norm})")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.legend()
    ax.set_title("accuracy vs eps")
    return _save(fig, path)


def plot_report(report: EvaluationReport, directory: str | os.PathLike) -> list[Path]:
    """``robust_accuracy.png`` and (when the sweep ran) ``accuracy_vs_eps.png`` in ``directory``."""
    out = Path(directory)
    paths = [plot_robust_accuracy(report, out / "robust_accuracy.png")]
    if report.eps_curve:
        paths.append(plot_eps_curve(report, out / "accuracy_vs_eps.png"))
    return paths


def plot_weight_surface(surface: dict[str, list[float]], path: str | os.PathLike) -> Path:
    """InfoAT Fig. 4: the loss change ``L(theta + alpha d) - L(theta)`` (after Wu et al. 2020) along a
    filter-normalized weight direction (the absolute loss for a surface without ``*_change`` keys)."""
    fig = _figure((4.5, 3.5))
    ax = fig.subplots()
    suffix = "_change" if "clean_change" in surface else ""
    ax.plot(surface["alpha"], surface["clean" + suffix], label="clean")
    if "adversarial" in surface:
        ax.plot(surface["alpha"], surface["adversarial" + suffix], label="adversarial (PGD)")
    ax.set_xlabel("alpha (filter-normalized direction)")
    ax.set_ylabel("loss change L(θ + αd) − L(θ)" if suffix else "cross-entropy")
    ax.legend()
    ax.set_title("weight-space loss surface")
    return _save(fig, path)


def plot_input_surface(surface: dict[str, Any], path: str | os.PathLike) -> Path:
    """InfoAT Fig. 5: 3-D loss surface over (PGD direction, random direction)."""
    import numpy as np

    a, b = np.meshgrid(np.asarray(surface["a"]), np.asarray(surface["b"]), indexing="ij")
    fig = _figure((5, 4))
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(a, b, np.asarray(surface["loss"]), cmap="viridis")
    ax.set_xlabel("PGD direction")
    ax.set_ylabel("random direction")
    ax.set_zlabel("loss")
    ax.set_title("input-space loss surface")
    return _save(fig, path)


def plot_entropy_vs_perturbation(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """InfoAT Fig. 1: clean prediction entropy against the smallest successful perturbation."""
    pairs = [(h, e) for h, e in zip(data["entropy"], data["min_eps"], strict=True) if 0 < e < math.inf]
    never = sum(1 for e in data["min_eps"] if e == math.inf)
    fig = _figure((4.5, 3.5))
    ax = fig.subplots()
    if pairs:
        ax.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=8, alpha=0.6)
    ax.set_xlabel("entropy H(p(x))")
    ax.set_ylabel("smallest successful eps")
    corr = data.get("correlation")
    title = "entropy vs vulnerability"
    if corr is not None and not math.isnan(corr):
        title += f" (r={corr:.2f})"
    ax.set_title(title + (f"; {never} never broken" if never else ""))
    return _save(fig, path)
