"""The ``mireg`` command: argument parsing and wiring only, one module per subcommand.

``mireg train`` (:mod:`mireg.cli.train`), ``mireg demo`` (:mod:`mireg.cli.demo`), ``mireg estimators``
(:mod:`mireg.cli.estimators`), ``mireg eval`` (:mod:`mireg.cli.eval`), ``mireg export``
(:mod:`mireg.cli.export`), ``mireg figures`` (:mod:`mireg.cli.figures`) and ``mireg reproduce``
(:mod:`mireg.cli.reproduce`). Every module exposes
``add_parser(subparsers)``, registering its subcommand with ``set_defaults(func=run)`` where
``run(args) -> int`` is the exit status; the modules import no torch at module level (the work is
imported inside ``run``). Nothing in mireg imports this package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mireg import __version__
from mireg.cli import demo as demo_command
from mireg.cli import estimators as estimators_command
from mireg.cli import eval as eval_command
from mireg.cli import export as export_command
from mireg.cli import figures as figures_command
from mireg.cli import reproduce as reproduce_command
from mireg.cli import train as train_command

EPILOG = """\
examples:
  mireg demo                                   # AT, TRADES, MART, InfoAT, NAMID on digits, CPU, minutes
  mireg train --recipe digits-infoat --epochs 5 --out runs/infoat
  mireg train --recipe mart-resnet18 --data-root data --out runs/mart   # the MART paper's recipe
  mireg estimators --help                      # NAMID's MI estimators on a pre-trained model
  mireg eval --help                            # clean, PGD, AutoAttack, ... on a checkpoint
  mireg export runs/infoat/best.pt --name Doe2026Mutual --out submission   # a RobustBench submission
  mireg reproduce infoat-table2 --budget smoke --seeds 5   # a paper's table on CPU, with error bars
  mireg reproduce infoat-fig3 --budget smoke --seeds 3     # a paper's ablation study, the same way
  mireg figures --help                         # the papers' analysis figures (InfoAT Fig. 1/4/5, NAMID Fig. 2/4)
  torchrun --nproc_per_node 4 -m mireg train --recipe trades-wrn34 --out runs/trades   # 4 GPUs

Run 'mireg <command> --help' for each command's options and examples.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``mireg train: error: argument --epochs: ... (see 'mireg train
    --help')``, exit status 2 (argparse's own usage block is left to --help). ``commands``: the
    subcommands' parsers by name (on the top-level parser)."""

    commands: dict[str, argparse.ArgumentParser] = {}

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see '{self.prog} --help')\n")


def _one_line(message: object) -> str:
    """A message on one line: its lines joined with spaces."""
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())


def build_parser() -> argparse.ArgumentParser:
    """The ``mireg`` parser with every available subcommand."""
    parser = _Parser(
        prog="mireg", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Mutual-information adversarial training (InfoAT, NAMID) for PyTorch, torchattacks "
                    "and RobustBench: train, estimate MI, evaluate, export.")
    parser.add_argument("--version", action="version", version=f"mireg {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full Python traceback of an error instead of a one-line message")
    subparsers = parser.add_subparsers(title="commands", metavar="<command>")
    for module in (train_command, demo_command, estimators_command, eval_command, export_command, figures_command,
                   reproduce_command):
        module.add_parser(subparsers)
    parser.commands = subparsers.choices
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mireg`` console script; returns the exit status (2 for a bad argument, with a
    one-line message on stderr; ``--help`` and ``--version`` exit through argparse)."""
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:  # reported by the subcommand's parser: 'mireg train: error: unrecognized arguments: ...'
            parser.commands.get(getattr(args, "command", None), parser).error(
                f"unrecognized arguments: {' '.join(extras)}")
    except SystemExit as stop:
        if stop.code in (0, None):  # --help, --version
            raise
        return int(stop.code) if isinstance(stop.code, int) else 2  # a usage error, printed on one line
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, RuntimeError, ModuleNotFoundError) as err:  # (a missing
        # extra: require()'s message names the pip command)
        if args.traceback:
            raise
        command = getattr(args, "command", "")
        print(f"mireg {command}: error: {_one_line(err)}".replace("  ", " "), file=sys.stderr)
        return 1 if isinstance(err, RuntimeError) or _io_failure(err) else 2


def _io_failure(err: BaseException) -> bool:
    """An ``OSError`` other than a missing input file (exit status 1, as a failure of the run)."""
    return isinstance(err, OSError) and not isinstance(err, FileNotFoundError)


if __name__ == "__main__":
    sys.exit(main())
