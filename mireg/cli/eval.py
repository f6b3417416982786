"""``mireg eval``: evaluate a checkpoint (or a RobustBench model) with a named attack suite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mireg.cli import _args
from mireg.utils.parsing import parse_fraction

__all__ = ["add_parser", "choose_eps", "run", "parse_eps"]

EXAMPLES = """\
examples:
  # train a small InfoAT model on the bundled digits, then give it InfoAT's full evaluation
  mireg train --recipe digits-infoat --epochs 5 --out runs/infoat
  mireg eval runs/infoat/best.pt --suite infoat --n 500 --out runs/infoat/eval --analysis

  # a quick check while training (PGD-20 + APGD-CE), 200 test points
  mireg eval runs/infoat/last.pt --suite quick --n 200

  # NAMID's L2 table at eps 0.5, and a black-box transfer from a separately trained surrogate
  mireg eval runs/namid/best.pt --suite namid-l2 --n 1000
  mireg eval runs/namid/best.pt --suite blackbox --surrogate runs/vgg19/best.pt

  # the RobustBench way (first 10,000 CIFAR-10 test points, AutoAttack standard, 8/255) + model-info JSON
  mireg eval runs/infoat/best.pt --suite robustbench-linf --n 10000 --model-info Doe2026Mutual --out runs/rb

  # a RobustBench Model-Zoo model from a local directory (models/cifar10/Linf/<name>.pt)
  mireg eval --robustbench Carmon2019Unlabeled --model-dir models --data-root data --suite infoat --n 1000

  mireg eval --list-suites                     # every suite with its attacks and citations
"""


def parse_eps(text: str) -> float:
    """``"8/255"`` or ``"0.5"`` -> float > 0 (argparse type)."""
    return parse_fraction(text, name="eps", positive=True)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Lists the suites in ``--suite``'s help only when ``mireg eval --help`` is shown: building the
    parser (``mireg --help``) imports no torch."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = super()._get_help_string(action) or ""
        if action.dest != "suite":
            return text
        from mireg.evaluation.suites import get_suite
        from mireg.registry import SUITES

        suites = "; ".join(f"{n}: {get_suite(n).description}" for n in SUITES.names())
        return f"{text} " + suites.replace("%", "%%")


def add_parser(subparsers: Any) -> None:
    """Register ``mireg eval``."""
    p = subparsers.add_parser(
        "eval", help="clean, PGD, CW, AutoAttack, ... accuracy of a checkpoint, with gradient-masking checks",
        description="Evaluate a model trained by 'mireg train' (or a RobustBench Model-Zoo model) with a named "
                    "attack suite: clean accuracy, robust accuracy per attack, the per-sample worst case and "
                    "gradient-masking sanity checks. Writes report.json, outcomes.npz and plots to --out.",
        epilog=EXAMPLES, formatter_class=_HelpFormatter)
    p.add_argument("checkpoint", nargs="?", type=_args.checkpoint,
                   help="a 'mireg train' checkpoint (last.pt / best.pt)")
    p.add_argument("--suite", default="quick", help="attack suite (default quick).")
    p.add_argument("--eps", type=parse_eps, default=None,
                   help="radius, e.g. 8/255 or 0.5 (default: the radius the checkpoint was trained at, for the "
                        "L-inf suites but the RobustBench one; else the suite's; the table says which); L-inf in "
                        "(0, 1], L2 up to sqrt(C*H*W)")
    p.add_argument("--n", type=_args.integer(1), default=None, help="evaluate the first n test points (default: all)")
    p.add_argument("--attacks", default=None, help="comma-separated labels of the suite to run (default: all)")
    p.add_argument("--dataset", default=None, help="dataset name (default: the checkpoint's; cifar10 for "
                                                   "--robustbench)")
    p.add_argument("--data-root", default=None, help="dataset directory (default: the checkpoint's / $MIREG_DATA)")
    p.add_argument("--batch-size", type=_args.integer(1), default=256, help="attack batch size (default 256)")
    p.add_argument("--device", type=_args.device, default="auto", help="auto | cpu | cuda | cuda:1 (default auto)")
    p.add_argument("--seed", type=_args.integer(0), default=0, help="seed of the attacks (default 0)")
    p.add_argument("--out", default=None, help="directory for report.json, outcomes.npz and plots")
    p.add_argument("--surrogate", type=_args.checkpoint, default=None,
                   help="checkpoint of a separately trained surrogate (black-box transfer entries)")
    p.add_argument("--max-steps", type=_args.integer(1), default=None,
                   help="cap every iteration/query budget (smoke tests only: the report says it is no claim)")
    p.add_argument("--no-sanity", action="store_true", help="skip the gradient-masking probes")
    p.add_argument("--analysis", action="store_true",
                   help="also draw the InfoAT paper's analyses with its settings (PGD-10, first 1,000 points), as "
                        "'mireg figures' does: entropy vs smallest perturbation (Fig. 1(b)), weight-space loss "
                        "change (Fig. 4) and the input-space loss over the eps-ball (Fig. 5)")
    p.add_argument("--robustbench", metavar="NAME", default=None, help="evaluate a RobustBench Model-Zoo model")
    p.add_argument("--model-dir", default="./models", help="RobustBench model directory (default ./models)")
    p.add_argument("--rb-dataset", default=None, choices=("cifar10", "cifar100", "imagenet"),
                   help="RobustBench dataset of --robustbench (default: --dataset when it is one, else cifar10)")
    p.add_argument("--threat-model", default="Linf", choices=("Linf", "L2"),
                   help="RobustBench threat model of --robustbench (default Linf)")
    p.add_argument("--download", action="store_true", help="let RobustBench download --robustbench (internet)")
    p.add_argument("--model-info", metavar="MODEL_NAME", default=None,
                   help="write RobustBench's model-info JSON (robustbench-* suites) under --out/model_info")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--list-suites", action="store_true", help="print every suite with its attacks and exit")
    p.set_defaults(func=run, command="eval")


def choose_eps(given: float | None, suite: Any, config: dict[str, Any] | None) -> tuple[float | None, str]:
    """``(eps for evaluate, where it comes from)``: ``--eps`` when given; else, for an L-inf suite other
    than RobustBench's fixed threat model, the radius the checkpoint was trained at; else the suite's."""
    from mireg.evaluation.suites import format_eps

    if given is not None:
        return given, "given by --eps"
    trained = (config or {}).get("eps")
    if not trained:
        reason = "a RobustBench model" if config is None else "the checkpoint was trained without attacks (eps 0)"
        return None, f"the suite's ({reason}; --eps to change)"
    trained_text = format_eps(trained, "Linf")
    if suite.norm != "Linf":
        return None, f"the suite's {suite.norm} radius (the checkpoint was trained at L-inf eps {trained_text})"
    if suite.name.startswith("robustbench"):
        return None, (f"RobustBench's threat model (the checkpoint was trained at eps {trained_text}; "
                      "--eps to change, but then it is no RobustBench claim)")
    return float(trained), "the radius the checkpoint was trained at (its config; --eps to change)"


def _list_suites() -> str:
    from mireg.evaluation.suites import get_suite
    from mireg.registry import SUITES

    lines = []
    for name in SUITES.names():
        suite = get_suite(name)
        lines.append(f"{name}  ({suite.norm}, eps {suite.eps:.4g}) - {suite.citation}")
        for entry in suite.resolve():
            args = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.kwargs.items())
            lines.append(f"    {entry.label:<16} {entry.spec.attack if isinstance(entry.spec.attack, str) else ''}"
                         f"({args}){' x' + str(entry.spec.restarts) + ' restarts' if entry.spec.restarts > 1 else ''}")
    return "\n".join(lines)


def _analysis(model: Any, x: Any, y: Any, eps: float, norm: str, out: Path, seed: int,
              max_steps: int | None) -> list[Path]:
    """InfoAT Fig. 1(b), 4 and 5 with the paper's settings (``mireg figures``; L-inf PGD-10, the first
    1,000 points, at the suite's eps when it is L-inf, else 8/255)."""
    from mireg.evaluation import paper_figures

    n = min(len(y), 1000)
    eps = eps if norm == "Linf" else 8 / 255
    steps = 10 if max_steps is None else min(10, max_steps)
    paper_figures.infoat_fig1b(model, x[:n], y[:n], out, eps=eps, steps=steps, seed=seed)
    paper_figures.infoat_fig4(model, x[:n], y[:n], out, eps=eps, steps=steps, seed=seed)
    paper_figures.infoat_fig5(model, x[:1], y[:1], out, eps=eps, steps=steps, seed=seed)
    return [out / f"{name}.{ext}" for name in ("infoat-fig1b", "infoat-fig4", "infoat-fig5") for ext in ("json", "png")]


def run(args: argparse.Namespace) -> int:
    """Execute ``mireg eval``; returns the exit status (0 also when masking is suspected: read the report)."""
    from mireg._validation import check_eps
    from mireg.evaluation import evaluate, load_data
    from mireg.evaluation.suites import get_suite
    from mireg.utils.device import resolve_device

    if args.list_suites:
        print(_list_suites())
        return 0
    if (args.checkpoint is None) == (args.robustbench is None):
        raise ValueError("give either a checkpoint or --robustbench NAME (see 'mireg eval --help')")
    if (args.analysis or args.model_info) and not args.out:
        raise ValueError("--analysis and --model-info need --out DIR")
    if args.out:  # before the work: a bad --out costs a second, not an evaluation
        from mireg.utils.atomic import remove_leftovers
        from mireg.utils.paths import check_output_dir

        remove_leftovers(check_output_dir(args.out, "--out"))
    suite = get_suite(args.suite)
    attacks = [a.strip() for a in args.attacks.split(",") if a.strip()] if args.attacks is not None else None
    if args.eps is not None:
        check_eps("--eps", args.eps, suite.norm)
    if attacks is not None and (not attacks or set(attacks) - set(suite.labels)):
        raise ValueError(f"--attacks must list labels of suite {suite.name!r} ({', '.join(suite.labels)}), "
                         f"got {args.attacks!r}")
    device = resolve_device(args.device)
    if args.robustbench:
        from mireg.data import load_dataset
        from mireg.models.robustbench import load_robustbench_model

        rb_dataset = args.rb_dataset or (args.dataset if args.dataset in ("cifar10", "cifar100", "imagenet")
                                         else "cifar10")
        model = load_robustbench_model(args.robustbench, model_dir=args.model_dir, dataset=rb_dataset,
                                       threat_model=args.threat_model, download=args.download)
        data = load_dataset(args.dataset or "cifar10", root=args.data_root, split="test")
        dataset, cfg = args.dataset or "cifar10", None
    else:
        from mireg.runs import load_trained_model

        model, data, cfg = load_trained_model(args.checkpoint, dataset=args.dataset, data_root=args.data_root)
        dataset = args.dataset or cfg["dataset"]
    surrogate = None
    if args.surrogate:
        from mireg.runs import load_trained_model

        surrogate, _, _ = load_trained_model(args.surrogate, dataset=dataset, data_root=args.data_root)
        surrogate = surrogate.to(device)
    model = model.to(device)
    eps, eps_source = choose_eps(args.eps, suite, cfg)
    report = evaluate(model, data, suite=suite, eps=eps, n=args.n, batch_size=args.batch_size, device=device,
                      seed=args.seed, progress=not args.no_progress, attacks=attacks, max_steps=args.max_steps,
                      surrogate=surrogate, sanity=not args.no_sanity, dataset=dataset)
    report.meta.update(eps_source=eps_source, checkpoint=args.checkpoint or f"--robustbench {args.robustbench}")
    print(report.table())
    if args.out:
        out = Path(args.out)
        paths = list(report.save(out).values()) + report.plot(out)
        if args.analysis:
            x, y = load_data(data, args.n)
            paths += _analysis(model, x, y, report.eps, report.norm, out, args.seed, args.max_steps)
        if args.model_info:
            from mireg.evaluation.robustbench_io import write_model_info

            paths.append(write_model_info(report, args.model_info, out_dir=out / "model_info", dataset=dataset))
        print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0
