"""Per-epoch training metrics: CSV and JSON files and a plot of the training curves."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from mireg._optional import require


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_history(history: list[dict[str, Any]], out_dir: str | os.PathLike,
                  summary: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``metrics.csv`` (one row per epoch) and ``metrics.json`` (``{"epochs": [...], **summary}``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    csv_path, json_path = out / "metrics.csv", out / "metrics.json"
    tmp = csv_path.with_name(f"metrics.csv.tmp-{os.getpid()}")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, csv_path)
    _atomic_write_text(json_path, json.dumps({"epochs": history, **(summary or {})}, indent=2) + "\n")
    return csv_path, json_path


def plot_history(history: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """Draw loss (left) and accuracies (right) against epochs into ``path`` (PNG)."""
    require("matplotlib", "plot_history")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key in [k for k in history[0] if k.startswith("loss")] if history else []:
        ax_loss.plot(epochs, [row.get(key) for row in history], marker=".", label=key)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    ax_loss.legend(fontsize=8)
    labels = {"train_adv_acc": "train (adversarial, on the fly)", "train_nat_acc": "train (clean)",
              "val_clean_acc": "validation clean", "val_robust_acc": "validation PGD"}
    for key, label in labels.items():
        values = [row.get(key) for row in history]
        if any(v is not None and v == v for v in values):
            ax_acc.plot(epochs, values, marker=".", label=label)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
