"""Seeded blocks that leave the caller's random state untouched.

Inside ``with seeded(seed, device):`` torch's global generators run from ``torch.manual_seed(seed)``;
afterwards the CPU generator and the CUDA generator of ``device`` (and of the current CUDA device,
when CUDA is in use) are back where they were (``torch.random.fork_rng``). A seeded evaluation or
estimator fit is thus reproducible and does not shift the random stream of the training around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["draw_seed", "seeded"]


def _cuda_indices(device: torch.device | str | None) -> list[int]:
    indices = set()
    if device is not None:
        device = torch.device(device)
        if device.type == "cuda":
            indices.add(device.index if device.index is not None else torch.cuda.current_device())
    if torch.cuda.is_initialized():
        indices.add(torch.cuda.current_device())
    return sorted(indices)


@contextmanager
def seeded(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    """Run the block under ``torch.manual_seed(seed)``; restore the caller's CPU and CUDA RNG after.

    Example::

        with seeded(0, x.device):
            x_adv = attack(x, y)      # the same random start on every call
    """
    with torch.random.fork_rng(devices=_cuda_indices(device)):
        torch.manual_seed(seed)
        yield


def draw_seed() -> int:
    """One draw from the caller's CPU generator, as a Python int in ``[0, 2**62)``: the seed of a
    :func:`seeded` block that must be fresh on every call and yet follow ``torch.manual_seed``.

    It reads a CPU tensor, never a CUDA one, so it never waits for the GPU.

    Example::

        torch.manual_seed(0)
        with seeded(draw_seed(), x.device):
            x_adv = attack(x, y)      # a new random start per call, the same run after run
    """
    return int(torch.randint(0, 2**62, (), dtype=torch.int64))
