"""FWA: the Frank-Wolfe Wasserstein attack with an entropic linear-minimisation oracle (pure PyTorch).

Wu, Wang & Yu, "Stronger and Faster Wasserstein Adversarial Attacks", ICML 2020,
https://arxiv.org/abs/2008.02883 (Sec. 3: the coupling formulation, Sec. 4: Frank-Wolfe with an
entropic "dual" linear-minimisation oracle). The threat model follows Wong et al., "Wasserstein
Adversarial Examples via Projected Sinkhorn Iterations", ICML 2019: each channel is a mass
distribution over pixels and mass may only move within a local ``kernel_size`` window.

This is mireg's Frank-Wolfe variant, NOT the attack NAMID (Zhou et al., ICML 2022) reports as FWA-40:
dwDavidxd/MIAT ``test_comparison.py``'s ``LinfFWA`` is Wu et al.'s projected gradient with the dual
projection (kernel 4, [0, 1] clamp only), which is :class:`mireg.attacks.WassersteinPGD` and the
``FWA-40`` entry of the ``namid-linf`` suite. Here the radius is ``radius`` and ``eps`` adds an L-inf box
around the clean image (the result is clamped to ``[max(0, x - eps), min(1, x + eps)]``; ``eps=1``
leaves only the [0, 1] clamp); the window is centred on the pixel, so it must be odd (default 5).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn
from torch.nn import functional as F

from mireg._validation import check_eps, check_labels, check_number
from mireg.attacks.base import Attack
from mireg.registry import ATTACKS

__all__ = ["FWA", "transport", "transport_cost", "transport_offsets", "entropic_lmo"]


def transport_offsets(kernel_size: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets ``(dy, dx)`` (K², 2) of a ``kernel_size`` window in row-major order and their costs (K²,) float64.

    The cost of moving unit mass by ``(dy, dx)`` pixels is the Euclidean distance ``sqrt(dy² + dx²)``.
    Example: ``transport_offsets(3)[1][4]`` is 0 (the centre: mass that stays put).
    """
    r = kernel_size // 2
    grid = torch.arange(-r, r + 1, device=device)
    dy, dx = torch.meshgrid(grid, grid, indexing="ij")
    offsets = torch.stack([dy.flatten(), dx.flatten()], dim=1)
    return offsets, offsets.double().norm(dim=1)


def _one_hot_kernels(kernel_size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    k2 = kernel_size * kernel_size
    return torch.eye(k2, device=device, dtype=dtype).view(k2, 1, kernel_size, kernel_size)


def transport(plan: torch.Tensor, kernel_size: int) -> torch.Tensor:
    r"""Column marginal of a local transport plan: the transported image :math:`x' = \Pi^\top \mathbf 1`.

    ``plan[b, c, o, h, w]`` is the mass moved from pixel ``(h, w)`` to ``(h + dy_o, w + dx_o)`` of
    channel ``c``, with offsets ordered as :func:`transport_offsets`. Shapes: (B, C, K², H, W) -> (B, C, H, W).
    """
    b, c, k2, h, w = plan.shape
    weight = _one_hot_kernels(kernel_size, plan.device, plan.dtype)
    out = F.conv_transpose2d(plan.reshape(b * c, k2, h, w), weight, padding=kernel_size // 2)
    return out.view(b, c, h, w)


def _gather(values: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """``out[b, c, o, h, w] = values[b, c, h + dy_o, w + dx_o]`` (0 outside): (B, C, H, W) -> (B, C, K², H, W)."""
    b, c, h, w = values.shape
    weight = _one_hot_kernels(kernel_size, values.device, values.dtype)
    out = F.conv2d(values.reshape(b * c, 1, h, w), weight, padding=kernel_size // 2)
    return out.view(b, c, -1, h, w)


def transport_cost(plan: torch.Tensor, kernel_size: int) -> torch.Tensor:
    r"""Transport cost :math:`\langle \Pi, C \rangle` per sample: (B, C, K², H, W) -> (B,)."""
    cost = transport_offsets(kernel_size, plan.device)[1].to(plan.dtype)
    return (plan * cost.view(1, 1, -1, 1, 1)).sum(dim=(1, 2, 3, 4))


@functools.lru_cache(maxsize=16)
def _cost_levels(kernel_size: int, device: torch.device) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """Offsets sorted by cost level, the number of offsets per level, and the level costs (cached per device,
    so the step loop never copies between host and device)."""
    cost = transport_offsets(kernel_size)[1]
    levels, group = torch.unique(torch.round(cost * 1e6), return_inverse=True)
    order = torch.argsort(group, stable=True)
    return order.to(device), torch.bincount(group).tolist(), (levels / 1e6).to(device)


def entropic_lmo(grad: torch.Tensor, images: torch.Tensor, budget: torch.Tensor, kernel_size: int,
                 reg: float = 0.01, dual_iters: int = 20) -> torch.Tensor:
    r"""Entropic linear-maximisation oracle over the local Wasserstein ball (Wu et al. 2020, Sec. 4).

    Solves, per sample, :math:`\max_\Pi \langle \Pi, \tilde G \rangle + \text{reg}\cdot H(\Pi)` subject to
    :math:`\Pi \ge 0`, :math:`\Pi \mathbf 1 = x` (mass conservation), :math:`\langle\Pi, C\rangle \le`
    ``budget``, where :math:`\tilde G = G / \|G\|_\infty`. For a multiplier :math:`\psi \ge 0` of the cost
    constraint the maximiser is a row-wise Gibbs distribution (one Sinkhorn row scaling)

    .. math:: \Pi_{i o}(\psi) = x_i\, \mathrm{softmax}_o\big((\tilde G_{i o} - \psi C_o) / \text{reg}\big),

    whose cost decreases in :math:`\psi`; :math:`\psi = 0` if that already fits the budget, else the
    upper end of a bisection bracket on :math:`\psi` after ``dual_iters`` steps (its cost is <= budget, so
    the result is always feasible). The bisection evaluates the cost exactly from per-pixel log-sum-exps
    over the offsets of equal cost (6 levels for a 5x5 window), and a final mix with the identity plan
    absorbs float rounding. Targets outside the image get no mass.

    Shapes: grad (B, C, K², H, W), images (B, C, H, W), budget (B,) -> plan (B, C, K², H, W).
    """
    b = grad.shape[0]
    k2 = kernel_size * kernel_size
    cost = transport_offsets(kernel_size, grad.device)[1].to(grad.dtype).view(1, 1, -1, 1, 1)
    inside = _gather(torch.ones_like(images[:1, :1]), kernel_size) > 0.5  # (1, 1, K², H, W)
    scale = grad.abs().flatten(1).amax(1).clamp_min(1e-30).view(b, 1, 1, 1, 1)
    g = (grad / scale).masked_fill(~inside, float("-inf")) / reg

    # Offsets with equal cost share the factor exp(-psi C / reg): the dual search only needs, per pixel,
    # the log-sum-exp of g / reg within each cost level (6 levels for a 5x5 window instead of 25 offsets).
    order, counts, levels = _cost_levels(kernel_size, grad.device)
    grouped = torch.stack([chunk.logsumexp(dim=2) for chunk in g[:, :, order].split(counts, dim=2)], dim=2)
    level_cost = levels.to(grad.dtype).view(1, 1, -1, 1, 1)
    mass = images.unsqueeze(2)

    def cost_at(psi: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(grouped - psi.view(b, 1, 1, 1, 1) * level_cost / reg, dim=2)
        return (mass * weights * level_cost).sum(dim=(1, 2, 3, 4))

    zero = torch.zeros(b, device=grad.device, dtype=grad.dtype)
    fits = cost_at(zero) <= budget
    # For psi >= hi every off-centre weight is <= exp((2 - psi)/reg), so the cost is <= mass*K²*C_max*that.
    c_max = math.sqrt(2.0) * (kernel_size // 2)
    ratio = k2 * c_max * (images.flatten(1).sum(1) + 1.0) / budget.clamp_min(1e-30)
    lo, hi = zero.clone(), 3.0 + reg * torch.log(ratio.clamp_min(1.0))
    for _ in range(dual_iters):
        mid = (lo + hi) / 2
        ok = cost_at(mid) <= budget
        hi = torch.where(ok, mid, hi)
        lo = torch.where(ok, lo, mid)
    psi = torch.where(fits, zero, hi).view(b, 1, 1, 1, 1)
    plan = mass * torch.softmax(g - psi * cost / reg, dim=2)
    # Guard against float rounding between the grouped and the full sums: mix in the identity plan
    # (zero cost, same rows) just enough that the cost is <= budget exactly.
    total = (plan * cost).sum(dim=(1, 2, 3, 4))
    theta = torch.where(total > budget, budget / total.clamp_min(1e-30), torch.ones_like(total)).view(b, 1, 1, 1, 1)
    centre = torch.zeros_like(plan)
    centre[:, :, k2 // 2] = images
    return theta * plan + (1 - theta) * centre


class FWA(Attack):
    r"""Frank-Wolfe Wasserstein attack (Wu, Wang & Yu, ICML 2020) with an L-inf box, pure PyTorch.

    The adversarial image is the transport of the clean image by a local plan :math:`\Pi` (Sec. 3):
    :math:`x' = \Pi^\top \mathbf 1` with :math:`\Pi \ge 0`, :math:`\Pi\mathbf 1 = x` (every pixel's mass is
    conserved, per channel), mass moving at most ``kernel_size // 2`` pixels per axis, and the
    Wasserstein constraint :math:`\langle \Pi, C\rangle \le` ``radius`` :math:`\cdot \sum x` (the radius is
    the mean transport distance, in pixels, per unit of image mass; :math:`C` = Euclidean pixel distance).
    Frank-Wolfe on the cross-entropy :math:`\ell(\Pi) = \mathrm{CE}(f(\mathrm{clip}(\Pi^\top\mathbf 1)), y)`
    from the identity plan :math:`\Pi_0`, for :math:`t = 0..T-1`:

    .. math::
        S_t = \mathrm{LMO}(\nabla_\Pi \ell(\Pi_t)), \qquad \Pi_{t+1} = (1 - \eta_t)\Pi_t + \eta_t S_t,
        \quad \eta_t = 2/(t+2),

    where the LMO is solved with entropic regularisation ``reg`` and a bisection on the dual of the
    cost constraint (:func:`entropic_lmo`). Every iterate is a convex combination of feasible plans, so
    mass conservation and the cost bound hold exactly (up to float rounding). The image fed to the
    model and returned is :math:`\mathrm{clip}(\Pi^\top\mathbf 1, \max(0, x - \epsilon), \min(1, x+\epsilon))`:
    the [0, 1] range and the L-inf box are enforced by this clamp (as the reference code clamps to
    [0, 1]), so the returned image equals the transported one wherever it lies inside the box. Targeted
    mode ascends :math:`-\mathrm{CE}` of the target. The latest adversarial iterate is returned.

    After a call, ``last_plan`` (N, C, K², H, W) is the returned plan, ``last_transported`` (N, C, H, W)
    its unclipped image :math:`\Pi^\top\mathbf 1`, ``last_cost`` (N,) :math:`\langle\Pi, C\rangle` and
    ``last_budget`` (N,) ``radius * sum(x)``.

    Args:
        model: classifier mapping [0, 1] images to logits (N, K).
        eps: L-inf box radius (> 0). Default 8/255.
        radius: Wasserstein radius per unit mass, in pixels (> 0). Default 8/255 (NAMID's value).
        kernel_size: odd transport window size (>= 3). Default 5.
        steps: Frank-Wolfe iterations (int >= 1). Default 40 (NAMID's FWA-40).
        reg: entropic regularisation of the LMO, relative to the gradient's max-norm (> 0). Default 0.01.
        dual_iters: bisection steps on the dual variable (int >= 1). Default 20.

    Shapes: images (N, C, H, W) in [0, 1], labels (N,) long -> adversarial images (N, C, H, W).

    Examples:
        >>> import torch, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([3, 7])
        >>> atk = mireg.attacks.FWA(model, eps=8/255, radius=0.01, kernel_size=5, steps=3)
        >>> adv_images = atk(images, labels)
        >>> bool((atk.last_cost <= atk.last_budget * (1 + 1e-5)).all())
        True
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, radius: float = 8 / 255, kernel_size: int = 5,
                 steps: int = 40, reg: float = 0.01, dual_iters: int = 20) -> None:
        super().__init__("FWA", model)
        self.eps = check_eps("eps", eps)
        self.radius = float(check_number("radius", radius, low=0.0, low_open=True))
        self.kernel_size = int(check_number("kernel_size", kernel_size, low=3, integer=True))
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.steps = int(check_number("steps", steps, low=1, integer=True))
        self.reg = float(check_number("reg", reg, low=0.0, low_open=True))
        self.dual_iters = int(check_number("dual_iters", dual_iters, low=1, integer=True))
        self.supported_mode = ["default", "targeted"]
        self._last_plan: torch.Tensor | None = None
        self._last_transported: torch.Tensor | None = None
        self._last_cost: torch.Tensor | None = None
        self._last_budget: torch.Tensor | None = None

    @property
    def last_plan(self) -> torch.Tensor | None:
        """Transport plan of each returned image (N, C, K², H, W)."""
        return self._last_plan

    @property
    def last_transported(self) -> torch.Tensor | None:
        """Unclipped transported images of the last call (N, C, H, W)."""
        return self._last_transported

    @property
    def last_cost(self) -> torch.Tensor | None:
        """Transport cost of each returned plan (N,)."""
        return self._last_cost

    @property
    def last_budget(self) -> torch.Tensor | None:
        """Cost budget ``radius * sum(x)`` of each sample (N,)."""
        return self._last_budget

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        r"""Overridden: returns the clamped transported images (N, C, H, W)."""
        images, labels, sign = self._prepared(images, labels, image_batch=True)
        k = self.kernel_size
        n = images.shape[0]
        lo_box = (images - self.eps).clamp(min=0)
        hi_box = (images + self.eps).clamp(max=1)
        budget = self.radius * images.flatten(1).sum(1)
        loss_fn = nn.CrossEntropyLoss(reduction="sum")

        plan = torch.zeros(*images.shape[:2], k * k, *images.shape[2:], device=self.device)
        plan[:, :, (k * k) // 2] = images  # identity plan: nothing moves
        kept = plan.clone()
        ever = torch.zeros(n, dtype=torch.bool, device=self.device)
        for t in range(self.steps + 1):
            plan.requires_grad_(True)
            x_adv = torch.min(torch.max(transport(plan, k), lo_box), hi_box)
            logits = self.get_logits(x_adv)
            if t == 0:  # once per call: the labels must index the model's classes
                check_labels("labels", labels, batch=n, num_classes=logits.shape[1])
            pred = logits.detach().argmax(1)
            is_adv = pred == labels if self.targeted else pred != labels
            kept = torch.where(is_adv.view(-1, 1, 1, 1, 1), plan.detach(), kept)
            ever = ever | is_adv
            if t == self.steps:
                break
            grad = torch.autograd.grad(sign * loss_fn(logits, labels), plan)[0]
            target = entropic_lmo(grad, images, budget, k, self.reg, self.dual_iters)
            eta = 2.0 / (t + 2.0)
            plan = ((1 - eta) * plan.detach() + eta * target).detach()

        plan = torch.where(ever.view(-1, 1, 1, 1, 1), kept, plan.detach())
        transported = transport(plan, k)
        self._last_plan = plan
        self._last_transported = transported
        self._last_cost = transport_cost(plan, k)
        self._last_budget = budget
        return torch.min(torch.max(transported, lo_box), hi_box).detach()


ATTACKS.add("fwa", FWA)
