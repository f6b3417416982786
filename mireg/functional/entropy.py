"""Shannon entropy of a classifier's softmax output (InfoAT, Xu et al. 2022, Eq. 16-17)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mireg.functional._common import check_single, reduce


def entropy(logits: torch.Tensor, *, normalize: bool = False, reduction: str = "mean") -> torch.Tensor:
    r"""Entropy :math:`H(p) = -\sum_k p_k \log p_k` of ``p = softmax(logits)``, natural log.

    Computed as ``-(softmax(z) * log_softmax(z)).sum(1)``, finite for logits of any magnitude.
    With ``normalize=True`` it is divided by :math:`\log K`, so it lies in [0, 1].

    Args:
        logits: (B, K) logits, K >= 2.
        normalize: divide by log K.
        reduction: "mean" | "sum" | "none" (per-sample (B,)).

    Returns:
        The entropy: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import entropy
        >>> entropy(torch.zeros(1, 10), reduction="none")  # uniform: log 10
        tensor([2.3026])
    """
    check_single("logits", logits, reduction=reduction)
    return reduce(_entropy(logits, normalize), reduction)


def _entropy(logits: torch.Tensor, normalize: bool) -> torch.Tensor:
    values = -(F.softmax(logits, dim=1) * F.log_softmax(logits, dim=1)).sum(dim=1)
    return values / math.log(logits.shape[1]) if normalize else values
