"""WMIM (NAMID's baseline) trained from scratch on digits, with and without the 3-epoch MI-weight ramp.

``digits-at`` with ``method=wmim`` (its co-trained estimator starts fresh, weight 0.1), 10 epochs, per
seed: the paper's loss from step 1 and ``mi_ramp_epochs=3``; test accuracy (500 digits, clean and
PGD-20, step eps/4) at the selected checkpoint (best validation PGD-10).

Example::

    python benchmarks/namid_from_scratch/wmim.py --seeds 0 --out /tmp/nm12/wmim \\
        --json benchmarks/results/namid_from_scratch/wmim.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mireg.recipes import build_config
from mireg.train import train
from mireg.train.demo import evaluate_checkpoint

VARIANTS = {"wmim": {}, "wmim-ramp3": {"mi_ramp_epochs": 3.0}}


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--out", required=True)
    p.add_argument("--json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        for name, overrides in VARIANTS.items():
            cfg = build_config("digits-at", overrides={"method": "wmim", "seed": seed, "device": "cpu", "resume": True,
                                                       "progress": False, "out_dir": f"{args.out}/{name}{seed}",
                                                       **overrides})
            result = train(cfg)
            rows.append({"seed": seed, "run": name, "overrides": overrides,
                         **evaluate_checkpoint(result, steps=20, device="cpu"),
                         "history": [{k: h[k] for k in ("epoch", "loss", "val_clean_acc", "val_robust_acc")}
                                     for h in result.history]})
            print(f"seed {seed} {name:>10}: clean {100 * rows[-1]['test_clean_acc']:.1f}  PGD-20 "
                  f"{100 * rows[-1]['test_pgd_acc']:.1f}  (epoch {rows[-1]['epoch']})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
