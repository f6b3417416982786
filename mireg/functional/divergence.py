"""Weighted divergences between natural and adversarial outputs (InfoAT Eq. 16 and its ablations).

InfoAT (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292) regularises the distance between the
softmax outputs on natural and adversarial inputs, weighted per sample by the entropy of the
natural output (Eq. 16, weighted as in Eq. 17). The paper's ablations swap the divergence
(MSE, JS, KL, CE) and the weight (entropy, none, MART's 1 - p_y); they are options here, not copies.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mireg._validation import check_choice
from mireg.functional._common import check_pair, check_single, reduce
from mireg.functional.entropy import _entropy

DIVERGENCES = ("mse", "js", "kl", "ce")
WEIGHTS = ("entropy", "none", "1-p_y")


def divergence(logits_nat: torch.Tensor, logits_adv: torch.Tensor, *, kind: str = "mse",
               reduction: str = "mean") -> torch.Tensor:
    r"""Per-sample divergence between ``p = softmax(logits_nat)`` and ``q = softmax(logits_adv)``.

    - ``"mse"``: :math:`\|q - p\|_2^2 = \sum_k (q_k - p_k)^2` (InfoAT Eq. 16, squared, on probabilities);
    - ``"kl"``: :math:`KL(p \| q) = \sum_k p_k (\log p_k - \log q_k)` (TRADES' direction);
    - ``"js"``: :math:`\tfrac12 KL(p \| m) + \tfrac12 KL(q \| m)`, :math:`m = (p + q)/2`;
    - ``"ce"``: :math:`-\sum_k p_k \log q_k` (cross-entropy of q against the natural output).

    Logs are log-softmaxes, so the result and its gradient stay finite for any logits.

    Args:
        logits_nat: (B, K) logits on natural inputs.
        logits_adv: (B, K) logits on adversarial inputs.
        kind: one of "mse", "js", "kl", "ce".
        reduction: "mean" | "sum" | "none".

    Returns:
        The divergence: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import divergence
        >>> logits = torch.randn(4, 10)
        >>> divergence(logits, logits, kind="js", reduction="none")  # equal outputs: 0
        tensor([0., 0., 0., 0.])
    """
    check_pair(logits_nat, logits_adv, reduction=reduction)
    check_choice("kind", kind, DIVERGENCES)
    return reduce(_divergence(logits_nat, logits_adv, kind), reduction)


def _divergence(logits_nat: torch.Tensor, logits_adv: torch.Tensor, kind: str) -> torch.Tensor:
    log_p, log_q = F.log_softmax(logits_nat, dim=1), F.log_softmax(logits_adv, dim=1)
    p, q = log_p.exp(), log_q.exp()
    if kind == "mse":
        return (q - p).pow(2).sum(dim=1)
    if kind == "kl":
        return (p * (log_p - log_q)).sum(dim=1)
    if kind == "ce":
        return -(p * log_q).sum(dim=1)
    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
    return 0.5 * (p * (log_p - log_m)).sum(dim=1) + 0.5 * (q * (log_q - log_m)).sum(dim=1)


def sample_weight(logits_nat: torch.Tensor, y: torch.Tensor | None = None, *, kind: str = "entropy",
                  detach: bool = False, normalize_entropy: bool = False) -> torch.Tensor:
    """Per-sample weight (B,): the natural output's entropy H(p(x)) (InfoAT), 1 (none), or 1 - p_y(x)
    (MART's weight; needs ``y``).

    Args:
        logits_nat: (B, K) logits on natural inputs.
        y: (B,) labels, needed only for ``kind="1-p_y"``.
        kind: "entropy" | "none" | "1-p_y".
        detach: make the weight a constant for the gradient.
        normalize_entropy: divide the entropy by log K.

    Returns:
        The weights, shape (B,).

    Examples:
        >>> import torch
        >>> from mireg.functional import sample_weight
        >>> sample_weight(torch.zeros(2, 10), torch.tensor([0, 1]), kind="1-p_y")
        tensor([0.9000, 0.9000])
    """
    check_choice("kind", kind, WEIGHTS)
    y = check_single("logits_nat", logits_nat, y)
    if kind == "1-p_y" and y is None:
        raise ValueError("kind='1-p_y' needs the labels y")
    return _sample_weight(logits_nat, y, kind, detach, normalize_entropy)


def _sample_weight(logits_nat, y, kind, detach, normalize_entropy):
    if kind == "entropy":
        weight = _entropy(logits_nat, normalize_entropy)
    elif kind == "none":
        weight = torch.ones(logits_nat.shape[0], dtype=logits_nat.dtype, device=logits_nat.device)
    else:
        weight = 1.0 - F.softmax(logits_nat, dim=1).gather(1, y.unsqueeze(1)).squeeze(1)
    return weight.detach() if detach else weight


def weighted_divergence(logits_nat: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor | None = None,
                        *, divergence: str = "mse", weight: str = "entropy", detach_weight: bool = False,
                        normalize_entropy: bool = False, reduction: str = "mean") -> torch.Tensor:
    r"""``w(x) * D(p(x), p(x_adv))`` per sample: InfoAT's regulariser and its ablation variants.

    With the defaults it is :math:`H(p(x)) \cdot \|p(x_{adv}) - p(x)\|_2^2` (Eq. 16 weighted as in Eq. 17).

    Args:
        logits_nat: (B, K) logits on natural inputs.
        logits_adv: (B, K) logits on adversarial inputs.
        y: (B,) labels, needed only for ``weight="1-p_y"``.
        divergence: "mse" | "js" | "kl" | "ce" (see :func:`divergence`).
        weight: "entropy" | "none" | "1-p_y" (see :func:`sample_weight`).
        detach_weight: treat the weight as a constant (stop-gradient).
        normalize_entropy: divide the entropy weight by log K.
        reduction: "mean" | "sum" | "none".

    Returns:
        The weighted divergence: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import weighted_divergence
        >>> nat, adv = torch.randn(4, 10), torch.randn(4, 10)
        >>> weighted_divergence(nat, adv, divergence="kl", weight="none").shape
        torch.Size([])
    """
    y = check_pair(logits_nat, logits_adv, y, needs_labels=weight == "1-p_y", reduction=reduction)
    check_choice("divergence", divergence, DIVERGENCES)
    check_choice("weight", weight, WEIGHTS)
    values = _weighted_divergence(logits_nat, logits_adv, y, divergence, weight, detach_weight, normalize_entropy)
    return reduce(values, reduction)


def _weighted_divergence(logits_nat, logits_adv, y, divergence, weight, detach_weight, normalize_entropy):
    w = _sample_weight(logits_nat, y, weight, detach_weight, normalize_entropy)
    return w * _divergence(logits_nat, logits_adv, divergence)


def entropy_weighted_mse(logits_nat: torch.Tensor, logits_adv: torch.Tensor, *, detach_weight: bool = False,
                         normalize_entropy: bool = False, reduction: str = "mean") -> torch.Tensor:
    r""":math:`H(p(x)) \cdot \|p(x_{adv}) - p(x)\|_2^2` (InfoAT Eq. 16, weighted as in Eq. 17).

    Args:
        logits_nat: (B, K) logits on natural inputs.
        logits_adv: (B, K) logits on adversarial inputs.
        detach_weight: treat the entropy weight as a constant (stop-gradient).
        normalize_entropy: divide the entropy by log K.
        reduction: "mean" | "sum" | "none".

    Returns:
        A scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import entropy_weighted_mse
        >>> nat, adv = torch.randn(4, 10), torch.randn(4, 10)
        >>> entropy_weighted_mse(nat, adv).shape
        torch.Size([])
    """
    return weighted_divergence(logits_nat, logits_adv, detach_weight=detach_weight,
                               normalize_entropy=normalize_entropy, reduction=reduction)
