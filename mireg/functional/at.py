"""Madry et al. adversarial training (ICLR 2018, arXiv:1706.06083): cross-entropy on x_adv."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mireg.functional._common import check_single, reduce


def at_loss(logits_adv: torch.Tensor, y: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    r"""Madry AT: :math:`CE(p(x_{adv}), y)` (min-max objective, Madry et al. Eq. 2.1).

    Args:
        logits_adv: (B, K) logits on the adversarial batch.
        y: (B,) labels.
        reduction: "mean" | "sum" | "none".

    Returns:
        The cross-entropy: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import at_loss
        >>> at_loss(torch.zeros(2, 10), torch.tensor([0, 1]))  # uniform output: log 10
        tensor(2.3026)
    """
    if y is None:
        raise ValueError("y (integer labels of shape (B,)) is required by this loss")
    y = check_single("logits_adv", logits_adv, y, reduction=reduction)
    return reduce(F.cross_entropy(logits_adv, y, reduction="none"), reduction)
