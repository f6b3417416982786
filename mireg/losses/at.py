"""Madry et al. adversarial training loss (ICLR 2018) as a loss term."""

from __future__ import annotations

from mireg._validation import check_choice
from mireg.functional import at_loss
from mireg.functional._common import REDUCTIONS
from mireg.losses.base import LossTerm


class ATLoss(LossTerm):
    """Madry AT: ``CE(logits_adv, y)``; ignores ``logits_nat`` (``uses_natural = False``).

    Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018,
    https://arxiv.org/abs/1706.06083, Eq. 2.1.

    Args:
        reduction: "mean" | "sum" | "none".

    Shapes: ``term(None, logits_adv (B, K), y (B,))`` -> scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch, mireg
        >>> mireg.ATLoss()(None, torch.zeros(2, 10), torch.tensor([0, 1]))  # uniform output: log 10
        tensor(2.3026)
    """

    uses_natural = False

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(self, logits_nat, logits_adv, y=None, *, x=None, x_adv=None):
        return at_loss(logits_adv, y, reduction=self.reduction)
