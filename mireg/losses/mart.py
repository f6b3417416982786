"""MART (Wang et al., ICLR 2020) and MART+ (the InfoAT paper's entropy-weighted MART)."""

from __future__ import annotations

from mireg._validation import check_choice, check_number
from mireg.functional import mart_loss
from mireg.functional._common import REDUCTIONS
from mireg.losses.base import LossTerm


class MARTLoss(LossTerm):
    """MART: boosted CE + ``beta * KL(p_nat || p_adv) * (1 - p_y(x))``, Eq. 8 of Wang et al.,
    "Improving Adversarial Robustness Requires Revisiting Misclassified Examples", ICLR 2020,
    https://openreview.net/forum?id=rklOg6EFwS, with the reference code's constants.
    See :func:`mireg.functional.mart_loss`.

    Args:
        beta: β >= 0 (reference: 5.0 for ResNet-18, 6.0 for WRN-34-10).
        detach_weight: stop the gradient through the weight (the reference does not).
        normalize_entropy: divide the entropy weight by log K (:class:`MARTPlus` only).
        reduction: "mean" | "sum" | "none".

    Shapes: ``term(logits_nat (B, K), logits_adv (B, K), y (B,))`` -> scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch, mireg
        >>> nat, adv, y = torch.randn(4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
        >>> mireg.MARTLoss(beta=6.0)(nat, adv, y).shape
        torch.Size([])
    """

    weight = "1-p_y"

    def __init__(self, beta: float = 6.0, *, detach_weight: bool = False, normalize_entropy: bool = False,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.beta = check_number("beta", beta, low=0)
        self.detach_weight = bool(detach_weight)
        self.normalize_entropy = bool(normalize_entropy)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(self, logits_nat, logits_adv, y=None, *, x=None, x_adv=None):
        return mart_loss(logits_nat, logits_adv, y, self.beta, weight=self.weight,
                         detach_weight=self.detach_weight, normalize_entropy=self.normalize_entropy,
                         reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, weight={self.weight!r}, detach_weight={self.detach_weight}"


class MARTPlus(MARTLoss):
    """MART+ (Xu et al., InfoAT, IEEE TNNLS 2022, §IV): MART with the KL weighted by the natural
    output's entropy H(p(x)) instead of 1 - p_y(x).

    Args:
        beta: β >= 0 of the entropy-weighted KL.
        detach_weight: stop the gradient through the weight.
        normalize_entropy: divide the entropy weight by log K.
        reduction: "mean" | "sum" | "none".

    Examples:
        >>> import torch, mireg
        >>> nat, adv, y = torch.randn(4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
        >>> mireg.MARTPlus()(nat, adv, y).shape
        torch.Size([])
    """

    weight = "entropy"
