"""``report.md``: the report of :func:`mireg.reproduce.report.build_report` as markdown tables."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["render_markdown", "format_summary", "format_paired"]

DASH = "—"


def format_summary(s: dict[str, Any]) -> str:
    """``95.2 ± 1.1 (5)``: mean ± standard deviation (number of seeds); ``—`` without values."""
    if not s or not s.get("n"):
        return DASH
    spread = f" ± {s['std']:.1f}" if s.get("std") is not None else ""
    return f"{s['mean']:.1f}{spread} ({s['n']})"


def format_paired(d: dict[str, Any]) -> str:
    """``+1.2 [-0.5, +2.9] (5)``: mean paired difference [95% interval] (number of pairs)."""
    if not d or not d.get("n"):
        return DASH
    interval = f" [{d['low']:+.1f}, {d['high']:+.1f}]" if d.get("low") is not None else ""
    return f"{d['mean']:+.1f}{interval} ({d['n']})"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _eps_text(settings: dict[str, Any]) -> str:
    from mireg.evaluation.suites import format_eps

    if settings.get("eps") is None:
        return "?"
    return format_eps(settings["eps"], settings.get("norm", "Linf"))


def _evaluation_section(name: str, ev: dict[str, Any], arms: list[str], baseline: str) -> list[str]:
    st = ev["settings"]
    points = ", ".join(f"{col} {'/'.join(map(str, n))}" for col, n in ev["points"].items() if n)
    threat = f", {st['norm']} eps = {_eps_text(st)}" if "norm" in st else ""
    lines = [f"## {name}: suite `{st['suite']}`{threat}",
             "", f"Test points per column: {points or DASH}."
             + (f" Every iteration budget capped at {st['max_steps']} (reduced)." if st.get("max_steps") else ""), ""]
    cols = ev["columns"]
    rows = []
    for arm in arms:
        rows.append([arm] + [format_summary(ev["summary"][arm][c]) for c in cols])
        paper = ev["paper"].get(arm, {})
        if any(v is not None for v in paper.values()):
            rows.append([f"{arm} (paper)"] + [DASH if paper.get(c) is None else f"{paper[c]:g}" for c in cols])
    lines += _table(["method"] + cols, rows)
    if st.get("threat_notes"):
        lines += [""] + [f"- {note}" for note in st["threat_notes"]]
    if not any(v is not None for row in ev["paper"].values() for v in row.values()):
        lines += ["", f"**Paper numbers not available**: {ev.get('paper_note') or 'none recorded in the study'}."]
    elif ev.get("paper_note"):
        lines += ["", f"**On the paper's numbers**: {ev['paper_note']}."]
    if ev["paper_only_columns"]:
        lines += ["", f"Columns of the paper without a mireg suite entry: {', '.join(ev['paper_only_columns'])}."]
    if ev["paired"]:
        lines += ["", f"Paired differences vs {baseline} (percentage points; mean [95% t-interval] (seed pairs)):",
                  ""]
        lines += _table(["method"] + cols, [[arm] + [format_paired(ev["paired"][arm][c]) for c in cols]
                                            for arm in arms if arm in ev["paired"]])
    return lines + [""]


def _cost_section(report: dict[str, Any]) -> list[str]:
    def f(s: dict[str, Any], digits: int = 0) -> str:
        if not s.get("n"):
            return DASH
        spread = f" ± {s['std']:.{digits}f}" if s.get("std") is not None else ""
        return f"{s['mean']:.{digits}f}{spread}"

    rows = []
    for arm in report["arms"]:
        c = report["cost"][arm]
        rows.append([arm, f(c["train_seconds"]), f(c["images_per_second"]), f(c["wall_seconds"]),
                     f(c["estimator_seconds"]), "/".join(map(str, c["epochs"])), ", ".join(c["devices"])])
    head = ["method", "training loop (s)", "images/s", "wall (s)", "estimators (s)", "epochs", "device"]
    return ["## Training cost", "",
            "Per seed, mean ± standard deviation: the training loop's seconds and images/s (from the run's "
            "metrics), the wall time of the training call (with validation; only the last part for a resumed "
            "run) and, for NAMID's methods, the estimator training they share per seed.", ""] + _table(head, rows)


def _settings_section(study: dict[str, Any]) -> list[str]:
    s = study["settings"]
    lines = ["## Exact settings", "", "| method | METHODS name | recipe | overrides |", "|---|---|---|---|"]
    for arm in s["arms"]:
        lines.append(f"| {arm['name']} | {arm['method']} | {arm['recipe']} | `{json.dumps(arm['overrides'])}` |")
    lines += ["", f"Evaluation budget: `{json.dumps(s['evaluation_budget'], sort_keys=True)}`."]
    if s.get("estimators") and any(a["needs_estimators"] for a in s["arms"]):
        lines.append(f"NAMID's estimators, trained per seed on the {s['estimators_from']} model of that seed: "
                     f"`{json.dumps(s['estimators'], sort_keys=True)}`.")
        lines += [f"{a['name']}'s estimators: the same with objective `{a['estimator_objective']}`."
                  for a in s["arms"] if a.get("estimator_objective")]
    return lines + [""]


def _problems_section(report: dict[str, Any]) -> list[str]:
    lines = []
    if report["failed"]:
        lines += ["## Failed cells", ""]
        lines += [f"- {f['arm']} seed {f['seed']}: {f['error']}" for f in report["failed"]]
        lines.append("")
    if report["failed_checks"]:
        lines += ["## Failed sanity checks", ""]
        lines += [f"- {c['arm']} seed {c['seed']} ({c['evaluation']}): {'; '.join(c['checks'])}"
                  for c in report["failed_checks"]]
        lines.append("")
    return lines


def render_markdown(report: dict[str, Any], figures: list[str] = ()) -> str:
    """The whole ``report.md``."""
    study = report["study"]
    s = study["settings"]
    lines = [f"# {study['title']}", "",
             f"`mireg reproduce {s['study']} --budget {s['budget']}`: {study['reproduces']} of {study['paper']}.", "",
             f"**Budget `{s['budget']}`**: {study['budget_description']}.", ""]
    if s["evaluation_budget"].get("max_steps"):
        lines += [f"> **Reduced evaluation budget**: every attack's iterations capped at "
                  f"{s['evaluation_budget']['max_steps']}. A smoke test of the pipeline, not a claim about the "
                  "methods.", ""]
    seeds = ", ".join(map(str, report["seeds"])) or DASH
    lines += [f"Seeds: {seeds}. Accuracy in percent on the test split: mean ± standard deviation over seeds "
              "(number of seeds); the paper's number on a `(paper)` row where filled in. The worst case "
              "counts a point robust only if it survives every attack.", ""]
    lines += _settings_section(study)
    for name, ev in report["evaluations"].items():
        lines += _evaluation_section(name, ev, report["arms"], study["baseline"])
    lines += [f"![{f}]({f})" for f in figures] + ([""] if figures else [])
    lines += _cost_section(report) + [""] + _problems_section(report)
    if study.get("notes"):
        lines += ["## Deviations from the paper", "", study["notes"], ""]
    if report["notes"]:
        lines += ["## Merge notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    return "\n".join(lines)
