"""InfoAT's training objective (Eq. 17) and the InfoPGD attack objective (Eq. 18).

Xu, Zhang, Li and Zhang, "InfoAT: Improving Adversarial Training Using the Information Bottleneck
Principle", IEEE TNNLS 2022, arXiv:2206.12292. The paper ships no code; the choices it leaves open
are arguments with documented defaults (natural log entropy, squared L2 on softmax probabilities,
per-sample terms then the batch mean, weight not detached).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mireg._validation import check_choice, check_number
from mireg.functional._common import check_pair, reduce
from mireg.functional.divergence import DIVERGENCES, _weighted_divergence
from mireg.functional.entropy import _entropy

#: the entropy term of Eq. 17 and its ablations (InfoAT Fig. 3d): the sign with which beta * H enters
#: the loss, and whose output H is taken of; "-adv" is the paper's -beta H(p(x_adv)), "none" drops it.
ENTROPY_TERMS = ("-adv", "+adv", "-nat", "+nat", "none")


def infoat_term(logits_nat: torch.Tensor, logits_adv: torch.Tensor, lam: float = 2.5, beta: float = 0.2,
                *, y: torch.Tensor | None = None, divergence: str = "mse", weight: str = "entropy",
                detach_weight: bool = False, normalize_entropy: bool = False, entropy_term: str = "-adv",
                reduction: str = "mean") -> torch.Tensor:
    r"""InfoAT's regulariser: :math:`\lambda H(p(x)) \|p(x_{adv}) - p(x)\|^2 - \beta H(p(x_{adv}))`.

    Adding it to the adversarial cross-entropy gives Eq. 17 exactly::

        loss = F.cross_entropy(logits_adv, y) + infoat_term(logits_nat, logits_adv, lam, beta)

    Minimising ``-beta * H(p(x_adv))`` raises the entropy of the adversarial output.

    Args:
        logits_nat: (B, K) logits on natural inputs.
        logits_adv: (B, K) logits on adversarial inputs.
        lam: weight λ >= 0 of the entropy-weighted distance (paper: 2.5).
        beta: weight β >= 0 of the adversarial entropy (paper: 0.2).
        y: (B,) labels, needed only for ``weight="1-p_y"``.
        divergence: "mse" | "js" | "kl" | "ce" (ablation; see :func:`mireg.functional.weighted_divergence`).
        weight: "entropy" | "none" | "1-p_y" (ablation).
        detach_weight: treat the weight as a constant (ablation).
        normalize_entropy: divide both entropies by log K.
        entropy_term: the entropy term of the ablation of Fig. 3d, one of :data:`ENTROPY_TERMS`:
            ``"-adv"`` (Eq. 17: ``- beta H(p(x_adv))``), ``"+adv"`` (``+ beta H(p(x_adv))``),
            ``"-nat"`` / ``"+nat"`` (``-/+ beta H(p(x))``) or ``"none"`` (no entropy term).
        reduction: "mean" | "sum" | "none".

    Returns:
        The regulariser: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import infoat_term
        >>> nat, adv = torch.randn(4, 10), torch.randn(4, 10)
        >>> infoat_term(nat, adv, lam=2.5, beta=0.2, reduction="none").shape
        torch.Size([4])
    """
    y = check_pair(logits_nat, logits_adv, y, needs_labels=weight == "1-p_y", reduction=reduction)
    check_number("lam", lam, low=0)
    check_number("beta", beta, low=0)
    check_choice("divergence", divergence, DIVERGENCES)
    check_choice("entropy_term", entropy_term, ENTROPY_TERMS)
    values = _infoat_term(logits_nat, logits_adv, y, lam, beta, divergence, weight, detach_weight,
                          normalize_entropy, entropy_term)
    return reduce(values, reduction)


def _infoat_term(logits_nat, logits_adv, y, lam, beta, divergence, weight, detach_weight, normalize_entropy,
                 entropy_term="-adv"):
    values = lam * _weighted_divergence(logits_nat, logits_adv, y, divergence, weight, detach_weight,
                                        normalize_entropy)
    if beta and entropy_term != "none":
        sign = 1.0 if entropy_term[0] == "+" else -1.0
        source = logits_adv if entropy_term[1:] == "adv" else logits_nat
        values = values + sign * beta * _entropy(source, normalize_entropy)
    return values


def infoat_loss(logits_nat: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, lam: float = 2.5,
                beta: float = 0.2, *, divergence: str = "mse", weight: str = "entropy",
                detach_weight: bool = False, normalize_entropy: bool = False,
                reduction: str = "mean") -> torch.Tensor:
    r"""InfoAT objective, Eq. 17:
    :math:`CE(p(x_{adv}), y) + \lambda H(p(x)) \|p(x_{adv}) - p(x)\|^2 - \beta H(p(x_{adv}))`.

    With ``lam = beta = 0`` it is Madry AT (cross-entropy on the adversarial batch).

    Args:
        logits_nat: (B, K) logits on natural inputs.
        logits_adv: (B, K) logits on adversarial inputs.
        y: (B,) labels.
        lam: weight λ >= 0 of the entropy-weighted distance (paper: 2.5).
        beta: weight β >= 0 of the adversarial entropy (paper: 0.2).
        divergence: "mse" | "js" | "kl" | "ce" (ablation).
        weight: "entropy" | "none" | "1-p_y" (ablation).
        detach_weight: treat the weight as a constant (ablation).
        normalize_entropy: divide both entropies by log K.
        reduction: "mean" | "sum" | "none".

    Returns:
        The loss: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import infoat_loss
        >>> nat, adv, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
        >>> infoat_loss(nat, adv, y, lam=2.5, beta=0.2).shape
        torch.Size([])
    """
    y = check_pair(logits_nat, logits_adv, y, needs_labels=True, reduction=reduction)
    check_number("lam", lam, low=0)
    check_number("beta", beta, low=0)
    check_choice("divergence", divergence, DIVERGENCES)
    values = F.cross_entropy(logits_adv, y, reduction="none") + _infoat_term(
        logits_nat, logits_adv, y, lam, beta, divergence, weight, detach_weight, normalize_entropy)
    return reduce(values, reduction)


def infopgd_objective(logits_adv: torch.Tensor, y: torch.Tensor, logits_nat: torch.Tensor, lam: float = 2.5,
                      *, normalize_entropy: bool = False, reduction: str = "mean") -> torch.Tensor:
    r"""The InfoPGD attack objective, Eq. 18: :math:`CE(p(x'), y) + \lambda H(p(x)) \|p(x') - p(x)\|^2`.

    ``p(x)`` and ``H(p(x))`` come from ``logits_nat`` and are constants (no gradient reaches them):
    the attack maximises this over ``x'`` only.

    Args:
        logits_adv: (B, K) logits on the candidate x'.
        y: (B,) labels.
        logits_nat: (B, K) logits on the natural x (detached here).
        lam: λ >= 0; with 0 this is the cross-entropy of PGD.
        normalize_entropy: divide H(p(x)) by log K.
        reduction: "mean" | "sum" | "none".

    Returns:
        The objective the attack ascends: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import infopgd_objective
        >>> adv, y, nat = torch.randn(4, 10), torch.randint(0, 10, (4,)), torch.randn(4, 10)
        >>> infopgd_objective(adv, y, nat, lam=2.5, reduction="none").shape
        torch.Size([4])
    """
    y = check_pair(logits_nat, logits_adv, y, needs_labels=True, reduction=reduction)
    check_number("lam", lam, low=0)
    logits_nat = logits_nat.detach()
    probs_nat = F.softmax(logits_nat, dim=1)
    weight_nat = _entropy(logits_nat, normalize_entropy)
    return reduce(_infopgd_objective(logits_adv, y, probs_nat, weight_nat, lam), reduction)


def _infopgd_objective(logits_adv: torch.Tensor, y: torch.Tensor, probs_nat: torch.Tensor,
                       weight_nat: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-sample Eq. 18 from precomputed constants ``probs_nat`` (B, K) and ``weight_nat`` (B,)."""
    values = F.cross_entropy(logits_adv, y, reduction="none")
    if lam:
        distance = (F.softmax(logits_adv, dim=1) - probs_nat).pow(2).sum(dim=1)
        values = values + lam * weight_nat * distance
    return values
