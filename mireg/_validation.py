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
    """(B,) integer class labels in [0, num_classes), returned as ``torch.long``.

    Any integer dtype is accepted (int32, int16, uint8, ...) and converted, so callers use the
    returned tensor: ``y = check_labels("y", y, batch=n)``. With ``num_classes`` (the model's K) a label
    outside [0, K) is refused, -100 (cross-entropy's ``ignore_index``) included.
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer class indices, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class indices (e.g. torch.long), got dtype {labels.dtype}")
    if labels.dim() != 1 or labels.shape[0] != batch:
        raise ValueError(f"{name} must have shape ({batch},) to match the batch, got {tuple(labels.shape)}")
    labels = labels if labels.dtype == torch.long else labels.long()
    if _VALUE_CHECKS and num_classes is not None and labels.numel() > 0:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise ValueError(f"{name} must lie in [0, {num_classes - 1}] (the model has {num_classes} classes), "
                             f"got values in [{low}, {high}]")
    return labels


def check_model_output(output: object, *, batch: int | None = None, name: str = "model") -> torch.Tensor:
    """The logits a model returned: a floating tensor (N, K), N == ``batch`` when given.

    A model that returns a tuple, list or dict (e.g. ``(logits, features)``) is refused with the fix:
    :class:`mireg.models.LogitsOnly` keeps one item of its output. Free: no value is read (no sync).
    """
    if isinstance(output, (tuple, list, dict)):
        kind = f"a {type(output).__name__} of {len(output)} items"
        raise TypeError(f"{name} returned {kind}, but mireg needs a model whose forward returns the logits "
                        f"tensor (N, K) alone: wrap it as mireg.models.LogitsOnly({name}) to keep the first item "
                        f"(LogitsOnly({name}, index=i) for another)")
    if not isinstance(output, torch.Tensor) or not output.is_floating_point():
        got = f"dtype {output.dtype}" if isinstance(output, torch.Tensor) else type(output).__name__
        raise TypeError(f"{name} must return floating-point logits of shape (N, K), got {got}")
    if output.dim() != 2:
        raise ValueError(f"{name} must return logits of shape (N, K), got shape {tuple(output.shape)}")
    if batch is not None and output.shape[0] != batch:
        raise ValueError(f"{name} returned {output.shape[0]} rows of logits for a batch of {batch} images")
    return output


def check_eps(name: str, value: object, norm: str = "Linf", *, dim: int | None = None) -> float:
    """A perturbation radius (or step size) for images in [0, 1]: > 0 and no larger than the image cube allows.

    The rule per norm:

    - ``"Linf"``: 0 < eps <= 1. A radius of 1 already allows every image; a larger value is almost
      always in pixel units (``eps=8`` for 8/255), and the error says so.
    - ``"L2"``: 0 < eps, and eps <= sqrt(d) when the image size d = C*H*W is known: sqrt(d) is the
      diameter of [0, 1]^d, so a larger ball holds every image. L2 radii above 1 are common (0.5 on
      CIFAR-10, 3 on ImageNet), so without d only eps > 0 is required.
    - any other norm (e.g. ``"Wasserstein"``, in pixels of transport per unit mass): eps > 0.

    Returns ``float(value)``.
    """
    value = float(check_number(name, value))
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value:g}")
    if norm == "Linf" and value > 1:
        raise ValueError(f"{name}={value:g} is larger than 1: images are in [0, 1], did you mean {value:g}/255?")
    if norm == "L2" and dim is not None and value > math.sqrt(dim):
        raise ValueError(f"{name}={value:g} is larger than {math.sqrt(dim):.4g}, the L2 distance between the "
                         f"black and the white image of {dim} values in [0, 1]; did you mean {value:g}/255?")
    return value


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


def check_fractions(name: str, values: object) -> tuple[float, ...]:
    """A list or tuple of numbers in (0, 1), e.g. milestones as fractions of the epochs ``(0.4, 0.8)``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of fractions in (0, 1), e.g. (0.4, 0.8), got {values!r}")
    for value in values:
        check_number(f"{name}[]", value)
        if not 0 < value < 1:
            raise ValueError(f"{name} must hold fractions in (0, 1) (of the epochs), e.g. (0.4, 0.8), got {values!r}")
    return tuple(float(v) for v in values)
