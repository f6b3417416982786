"""The papers' analysis figures, one function each with the paper's settings as its defaults; each
returns its numbers and, given ``out_dir``, writes ``<figure>.json`` and ``<figure>.png`` there
(``mireg figures <figure>`` runs them on a checkpoint). See ``docs/ablations.md``.

| figure | function | what it computes |
|---|---|---|
| ``infoat-fig1a`` | :func:`infoat_fig1a` | MINE's I(x; z_l), layers #1-#4, robust vs non-robust examples |
| ``infoat-fig1b`` | :func:`infoat_fig1b` | entropy H(p(x)) vs the smallest radius at which PGD-10 succeeds |
| ``infoat-fig4`` | :func:`infoat_fig4` | loss change L(theta + alpha d) - L(theta), clean and PGD-10 |
| ``infoat-fig5`` | :func:`infoat_fig5` | loss over the 8/255 ball, PGD-10 x random sign directions |
| ``namid-fig2`` | :func:`namid_fig2` | standard MI, natural / adversarial, 1,000 test samples, 5 attacks |
| ``namid-fig4`` | :func:`namid_fig4` | natural and adversarial MI, offset averages, per estimator pair |

InfoAT's settings (PGD-10, eps 8/255, the loss change, the 8/255 neighbourhood) are the paper's as
reported by a reader of it; its full text was not available to this project to quote.
NAMID's are quoted in the functions' docstrings (Zhou et al., ICML 2022, arXiv:2207.12203).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mireg.attacks import create_attack
from mireg.estimators import (
    LocalDIMEstimator,
    estimator_comparison,
    plot_estimator_comparison,
    plot_standard_mi,
    stage_layer,
    standard_mi_analysis,
    train_standard_estimator,
)
from mireg.estimators.scoring import global_inputs, run_attack
from mireg.evaluation import plots
from mireg.evaluation.analysis import DEFAULT_ALPHAS, entropy_vs_perturbation, input_loss_surface, weight_loss_surface
from mireg.evaluation.infoat_figures import plot_robust_vs_nonrobust_mi, robust_vs_nonrobust_mi
from mireg.evaluation.suites import get_suite
from mireg.utils.atomic import atomic_write_text
from mireg.utils.device import model_device
from mireg.utils.modes import preserved_modes
from mireg.utils.seeding import seeded

__all__ = ["FIGURES", "FIG1B_RADII", "NAMID_FIG2_ATTACKS", "infoat_fig1a", "infoat_fig1b", "infoat_fig4", "infoat_fig5",
           "namid_fig2", "namid_fig4", "namid_fig2_attacks"]

#: Fig. 1(b)'s radii as multiples of eps: at 8/255 they are 1, 2, 4, 6, 8, 12, 16, 24, 32 /255
FIG1B_RADII = (0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
#: NAMID App. B: "PGD, AA and FWA ... with different iteration numbers"; Fig. 2's axis
NAMID_FIG2_ATTACKS = ("PGD-10", "PGD-40", "FWA-10", "FWA-40", "AA")


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write(out_dir: str | Path | None, name: str, data: dict[str, Any], draw: Callable[[Any, Path], Any]) -> None:
    """``<name>.json`` (non-finite numbers as null) and ``<name>.png`` under ``out_dir`` (None: nothing)."""
    if out_dir is None:
        return
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{name}.json", json.dumps(_finite(data), indent=2, allow_nan=False) + "\n")
    draw(data, out / f"{name}.png")


def infoat_fig1a(model: nn.Module, x: torch.Tensor, y: torch.Tensor, out_dir: str | Path | None = None, *,
                 layers: Sequence[str] | None = None, eps: float = 8 / 255, steps: int = 10, epochs: int = 50,
                 batch_size: int = 256, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """InfoAT Fig. 1(a): MINE estimates of I(x; z_l) of robust vs non-robust examples (L-inf PGD-10 at
    ``eps``) at layers #1-#4 (:func:`mireg.estimators.stage_layer`, or ``layers``); see
    :func:`mireg.evaluation.infoat_figures.robust_vs_nonrobust_mi`. ``x`` (N, C, H, W) in [0, 1], ``y`` (N,).

    Example:
        >>> infoat_fig1a(model, x_test[:1000], y_test[:1000], "figs")["robust"]   # {layer: nats}
    """
    layers = list(layers) if layers else [stage_layer(model, k) for k in (1, 2, 3, 4)]
    data = robust_vs_nonrobust_mi(model, x, y, layers, eps=eps, steps=steps, epochs=epochs, batch_size=batch_size,
                                  seed=seed, progress=progress)
    data["settings"] = {"eps": eps, "steps": steps, "layers": layers, "mine_epochs": epochs, "n": len(y)}
    _write(out_dir, "infoat-fig1a", data, plot_robust_vs_nonrobust_mi)
    return data


def infoat_fig1b(model: nn.Module, x: torch.Tensor, y: torch.Tensor, out_dir: str | Path | None = None, *,
                 eps: float = 8 / 255, steps: int = 10, batch_size: int = 256, seed: int = 0) -> dict[str, Any]:
    """InfoAT Fig. 1(b): clean prediction entropy against the smallest radius of ``eps`` x
    :data:`FIG1B_RADII` at which L-inf PGD-10 succeeds (:func:`~mireg.evaluation.analysis.entropy_vs_perturbation`).

    Example:
        >>> infoat_fig1b(model, x_test[:1000], y_test[:1000], "figs")["correlation"]
    """
    grid = [eps * m for m in FIG1B_RADII]
    data = entropy_vs_perturbation(model, x, y, eps_grid=grid, steps=steps, batch_size=batch_size, seed=seed)
    data["settings"] = {"eps_grid": grid, "steps": steps, "n": len(y)}
    _write(out_dir, "infoat-fig1b", data, plots.plot_entropy_vs_perturbation)
    return data


def infoat_fig4(model: nn.Module, x: torch.Tensor, y: torch.Tensor, out_dir: str | Path | None = None, *,
                alphas: Sequence[float] = DEFAULT_ALPHAS, eps: float = 8 / 255, steps: int = 10,
                batch_size: int = 256, seed: int = 0) -> dict[str, Any]:
    """InfoAT Fig. 4: the loss change along a filter-normalised weight direction, clean and L-inf
    PGD-10 (re-crafted at every alpha; :func:`~mireg.evaluation.analysis.weight_loss_surface`).

    Example:
        >>> infoat_fig4(model, x_test[:1000], y_test[:1000], "figs")["adversarial_change"]
    """
    data = weight_loss_surface(model, x, y, alphas=alphas, eps=eps, steps=steps, batch_size=batch_size, seed=seed)
    data["settings"] = {"eps": eps, "steps": steps, "n": len(y)}
    _write(out_dir, "infoat-fig4", data, plots.plot_weight_surface)
    return data


def infoat_fig5(model: nn.Module, x: torch.Tensor, y: torch.Tensor, out_dir: str | Path | None = None, *,
                eps: float = 8 / 255, points: int = 21, steps: int = 10, seed: int = 0) -> dict[str, Any]:
    """InfoAT Fig. 5: the loss around ONE sample ``x`` (1, C, H, W) over the ``eps`` neighbourhood spanned
    by the PGD-10 direction and a random sign direction, every point inside the ball
    (:func:`~mireg.evaluation.analysis.input_loss_surface`).

    Example:
        >>> infoat_fig5(model, x_test[7:8], y_test[7:8], "figs")["loss"]   # points x points
    """
    data = input_loss_surface(model, x, y, eps=eps, points=points, steps=steps, seed=seed)
    data["settings"] = {"eps": eps, "steps": steps, "points": points, "span": eps, "projected": True}
    _write(out_dir, "infoat-fig5", data, plots.plot_input_surface)
    return data


def namid_fig2_attacks(model: nn.Module, eps: float = 8 / 255, max_steps: int | None = None) -> dict[str, Any]:
    """Fig. 2's five attacks from the ``namid-linf`` suite's entries at ``eps``: PGD-40 and FWA-40, each
    also with 10 iterations, and AutoAttack (``max_steps`` caps them: smoke tests only)."""
    suite = get_suite("namid-linf")
    entries = {e.label: e for e in suite.resolve(eps, max_steps, only=("PGD-40", "FWA-40", "AutoAttack"))}
    out = {}
    for name in NAMID_FIG2_ATTACKS[:-1]:
        kind, iterations = name.split("-")
        entry = entries[f"{kind}-40"]
        steps = min(int(iterations), int(entry.kwargs["steps"]))
        out[name] = dataclasses.replace(entry, kwargs={**entry.kwargs, "steps": steps}).build(model)
    out["AA"] = entries["AutoAttack"].build(model)
    return out


def namid_fig2(model: nn.Module, x_train: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
               out_dir: str | Path | None = None, *, n: int | None = 1000, eps: float = 8 / 255,
               attacks: Mapping[str, Any] | None = None, epochs: int = 25, batch_size: int = 400, width: int = 2048,
               max_steps: int | None = None, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """NAMID Fig. 2 (App. B): "We randomly select 1,000 natural test samples ... We exploit three
    representative adversarial attacks (i.e., PGD, AA and FWA) with different iteration numbers ... We use
    a naturally trained ResNet-18 network as the target model h ... We offset the estimated MI so that the
    worst-case of the estimated MI equals 0, and then calculate the average of all samples". The estimator
    is "trained on natural instances and their outputs via the MI maximization" (Sec. 3.1): here on all of
    ``x_train`` (:func:`~mireg.estimators.train_standard_estimator`; the paper gives no budget: the
    estimators' 25 epochs, batch 400, width 2048). ``model`` should be naturally trained.

    Example:
        >>> namid_fig2(clean_model, x_train, x_test, y_test, "figs")["offset_means"]["PGD-10"]
    """
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(y), generator=g)[: (len(y) if n is None else min(n, len(y)))].sort().values
    x, y = x[idx], y[idx]
    estimator = train_standard_estimator(model, x_train, epochs=epochs, batch_size=batch_size, width=width,
                                         progress=progress, seed=seed)
    attacks = dict(attacks) if attacks is not None else namid_fig2_attacks(model, eps, max_steps)
    with seeded(seed, model_device(model)):
        analysis = standard_mi_analysis(model, estimator, x, y, attacks, batch_size=min(batch_size, 256),
                                        progress=progress)
    data = {"offset_means": analysis.offset_means(), "indices": idx.tolist(),
            "raw_means": {a: {k: float(v.mean()) for k, v in s.items()} for a, s in analysis.scores.items()},
            "settings": {"n": len(y), "eps": eps, "attacks": list(attacks), "epochs": epochs, "width": width,
                         "max_steps": max_steps, "seed": seed}}
    _write(out_dir, "namid-fig2", data, lambda _, path: plot_standard_mi(analysis, path))
    return data


def namid_fig4(model: nn.Module, estimators: Mapping[str, tuple[LocalDIMEstimator, LocalDIMEstimator]],
               x: torch.Tensor, y: torch.Tensor, out_dir: str | Path | None = None, *, attack: Any = None,
               eps: float = 8 / 255, steps: int = 10, batch_size: int = 256, seed: int = 0,
               progress: bool = True) -> dict[str, Any]:
    """NAMID Fig. 4 (Sec. 4.2): estimators trained by Eq. 4 ("MIM") and Eq. 5 ("Our") on "the test data
    from CIFAR-10 ... For the natural MI, we offset the estimated MI so that the worst-case of the natural
    MI equals 0, and calculate the average of all samples. Similarly, we offset the estimated MI so that
    the worst-case of the adversarial MI equals 0." ``estimators``: label -> (E_n, E_a), all scored on the
    same adversarial samples of ``attack`` (default: L-inf PGD-10 at ``eps``, step eps/4, the paper's
    training attack of Sec. 4.1; the paper does not name Fig. 4's attack).

    Example:
        >>> namid_fig4(at_model, {"MIM": (en4, ea4), "Our": (en5, ea5)}, x_test, y_test, "figs")
    """
    device = model_device(model)
    if attack is None:
        attack = create_attack("pgd", model, eps=eps, alpha=eps / 4, steps=steps)
    with preserved_modes(model, training=False):
        with seeded(seed, device):
            x_adv = run_attack(attack, x, y, batch_size, device, "attack", progress)
        means = estimator_comparison(model, estimators, x, x_adv, batch_size=batch_size)
        logits, _ = global_inputs(model, x_adv, batch_size=batch_size, device=device)
    robust = float((logits.argmax(1).cpu() == y).float().mean())
    data = {"offset_means": means, "settings": {"n": len(y), "eps": eps, "steps": steps, "seed": seed,
                                                "robust_accuracy": robust}}
    _write(out_dir, "namid-fig4", data, lambda d, path: plot_estimator_comparison(d["offset_means"], path))
    return data


#: figure name -> its function
FIGURES: dict[str, Callable[..., dict[str, Any]]] = {
    "infoat-fig1a": infoat_fig1a, "infoat-fig1b": infoat_fig1b, "infoat-fig4": infoat_fig4,
    "infoat-fig5": infoat_fig5, "namid-fig2": namid_fig2, "namid-fig4": namid_fig4,
}
