"""``mireg demo``: argument parsing and wiring only (the work is :func:`mireg.train.demo.run_demo`)."""

from __future__ import annotations

import argparse

from mireg.cli import _args

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


def add_parser(subparsers) -> None:
    """Register ``demo``."""
    fmt = argparse.RawDescriptionHelpFormatter
    d = subparsers.add_parser(
        "demo", help="train AT, TRADES, MART, InfoAT and NAMID on digits and compare (CPU, minutes)",
        description="The main job: every method on scikit-learn's bundled digits with one shared small "
                    "budget, one comparison table (clean and PGD-20 test accuracy) and a plot.",
        epilog=DEMO_EPILOG, formatter_class=fmt)
    d.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    d.add_argument("--methods", default="at,trades,mart,infoat,namid",
                   help="comma-separated methods (default: at,trades,mart,infoat,namid; 'clean' adds the "
                        "non-robust baseline)")
    d.add_argument("--epochs", type=_args.integer(1), default=None,
                   help="epochs per method (default: the digits recipes')")
    d.add_argument("--estimator-epochs", type=_args.integer(1), default=None, help="NAMID estimator epochs (default 8)")
    d.add_argument("--eps", type=_args.linf_eps, default=None,
                   help="L-inf radius for training and the test, in (0, 1], e.g. 0.1 or 8/255 (default 0.1)")
    d.add_argument("--test-steps", type=_args.integer(1), default=20, help="PGD steps of the test attack (default 20)")
    d.add_argument("--seed", type=_args.integer(0), default=0, help="random seed (default 0)")
    d.add_argument("--device", type=_args.device, default="cpu", help="cpu (default), cuda, auto")
    d.add_argument("--threads", type=_args.integer(1), default=1,
                   help="CPU threads for torch (default 1: the demo's small CNN gains little from more, and "
                        "several threads on a busy machine can be many times slower)")
    d.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    d.set_defaults(func=run, command="demo")


def run(args: argparse.Namespace) -> int:
    """Execute ``mireg demo``; returns the exit status."""
    import torch

    from mireg.train.demo import run_demo

    torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    run_demo(out_dir=args.out, methods=methods, epochs=args.epochs, estimator_epochs=args.estimator_epochs,
             eps=args.eps, test_steps=args.test_steps, seed=args.seed, device=args.device, progress=args.progress)
    return 0
