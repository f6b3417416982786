"""Time and peak memory of one adversarial-training step per method, side by side, as ratios to PGD-AT.

Every method runs on the same model, batch and optimiser settings in one process; timings are
interleaved round-robin (R rounds, median per method) so that machine load affects all methods alike.
Memory: the MiB of tensors autograd saves for backward in one step (the activation memory, counted
by storage, allocator-independent); on CUDA also the growth of ``torch.cuda.max_memory_allocated``.

A step = the inner attack (through ``mireg.TrainingAttack``, eval mode) + the outer forward passes
the loss uses + backward + SGD update. Cost in forward-pass units F (performance.md):
AT 23F, TRADES 27F (cached p(x)), MART 26F, InfoAT 27F (InfoPGD caches p(x) and H(p(x))).
Targets (issue 2, CPU): InfoAT / TRADES <= 1.03 and InfoAT / AT <= 1.20.

Usage::

    python benchmarks/step_overhead.py                         # ResNet-18, 32x32, batch 128
    python benchmarks/step_overhead.py --model small_cnn --batch 64 --rounds 3   # a quick look
    python benchmarks/step_overhead.py --device cuda --out benchmarks/results/step_overhead_h200.json
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
import mireg.losses.namid as namid_loss
from mireg.models import create_model

Method = tuple[mireg.LossTerm, Callable[[torch.nn.Module], object]]


def build_methods(eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10) -> dict[str, Method]:
    """name -> (loss term, attack factory) for every method timed here."""
    methods: dict[str, Method] = {
        "AT": (mireg.ATLoss(), lambda m: torchattacks.PGD(m, eps=eps, alpha=alpha, steps=steps)),
        "TRADES": (mireg.TRADESLoss(6.0), lambda m: torchattacks.TPGD(m, eps=eps, alpha=alpha, steps=steps)),
        "MART": (mireg.MARTLoss(6.0), lambda m: mireg.InfoPGD(m, eps=eps, alpha=alpha, steps=steps, lam=0.0,
                                                                   random_start="normal")),
        "InfoAT": (mireg.ATLoss() + mireg.InfoAT(2.5, 0.2),
                   lambda m: mireg.InfoPGD(m, eps=eps, alpha=alpha, steps=steps, lam=2.5)),
    }
    # --- NAMID-family methods are added below this line (see issue 3) ---
    # An untrained model predicts one class everywhere, so NAMID's Eq. 6 selection (correct on x, wrong on
    # x_adv) would be empty and the MI term would return early. On a trained model it is non-empty in
    # practically every batch, and the estimators then run on the whole batch: select every sample so the
    # benchmark pays that cost (as benchmarks/throughput.py does).
    namid_loss.namid_selection = lambda logits_nat, logits_adv, y: torch.ones_like(y, dtype=torch.bool)
    # NAMID (Zhou et al. 2022): untrained estimators at the paper's width 2048 cost the same as trained ones
    # (the work does not depend on |Eq. 6 selection| unless it is empty, where the term returns 0 early).
    e_n, e_a = mireg.estimators.LocalDIMEstimator(10, 3), mireg.estimators.LocalDIMEstimator(10, 3)
    mi = 5.0 * mireg.NaturalAdversarialMILoss(e_n, e_a, lam=0.1)
    methods["NAMID"] = (mireg.ATLoss() + mi, methods["AT"][1])
    methods["NAMID_T"] = (mireg.TRADESLoss(6.0) + mi, methods["TRADES"][1])
    methods["NAMID_M"] = (mireg.MARTLoss(6.0) + mi, methods["MART"][1])
    methods["WMIM"] = (mireg.ATLoss() + 0.1 * mireg.WMIMLoss(mireg.estimators.LocalDIMEstimator(10, 3)),
                       methods["AT"][1])
    return methods


def make_step(model: torch.nn.Module, method: Method, lr: float = 0.01) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One training step as the engine runs it: on CUDA the model under bf16 autocast, images and the
    perturbation arithmetic in fp32, the loss in fp32."""
    criterion, make_attack = method
    attack = mireg.TrainingAttack(make_attack(model))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    device_type = next(model.parameters()).device.type

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=device_type == "cuda"):
            x_adv = attack(x, y)
            logits_adv = model(x_adv).float()
            logits_nat = model(x).float() if criterion.uses_natural else None
        loss = criterion(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def setup(args: argparse.Namespace, device: torch.device):
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=10, in_channels=3).to(device).train()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    return model, x, y


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_methods(args: argparse.Namespace, device: torch.device) -> dict[str, list[float]]:
    model, x, y = setup(args, device)
    steps = {name: make_step(model, method) for name, method in build_methods().items()}
    for step in steps.values():  # warm-up
        step(x, y)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            _sync(device)
            start = time.perf_counter()
            step(x, y)
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def saved_activation_mib(model: torch.nn.Module, step: Callable[[torch.Tensor, torch.Tensor], None],
                         x: torch.Tensor, y: torch.Tensor) -> float:
    """MiB of the distinct tensor storages autograd saves for the backward pass of the outer loss: the
    activation memory, which sets a step's peak (each attack iteration keeps one forward graph, smaller,
    freed at once). Allocator-independent, so it is the CPU measure; CUDA also reports the allocator's
    peak. Tensors saved while ``mireg.TrainingAttack`` has the parameters frozen belong to the attack and
    are not counted."""
    first = next(model.parameters())
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if first.requires_grad:  # outside the attack
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step(x, y)
    return sum(storages.values()) / 2**20


def peak_memory_mib(args: argparse.Namespace, device: torch.device) -> dict[str, dict[str, float]]:
    """Per method: ``saved`` (see :func:`saved_activation_mib`) and, on CUDA, ``allocator_peak``: the
    growth of ``torch.cuda.max_memory_allocated`` over the allocation before the step."""
    model, x, y = setup(args, device)
    peaks: dict[str, dict[str, float]] = {}
    for name, method in build_methods().items():
        step = make_step(model, method)
        step(x, y)
        peaks[name] = {"saved": saved_activation_mib(model, step, x, y)}
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step(x, y)
            torch.cuda.synchronize()
            peaks[name]["allocator_peak"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18", help="a mireg model name (default: resnet18)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=32, help="image size (default: 32)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per method (default: 5)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = f"CPU ({platform.processor() or platform.machine()}, {args.threads} threads)"

    times = time_methods(args, device)
    medians = {name: statistics.median(values) for name, values in times.items()}
    peaks = {} if args.no_memory else peak_memory_mib(args, device)

    print(f"{args.model} {args.size}x{args.size}, batch {args.batch}, {device_name}, median of {args.rounds} rounds")
    print(f"{'method':10s} {'s/step':>8s} {'/AT':>6s} {'saved MiB':>10s} {'/AT':>6s}")
    for name, seconds in medians.items():
        mem = peaks.get(name, {}).get("saved")
        mem_cols = f"{mem:10.1f} {mem / peaks['AT']['saved']:6.2f}" if mem is not None else ""
        print(f"{name:10s} {seconds:8.3f} {seconds / medians['AT']:6.3f} {mem_cols}")
    ratios = {"InfoAT/AT": medians["InfoAT"] / medians["AT"], "InfoAT/TRADES": medians["InfoAT"] / medians["TRADES"]}
    ratios.update({"NAMID/AT": medians["NAMID"] / medians["AT"], "NAMID/TRADES": medians["NAMID"] / medians["TRADES"]})
    for key, value in ratios.items():
        print(f"{key}: {value:.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "device": device_name, "model": args.model, "batch": args.batch, "size": args.size,
            "rounds": args.rounds, "torch": torch.__version__, "seconds_per_step": times,
            "median_seconds": medians, "peak_memory_mib": peaks, "ratios": ratios,
        }, indent=2))


if __name__ == "__main__":
    main()
