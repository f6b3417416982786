"""Training throughput of mireg's engine step: PGD-10 AT, InfoAT and NAMID on ResNet-18 at 32x32.

Runs the engine's own :class:`mireg.train.step.TrainingStep` (attack + forward + loss + backward +
SGD step, exactly what ``mireg train`` runs per batch) on random [0, 1] images and reports images per
second (the methods timed side by side, one step of each per round, median over rounds), the FLOPs
per training image counted with ``torch.utils.flop_counter``'s formulas on one real step (so
InfoAT's extra clean forward and NAMID's estimators are included), the achieved
TFLOP/s and, where the device's peak is known, the fraction of it. The forward pass F of the
ResNet-18 is counted too, so the step cost reads as a multiple of F (performance.md: PGD-10 AT
ideally costs 23F = 10 attack steps x 2F + 3F for the update).

Usage::

    python benchmarks/throughput.py --quick              # CPU, a few steps (about a minute)
    python benchmarks/throughput.py --device cuda        # bf16 autocast + channels_last, batch 512
    python benchmarks/throughput.py --device cuda --compile

Writes ``benchmarks/results/throughput_<device>.json`` (the device named inside).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from pathlib import Path

import torch

from mireg.estimators import LocalDIMEstimator
from mireg.models import create_model
from mireg.registry import METHODS
from mireg.train import TrainConfig
from mireg.train.distributed import DistContext
from mireg.train.optim import build_optimizer
from mireg.train.step import TrainingStep
from mireg.utils.device import resolve_device

#: dense bf16 tensor-core peaks in FLOP/s: (datasheet, achievable matmul rate where measured)
PEAKS = {"H200": (989e12, 790e12), "H100": (989e12, None), "A100": (312e12, None)}
METHODS_BENCHED = ("at", "infoat", "namid")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def peak_flops(name: str) -> tuple[float | None, float | None]:
    for key, peaks in PEAKS.items():
        if key in name:
            return peaks
    return None, None


def count_flops(fn) -> int:
    """Matmul/conv FLOPs of ``fn()`` by torch's own formulas (``torch.utils.flop_counter.flop_registry``),
    counted at the dispatcher. FlopCounterMode itself cannot be used: its per-module tracking hooks
    fail under ``torch.autograd.grad``, which every attack step calls."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Counter.total += int(formula(*args, **kwargs, out_val=out))
            return out

    with Counter():
        fn()
    return Counter.total


def make_step(method: str, device: torch.device, batch: int, *, compile_model: bool, steps: int = 10):
    config = TrainConfig(method=method, model="resnet18", eps=8 / 255, alpha=2 / 255, steps=steps, device=str(device),
                         amp=True, channels_last=True, compile=compile_model, progress=False)
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    estimators = None
    if method.startswith("namid"):  # untrained estimators of the paper's size: the cost is what matters
        estimators = tuple(LocalDIMEstimator(10, 3, 2048).to(device).eval().requires_grad_(False) for _ in range(2))
    spec = METHODS.get(method)(config, estimators=estimators, num_classes=10, in_channels=3)
    step = TrainingStep(config, model, spec, build_optimizer(config, model), DistContext(device=device))
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=g).to(device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    model.train()
    return step, model, x, y


def _select_all(logits_nat, logits_adv, y):
    return torch.ones(y.shape[0], dtype=torch.bool, device=y.device)


def prepare(method: str, device: torch.device, batch: int, compile_model: bool) -> dict:
    """The method's training step on a fixed batch, with its FLOPs per image counted on one real step."""
    if method.startswith("namid"):
        # An untrained ResNet-18 predicts one class for every input, so NAMID's Eq. 6 selection (correct
        # on x, wrong on x_adv) would be empty and its estimators skipped. On a trained model it is
        # non-empty in practically every batch, and the estimators then run on the whole batch whatever
        # its size: select every sample so that the benchmark pays that cost.
        import mireg.losses.namid as namid_loss

        namid_loss.namid_selection = _select_all
    step, model, x, y = make_step(method, device, batch, compile_model=compile_model)
    # FLOPs of one real step, eager: at the timed batch on CUDA; on CPU on a batch of at most 8 (the
    # ResNet's FLOPs are linear in the batch; NAMID's DV scores compare all pairs of the batch, so
    # their small share grows with it)
    small = batch if device.type == "cuda" else min(batch, 8)
    flop_step, flop_model, xs, ys = make_step(method, device, small, compile_model=False)
    step_flops = count_flops(lambda: flop_step(xs, ys)) / small
    flop_model.eval()
    with torch.no_grad():
        forward_flops = count_flops(lambda: flop_model(xs)) / small
    return {"method": method, "step": step, "x": x, "y": y, "flops": step_flops, "forward_flops": forward_flops}


def bench(methods: list[str], device: torch.device, batch: int, warmup: int, iters: int,
          compile_model: bool) -> list[dict]:
    """Time the methods' steps side by side: ``iters`` rounds, each timing one step of every method in
    turn, so that a busy machine slows them alike; report the median and the best step time."""
    prepared = [prepare(m, device, batch, compile_model) for m in methods]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for p in prepared:
        for _ in range(warmup):
            p["step"](p["x"], p["y"])
    times: dict[str, list[float]] = {p["method"]: [] for p in prepared}
    for _ in range(iters):
        for p in prepared:
            sync()
            t0 = time.perf_counter()
            loss, _, _ = p["step"](p["x"], p["y"])
            sync()
            times[p["method"]].append(time.perf_counter() - t0)
            p["loss"] = float(loss.detach())
    rows = []
    for p in prepared:
        ts = sorted(times[p["method"]])
        median = ts[len(ts) // 2] if len(ts) % 2 else 0.5 * (ts[len(ts) // 2 - 1] + ts[len(ts) // 2])
        ips = batch / median
        rows.append({"method": p["method"], "batch_size": batch, "iterations": iters,
                     "step_seconds": times[p["method"]], "images_per_second": ips,
                     "images_per_second_best": batch / ts[0], "flops_per_image": p["flops"],
                     "forward_flops_per_image": p["forward_flops"],
                     "step_cost_in_forwards": p["flops"] / p["forward_flops"],
                     "achieved_tflops": ips * p["flops"] / 1e12, "final_loss": p["loss"]})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 512 on CUDA, 32 on CPU")
    parser.add_argument("--iters", type=int, default=None,
                        help="timed rounds, one step of each method per round (default: 20 CUDA, 5 CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 5 CUDA, 1 CPU)")
    parser.add_argument("--methods", default=",".join(METHODS_BENCHED))
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--quick", action="store_true", help="small batch and few steps (smoke run)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/throughput_<device>.json)")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch_size or ((128 if args.quick else 512) if cuda else (8 if args.quick else 32))
    iters = args.iters or ((5 if args.quick else 20) if cuda else 5)
    warmup = args.warmup if args.warmup is not None else ((2 if args.quick else 5) if cuda else 1)
    name = device_name(device)
    datasheet, achievable = peak_flops(name) if cuda else (None, None)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    rows = bench(methods, device, batch, warmup, iters, args.compile)
    for row in rows:
        if datasheet:
            row["fraction_of_datasheet_peak"] = row["achieved_tflops"] * 1e12 / datasheet
        if achievable:
            row["fraction_of_achievable_peak"] = row["achieved_tflops"] * 1e12 / achievable
        peak = f", {100 * row['fraction_of_datasheet_peak']:.1f}% of peak" if datasheet else ""
        print(f"{row['method']:8s} {row['images_per_second']:9.1f} img/s (median; best "
              f"{row['images_per_second_best']:.1f})  {row['flops_per_image'] / 1e9:6.2f} GFLOP/img "
              f"({row['step_cost_in_forwards']:.1f} F)  {row['achieved_tflops']:.3f} TFLOP/s{peak}", flush=True)
    result = {
        "device": name, "device_type": device.type, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "amp_bf16": cuda, "channels_last": cuda, "compile": args.compile,
        "model": "resnet18 (CIFAR, 32x32)", "attack": "L-inf eps 8/255, 10 steps of 2/255 (InfoPGD for infoat)",
        "peak_flops_datasheet": datasheet, "peak_flops_achievable": achievable,
        "flops_note": "matmul/conv FLOPs (1 MAC = 2 FLOP, torch.utils.flop_counter formulas) of one full "
                      "training step per image, counted on the timed batch (CUDA) or a batch of <= 8 (CPU); "
                      "NAMID's Eq. 6 selection is forced to all samples so its estimators run",
        "quick": args.quick, "cpu_count": os.cpu_count(),
        "load_average_1min_before_after": [load_before and load_before[0],
                                           os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
        "results": rows,
    }
    slug = re.sub(r"[^a-z0-9]+", "-", (name if cuda else "cpu").lower()).strip("-")
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"throughput_{slug}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
