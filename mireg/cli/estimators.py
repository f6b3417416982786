"""``mireg estimators``: train NAMID's MI estimators on a pre-trained classifier (argument parsing and
wiring only; the work is :func:`mireg.estimators.train_estimators` and :func:`mi_analysis`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mireg.cli import _args

EPILOG = """\
examples:
  # 1. a classifier trained with AT (any 'mireg train' checkpoint: it knows its model and dataset)
  mireg train --recipe digits-at --out runs/at

  # 2. NAMID's estimators on it: PGD-20 at eps 8/255 (the default attack), 25 epochs, Eq. 5
  mireg estimators --checkpoint runs/at/best.pt --out runs/est/estimators.pt

  # the same on the digits demo budget: fewer epochs, a narrower critic, an MI analysis figure
  mireg estimators --checkpoint runs/at/best.pt --epochs 8 --width 256 --batch-size 128 \\
      --analyze pgd,fgsm --figure runs/est/mi.png --out runs/est/estimators.pt

  # CIFAR-10 ResNet-18 as the paper: L2 PGD-20 at eps 0.5, batch 400, width 2048, on a GPU
  mireg estimators --checkpoint runs/at-r18/best.pt --data-root data --attack pgd-l2 \\
      --eps 0.5 --alpha 0.05 --steps 20 --device cuda --out runs/est-r18/estimators.pt

  # a plain state_dict file (e.g. from another codebase): name the architecture and the dataset
  mireg estimators --checkpoint resnet18_at.pt --model resnet18 --dataset cifar10 --data-root data \\
      --out est.pt
  mireg estimators --checkpoint cnn.pt --model small_cnn --model-kwargs '{"width": 8}' --out est.pt

  # the paper's Eq. 4 ("MIM") objective, and a global input from ResNet layer3 instead of the logits
  mireg estimators --checkpoint runs/at/best.pt --objective mim --layer model.layer3 --out est.pt

  # 3. NAMID itself, with those estimators
  mireg train --recipe digits-namid --estimators runs/est/estimators.pt --out runs/namid

The estimators are trained on the training split; the held-out check of NAMID's Fig. 4
(E_n(x) > E_n(x_adv) and E_a(x_adv) > E_a(x) on test samples that are correct on x and wrong on
x_adv) runs on the first --n-val test images and is printed, as is the MI analysis table with
--analyze. Writes OUT (weights + metadata; load with mireg.estimators.load_estimators) and
OUT.json (the metadata, the check and the analysis table).
"""


def add_parser(subparsers: Any) -> None:
    """Register the ``estimators`` subcommand."""
    p = subparsers.add_parser(
        "estimators", help="train NAMID's natural/adversarial MI estimators on a pre-trained classifier",
        description="Train NAMID's MI estimators E_n (on x) and E_a (on x_adv - x) on a frozen, "
                    "pre-trained classifier (Zhou et al., ICML 2022, Eq. 4-6), check them on held-out "
                    "data and save them for 'mireg train --method namid'.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("classifier and data")
    g.add_argument("--checkpoint", required=True, type=_args.checkpoint,
                   help="classifier weights: a 'mireg train' checkpoint "
                   "(best.pt / last.pt) or a plain state_dict file (then give --model and --dataset)")
    g.add_argument("--model", help="architecture name (default: the checkpoint's); see mireg.models.list_models()")
    g.add_argument("--model-kwargs", type=_args.json_object, default=None, metavar="JSON",
                   help='architecture options for a plain state_dict, e.g. \'{"width": 8}\' (default: the '
                        "checkpoint's)")
    g.add_argument("--dataset", help="dataset name (default: the checkpoint's, else digits)")
    g.add_argument("--data-root", help="folder with the dataset files (not needed for digits)")
    g.add_argument("--image-size", type=_args.integer(1),
                   help="digits / image-folder image size (default: the checkpoint's)")
    g.add_argument("--channels", type=_args.integer(1), help="digits channels (default: the checkpoint's)")
    g.add_argument("--n-train", type=_args.integer(1), help="train on the first N training images (default: all)")
    g.add_argument("--n-val", type=_args.integer(0), default=1000, help="held-out check on the first N test images "
                   "(default 1000; 0 skips it)")
    a = p.add_argument_group("attack (crafts x_adv on the frozen classifier)")
    a.add_argument("--attack", default="pgd", help="a name in mireg.registry.ATTACKS (default pgd: L-inf PGD)")
    a.add_argument("--eps", type=_args.radius, default=8 / 255,
                   help="radius (default 8/255): in (0, 1] for L-inf attacks, up to sqrt(C*H*W) for L2 ones")
    a.add_argument("--alpha", type=_args.fraction, default=2 / 255, help="step size (default 2/255)")
    a.add_argument("--steps", type=_args.integer(1), default=20, help="attack steps (default 20)")
    t = p.add_argument_group("estimator training")
    t.add_argument("--objective", default="eq5", choices=("eq5", "eq5-literal", "mim"),
                   help="eq5 (default; Eq. 5 with the subtracted MI clamped at 0), eq5-literal, mim (Eq. 4)")
    t.add_argument("--epochs", type=_args.integer(1), default=25, help="epochs (default 25, the released code's)")
    t.add_argument("--batch-size", type=_args.integer(2), default=400,
                   help="batch; its other samples are the negatives "
                   "(default 400)")
    t.add_argument("--lr", type=_args.number(0, open_low=True), default=1e-2, help="Adam learning rate (default 1e-2)")
    t.add_argument("--width", type=_args.integer(1), default=2048,
                   help="critic feature dimension (default 2048, the paper's)")
    t.add_argument("--layer", help="global input from this layer of the classifier (e.g. model.layer3) "
                   "instead of its logits")
    o = p.add_argument_group("output")
    o.add_argument("--out", default="estimators.pt", help="output file (default estimators.pt)")
    o.add_argument("--analyze", help="comma-separated attack names for the MI analysis on the held-out "
                   "images (NAMID Fig. 2/4), e.g. pgd,fgsm")
    o.add_argument("--figure", help="save the MI analysis figure here (PNG/PDF); needs --analyze")
    o.add_argument("--device", type=_args.device, default="auto",
                   help="auto (cuda when available), cpu, cuda or cuda:N")
    o.add_argument("--seed", type=_args.integer(0), default=0, help="random seed (default 0)")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run, command="estimators")


def _load_classifier(args: argparse.Namespace, device):
    """The frozen classifier (eval mode, on ``device``), its training and test splits, and metadata."""
    from mireg.config import TrainConfig
    from mireg.runs import build_model, data_options, load_split, read_run_file

    weights, saved = read_run_file(args.checkpoint)
    given = {"model": args.model, "dataset": args.dataset, "image_size": args.image_size,
             "channels": args.channels, "data_root": args.data_root, "model_kwargs": args.model_kwargs}
    values = {**saved, **{k: v for k, v in given.items() if v is not None}}
    if values.get("model") is None:
        raise ValueError(f"{args.checkpoint!r} does not name its architecture: pass --model")
    if not isinstance(values.get("model_kwargs", {}), dict):
        raise ValueError(f"--model-kwargs must be a JSON object, got {values['model_kwargs']!r}")
    values["dataset"] = values.get("dataset") or "digits"
    config = TrainConfig(**values)
    train = load_split(config, "train")
    test = load_split(config, "test") if args.n_val else None
    model = build_model(config, train)
    model.load_state_dict(weights)
    return model.to(device).eval(), train, test, {"classifier": str(args.checkpoint), "model": config.model,
                                                   "dataset": config.dataset, **data_options(config)}


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _check_args(args: argparse.Namespace) -> str | None:
    """What can be checked before the classifier is loaded; returns the norm of --eps."""
    from mireg._validation import check_eps
    from mireg.attacks import attack_norm
    from mireg.registry import ATTACKS, DATASETS, MODELS

    if args.figure and not args.analyze:
        raise ValueError("--figure needs --analyze (the attacks of the MI analysis), e.g. --analyze pgd,fgsm")
    if args.analyze is not None and not _names(args.analyze):
        raise ValueError(f"--analyze must list attack names, e.g. pgd,fgsm; got {args.analyze!r}")
    if args.analyze and not args.n_val:
        raise ValueError("--analyze needs held-out images: use --n-val > 0")
    for registry, names in ((ATTACKS, [args.attack, *_names(args.analyze or "")]), (MODELS, [args.model]),
                            (DATASETS, [args.dataset])):
        for name in names:
            if name is not None:
                registry.get(name)  # an unknown name: the registry's error, with suggestions
    norm = attack_norm(args.attack)
    check_eps("--eps", args.eps, norm)
    return norm


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output path writable before the work starts; temporary files of a killed run removed."""
    from pathlib import Path

    from mireg.utils.atomic import remove_leftovers
    from mireg.utils.paths import check_output_file

    check_output_file(args.out, "--out")
    check_output_file(f"{args.out}.json", "--out (its report)")
    if args.figure:
        check_output_file(args.figure, "--figure")
    remove_leftovers(Path(args.out).parent)


def run(args: argparse.Namespace) -> int:
    """Train, check, (analyse,) save; returns the exit status."""
    from mireg._validation import check_eps
    from mireg.attacks import create_attack
    from mireg.estimators import mi_analysis, plot_mi_analysis, save_estimators, train_estimators
    from mireg.utils.atomic import atomic_write_text
    from mireg.utils.device import resolve_device

    norm = _check_args(args)
    _check_outputs(args)
    device = resolve_device(args.device)
    model, train, test, info = _load_classifier(args, device)
    check_eps("--eps", args.eps, norm, dim=train.x[0].numel())
    if args.n_train:
        if args.n_train > len(train):
            raise ValueError(f"--n-train {args.n_train} exceeds the {len(train)} training images")
        train = train[:args.n_train]
    x_val = y_val = None
    if test is not None:
        test = test[:args.n_val]
        x_val, y_val = test.float(), test.y
    budget = {"eps": args.eps, "alpha": args.alpha, "steps": args.steps}
    attack = create_attack(args.attack, model, budget=budget)
    result = train_estimators(model, train.float(), train.y, attack=attack, epochs=args.epochs,
                              batch_size=args.batch_size, lr=args.lr, objective=args.objective, x_val=x_val,
                              y_val=y_val, device=device, progress=not args.no_progress, seed=args.seed,
                              width=args.width, layer=args.layer)
    metadata = {**result.metadata, **info, "attack": args.attack, "eps": args.eps, "alpha": args.alpha,
                "steps": args.steps}
    save_estimators(args.out, result.natural, result.adversarial, metadata)
    report: dict[str, Any] = {"metadata": metadata, "history": result.history}
    print(f"saved {args.out}")
    if result.check is not None:
        print(result.check)
        report["check"] = {**vars(result.check), "passed": result.check.passed}
    if args.analyze:
        attacks = {name: create_attack(name, model, budget=budget) for name in _names(args.analyze)}
        analysis = mi_analysis(model, result.natural, result.adversarial, x_val, y_val, attacks,
                               batch_size=args.batch_size, layer=args.layer, progress=not args.no_progress)
        print(analysis.table())
        report["analysis"] = analysis.rows
        if args.figure:
            plot_mi_analysis(analysis, args.figure)
            print(f"saved {args.figure}")
    atomic_write_text(f"{args.out}.json", json.dumps(report, indent=2, default=str))
    sys.stdout.flush()
    return 0
