"""``mireg demo``: AT, TRADES, MART, InfoAT and NAMID on the bundled digits, one shared budget, one table.

The pipeline (all on CPU in a few minutes):

1. every method trains the same small CNN on scikit-learn's digits (16x16, one channel) with the
   ``digits-<method>`` recipe: same epochs, batch, optimiser, lr schedule, eps and attack steps;
   200 training images are held out, and each run keeps the checkpoint with the best validation
   PGD-10 accuracy (never the test set);
2. NAMID needs MI estimators trained on an adversarially trained classifier (the paper uses a
   standard-AT model). Within the same budget of E epochs, NAMID is AT for the first 2E/3 epochs
   (the AT run itself, whose snapshot is kept), its estimators are trained on that snapshot, and
   NAMID's loss fine-tunes it for the remaining E/3 epochs with the lr AT had there (from scratch,
   NAMID's loss diverged at this budget: its batch-cosine gradients are large on an untrained model);
3. every selected checkpoint is evaluated on the held-out digits test split (500 images): clean and
   PGD-20 accuracy (L-inf, step eps/4, random start).

Example::

    from mireg.train.demo import run_demo
    result = run_demo("runs/demo", methods=["at", "infoat"], epochs=3)
    print(result["table"])
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mireg._optional import require
from mireg._validation import check_eps, check_number
from mireg.attacks import create_attack
from mireg.checkpoints import load_model_weights
from mireg.estimators import save_estimators, train_estimators
from mireg.recipes import build_config
from mireg.registry import METHODS, RECIPES
from mireg.runs import build_model, load_split, train_val_split
from mireg.train.distributed import DistContext
from mireg.train.engine import train
from mireg.train.methods import needs_estimators
from mireg.train.validation import evaluate_accuracy
from mireg.utils.atomic import atomic_write_text, save_figure
from mireg.utils.device import resolve_device
from mireg.utils.paths import check_output_dir


def _recipe_for(method: str) -> str:
    name = f"digits-{method}"
    return name if name in RECIPES else "digits-at"


def train_demo_estimators(at_result, checkpoint: Path, out_path: Path, *, epochs: int, seed: int, device: str,
                          progress: bool) -> Path:
    """Train NAMID's estimators E_n, E_a on the AT model of ``checkpoint`` (frozen) and save them."""
    cfg = at_result.config
    train_data, val_data = train_val_split(cfg)
    model = build_model(cfg, train_data)
    load_model_weights(model, checkpoint)
    model = model.to(device).eval()
    attack = create_attack("pgd", model, eps=cfg.eps, alpha=cfg.eps / 4, steps=cfg.steps)
    result = train_estimators(model, train_data.float(), train_data.y, attack=attack, epochs=epochs,
                              batch_size=128, lr=1e-2, x_val=val_data.float(), y_val=val_data.y,
                              device=device, progress=progress, seed=seed, width=256)
    save_estimators(out_path, result.natural, result.adversarial,
                    {**result.metadata, "classifier": str(checkpoint), "demo": True})
    return out_path


def evaluate_checkpoint(result, *, steps: int, device: str) -> dict[str, float]:
    """Clean and PGD-``steps`` accuracy of ``result``'s selected checkpoint on the test split."""
    cfg = result.config
    test = load_split(cfg, "test")
    model = build_model(cfg, test)
    state = load_model_weights(model, result.best_path or result.last_path)
    ctx = DistContext(device=resolve_device(device))
    model = model.to(ctx.device)
    test_cfg = cfg.replace(val_steps=steps, val_alpha=cfg.eps / 4)
    clean, robust = evaluate_accuracy(model, test, test_cfg, ctx)
    return {"test_clean_acc": clean, "test_pgd_acc": robust, "epoch": int(state["epoch"]), "n_test": len(test)}


@dataclass
class _Budget:
    """The shared budget: the overrides every run gets, the AT base config, and NAMID's split of the
    epochs (AT for ``pretrain`` epochs, then NAMID's loss for ``namid_epochs``)."""

    common: dict[str, Any]
    base: Any
    pretrain: int
    namid_epochs: int


def _budget(epochs: int | None, eps: float | None, seed: int, device: str, progress: bool) -> _Budget:
    common: dict[str, Any] = {"seed": seed, "device": device, "progress": progress}
    if epochs is not None:
        recipe_epochs = RECIPES.get("digits-at").values["epochs"]
        milestone = RECIPES.get("digits-at").values["lr_milestones"][0]
        common["epochs"] = epochs
        common["lr_milestones"] = [max(1, round(epochs * milestone / recipe_epochs))] if epochs > 1 else []
    if eps is not None:
        common.update(eps=eps, alpha=eps / 4)
    base = RECIPES.get("digits-at")().replace(**{k: v for k, v in common.items() if k in ("epochs", "lr_milestones")})
    namid_epochs = max(1, base.epochs // 3)
    return _Budget(common, base, max(1, base.epochs - namid_epochs), namid_epochs)


def _check_arguments(methods: Sequence[str], epochs: int | None, estimator_epochs: int | None,
                     test_steps: int, eps: float | None) -> tuple[list[str], int]:
    methods = [m.lower() for m in methods]
    if not methods:
        raise ValueError("methods must name at least one method, e.g. at,trades,mart,infoat,namid")
    for m in methods:
        METHODS.get(m)  # unknown names: the registry's error with suggestions
    if epochs is not None:
        check_number("epochs", epochs, low=1, integer=True)
    estimator_epochs = 8 if estimator_epochs is None else check_number("estimator_epochs", estimator_epochs,
                                                                          low=1, integer=True)
    check_number("test_steps", test_steps, low=1, integer=True)
    if eps is not None:
        check_eps("eps", eps)  # L-inf, in (0, 1]: --eps 0 is no attack, --eps 8 means 8/255
    return methods, estimator_epochs


def _train_methods(methods: list[str], out: Path, budget: _Budget, estimator_epochs: int, seed: int, device: str,
                   progress: bool) -> tuple[dict[str, Any], dict[str, float], dict[str, int]]:
    """Train every method (AT first when a method needs estimators); returns the results, the seconds
    spent per method (and on the estimators) and the epoch offset of the runs that fine-tune AT."""
    needs_at = any(needs_estimators(m) for m in methods)
    order = (["at"] if needs_at else []) + [m for m in methods if m != "at" or not needs_at]
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    offsets: dict[str, int] = {}
    for method in order:
        overrides = {**budget.common, "method": method, "out_dir": str(out / method)}
        if method == "at" and needs_at:
            overrides["save_every"] = budget.pretrain  # keeps at/epoch_<pretrain>.pt for NAMID
        if needs_estimators(method):
            snapshot = out / "at" / f"epoch_{budget.pretrain:04d}.pt"
            estimators_path = out / "estimators.pt"
            if "estimators" not in seconds:
                _say(progress, f"== NAMID estimators on the AT model of epoch {budget.pretrain} "
                               f"({estimator_epochs} epochs)")
                t0 = time.perf_counter()
                train_demo_estimators(results["at"], snapshot, estimators_path, epochs=estimator_epochs, seed=seed,
                                      device=device, progress=progress)
                seconds["estimators"] = time.perf_counter() - t0
            overrides.update(_fine_tuning(budget, snapshot, estimators_path))
            offsets[method] = budget.pretrain
        _say(progress, f"== {method}")
        t0 = time.perf_counter()
        results[method] = train(build_config(_recipe_for(method), overrides=overrides))
        seconds[method] = time.perf_counter() - t0
    return results, seconds, offsets


def _fine_tuning(budget: _Budget, snapshot: Path, estimators_path: Path) -> dict[str, Any]:
    """Fine-tune from the AT model of epoch ``pretrain`` for the rest of the budget, with the lr AT had there
    and the MI term at full weight from the first step (the AT epochs are its warm-up)."""
    base, pretrain = budget.base, budget.pretrain
    passed = sum(m <= pretrain for m in base.lr_milestones)
    return {"estimators": str(estimators_path), "init_from": str(snapshot), "epochs": budget.namid_epochs,
            "mi_warmup_epochs": 0.0, "mi_ramp_epochs": 0.0,
            "lr": base.lr * base.lr_gamma ** passed,
            "lr_milestones": [m - pretrain for m in base.lr_milestones if m > pretrain]}


def _title(cfg: Any, n_test: int, test_steps: int, seed: int) -> str:
    return (f"mireg demo: scikit-learn digits ({cfg.image_size}x{cfg.image_size} grey), {cfg.model} "
            f"{cfg.epochs} epochs, L-inf eps={cfg.eps:g}, training attack {cfg.steps} steps; "
            f"held-out test split (n={n_test}), PGD-{test_steps} (step eps/4, random start); "
            f"checkpoint = best validation PGD-{cfg.val_steps} on {cfg.val_size} held-out training "
            f"images; one seed ({seed}); with n={n_test} the standard error of an "
            "accuracy near 70% is about 2 points")


def run_demo(out_dir: str = "runs/demo", methods: Sequence[str] = ("at", "trades", "mart", "infoat", "namid"),
             *, epochs: int | None = None, estimator_epochs: int | None = None, eps: float | None = None,
             test_steps: int = 20, seed: int = 0, device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Run the demo (module docstring); returns ``{"rows": [...], "table": str, "seconds": float}``."""
    t_start = time.perf_counter()
    require("sklearn", "mireg demo", extra="demo")  # before minutes of training, not after
    require("matplotlib", "mireg demo", extra="demo")
    methods, estimator_epochs = _check_arguments(methods, epochs, estimator_epochs, test_steps, eps)
    out = check_output_dir(out_dir, "out_dir", create=True)
    budget = _budget(epochs, eps, seed, device, progress)
    results, seconds, offsets = _train_methods(methods, out, budget, estimator_epochs, seed, device, progress)
    rows = []
    for method in methods:
        res = results[method]
        row = {"method": method, **evaluate_checkpoint(res, steps=test_steps, device=device),
               "val_pgd_acc": res.best_metric, "train_seconds": seconds[method]}
        row["epoch"] += offsets.get(method, 0)
        rows.append(row)
    cfg = results["at"].config if "at" in results else results[methods[0]].config
    total = time.perf_counter() - t_start
    title = _title(cfg, rows[0]["n_test"], test_steps, seed)
    table = _table(rows, test_steps)
    if offsets:
        pretrain = budget.pretrain
        table += (f"\nNAMID: AT for epochs 1-{pretrain}, then NAMID's loss for epochs {pretrain + 1}-"
                  f"{pretrain + budget.namid_epochs} (fine-tuning the AT model of epoch {pretrain}, on which its "
                  f"estimators were trained in {seconds['estimators']:.0f} s); its train time is the "
                  "fine-tuning only.")
    table += f"\nTotal wall time: {total:.0f} s. Stronger evaluation: mireg eval --help."
    summary = {"title": title, "rows": rows, "seconds": {**seconds, "total": total}, "table": table,
               "config": cfg.to_dict()}
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "results.md", f"{title}\n\n{table}\n")
    try:
        plot_demo(rows, {m: results[m].history for m in methods}, out / "demo.png", test_steps, offsets)
    except Exception as err:  # noqa: BLE001 - the table matters more than the figure
        _say(True, f"could not draw demo.png: {err}")
    print(f"\n{title}\n\n{table}\nWrote {out / 'results.md'}, {out / 'results.json'}, {out / 'demo.png'}")
    return summary


def _table(rows: list[dict[str, Any]], steps: int) -> str:
    head = f"| method | clean acc (test) | PGD-{steps} acc (test) | selected epoch | val PGD acc | train time |"
    lines = [head, "|---|---|---|---|---|---|"]
    for r in rows:
        val = "-" if r["val_pgd_acc"] is None else f"{100 * r['val_pgd_acc']:.1f}%"
        lines.append(f"| {r['method']} | {100 * r['test_clean_acc']:.1f}% | {100 * r['test_pgd_acc']:.1f}% | "
                     f"{r['epoch']} | {val} | {r['train_seconds']:.0f} s |")
    return "\n".join(lines)


def plot_demo(rows: list[dict[str, Any]], histories: dict[str, list[dict[str, Any]]], path: Path,
              steps: int, offsets: dict[str, int] | None = None) -> Path:
    """Bars of test clean / PGD accuracy per method and the validation PGD curves (a run that
    fine-tunes from epoch k of another is drawn from epoch k + 1, ``offsets``)."""
    return save_figure(demo_figure(rows, histories, steps, offsets), path, dpi=110)


def demo_figure(rows: list[dict[str, Any]], histories: dict[str, list[dict[str, Any]]], steps: int,
                offsets: dict[str, int] | None = None) -> Any:
    """The ``matplotlib.figure.Figure`` of :func:`plot_demo`; its legends sit outside the data."""
    require("matplotlib", "the demo's plot")
    from matplotlib.figure import Figure  # no pyplot: no global state, the backend is left alone

    fig = Figure(figsize=(11, 4.2))
    ax_bar, ax_curve = fig.subplots(1, 2)
    names = [r["method"] for r in rows]
    pos = torch.arange(len(rows)).tolist()
    for shift, key, label in ((-0.2, "test_clean_acc", "clean"), (0.2, "test_pgd_acc", f"PGD-{steps}")):
        bars = ax_bar.bar([p + shift for p in pos], [r[key] for r in rows], width=0.4, label=label)
        ax_bar.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax_bar.set_xticks(pos, names)
    ax_bar.set_ylim(0, 1.08)  # room for the value labels; the legend sits above the axes, off the bars
    ax_bar.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax_bar.set_ylabel("test accuracy (digits, n=500)")
    ax_bar.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    for name, history in histories.items():
        shift = (offsets or {}).get(name, 0)
        ax_curve.plot([h["epoch"] + shift for h in history], [h.get("val_robust_acc") for h in history],
                      marker=".", label=name)
    ax_curve.set_xlabel("epoch")
    ax_curve.set_ylabel("validation PGD accuracy")
    ax_curve.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def _say(enabled: bool, message: str) -> None:
    if enabled:
        import sys

        print(message, file=sys.stderr, flush=True)
