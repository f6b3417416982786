"""Figures of a reproduction report, drawn with matplotlib's object API (no pyplot global state).

Per evaluation: ``<evaluation>.png``, the mean accuracy per method and column with ± one standard
deviation over seeds (the paper's numbers as black ticks where filled in), and
``<evaluation>-paired.png``, each method minus the baseline (paired by seed) with its 95% interval.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mireg._optional import require
from mireg.utils.atomic import save_figure

__all__ = ["plot_report", "plot_accuracy", "plot_paired"]


def _figure_class():
    require("matplotlib", "the reproduction report's plots")
    from matplotlib.figure import Figure

    return Figure


def plot_accuracy(ev: dict[str, Any], arms: list[str], title: str = ""):
    """Grouped bars: one group per column, one bar per method (mean ± sd over seeds)."""
    figure = _figure_class()(figsize=(max(6.0, 1.2 * len(ev["columns"]) * max(1, len(arms)) / 3), 4.0))
    ax = figure.add_subplot()
    width = 0.8 / max(1, len(arms))
    for i, arm in enumerate(arms):
        xs = [j + (i - (len(arms) - 1) / 2) * width for j in range(len(ev["columns"]))]
        stats = [ev["summary"][arm][c] for c in ev["columns"]]
        means = [s["mean"] if s["mean"] is not None else 0.0 for s in stats]
        errors = [s["std"] or 0.0 for s in stats]
        ax.bar(xs, means, width, yerr=errors, capsize=2, label=arm)
        paper = [ev["paper"].get(arm, {}).get(c) for c in ev["columns"]]
        marks = [(x, p) for x, p in zip(xs, paper, strict=True) if p is not None]
        if marks:
            ax.scatter([x for x, _ in marks], [p for _, p in marks], marker="_", s=120, color="black",
                       label="paper" if i == 0 else None, zorder=3)
    ax.set_xticks(range(len(ev["columns"])), ev["columns"], rotation=30, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=min(4, len(arms) + 1))
    if title:
        ax.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def plot_paired(ev: dict[str, Any], baseline: str, title: str = ""):
    """One panel per column: each method minus the baseline (points) with its 95% t-interval (bars)."""
    arms = list(ev["paired"])
    columns = ev["columns"]
    figure = _figure_class()(figsize=(2.2 * len(columns), 0.45 * len(arms) + 1.4))
    axes = figure.subplots(1, len(columns), sharey=True, squeeze=False)[0]
    for ax, col in zip(axes, columns, strict=True):
        for y, arm in enumerate(arms):
            d = ev["paired"][arm][col]
            if not d["n"]:
                continue
            if d["low"] is not None:
                ax.plot([d["low"], d["high"]], [y, y], color="tab:blue")
            ax.plot([d["mean"]], [y], "o", color="tab:blue", markersize=4)
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_title(col, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_yticks(range(len(arms)), arms)
    axes[0].set_ylim(len(arms) - 0.5, -0.5)   # the table's order, top to bottom
    figure.supxlabel(f"difference vs {baseline} (percentage points, 95% interval over seed pairs)", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def plot_report(report: dict[str, Any], directory: str | os.PathLike) -> list[Path]:
    """Draw every figure of ``report`` into ``directory``; returns the PNG paths."""
    out = Path(directory)
    paths = []
    baseline = report["study"]["baseline"]
    for name, ev in report["evaluations"].items():
        if not report["arms"]:
            break
        title = f"{report['study']['settings']['study']} ({report['study']['settings']['budget']}): {name}"
        paths.append(out / f"{name}.png")
        save_figure(plot_accuracy(ev, report["arms"], title), paths[-1], dpi=110)
        if ev["paired"]:
            paths.append(out / f"{name}-paired.png")
            save_figure(plot_paired(ev, baseline, title), paths[-1], dpi=110)
    return paths
