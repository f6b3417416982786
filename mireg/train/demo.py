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
from pathlib import Path
from typing import Any

import torch

from mireg._optional import require
from mireg._validation import check_number
from mireg.registry import METHODS, RECIPES

NAMID_FAMILY = ("namid", "namid_t", "namid_m")


def _recipe_for(method: str) -> str:
    name = f"digits-{method}"
    return name if name in RECIPES else "digits-at"


def train_demo_estimators(at_result, checkpoint: Path, out_path: Path, *, epochs: int, seed: int, device: str,
                          progress: bool) -> Path:
    """Train NAMID's estimators E_n, E_a on the AT model of ``checkpoint`` (frozen) and save them."""
    from mireg.data import dataset_info, load_dataset, split_validation
    from mireg.estimators import save_estimators, train_estimators
    from mireg.train.checkpoint import load_model_weights
    from mireg.train.engine import _build_model, build_attack

    cfg = at_result.config
    options = {k: getattr(cfg, k) for k in ("image_size", "channels") if getattr(cfg, k) is not None}
    data = load_dataset(cfg.dataset, split="train", **options)
    train_data, val_data = split_validation(data, cfg.val_size, seed=cfg.seed)
    model = _build_model(cfg, train_data, dataset_info(cfg.dataset, **options))
    load_model_weights(model, checkpoint)
    model = model.to(device).eval()
    attack = build_attack("pgd", model, cfg, eps=cfg.eps, alpha=cfg.eps / 4, steps=cfg.steps)
    result = train_estimators(model, train_data.float(), train_data.y, attack=attack, epochs=epochs,
                              batch_size=128, lr=1e-2, x_val=val_data.float(), y_val=val_data.y,
                              device=device, progress=progress, seed=seed, width=256)
    save_estimators(out_path, result.natural, result.adversarial,
                    {**result.metadata, "classifier": str(checkpoint), "demo": True})
    return out_path


def evaluate_checkpoint(result, *, steps: int, device: str) -> dict[str, float]:
    """Clean and PGD-``steps`` accuracy of ``result``'s selected checkpoint on the test split."""
    from mireg.data import dataset_info, load_dataset
    from mireg.train.checkpoint import load_model_weights
    from mireg.train.distributed import DistContext, resolve_device
    from mireg.train.engine import _build_model, evaluate_accuracy

    cfg = result.config
    options = {k: getattr(cfg, k) for k in ("image_size", "channels") if getattr(cfg, k) is not None}
    test = load_dataset(cfg.dataset, split="test", **options)
    model = _build_model(cfg, test, dataset_info(cfg.dataset, **options))
    state = load_model_weights(model, result.best_path or result.last_path)
    ctx = DistContext(device=resolve_device(device))
    model = model.to(ctx.device)
    test_cfg = cfg.replace(val_steps=steps, val_alpha=cfg.eps / 4)
    clean, robust = evaluate_accuracy(model, test, test_cfg, ctx)
    return {"test_clean_acc": clean, "test_pgd_acc": robust, "epoch": int(state["epoch"]), "n_test": len(test)}


def run_demo(out_dir: str = "runs/demo", methods: Sequence[str] = ("at", "trades", "mart", "infoat", "namid"),
             *, epochs: int | None = None, estimator_epochs: int | None = None, eps: float | None = None,
             test_steps: int = 20, seed: int = 0, device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Run the demo (module docstring); returns ``{"rows": [...], "table": str, "seconds": float}``."""
    from mireg.train import build_config, train

    t_start = time.perf_counter()
    require("sklearn", "mireg demo", extra="demo")  # before minutes of training, not after
    require("matplotlib", "mireg demo", extra="demo")
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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
    pretrain = max(1, base.epochs - namid_epochs)  # NAMID = AT for `pretrain` epochs, then NAMID's loss
    needs_at = any(m in NAMID_FAMILY for m in methods)
    order = (["at"] if needs_at else []) + [m for m in methods if m != "at" or not needs_at]
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    offsets: dict[str, int] = {}
    estimators_path = None
    for method in order:
        overrides = {**common, "method": method, "out_dir": str(out / method)}
        if method == "at" and needs_at:
            overrides["save_every"] = pretrain  # keeps at/epoch_<pretrain>.pt for NAMID
        if method in NAMID_FAMILY:
            snapshot = out / "at" / f"epoch_{pretrain:04d}.pt"
            if estimators_path is None:
                _say(progress, f"== NAMID estimators on the AT model of epoch {pretrain} ({estimator_epochs} epochs)")
                t0 = time.perf_counter()
                estimators_path = train_demo_estimators(results["at"], snapshot, out / "estimators.pt",
                                                        epochs=estimator_epochs, seed=seed, device=device,
                                                        progress=progress)
                seconds["estimators"] = time.perf_counter() - t0
            # fine-tune from that AT model for the rest of the budget, with the lr AT had there
            passed = sum(m <= pretrain for m in base.lr_milestones)
            overrides.update(estimators=str(estimators_path), init_from=str(snapshot), epochs=namid_epochs,
                             lr=base.lr * base.lr_gamma ** passed,
                             lr_milestones=[m - pretrain for m in base.lr_milestones if m > pretrain])
            offsets[method] = pretrain
        _say(progress, f"== {method}")
        t0 = time.perf_counter()
        results[method] = train(build_config(_recipe_for(method), overrides=overrides))
        seconds[method] = time.perf_counter() - t0

    rows = []
    for method in methods:
        res = results[method]
        row = {"method": method, **evaluate_checkpoint(res, steps=test_steps, device=device),
               "val_pgd_acc": res.best_metric, "train_seconds": seconds[method]}
        row["epoch"] += offsets.get(method, 0)
        rows.append(row)
    cfg = results["at"].config if "at" in results else results[methods[0]].config
    total = time.perf_counter() - t_start
    title = (f"mireg demo: scikit-learn digits ({cfg.image_size}x{cfg.image_size} grey), {cfg.model} "
             f"{cfg.epochs} epochs, L-inf eps={cfg.eps:g}, training attack {cfg.steps} steps; "
             f"held-out test split (n={rows[0]['n_test']}), PGD-{test_steps} (step eps/4, random start); "
             f"checkpoint = best validation PGD-{cfg.val_steps} on {cfg.val_size} held-out training "
             f"images; one seed ({seed}); with n={rows[0]['n_test']} the standard error of an "
             "accuracy near 70% is about 2 points")
    table = _table(rows, test_steps)
    if offsets:
        table += (f"\nNAMID: AT for epochs 1-{pretrain}, then NAMID's loss for epochs {pretrain + 1}-"
                  f"{pretrain + namid_epochs} (fine-tuning the AT model of epoch {pretrain}, on which its "
                  f"estimators were trained in {seconds['estimators']:.0f} s); its train time is the "
                  "fine-tuning only.")
    table += f"\nTotal wall time: {total:.0f} s. Stronger evaluation: mireg eval --help."
    summary = {"title": title, "rows": rows, "seconds": {**seconds, "total": total}, "table": table,
               "config": cfg.to_dict()}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "results.md").write_text(f"{title}\n\n{table}\n")
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
    require("matplotlib", "the demo's plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_bar, ax_curve) = plt.subplots(1, 2, figsize=(11, 4))
    names = [r["method"] for r in rows]
    pos = torch.arange(len(rows)).tolist()
    ax_bar.bar([p - 0.2 for p in pos], [r["test_clean_acc"] for r in rows], width=0.4, label="clean")
    ax_bar.bar([p + 0.2 for p in pos], [r["test_pgd_acc"] for r in rows], width=0.4, label=f"PGD-{steps}")
    ax_bar.set_xticks(pos, names)
    ax_bar.set_ylim(0, 1)
    ax_bar.set_ylabel("test accuracy (digits, n=500)")
    ax_bar.legend(loc="lower left")
    for name, history in histories.items():
        shift = (offsets or {}).get(name, 0)
        ax_curve.plot([h["epoch"] + shift for h in history], [h.get("val_robust_acc") for h in history],
                      marker=".", label=name)
    ax_curve.set_xlabel("epoch")
    ax_curve.set_ylabel("validation PGD accuracy")
    ax_curve.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _say(enabled: bool, message: str) -> None:
    if enabled:
        import sys

        print(message, file=sys.stderr, flush=True)
