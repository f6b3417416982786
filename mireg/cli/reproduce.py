"""``mireg reproduce``: argument parsing only; the work is :func:`mireg.reproduce.reproduce` and
:func:`mireg.reproduce.merge`. No torch import at module level (``--help`` stays instant)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "run", "parse_seeds"]

EXAMPLES = """\
examples:
  # InfoAT's Table II on the bundled digits, CPU, 5 seeds (the smoke budget: minutes)
  mireg reproduce infoat-table2 --budget smoke --seeds 5 --out runs/infoat-smoke

  # NAMID's Table 1 (L-inf and L2 suites); NAMID's estimators are trained per seed on that seed's AT model
  mireg reproduce namid-table1 --budget smoke --seeds 5 --out runs/namid-smoke

  # interrupted? run the same command again: finished cells are skipped, a broken training resumes
  mireg reproduce infoat-table2 --budget smoke --seeds 5 --out runs/infoat-smoke

  # split one comparison over two machines (or two sessions), then merge: the same report as one run
  mireg reproduce infoat-table2 --budget fast --methods at,trades,mart --device cuda --out runs/a
  mireg reproduce infoat-table2 --budget fast --methods mart+,infoat --device cuda:1 --out runs/b
  mireg reproduce merge runs/a runs/b --out runs/infoat-fast

  # only seeds 5-9 (e.g. on a third machine), CIFAR-10 from a local folder
  mireg reproduce infoat-table2 --budget paper --seeds 5,6,7,8,9 --data-root data --out runs/c

  mireg reproduce --list                       # every study: its methods, evaluations and budgets

budgets:
  smoke  scikit-learn's digits on CPU: the digits-* recipes shortened, the table's attacks at the digits
         radius on the first 100 test digits with every iteration budget capped (a smoke test, not a claim)
  fast   CIFAR-10 ResNet-18 on one GPU with the fast-*-resnet18 recipes; full-strength attacks on the
         first 1,000 test images (AutoAttack included)
  paper  the papers' own recipes (mireg train --list-recipes) and the whole test set

Writes OUT/report.md, OUT/report.json and OUT/<evaluation>.png (+ -paired.png): per method and column the
mean ± standard deviation over seeds beside the paper's number, each method minus the baseline paired by
seed with a 95% t-interval, and each method's training cost. See docs/reproduce.md.
"""


def parse_seeds(text: str) -> int | list[int]:
    """``"5"`` -> 5 (seeds 0-4); ``"2,3"`` -> [2, 3] (exactly those seeds). argparse type."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes a count (5) or a list of seeds (0,3,4), "
                                         f"got {text!r}") from None
    if not values or any(v < 0 for v in values) or ("," not in str(text) and values[0] < 1):
        raise argparse.ArgumentTypeError(f"--seeds takes a count >= 1 (5) or seeds >= 0 (0,3,4), got {text!r}")
    return values if "," in str(text) else values[0]


def add_parser(subparsers: Any) -> None:
    """Register ``mireg reproduce``."""
    p = subparsers.add_parser(
        "reproduce", help="reproduce a paper's table (train every method over seeds, evaluate, report)",
        description="Reproduce a table of the InfoAT or NAMID paper: train every method for every seed at a "
                    "budget, evaluate it with the table's attack suite, and write a report with mean ± "
                    "standard deviation over seeds, the paper's numbers, seed-paired differences with 95% "
                    "intervals and the training cost. Resumable; splittable with --methods and 'merge'.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", nargs="?", help="a study (infoat-table2, namid-table1; see --list), or 'merge'")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="with 'merge': the output folders to combine")
    p.add_argument("--list", action="store_true", help="list the studies with their methods and budgets")
    p.add_argument("--budget", default="smoke", choices=("smoke", "fast", "paper"),
                   help="smoke (CPU, digits; default), fast (one GPU, CIFAR-10) or paper (the papers' recipes)")
    p.add_argument("--seeds", type=parse_seeds, default=5, metavar="N|S1,S2",
                   help="a count (5 = seeds 0-4, the default) or a comma-separated list of seeds")
    p.add_argument("--methods", metavar="M1,M2", help="only these methods of the study (e.g. at,infoat)")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/reproduce/<study>-<budget>); "
                   "with 'merge' the merged folder (required)")
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N")
    p.add_argument("--data-root", help="folder with the CIFAR-10 files (fast and paper budgets)")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 into --data-root if missing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or step messages")
    p.set_defaults(func=run, command="reproduce")


def _list_studies() -> str:
    from mireg.reproduce import STUDIES, get_study

    lines = []
    for name in STUDIES.names():
        study = get_study(name)
        lines.append(f"{name}: {study.title}")
        lines.append(f"  reproduces {study.reproduces} of {study.paper}")
        lines.append(f"  methods (--methods): {', '.join(a.key for a in study.arms)}; baseline {study.baseline}")
        lines.append(f"  evaluations: {', '.join(f'{e.name} (suite {e.suite})' for e in study.evaluations)}")
        for budget in study.budgets:
            lines.append(f"  --budget {budget.name}: {budget.description}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``mireg reproduce`` (or ``merge`` / ``--list``); returns the exit status."""
    if args.list:
        print(_list_studies())
        return 0
    if not args.study:
        raise ValueError("name a study (e.g. 'mireg reproduce infoat-table2'), 'merge DIR1 DIR2 --out DIR', "
                         "or use --list")
    from mireg.reproduce import default_out_dir
    from mireg.utils.paths import check_output_dir

    if args.study == "merge":
        from mireg.reproduce import merge

        if len(args.dirs) < 1 or not args.out:
            raise ValueError("merge needs the folders to combine and --out: "
                             "mireg reproduce merge DIR1 DIR2 --out DIR")
        check_output_dir(args.out, "--out")
        report = merge(args.dirs, args.out)
    else:
        if args.dirs:
            raise ValueError(f"unexpected arguments {args.dirs}: only 'merge' takes folders")
        from mireg.reproduce import reproduce

        check_output_dir(args.out or default_out_dir(args.study, args.budget), "--out")
        report = reproduce(args.study, args.budget, args.seeds, methods=args.methods, out_dir=args.out,
                           device=args.device, progress=not args.no_progress, data_root=args.data_root,
                           download=args.download)
    out = args.out or default_out_dir(args.study, args.budget)
    print(f"{len(report['cells'])} cells ({len(report['failed'])} failed); report: {out}/report.md")
    sys.stdout.flush()
    return 0
