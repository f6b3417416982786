"""Wall time from start to the first epoch whose held-out clean and PGD-20 accuracy pass given targets.

Drives ``mireg.train.train`` on a recipe (plus ``--set`` overrides) with an epoch callback that
appends a row to the learning curve (the engine's validation accuracies of the epoch) and, from
epoch ``--eval-from`` on, evaluates the model on the TEST split (the issue's criterion: ``--n-test``
images, default all; L-inf PGD-``--pgd-steps`` with step ``--pgd-alpha``, eps of the recipe, uniform
random start, fp32, eval mode); it rewrites the JSON and the plot every epoch (so a run cut short
keeps what it measured) and stops the run once both targets are met. The test set is only measured
here, never used to select anything inside the run.

Stopping: the callback raises ``mireg.train.StopTraining``; the engine ends the run cleanly after
that epoch (checkpoint, metrics and curves written) and returns ``stopped_early=True`` with the
reason, recorded as ``stopped_by`` in the JSON. ``--max-minutes`` stops the same way when the time is
up.

Times (seconds from the start of ``main``, before the data is loaded, compilation included):
``seconds_to_target`` counts everything, the per-epoch test evaluations too;
``seconds_to_target_without_test_eval`` subtracts them (what a run that does not measure the test
set every epoch pays).

Usage::

    python benchmarks/time_to_robustness.py --recipe fast-at-resnet18 --set data_root=data \\
        --clean 0.80 --robust 0.48 --eval-from 11 --out-dir benchmarks/results/h200
    python benchmarks/time_to_robustness.py --recipe digits-at --clean 0.9 --robust 0.5 --out-dir /tmp/ttr
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_loop import evaluate  # noqa: E402

START = time.perf_counter()


def build_model(cfg, data):
    """The model the engine would build for ``cfg`` (same seed, so the same initial weights)."""
    from mireg.runs import build_model as build_run_model

    torch.manual_seed(cfg.seed)
    return build_run_model(cfg, data)


def load_test(cfg, n: int | None, device: torch.device):
    from mireg.runs import load_split

    test = load_split(cfg, "test")
    n = min(n or len(test), len(test))
    return test, test.x[:n].to(device).float().div_(255), test.y[:n].to(device)


def plot_curve(curve: list[dict], targets: tuple[float, float], path: Path, title: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    minutes = [row["wall_s"] / 60 for row in curve]
    for key, style, label in (("val_clean", "o:", "clean (validation)"), ("val_robust", "s:", "PGD (validation)"),
                              ("test_clean", "o-", "clean (test)"), ("test_robust", "s-", "PGD (test)")):
        points = [(m, row[key]) for m, row in zip(minutes, curve, strict=True) if row.get(key) is not None]
        if points:
            ax.plot(*zip(*points, strict=True), style, label=label)
    for value, name in zip(targets, ("clean", "PGD"), strict=True):
        ax.axhline(value, ls="--", lw=1, color="grey")
        ax.text(0.01, value, f"{name} target {value:.2f}", fontsize=8, va="bottom", transform=ax.get_yaxis_transform())
    for row in curve:
        y = row["test_robust"] if row.get("test_robust") is not None else row.get("val_robust")
        if y is not None:
            ax.annotate(str(row["epoch"]), (row["wall_s"] / 60, y), fontsize=7, textcoords="offset points",
                        xytext=(0, -10), ha="center")
    ax.set(xlabel="wall time since start (minutes; compilation included)", ylabel="accuracy", ylim=(0, 1),
           xlim=(0, 1.05 * max(minutes)), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.savefig(path, dpi=120)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", required=True, help="a mireg recipe, e.g. fast-at-resnet18")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="TrainConfig override (repeatable), e.g. --set data_root=data")
    p.add_argument("--clean", type=float, default=0.80, help="clean-accuracy target")
    p.add_argument("--robust", type=float, default=0.48, help="PGD-accuracy target")
    p.add_argument("--n-test", type=int, default=None, help="test images (default: all)")
    p.add_argument("--eval-from", type=int, default=1,
                   help="first epoch evaluated on the test images (earlier ones: validation accuracies only)")
    p.add_argument("--pgd-steps", type=int, default=20)
    p.add_argument("--pgd-alpha", type=lambda s: float(Fraction(s)), default=2 / 255, help="e.g. 2/255")
    p.add_argument("--eval-batch-size", type=int, default=1000)
    p.add_argument("--threads", type=int, default=None, help="torch threads (CPU runs on a shared machine: 1)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop when this much wall time has passed")
    p.add_argument("--out-dir", required=True, help="time_to_robustness.json / .png and the run go here")
    p.add_argument("--name", default="time_to_robustness", help="file stem of the JSON and the plot")
    return p.parse_args(argv)


def make_callback(args, report: dict, model, x_test, y_test, eps: float, save):
    """The epoch callback: record the curve, evaluate on the test images from ``--eval-from`` on, save,
    and raise ``StopTraining`` when the targets are met or the time is up."""
    from mireg.train import StopTraining

    state = {"eval_s": 0.0}

    def on_epoch(epoch: int, row: dict) -> None:
        clean = robust = None
        if epoch >= args.eval_from:
            t = time.perf_counter()
            clean, robust = evaluate(model, x_test, y_test, eps=eps, alpha=args.pgd_alpha, steps=args.pgd_steps,
                                     seed=0, batch_size=args.eval_batch_size)
            state["eval_s"] += time.perf_counter() - t
        wall = time.perf_counter() - START
        report["curve"].append({"epoch": epoch, "wall_s": wall, "test_eval_s_total": state["eval_s"],
                                "test_clean": clean, "test_robust": robust, "lr": row["lr"], "loss": row["loss"],
                                "train_seconds": row["train_seconds"], "val_clean": row.get("val_clean_acc"),
                                "val_robust": row.get("val_robust_acc")})
        print(f"epoch {epoch}: {wall:.1f} s, test clean {clean}, PGD-{args.pgd_steps} {robust}, validation "
              f"{row.get('val_clean_acc')} / {row.get('val_robust_acc')}", file=sys.stderr, flush=True)
        if clean is not None and clean >= args.clean and robust >= args.robust:
            report.update({"reached": True, "epoch_reached": epoch, "seconds_to_target": wall,
                           "seconds_to_target_without_test_eval": wall - state["eval_s"]})
            raise StopTraining(f"targets met at epoch {epoch}: test clean {clean:.4f} >= {args.clean}, "
                               f"PGD-{args.pgd_steps} {robust:.4f} >= {args.robust}")
        save()
        if args.max_minutes is not None and wall > 60 * args.max_minutes:
            raise StopTraining(f"--max-minutes {args.max_minutes} passed")

    return on_epoch


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from mireg.registry import RECIPES
    from mireg.train import build_config, parse_overrides, train

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / f"{args.name}.json", out_dir / f"{args.name}.png"
    report = {"benchmark": "time_to_robustness", "recipe": args.recipe, "torch": torch.__version__,
              "targets": {"clean": args.clean, "robust": args.robust}, "curve": [], "reached": False}

    def save() -> None:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        if report["curve"]:
            plot_curve(report["curve"], (args.clean, args.robust), png_path, f"{args.recipe} ({report['device']})")

    import mireg.recipes  # noqa: F401  (registers the recipes)
    if args.recipe not in RECIPES:
        report["error"] = f"unknown recipe {args.recipe!r}; known: {', '.join(RECIPES.names())}"
        save()
        print(f"time_to_robustness: {report['error']}", file=sys.stderr)
        return report
    overrides = {"out_dir": str(out_dir / f"{args.name}_run"), "progress": False, **parse_overrides(args.overrides)}
    cfg = build_config(args.recipe, overrides=overrides)
    device = torch.device(cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    test, x_test, y_test = load_test(cfg, args.n_test, device)
    model = build_model(cfg, test)
    report.update({"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                   "config": cfg.to_dict(), "loadavg_start": os.getloadavg(),
                   "evaluation": {"split": "test", "n": len(y_test), "attack": f"PGD-{args.pgd_steps}",
                                  "eps": cfg.eps, "alpha": args.pgd_alpha, "random_start": "uniform",
                                  "precision": "fp32", "bn": "eval", "from_epoch": args.eval_from}})
    report["train_called_at_s"] = time.perf_counter() - START
    result = train(cfg, model=model, callbacks=[make_callback(args, report, model, x_test, y_test, cfg.eps, save)])
    report["stopped_by"] = result.stop_reason if result.stopped_early else "the recipe's last epoch"
    report["speed"] = dataclasses.asdict(result.extra["speed"])
    report["total_wall_s"] = time.perf_counter() - START
    report["loadavg_end"] = os.getloadavg()
    save()
    return report


if __name__ == "__main__":
    result = main()
    print(json.dumps({k: result.get(k) for k in ("reached", "epoch_reached", "seconds_to_target", "stopped_by",
                                                   "error")}, indent=2))
