"""Reductions and input checks shared by the functional losses."""

from __future__ import annotations

import torch

from mireg._validation import check_choice, check_labels, check_logits, check_same_shape

REDUCTIONS = ("mean", "sum", "none")


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce per-sample ``values`` (B,) by ``reduction`` in {"mean", "sum", "none"}."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def check_pair(logits_nat: object, logits_adv: object, y: object = None, *, needs_labels: bool = False,
               reduction: str = "mean") -> torch.Tensor | None:
    """Validate a (natural, adversarial) logits pair, labels when given, and the reduction; returns the
    labels as ``torch.long`` (any integer dtype is accepted), or None."""
    check_choice("reduction", reduction, REDUCTIONS)
    check_logits("logits_nat", logits_nat)
    check_logits("logits_adv", logits_adv)
    check_same_shape("logits_nat", logits_nat, "logits_adv", logits_adv)
    if needs_labels and y is None:
        raise ValueError("y (integer labels of shape (B,)) is required by this loss")
    if y is not None:
        return check_labels("y", y, batch=logits_adv.shape[0], num_classes=logits_adv.shape[1])
    return None


def check_single(name: str, logits: object, y: object = None, *, reduction: str = "mean") -> torch.Tensor | None:
    """Validate one logits batch, labels when given, and the reduction; returns the labels as long (or None)."""
    check_choice("reduction", reduction, REDUCTIONS)
    check_logits(name, logits)
    if y is not None:
        return check_labels("y", y, batch=logits.shape[0], num_classes=logits.shape[1])
    return None
