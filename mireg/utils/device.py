"""Devices: where a model lives, and what a device string means.

- :func:`model_device`: the device of a model's first parameter (or buffer); CPU for a model without
  tensors.
- :func:`resolve_device`: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
  ``"cuda:N"`` or a ``torch.device`` -> a ``torch.device``, with a clear ``ValueError`` for anything
  else or for CUDA on a machine without it.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["model_device", "resolve_device"]


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (``cpu`` when it has none).

    Args:
        model: the module.

    Returns:
        Its device.

    Examples:
        >>> import torch
        >>> from mireg.utils.device import model_device
        >>> model_device(torch.nn.Linear(2, 2)), model_device(torch.nn.ReLU())
        (device(type='cpu'), device(type='cpu'))
    """
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def resolve_device(device: str | torch.device, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:<local_rank>`` when CUDA is available, else ``cpu``; ``"cuda"`` ->
    ``cuda:<local_rank>``; ``"cpu"``, ``"cuda:N"`` and ``torch.device`` objects as they are.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.
        local_rank: the process's GPU under DDP.

    Returns:
        The ``torch.device``.

    Raises:
        ValueError: not a device string, or a CUDA device asked for on a machine without CUDA.

    Examples:
        >>> from mireg.utils.device import resolve_device
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(device, str) and device == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} asked for, but CUDA is not available")
        if resolved.index is None:
            resolved = torch.device(f"cuda:{local_rank}")
    return resolved
