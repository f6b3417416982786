"""TRADES (Zhang et al., ICML 2019, arXiv:1901.08573), as in the reference ``trades_loss``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mireg._validation import check_number
from mireg.functional._common import check_pair, reduce
from mireg.functional.divergence import _divergence


def trades_loss(logits_nat: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float = 6.0,
                *, reduction: str = "mean") -> torch.Tensor:
    r"""TRADES, Eq. 5 of the paper: :math:`CE(p(x), y) + \beta \, KL(p(x) \,\|\, p(x_{adv}))`.

    With ``reduction="mean"`` the KL is the reference code's ``KLDivLoss(reduction="sum") / B``
    (batchmean). Gradient flows through both branches (the KL target is not detached), as in the
    reference.

    Args:
        logits_nat: (B, K) logits on natural inputs.
        logits_adv: (B, K) logits on adversarial inputs.
        y: (B,) labels.
        beta: β >= 0 (reference CIFAR script: 6.0).
        reduction: "mean" | "sum" | "none".

    Returns:
        The loss: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import trades_loss
        >>> logits, y = torch.zeros(2, 10), torch.tensor([3, 7])
        >>> trades_loss(logits, logits, y, beta=6.0)  # no KL between equal outputs: CE = log 10
        tensor(2.3026)
    """
    y = check_pair(logits_nat, logits_adv, y, needs_labels=True, reduction=reduction)
    check_number("beta", beta, low=0)
    values = F.cross_entropy(logits_nat, y, reduction="none") + beta * _divergence(logits_nat, logits_adv, "kl")
    return reduce(values, reduction)
