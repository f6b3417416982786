"""DDN: Decoupling Direction and Norm, a minimal-L2-norm gradient attack, and its eps-bounded variant.

Rony, Hafemann, Oliveira, Ben Ayed, Sabourin & Granger, "Decoupling Direction and Norm for Efficient
Gradient-Based L2 Adversarial Attacks and Defenses", CVPR 2019, https://arxiv.org/abs/1811.09600,
Algorithm 1.

What "DDN, 20 iterations, step 0.01" of the NAMID paper (Zhou et al., ICML 2022) maps to: DDN has
two step parameters, the direction step ``alpha`` and the norm factor ``gamma`` of
Algorithm 1. NAMID's released evaluation script (``test_comparison.py``) builds advertorch's
``DDNL2Attack(nb_iter=20, gamma=0.05, init_norm=1.0, ...)``, whose ``alpha`` follows a cosine schedule
from 1 down to 0.01 (advertorch's DDN is the first author's own code). So "step 0.01" is the
final direction step ``alpha_min = 0.01`` of that schedule, while the norm factor stays
``gamma = 0.05``. These are the defaults here. (That script also quantises to ``levels=16``, which
we do not copy: quantisation is off by default and ``levels=256`` gives 8-bit images.)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mireg._validation import check_eps, check_images, check_labels, check_number
from mireg.attacks.base import Attack
from mireg.registry import ATTACKS

__all__ = ["DDN", "DDNBounded"]


def _per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


class DDN(Attack):
    r"""DDN (Rony et al., CVPR 2019, Alg. 1): minimal-L2 adversarial examples in few steps.

    With :math:`\delta_0 = 0`, :math:`\epsilon_0` = ``init_norm`` and :math:`m = +1` (untargeted;
    :math:`-1` targeted), each iteration :math:`k = 1..K` does

    .. math::
        g = m\,\nabla_{\tilde x} J(\tilde x_{k-1}, y), \quad
        \delta_k = \delta_{k-1} + \alpha_k \frac{g}{\|g\|_2}, \quad
        \epsilon_k = \begin{cases}(1-\gamma)\,\epsilon_{k-1} & \tilde x_{k-1}\ \text{adversarial}\\
                                  (1+\gamma)\,\epsilon_{k-1} & \text{otherwise}\end{cases}, \quad
        \tilde x_k = \mathrm{clip}_{[0,1]}\Big(x + \epsilon_k \frac{\delta_k}{\|\delta_k\|_2}\Big),

    and :math:`\delta_k` continues from the projected, clipped :math:`\tilde x_k - x` (as the authors'
    code does). :math:`J` is the cross-entropy; :math:`\alpha_k` follows a cosine schedule from
    ``alpha`` to ``alpha_min``: :math:`\alpha_k = \alpha_{min} + (\alpha - \alpha_{min})(1 + \cos(\pi k/K))/2`.
    The result is the adversarial iterate with the smallest L2 norm; a sample for
    which no iterate is adversarial is returned unchanged (clean). A zero gradient is replaced by a
    random direction. Optional quantisation to ``levels`` grey levels rounds every iterate.

    After a call, ``last_norms`` (N,) holds the L2 norm of each returned perturbation (``inf`` where
    the attack failed) and ``last_success`` (N,) bool whether it is adversarial.

    Args:
        model: classifier mapping [0, 1] images to logits (N, K).
        steps: iterations K (int >= 1). Default 20 (NAMID's evaluation).
        gamma: norm factor in (0, 1). Default 0.05.
        init_norm: initial norm :math:`\epsilon_0` (> 0). Default 1.0.
        alpha: initial direction step (> 0). Default 1.0.
        alpha_min: final direction step (> 0, <= alpha). Default 0.01 (NAMID's "step 0.01").
        levels: ``None`` (no quantisation) or the number of grey levels (int >= 2), e.g. 256.

    Shapes: images (N, C, H, W) in [0, 1], labels (N,) long -> adversarial images (N, C, H, W).

    Examples:
        >>> import torch, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([3, 7])
        >>> atk = mireg.attacks.DDN(model, steps=10)
        >>> adv_images = atk(images, labels)
        >>> atk.last_norms.shape      # minimal L2 norms found, inf where it failed
        torch.Size([2])
    """

    def __init__(self, model: nn.Module, steps: int = 20, gamma: float = 0.05, init_norm: float = 1.0,
                 alpha: float = 1.0, alpha_min: float = 0.01, levels: int | None = None) -> None:
        super().__init__("DDN", model)
        self.steps = int(check_number("steps", steps, low=1, integer=True))
        self.gamma = float(check_number("gamma", gamma, low=0.0, high=1.0, low_open=True))
        if self.gamma >= 1.0:
            raise ValueError(f"gamma must be < 1, got {gamma}")
        self.init_norm = float(check_number("init_norm", init_norm, low=0.0, low_open=True))
        self.alpha = float(check_number("alpha", alpha, low=0.0, low_open=True))
        self.alpha_min = float(check_number("alpha_min", alpha_min, low=0.0, high=self.alpha, low_open=True))
        self.levels = None if levels is None else int(check_number("levels", levels, low=2, integer=True))
        self.supported_mode = ["default", "targeted"]
        self._last_norms: torch.Tensor | None = None
        self._last_success: torch.Tensor | None = None

    def _max_norm(self) -> float:
        return math.inf

    def _alpha(self, k: int) -> float:
        return self.alpha_min + (self.alpha - self.alpha_min) * (1 + math.cos(math.pi * k / self.steps)) / 2

    def _project(self, images: torch.Tensor, delta: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
        d_norm = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
        adv = images + delta * _per_sample(norm / d_norm, delta)
        if self.levels is not None:
            adv = torch.round(adv * (self.levels - 1)) / (self.levels - 1)
        return adv.clamp(0, 1)

    @property
    def last_norms(self) -> torch.Tensor | None:
        """L2 norm of each returned perturbation (N,), ``inf`` where the last call failed."""
        return self._last_norms

    @property
    def last_success(self) -> torch.Tensor | None:
        """Whether each returned image of the last call is adversarial (N,) bool."""
        return self._last_success

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        r"""Overridden: returns the smallest adversarial iterate per sample (clean where it failed)."""
        check_images("images", images)
        labels = check_labels("labels", labels, batch=images.shape[0])
        images = images.clone().detach().to(self.device, torch.float32)
        labels = labels.clone().detach().to(self.device)
        targeted = self.targeted
        if targeted:
            labels = self.get_target_label(images, labels)
        m = -1.0 if targeted else 1.0
        max_norm = self._max_norm()
        n = images.shape[0]

        norm = torch.full((n,), min(self.init_norm, max_norm), device=self.device)
        adv = images.clone()
        best_norm = torch.full((n,), math.inf, device=self.device)
        best_adv = images.clone()
        loss_fn = nn.CrossEntropyLoss(reduction="sum")

        for k in range(self.steps + 1):
            adv.requires_grad_(True)
            logits = self.get_logits(adv)
            if k == 0:  # once per call: the labels must index the model's classes
                check_labels("labels", labels, batch=n, num_classes=logits.shape[1])
            delta = adv.detach() - images
            l2 = delta.flatten(1).norm(dim=1)
            pred = logits.detach().argmax(1)
            is_adv = pred == labels if targeted else pred != labels
            better = is_adv & (l2 < best_norm) & (l2 <= max_norm * (1 + 1e-6))
            best_norm = torch.where(better, l2, best_norm)
            best_adv = torch.where(_per_sample(better, adv), adv.detach(), best_adv)
            if k == self.steps:  # the last iterate is only checked
                break

            grad = torch.autograd.grad(m * loss_fn(logits, labels), adv)[0]
            g_norm = grad.flatten(1).norm(dim=1)
            random = torch.randn_like(grad)
            grad = torch.where(_per_sample(g_norm > 0, grad), grad, random)
            g_norm = grad.flatten(1).norm(dim=1)
            delta = delta + self._alpha(k + 1) * grad / _per_sample(g_norm, grad)
            norm = norm * (1.0 - self.gamma * (2.0 * is_adv.float() - 1.0))
            norm = norm.clamp(max=max_norm)
            adv = self._project(images, delta, norm).detach()

        self._last_norms = best_norm
        self._last_success = torch.isfinite(best_norm)
        return best_adv.detach()


class DDNBounded(DDN):
    r"""DDN restricted to the L2 ball of radius ``eps``: success means an adversarial example within eps.

    The DDN iteration of :class:`DDN` with the norm capped, :math:`\epsilon_k \le` ``eps``, so every
    iterate stays in the ball; only adversarial iterates with :math:`\|\tilde x - x\|_2 \le` ``eps``
    count, and a sample without one is returned clean. ``last_success`` therefore reports success
    within eps (robust accuracy at eps = 0.5 is the accuracy on the returned images).

    Args:
        model: classifier mapping [0, 1] images to logits (N, K).
        eps: the L2 radius (> 0). Default 0.5.
        steps: iterations K (int >= 1). Default 20.
        gamma: norm factor in (0, 1). Default 0.05.
        init_norm: initial norm (> 0). Default 1.0.
        alpha: initial direction step (> 0). Default 1.0.
        alpha_min: final direction step (> 0, <= alpha). Default 0.01.
        levels: ``None`` (no quantisation) or the number of grey levels (int >= 2).

    Shapes: images (N, C, H, W) in [0, 1], labels (N,) long -> adversarial images (N, C, H, W).

    Examples:
        >>> import torch, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([3, 7])
        >>> atk = mireg.attacks.DDNBounded(model, eps=0.5, steps=10)
        >>> adv_images = atk(images, labels)      # ||adv - images||_2 <= 0.5 per sample
        >>> bool(((adv_images - images).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all())
        True
        >>> rate = atk.last_success.float().mean()  # attack success rate within eps
    """

    def __init__(self, model: nn.Module, eps: float = 0.5, steps: int = 20, gamma: float = 0.05,
                 init_norm: float = 1.0, alpha: float = 1.0, alpha_min: float = 0.01,
                 levels: int | None = None) -> None:
        super().__init__(model, steps=steps, gamma=gamma, init_norm=init_norm, alpha=alpha,
                         alpha_min=alpha_min, levels=levels)
        self.eps = check_eps("eps", eps, "L2")
        self.attack = "DDNBounded"

    def _max_norm(self) -> float:
        return self.eps

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        r"""Overridden: adversarial images within the eps-ball (clean where none was found)."""
        adv = super().forward(images, labels)
        # quantisation may push an iterate a hair beyond eps: renormalise into the ball exactly
        images = images.detach().to(self.device, torch.float32)
        delta = adv - images
        d_norm = delta.flatten(1).norm(dim=1)
        scale = torch.where(d_norm > self.eps, self.eps / d_norm.clamp_min(1e-12), torch.ones_like(d_norm))
        return (images + delta * _per_sample(scale, delta)).clamp(0, 1).detach()


ATTACKS.add("ddn", DDN)
ATTACKS.add("ddn-bounded", DDNBounded)
