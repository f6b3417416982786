"""WassersteinPGD: projected gradient on the transport plan with the exact dual projection (Wu et al. 2020).

Wu, Wang & Yu, "Stronger and Faster Wasserstein Adversarial Attacks", ICML 2020,
https://arxiv.org/abs/2008.02883: "an exact yet efficient projection operator to enable a stronger
projected gradient attack" (the authors' code, watml/fast-wasserstein-adversarial, calls it "PGD with
dual projection", ``projected_gradient.py`` + ``projection.py``). The threat model is Wong et al.'s
(ICML 2019): each channel is a mass distribution over pixels, mass moves only inside a local window.

This is the attack NAMID (Zhou et al., ICML 2022) reports as FWA-40: dwDavidxd/MIAT
``test_comparison.py`` builds ``LinfFWA(eps=8/255, kernel_size=4, lr=0.007, nb_iter=40,
dual_max_iter=15, grad_tol=1e-4, int_tol=1e-4, postprocess=False)``, and ``utils_attack/FWA.py``'s
``LinfFWA`` is this projected-gradient method (not Frank-Wolfe, which is :class:`mireg.attacks.FWA`).
The defaults below are those arguments. Re-derived from the algorithm, not copied.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mireg._validation import check_eps, check_labels, check_number
from mireg.attacks.base import Attack
from mireg.registry import ATTACKS

__all__ = ["WassersteinPGD", "window_offsets", "window_cost", "window_transport", "simplex_projection",
           "dual_projection"]

def window_offsets(kernel_size: int) -> torch.Tensor:
    """Offsets ``(dy, dx)`` (K², 2) of a ``kernel_size`` window, row-major, each axis ``k - K // 2``.

    Odd K gives ``-r..r``; even K is asymmetric, e.g. K = 4 gives ``-2..1`` (as the reference C++
    ``h2 = h1 + k1 - kernel_size / 2``). The zero offset is at index ``(K // 2) * (K + 1)``.
    """
    grid = torch.arange(kernel_size) - kernel_size // 2
    dy, dx = torch.meshgrid(grid, grid, indexing="ij")
    return torch.stack([dy.flatten(), dx.flatten()], dim=1)


def window_cost(kernel_size: int, height: int, width: int, device: torch.device | None = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Cost (K², H, W) of moving unit mass from pixel (h, w) by each offset: the Euclidean pixel distance,
    ``inf`` (forbidden) where the target ``(h + dy, w + dx)`` leaves the image.

    The reference prices such targets at 1e6 and wraps them around the image, which lets at most
    budget/1e6 of mass leak; here they are excluded exactly.
    """
    off = window_offsets(kernel_size)
    rows = torch.arange(height).view(1, -1, 1) + off[:, 0].view(-1, 1, 1)
    cols = torch.arange(width).view(1, 1, -1) + off[:, 1].view(-1, 1, 1)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    dist = off.double().norm(dim=1).view(-1, 1, 1).expand(-1, height, width)
    return torch.where(inside, dist, torch.full_like(dist, float("inf"))).to(device=device, dtype=dtype)


def window_transport(plan: torch.Tensor, kernel_size: int) -> torch.Tensor:
    r"""The transported image :math:`x'_j = \sum_{(i, o):\, i + d_o = j} \Pi_{i o}`: (B, C, K², H, W) -> (B, C, H, W).

    ``plan[b, c, o, h, w]`` is the mass moved from (h, w) by offset ``o`` of :func:`window_offsets`;
    mass whose target leaves the image is dropped (a feasible plan has none there).
    """
    b, c, k2, h, w = plan.shape
    weight = torch.eye(k2, device=plan.device, dtype=plan.dtype).view(k2, 1, kernel_size, kernel_size)
    full = F.conv_transpose2d(plan.reshape(b * c, k2, h, w), weight)  # output (h + ky, w + kx)
    r = kernel_size // 2
    return full[:, :, r:r + h, r:r + w].reshape(b, c, h, w)


def simplex_projection(values: torch.Tensor, mass: torch.Tensor, dim: int = 2) -> torch.Tensor:
    r"""Euclidean projection of each fibre of ``values`` along ``dim`` onto :math:`\{p \ge 0, \sum p = m\}`.

    ``mass`` has the shape of ``values`` without ``dim`` (m >= 0); entries equal to ``-inf`` get 0 (each
    fibre needs one finite entry). Sort-based (Held et al. 1974;
    Duchi et al. 2008): :math:`p = \max(v - \theta, 0)` with :math:`\theta = (\sum_{j \le \rho} u_j - m)/\rho`,
    :math:`u` sorted decreasingly and :math:`\rho` the largest j with :math:`u_j > (\sum_{i \le j} u_i - m)/j`.
    """
    u = values.sort(dim=dim, descending=True).values
    excess = u.cumsum(dim) - mass.unsqueeze(dim)
    shape = [1] * values.dim()
    shape[dim] = values.shape[dim]
    j = torch.arange(1, values.shape[dim] + 1, device=values.device, dtype=values.dtype).view(shape)
    rho = ((j * u - excess > 0) * j).amax(dim=dim, keepdim=True).clamp_min(1)  # -inf entries compare as nan
    theta = excess.gather(dim, rho.long() - 1) / rho
    return (values - theta).clamp_min(0)


def dual_projection(target: torch.Tensor, images: torch.Tensor, cost: torch.Tensor, budget: torch.Tensor,
                    max_iter: int = 15, grad_tol: float | None = 1e-4,
                    int_tol: float | None = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Projection of ``target`` onto the local Wasserstein ball by bisection on its dual (Wu et al. 2020, Sec. 3).

    Solves :math:`\min_\Pi \tfrac12\|\Pi - G\|^2` s.t. :math:`\Pi \ge 0`, :math:`\Pi\mathbf 1 = x` (per pixel
    and channel), :math:`\langle \Pi, C\rangle \le` ``budget`` (per sample), no mass where ``cost`` is
    ``inf`` (:func:`window_cost`). For a multiplier
    :math:`\lambda \ge 0` of the cost constraint the minimiser is the row-wise simplex projection
    :math:`\Pi(\lambda) = P_\Delta(G - \lambda C)`, whose cost decreases in :math:`\lambda`; bisection on
    :math:`[0,\ 2\|G\|_\infty + \|x\|_\infty]` moves the lower end up where the cost exceeds the budget and
    the upper end down elsewhere, and returns :math:`\Pi(\lambda_{hi})` (feasible). As in the reference,
    the search stops for the whole batch after ``max_iter`` steps, or once every sample's cost gap is
    below ``grad_tol`` or the widest bracket is narrower than ``int_tol`` (``None`` disables a test);
    the stop is a device flag, so there is no host synchronisation.

    Shapes: target (B, C, K², H, W), images (B, C, H, W), cost (K², H, W), budget (B,) ->
    (plan (B, C, K², H, W), multiplier (B,)).
    """
    b = target.shape[0]
    view = (b, 1, 1, 1, 1)
    forbidden = torch.isinf(cost)
    cost = cost.masked_fill(forbidden, 0.0)

    def recover(lam: torch.Tensor) -> torch.Tensor:
        return simplex_projection((target - lam.view(view) * cost).masked_fill(forbidden, float("-inf")), images)

    lo = torch.zeros(b, device=target.device, dtype=target.dtype)
    hi = 2 * target.abs().flatten(1).amax(1) + images.flatten(1).amax(1)
    running = torch.ones((), dtype=torch.bool, device=target.device)
    for _ in range(max_iter):
        mid = (lo + hi) / 2
        gap = (recover(mid) * cost).flatten(1).sum(1) - budget
        up = gap > 0
        lo = torch.where(running & up, mid, lo)
        hi = torch.where(running & ~up, mid, hi)
        done = torch.zeros((), dtype=torch.bool, device=target.device)
        if grad_tol is not None:
            done = done | (gap.abs() < grad_tol).all()
        if int_tol is not None:
            done = done | ((hi - lo).amax() < int_tol)
        running = running & ~done
    return recover(hi), hi


class WassersteinPGD(Attack):
    r"""Wasserstein PGD (Wu, Wang & Yu, ICML 2020): NAMID's FWA-40 as dwDavidxd/MIAT runs it.

    The adversarial image is the transport of the clean image by a local plan :math:`\Pi` (B, C, K², H, W):
    :math:`x' = T(\Pi)` (:func:`window_transport`), with :math:`\Pi \ge 0`, :math:`\Pi\mathbf 1 = x`
    (each pixel's mass, per channel, is conserved), mass moving inside a ``kernel_size`` window
    (:func:`window_offsets`) and :math:`\langle \Pi, C\rangle \le \epsilon\sum x` (``eps`` is the
    mean transport distance, in pixels, per unit of image mass; :math:`C` the Euclidean pixel distance).
    From the identity plan :math:`\Pi_0`, for :math:`t = 0..T-1`:

    .. math::
        g_t = \nabla_\Pi\, \mathrm{CE}\big(f(\mathrm{clip}_{[0,1]}(T(\Pi_t))), y\big), \qquad
        \Pi_{t+1} = \mathrm{Proj}\big(\Pi_t + \alpha\, g_t / \|g_t\|_\infty\big),

    with the per-sample max-norm and the exact projection :func:`dual_projection`. The result is the
    last iterate :math:`\Pi_T` (never evaluated inside the loop, as in the reference), returned as
    :math:`\mathrm{clip}_{[0,1]}(T(\Pi_T))`. Targeted mode descends the CE of the target.

    Threat model: the perturbation's L-inf size is not bounded (moving a bright pixel's mass by one
    pixel changes two pixels by up to 1); its Wasserstein cost is. Only [0, 1] is enforced, by the
    clip. MIAT's script feeds the model the unclipped :math:`T(\Pi_T)`, which can exceed 1; it is in
    ``last_transported``. After a call, ``last_plan`` (N, C, K², H, W) is :math:`\Pi_T`, ``last_cost``
    (N,) :math:`\langle\Pi_T, C\rangle` and ``last_budget`` (N,) :math:`\epsilon\sum x`, so a success can
    be checked against the Wasserstein ball: ``last_cost <= last_budget``.

    Args:
        model: classifier mapping [0, 1] images to logits (N, K).
        eps: Wasserstein radius per unit mass, in pixels (> 0). Default 8/255 (MIAT).
        alpha: step on the max-normalised plan gradient, ``lr`` in the reference (> 0). Default 0.007.
        steps: iterations (int >= 1). Default 40.
        kernel_size: transport window (int >= 2; even sizes are asymmetric). Default 4 (MIAT).
        dual_max_iter: bisection steps of the projection (int >= 1). Default 15.
        grad_tol: stop the bisection when every cost gap is below it (> 0, or None). Default 1e-4.
        int_tol: stop the bisection when every bracket is narrower (> 0, or None). Default 1e-4.

    Shapes: images (N, C, H, W) in [0, 1], labels (N,) long -> adversarial images (N, C, H, W) in [0, 1].

    Examples:
        >>> import torch, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([3, 7])
        >>> atk = mireg.attacks.WassersteinPGD(model, steps=3)  # MIAT's FWA-40 settings, 3 steps
        >>> adv_images = atk(images, labels)
        >>> bool((atk.last_cost <= atk.last_budget * (1 + 1e-5)).all())
        True
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, alpha: float = 0.007, steps: int = 40,
                 kernel_size: int = 4, dual_max_iter: int = 15, grad_tol: float | None = 1e-4,
                 int_tol: float | None = 1e-4) -> None:
        super().__init__("WassersteinPGD", model)
        self.eps = check_eps("eps", eps, "Wasserstein")
        self.alpha = float(check_number("alpha", alpha, low=0.0, low_open=True))
        self.steps = int(check_number("steps", steps, low=1, integer=True))
        self.kernel_size = int(check_number("kernel_size", kernel_size, low=2, integer=True))
        self.dual_max_iter = int(check_number("dual_max_iter", dual_max_iter, low=1, integer=True))
        self.grad_tol = None if grad_tol is None else float(check_number("grad_tol", grad_tol, low=0.0,
                                                                           low_open=True))
        self.int_tol = None if int_tol is None else float(check_number("int_tol", int_tol, low=0.0, low_open=True))
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
        """Unclipped transported images of the last call (N, C, H, W): what MIAT's script evaluates."""
        return self._last_transported

    @property
    def last_cost(self) -> torch.Tensor | None:
        """Transport cost of each returned plan (N,), in pixels times mass."""
        return self._last_cost

    @property
    def last_budget(self) -> torch.Tensor | None:
        """Cost budget ``eps * sum(x)`` of each sample (N,)."""
        return self._last_budget

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        r"""Overridden: returns :math:`\mathrm{clip}_{[0,1]}(T(\Pi_T))` (N, C, H, W)."""
        images, labels, sign = self._prepared(images, labels, image_batch=True)
        k, (n, c, h, w) = self.kernel_size, images.shape
        cost = window_cost(k, h, w, self.device)
        budget = self.eps * images.flatten(1).sum(1)
        loss_fn = nn.CrossEntropyLoss(reduction="sum")

        plan = torch.zeros(n, c, k * k, h, w, device=self.device)
        plan[:, :, (k // 2) * (k + 1)] = images  # the identity plan: nothing moves
        for t in range(self.steps):
            plan.requires_grad_(True)
            moved = window_transport(plan, k)
            # clip to [0, 1] with gradient 1 on the closed interval (torch's clamp gives 0 at the bounds in
            # recent releases; the reference's PyTorch 1.5 gave 1, and black pixels sit exactly at 0)
            inside = (moved >= 0) & (moved <= 1)
            logits = self.get_logits(torch.where(inside, moved, moved.detach().clamp(0, 1)))
            if t == 0:  # once per call: the labels must index the model's classes
                check_labels("labels", labels, batch=n, num_classes=logits.shape[1])
            grad = torch.autograd.grad(sign * loss_fn(logits, labels), plan)[0]
            scale = grad.abs().flatten(1).amax(1).view(n, 1, 1, 1, 1) + 1e-35
            target = plan.detach() + self.alpha * grad / scale
            plan = dual_projection(target, images, cost, budget, self.dual_max_iter, self.grad_tol,
                                   self.int_tol)[0]

        plan = plan.detach()
        transported = window_transport(plan, k)
        self._last_plan, self._last_transported, self._last_budget = plan, transported, budget
        self._last_cost = (plan * cost.nan_to_num(posinf=0.0)).flatten(1).sum(1)
        return transported.clamp(0, 1)


ATTACKS.add("wasserstein-pgd", WassersteinPGD)
