"""Seconds per 1,000 images of mireg's attacks, side by side with torchattacks PGD of the same step count.

Each attack and its reference PGD run on the same model and batch in one process; timings are
interleaved round-robin (``--rounds`` rounds) so that machine load affects all alike. Seconds are the
median over rounds extrapolated to 1,000 images (``seconds * 1000 / n``); the ratio is the median over
rounds of (attack time / reference PGD time in the same round), the reference being torchattacks 3.5.1
PGD with the same eps-ball and number of gradient steps. On CPU the clock is the process CPU time
(``time.process_time``, robust to other processes on a shared machine; use ``--threads 1``), on
CUDA the wall time between two ``torch.cuda.synchronize`` calls.

Attacks (defaults of each class unless stated): CW-inf-20 vs PGD-20, DDN-20 and DDN-bounded-20
(eps 0.5) vs PGD-20, FWA-40 vs PGD-40, PGD-20 through ``BPDA(identity)`` vs PGD-20 (the wrapper's
overhead), and RayS with ``--queries`` queries per image (``early_stop=False``, so every image spends
the whole budget) vs PGD-20, a reference only: RayS costs ``queries`` forward passes and no backward.
The images are uniform noise and the model is randomly initialised: the cost of every attack here
does not depend on the data (fixed step counts; RayS spends its full budget). Results go to
``benchmarks/results/attack_cost_<device>[_<model>][_quick].json`` (no model part for small_cnn).

Usage::

    python benchmarks/attack_cost.py --threads 1     # CPU (and CUDA when available), small_cnn, 32 images
    python benchmarks/attack_cost.py --quick         # smoke run: 8 images, 1 round, 100 RayS queries
    python benchmarks/attack_cost.py --model preact_resnet18 --n 32 --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchattacks

import mireg
from mireg.attacks import BPDA, DDN, FWA, CWInf, DDNBounded, RayS
from mireg.models import create_model

AttackFactory = Callable[[torch.nn.Module], object]


def build_attacks(queries: int) -> dict[str, tuple[AttackFactory, str]]:
    """name -> (attack factory, name of its reference PGD)."""

    def pgd(steps: int) -> AttackFactory:
        return lambda m: torchattacks.PGD(m, eps=8 / 255, alpha=2 / 255, steps=steps)

    return {
        "PGD-20": (pgd(20), "PGD-20"),
        "PGD-40": (pgd(40), "PGD-40"),
        "CW-inf-20": (lambda m: CWInf(m, steps=20), "PGD-20"),
        "DDN-20": (lambda m: DDN(m, steps=20), "PGD-20"),
        "DDN-bounded-20": (lambda m: DDNBounded(m, eps=0.5, steps=20), "PGD-20"),
        "FWA-40": (lambda m: FWA(m, steps=40), "PGD-40"),
        "BPDA(id)+PGD-20": (lambda m: torchattacks.PGD(BPDA(lambda t: t, m), eps=8 / 255, alpha=2 / 255, steps=20),
                            "PGD-20"),
        f"RayS-{queries}q": (lambda m: RayS(m, query_limit=queries, early_stop=False), "PGD-20"),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=10, in_channels=3).to(device).eval()
    x = torch.rand(args.n, 3, 32, 32, device=device)
    with torch.no_grad():
        y = model(x).argmax(1)  # correctly classified by construction, so no attack skips work
    attacks = build_attacks(args.queries)
    built = {name: factory(model) for name, (factory, _) in attacks.items()}
    for attack in built.values():  # warm-up (allocator, kernels) on a small slice
        attack(x[:2], y[:2])
    times: dict[str, list[float]] = {name: [] for name in built}
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    for _ in range(args.rounds):
        for name, attack in built.items():
            torch.manual_seed(1)
            _sync(device)
            start = clock()
            attack(x, y)
            _sync(device)
            times[name].append(clock() - start)
    rows = []
    for name, (_, ref) in attacks.items():
        ratios = [t / r for t, r in zip(times[name], times[ref], strict=True)]
        rows.append({
            "attack": name, "reference": ref,
            "seconds_per_1000": statistics.median(times[name]) * 1000 / args.n,
            "ratio_to_reference": statistics.median(ratios),
            "rounds_seconds": times[name],
        })
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return {"device": name, "device_type": device.type, "model": args.model, "n_images": args.n,
            "rounds": args.rounds, "rays_queries": args.queries,
            "clock": "wall (cuda synchronized)" if device.type == "cuda" else "process CPU time",
            "torch": torch.__version__,
            "torchattacks": torchattacks.__version__, "mireg": mireg.__version__, "results": rows}


def print_table(report: dict) -> None:
    print(f"\n{report['device']} | model {report['model']} | {report['n_images']} images x "
          f"{report['rounds']} rounds (median), {report['clock']}, extrapolated to 1,000 images")
    print(f"{'attack':<18} {'s / 1000 img':>13} {'reference':>10} {'ratio':>7}")
    for row in report["results"]:
        print(f"{row['attack']:<18} {row['seconds_per_1000']:>13.2f} {row['reference']:>10} "
              f"{row['ratio_to_reference']:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="small_cnn", help="a mireg.models name (3x32x32 inputs)")
    parser.add_argument("--n", type=int, default=32, help="images per timed batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=1000, help="RayS query budget per image")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads")
    parser.add_argument("--device", default="all", help="cpu, cuda, or all (cpu, plus cuda when available)")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 images, 1 round, 100 RayS queries")
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds, args.queries = 8, 1, 100
    torch.set_num_threads(args.threads)
    available = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    devices = available if args.device == "all" else [args.device]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for dev in devices:
        report = measure(args, torch.device(dev))
        print_table(report)
        suffix = ("" if args.model == "small_cnn" else f"_{args.model}") + ("_quick" if args.quick else "")
        path = args.out_dir / f"attack_cost_{torch.device(dev).type}{suffix}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
