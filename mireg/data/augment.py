"""Batched data augmentation on tensors: random crop with zero padding and horizontal flip.

Both run as two batched gathers on the batch's own device (no per-image Python loop, no PIL), on uint8 or
float images, and are exactly torchvision's ``RandomCrop(size, padding=p)`` (fill 0) followed by
``RandomHorizontalFlip()`` for given random draws:

    out[b, c, i, j] = pad(x)[b, c, oy_b + i, ox_b + (W - 1 - j if flip_b else j)],  0 <= oy_b, ox_b <= 2p

where ``pad(x)`` adds ``p`` zero rows/columns on every side, so an offset of ``p`` is the identity
crop and the content moves by at most ``p`` pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mireg._validation import check_number, check_tensor


def sample_crop_flip(n: int, padding: int = 4, generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``n`` crop offsets and flips: ``(oy, ox)`` long in [0, 2*padding], ``flip`` bool (p = 0.5).

    Args:
        n: the number of images.
        padding: zero padding on each side.
        generator: the CPU generator drawn from (None: torch's global one).

    Returns:
        ``(oy, ox, flip)``, each of shape (n,).

    Examples:
        >>> from mireg.data import sample_crop_flip
        >>> oy, ox, flip = sample_crop_flip(8, padding=4)
        >>> oy.shape, bool(oy.max() <= 8), flip.dtype
        (torch.Size([8]), True, torch.bool)
    """
    check_number("n", n, low=0, integer=True)
    check_number("padding", padding, low=0, integer=True)
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    return oy, ox, flip


def crop_flip(x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor,
              padding: int = 4) -> torch.Tensor:
    """Apply given crops and flips to a batch (module docstring for the formula).

    Args:
        x: (B, C, H, W) images, uint8 or float, on any device.
        oy: (B,) integer row offsets in [0, 2*padding] into the zero-padded image.
        ox: (B,) integer column offsets in [0, 2*padding].
        flip: (B,) bool, mirror left-right after cropping.
        padding: zero padding on each side.

    Returns:
        (B, C, H, W) tensor of ``x``'s dtype and device.

    Examples:
        >>> import torch
        >>> from mireg.data import crop_flip
        >>> x = torch.arange(4.0).view(1, 1, 2, 2)
        >>> crop_flip(x, torch.tensor([1]), torch.tensor([1]), torch.tensor([True]), padding=1)  # no shift, flip
        tensor([[[[1., 0.],
                  [3., 2.]]]])
    """
    check_tensor("x", x, floating=False, ndim=4)
    check_number("padding", padding, low=0, integer=True)
    b, _, h, w = x.shape
    for name, value in (("oy", oy), ("ox", ox), ("flip", flip)):
        if not isinstance(value, torch.Tensor) or value.shape != (b,):
            raise ValueError(f"{name} must be a tensor of shape ({b},) to match the batch")
    device, c = x.device, x.shape[1]
    padded = F.pad(x, (padding, padding, padding, padding)) if padding else x
    rows = oy.to(device).view(b, 1) + torch.arange(h, device=device)
    cols = ox.to(device).view(b, 1) + torch.arange(w, device=device)
    cols = torch.where(flip.to(device).view(b, 1), cols.flip(1), cols)
    # two gathers with broadcast (stride-0) indices: rows first, then columns
    out = padded.gather(2, rows.view(b, 1, h, 1).expand(b, c, h, w + 2 * padding))
    return out.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w))


def random_crop_flip(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """Random crop (zero padding ``padding``) + random horizontal flip of every image in a batch.

    ``generator`` is a CPU generator (the draws are made on the CPU, then moved to ``x.device``).

    Args:
        x: (B, C, H, W) images, uint8 or float, on any device.
        padding: zero padding on each side.
        generator: the CPU generator drawn from (None: torch's global one).

    Returns:
        (B, C, H, W) tensor of ``x``'s dtype and device.

    Examples:
        >>> import torch
        >>> from mireg.data import random_crop_flip
        >>> random_crop_flip(torch.rand(8, 3, 32, 32), padding=4).shape
        torch.Size([8, 3, 32, 32])
    """
    check_tensor("x", x, floating=False, ndim=4)
    oy, ox, flip = sample_crop_flip(x.shape[0], padding, generator)
    return crop_flip(x, oy, ox, flip, padding)
