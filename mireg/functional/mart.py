"""MART (Wang et al., ICLR 2020) and InfoAT's MART+ (MART with the weight H(p(x)))."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mireg._validation import check_choice, check_number
from mireg.functional._common import check_pair, reduce
from mireg.functional.entropy import _entropy

# The reference code's numerical constants (YisenWang/MART, mart.py).
_BOOST_ONE = 1.0001
_LOG_EPS = 1e-12
_WEIGHT_ONE = 1.0000001


def mart_loss(logits_nat: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float = 6.0, *,
              weight: str = "1-p_y", detach_weight: bool = False, normalize_entropy: bool = False,
              reduction: str = "mean") -> torch.Tensor:
    r"""MART, Eq. 8 of Wang et al.: boosted CE plus the weighted KL, with the reference constants.

    Per sample, with :math:`p = softmax(z)`, :math:`q = softmax(z')` and :math:`\hat y` the most likely
    wrong class under q (the second of the top two when the first is y):

    .. math::
        BCE = -\log q_y - \log(1.0001 - q_{\hat y} + 10^{-12}),\qquad
        KL = \sum_k p_k (\log p_k - \log(q_k + 10^{-12})),

    loss :math:`= BCE + \beta \cdot KL \cdot w`, with :math:`w = 1.0000001 - p_y` (MART) or, for
    ``weight="entropy"``, :math:`w = H(p)` (MART+, InfoAT §IV). The weight is not detached unless
    ``detach_weight`` (the reference does not detach it).

    Args:
        logits_nat: (B, K) logits on natural inputs.
        logits_adv: (B, K) logits on adversarial inputs.
        y: (B,) labels.
        beta: β >= 0 (reference: 5.0 for ResNet-18, 6.0 for WRN-34-10 and the function default).
        weight: "1-p_y" (MART) or "entropy" (MART+).
        detach_weight: treat the weight as a constant (stop-gradient).
        normalize_entropy: divide the entropy weight by log K (``weight="entropy"`` only).
        reduction: "mean" | "sum" | "none".

    Returns:
        The loss: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import mart_loss
        >>> nat, adv, y = torch.randn(4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
        >>> mart_loss(nat, adv, y, beta=6.0, reduction="none").shape
        torch.Size([4])
    """
    y = check_pair(logits_nat, logits_adv, y, needs_labels=True, reduction=reduction)
    check_number("beta", beta, low=0)
    check_choice("weight", weight, ("1-p_y", "entropy"))
    probs_adv = F.softmax(logits_adv, dim=1)
    top2 = probs_adv.topk(2, dim=1).indices
    wrong = torch.where(top2[:, 0] == y, top2[:, 1], top2[:, 0])
    boosted_ce = F.cross_entropy(logits_adv, y, reduction="none") - torch.log(
        _BOOST_ONE - probs_adv.gather(1, wrong.unsqueeze(1)).squeeze(1) + _LOG_EPS)
    log_p = F.log_softmax(logits_nat, dim=1)
    p = log_p.exp()
    kl = (p * (log_p - torch.log(probs_adv + _LOG_EPS))).sum(dim=1)
    if weight == "1-p_y":
        w = _WEIGHT_ONE - p.gather(1, y.unsqueeze(1)).squeeze(1)
    else:
        w = _entropy(logits_nat, normalize_entropy)
    if detach_weight:
        w = w.detach()
    return reduce(boosted_ce + beta * kl * w, reduction)


def mart_plus_loss(logits_nat: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float = 6.0, *,
                   detach_weight: bool = False, normalize_entropy: bool = False,
                   reduction: str = "mean") -> torch.Tensor:
    """MART+ (InfoAT paper): :func:`mart_loss` with the KL weighted by H(p(x)) instead of 1 - p_y.

    Args:
        logits_nat: (B, K) logits on natural inputs.
        logits_adv: (B, K) logits on adversarial inputs.
        y: (B,) labels.
        beta: β >= 0 of the entropy-weighted KL.
        detach_weight: treat the entropy weight as a constant (stop-gradient).
        normalize_entropy: divide the entropy by log K.
        reduction: "mean" | "sum" | "none".

    Returns:
        The loss: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import mart_plus_loss
        >>> nat, adv, y = torch.randn(4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
        >>> mart_plus_loss(nat, adv, y).shape
        torch.Size([])
    """
    return mart_loss(logits_nat, logits_adv, y, beta, weight="entropy", detach_weight=detach_weight,
                     normalize_entropy=normalize_entropy, reduction=reduction)
