"""mireg's engine against the research code, side by side in one process on one device.

For each method (AT, TRADES, InfoAT) three training loops on the same model and data:

(a) ``reference``: the loop of the TRADES / MART code, fp32, eager, batch ``--ref-batch-size`` (128):
    a hand-written attack with BatchNorm in eval mode, then the update (``reference_loop.REFERENCE``).
    AT: Rice et al. / Bag-of-tricks' ``attack_pgd`` (``loss.backward()`` in every attack step, so the
    weight gradients are computed and thrown away: 3F per step instead of 2F); TRADES: trades.py
    (``model(x_natural)`` recomputed in every attack step and twice in the loss); InfoAT: no public
    code exists, so InfoPGD / Eq. 17 written in MART's mart.py style with TRADES' recomputation.
(b) ``torchattacks``: the same loop with the library attack: ``torchattacks.PGD`` (AT), ``torchattacks.TPGD``
    (TRADES), ``mireg.InfoPGD`` (InfoAT; a torchattacks ``Attack``), same outer loss as (a).
(c) ``engine``: ``mireg.train.train(build_config(overrides=...))`` with the engine's defaults (amp, channels_last,
    compile as ``TrainConfig`` sets them) at ``--batch-size``, on the first ``--steps`` batches of the data
    as one epoch; the first epoch warms up (compilation, cuDNN autotuning), the last is timed
    (``train_seconds`` of its metrics row: the training loop only, no validation or checkpoint).

Cost model. F = FLOPs of one forward pass of one image, counted by ``torch.utils.flop_counter`` on the
model in eval mode (convolutions and matrix products at 2 FLOP per multiply-add; BatchNorm, ReLU,
pooling and other elementwise work are not counted). The ideal step, with K attack steps costing
2F each (forward + input gradient) and the update 3F per forward it backpropagates (forward + input and
weight gradients): AT (2K + 3)F = 23F for K = 10; TRADES and InfoAT (2K + 7)F = 27F (p(x) once without
gradient, two forwards and two backwards in the loss). ``fraction_of_ideal`` = images/s x ideal
FLOP per image / (``--peak-tflops`` x 1e12), given only when the peak is given (an H200: about 790
dense bf16). On CPU the check is a ratio: the engine's time per image over loop (b)'s at the same
batch size (AT: the same work; target <= 1.05).

Parity mode (``--parity``; issue 11, item 4 on the GPU): the engine with its defaults for the device
(on CUDA: bf16 autocast, channels_last, ``torch.compile``, fused SGD, drop_last) against the plain
fp32 loop of ``reference_loop.train_plain`` (hand-written PGD, SGD, per-epoch lr), from the same
initial weights, on the same ``--parity-images`` training images in the same order with the same
crop/flip draws, with the same hyperparameters (PGD-``--attack-steps`` AT, eps 8/255, step 2/255,
BatchNorm in eval mode while crafting, SGD lr ``--parity-lr`` momentum 0.9 weight decay 5e-4,
batch ``--ref-batch-size``, ``--parity-epochs`` epochs). Both models are then evaluated alike (fp32,
eval mode, clean and PGD-20 of step 2/255 from a uniform start) on the first ``--parity-n-test`` test
images. The check: both accuracy differences within ``--parity-tolerance`` (0.03 by default: twice
the binomial standard deviation, about 0.0145, of the difference of two independent accuracies near
0.3 measured on 2,000 images; this does not cover the seed-to-seed spread of training itself, which
``--parity-spread`` measures by training the plain loop a second time from another seed). On the
CPU, ``tests/train/test_parity.py`` proves more: the weights are equal bit for bit.

Usage::

    python benchmarks/vs_reference.py --device cpu --model small_cnn --dataset digits --image-size 16 \\
        --channels 1 --batch-size 128 --ref-batch-size 128 --steps 8 --rounds 3 --threads 1 --out cpu.json
    python benchmarks/vs_reference.py --device cuda --model resnet18 --dataset cifar10 --data-root data \\
        --batch-size 512 --peak-tflops 790 --out benchmarks/results/h200/vs_reference.json
    python benchmarks/vs_reference.py --parity --device cuda --model resnet18 --dataset cifar10 --data-root data \\
        --ref-batch-size 128 --parity-images 12800 --parity-epochs 2 --out benchmarks/results/h200/parity.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_loop import REFERENCE, evaluate, reference_step, train_plain  # noqa: E402

import mireg  # noqa: E402
from mireg.data import DatasetInfo, ImageTensors, load_dataset  # noqa: E402
from mireg.data.base import register_dataset  # noqa: E402
from mireg.models import create_model  # noqa: E402
from mireg.train import build_config, parse_overrides, train  # noqa: E402

EPS, ALPHA = 8 / 255, 2 / 255
SUBSET = "vs-reference-subset"
_SUBSET: dict[str, ImageTensors] = {}


def ideal_forwards(method: str, k: int) -> int:
    """Forward-pass units F of one ideal training step per image (module docstring)."""
    return 2 * k + 3 if method == "at" else 2 * k + 7


def forward_flops_per_image(model: torch.nn.Module, image_shape, device) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(2, *image_shape, device=device))
    model.train(was_training)
    return counter.get_total_flops() / 2


def load_data(args) -> ImageTensors:
    if args.dataset == "random":
        g = torch.Generator().manual_seed(0)
        n = 50_000
        x = torch.randint(0, 256, (n, args.channels, args.image_size, args.image_size), dtype=torch.uint8, generator=g)
        return ImageTensors(x, torch.randint(0, 10, (n,), generator=g), [str(i) for i in range(10)])
    options = {"image_size": args.image_size, "channels": args.channels} if args.dataset == "digits" else {}
    return load_dataset(args.dataset, root=args.data_root, split="train", **options)


def _subset(data: ImageTensors, n: int) -> ImageTensors:
    index = torch.arange(n) % len(data)  # the first n images (cycled when the data is smaller)
    return data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[index]]


@register_dataset(SUBSET, DatasetInfo(SUBSET, 10, 3, 32, (0.5,) * 3, (0.25,) * 3))
def _load_subset(root=None, split="train", download=False, **kwargs) -> ImageTensors:
    return _SUBSET["data"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batches(data: ImageTensors, batch: int, count: int, device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    part = _subset(data, batch * count)
    x, y = part.float().to(device), part.y.to(device)
    return list(zip(x.split(batch), y.split(batch), strict=True))


def _model(args, data: ImageTensors, device, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model(args.model, num_classes=data.num_classes, in_channels=data.image_shape[0],
                        **args.model_kwargs).to(device).train()


def _library_step(method: str, model, opt, k: int):
    import torchattacks

    attack = {"at": lambda: torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=k),
              "trades": lambda: torchattacks.TPGD(model, eps=EPS, alpha=ALPHA, steps=k),
              "infoat": lambda: mireg.InfoPGD(model, eps=EPS, alpha=ALPHA, steps=k, lam=2.5,
                                              random_start="normal")}[method]()
    loss_fn = REFERENCE[method][1]

    def step(x, y):
        x_adv = attack(x, y)  # torchattacks runs the model in eval mode and restores train mode
        loss = loss_fn(model, x, x_adv, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def time_loop(args, variant: str, method: str, data: ImageTensors, device) -> dict:
    """Wall and process-CPU seconds per image of ``--steps`` steps after ``--warmup`` steps."""
    model = _model(args, data, device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    if variant == "reference":
        def step(x, y):
            reference_step(method, model, opt, x, y, EPS, ALPHA, args.attack_steps)
    else:
        step = _library_step(method, model, opt, args.attack_steps)
    batches = _batches(data, args.ref_batch_size, args.warmup + args.steps, device)
    for x, y in batches[:args.warmup]:
        step(x, y)
    _sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for x, y in batches[args.warmup:]:
        step(x, y)
    _sync(device)
    images = args.steps * args.ref_batch_size
    return {"batch_size": args.ref_batch_size, "images": images,
            "wall_s_per_image": (time.perf_counter() - wall) / images,
            "cpu_s_per_image": (time.process_time() - cpu) / images}


def time_engine(args, method: str, data: ImageTensors, device) -> dict:
    """The engine on ``--steps`` batches per epoch: warm-up epochs, then one timed epoch."""
    _SUBSET["data"] = _subset(data, args.batch_size * args.steps)
    epochs = 1 + max(1, math.ceil(args.warmup / args.steps))
    marks: list[tuple[float, float, dict]] = []
    with tempfile.TemporaryDirectory() as out:
        cfg = build_config(overrides={
            "method": method, "model": args.model, "model_kwargs": args.model_kwargs, "dataset": SUBSET,
            "batch_size": args.batch_size, "epochs": epochs, "val_size": 0, "eps": EPS, "alpha": ALPHA,
            "steps": args.attack_steps, "device": str(device), "out_dir": out, "progress": False,
            **args.engine_overrides})
        start = (time.perf_counter(), time.process_time())
        result = train(cfg, callbacks=[lambda e, row: marks.append((time.perf_counter(), time.process_time(), row))])
    (wall_end, cpu_end, row), (wall_prev, cpu_prev, _) = marks[-1], marks[-2]
    images = args.steps * args.batch_size
    return {"batch_size": args.batch_size, "images": images, "wall_s_per_image": row["train_seconds"] / images,
            "cpu_s_per_image": (cpu_end - cpu_prev) / images,  # includes the epoch's checkpoint writing
            "warmup_epoch_wall_s": marks[0][0] - start[0], "timed_epoch_wall_s_with_checkpoint": wall_end - wall_prev,
            "engine_config": {"attack_mode": cfg.attack_mode, **vars(result.extra["speed"])}}  # "auto" resolved


def _summary(runs: list[dict], epoch_images: int, ideal_flop: float, peak_tflops: float | None) -> dict:
    out = {k: runs[0][k] for k in ("batch_size", "images")}
    for key in ("wall_s_per_image", "cpu_s_per_image"):
        out[key] = statistics.median(r[key] for r in runs)
        out[key + "_rounds"] = [r[key] for r in runs]
    out["images_per_second"] = 1 / out["wall_s_per_image"]
    out["seconds_per_epoch"] = epoch_images * out["wall_s_per_image"]
    out["ideal_tflop_per_second"] = out["images_per_second"] * ideal_flop / 1e12
    out["fraction_of_ideal"] = out["ideal_tflop_per_second"] / peak_tflops if peak_tflops else None
    out.update({k: v for k, v in runs[-1].items() if k not in out and not k.endswith("s_per_image")})
    return out


def _ratios(results: dict) -> dict:
    """Per method, from the medians: the engine against the reference loop, against loop (b), and against AT,
    each by wall time and by process CPU time (steadier on a loaded CPU; the engine's includes its
    per-epoch checkpoint writing)."""
    ratios = {}
    at = results.get("at", {}).get("engine")
    for method, variants in results.items():
        r, engine = {}, variants.get("engine")
        for key in ("wall", "cpu") if engine else ():
            per_image = f"{key}_s_per_image"
            if "reference" in variants:
                r[f"engine_speedup_over_reference_{key}"] = variants["reference"][per_image] / engine[per_image]
            if "torchattacks" in variants:
                r[f"engine_over_torchattacks_loop_{key}"] = engine[per_image] / variants["torchattacks"][per_image]
            if at:
                r[f"engine_cost_relative_to_at_{key}"] = engine[per_image] / at[per_image]
        ratios[method] = r
    return ratios


def run(args, save=lambda report: None) -> dict:
    """Measure everything; ``save(report)`` after each measurement (a run cut short keeps its results)."""
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    data = load_data(args)
    epoch_images = args.epoch_images or len(data)
    flops = forward_flops_per_image(_model(args, data, device), data.image_shape, device)
    report = {"benchmark": "vs_reference", "device": _device_name(device), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "loadavg_start": os.getloadavg(),
              "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "flops": {"forward_per_image": flops, "counted_by": "torch.utils.flop_counter (conv/matmul only)",
                        "ideal_forwards": {m: ideal_forwards(m, args.attack_steps) for m in args.methods},
                        "epoch_images": epoch_images}}
    raw: dict[str, dict[str, list[dict]]] = {m: {} for m in args.methods}
    for _ in range(args.rounds):  # interleaved, so that machine load affects every loop alike
        for method in args.methods:
            for variant in args.variants:
                result = (time_engine(args, method, data, device) if variant == "engine" else
                          time_loop(args, variant, method, data, device))
                raw[method].setdefault(variant, []).append(result)
                print(f"{method:7s} {variant:13s} {1 / result['wall_s_per_image']:9.1f} img/s (wall) "
                      f"batch {result['batch_size']}", file=sys.stderr, flush=True)
                report["results"] = {m: {v: _summary(runs, epoch_images, ideal_forwards(m, args.attack_steps) * flops,
                                                     args.peak_tflops) for v, runs in variants.items()}
                                     for m, variants in raw.items()}
                report["ratios"] = _ratios(report["results"])
                report["loadavg_end"] = os.getloadavg()
                save(report)
    return report


def parity(args) -> dict:
    """Parity mode (module docstring): the engine's defaults against the plain fp32 loop, same start and data."""
    import copy

    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    data, batch = load_data(args), args.ref_batch_size
    if args.parity_images % batch:
        raise SystemExit(f"--parity-images must be a multiple of --ref-batch-size ({batch}): equal batches for both")
    _SUBSET["data"] = part = _subset(data, args.parity_images)
    test = load_test(args)
    x_test, y_test = test.float()[:args.parity_n_test].to(device), test.y[:args.parity_n_test].to(device)
    settings = {"epochs": args.parity_epochs, "batch_size": batch, "lr": args.parity_lr, "eps": EPS, "alpha": ALPHA,
                "steps": args.attack_steps}
    report = {"benchmark": "vs_reference --parity", "device": _device_name(device), "torch": torch.__version__,
              "settings": {**settings, "images": args.parity_images, "n_test": len(y_test), "model": args.model,
                           "tolerance": args.parity_tolerance, "engine_overrides": args.engine_overrides}}

    def measure(name: str, model: torch.nn.Module, fit) -> None:
        start = time.perf_counter()
        fit(model)
        seconds = time.perf_counter() - start
        clean, robust = evaluate(model, x_test, y_test, eps=EPS, alpha=ALPHA, steps=20, seed=0)
        report[name] = {"seconds": seconds, "clean": clean, "pgd20": robust}  # engine: + checkpoints, curves
        print(f"{name}: {seconds:.1f} s, clean {clean:.4f}, PGD-20 {robust:.4f}", file=sys.stderr, flush=True)

    def plain(seed: int):
        return lambda model: train_plain(model, part.float().to(device), part.y.to(device), momentum=0.9,
                                         weight_decay=5e-4, seed=seed, augment=True, attack_mode="eval", **settings)

    def engine(model):
        with tempfile.TemporaryDirectory() as out:
            cfg = build_config(overrides={"method": "at", "model": args.model, "dataset": SUBSET, "val_size": 0,
                                          "augment": True, "momentum": 0.9, "weight_decay": 5e-4, "attack_mode": "eval",
                                          "device": str(device), "out_dir": out, "progress": False, "seed": 0,
                                          **settings, **args.engine_overrides})
            report["engine_speed"] = {k: v for k, v in vars(train(cfg, model=model).extra["speed"]).items()}

    init = _model(args, data, device)
    measure("engine", copy.deepcopy(init), engine)
    measure("plain", copy.deepcopy(init), plain(0))
    if args.parity_spread:
        measure("plain_seed1", _model(args, data, device, seed=1), plain(1))
    diffs = {k: abs(report["engine"][k] - report["plain"][k]) for k in ("clean", "pgd20")}
    report["differences"] = diffs
    report["passed"] = all(d <= args.parity_tolerance for d in diffs.values())
    return report


def load_test(args) -> ImageTensors:
    if args.dataset == "random":
        return _subset(load_data(args), 2000)
    options = {"image_size": args.image_size, "channels": args.channels} if args.dataset == "digits" else {}
    return load_dataset(args.dataset, root=args.data_root, split="test", **options)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--model", default="small_cnn", help="a mireg model name (resnet18 on GPU)")
    p.add_argument("--model-kwargs", type=json.loads, default={}, help='JSON, e.g. \'{"width": 16}\'')
    p.add_argument("--dataset", default="digits", choices=["digits", "cifar10", "random"])
    p.add_argument("--data-root", default=None, help="folder holding cifar-10-batches-py/")
    p.add_argument("--image-size", type=int, default=32, help="digits / random only")
    p.add_argument("--channels", type=int, default=3, help="digits / random only")
    p.add_argument("--methods", type=lambda s: s.split(","), default=["at", "trades", "infoat"])
    p.add_argument("--variants", type=lambda s: s.split(","), default=["reference", "torchattacks", "engine"])
    p.add_argument("--batch-size", type=int, default=512, help="the engine's batch")
    p.add_argument("--ref-batch-size", type=int, default=128, help="the loops' batch (reference code: 128)")
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (the engine: whole epochs)")
    p.add_argument("--attack-steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=1, help="interleaved repetitions (medians are reported)")
    p.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    p.add_argument("--epoch-images", type=int, default=None, help="images per epoch (default: the training split)")
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's peak (H200 bf16: about 790)")
    p.add_argument("--set", dest="engine_set", action="append", default=[], metavar="KEY=VALUE",
                   help="engine TrainConfig override, e.g. --set compile=true")
    p.add_argument("--parity", action="store_true", help="parity mode: the engine against the plain loop (docstring)")
    p.add_argument("--parity-images", type=int, default=12800, help="training images (a multiple of the batch)")
    p.add_argument("--parity-epochs", type=int, default=2)
    p.add_argument("--parity-lr", type=float, default=0.1)
    p.add_argument("--parity-n-test", type=int, default=2000, help="test images evaluated")
    p.add_argument("--parity-tolerance", type=float, default=0.03, help="largest accuracy difference that passes")
    p.add_argument("--parity-spread", action="store_true", help="also train the plain loop from seed 1")
    p.add_argument("--out", default=None, help="write the JSON here (also printed)")
    args = p.parse_args(argv)
    args.engine_overrides = parse_overrides(args.engine_set)
    unknown = set(args.methods) - set(REFERENCE) or set(args.variants) - {"reference", "torchattacks", "engine"}
    if unknown:
        p.error(f"unknown method or variant {sorted(unknown)}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)

    def save(report: dict) -> None:
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(report, indent=2) + "\n")

    report = parity(args) if args.parity else run(args, save)
    save(report)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
