"""How NAMID (Zhou et al., ICML 2022, arXiv:2207.12203) summarises per-sample MI estimates in its
figures: offset so that the worst case equals 0, then averaged over all samples.

The paper, Appendix B (Fig. 2): "We offset the estimated MI so that the worst-case of the estimated
MI equals 0, and then calculate the average of all samples for I(x, h(x)), I(x~, h(x~)) and
I(x, h(x~)) respectively." Sec. 4.2 (Fig. 4): "For the natural MI, we offset the estimated MI so that
the worst-case of the natural MI equals 0, and calculate the average of all samples. Similarly, we
offset the estimated MI so that the worst-case of the adversarial MI equals 0."
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from mireg._validation import check_finite, check_tensor

__all__ = ["worst_case_offset_means"]


def worst_case_offset_means(scores: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Means of per-sample MI estimates after one common offset that puts the worst case at 0.

    The offset is the smallest value over *all* the given estimates (the worst case of the quantity
    the figure compares, e.g. the natural MI of natural and of adversarial samples), so the ordering
    and the differences of the means are those of the raw means: ``mean_k - min over all``.

    Args:
        scores: name -> (N_k,) per-sample estimates of one estimator (all samples, not a selection).

    Returns:
        name -> 0-d tensor, the offset mean of that set (>= 0; 0 only if the whole set is the worst case).

    Examples:
        >>> import torch
        >>> from mireg.functional import worst_case_offset_means
        >>> worst_case_offset_means({"natural": torch.tensor([1.0, 3.0]), "adversarial": torch.tensor([-1.0, 1.0])})
        {'natural': tensor(3.), 'adversarial': tensor(1.)}
    """
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("scores must be a non-empty mapping name -> (N,) tensor of per-sample MI estimates")
    for name, values in scores.items():
        check_tensor(f"scores[{name!r}]", values, ndim=1)
        if values.numel() == 0:
            raise ValueError(f"scores[{name!r}] is empty")
        check_finite(f"scores[{name!r}]", values)
    worst = torch.stack([values.min() for values in scores.values()]).min()
    return {name: (values - worst).mean() for name, values in scores.items()}
