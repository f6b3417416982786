"""InfoAT's MINE ablation as a training loss (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292, §IV-A,
Eq. 19, Table I, Fig. 3a): Eq. 17 with the entropy weight H(p(x)) replaced by the batch mutual
information I(x; z_l) between the input and the features z_l of layer #l, estimated by MINE.

The paper states the equation and the layers (#1-#4); it leaves open how MINE is trained alongside.
Our choices (the precedent is :class:`mireg.losses.WMIMLoss`, which co-trains its estimator the same way):

- MINE pairs the *natural* image x with z_l(x), the layer's features on x: Eq. 19 replaces H(p(x)),
  a property of the natural input. x and z_l are pooled to ``pool x pool`` by :class:`~mireg.estimators.MINE`;
- at each call in train mode MINE first takes ``mine_steps`` (1) Adam steps (lr ``mine_lr``, 1e-4
  as :func:`~mireg.estimators.fit_mine`) on MINE's bias-corrected loss (Belghazi et al. 2018, Sec. 3.2)
  on the detached batch; then the DV bound of the updated MINE on the batch is the weight. The
  classifier's gradient never reaches MINE's parameters and MINE never holds a ``.grad`` after the call;
- the weight is one number per batch (the batch estimate, as the paper says), clamped at 0 (a DV
  estimate can be negative early in training; MI is not, and a negative weight would push p(x_adv)
  away from p(x)) and detached by default (``detach_weight=True``): the paper calls it a weight;
  with ``detach_weight=False`` the gradient of the bound also reaches the classifier through z_l;
- β H(p(x_adv)) is kept as in Eq. 17.

Getting at z_l: the engine calls a loss term with logits and images only, so the term holds a
:class:`~mireg.estimators.FeatureTap` on the model built with ``by_input=True``, and reads the
features of the very tensor ``x`` it is called with (``tap.features_of(x)``): the model's own
forward on x, no extra forward pass, whatever the order of the forwards.
"""

from __future__ import annotations

import torch
from torch import nn

from mireg._validation import check_choice, check_images, check_number
from mireg.estimators.mine import MINE
from mireg.estimators.tap import FeatureTap
from mireg.functional._common import REDUCTIONS, check_pair
from mireg.functional.divergence import DIVERGENCES
from mireg.functional.infoat_mine import mi_weighted_term
from mireg.losses.base import LossTerm
from mireg.utils.device import model_device
from mireg.utils.modes import preserved_modes

__all__ = ["InfoATMINE"]


class InfoATMINE(LossTerm):
    r"""InfoAT Eq. 19 without the cross-entropy: :math:`\lambda \max(0, \hat I_{MINE}(x; z_l))
    \|p(x_{adv}) - p(x)\|^2 - \beta H(p(x_{adv}))`, with MINE co-trained (see the module docstring).

    Args:
        tap: a ``FeatureTap(model, layer, by_input=True)`` on the classifier that is trained.
        mine: a :class:`~mireg.estimators.MINE` for per-sample shapes (image, layer features).
        lam, beta: λ, β >= 0 (paper: 2.5, 0.2).
        divergence: "mse" (the paper) | "js" | "kl" | "ce".
        update_mine: co-train MINE (``mine_steps`` Adam steps per call in train mode).
        mine_lr, mine_steps: MINE's Adam learning rate and steps per call.
        detach_weight: the MI weight is a constant for the classifier's gradient.
        reduction: "mean" | "sum" | "none".

    Call: ``term(logits_nat (B, K), logits_adv (B, K), y=None, *, x (B, C, H, W), x_adv=None)``, after the
    model has run on ``x``. ``last_mi`` holds the (detached, unclamped) batch estimate of the last call.
    With B = 1 the batch MI is undefined (no negatives): the weight is 0 and MINE is not updated.

    Example:
        >>> term = InfoATMINE.for_layer(model, "model.layer2", image_shape=(3, 32, 32))
        >>> criterion = ATLoss() + term                      # InfoAT's MINE ablation at layer #2
        >>> loss = criterion(model(x), model(x_adv), y, x=x, x_adv=x_adv)
    """

    uses_natural = True
    uses_images = True

    def __init__(self, tap: FeatureTap, mine: MINE, lam: float = 2.5, beta: float = 0.2, *, divergence: str = "mse",
                 update_mine: bool = True, mine_lr: float = 1e-4, mine_steps: int = 1, detach_weight: bool = True,
                 reduction: str = "mean") -> None:
        super().__init__()
        if not isinstance(tap, FeatureTap) or not tap.by_input:
            raise TypeError("tap must be a mireg.estimators.FeatureTap(model, layer, by_input=True)")
        if not isinstance(mine, MINE):
            raise TypeError(f"mine must be a mireg.estimators.MINE, got {type(mine).__name__}")
        for name, flag in (("update_mine", update_mine), ("detach_weight", detach_weight)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
        self.lam = check_number("lam", lam, low=0)
        self.beta = check_number("beta", beta, low=0)
        self.divergence = check_choice("divergence", divergence, DIVERGENCES)
        self.mine_lr = float(check_number("mine_lr", mine_lr, low=0.0, low_open=True))
        self.mine_steps = check_number("mine_steps", mine_steps, low=1, integer=True)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.tap, self.update_mine, self.detach_weight = tap, update_mine, detach_weight
        self.mine = mine.requires_grad_(False)
        self._optimizer: torch.optim.Optimizer | None = None
        self.last_mi: torch.Tensor | None = None

    @classmethod
    def for_layer(cls, model: nn.Module, layer: str, image_shape: tuple[int, ...] = (3, 32, 32), *,
                  hidden: int = 256, pool: int | None = 4, **kwargs) -> InfoATMINE:
        """Tap ``model.<layer>`` and build a MINE of the right shapes (one no-grad eval-mode forward on
        two zero images finds the layer's shape; the model's modes are restored)."""
        tap = FeatureTap(model, layer, detach=False, by_input=True)
        param = next(model.parameters(), None)
        with preserved_modes(model, training=False), torch.no_grad():
            _, feats = tap(torch.zeros(2, *image_shape, device=None if param is None else param.device,
                                       dtype=None if param is None else param.dtype))
        return cls(tap, MINE(tuple(image_shape), tuple(feats.shape[1:]), hidden, pool=pool), **kwargs)

    def _update(self, x: torch.Tensor, z: torch.Tensor) -> None:
        params = list(self.mine.parameters())
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam(params, lr=self.mine_lr)
        self.mine.requires_grad_(True)
        try:
            for _ in range(self.mine_steps):
                with torch.enable_grad():
                    grads = torch.autograd.grad(self.mine.loss(x, z), params)
                for p, g in zip(params, grads, strict=True):
                    p.grad = g
                self._optimizer.step()
        finally:
            for p in params:
                p.grad = None
            self.mine.requires_grad_(False)

    def batch_mi(self, x: torch.Tensor) -> torch.Tensor:
        """Update MINE (in train mode) and return the batch DV estimate of I(x; z_l(x)) (0-d tensor)."""
        z = self.tap.features_of(x)
        self.tap.clear()  # the model keeps no graph of this step (and stays deep-copyable)
        if model_device(self.mine) != x.device:
            self.mine.to(x.device)
        dtype = next(self.mine.parameters()).dtype  # MINE runs in its own precision (fp32), outside autocast
        with torch.autocast(x.device.type, enabled=False):
            x32, z32 = x.detach().to(dtype), z.to(dtype)
            if x.shape[0] < 2:
                return z32.sum() * 0.0
            if self.training and self.update_mine:
                self._update(x32, z32.detach())
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.detach_weight):
                return self.mine(x32, z32 if not self.detach_weight else z32.detach())

    def forward(self, logits_nat, logits_adv, y=None, *, x=None, x_adv=None):
        if logits_nat is None:
            raise ValueError("InfoATMINE needs logits_nat (the model's logits on x)")
        check_pair(logits_nat, logits_adv, reduction=self.reduction)
        if x is None:
            raise ValueError("InfoATMINE needs the natural images: call it with x=... after running the model on x")
        check_images("x", x)
        if x.dim() != 4 or x.shape[0] != logits_nat.shape[0]:
            raise ValueError(f"x must be (B, C, H, W) with B = {logits_nat.shape[0]}, got {tuple(x.shape)}")
        mi = self.batch_mi(x)
        self.last_mi = mi.detach()
        return mi_weighted_term(logits_nat, logits_adv, mi.clamp(min=0.0).to(logits_adv.dtype), self.lam, self.beta,
                                divergence=self.divergence, reduction=self.reduction)

    def remove(self) -> None:
        """Take the feature tap off the model."""
        self.tap.remove()

    def extra_repr(self) -> str:
        return (f"layer={self.tap.layer!r}, lam={self.lam}, beta={self.beta}, divergence={self.divergence!r}, "
                f"mine_lr={self.mine_lr}, mine_steps={self.mine_steps}, detach_weight={self.detach_weight}")
