"""``mireg figures``: the papers' analysis figures on a checkpoint (argument parsing and wiring only;
the work is :mod:`mireg.evaluation.paper_figures`). No torch import at module level."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mireg.utils.parsing import parse_fraction

__all__ = ["add_parser", "run", "FIGURE_NAMES"]

FIGURE_NAMES = ("infoat-fig1a", "infoat-fig1b", "infoat-fig4", "infoat-fig5", "namid-fig2", "namid-fig4")
#: test points per figure when --n is not given (NAMID Fig. 2: "1,000 natural test samples"; Fig. 4: all)
DEFAULT_N = {"infoat-fig1a": 1000, "infoat-fig1b": 1000, "infoat-fig4": 1000, "infoat-fig5": None,
             "namid-fig2": 1000, "namid-fig4": None}

EXAMPLES = """\
figures (defaults = the paper's settings; docs/ablations.md says what each computes):
  infoat-fig1a  MINE estimate of I(x; z) at layers #1-#4, robust vs non-robust examples (PGD-10)
  infoat-fig1b  prediction entropy H(p(x)) vs the smallest radius at which PGD-10 succeeds
  infoat-fig4   loss change L(theta + alpha d) - L(theta) along a filter-normalised weight direction,
                clean and PGD-10, alpha in [-1, 1]
  infoat-fig5   loss over the 8/255 neighbourhood of one test image, spanned by the PGD-10 direction
                and a random sign direction (every point inside the ball)
  namid-fig2    standard MI I(x; h(x)), I(x~; h(x~)), I(x; h(x~)) of 1,000 random test samples under
                PGD-10/40, FWA-10/40, AA, from an estimator trained by MI maximisation on the natural
                training images; offset so the worst case is 0, averaged (CHECKPOINT: naturally trained)
  namid-fig4    natural and adversarial MI of all test samples, natural vs adversarial (PGD-10), for
                each --estimators pair (Eq. 4 "MIM" vs Eq. 5 "Our"), offset per MI, averaged

examples:
  # the InfoAT figures of a CIFAR-10 ResNet-18 (eps 8/255, PGD-10: the paper's; 1,000 test images)
  mireg figures infoat-fig1b runs/infoat-r18/best.pt --data-root data --out figs
  mireg figures infoat-fig5 runs/infoat-r18/best.pt --data-root data --index 7 --out figs
  mireg figures infoat-fig1a runs/infoat-r18/best.pt --data-root data --device cuda --out figs

  # on the bundled digits (train with 'mireg train --recipe digits-infoat'): their radius is 0.1
  mireg figures infoat-fig4 runs/infoat/best.pt --eps 0.1 --n 200 --out figs

  # NAMID Fig. 2 on a naturally trained model, and Fig. 4 for Eq. 4 vs Eq. 5 estimators of an AT model
  mireg train --recipe digits-clean --out runs/clean
  mireg figures namid-fig2 runs/clean/best.pt --eps 0.1 --estimator-epochs 8 --width 256 --out figs
  mireg estimators --checkpoint runs/at/best.pt --objective mim --out est-mim.pt
  mireg estimators --checkpoint runs/at/best.pt --objective eq5 --out est-eq5.pt
  mireg figures namid-fig4 runs/at/best.pt --estimators MIM=est-mim.pt --estimators Our=est-eq5.pt \\
      --eps 0.1 --out figs

Writes OUT/<figure>.json (the numbers and the settings) and OUT/<figure>.png.
"""


def _estimator_arg(text: str) -> tuple[str | None, str]:
    label, sep, path = text.partition("=")
    return (label.strip(), path.strip()) if sep and label.strip() else (None, text)


def add_parser(subparsers: Any) -> None:
    """Register ``mireg figures``."""
    p = subparsers.add_parser(
        "figures", help="the InfoAT and NAMID papers' analysis figures of a checkpoint, with the papers' settings",
        description="Draw one analysis figure of the InfoAT (Xu et al., TNNLS 2022) or NAMID (Zhou et al., ICML "
                    "2022) paper for a 'mireg train' checkpoint, with the paper's settings as defaults.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("figure", choices=FIGURE_NAMES, metavar="FIGURE", help=f"one of {', '.join(FIGURE_NAMES)}")
    p.add_argument("checkpoint", help="a 'mireg train' checkpoint (best.pt / last.pt)")
    p.add_argument("--out", default="figures", help="output folder (default ./figures)")
    p.add_argument("--n", type=int, default=None, help="test images used (default: 1,000; all for namid-fig4)")
    p.add_argument("--eps", type=lambda t: parse_fraction(t, name="eps", positive=True), default=8 / 255,
                   help="L-inf radius (default 8/255, the papers'; 0.1 suits the digits recipes)")
    p.add_argument("--steps", type=int, default=10, help="PGD iterations (default 10, the papers' PGD-10)")
    p.add_argument("--index", type=int, default=0, help="infoat-fig5: the test image (default 0)")
    p.add_argument("--layers", help="infoat-fig1a: comma-separated submodules (default: layers #1-#4)")
    p.add_argument("--mine-epochs", type=int, default=50, help="infoat-fig1a: MINE epochs per group (default 50)")
    p.add_argument("--estimators", action="append", default=[], metavar="[LABEL=]FILE", type=_estimator_arg,
                   help="namid-fig4: a 'mireg estimators' file, repeatable (label default: its objective)")
    p.add_argument("--estimator-epochs", type=int, default=25, help="namid-fig2: epochs (default 25)")
    p.add_argument("--width", type=int, default=2048, help="namid-fig2: estimator width (default 2048)")
    p.add_argument("--max-steps", type=int, default=None, help="namid-fig2: cap every attack's iterations "
                   "(smoke tests only)")
    p.add_argument("--batch-size", type=int, default=256, help="attack batch size (default 256)")
    p.add_argument("--dataset", help="dataset (default: the checkpoint's)")
    p.add_argument("--data-root", help="dataset folder (default: the checkpoint's / $MIREG_DATA)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1 (default auto)")
    p.add_argument("--seed", type=int, default=0, help="seed of the attacks, directions and samples (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run, command="figures")


def _estimator_pairs(args: argparse.Namespace, device: Any) -> dict[str, Any]:
    from mireg.estimators import load_estimators

    if not args.estimators:
        raise ValueError("namid-fig4 needs --estimators FILE (repeat it to compare pairs, e.g. "
                         "--estimators MIM=est-mim.pt --estimators Our=est-eq5.pt)")
    pairs = {}
    for label, path in args.estimators:
        e_n, e_a, meta = load_estimators(path, map_location=device)
        label = label or {"mim": "MIM (Eq. 4)", "eq5": "Our (Eq. 5)"}.get(meta.get("objective"), Path(path).stem)
        if label in pairs:
            raise ValueError(f"two --estimators share the label {label!r}: name them, e.g. --estimators A={path}")
        pairs[label] = (e_n, e_a)
    return pairs


def _run_figure(args: argparse.Namespace, model: Any, x: Any, y: Any, cfg: dict[str, Any], device: Any) -> dict:
    from mireg.evaluation import paper_figures as F

    common = {"eps": args.eps, "seed": args.seed}
    if args.figure == "infoat-fig1a":
        layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None
        return F.infoat_fig1a(model, x, y, args.out, layers=layers, steps=args.steps, epochs=args.mine_epochs,
                              batch_size=args.batch_size, progress=not args.no_progress, **common)
    if args.figure in ("infoat-fig1b", "infoat-fig4"):
        fn = F.infoat_fig1b if args.figure == "infoat-fig1b" else F.infoat_fig4
        return fn(model, x, y, args.out, steps=args.steps, batch_size=args.batch_size, **common)
    if args.figure == "infoat-fig5":
        if not 0 <= args.index < len(y):
            raise ValueError(f"--index must be in [0, {len(y) - 1}], got {args.index}")
        i = slice(args.index, args.index + 1)
        return F.infoat_fig5(model, x[i], y[i], args.out, steps=args.steps, **common)
    if args.figure == "namid-fig4":
        return F.namid_fig4(model, _estimator_pairs(args, device), x, y, args.out, steps=args.steps,
                            batch_size=args.batch_size, progress=not args.no_progress, **common)
    from mireg.config import TrainConfig
    from mireg.runs import load_split

    train = load_split(TrainConfig(**cfg), "train", dataset=args.dataset, data_root=args.data_root)
    return F.namid_fig2(model, train.float(), x, y, args.out, n=args.n or DEFAULT_N["namid-fig2"],
                        epochs=args.estimator_epochs, width=args.width, max_steps=args.max_steps,
                        progress=not args.no_progress, **common)


def run(args: argparse.Namespace) -> int:
    """Execute ``mireg figures``; returns the exit status."""
    from mireg._validation import check_eps, check_number
    from mireg.evaluation import load_data
    from mireg.runs import load_trained_model
    from mireg.utils.device import resolve_device
    from mireg.utils.paths import check_output_dir

    if args.estimators and args.figure != "namid-fig4":
        raise ValueError("--estimators is for namid-fig4 only")
    check_eps("--eps", args.eps)  # before the work: 8 (for 8/255) is refused with the hint
    check_number("--steps", args.steps, low=1, integer=True)
    check_output_dir(args.out, "--out")
    device = resolve_device(args.device)
    model, test, cfg = load_trained_model(args.checkpoint, dataset=args.dataset, data_root=args.data_root)
    model = model.to(device)
    n = args.n if args.n is not None or args.figure == "namid-fig2" else DEFAULT_N[args.figure]
    x, y = load_data(test, None if args.figure == "namid-fig2" else n)
    data = _run_figure(args, model, x, y, cfg, device)
    summary = {k: v for k, v in data.items() if k in ("offset_means", "robust", "non_robust", "correlation",
                                                      "pgd_loss", "settings")}
    print(json.dumps(summary, indent=2, default=str))
    print(f"wrote {Path(args.out) / (args.figure + '.json')} and {args.figure}.png", file=sys.stderr)
    return 0
