"""``mireg train`` and ``mireg demo``: argument parsing only (the work is in :mod:`mireg.train`)."""

from __future__ import annotations

import argparse
import os
from fractions import Fraction
from typing import Any

TRAIN_EPILOG = """\
examples:
  # a paper recipe, as its authors ran it (data in ./data/cifar-10-batches-py)
  mireg train --recipe mart-resnet18 --data-root data --out runs/mart-r18

  # the same recipe, shorter, with another beta; any field with --set key=value
  mireg train --recipe mart-resnet18 --epochs 30 --beta 6 --set lr_milestones=[20,25] --out runs/m

  # InfoAT on the bundled digits (no files needed), CPU, a few seconds per epoch
  mireg train --recipe digits-infoat --epochs 5 --out runs/infoat

  # a TOML or YAML file of settings (see docs/training.md); the command line wins over the file
  mireg train --config my_run.toml --lr 0.05

  # NAMID needs estimators trained on an AT model first (see 'mireg estimators --help')
  mireg train --recipe namid-resnet18 --estimators runs/est/estimators.pt --out runs/namid

  # continue an interrupted run from runs/mart-r18/last.pt (no epoch lost or repeated)
  mireg train --recipe mart-resnet18 --data-root data --out runs/mart-r18 --resume

  # 4 GPUs on one node (DDP; --batch-size is the global batch)
  torchrun --nproc_per_node 4 -m mireg train --recipe trades-wrn34 --data-root data --out runs/t

  mireg train --list-recipes                    # the presets and their sources
  mireg train --recipe at-preact18 --print-config   # the resolved settings, without training

Writes OUT/last.pt (resume), OUT/best.pt (best validation PGD accuracy), OUT/metrics.csv,
OUT/metrics.json, OUT/curves.png and OUT/config.json.
"""

DEMO_EPILOG = """\
examples:
  mireg demo                              # the default budget (a few minutes on 2 CPU cores)
  mireg demo --out runs/demo --epochs 20  # a larger budget for every method
  mireg demo --methods at,infoat --epochs 3   # a quick look at two methods

The demo trains every method on scikit-learn's bundled digits (16x16, one channel) with the same
small CNN, epochs, batch, optimiser and attack budget. NAMID follows the paper's pipeline inside
the same budget: AT for the first 2/3 of the epochs, NAMID's estimators trained on that AT model,
then NAMID's loss fine-tunes it for the last 1/3. Each model is the checkpoint with the best
validation PGD accuracy on 200 held-out training images; the table reports the held-out digits
test split (500 images). Writes OUT/results.json, OUT/results.md and OUT/demo.png.
"""

# command-line flags that map one-to-one to TrainConfig fields: (flag, field, type, help)
_FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--method", "method", str, "method name (clean, at, trades, mart, mart+, infoat, namid, namid_t, "
                                "namid_m, wmim)"),
    ("--model", "model", str, "architecture name (small_cnn, resnet18, preact_resnet18, wrn34_10, ...)"),
    ("--dataset", "dataset", str, "dataset name (digits, cifar10, cifar100, svhn, ...)"),
    ("--data-root", "data_root", str, "folder holding the dataset files"),
    ("--epochs", "epochs", int, "number of epochs"),
    ("--batch-size", "batch_size", int, "global batch size (split over DDP processes)"),
    ("--lr", "lr", float, "initial learning rate"),
    ("--weight-decay", "weight_decay", float, "weight decay"),
    ("--attack", "attack", str, "inner maximiser (a name in mireg.registry.ATTACKS; default: the method's)"),
    ("--eps", "eps", "fraction", "L-inf radius, e.g. 8/255 or 0.031"),
    ("--alpha", "alpha", "fraction", "attack step size, e.g. 2/255"),
    ("--steps", "steps", int, "attack steps"),
    ("--beta", "beta", float, "TRADES / MART / InfoAT beta"),
    ("--lam", "lam", float, "InfoAT / NAMID lambda"),
    ("--mi-weight", "mi_weight", float, "NAMID alpha (weight of L_mi)"),
    ("--estimators", "estimators", str, "NAMID estimators checkpoint (from 'mireg estimators')"),
    ("--out", "out_dir", str, "output folder"),
    ("--device", "device", str, "auto, cpu, cuda or cuda:N"),
    ("--seed", "seed", int, "random seed"),
)


def _fraction(text: str) -> float:
    try:
        return float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number or a fraction like 8/255, got {text!r}") from None


def add_parser(subparsers) -> None:
    """Register ``train`` and ``demo``."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "train", help="train a model with any method (AT, TRADES, MART, InfoAT, NAMID, ...)",
        description="Train one model: a recipe (--recipe), then a config file (--config), then the "
                    "flags below and --set key=value, later ones winning.", epilog=TRAIN_EPILOG,
        formatter_class=fmt)
    p.add_argument("--recipe", help="start from a named preset (see --list-recipes)")
    p.add_argument("--config", metavar="FILE", help="a TOML or YAML file of settings")
    for flag, name, kind, help_text in _FLAGS:
        p.add_argument(flag, dest=name, type=_fraction if kind == "fraction" else kind, default=None,
                       help=help_text)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="set any TrainConfig field, e.g. --set lr_milestones=[50,75] --set augment=true")
    p.add_argument("--resume", action="store_true", default=None,
                   help="continue from OUT/last.pt when it exists")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bars or per-epoch lines")
    p.add_argument("--list-recipes", action="store_true", help="list the recipes and exit")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings and exit")
    p.set_defaults(func=run_train, command="train")

    d = subparsers.add_parser(
        "demo", help="train AT, TRADES, MART, InfoAT and NAMID on digits and compare (CPU, minutes)",
        description="The main job: every method on scikit-learn's bundled digits with one shared small "
                    "budget, one comparison table (clean and PGD-20 test accuracy) and a plot.",
        epilog=DEMO_EPILOG, formatter_class=fmt)
    d.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    d.add_argument("--methods", default="at,trades,mart,infoat,namid",
                   help="comma-separated methods (default: at,trades,mart,infoat,namid; 'clean' adds the "
                        "non-robust baseline)")
    d.add_argument("--epochs", type=int, default=None, help="epochs per method (default: the digits recipes')")
    d.add_argument("--estimator-epochs", type=int, default=None, help="NAMID estimator epochs (default 8)")
    d.add_argument("--eps", type=_fraction, default=None, help="L-inf radius for training and the test (0.1)")
    d.add_argument("--test-steps", type=int, default=20, help="PGD steps of the test attack (default 20)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    d.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (default 1: the demo's small CNN gains little from more, and "
                        "several threads on a busy machine can be many times slower)")
    d.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    d.set_defaults(func=run_demo, command="demo")


def run_train(args: argparse.Namespace) -> int:
    from mireg.registry import RECIPES
    from mireg.train import build_config, parse_overrides, train

    if args.list_recipes:
        for name in RECIPES.names():
            recipe = RECIPES.get(name)
            print(f"{name:18s} {recipe.description}\n{'':18s} source: {recipe.source}")
        return 0
    overrides = {name: getattr(args, name) for _, name, _, _ in _FLAGS if getattr(args, name) is not None}
    for name in ("resume", "compile", "progress"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    overrides.update(parse_overrides(args.overrides))
    config = build_config(args.recipe, args.config, overrides)
    if args.print_config:
        import json

        print(json.dumps(config.to_dict(), indent=2))
        return 0
    result = train(config)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    if result.best_epoch is not None:
        print(f"best epoch {result.best_epoch} (validation PGD-{config.val_steps} accuracy "
              f"{result.best_metric:.4f}): {result.best_path}")
    print(f"last checkpoint: {result.last_path}; metrics: {result.out_dir / 'metrics.csv'}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    import torch

    from mireg.train.demo import run_demo as demo

    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    demo(out_dir=args.out, methods=methods, epochs=args.epochs, estimator_epochs=args.estimator_epochs,
         eps=args.eps, test_steps=args.test_steps, seed=args.seed, device=args.device, progress=args.progress)
    return 0
