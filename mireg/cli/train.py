"""``mireg train``: argument parsing and wiring only (the work is :func:`mireg.train.train`)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mireg.cli import _args
from mireg.utils.parsing import parse_fraction

TRAIN_EPILOG = """\
examples:
  # a paper recipe, as its authors ran it (data in ./data/cifar-10-batches-py)
  mireg train --recipe mart-resnet18 --data-root data --out runs/mart-r18

  # the same recipe, shorter, with another beta; any field with --set key=value
  mireg train --recipe mart-resnet18 --epochs 30 --beta 6 --set lr_milestones=[20,25] --out runs/m

  # a fast recipe: 15 epochs, PGD-7, batch 512, one-cycle lr (compiled, bf16 on CUDA; docs/training.md)
  mireg train --recipe fast-at-resnet18 --data-root data --out runs/fast-at

  # InfoAT on the bundled digits (no files needed), CPU, a few seconds per epoch
  mireg train --recipe digits-infoat --epochs 5 --out runs/infoat

  # a TOML or YAML file of settings (see docs/training.md); the command line wins over the file
  mireg train --config my_run.toml --lr 0.05

  # NAMID needs estimators trained on an AT model first (see 'mireg estimators --help')
  mireg train --recipe namid-resnet18 --estimators runs/est/estimators.pt --out runs/namid

  # a paper's ablation is a method of its own name (docs/ablations.md): InfoAT Fig. 3c with JS,
  # InfoAT Table I (MINE on layer #2), NAMID Fig. 5 (iii) lambda = 0
  mireg train --recipe digits-infoat --method infoat-div-js --out runs/div-js
  mireg train --recipe digits-infoat --method infoat-mine-layer2 --out runs/mine2
  mireg train --recipe namid-resnet18 --method namid-lam0 --estimators runs/est/estimators.pt --out runs/lam0

  # continue an interrupted run from runs/mart-r18/last.pt (no epoch lost or repeated); a resumed run
  # may change --epochs, --lr and the schedule, not the method, model, data, eps or attack
  mireg train --recipe mart-resnet18 --data-root data --out runs/mart-r18 --resume --epochs 150

  # start again in a folder that holds a run (its checkpoints and metrics are deleted first)
  mireg train --recipe mart-resnet18 --data-root data --out runs/mart-r18 --overwrite

  # 4 GPUs on one node (DDP; --batch-size is the global batch)
  torchrun --nproc_per_node 4 -m mireg train --recipe trades-wrn34 --data-root data --out runs/t

  # progress bars off for a log file (the per-epoch lines stay), metrics to TensorBoard as well
  mireg train --recipe digits-infoat --no-progress --tensorboard runs/tb/infoat --out runs/infoat

  mireg train --list-recipes                    # the presets and their sources
  mireg train --recipe at-preact18 --print-config   # the resolved settings, without training

Writes OUT/last.pt (resume), OUT/best.pt (best validation PGD accuracy), OUT/metrics.csv,
OUT/metrics.json, OUT/curves.png and OUT/config.json. A folder that holds a run is never replaced
without --overwrite, and a folder another live run works in is refused (see docs/training.md).
"""

# command-line flags that map one-to-one to TrainConfig fields: (flag, field, type, help)
_FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--method", "method", str, "method name (clean, at, trades, mart, mart+, infoat, namid, namid_t, "
                                "namid_m, wmim) or a paper ablation (infoat-weight-none, infoat-div-js, "
                                "infoat-reg-plus-hnat, infoat-mine-layer1..4, namid-no-adv-mi, namid-lam0, "
                                "namid-mim-estimators, ...: docs/ablations.md)"),
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
    ("--mi-warmup-epochs", "mi_warmup_epochs", float, "NAMID / WMIM: epochs without the MI term at the start"),
    ("--mi-ramp-epochs", "mi_ramp_epochs", float, "NAMID / WMIM: then raise its weight linearly over these epochs"),
    ("--estimators", "estimators", str, "NAMID estimators checkpoint (from 'mireg estimators')"),
    ("--out", "out_dir", str, "output folder"),
    ("--device", "device", _args.device, "auto, cpu, cuda or cuda:N"),
    ("--seed", "seed", int, "random seed"),
)


def add_parser(subparsers) -> None:
    """Register ``train``."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "train", help="train a model with any method (AT, TRADES, MART, InfoAT, NAMID, ...)",
        description="Train one model: a recipe (--recipe), then a config file (--config), then the "
                    "flags below and --set key=value, later ones winning.", epilog=TRAIN_EPILOG,
        formatter_class=fmt)
    p.add_argument("--recipe", help="start from a named preset (see --list-recipes)")
    p.add_argument("--config", metavar="FILE", help="a TOML or YAML file of settings")
    for flag, name, kind, help_text in _FLAGS:
        p.add_argument(flag, dest=name, type=parse_fraction if kind == "fraction" else kind, default=None,
                       help=help_text)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="set any TrainConfig field, e.g. --set lr_milestones=[50,75] --set augment=true")
    p.add_argument("--resume", action="store_true", default=None,
                   help="continue the run in OUT from OUT/last.pt when it exists (it may change --epochs, --lr "
                        "and the schedule; not the method, model, data, eps or attack)")
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="start a new run in OUT even when it holds one: its checkpoints and metrics are deleted")
    p.add_argument("--compile", dest="compile", action="store_true", default=None,
                   help="torch.compile the model (default: on CUDA only; a failure to compile falls back to "
                        "eager with one warning); --set compile_mode=reduce-overhead adds CUDA graphs")
    p.add_argument("--no-compile", dest="compile", action="store_false",
                   help="never compile (the eager path, also on CUDA)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bars (the per-epoch lines stay: right for log files)")
    p.add_argument("--quiet", action="store_true", default=None,
                   help="neither progress bars nor per-epoch lines (errors and the final summary still print)")
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also log every epoch's metrics to TensorBoard in DIR (needs pip install "
                        "\"mireg[tensorboard]\"; then: tensorboard --logdir DIR)")
    p.add_argument("--list-recipes", action="store_true", help="list the recipes and exit")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings and exit")
    p.set_defaults(func=run, command="train")


def _check_names(config: Any) -> None:
    """An unknown method, model, dataset or attack: the registry's error (with suggestions) before any work."""
    from mireg.registry import ATTACKS, DATASETS, METHODS, MODELS

    METHODS.get(config.method)
    MODELS.get(config.model)
    DATASETS.get(config.dataset)
    if config.attack is not None:
        ATTACKS.get(config.attack)


def run(args: argparse.Namespace) -> int:
    """Execute ``mireg train``; returns the exit status."""
    from mireg.registry import RECIPES
    from mireg.train import build_config, parse_overrides, train

    if args.list_recipes:
        for name in RECIPES.names():
            recipe = RECIPES.get(name)
            print(f"{name:18s} {recipe.description}\n{'':18s} source: {recipe.source}")
        return 0
    overrides = {name: getattr(args, name) for _, name, _, _ in _FLAGS if getattr(args, name) is not None}
    for name in ("resume", "overwrite", "compile", "progress", "quiet"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    overrides.update(parse_overrides(args.overrides))
    config = build_config(args.recipe, args.config, overrides)
    _check_names(config)
    if args.print_config:
        import json

        print(json.dumps(config.to_dict(), indent=2))
        return 0
    if args.tensorboard:
        from mireg.train.loggers import TensorBoardLogger

        with TensorBoardLogger(args.tensorboard) as logger:
            result = train(config, callbacks=[logger])
    else:
        result = train(config)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    if result.best_epoch is not None:
        print(f"best epoch {result.best_epoch} (validation PGD-{config.val_steps} accuracy "
              f"{result.best_metric:.4f}): {result.best_path}")
    print(f"last checkpoint: {result.last_path}; metrics: {result.out_dir / 'metrics.csv'}")
    return 0
