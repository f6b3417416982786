"""InfoAT's MINE ablation (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292, §IV-A, Eq. 19, Table I).

Eq. 19 is Eq. 17 with the per-sample entropy weight H(p(x)) replaced by the mutual information
I(x; z_l) between the input and the features z_l of layer #l (#1-#4), estimated by MINE on the batch:

.. math::

    \\lambda \\, \\hat I(x; z_l) \\, \\|p(x_{adv}) - p(x)\\|_2^2 - \\beta H(p(x_{adv}))

added to CE(p(x_adv), y). This module is the math with the MI weight given from outside; the MINE
network, the tapped layer and their co-training live in :class:`mireg.losses.InfoATMINE`.
"""

from __future__ import annotations

import torch

from mireg._validation import check_choice, check_finite, check_number, check_tensor
from mireg.functional._common import check_pair, reduce
from mireg.functional.divergence import DIVERGENCES, _divergence
from mireg.functional.entropy import _entropy

__all__ = ["mi_weighted_term"]


def mi_weighted_term(logits_nat: torch.Tensor, logits_adv: torch.Tensor, mi: torch.Tensor | float,
                     lam: float = 2.5, beta: float = 0.2, *, divergence: str = "mse",
                     reduction: str = "mean") -> torch.Tensor:
    r"""InfoAT Eq. 19 without the cross-entropy: :math:`\lambda\, w\, D(p(x), p(x_{adv})) - \beta H(p(x_{adv}))`.

    Adding it to ``F.cross_entropy(logits_adv, y)`` gives Eq. 19; with ``w = H(p(x))`` per sample it
    is Eq. 17 (:func:`mireg.functional.infoat_term`).

    Args:
        logits_nat: (B, K) logits on natural inputs.
        logits_adv: (B, K) logits on adversarial inputs.
        mi: the weight ``w``: the batch MI estimate (a number or a 0-d tensor, the same for every
            sample, as in Eq. 19) or a (B,) tensor of per-sample weights. Used as given: its gradient,
            if it has one, flows; clamping a negative estimate is the caller's choice.
        lam: λ >= 0 (paper: 2.5).
        beta: β >= 0 of the adversarial entropy (paper: 0.2).
        divergence: "mse" (the paper's squared L2 on probabilities) | "js" | "kl" | "ce".
        reduction: "mean" | "sum" | "none".

    Returns:
        The term: a scalar, or (B,) with ``reduction="none"``.

    Examples:
        >>> import torch
        >>> from mireg.functional import mi_weighted_term
        >>> nat, adv = torch.randn(8, 10), torch.randn(8, 10)
        >>> # lam * 0.7 * mean ||p' - p||^2 - beta * mean H(p')
        >>> mi_weighted_term(nat, adv, torch.tensor(0.7)).shape
        torch.Size([])
    """
    check_pair(logits_nat, logits_adv, reduction=reduction)
    check_number("lam", lam, low=0)
    check_number("beta", beta, low=0)
    check_choice("divergence", divergence, DIVERGENCES)
    if not isinstance(mi, torch.Tensor):
        mi = torch.tensor(float(check_number("mi", mi)), dtype=logits_adv.dtype, device=logits_adv.device)
    check_tensor("mi", mi)
    if mi.dim() != 0 and tuple(mi.shape) != (logits_adv.shape[0],):
        raise ValueError(f"mi must be a scalar (the batch estimate) or of shape ({logits_adv.shape[0]},) "
                         f"(one weight per sample), got {tuple(mi.shape)}")
    check_finite("mi", mi)
    values = lam * mi * _divergence(logits_nat, logits_adv, divergence)
    if beta:
        values = values - beta * _entropy(logits_adv, False)
    return reduce(values, reduction)
