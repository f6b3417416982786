"""The report of a reproduction, a pure function of ``study.json`` and the finished cell records;
and :func:`merge`, which combines the cells of several output folders into one.

Because the report depends on nothing but those files, a study split over machines (``--methods``)
and merged gives the same report as one run over all methods.

``report.json`` holds, per evaluation and column (accuracies in percent):

- ``summary[arm][column]``: ``mean``, ``std`` (over seeds, divisor n - 1), ``n`` and the per-seed values;
- ``paired[arm][column]``: the arm minus the baseline, paired by seed, with its 95% t-interval
  (:func:`mireg.reproduce.stats.paired_difference`), in percentage points;
- ``paper[arm][column]``: the paper's number (None where not filled in), and ``paper_note``: why they are
  missing or what limits the comparison;

plus ``cost[arm]`` (training-loop seconds, images/s, wall seconds, estimator seconds, over seeds), the
failed cells and the failed sanity checks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mireg.reproduce.cells import cell_dir, find_cells, prepare_out, read_study, write_json
from mireg.reproduce.stats import paired_difference, summarize
from mireg.reproduce.studies import CLEAN, WORST
from mireg.utils.atomic import atomic_write_text

__all__ = ["REPORT_FORMAT", "build_report", "write_report", "merge"]

REPORT_FORMAT = "mireg-reproduce-report/1"
COST_KEYS = ("train_seconds", "images_per_second", "wall_seconds", "estimator_seconds")


def _columns(records: list[dict[str, Any]], evaluation: str) -> list[str]:
    attacks: list[str] = []
    for record in records:
        for label in record["evaluation"].get(evaluation, {}).get("attacks", []):
            if label not in attacks:
                attacks.append(label)
    return [CLEAN, *attacks, WORST]


def _evaluation_report(description: dict[str, Any], records: list[dict[str, Any]], evaluation: str,
                       arms: list[str]) -> dict[str, Any]:
    done = [r for r in records if r["status"] == "done"]
    columns = _columns(done, evaluation)
    values = {arm: {col: {r["seed"]: 100.0 * r["accuracy"][evaluation][col] for r in done
                          if r["arm"] == arm and r["accuracy"].get(evaluation, {}).get(col) is not None}
                    for col in columns} for arm in arms}
    summary = {arm: {col: {**summarize(list(v.values())), "values": {str(s): x for s, x in sorted(v.items())}}
                     for col, v in cols.items()} for arm, cols in values.items()}
    baseline = description["baseline"]
    paired = {}
    if baseline in values:
        paired = {arm: {col: paired_difference(values[arm][col], values[baseline][col]) for col in columns}
                  for arm in arms if arm != baseline}
    paper = description.get("paper_numbers", {}).get(evaluation, {})
    suite = next(e["suite"] for e in description["settings"]["evaluations"] if e["name"] == evaluation)
    settings = next((r["evaluation"][evaluation] for r in done if evaluation in r["evaluation"]), {"suite": suite})
    counts = sorted({(col, r["n"][evaluation][col]) for r in done for col in r["n"].get(evaluation, {})})
    return {"columns": columns, "summary": summary, "paired": paired,
            "paper": {arm: {col: paper.get(arm, {}).get(col) for col in columns} for arm in arms},
            "paper_note": description.get("paper_notes", {}).get(evaluation, ""),
            "paper_only_columns": sorted({c for row in paper.values() for c in row} - set(columns)) if done else [],
            "settings": {k: v for k, v in settings.items() if k != "seconds"},
            "points": {col: sorted({n for c, n in counts if c == col}) for col in columns}}


def build_report(description: dict[str, Any], records: Sequence[dict[str, Any]],
                 notes: Sequence[str] = ()) -> dict[str, Any]:
    """The report (a JSON-able dict) of the cells ``records`` of the study ``description``.

    Args:
        description: the study's description, as its output folder stores it.
        records: the finished cells' records (``cell.json``).
        notes: lines added to the report.

    Returns:
        The report: per evaluation, mean ± std over seeds and seed-paired differences.

    Examples:
        It reads the records of finished runs, so it is not run here (:func:`write_report` calls it):

        >>> from mireg.reproduce import build_report
        >>> report = build_report(description, records)  # doctest: +SKIP
    """
    records = sorted(records, key=lambda r: (r["arm"], r["seed"]))
    settings = description["settings"]
    order = [a["name"] for a in settings["arms"]]
    arms = [a for a in order if any(r["arm"] == a for r in records)]
    report: dict[str, Any] = {
        "format": REPORT_FORMAT, "study": description, "arms": arms,
        "seeds": sorted({r["seed"] for r in records}),
        "evaluations": {e["name"]: _evaluation_report(description, records, e["name"], arms)
                        for e in settings["evaluations"]},
        "cost": {}, "cells": [], "failed": [], "failed_checks": [], "notes": list(notes)}
    for arm in arms:
        mine = [r for r in records if r["arm"] == arm]
        report["cost"][arm] = {key: summarize([r["cost"][key] for r in mine if r["cost"].get(key) is not None])
                               for key in COST_KEYS}
        report["cost"][arm]["devices"] = sorted({str(r["cost"].get("device")) for r in mine})
        report["cost"][arm]["epochs"] = sorted({r["cost"].get("epochs") for r in mine})
    for r in records:
        report["cells"].append({"arm": r["arm"], "seed": r["seed"], "status": r["status"],
                                "selected_epoch": r["selected_epoch"]})
        if r["status"] == "failed":
            report["failed"].append({"arm": r["arm"], "seed": r["seed"], "error": r["error"]})
        for evaluation, checks in sorted(r["failed_checks"].items()):
            if checks:
                report["failed_checks"].append({"arm": r["arm"], "seed": r["seed"], "evaluation": evaluation,
                                                "checks": checks})
    return report


def write_report(out: str | os.PathLike, notes: Sequence[str] = ()) -> dict[str, Any]:
    """Build the report of the folder ``out`` and write ``report.json``, ``report.md`` and the plots.

    Args:
        out: the output folder of :func:`mireg.reproduce.reproduce`.
        notes: lines added to the report.

    Returns:
        The report (the dict written to ``report.json``).

    Examples:
        It needs the folder of a reproduction run, so it is not run here:

        >>> from mireg.reproduce import write_report
        >>> report = write_report("runs/reproduce/infoat-table2-smoke")  # doctest: +SKIP
    """
    from mireg.reproduce.plots import plot_report
    from mireg.reproduce.render import render_markdown

    out = Path(out)
    report = build_report(read_study(out), find_cells(out), notes)
    write_json(out / "report.json", report)
    figures: list[str] = []
    try:
        figures = [p.name for p in plot_report(report, out)]
    except ImportError as err:
        print(f"mireg reproduce: no plots: {err}", file=sys.stderr)
    atomic_write_text(out / "report.md", render_markdown(report, figures))
    return report


def merge(dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> dict[str, Any]:
    """Combine the finished cells of the output folders ``dirs`` (same study, same budget and settings)
    into ``out_dir`` (their ``cell.json`` records) and write its report; returns the report.

    A (method, seed) cell found in several folders is taken from the first folder that has it (a
    note in the report says so).

    Args:
        dirs: the output folders.
        out_dir: the folder of the combined report.

    Returns:
        The combined report.

    Examples:
        It needs the folders of reproduction runs, so it is not run here:

        >>> from mireg.reproduce import merge
        >>> report = merge(["runs/part-a", "runs/part-b"], "runs/all")  # doctest: +SKIP
    """
    if isinstance(dirs, (str, os.PathLike)) or not dirs:
        raise ValueError("dirs must be a non-empty list of 'mireg reproduce' output folders")
    out = Path(out_dir)
    sources = [Path(d) for d in dirs]
    if any(s.resolve() == out.resolve() for s in sources):
        raise ValueError(f"the merged folder {str(out)!r} must not be one of the folders merged")
    descriptions = [read_study(s) for s in sources]
    for source, description in zip(sources[1:], descriptions[1:], strict=True):
        if description["settings"] != descriptions[0]["settings"]:
            raise ValueError(f"{str(source)!r} holds another study, budget or settings than {str(sources[0])!r} "
                             f"({description['settings']['study']}/{description['settings']['budget']} vs "
                             f"{descriptions[0]['settings']['study']}/{descriptions[0]['settings']['budget']}); "
                             "only runs of the same study at the same budget merge")
    prepare_out(out, descriptions[0])
    keys = {a["name"]: a["key"] for a in descriptions[0]["settings"]["arms"]}
    taken: dict[tuple[str, int], Path] = {}
    notes = []
    for source in sources:
        for record in find_cells(source):
            cell = (record["arm"], record["seed"])
            if cell in taken:
                notes.append(f"{record['arm']} seed {record['seed']} is in {taken[cell].name} and {source.name}: "
                             f"the cell of {taken[cell].name} is used")
                continue
            taken[cell] = source
            write_json(cell_dir(out, keys[record["arm"]], record["seed"]) / "cell.json", record)
    return write_report(out, notes)
