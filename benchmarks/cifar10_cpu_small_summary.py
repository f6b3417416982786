"""Collect the runs of ``benchmarks/cifar10_cpu_small.sh`` into one JSON and a markdown table.

Reads ``OUT/<method>/metrics.json`` (the training history), ``OUT/<method>/eval-quick/report.json``
(PGD-20 and APGD-CE on the first 1,000 test images) and ``OUT/<method>/eval-autoattack/report.json``
(AutoAttack standard on the first 200) of every method folder that has them.

    python benchmarks/cifar10_cpu_small_summary.py runs/cifar10-cpu-small --json summary.json --plot curves.png
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def summarize(run: Path) -> dict:
    """One method's row: its training history, best epoch and the two evaluations."""
    metrics = json.loads((run / "metrics.json").read_text())
    epochs = metrics["epochs"]
    best = max((row for row in epochs if row["best"]), key=lambda row: row["epoch"])
    row = {"method": run.name, "epochs": len(epochs), "best_epoch": best["epoch"],
           "train_seconds": round(sum(r["train_seconds"] for r in epochs), 1),
           "history": [{k: r[k] for k in ("epoch", "loss", "train_adv_acc", "val_clean_acc", "val_robust_acc")}
                       for r in epochs]}
    for name in ("quick", "autoattack"):
        report = _read(run / f"eval-{name}" / "report.json")
        if report is not None:
            row[name] = {"n": report["n"], "clean": report["clean_accuracy"],
                         "robust": report["robust_accuracy"], "worst_case": report["worst_case_accuracy"]}
    return row


def paired_points(run: Path, baseline: Path, name: str) -> dict | None:
    """Worst-case accuracy of ``run`` minus ``baseline``'s on the same test points, with a 95% normal
    interval over the points: the test-sampling error only (one training seed says nothing of the
    seed-to-seed spread)."""
    files = [folder / f"eval-{name}" / "outcomes.npz" for folder in (run, baseline)]
    if not all(f.is_file() for f in files):
        return None
    ours, base = (np.load(f) for f in files)
    if not np.array_equal(ours["indices"], base["indices"]):
        raise ValueError(f"{files[0]} and {files[1]} hold different test points")
    diff = ours["worst_case"].astype(float) - base["worst_case"].astype(float)
    half = 1.96 * diff.std(ddof=1) / math.sqrt(diff.size)
    return {"baseline": baseline.name, "n": int(diff.size), "difference": float(diff.mean()),
            "ci95": [float(diff.mean() - half), float(diff.mean() + half)]}


def markdown(rows: list[dict]) -> str:
    """The table of the results page (percent)."""
    lines = ["| method | best epoch | train s | clean (n=1000) | PGD-20 | APGD-CE | clean (n=200) | AutoAttack |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        quick, aa = row.get("quick"), row.get("autoattack")
        cells = [row["method"], f"{row['best_epoch']}/{row['epochs']}", f"{row['train_seconds']:.0f}"]
        cells += ([f"{100 * quick['clean']:.1f}", f"{100 * quick['robust']['PGD-20']:.1f}",
                   f"{100 * quick['robust']['APGD-CE']:.1f}"] if quick else ["-"] * 3)
        cells += [f"{100 * aa['clean']:.1f}", f"{100 * aa['worst_case']:.1f}"] if aa else ["-"] * 2
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Validation clean and PGD-10 accuracy per epoch, one colour per method."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    for i, row in enumerate(rows):
        epochs = [r["epoch"] for r in row["history"]]
        color = f"C{i}"
        ax.plot(epochs, [100 * r["val_clean_acc"] for r in row["history"]], color=color, marker="o",
                label=f"{row['method']} clean")
        ax.plot(epochs, [100 * r["val_robust_acc"] for r in row["history"]], color=color, marker="s",
                linestyle="--", label=f"{row['method']} PGD-10")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("CIFAR-10 (JPEG q75 copy), small CNN, CPU")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the OUT folder of cifar10_cpu_small.sh")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--plot", type=Path, help="also draw the validation curves here (needs matplotlib)")
    args = parser.parse_args()
    runs = [run for run in sorted(args.out.iterdir()) if (run / "metrics.json").is_file()]
    rows = [summarize(run) for run in runs]
    baseline = args.out / "at"
    for run, row in zip(runs, rows, strict=True):
        if run != baseline:
            row["vs_at"] = {name: paired_points(run, baseline, name) for name in ("quick", "autoattack")}
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    if args.plot:
        plot(rows, args.plot)
    print(markdown(rows))
    for row in rows:
        for name, paired in row.get("vs_at", {}).items():
            if paired:
                low, high = (100 * v for v in paired["ci95"])
                print(f"{row['method']} - at, {name} worst case on the same {paired['n']} points: "
                      f"{100 * paired['difference']:+.1f} [{low:+.1f}, {high:+.1f}]")


if __name__ == "__main__":
    main()
