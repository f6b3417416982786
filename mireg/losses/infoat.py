"""InfoAT's regularisers (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292) as loss terms."""

from __future__ import annotations

from mireg._validation import check_choice, check_number
from mireg.functional import infoat_term, weighted_divergence
from mireg.functional._common import REDUCTIONS
from mireg.functional.divergence import DIVERGENCES, WEIGHTS
from mireg.functional.infoat import ENTROPY_TERMS
from mireg.losses.base import LossTerm


class InfoAT(LossTerm):
    r"""InfoAT's regulariser :math:`\lambda H(p(x)) \|p(x_{adv}) - p(x)\|^2 - \beta H(p(x_{adv}))`.

    Added to the adversarial cross-entropy it is Eq. 17 of "InfoAT: Improving Adversarial Training
    Using the Information Bottleneck Principle" (https://arxiv.org/abs/2206.12292)::

        loss = F.cross_entropy(logits_adv, y) + InfoAT(lam=2.5, beta=0.2)(logits_nat, logits_adv)
        criterion = ATLoss() + InfoAT(2.5, 0.2)          # the same, as one loss term

    Args:
        lam: λ >= 0, weight of the entropy-weighted distance (paper: 2.5).
        beta: β >= 0, weight of the adversarial entropy bonus (paper: 0.2).
        divergence: "mse" (the paper) | "js" | "kl" | "ce" (the paper's ablation).
        weight: "entropy" (the paper) | "none" | "1-p_y" (ablation; "1-p_y" needs ``y``).
        detach_weight: treat H(p(x)) as a constant. Default False: the paper does not say, and the
            MART code InfoAT builds on does not detach its weight.
        normalize_entropy: divide entropies by log K (only rescales λ and β).
        entropy_term: "-adv" (the paper, ``- beta H(p(x_adv))``) | "+adv" | "-nat" | "+nat" | "none"
            (the regulariser ablation of Fig. 3d; see :func:`mireg.functional.infoat_term`).
        reduction: "mean" | "sum" | "none".

    Shapes: ``term(logits_nat (B, K), logits_adv (B, K))`` -> scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch, mireg
        >>> criterion = mireg.ATLoss() + mireg.InfoAT(lam=2.5, beta=0.2)  # Eq. 17
        >>> nat, adv, y = torch.randn(4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
        >>> criterion(nat, adv, y).shape, sorted(criterion.components)
        (torch.Size([]), ['ATLoss', 'InfoAT'])
    """

    def __init__(self, lam: float = 2.5, beta: float = 0.2, *, divergence: str = "mse", weight: str = "entropy",
                 detach_weight: bool = False, normalize_entropy: bool = False, entropy_term: str = "-adv",
                 reduction: str = "mean") -> None:
        super().__init__()
        self.lam = check_number("lam", lam, low=0)
        self.beta = check_number("beta", beta, low=0)
        self.divergence = check_choice("divergence", divergence, DIVERGENCES)
        self.weight = check_choice("weight", weight, WEIGHTS)
        self.detach_weight = bool(detach_weight)
        self.normalize_entropy = bool(normalize_entropy)
        self.entropy_term = check_choice("entropy_term", entropy_term, ENTROPY_TERMS)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(self, logits_nat, logits_adv, y=None, *, x=None, x_adv=None):
        return infoat_term(logits_nat, logits_adv, self.lam, self.beta, y=y, divergence=self.divergence,
                           weight=self.weight, detach_weight=self.detach_weight,
                           normalize_entropy=self.normalize_entropy, entropy_term=self.entropy_term,
                           reduction=self.reduction)

    def extra_repr(self) -> str:
        return (f"lam={self.lam}, beta={self.beta}, divergence={self.divergence!r}, weight={self.weight!r}, "
                f"detach_weight={self.detach_weight}, normalize_entropy={self.normalize_entropy}, "
                f"entropy_term={self.entropy_term!r}")


class EntropyWeightedMSEReg(LossTerm):
    r""":math:`\lambda H(p(x)) \|p(x_{adv}) - p(x)\|_2^2`: InfoAT's Eq. 16 distance weighted as in Eq. 17,
    without the entropy bonus. Add it to any loss (e.g. ``TRADESLoss() + EntropyWeightedMSEReg(1.0)``).

    Args:
        lam: λ >= 0.
        detach_weight: treat H(p(x)) as a constant (stop-gradient).
        normalize_entropy: divide the entropy by log K.
        reduction: "mean" | "sum" | "none".

    Examples:
        >>> import torch, mireg
        >>> criterion = mireg.TRADESLoss() + mireg.EntropyWeightedMSEReg(1.0)
        >>> nat, adv, y = torch.randn(4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
        >>> criterion(nat, adv, y).shape
        torch.Size([])
    """

    def __init__(self, lam: float = 2.5, *, detach_weight: bool = False, normalize_entropy: bool = False,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.lam = check_number("lam", lam, low=0)
        self.detach_weight = bool(detach_weight)
        self.normalize_entropy = bool(normalize_entropy)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(self, logits_nat, logits_adv, y=None, *, x=None, x_adv=None):
        return self.lam * weighted_divergence(logits_nat, logits_adv, detach_weight=self.detach_weight,
                                              normalize_entropy=self.normalize_entropy, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"lam={self.lam}, detach_weight={self.detach_weight}"
