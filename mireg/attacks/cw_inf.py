"""CW-inf: L-inf PGD on the Carlini-Wagner margin loss (the InfoAT paper's CW-inf-20 / CW-inf-100).

Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P 2017,
https://arxiv.org/abs/1608.04644 (the margin objective f_6 of their Sec. V.A), maximised with
projected gradient ascent in the L-inf ball as in Madry et al., ICLR 2018, https://arxiv.org/abs/1706.06083.
"""

from __future__ import annotations

import torch
from torch import nn

from mireg._validation import check_eps, check_images, check_labels, check_number
from mireg.attacks.base import Attack
from mireg.registry import ATTACKS

__all__ = ["CWInf", "cw_margin"]


def cw_margin(logits: torch.Tensor, labels: torch.Tensor, kappa: float | None = None) -> torch.Tensor:
    """Per-sample Carlini-Wagner margin ``max_{j != y} z_j - z_y`` (C&W 2017, objective f_6).

    With ``kappa`` the margin is capped from above at ``kappa`` (``min(margin, kappa)``), the
    confidence parameter of C&W; ``None`` keeps it uncapped.

    Shapes: ``logits`` (B, K), ``labels`` (B,) long -> (B,).
    Example: ``cw_margin(torch.tensor([[2., 1.]]), torch.tensor([0]))`` is ``tensor([-1.])``.
    """
    true = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
    mask = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, labels.unsqueeze(1), True)
    other = logits.masked_fill(mask, float("-inf")).amax(dim=1)
    margin = other - true
    if kappa is not None:
        margin = margin.clamp(max=kappa)
    return margin


class CWInf(Attack):
    r"""L-inf PGD on the Carlini-Wagner margin loss ("CW-inf-k" of the InfoAT paper, Xu et al. 2022).

    Each of ``steps`` iterations ascends the C&W margin (C&W 2017, objective f_6)

    .. math::
        L(x') = \max_{j \ne y} z_j(x') - z_y(x'), \qquad
        x_{t+1} = \Pi_{B_\infty(x, \epsilon) \cap [0,1]^d}\big(x_t + \alpha\,\mathrm{sign}\,\nabla L(x_t)\big),

    starting from ``x + U(-eps, eps)`` when ``random_start``. In targeted mode the loss is
    ``z_t - max_{j != t} z_j`` for the target ``t``. The InfoAT paper's CW-inf-20 and CW-inf-100 are
    ``steps=20`` and ``steps=100``; the step ``alpha = 2/255`` is the torchattacks/RobustBench
    convention for eps = 8/255 (the paper does not state it).

    Args:
        model: classifier mapping [0, 1] images to logits (N, K).
        eps: L-inf radius (> 0). Default 8/255.
        alpha: step size (> 0). Default 2/255.
        steps: number of iterations (int >= 1). Default 20.
        random_start: start from a uniform point in the ball. Default True.
        kappa: optional confidence cap on the margin (> 0), ``None`` for the plain margin.

    Shapes: images (N, C, H, W) in [0, 1], labels (N,) long -> adversarial images (N, C, H, W).

    Examples:
        >>> import torch, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([3, 7])
        >>> atk = mireg.attacks.CWInf(model, eps=8/255, alpha=2/255, steps=5)
        >>> adv_images = atk(images, labels)
        >>> bool((adv_images - images).abs().max() <= 8 / 255 + 1e-6)
        True
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 20,
                 random_start: bool = True, kappa: float | None = None) -> None:
        super().__init__("CWInf", model)
        self.eps = check_eps("eps", eps)
        self.alpha = float(check_number("alpha", alpha, low=0.0, low_open=True))
        self.steps = int(check_number("steps", steps, low=1, integer=True))
        if not isinstance(random_start, bool):
            raise TypeError(f"random_start must be a bool, got {type(random_start).__name__}")
        self.random_start = random_start
        self.kappa = None if kappa is None else float(check_number("kappa", kappa, low=0.0, low_open=True))
        self.supported_mode = ["default", "targeted"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        r"""Overridden: returns detached adversarial images in [0, 1] and in the eps-ball."""
        check_images("images", images)
        labels = check_labels("labels", labels, batch=images.shape[0])
        images = images.clone().detach().to(self.device, torch.float32)
        labels = labels.clone().detach().to(self.device)
        if self.targeted:
            labels = self.get_target_label(images, labels)
            sign = -1.0
        else:
            sign = 1.0

        adv = images.clone()
        if self.random_start:
            adv = (adv + torch.empty_like(adv).uniform_(-self.eps, self.eps)).clamp(0, 1)

        for step in range(self.steps):
            adv.requires_grad_(True)
            logits = self.get_logits(adv)
            if step == 0:  # once per call: the labels must index the model's classes
                check_labels("labels", labels, batch=images.shape[0], num_classes=logits.shape[1])
            loss = sign * cw_margin(logits, labels, self.kappa).sum()
            grad = torch.autograd.grad(loss, adv)[0]
            adv = adv.detach() + self.alpha * grad.sign()
            adv = torch.min(torch.max(adv, images - self.eps), images + self.eps).clamp(0, 1)
        return adv.detach()


ATTACKS.add("cw-inf", CWInf)
