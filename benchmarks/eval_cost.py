"""Evaluation cost: seconds per 1,000 images for every attack of every mireg evaluation suite.

Each suite entry is built exactly as :func:`mireg.evaluate` builds it (the papers' budgets: PGD-100,
PGD+ = 5 restarts x 40 steps, AutoAttack standard with 100 iterations and 5000 Square queries, ...)
and run on the same batch; restarts are all run. The labels are the model's own predictions, so
every image is attacked (as the runner attacks every clean-correct point). Seconds per 1,000 images
= ``seconds * 1000 / n``.

Clock: on CPU the process CPU time (``time.process_time``: robust to other processes on a shared
machine; run with ``--threads 1``), on CUDA the wall time between ``torch.cuda.synchronize`` calls.
Attacks with a fixed budget (FGSM, PGD, CW, InfoPGD, TI-DIM, FWA, DDN, SPSA) cost the same on any
model of the architecture. AutoAttack and Square stop on the points they break, so their cost
depends on how robust the model is. The randomly initialised model used here predicts nearly the
same class whatever the input, so (as the ``robust_fraction`` in the JSON shows) no point is broken
and every attack spends its whole budget: for AutoAttack this is its UPPER bound (APGD-CE, then
APGD-T and FAB-T over 9 target classes, then Square's 5000 queries on every point); on a model
whose points mostly break in APGD-CE it costs little more than APGD-CE.

Usage::

    python benchmarks/eval_cost.py --threads 1            # CPU (and CUDA when present), small_cnn, 32 images
    python benchmarks/eval_cost.py --quick                # smoke run: 4 images, quick + infoat suites
    python benchmarks/eval_cost.py --model resnet18 --n 64 --device cuda

Writes ``benchmarks/results/eval_cost_<device>.json`` (``_quick`` appended for --quick).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

import mireg
from mireg.evaluation.suites import get_suite
from mireg.models import create_model

SUITES = ("quick", "infoat", "namid-linf", "namid-l2", "blackbox")
QUICK_SUITES = ("quick", "infoat")


def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return time.perf_counter()
    return time.process_time()


def measure(model: torch.nn.Module, surrogate: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
            suites: tuple[str, ...], device: torch.device) -> dict[str, Any]:
    """``{suite: {label: {"seconds_per_1000": s, "robust_fraction": f}}}`` for one device."""
    out: dict[str, Any] = {}
    for name in suites:
        suite = get_suite(name)
        rows = {}
        for i, entry in enumerate(suite.resolve()):
            torch.manual_seed(i)
            attack = entry.build(model, surrogate=surrogate)
            attack(x[:2], y[:2])  # warm-up (kernels, caches)
            start = _clock(device)
            robust = torch.ones(len(y), dtype=torch.bool, device=device)
            for _ in range(entry.spec.restarts):
                x_adv = attack(x, y)
                with torch.no_grad():
                    robust &= model(x_adv).argmax(1) == y
            seconds = _clock(device) - start
            rows[entry.label] = {"seconds_per_1000": seconds * 1000 / len(y),
                                 "robust_fraction": float(robust.float().mean())}
            print(f"{device.type:>4} {name:<11} {entry.label:<16} {seconds * 1000 / len(y):10.2f} s/1000 images"
                  f"  (robust {float(robust.float().mean()):.2f})", flush=True)
        out[name] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small_cnn", help="mireg model name (default small_cnn)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--n", type=int, default=32, help="images per attack (default 32)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: CPU, and CUDA when present)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (use 1 on a shared machine)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 images, the quick and infoat suites")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    n = 4 if args.quick else args.n
    suites = QUICK_SUITES if args.quick else SUITES
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        device = torch.device(dev)
        torch.manual_seed(0)
        model = create_model(args.model, num_classes=10, in_channels=3).to(device).eval()
        surrogate = create_model(args.model, num_classes=10, in_channels=3).to(device).eval()
        x = torch.rand(n, 3, args.image_size, args.image_size, device=device)
        with torch.no_grad():
            y = model(x).argmax(1)
        results = measure(model, surrogate, x, y, suites, device)
        record = {
            "benchmark": "eval_cost", "device": dev,
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
            "clock": "cuda wall time" if device.type == "cuda" else "process CPU time",
            "threads": torch.get_num_threads(), "model": args.model, "image_size": args.image_size, "n": n,
            "labels": "model predictions (every image attacked)", "quick": args.quick,
            "versions": {"mireg": mireg.__version__, "torch": torch.__version__}, "results": results,
        }
        path = Path(args.out) / f"eval_cost_{device.type}{'_quick' if args.quick else ''}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
