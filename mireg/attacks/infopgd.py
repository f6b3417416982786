"""InfoPGD: PGD on InfoAT's attack objective (Xu et al., IEEE TNNLS 2022, Eq. 18)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mireg._validation import check_eps, check_images, check_labels, check_number
from mireg.attacks.base import Attack
from mireg.functional.entropy import _entropy
from mireg.functional.infoat import _infopgd_objective
from mireg.registry import ATTACKS

_STARTS = {True: "uniform", False: None, None: None, "uniform": "uniform", "normal": "normal"}


@ATTACKS.register("infopgd")
class InfoPGD(Attack):
    r"""InfoPGD, the inner maximiser of InfoAT (Eq. 18 of https://arxiv.org/abs/2206.12292):

    .. math::
        x' = \arg\max_{\|x' - x\|_\infty \le \epsilon} CE(p(x'), y) + \lambda H(p(x)) \|p(x') - p(x)\|_2^2

    by L-inf PGD with sign steps, projection on the eps-ball and on [0, 1]. ``p(x)`` and ``H(p(x))``
    are computed once per call, without gradient. With ``lam=0`` and no random start the iterates
    are torchattacks' PGD's exactly (the summed objective has the same gradient signs as the mean).
    In targeted mode the cross-entropy term becomes ``-CE(p(x'), target)``.

    Args:
        model (nn.Module): model to attack (logits-only forward, inputs in [0, 1]).
        eps (float): L-inf radius. (Default: 8/255)
        alpha (float): step size. (Default: 2/255)
        steps (int): number of steps. (Default: 10)
        lam (float): λ of Eq. 18. (Default: 2.5, the paper's)
        random_start (bool or str): True / "uniform" for Madry's uniform start in the eps-ball,
            "normal" for TRADES/MART's x + 0.001 N(0, 1), False for none. (Default: True)
        normalize_entropy (bool): divide H(p(x)) by log K. (Default: False)

    Shape:
        - images: (N, C, H, W) in [0, 1]; labels: (N,) integer classes; output: (N, C, H, W) in [0, 1].

    Examples:
        >>> import torch, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([3, 7])
        >>> attack = mireg.InfoPGD(model, eps=8/255, alpha=2/255, steps=10, lam=2.5)
        >>> adv_images = attack(images, labels)
        >>> bool((adv_images - images).abs().max() <= 8 / 255 + 1e-6), adv_images.shape
        (True, torch.Size([2, 3, 8, 8]))
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10,
                 lam: float = 2.5, random_start: bool | str = True, normalize_entropy: bool = False) -> None:
        super().__init__("InfoPGD", model)
        self.eps = check_eps("eps", eps)
        self.alpha = check_eps("alpha", alpha)
        self.steps = check_number("steps", steps, low=1, integer=True)
        self.lam = check_number("lam", lam, low=0)
        if random_start not in _STARTS:
            raise ValueError(f"random_start must be True, False, 'uniform' or 'normal', got {random_start!r}")
        self.random_start = random_start
        self.normalize_entropy = bool(normalize_entropy)
        self.supported_mode = ["default", "targeted"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_images("images", images)
        labels = check_labels("labels", labels, batch=images.shape[0])
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        with torch.no_grad():
            logits_nat = self.get_logits(images).float()
            probs_nat = F.softmax(logits_nat, dim=1)
            weight_nat = _entropy(logits_nat, self.normalize_entropy)
        check_labels("labels", labels, batch=images.shape[0], num_classes=logits_nat.shape[1])  # once per call
        if self.targeted:
            labels = self.get_target_label(images, labels)

        adv = images.clone()
        start = _STARTS[self.random_start]
        if start == "uniform":
            adv = (adv + torch.empty_like(adv).uniform_(-self.eps, self.eps)).clamp(0, 1)
        elif start == "normal":
            delta = (0.001 * torch.randn_like(adv)).clamp(-self.eps, self.eps)
            adv = (adv + delta).clamp(0, 1)

        for _ in range(self.steps):
            adv.requires_grad_(True)
            logits = self.get_logits(adv)
            if self.targeted:
                cost = -F.cross_entropy(logits, labels, reduction="sum")
                if self.lam:
                    distance = (F.softmax(logits, dim=1) - probs_nat).pow(2).sum(dim=1)
                    cost = cost + self.lam * (weight_nat * distance).sum()
            else:
                cost = _infopgd_objective(logits, labels, probs_nat, weight_nat, self.lam).sum()
            grad = torch.autograd.grad(cost, adv)[0]
            adv = adv.detach() + self.alpha * grad.sign()
            delta = torch.clamp(adv - images, min=-self.eps, max=self.eps)
            adv = torch.clamp(images + delta, min=0, max=1).detach()
        return adv
