"""RayS: a hard-label ray-search attack that also measures the L-inf decision-boundary distance.

Chen & Gu, "RayS: A Ray Searching Method for Hard-label Adversarial Attack", KDD 2020,
https://arxiv.org/abs/2006.12792, Sec. 3 (the ray-search reformulation, hierarchical search, fast check).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mireg._validation import check_eps, check_images, check_labels, check_number
from mireg.attacks.base import Attack
from mireg.registry import ATTACKS

__all__ = ["RayS"]


class RayS(Attack):
    r"""RayS (Chen & Gu, KDD 2020): hard-label L-inf attack by searching ray directions.

    The L-inf attack is recast as finding the sign direction :math:`d \in \{-1, +1\}^n` with the
    smallest decision-boundary radius along the ray

    .. math::
        g(d) = \min\{r \ge 0 : f(\mathrm{clip}_{[0,1]}(x + r d)) \ne y\},

    using only predicted labels. Hierarchical search: starting from :math:`d = \mathbf 1`,
    at stage :math:`s` the flattened direction is cut into :math:`2^s` contiguous blocks and the sign of
    each block is flipped in turn; the candidate is kept when its boundary radius is smaller.
    Each candidate costs one query at the current best radius (the fast check) and, only
    when that point is adversarial, a bisection on :math:`[0, r_{best}]` down to ``tol``.
    When no boundary is known yet the check is done at radius 1 (the whole [0, 1] box along d).
    Once blocks reach one coordinate, the search keeps cycling over single coordinates.

    Every model call is counted per sample (the clean prediction is one query); a sample stops when
    it has used ``query_limit`` queries or, with ``early_stop``, when its boundary distance is <= eps.
    After a call:

    - ``last_queries`` (N,) long: model queries spent on each sample (exact),
    - ``last_distances`` (N,): L-inf distance :math:`\|x_{adv} - x\|_\infty` of the boundary point found
      (0 for samples misclassified from the start, ``inf`` where no adversarial point was found),
    - ``last_success`` (N,) bool: distance <= eps,
    - ``last_adbd``: the average decision-boundary distance (ADBD, the InfoAT paper's Table IV) over
      the samples that were classified correctly at the start (``nan`` if there are none). Use
      ``early_stop=False`` and a large ``query_limit`` to measure it, as the RayS authors do.

    Successful samples are returned as their boundary point (within eps); the others unchanged.

    Args:
        model: classifier mapping [0, 1] images to logits (N, K).
        eps: L-inf radius for success (> 0). Default 8/255.
        query_limit: queries per sample (int >= 1). Default 10000.
        tol: bisection tolerance on the radius (> 0). Default 1e-4.
        early_stop: stop a sample once its distance is <= eps. Default True.

    Shapes: images (N, ...) in [0, 1], labels (N,) long -> adversarial images (N, ...).

    Examples:
        >>> import torch, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([3, 7])
        >>> atk = mireg.attacks.RayS(model, eps=8/255, query_limit=50, early_stop=False)
        >>> adv_images = atk(images, labels)
        >>> int(atk.last_queries.max()) <= 50
        True
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, query_limit: int = 10000, tol: float = 1e-4,
                 early_stop: bool = True) -> None:
        super().__init__("RayS", model)
        self.eps = check_eps("eps", eps)
        self.query_limit = int(check_number("query_limit", query_limit, low=1, integer=True))
        self.tol = float(check_number("tol", tol, low=0.0, low_open=True))
        if not isinstance(early_stop, bool):
            raise TypeError(f"early_stop must be a bool, got {type(early_stop).__name__}")
        self.early_stop = early_stop
        self.supported_mode = ["default", "targeted"]
        self._last_queries: torch.Tensor | None = None
        self._last_distances: torch.Tensor | None = None
        self._last_success: torch.Tensor | None = None
        self._last_adbd: float | None = None

    @property
    def last_queries(self) -> torch.Tensor | None:
        """Model queries spent on each sample in the last call (N,) long."""
        return self._last_queries

    @property
    def last_distances(self) -> torch.Tensor | None:
        """L-inf distance of each boundary point found in the last call (N,)."""
        return self._last_distances

    @property
    def last_success(self) -> torch.Tensor | None:
        """Whether each sample of the last call was fooled within eps (N,) bool."""
        return self._last_success

    @property
    def last_adbd(self) -> float | None:
        """Average decision-boundary distance of the last call over the initially correct samples."""
        return self._last_adbd

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        r"""Overridden: boundary points within eps where successful, clean images elsewhere."""
        check_images("images", images)
        labels = check_labels("labels", labels, batch=images.shape[0])
        images = images.clone().detach().to(self.device, torch.float32)
        labels = labels.clone().detach().to(self.device)
        if self.targeted:
            labels = self.get_target_label(images, labels)
        targeted = self.targeted
        n, shape = images.shape[0], images.shape[1:]
        x = images.flatten(1)
        dim = x.shape[1]
        queries = torch.zeros(n, dtype=torch.long, device=self.device)

        def adversarial(pred: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            return pred == labels[idx] if targeted else pred != labels[idx]

        @torch.no_grad()
        def is_adv(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            queries[idx] += 1
            return adversarial(self.get_logits(points.view(-1, *shape)).argmax(1), idx)

        everyone = torch.arange(n, device=self.device)
        with torch.no_grad():
            logits = self.get_logits(images)
        queries += 1
        check_labels("labels", labels, batch=n, num_classes=logits.shape[1])
        adv_at_start = adversarial(logits.argmax(1), everyone)
        found = adv_at_start.clone()
        r_best = torch.where(adv_at_start, torch.zeros(n, device=self.device), torch.ones(n, device=self.device))
        sign = torch.ones_like(x)
        stage, block = 0, 0

        def done() -> torch.Tensor:
            stop = adv_at_start | (queries >= self.query_limit)
            if self.early_stop:
                stop = stop | (found & (self._distance(x, sign, r_best) <= self.eps))
            return stop

        active = (~done()).nonzero().squeeze(1)
        while active.numel() > 0:
            blocks = min(2 ** stage, dim)
            size = math.ceil(dim / blocks)
            start, end = block * size, min(dim, (block + 1) * size)
            cand = sign[active].clone()
            cand[:, start:end] *= -1
            r = r_best[active]
            # fast check: is the candidate's ray already adversarial at the best radius?
            ok = is_adv((x[active] + r.unsqueeze(1) * cand).clamp(0, 1), active)
            sub, d_sub = active[ok], cand[ok]
            hi = self._bisect(x, sub, d_sub, r[ok], queries, is_adv)
            better = (hi < r_best[sub]) | ~found[sub]
            upd = sub[better]
            r_best[upd] = hi[better]
            sign[upd] = d_sub[better]
            found[upd] = True

            block += 1
            if block >= blocks or end >= dim:
                block = 0
                if blocks < dim:
                    stage += 1
            active = (~done()).nonzero().squeeze(1)

        return self._result(x, r_best, sign, found, adv_at_start, queries).view(n, *shape).detach()

    def _bisect(self, x: torch.Tensor, sub: torch.Tensor, d_sub: torch.Tensor, hi: torch.Tensor,
                queries: torch.Tensor, is_adv) -> torch.Tensor:
        """Bisection of the boundary radius along rays ``d_sub`` (adversarial at ``hi``) of samples ``sub``,
        each within its remaining query budget; returns the smallest adversarial radii found."""
        lo = torch.zeros_like(hi)
        while True:
            searching = ((hi - lo) > self.tol) & (queries[sub] < self.query_limit)
            s = searching.nonzero().squeeze(1)
            if s.numel() == 0:
                return hi
            mid = (lo[s] + hi[s]) / 2
            hit = is_adv((x[sub[s]] + mid.unsqueeze(1) * d_sub[s]).clamp(0, 1), sub[s])
            hi[s] = torch.where(hit, mid, hi[s])
            lo[s] = torch.where(hit, lo[s], mid)

    def _result(self, x: torch.Tensor, r_best: torch.Tensor, sign: torch.Tensor, found: torch.Tensor,
                adv_at_start: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """The (flattened) output: boundary points within eps where successful, clean images elsewhere;
        records ``last_queries``, ``last_distances``, ``last_success`` and ``last_adbd``."""
        adv = (x + r_best.unsqueeze(1) * sign).clamp(0, 1)
        dist = torch.where(found, (adv - x).abs().amax(1), torch.full_like(r_best, math.inf))
        success = found & (dist <= self.eps)
        self._last_queries = queries
        self._last_distances = dist
        self._last_success = success
        kept = dist[~adv_at_start]
        self._last_adbd = float(kept.mean()) if kept.numel() > 0 else math.nan
        return torch.where(success.unsqueeze(1), adv, x)

    @staticmethod
    def _distance(x: torch.Tensor, sign: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return ((x + r.unsqueeze(1) * sign).clamp(0, 1) - x).abs().amax(1)


ATTACKS.add("rays", RayS)
