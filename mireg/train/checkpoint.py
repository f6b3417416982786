"""The random state of a training run, stored in its checkpoints so that a resumed run continues
exactly where the interrupted one stopped (the files themselves: :mod:`mireg.checkpoints`)."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["capture_rng", "restore_rng"]


def capture_rng(device: torch.device) -> dict[str, Any]:
    """The torch RNG states that the training stream consumes (CPU, and CUDA when used)."""
    rng: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def restore_rng(rng: dict[str, Any], device: torch.device) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(rng["cpu"])
    if device.type == "cuda" and "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"], device)
