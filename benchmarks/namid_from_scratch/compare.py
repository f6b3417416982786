"""NAMID trained from scratch (as MIAT's train_MIAT.py does) against AT and the demo's warm start, on digits.

Arms, per seed (all with the ``digits-*`` recipes: small CNN, eps 0.1, PGD-7 training, batch 64,
SGD lr 0.05 x0.1 from epoch 8, best validation PGD-10 checkpoint):

- ``at``: ``digits-at``, 10 epochs (the demo's AT run);
- ``demo``: the demo's warm start: AT for 7 epochs, estimators on that snapshot, NAMID fine-tunes it
  for epochs 8-10 (``mireg.train.demo.run_demo(methods=["at", "namid"])``, which also gives ``at``);
- ``scratch``: ``digits-namid`` for 10 epochs from a fresh initialisation, no warm-up;
- ``warmup``: MIAT's warm-up, emulated with two ``train`` calls: ``--warmup-epochs`` epochs of
  ``--warmup-method`` (clean CE as in MIAT, or AT) at the recipe's lr, then ``digits-namid`` for 10
  epochs with ``init_from`` the warm-up's last checkpoint (the optimizer's momentum restarts; MIAT
  keeps one optimizer).

``scratch`` and ``warmup`` use estimators trained by ``mireg estimators`` on the ``at`` arm's
best checkpoint (``--est-args`` are passed through). Every arm's selected checkpoint is evaluated
as the demo does (``mireg.train.demo.evaluate_checkpoint``: clean and PGD-20, eps 0.1, step eps/4,
random start, on the 500 test digits); the last epoch is evaluated too.

Example (about 40 minutes per seed on a loaded 2-core CPU)::

    python benchmarks/namid_from_scratch/compare.py --seeds 0 1 2 --out /tmp/nm/cmp
    python benchmarks/namid_from_scratch/compare.py --seeds 0 --arms scratch,warmup --tag=-lam0 \\
        --namid-set lam=0 --out /tmp/nm/cmp
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path

import torch

from mireg.cli import main as mireg_cli
from mireg.train import build_config, parse_overrides, train
from mireg.train.demo import evaluate_checkpoint, run_demo

ARMS = ("at", "demo", "scratch", "warmup")
#: the digits demo budget of `mireg estimators`, attacked at the digits recipes' eps 0.1 (the CLI's default
#: eps 8/255 selects 27 of 1297 training digits on a digits AT model and its held-out check fails)
EST_ARGS = "--epochs 8 --width 256 --batch-size 128 --eps 0.1 --alpha 0.025 --steps 20"


def _evaluate(result, name: str) -> dict:
    row = {"arm": name, **evaluate_checkpoint(result, steps=20, device="cpu")}
    last = type(result)(**{**result.__dict__, "best_path": None})  # evaluate_checkpoint falls back to last
    row.update({f"last_{k}": v for k, v in evaluate_checkpoint(last, steps=20, device="cpu").items()})
    row["history"] = [{k: h.get(k) for k in h if k.startswith(("epoch", "loss", "train_", "val_"))}
                      for h in result.history]
    return row


def _estimators(checkpoint: Path, out: Path, est_args: str, seed: int) -> Path:
    if not out.is_file():
        argv = ["estimators", "--checkpoint", str(checkpoint), *shlex.split(est_args), "--seed", str(seed),
                "--out", str(out), "--no-progress"]
        if mireg_cli(argv) != 0:
            raise RuntimeError(f"mireg {' '.join(argv)} failed")
    return out


def run_seed(seed: int, root: Path, arms: list[str], args) -> list[dict]:
    rows = []
    common = {"seed": seed, "device": "cpu", "progress": False}
    namid = {**common, **parse_overrides(args.namid_set)}
    demo_dir = root / "demo"
    if {"at", "demo"} & set(arms) or not (demo_dir / "at" / "best.pt").is_file():
        t0 = time.perf_counter()
        summary = run_demo(str(demo_dir), methods=["at", "namid"], seed=seed, device="cpu", progress=False)
        for r in summary["rows"]:
            name = "at" if r["method"] == "at" else "demo"
            if name in arms:
                rows.append({"arm": name, **{k: v for k, v in r.items() if k != "method"},
                             "wall_seconds": time.perf_counter() - t0})
    if not {"scratch", "warmup"} & set(arms):
        return rows
    est = _estimators(demo_dir / "at" / "best.pt", root / args.est_name, args.est_args, seed)
    if "scratch" in arms:
        t0 = time.perf_counter()
        res = train(build_config("digits-namid", overrides={**namid, "estimators": str(est),
                                                            "out_dir": str(root / f"scratch{args.tag}")}))
        rows.append({**_evaluate(res, "scratch"), "wall_seconds": time.perf_counter() - t0})
    if "warmup" in arms:
        t0 = time.perf_counter()
        init = None
        if args.warmup_epochs:
            warm_dir = root / f"warm-{args.warmup_method}{args.warmup_epochs}"
            if not (warm_dir / "last.pt").is_file():
                train(build_config(f"digits-{args.warmup_method}", overrides={
                    **common, "epochs": args.warmup_epochs, "lr_milestones": [], "out_dir": str(warm_dir)}))
            init = str(warm_dir / "last.pt")
        name = f"warmup-{args.warmup_method}{args.warmup_epochs}" + (f"-ramp{args.ramp_epochs}" if args.ramp_epochs
                                                                      else "")
        res = _namid_chain({**namid, "estimators": str(est)}, init, root / f"{name}{args.tag}", args.ramp_epochs)
        rows.append({**_evaluate(res, name), "wall_seconds": time.perf_counter() - t0})
    return rows


def _namid_chain(overrides: dict, init: str | None, out: Path, ramp: int):
    """``digits-namid`` from ``init``; with ``ramp`` > 0 the MI weight rises linearly over the first
    ``ramp`` epochs (alpha * e / ramp in epoch e), emulated by one ``train`` call per ramp epoch (each
    ``init_from`` the previous one, lr as the recipe's schedule has it there) and one for the rest.
    Returns the result of the call that holds the best validation checkpoint, its ``history`` the
    whole chain's."""
    base = build_config("digits-namid", overrides=overrides)
    if not ramp:
        return train(base.replace(init_from=init, out_dir=str(out)))
    alpha = base.mi_weight if base.mi_weight is not None else 5.0
    parts, history = [], []
    for e in range(1, base.epochs + 1):
        if e > ramp and e != ramp + 1:
            continue
        epochs = 1 if e <= ramp else base.epochs - ramp
        passed = sum(m <= e for m in base.lr_milestones)
        cfg = base.replace(init_from=init, out_dir=str(out / f"e{e:02d}"), epochs=epochs,
                           mi_weight=alpha * min(1.0, e / ramp), lr=base.lr * base.lr_gamma ** passed,
                           lr_milestones=[m - e + 1 for m in base.lr_milestones if m > e])
        res = train(cfg)
        history += [{**h, "epoch": h["epoch"] + e - 1} for h in res.history]
        parts.append(res)
        init = str(res.last_path)
    best = max((r for r in parts if r.best_metric is not None), key=lambda r: r.best_metric)
    best.history = history
    best.last_path = parts[-1].last_path
    return best


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {ARMS}")
    p.add_argument("--warmup-method", default="clean", choices=("clean", "at"))
    p.add_argument("--warmup-epochs", type=int, default=2, help="MIAT: 2 clean epochs (train_MIAT.py L480); "
                   "0: none")
    p.add_argument("--ramp-epochs", type=int, default=0, help="warmup arm: raise the MI weight linearly over "
                   "this many NAMID epochs (not in MIAT; 0: the full weight from the first step, as MIAT)")
    p.add_argument("--est-args", default=EST_ARGS, help=f"`mireg estimators` options (default {EST_ARGS!r})")
    p.add_argument("--namid-set", action="append", default=[], metavar="KEY=VALUE",
                   help="TrainConfig override of the scratch / warmup NAMID runs, e.g. lam=0 (MIAT's code)")
    p.add_argument("--est-name", default="est.pt", help="estimators file in the seed's folder (reused if present)")
    p.add_argument("--tag", default="", help="suffix of the output folders (variants of one arm)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    torch.set_num_threads(1)
    out = Path(args.out)
    for seed in args.seeds:
        root = out / f"seed{seed}"
        rows = run_seed(seed, root, arms, args)
        path = root / f"results{args.tag}-{'-'.join(arms)}.json"
        path.write_text(json.dumps(rows, indent=2, default=str) + "\n")
        for r in rows:
            print(f"seed {seed} {r['arm']:>14}: clean {100 * r['test_clean_acc']:.1f}  PGD-20 "
                  f"{100 * r['test_pgd_acc']:.1f}  (epoch {r['epoch']})", flush=True)


if __name__ == "__main__":
    main()
