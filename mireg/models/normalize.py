"""Normalization inside the model: any ``nn.Module`` becomes a model of [0, 1] images.

RobustBench and torchattacks expect models that take raw [0, 1] pixels (the threat model's eps is
measured there) and return logits; the per-channel standardisation ``(x - mean) / std`` therefore
belongs inside the model, as in ``robustbench...normalize_model``. :class:`Normalized` stores mean
and std as (persistent) buffers, so they travel with ``state_dict`` checkpoints and ``.to(device)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _stats(name: str, value: Sequence[float] | torch.Tensor | None, fill: float, channels: int | None
           ) -> torch.Tensor:
    if value is None:
        if channels is None:
            raise ValueError(f"{name} is None and the number of channels is unknown; pass {name} or in_channels")
        return torch.full((channels,), fill, dtype=torch.float32, device="cpu")
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu", torch.float32).flatten()
    elif isinstance(value, Sequence) and not isinstance(value, str) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        t = torch.tensor([float(v) for v in value], dtype=torch.float32, device="cpu")
    else:
        raise TypeError(f"{name} must be a sequence of numbers or a tensor, got {value!r}")
    if t.numel() == 0 or not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be non-empty and finite, got {value!r}")
    if channels is not None and t.numel() not in (1, channels):
        raise ValueError(f"{name} must have 1 or in_channels={channels} values, got {t.numel()}")
    return t


class Normalized(nn.Module):
    """``Normalized(model, mean, std)(x) == model((x - mean) / std)`` for x in [0, 1], (N, C, H, W) (or (N, C, ...)).

    Args:
        model: any module mapping normalised images to logits (N, K).
        mean: per-channel means (C values, or 1 broadcast to every channel); None: 0.
        std: per-channel standard deviations, positive (C values or 1); None: 1.
        in_channels: the number of channels C (needed only when both mean and std are None).

    ``.model`` is the wrapped module; ``.mean`` and ``.std`` are (1, C, 1, 1) buffers.

    Examples:
        >>> import torch
        >>> from mireg.models import Normalized
        >>> model = Normalized(torch.nn.Identity(), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
        >>> model(torch.full((1, 3, 1, 1), 0.75)).flatten()  # (0.75 - 0.5) / 0.25
        tensor([1., 1., 1.])
    """

    def __init__(self, model: nn.Module, mean: Sequence[float] | torch.Tensor | None = None,
                 std: Sequence[float] | torch.Tensor | None = None, *, in_channels: int | None = None) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if mean is not None and in_channels is None:
            in_channels = len(mean) if not isinstance(mean, torch.Tensor) else mean.numel()
        if std is not None and in_channels is None:
            in_channels = len(std) if not isinstance(std, torch.Tensor) else std.numel()
        mean_t = _stats("mean", mean, 0.0, in_channels)
        std_t = _stats("std", std, 1.0, in_channels)
        if not bool((std_t > 0).all()):
            raise ValueError(f"std must be positive, got {std_t.tolist()}")
        channels = max(mean_t.numel(), std_t.numel())
        self.model = model
        self.register_buffer("mean", mean_t.expand(channels).clone().view(1, channels, 1, 1))
        self.register_buffer("std", std_t.expand(channels).clone().view(1, channels, 1, 1))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` over dimension 1 (memory format of ``x`` kept); x is (N, C, ...)."""
        channels = self.mean.shape[1]
        if x.dim() < 2 or x.shape[1] != channels:
            raise ValueError(f"x must have shape (N, {channels}, H, W), got {tuple(x.shape)}")
        if x.dim() == 4:
            return (x - self.mean) / self.std
        shape = (1, channels) + (1,) * (x.dim() - 2)
        return (x - self.mean.view(shape)) / self.std.view(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, D) of the wrapped model, when it has ``forward_features``."""
        if not hasattr(self.model, "forward_features"):
            raise AttributeError(f"{type(self.model).__name__} has no forward_features method")
        return self.model.forward_features(self.normalize(x))

    def extra_repr(self) -> str:
        mean = [round(v, 4) for v in self.mean.flatten().tolist()]
        std = [round(v, 4) for v in self.std.flatten().tolist()]
        return f"mean={mean}, std={std}"
