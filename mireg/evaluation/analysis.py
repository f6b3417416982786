"""The InfoAT paper's analyses: loss surfaces in weight and input space, entropy vs vulnerability.

- :func:`weight_loss_surface` (InfoAT Fig. 4): the loss CHANGE ``L(theta + alpha d) - L(theta)``
  along one random *filter-normalized* direction in weight space, as InfoAT plots it after Wu et al.
  2020 ("Adversarial Weight Perturbation Helps Robust Generalization", NeurIPS 2020), with the
  direction of Li et al. 2018 (each filter ``d_f`` of ``d ~ N(0, I)`` rescaled to the norm of
  ``theta_f``; 1-D tensors get ``d = 0``). Clean and adversarial (PGD-10, re-crafted for every
  alpha) losses; the absolute losses are returned too.
- :func:`input_loss_surface` (InfoAT Fig. 5): loss on ``clip(x + P(a u + b v))`` around one sample,
  ``u = sign(x_pgd - x)`` the PGD-10 direction, ``v`` a random sign direction, ``a, b`` in
  ``[-eps, eps]`` and ``P`` the projection onto the 8/255 L-inf ball, so that every point lies in the
  neighbourhood the paper plots.
- :func:`minimal_perturbation` and :func:`entropy_vs_perturbation` (InfoAT Fig. 1(b)): per sample,
  the smallest radius in a grid at which PGD-10 succeeds, against the prediction entropy
  ``H(p(x)) = -sum_k p_k log p_k`` (natural log) of the clean input.
- Fig. 1(a), the MINE estimate of I(x; z) of robust vs non-robust examples, is
  :func:`mireg.evaluation.infoat_figures.robust_vs_nonrobust_mi`.

Defaults are the InfoAT paper's settings as issue 14 of this project reports them (PGD-10 for
Fig. 1 and Fig. 5, eps 8/255, the loss change for Fig. 4); ``tests/test_infoat_figures.py`` checks them.

Drawing lives in :mod:`mireg.evaluation.plots`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torchattacks
from torch import nn
from torch.nn import functional as F

from mireg._validation import check_choice, check_eps, check_images, check_labels, check_number
from mireg.utils.device import model_device
from mireg.utils.modes import preserved_modes
from mireg.utils.seeding import seeded

__all__ = ["filter_normalized_direction", "weight_loss_surface", "input_loss_surface", "minimal_perturbation",
           "entropy_vs_perturbation", "prediction_entropy"]


#: 21 steps in [-1, 1] along the weight direction (Li et al. 2018 plot the same range).
DEFAULT_ALPHAS = tuple(i / 10 for i in range(-10, 11))


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """(N, K) logits -> (N,) entropy of the softmax, natural log."""
    return -(F.softmax(logits, 1) * F.log_softmax(logits, 1)).sum(1)


def filter_normalized_direction(model: nn.Module, generator: torch.Generator | None = None
                                ) -> dict[str, torch.Tensor]:
    """A random direction with each filter scaled to its weight's norm (Li et al. 2018, Eq. 1).

    For a parameter of >= 2 dims, every slice along dim 0 (a conv filter / a linear row) ``d_f`` is
    replaced by ``d_f / ||d_f|| * ||theta_f||``; 1-D parameters (biases, BatchNorm) get zeros.
    """
    direction = {}
    for name, p in model.named_parameters():
        if p.dim() <= 1:
            direction[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        p_norm = p.detach().flatten(1).norm(dim=1)
        direction[name] = d * (p_norm / d_norm).view(-1, *([1] * (p.dim() - 1)))
    return direction


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    total = 0.0
    with torch.no_grad():
        for idx in torch.arange(len(y)).split(batch_size):
            total += float(F.cross_entropy(model(x[idx]), y[idx], reduction="sum"))
    return total / len(y)


def _pgd(model: nn.Module, norm: str, eps: float, steps: int) -> Any:
    cls = torchattacks.PGD if norm == "Linf" else torchattacks.PGDL2
    return cls(model, eps=eps, alpha=2.5 * eps / steps, steps=steps, random_start=True)


def weight_loss_surface(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                        alphas: Sequence[float] | torch.Tensor = DEFAULT_ALPHAS,
                        eps: float = 8 / 255, norm: str = "Linf", steps: int = 10, adversarial: bool = True,
                        batch_size: int = 256, seed: int = 0) -> dict[str, list[float]]:
    """Clean (and PGD-``steps``) cross-entropy along a filter-normalized random weight direction.

    Returns ``{"alpha": [...], "clean": [...], "clean_change": [...], "adversarial": [...],
    "adversarial_change": [...]}`` (adversarial only when asked): the losses ``L(theta + alpha d)``
    and their change ``L(theta + alpha d) - L(theta)`` (InfoAT Fig. 4, after Wu et al. 2020), with
    ``L(theta)`` computed at ``alpha = 0`` with the same seed. The model itself is not modified (a
    copy is perturbed) and runs in eval mode.

    Example::

        >>> surf = weight_loss_surface(model, x[:256], y[:256])
        >>> plot_weight_surface(surf, "fig4.png")
    """
    check_images("x", x)
    check_labels("y", y, batch=x.shape[0])
    check_choice("norm", norm, ("Linf", "L2"))
    check_eps("eps", eps, norm)
    check_number("steps", steps, low=1, integer=True)
    alphas = [float(a) for a in alphas]
    if not alphas:
        raise ValueError("alphas must not be empty")
    net = copy.deepcopy(model).eval()
    device = model_device(net)
    x, y = x.to(device).float(), y.to(device)
    base = {name: p.detach().clone() for name, p in net.named_parameters()}
    direction = filter_normalized_direction(net, torch.Generator().manual_seed(seed))
    params = dict(net.named_parameters())
    out: dict[str, list[float]] = {"alpha": alphas, "clean": []}
    if adversarial:
        out["adversarial"] = []
    for alpha in [0.0, *alphas]:
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(base[name] + alpha * direction[name])
        with seeded(seed, device):  # the same PGD start at every alpha
            out["clean"].append(_loss(net, x, y, batch_size))
            if adversarial:
                attack = _pgd(net, norm, eps, steps)
                x_adv = torch.cat([attack(x[i], y[i]) for i in torch.arange(len(y)).split(batch_size)])
                out["adversarial"].append(_loss(net, x_adv, y, batch_size))
    for key in ("clean", "adversarial") if adversarial else ("clean",):
        at_theta, *losses = out[key]
        out[key], out[f"{key}_change"] = losses, [value - at_theta for value in losses]
    return out


def input_loss_surface(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 8 / 255,
                       span: float | None = None, points: int = 21, steps: int = 10,
                       seed: int = 0, project: bool = True) -> dict[str, Any]:
    """Cross-entropy on ``clip(x + P(a u + b v), 0, 1)`` around ONE sample (InfoAT Fig. 5).

    ``u = sign(x_pgd - x)`` (L-inf PGD-``steps`` at ``eps``, PGD-10 as the paper), ``v`` a random +-1
    direction, ``a, b`` on a ``points x points`` grid over ``[-span, span]`` (default span = eps, the
    8/255 neighbourhood the paper plots). With ``project`` (default) ``P`` clips each pixel of the
    perturbation to ``[-eps, eps]``: without it the corner ``(eps, eps)`` lies ``2 eps`` away where
    ``u`` and ``v`` agree. ``project=False, span=2 * eps`` is mireg's former grid.

    Returns ``{"a": (P,), "b": (P,), "loss": (P, P) nested lists, "pgd_loss": float}`` with
    ``loss[i][j]`` at ``(a[i], b[j])``.
    """
    check_images("x", x)
    if x.shape[0] != 1:
        raise ValueError(f"x must hold exactly one sample (shape (1, C, H, W)), got {tuple(x.shape)}")
    check_labels("y", y, batch=1)
    check_eps("eps", eps)
    check_number("steps", steps, low=1, integer=True)
    check_number("points", points, low=2, integer=True)
    span = eps if span is None else float(check_number("span", span, low=0.0, low_open=True))
    with preserved_modes(model, training=False):
        device = model_device(model)
        x, y = x.to(device).float(), y.to(device)
        with seeded(seed, device):
            x_adv = _pgd(model, "Linf", eps, steps)(x, y)
            v = torch.randint(0, 2, x.shape, device=device).float() * 2 - 1
        u = torch.sign(x_adv - x)
        grid = torch.linspace(-span, span, points, device=device)
        losses = []
        with torch.no_grad():
            for a in grid:
                delta = a * u + grid.view(-1, 1, 1, 1) * v
                batch = (x + (delta.clamp(-eps, eps) if project else delta)).clamp(0, 1)
                logits = model(batch)
                losses.append(F.cross_entropy(logits, y.expand(points), reduction="none").tolist())
            pgd_loss = float(F.cross_entropy(model(x_adv), y))
    return {"a": grid.tolist(), "b": grid.tolist(), "loss": losses, "pgd_loss": pgd_loss}


def minimal_perturbation(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_grid: Sequence[float],
                         norm: str = "Linf", steps: int = 10, batch_size: int = 256,
                         seed: int = 0, attack: Callable[..., Any] | None = None) -> torch.Tensor:
    """Per sample, the smallest radius of ``eps_grid`` at which the attack succeeds.

    0 for points misclassified clean, ``inf`` where no radius of the grid succeeds. The attack is
    PGD-``steps`` (step 2.5 eps/steps) unless ``attack(model, eps) -> fn(x, y)`` is given; each
    radius attacks only the points still unbroken.
    """
    check_images("x", x)
    check_labels("y", y, batch=x.shape[0])
    check_choice("norm", norm, ("Linf", "L2"))
    grid = sorted(float(e) for e in eps_grid)
    if not grid or grid[0] <= 0:
        raise ValueError(f"eps_grid must hold positive radii, got {list(eps_grid)}")
    device = model_device(model)
    with preserved_modes(model, training=False):
        with torch.no_grad():
            pred = torch.cat([model(x[i].to(device)).argmax(1).cpu() for i in torch.arange(len(y)).split(batch_size)])
        result = torch.full((len(y),), float("inf"), dtype=torch.float64)
        result[pred != y] = 0.0
        with seeded(seed, device):
            for eps in grid:
                todo = torch.isinf(result).nonzero().flatten()
                if len(todo) == 0:
                    break
                atk = attack(model, eps) if attack is not None else _pgd(model, norm, eps, steps)
                for idx in todo.split(batch_size):
                    xb, yb = x[idx].to(device), y[idx].to(device)
                    x_adv = atk(xb, yb)
                    with torch.no_grad():
                        broken = (model(x_adv).argmax(1) != yb).cpu()
                    result[idx[broken]] = eps
    return result


def entropy_vs_perturbation(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                            eps_grid: Sequence[float] = tuple(k / 255 for k in (1, 2, 4, 6, 8, 12, 16, 24, 32)),
                            norm: str = "Linf", steps: int = 10, batch_size: int = 256,
                            seed: int = 0) -> dict[str, list[float]]:
    """Clean prediction entropy and smallest successful PGD-10 radius per sample (InfoAT Fig. 1(b)).

    Returns ``{"entropy": [...], "min_eps": [...]}`` (``min_eps`` is 0 for clean errors and inf
    where the grid never succeeds), plus the Spearman-free summary ``"correlation"``: the Pearson
    correlation of entropy with min_eps over the points with finite, positive min_eps.
    """
    check_images("x", x)
    device = model_device(model)
    with preserved_modes(model, training=False), torch.no_grad():
        entropy = torch.cat([prediction_entropy(model(x[i].to(device))).cpu()
                             for i in torch.arange(len(x)).split(batch_size)])
    min_eps = minimal_perturbation(model, x, y, eps_grid, norm=norm, steps=steps, batch_size=batch_size, seed=seed)
    keep = torch.isfinite(min_eps) & (min_eps > 0)
    corr = float("nan")
    if int(keep.sum()) >= 3:
        stacked = torch.stack([entropy[keep].double(), min_eps[keep].double()])
        corr = float(torch.corrcoef(stacked)[0, 1])
    return {"entropy": entropy.tolist(), "min_eps": min_eps.tolist(), "correlation": corr}
