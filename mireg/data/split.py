"""Held-out validation splits for honest model selection (never select on the test set)."""

from __future__ import annotations

import torch

from mireg._validation import check_number
from mireg.data.base import ImageTensors


def _validation_count(n_val: object, n: int) -> int:
    if isinstance(n_val, float) and not isinstance(n_val, bool):
        check_number("n_val", n_val, low=0.0, high=1.0, low_open=True)
        if n_val == 1.0:
            raise ValueError("n_val as a fraction must be < 1 (some training examples must remain)")
        count = round(n_val * n)
    else:
        count = check_number("n_val", n_val, low=1, integer=True)
    if not 1 <= count < n:
        raise ValueError(f"n_val must leave both splits non-empty: got {n_val!r} for {n} examples")
    return int(count)


def split_validation(data: ImageTensors, n_val: int | float, seed: int = 0, *,
                     stratified: bool = True) -> tuple[ImageTensors, ImageTensors]:
    """Split ``data`` into (train, val) deterministically.

    Args:
        data: the training split.
        n_val: validation size, a count (int >= 1) or a fraction of ``len(data)`` (float in (0, 1)).
        seed: seed of the CPU generator that draws the choice.
        stratified: class-stratified (default): class ``c`` with ``n_c`` examples gives
            ``round(n_val * n_c / N)`` of them, rounded by largest remainder so the counts sum to
            ``n_val``; the chosen ones are the first of a seeded random permutation within each class.
            ``False``: the first ``n_val`` of one seeded permutation of all examples.

    Both parts keep the original order of ``data`` and together hold every example exactly once.

    Returns:
        ``(train, val)`` as :class:`~mireg.data.ImageTensors`.

    Examples:
        >>> # needs: sklearn (the bundled digits)
        >>> from mireg.data import load_dataset, split_validation
        >>> train, val = split_validation(load_dataset("digits"), n_val=200, seed=0)
        >>> len(train), len(val)
        (1097, 200)
    """
    if not isinstance(data, ImageTensors):
        raise TypeError(f"data must be an ImageTensors, got {type(data).__name__}")
    n = len(data)
    count = _validation_count(n_val, n)
    check_number("seed", seed, low=0, integer=True)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    labels = data.y.cpu()
    if stratified:
        counts = torch.bincount(labels, minlength=data.num_classes).to(torch.float64)
        quota = counts * count / n
        take = quota.floor().long()
        short = count - int(take.sum())
        if short > 0:  # largest remainder; ties broken by class index
            order = torch.argsort(quota - take, descending=True, stable=True)
            take[order[:short]] += 1
        permuted_labels = labels[perm]
        chosen = []
        for c in range(len(counts)):
            if take[c] > 0:
                chosen.append(perm[permuted_labels == c][: int(take[c])])
        val_idx = torch.cat(chosen)
    else:
        val_idx = perm[:count]
    mask = torch.zeros(n, dtype=torch.bool)
    mask[val_idx] = True
    mask = mask.to(data.y.device)
    return data[~mask], data[mask]
