"""Per-epoch training metrics: CSV and JSON files, the run summary, the per-epoch log line and a plot."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from mireg._optional import require
from mireg.config import TrainConfig
from mireg.utils.atomic import atomic_write_text, atomic_writer, save_figure


def write_history(history: list[dict[str, Any]], out_dir: str | os.PathLike,
                  summary: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``metrics.csv`` (one row per epoch) and ``metrics.json`` (``{"epochs": [...], **summary}``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    csv_path, json_path = out / "metrics.csv", out / "metrics.json"
    with atomic_writer(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
    atomic_write_text(json_path, json.dumps({"epochs": history, **(summary or {})}, indent=2) + "\n")
    return csv_path, json_path


def run_summary(config: TrainConfig, best_epoch: int | None, best_metric: float | None,
                resumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``metrics.json`` fields beside the epochs: what was trained (``config``: the settings now in
    effect; each row's ``lr`` is the one its epoch ran with), how the checkpoint was selected, and
    every resume with the settings it changed (``{"after_epoch": 2, "changed": {"lr": [0.05, 0.001]}}``)."""
    return {"method": config.method, "model": config.model, "dataset": config.dataset,
            "selection": f"best validation PGD-{config.val_steps} accuracy on {config.val_size} held-out "
                         "training images" if config.val_size else "none (no validation split)",
            "best_epoch": best_epoch, "best_val_robust_acc": best_metric, "resumes": list(resumes or []),
            "config": config.to_dict()}


def format_row(row: dict[str, Any], config: TrainConfig) -> str:
    """The one-line log of an epoch's metrics row."""
    parts = [f"[{config.method}] epoch {row['epoch']}/{config.epochs}", f"loss {row['loss']:.4f}",
             f"train adv acc {row['train_adv_acc']:.3f}"]
    if row.get("val_clean_acc") is not None:
        parts.append(f"val clean {row['val_clean_acc']:.3f}")
        if row["val_robust_acc"] == row["val_robust_acc"]:
            parts.append(f"val PGD-{config.val_steps} {row['val_robust_acc']:.3f}")
    parts.append(f"{row['images_per_second']:.0f} img/s")
    return " | ".join(parts) + (" *best*" if row["best"] else "")


def plot_history(history: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """Draw loss (left) and accuracies (right) against epochs into ``path`` (PNG)."""
    require("matplotlib", "plot_history")
    from matplotlib.figure import Figure  # no pyplot: no global state, the backend is left alone

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 3.8))
    ax_loss, ax_acc = fig.subplots(1, 2)
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
    return save_figure(fig, path, dpi=110)
