"""NAMID trained from scratch on digits, with and without the MI warm-up: the test accuracies.

Per seed: the ``digits-at`` run (10 epochs), the NAMID estimators trained on its best checkpoint
(``mireg estimators``, digits budget, attacked at the recipe's eps 0.1), then ``digits-namid`` from a
fresh model (alpha 5, lam 0.1, same seed, same 10 epochs) in the variants of ``VARIANTS`` (each a set
of ``TrainConfig`` overrides). Every run is evaluated on the 500 test digits (clean and PGD-20, step
eps/4, random start) at its selected checkpoint (best validation PGD-10) and at its last epoch.

Example (about 10 minutes per seed on 2 CPU cores)::

    python benchmarks/namid_from_scratch/compare.py --seeds 0 1 2 --out /tmp/nm12/cmp \\
        --json benchmarks/results/namid_from_scratch/compare.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from mireg.cli import main as mireg_cli
from mireg.recipes import build_config
from mireg.train import train
from mireg.train.demo import evaluate_checkpoint

#: `mireg estimators` at the digits demo budget, attacked at the digits recipes' eps 0.1
EST_ARGS = "--epochs 8 --width 256 --batch-size 128 --eps 0.1 --alpha 0.025 --steps 20"
#: digits-namid variants: name -> TrainConfig overrides
_OFF = {"mi_warmup_epochs": 0.0, "mi_ramp_epochs": 0.0}
VARIANTS = {
    "namid": _OFF,                                                        # the paper's loss from step 1
    "namid-lam0": {**_OFF, "lam": 0.0},                                   # the released code's lam
    "namid-warmup2": {**_OFF, "mi_warmup_epochs": 2.0},                   # MIAT's 2 warm-up epochs, no MI term
    "namid-ramp3": {**_OFF, "mi_ramp_epochs": 3.0},                       # weight 0 -> alpha over 3 epochs
    "namid-warmup2-ramp2": {"mi_warmup_epochs": 2.0, "mi_ramp_epochs": 2.0},
}


def _evaluate(result, name: str, overrides: dict, seconds: float) -> dict:
    row = {"run": name, "overrides": overrides, **evaluate_checkpoint(result, steps=20, device="cpu")}
    last = type(result)(**{**result.__dict__, "best_path": None})  # evaluate_checkpoint falls back to last
    row.update({f"last_{k}": v for k, v in evaluate_checkpoint(last, steps=20, device="cpu").items()})
    row["wall_seconds"] = round(seconds, 1)
    row["history"] = [{k: h[k] for k in ("epoch", "loss", "val_clean_acc", "val_robust_acc") if k in h}
                      for h in result.history]
    return row


def run_seed(seed: int, root: Path, variants: list[str]) -> list[dict]:
    common = {"seed": seed, "device": "cpu", "progress": False, "resume": True}  # finished runs: just evaluated
    t0 = time.perf_counter()
    at = train(build_config("digits-at", overrides={**common, "out_dir": str(root / "at")}))
    rows = [_evaluate(at, "at", {}, time.perf_counter() - t0)]
    est = root / "est.pt"
    if not est.is_file():
        argv = ["estimators", "--checkpoint", str(at.best_path), *shlex.split(EST_ARGS), "--seed", str(seed),
                "--out", str(est), "--no-progress"]
        if mireg_cli(argv) != 0:
            raise RuntimeError(f"mireg {' '.join(argv)} failed")
    for name in variants:
        t0 = time.perf_counter()
        overrides = {**common, **VARIANTS[name], "estimators": str(est), "out_dir": str(root / name)}
        res = train(build_config("digits-namid", overrides=overrides))
        rows.append(_evaluate(res, name, VARIANTS[name], time.perf_counter() - t0))
        print(f"seed {seed} {name:>20}: clean {100 * rows[-1]['test_clean_acc']:.1f}  PGD-20 "
              f"{100 * rows[-1]['test_pgd_acc']:.1f}  (epoch {rows[-1]['epoch']})", flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {list(VARIANTS)}")
    p.add_argument("--out", required=True, help="folder of the runs (reused: finished runs and estimators are kept)")
    p.add_argument("--json", help="write every row (seeds, overrides, accuracies, histories) here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        rows += [{"seed": seed, **r} for r in run_seed(seed, Path(args.out) / f"seed{seed}",
                                                       args.variants.split(","))]
    if args.json:
        given = sys.argv[1:] if argv is None else argv
        meta = {"command": "python benchmarks/namid_from_scratch/compare.py " + " ".join(given),
                "recipes": ["digits-at", "digits-namid"], "estimators": EST_ARGS, "torch": torch.__version__}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
