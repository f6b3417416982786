"""Argument checks shared by every public function: clear errors instead of deep torch tracebacks.

Shape and dtype checks are free. Value checks (NaN/inf, the [0, 1] image range) read the tensor and
so synchronise a CUDA device; they run once per public call, never inside an attack's step loop,
and can be switched off for speed with :func:`set_value_checks`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextlib import contextmanager

import torch

_VALUE_CHECKS = True


def set_value_checks(enabled: bool) -> None:
    """Turn the NaN/inf and [0, 1]-range checks on or off globally (on by default)."""
    global _VALUE_CHECKS
    _VALUE_CHECKS = bool(enabled)


@contextmanager
def value_checks(enabled: bool):
    """Context manager form of :func:`set_value_checks`."""
    previous = _VALUE_CHECKS
    set_value_checks(enabled)
    try:
        yield
    finally:
        set_value_checks(previous)


def check_tensor(name: str, value: object, *, floating: bool = True, ndim: int | None = None,
                 min_ndim: int | None = None) -> torch.Tensor:
    """A tensor of floating dtype (when ``floating``) with the given number of dimensions."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if ndim is not None and value.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if min_ndim is not None and value.dim() < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {tuple(value.shape)}")
    return value


def check_finite(name: str, value: torch.Tensor) -> torch.Tensor:
    if _VALUE_CHECKS and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or inf values")
    return value


def check_logits(name: str, logits: object, *, batch: int | None = None) -> torch.Tensor:
    """(B, K) floating logits with K >= 2, finite, and B == ``batch`` when given."""
    logits = check_tensor(name, logits, ndim=2)
    if logits.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 classes (shape (B, K), K >= 2), got {tuple(logits.shape)}")
    if logits.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(logits.shape)})")
    if batch is not None and logits.shape[0] != batch:
        raise ValueError(f"{name} has batch size {logits.shape[0]}, expected {batch}")
    return check_finite(name, logits)


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def check_labels(name: str, labels: object, *, batch: int, num_classes: int | None = None) -> torch.Tensor:
    """(B,) integer class labels in [0, num_classes)."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer class indices, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class indices (e.g. torch.long), got dtype {labels.dtype}")
    if labels.dim() != 1 or labels.shape[0] != batch:
        raise ValueError(f"{name} must have shape ({batch},) to match the batch, got {tuple(labels.shape)}")
    if _VALUE_CHECKS and num_classes is not None and labels.numel() > 0:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise ValueError(f"{name} must lie in [0, {num_classes - 1}], got values in [{low}, {high}]")
    return labels


def check_images(name: str, images: object, *, tol: float = 1e-6) -> torch.Tensor:
    """A floating (B, ...) batch with values in [0, 1] (normalization belongs inside the model)."""
    images = check_tensor(name, images, min_ndim=2)
    if images.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(images.shape)})")
    if _VALUE_CHECKS and images.numel() > 0:
        low, high = float(images.min()), float(images.max())
        if math.isnan(low) or math.isnan(high) or low < -tol or high > 1 + tol:
            raise ValueError(
                f"{name} must be in [0, 1], got values in [{low:.4g}, {high:.4g}]; "
                "feed un-normalized images and put the normalization inside the model "
                "(e.g. mireg.models.Normalized(model, mean, std))"
            )
    return images


def check_number(name: str, value: object, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, integer: bool = False) -> float:
    """A real number (an int when ``integer``) in [low, high] (or (low, high] when ``low_open``)."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an int" if integer else "a number"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value  # type: ignore[return-value]
