"""TRADES (Zhang et al., ICML 2019) as a loss term."""

from __future__ import annotations

from mireg._validation import check_choice, check_number
from mireg.functional import trades_loss
from mireg.functional._common import REDUCTIONS
from mireg.losses.base import LossTerm


class TRADESLoss(LossTerm):
    """TRADES: ``CE(logits_nat, y) + beta * KL(p_nat || p_adv)`` (batchmean), Eq. 5 of
    Zhang et al., "Theoretically Principled Trade-off between Robustness and Accuracy",
    https://arxiv.org/abs/1901.08573. See :func:`mireg.functional.trades_loss`.

    Args:
        beta: β >= 0 (reference CIFAR-10 script: 6.0).
        reduction: "mean" | "sum" | "none".

    Shapes: ``term(logits_nat (B, K), logits_adv (B, K), y (B,))`` -> scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch, mireg
        >>> logits, y = torch.zeros(2, 10), torch.tensor([3, 7])
        >>> mireg.TRADESLoss(beta=6.0)(logits, logits, y)  # no KL between equal outputs: CE = log 10
        tensor(2.3026)
    """

    def __init__(self, beta: float = 6.0, reduction: str = "mean") -> None:
        super().__init__()
        self.beta = check_number("beta", beta, low=0)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(self, logits_nat, logits_adv, y=None, *, x=None, x_adv=None):
        return trades_loss(logits_nat, logits_adv, y, self.beta, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"
