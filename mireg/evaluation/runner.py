"""The evaluation runner: ``mireg.evaluate(model, data, suite=...) -> EvaluationReport``.

Every attack of the suite runs on the same first ``n`` test points, only on the points the model classifies correctly
clean (they are the only ones that can count as robust), in eval mode, fp32, with a fixed seed per attack. Per-sample
outcomes are kept, so the worst case over the suite is an exact per-sample AND (see :mod:`mireg.evaluation.report`).
The model's train/eval flags and device are restored afterwards, also when an attack raises.
"""

from __future__ import annotations

import copy
import importlib.metadata
import platform
import time
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from mireg._validation import check_eps, check_images, check_labels, check_model_output, check_number
from mireg.data.torch_data import collect, is_torch_data
from mireg.evaluation import sanity as _sanity
from mireg.evaluation.report import AttackResult, EvaluationReport
from mireg.evaluation.suites import ResolvedAttack, Suite, get_suite
from mireg.utils.device import model_device, resolve_device
from mireg.utils.modes import preserved_modes
from mireg.utils.seeding import seeded

__all__ = ["evaluate", "load_data", "run_attack", "SANITY_PROBES"]

#: The model-dependent sanity probes ``sanity=True`` runs.
SANITY_PROBES = ("gradients", "eps", "blackbox")


def load_data(data: Any, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x float32 in [0, 1], y long)`` from a tuple, an ``ImageTensors``-like object, a torch ``Dataset``
    or ``DataLoader``, or a dataset name.

    A name loads the dataset's test split through :func:`mireg.data.load_dataset`. uint8 images are divided
    by 255. ``n`` keeps the FIRST n points (the RobustBench convention); of a Dataset or DataLoader only those
    are read (:func:`mireg.data.collect`, values unchanged; a shuffling DataLoader is refused).

    Args:
        data: ``(x, y)``, an ``ImageTensors``-like object, a Dataset, a DataLoader or a dataset name.
        n: keep the first n points (None: all).

    Returns:
        ``(x, y)``.

    Examples:
        >>> import torch, mireg.evaluation
        >>> mireg.evaluation.load_data((torch.full((2, 1, 1, 1), 255, dtype=torch.uint8), torch.arange(2)), n=1)
        (tensor([[[[1.]]]]), tensor([0]))
    """
    if isinstance(data, str):
        from mireg.data import load_dataset

        data = load_dataset(data, split="test")
    if is_torch_data(data):
        return collect(data, n)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    elif hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
    else:
        raise TypeError("data must be (images, labels), an object with .x and .y (mireg.data.ImageTensors), a "
                        f"torch Dataset or DataLoader, or a dataset name, got {type(data).__name__}")
    if isinstance(x, torch.Tensor) and x.dtype == torch.uint8:
        x = x.float().div_(255)
    check_images("data images", x)
    x = x.float()
    check_labels("data labels", y, batch=x.shape[0])
    y = y.long()
    if n is not None:
        check_number("n", n, low=1, integer=True)
        if n > len(y):
            raise ValueError(f"n={n} exceeds the {len(y)} points available")
        x, y = x[:n], y[:n]
    return x, y


def _predict(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> tuple[torch.Tensor, int]:
    """(the model's predictions on ``x``, its number of classes K)."""
    preds = []
    with torch.no_grad():
        for xb in x.split(batch_size):
            logits = check_model_output(model(xb.to(device)), batch=xb.shape[0])
            preds.append(logits.argmax(1).cpu())
    return torch.cat(preds), logits.shape[1]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _perturbation_size(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1).double()
    return flat.abs().amax(1) if norm == "Linf" else flat.norm(dim=1)


def _in_ball(size: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    # float32 rounding of (x + delta) - x: a few ulp of 1.0 in L-inf, relative 1e-4 in L2.
    slack = 1e-5 if norm == "Linf" else eps * 1e-4 + 1e-6
    return size <= eps + slack


def _threat_check(entry: ResolvedAttack, attack: Any, x: torch.Tensor,
                  x_adv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(size, inside)`` per example (CPU): the entry's threat model after one call of ``attack``.

    ``"norm"``: the size of ``x_adv - x`` in the suite's norm, inside when within eps. ``"wasserstein"``:
    the attack's own certificate, inside when ``last_cost <= last_budget`` (relative slack 1e-5 for
    float32 sums), size ``last_cost / sum(x)`` (transport distance per unit of image mass).
    """
    if entry.spec.threat != "wasserstein":
        size = _perturbation_size((x_adv - x).cpu(), entry.norm)
        return size, _in_ball(size, entry.eps, entry.norm)
    cost, budget = getattr(attack, "last_cost", None), getattr(attack, "last_budget", None)
    if not all(isinstance(t, torch.Tensor) and t.shape == (len(x),) for t in (cost, budget)):
        raise ValueError(f"suite entry {entry.label} has threat='wasserstein', but its attack "
                         f"{type(attack).__name__} did not report last_cost and last_budget of shape "
                         f"({len(x)},) after the call (mireg.attacks.WassersteinPGD does)")
    cost, budget = cost.detach().double().cpu(), budget.detach().double().cpu()
    mass = x.detach().flatten(1).double().sum(1).cpu()
    return cost / mass.clamp_min(1e-12), cost <= budget * (1 + 1e-5) + 1e-7


def run_attack(model: nn.Module, entry: ResolvedAttack, x: torch.Tensor, y: torch.Tensor,
               attack_mask: torch.Tensor, clean_pred: torch.Tensor, *, batch_size: int, device: torch.device,
               seed: int, progress: bool = True, surrogate: nn.Module | None = None) -> AttackResult:
    """Run one resolved suite entry on the points where ``attack_mask`` is True.

    Restarts re-attack only the points still robust, each with its own seed; a success needs a
    misclassification inside the entry's threat model (the suite's ball, or the attack's own
    Wasserstein budget for ``threat="wasserstein"``) and in [0, 1].
    """
    robust = attack_mask.clone()
    pred = clean_pred.clone()
    perturbation = torch.full((len(y),), float("nan"), dtype=torch.float64)
    ball_violations = range_violations = 0
    attacked = int(attack_mask.sum())
    _synchronize(device)
    start = time.perf_counter()
    for restart in range(entry.spec.restarts):
        todo = robust.nonzero().flatten()
        if len(todo) == 0:
            break
        with seeded(seed + 104729 * restart, device):
            attack = entry.build(model, surrogate=surrogate)
            desc = entry.label if entry.spec.restarts == 1 else f"{entry.label} ({restart + 1}/{entry.spec.restarts})"
            for idx in tqdm(todo.split(batch_size), desc=desc, leave=False, disable=not progress):
                xb, yb = x[idx].to(device), y[idx].to(device)
                try:
                    x_adv = attack(xb, yb)
                except Exception as err:
                    if hasattr(err, "add_note"):  # Python 3.11+: say which suite entry failed
                        err.add_note(f"while running {entry.label} ({entry.describe()['attack']}, "
                                     f"{dict(entry.kwargs)}) on images of shape {tuple(xb.shape)}")
                    raise
                if not isinstance(x_adv, torch.Tensor) or x_adv.shape != xb.shape:
                    raise ValueError(f"attack {entry.label} returned {getattr(x_adv, 'shape', type(x_adv))}, "
                                     f"expected a tensor of shape {tuple(xb.shape)}")
                x_adv = x_adv.detach().float()
                with torch.no_grad():
                    p = model(x_adv).argmax(1).cpu()
                size, inside = _threat_check(entry, attack, xb, x_adv)
                flat = x_adv.flatten(1).cpu()
                in_range = (flat.amin(1) >= -1e-6) & (flat.amax(1) <= 1 + 1e-6)
                if entry.spec.bounded:
                    ball_violations += int((~inside).sum())
                range_violations += int((~in_range).sum())
                success = (p != y[idx]) & inside & in_range
                robust[idx[success]] = False
                pred[idx] = p
                perturbation[idx] = size
    _synchronize(device)
    return AttackResult(label=entry.label, robust=robust, pred=pred, perturbation=perturbation,
                        seconds=time.perf_counter() - start, attacked=attacked,
                        ball_violations=ball_violations, range_violations=range_violations,
                        config=entry.describe())


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for pkg in ("mireg", "torchattacks", "pyautoattack", "robustbench"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _fp32_model(model: nn.Module) -> nn.Module:
    """The model itself when all its floating tensors are fp32, else an fp32 copy (with a warning)."""
    tensors = list(model.parameters()) + list(model.buffers())
    if all(t.dtype == torch.float32 for t in tensors if t.is_floating_point()):
        return model
    warnings.warn("evaluate() runs in fp32: evaluating a float32 copy of the model", stacklevel=3)
    return copy.deepcopy(model).float()


def _run_probes(net: nn.Module, report: EvaluationReport, x: torch.Tensor, y: torch.Tensor,
                probes: Sequence[str], *, batch_size: int, device: torch.device, seed: int,
                max_steps: int | None, blackbox_queries: int) -> list:
    """The model-dependent gradient-masking probes; fills ``report.eps_curve``."""
    checks = []
    if "gradients" in probes:
        zero = _sanity.gradient_probe(net, x, y, batch_size, device)
        checks.append(_sanity.check_zero_gradients(zero, report.n))
    if "eps" in probes:
        steps = 20 if max_steps is None else min(20, max_steps)
        curve = _sanity.eps_sweep(net, x, y, report.norm, report.eps, batch_size, device, steps=steps, seed=seed)
        report.eps_curve = curve
        checks += _sanity.check_eps_curve(curve["eps"], curve["accuracy"], report.n, norm=report.norm)
    if "blackbox" in probes and not any(r.kind != "white-box" for r in report.results.values()):
        queries = blackbox_queries if max_steps is None else min(blackbox_queries, max_steps)
        broken, _ = _sanity.blackbox_probe(net, x, y, report.norm, report.eps, report.worst_case, batch_size,
                                           device, n_queries=queries, seed=seed)
        checks.append(_sanity.check_blackbox_probe(int(broken.sum()), report.n, queries))
    return checks


def evaluate(model: nn.Module, data: Any, suite: str | Suite = "quick", eps: float | None = None,
             n: int | None = None, batch_size: int = 256, device: str | torch.device | None = None,
             seed: int = 0, progress: bool = True, *, attacks: Sequence[str] | None = None,
             max_steps: int | None = None, surrogate: nn.Module | None = None,
             sanity: bool | Sequence[str] = True, blackbox_queries: int = 1000,
             dataset: str | None = None) -> EvaluationReport:
    """Evaluate ``model`` on the first ``n`` points of ``data`` with a named suite.

    Args:
        model: maps images in [0, 1] (N, C, H, W) to logits (N, K); normalization inside the model.
        data: ``(x, y)`` tensors, a :class:`mireg.data.ImageTensors`, a torch ``Dataset`` of (image in [0, 1],
            label), an unshuffled ``DataLoader`` (its first ``n`` points are read) or a dataset name (test split).
        suite: a name in ``SUITES`` ("infoat", "namid-linf", "namid-l2", "quick", "blackbox",
            "robustbench-linf", "robustbench-l2") or a :class:`Suite`.
        eps: radius (default: the suite's, 8/255 or 0.5); step sizes scale with it.
        n: use the first n points (default: all).
        batch_size: attack batch size.
        device: where to run (default: the model's device); the model is moved back afterwards.
        seed: attack ``i`` (restart ``r``) runs under seed ``seed + 1009 i + 104729 r``.
        progress: tqdm progress bars.
        attacks: run only these labels of the suite.
        max_steps: cap every iteration/query budget (smoke tests only; the report says so).
        surrogate: the separately trained model for transfer entries (skipped without it).
        sanity: True runs all gradient-masking probes ("gradients", "eps", "blackbox"), False none,
            or a subset; the checks computable from the suite's results always run.
        blackbox_queries: query budget of the Square probe.
        dataset: a name recorded in the report.

    Returns:
        An :class:`EvaluationReport` (``print(report.table())``, ``report.save(dir)``, ``report.plot(dir)``).

    Examples:
        >>> import torch, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> x_test, y_test = torch.rand(8, 3, 8, 8), torch.randint(0, 10, (8,))
        >>> report = mireg.evaluate(model, (x_test, y_test), suite="infoat", max_steps=2, progress=False)  # smoke test
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    suite_obj = get_suite(suite)
    if eps is not None:
        check_eps("eps", eps, suite_obj.norm)
    if attacks is not None and (not isinstance(attacks, (list, tuple)) or not attacks):
        raise ValueError(f"attacks must be a non-empty list of labels of suite {suite_obj.name!r} "
                         f"({', '.join(suite_obj.labels)}), got {attacks!r}")
    entries = suite_obj.resolve(eps, max_steps=max_steps, only=attacks)
    x, y = load_data(data, n)
    if eps is not None:  # an L2 radius larger than the diameter of the image cube is refused
        check_eps("eps", eps, suite_obj.norm, dim=x[0].numel())
    check_number("batch_size", batch_size, low=1, integer=True)
    check_number("seed", seed, integer=True)
    check_number("blackbox_queries", blackbox_queries, low=1, integer=True)
    probes = _sanity_probes(sanity)
    _check_surrogate(surrogate, model)

    original_device = model_device(model)
    device = resolve_device(device) if device is not None else original_device
    net = _fp32_model(model)
    the_eps = entries[0].eps if entries else (suite_obj.eps if eps is None else float(eps))
    meta: dict[str, Any] = {
        "seed": seed, "device": str(device), "batch_size": batch_size, "max_steps": max_steps,
        "reduced_budget": max_steps is not None, "model": type(model).__name__, "dataset": dataset,
        "citation": suite_obj.citation, "versions": _versions(), "sanity_probes": list(probes),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        with preserved_modes(net, training=False), torch.autocast(device_type=device.type, enabled=False):
            net.to(device)
            clean_pred, classes = _predict(net, x, batch_size, device)
            check_labels("data labels", y, batch=len(y), num_classes=classes)
            results, skipped = _run_suite(net, entries, x, y, clean_pred, suite_obj.name, batch_size=batch_size,
                                          device=device, seed=seed, progress=progress, surrogate=surrogate)
            report = EvaluationReport(suite=suite_obj.name, norm=suite_obj.norm, eps=the_eps, labels=y,
                                      clean_pred=clean_pred, results=results, indices=torch.arange(len(y)),
                                      skipped=skipped, meta=meta)
            checks = list(_sanity.check_threat_model(results))
            checks += _sanity.check_orderings(report.robust_accuracy, suite_obj.orderings, report.n)
            checks += _sanity.check_blackbox(results, clean_pred == y)
            with seeded(seed + 7, device):
                checks += _run_probes(net, report, x, y, probes, batch_size=batch_size, device=device, seed=seed,
                                      max_steps=max_steps, blackbox_queries=blackbox_queries)
            report.checks = checks
    finally:
        if net is model and device != original_device:
            model.to(original_device)
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    meta["seconds"] = sum(r.seconds for r in results.values())
    return report


def _sanity_probes(sanity: bool | Sequence[str]) -> tuple[str, ...]:
    """The probes ``sanity`` asks for (True: all, False: none, or a subset of :data:`SANITY_PROBES`)."""
    if isinstance(sanity, bool):
        return SANITY_PROBES if sanity else ()
    probes = tuple(sanity)
    unknown = [p for p in probes if p not in SANITY_PROBES]
    if unknown:
        raise ValueError(f"sanity must be a bool or a subset of {SANITY_PROBES}, got unknown {unknown}")
    return probes


def _check_surrogate(surrogate: nn.Module | None, model: nn.Module) -> None:
    if surrogate is not None and not isinstance(surrogate, nn.Module):
        raise TypeError(f"surrogate must be an nn.Module, got {type(surrogate).__name__}")
    if surrogate is not None and surrogate is model:
        raise ValueError("surrogate must be a separately trained model, not the evaluated model itself")


def _run_suite(net: nn.Module, entries: Sequence[ResolvedAttack], x: torch.Tensor, y: torch.Tensor,
               clean_pred: torch.Tensor, name: str, *, batch_size: int, device: torch.device, seed: int,
               progress: bool, surrogate: nn.Module | None) -> tuple[dict[str, AttackResult], dict[str, str]]:
    """Every entry on the clean-correct points (entry ``i`` under seed ``seed + 1009 i``); transfer
    entries without a surrogate are skipped with the reason."""
    correct = clean_pred == y
    results: dict[str, AttackResult] = {}
    skipped: dict[str, str] = {}
    for i, entry in enumerate(tqdm(entries, desc=f"suite {name}", disable=not progress)):
        if entry.spec.needs_surrogate and surrogate is None:
            skipped[entry.label] = "needs a surrogate model (evaluate(..., surrogate=...))"
            continue
        results[entry.label] = run_attack(net, entry, x, y, correct, clean_pred, batch_size=batch_size,
                                          device=device, seed=seed + 1009 * i, progress=progress,
                                          surrogate=surrogate)
    return results, skipped
