"""BPDA-PGD: L-inf PGD through the 8-bit quantisation of the input, with the straight-through backward pass.

Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security: Circumventing Defenses
to Adversarial Examples", ICML 2018, https://arxiv.org/abs/1802.00420, Sec. 4.1 (BPDA): for a defence
``f(g(x))`` whose ``g`` is not differentiable, run the forward pass through ``g`` and the backward pass
through a differentiable ``h ~ g``; for a quantiser ``g(x) ~ x``, so ``h`` is the identity.

mireg's BPDA column of InfoAT's Table II (the paper prints no BPDA settings, see
:mod:`mireg.evaluation.paper_suites`): the non-differentiable step is the quantisation to ``levels``
grey levels that every stored image goes through (8 bits: 256). The attack returns quantised images,
so the model is judged on exactly the images it was attacked through. On a model without another
non-differentiable part this is PGD on the 8-bit pipeline.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn import functional as F

from mireg._validation import check_labels, check_number
from mireg.attacks.base import Attack
from mireg.attacks.bpda import bpda
from mireg.registry import ATTACKS

__all__ = ["BPDAPGD", "quantize", "grid_in_ball"]

_TOL = 1e-4  # in units of one grey level: float rounding of (x -+ eps) * (levels - 1)


def quantize(x: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """``round(x (levels - 1)) / (levels - 1)``: ``x`` in [0, 1] on a grid of ``levels`` grey levels.

    Its autograd gradient is zero almost everywhere (pass it through :func:`mireg.attacks.bpda`).
    Example: ``quantize(torch.tensor([0.1, 0.5]), 3)`` is ``tensor([0.0, 0.5])``.
    """
    k = levels - 1
    return torch.round(x * k) / k


def grid_in_ball(q: torch.Tensor, images: torch.Tensor, eps: float, levels: int = 256) -> torch.Tensor:
    """``q`` moved to the nearest grey level inside the L-inf ball of radius ``eps`` around ``images`` and [0, 1].

    For images on the grid (8-bit data) the ball always holds a grid point per pixel (the clean one),
    so the result stays on the grid: a pixel whose rounding left the ball is rounded toward the clean
    pixel instead (with eps = 8/255 and 256 levels nothing moves). Where a pixel's ball holds no grid
    point (images off the grid, eps below half a level) the pixel is clipped to the ball instead.
    Shapes: q, images (N, ...) -> (N, ...).
    """
    k = levels - 1
    lower, upper = (images - eps).clamp(min=0), (images + eps).clamp(max=1)
    grid_low, grid_high = torch.ceil(lower * k - _TOL) / k, torch.floor(upper * k + _TOL) / k
    on_grid = torch.minimum(torch.maximum(q, grid_low), grid_high)
    out = torch.where(grid_low <= grid_high, on_grid, q)
    return torch.minimum(torch.maximum(out, lower), upper)


class BPDAPGD(Attack):
    r"""PGD through BPDA(quantisation, straight-through) (Athalye et al., ICML 2018, Sec. 4.1).

    With :math:`q(x) = \mathrm{round}(x (L - 1)) / (L - 1)` (``levels`` = L) and the iterate
    :math:`x_0 = x` (+ uniform noise in the ball with ``random_start``), each step is

    .. math::
        g_t = \nabla_{u}\, \mathrm{CE}(f(u), y)\big|_{u = q(x_t)}, \qquad
        x_{t+1} = \mathrm{clip}_{[0,1]}\big(x + \mathrm{clip}_{[-\epsilon,\epsilon]}(x_t + \alpha\,
        \mathrm{sign}(g_t) - x)\big),

    i.e. the forward pass sees :math:`q(x_t)` and the backward pass treats :math:`q` as the identity.
    The result is :math:`q(x_T)`, kept on the grid and inside the ball by :func:`grid_in_ball`.
    Targeted mode descends the target's CE.

    Args:
        model: classifier mapping [0, 1] images to logits (N, K).
        eps: L-inf radius (> 0). Default 8/255.
        alpha: step size (> 0). Default 2/255 (eps / 4).
        steps: iterations (int >= 1). Default 20.
        random_start: start uniformly in the ball (Madry et al. 2018). Default True.
        levels: grey levels of the quantiser (int >= 2). Default 256 (8-bit images).

    Shapes: images (N, C, H, W) in [0, 1], labels (N,) long -> adversarial images (N, C, H, W) in [0, 1],
    on the grid of ``levels`` grey levels when the clean images are.

    Examples:
        >>> import torch, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([3, 7])
        >>> atk = mireg.attacks.BPDAPGD(model, eps=8/255, alpha=2/255, steps=5)
        >>> adv = atk(images, labels)             # 8-bit images, ||adv - images||_inf <= 8/255
        >>> bool((adv - images).abs().max() <= 8 / 255 + 1e-6), adv.shape
        (True, torch.Size([2, 3, 8, 8]))
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 20,
                 random_start: bool = True, levels: int = 256) -> None:
        super().__init__("BPDAPGD", model)
        self.eps = float(check_number("eps", eps, low=0.0, low_open=True))
        self.alpha = float(check_number("alpha", alpha, low=0.0, low_open=True))
        self.steps = int(check_number("steps", steps, low=1, integer=True))
        self.levels = int(check_number("levels", levels, low=2, integer=True))
        if not isinstance(random_start, bool):
            raise TypeError(f"random_start must be a bool, got {type(random_start).__name__}")
        self.random_start = random_start
        self.supported_mode = ["default", "targeted"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        r"""Overridden: returns the quantised last iterate (N, C, H, W)."""
        images, labels, sign = self._prepared(images, labels)
        transform = functools.partial(quantize, levels=self.levels)
        adv = images.clone()
        if self.random_start:
            adv = (adv + torch.empty_like(adv).uniform_(-self.eps, self.eps)).clamp(0, 1)
        for t in range(self.steps):
            adv.requires_grad_(True)
            logits = self.get_logits(bpda(adv, transform))
            if t == 0:  # once per call: the labels must index the model's classes
                check_labels("labels", labels, batch=images.shape[0], num_classes=logits.shape[1])
            grad = torch.autograd.grad(sign * F.cross_entropy(logits, labels), adv)[0]
            adv = adv.detach() + self.alpha * grad.sign()
            adv = (images + (adv - images).clamp(-self.eps, self.eps)).clamp(0, 1)
        return grid_in_ball(quantize(adv, self.levels), images, self.eps, self.levels).detach()


ATTACKS.add("bpda-pgd", BPDAPGD)
