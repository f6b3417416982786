"""``mireg export``: a RobustBench submission bundle of a checkpoint (argument parsing and wiring only; the
work is :func:`mireg.evaluation.robustbench_export.export_robustbench`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mireg.cli import _args

__all__ = ["add_parser", "parse_info", "run"]

EXAMPLES = """\
examples:
  # the RobustBench claim: the first 10,000 CIFAR-10 test images, AutoAttack standard at 8/255
  mireg export runs/infoat/best.pt --name Doe2026Mutual --data-root data --out submission \\
      --info name="Mutual information adversarial training" --info venue="ICML 2026"

  # a quick look first (a PARTIAL evaluation: the JSON and the README say so)
  mireg export runs/infoat/best.pt --name Doe2026Mutual --n 500 --out submission-draft

  # L2, and a stronger evaluation's lower number as RobustBench's "best known robust accuracy"
  mireg eval runs/infoat/best.pt --suite namid-l2 --out runs/eval-l2
  mireg export runs/infoat/best.pt --name Doe2026Mutual --threat-model L2 --external runs/eval-l2 --out sub-l2

Writes OUT/<name>.pt (a plain state dict of the bare architecture, with RobustBench's mu/sigma
normalisation buffers), OUT/model_info/<dataset>/<threat model>/<name>.json (the leaderboard entry, n and
a partial evaluation recorded), OUT/autoattack.log, OUT/report.json, OUT/model.json and OUT/README.md
(what to fill in before submitting, and the Model-Zoo entry that loads the weights).
"""


def parse_info(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (key, value): JSON values (``true``, ``12.5``) as such, anything else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--info takes KEY=VALUE (e.g. venue=\"ICML 2026\"), got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def add_parser(subparsers: Any) -> None:
    """Register ``mireg export``."""
    p = subparsers.add_parser(
        "export", help="a RobustBench submission: weights, leaderboard JSON, AutoAttack log, README",
        description="Evaluate a 'mireg train' checkpoint the RobustBench way (the first --n test points, "
                    "AutoAttack standard, gradient-masking checks) and write a submission bundle.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=_args.checkpoint, help="a 'mireg train' checkpoint (best.pt / last.pt)")
    p.add_argument("--name", required=True, help="RobustBench model name, <Surname><Year><FirstWordOfTitle>")
    p.add_argument("--out", required=True, help="the bundle's folder")
    p.add_argument("--n", type=_args.integer(1), default=None,
                   help="evaluate the first n test points (default: as many as RobustBench, 10000 for CIFAR-10/100 "
                        "and 5000 for ImageNet, or the whole test split; fewer is a partial evaluation)")
    p.add_argument("--threat-model", default="Linf", choices=("Linf", "L2"), help="default Linf")
    p.add_argument("--eps", type=_args.radius, default=None,
                   help="radius (default RobustBench's: 8/255 for Linf, 0.5 for L2; another is no leaderboard claim)")
    p.add_argument("--info", type=parse_info, action="append", default=[], metavar="KEY=VALUE",
                   help="a model-info field: name, link, authors, venue, architecture, additional_data, reported, "
                        "footnote, number_forward_passes (repeat the flag)")
    p.add_argument("--external", metavar="EVAL_DIR", default=None,
                   help="a 'mireg eval --out' folder of a stronger evaluation: its worst case, when lower, is "
                        "RobustBench's 'best known robust accuracy' (external)")
    p.add_argument("--dataset", default=None, help="dataset name (default: the checkpoint's)")
    p.add_argument("--data-root", default=None, help="dataset directory (default: the checkpoint's / $MIREG_DATA)")
    p.add_argument("--batch-size", type=_args.integer(1), default=500, help="attack batch size (default 500)")
    p.add_argument("--device", type=_args.device, default="auto", help="auto | cpu | cuda | cuda:1 (default auto)")
    p.add_argument("--seed", type=int, default=0, help="seed of the attacks (default 0)")
    p.add_argument("--no-sanity", action="store_true", help="skip the gradient-masking probes")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run, command="export")


def run(args: argparse.Namespace) -> int:
    """Execute ``mireg export``; returns the exit status."""
    from mireg.evaluation import EvaluationReport
    from mireg.evaluation.robustbench_export import export_robustbench
    from mireg.evaluation.robustbench_io import TEST_SET_SIZES
    from mireg.runs import load_trained_model
    from mireg.utils.device import resolve_device

    info = dict(args.info)
    if args.external:
        info["external"] = EvaluationReport.load(args.external)
    model, data, cfg = load_trained_model(args.checkpoint, dataset=args.dataset, data_root=args.data_root)
    dataset = args.dataset or cfg["dataset"]
    architecture = {"name": cfg["model"], "kwargs": cfg.get("model_kwargs", {}), "num_classes": data.num_classes,
                    "in_channels": data.image_shape[0], "input_shape": list(data.image_shape),
                    "checkpoint": str(args.checkpoint)}
    device = resolve_device(args.device)
    n = args.n if args.n is not None else min(TEST_SET_SIZES.get(dataset, len(data)), len(data))
    report, paths = export_robustbench(model.to(device), data, args.out, args.name, n=n,
                                       threat_model=args.threat_model, eps=args.eps, architecture=architecture,
                                       batch_size=args.batch_size, device=device, seed=args.seed,
                                       progress=not args.no_progress, sanity=not args.no_sanity, dataset=dataset,
                                       **info)
    print(report.table())
    entry = json.loads(paths["model_info"].read_text())
    if entry["evaluation"]["partial"]:
        print(f"PARTIAL evaluation: {entry['evaluation']['n']} of {entry['evaluation']['test_set_size']} test "
              "points (marked in the JSON and the README)")
    todo = [k for k, v in entry.items() if isinstance(v, str) and v.startswith("TODO(author)")]
    if todo:
        print("fill in before submitting: " + ", ".join(todo) + f" (see {paths['readme']})")
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0
