"""``TensorLoader``: mini-batches straight from an in-memory tensor, on the device, with augmentation.

A replacement for ``DataLoader(TensorDataset(...))`` + ``DistributedSampler`` + torchvision
transforms when the whole dataset fits in memory (CIFAR-10 as uint8 is 150 MB): no worker
processes, no per-image Python work, no host-device copy per batch when the data fits on the GPU.

Determinism. Epoch ``e`` of a loader with seed ``s`` draws, from one CPU generator seeded with
``SeedSequence([s, e])``, a permutation of all N examples (identity when ``shuffle=False``) and one
crop offset pair and flip per example. Sharding then follows ``DistributedSampler``: the order is
padded to ``ceil(N / world_size) * world_size`` by repeating its beginning (with the same
augmentation draws), and rank ``r`` takes positions ``r, r + world_size, ...``. Hence batch ``k`` of
every rank with batch size B together hold exactly batch ``k`` of a single-process loader with batch
size ``world_size * B``, augmented identically, so a DDP run matches the single-process run with
the same global batch. With ``pad=False`` nothing is repeated: rank ``r`` takes positions
``r, r + world_size, ...`` of the N examples only, so shard sizes differ by at most one and counts
summed over ranks are exact (for evaluation; training under DDP needs equal shards).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from mireg._validation import check_number
from mireg.data.augment import crop_flip, sample_crop_flip
from mireg.data.base import ImageTensors

#: fraction of the free GPU memory the whole dataset may take to be kept on the device
DEVICE_FRACTION = 0.5


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit generator seed mixing ``seed`` and ``epoch`` (no collisions like ``seed + epoch``)."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


class TensorLoader:
    """Iterate ``(x, y)`` batches of an in-memory dataset: x float32 in [0, 1] (B, C, H, W), y long (B,).

    Args:
        data_or_x: an :class:`~mireg.data.ImageTensors`, or an image tensor (N, C, H, W), uint8
            (0..255) or float in [0, 1].
        y: labels (N,) when ``data_or_x`` is a tensor (must be None for ``ImageTensors``).
        batch_size: examples per batch on each rank.
        shuffle: a fresh permutation every epoch (see :meth:`set_epoch`).
        augment: random crop with zero padding ``padding`` + horizontal flip, batched on the device.
        drop_last: drop each rank's last incomplete batch.
        device: where batches are produced (default: the data's device). On CUDA the uint8 data is
            copied to the device once when it takes at most half of the free memory; otherwise it
            stays in pinned host memory and each batch is copied asynchronously.
        seed: base seed of shuffling and augmentation.
        rank: this process's DDP rank (``DistributedSampler``-like shards; module docstring).
        world_size: the number of DDP processes.
        padding: crop padding in pixels (default 4, the CIFAR convention).
        channels_last: return batches in ``torch.channels_last`` memory format.
        pad: pad the epoch's order to a multiple of ``world_size`` (equal shards, like
            ``DistributedSampler``); ``False`` gives disjoint shards of unequal size (exact evaluation).

    ``len(loader)`` is the number of batches per epoch on this rank. Epochs: each ``iter()`` uses
    the current epoch then advances it by one; :meth:`set_epoch` sets it (call it at the start of
    every epoch, as with ``DistributedSampler``, for resumable runs).

    Examples:
        >>> # needs: sklearn (the bundled digits)
        >>> from mireg.data import TensorLoader, load_dataset
        >>> train = load_dataset("digits", split="train")
        >>> loader = TensorLoader(train, batch_size=128, shuffle=True, augment=True, seed=0)
        >>> for epoch in range(2):
        ...     loader.set_epoch(epoch)
        ...     for x, y in loader:
        ...         pass  # x: (128, 3, 32, 32) float in [0, 1]; y: (128,) long
        >>> len(loader), x.shape, y.dtype  # 11 batches, the last one short
        (11, torch.Size([17, 3, 32, 32]), torch.int64)
    """

    def __init__(self, data_or_x: ImageTensors | torch.Tensor, y: torch.Tensor | None = None,
                 batch_size: int = 128, shuffle: bool = True, augment: bool = False,
                 drop_last: bool = False, device: torch.device | str | None = None, seed: int = 0,
                 rank: int = 0, world_size: int = 1, *, padding: int = 4,
                 channels_last: bool = False, pad: bool = True) -> None:
        x, labels = self._unpack(data_or_x, y)
        check_number("batch_size", batch_size, low=1, integer=True)
        check_number("seed", seed, low=0, integer=True)
        check_number("world_size", world_size, low=1, integer=True)
        check_number("rank", rank, low=0, high=world_size - 1, integer=True)
        check_number("padding", padding, low=0, integer=True)
        for name, flag in (("shuffle", shuffle), ("augment", augment), ("drop_last", drop_last),
                           ("channels_last", channels_last), ("pad", pad)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
        self.device = torch.device(device) if device is not None else x.device
        self.batch_size, self.shuffle, self.augment, self.drop_last = batch_size, shuffle, augment, drop_last
        self.seed, self.rank, self.world_size, self.padding = seed, rank, world_size, padding
        self.channels_last, self.pad = channels_last, pad
        self.num_examples = int(labels.shape[0])
        self.on_device = self._fits_on_device(x, labels)
        if self.on_device:
            self.x, self.y = x.to(self.device), labels.to(self.device)
        else:
            self.x, self.y = x.cpu(), labels.cpu()
            if self.device.type == "cuda":
                self.x, self.y = self.x.pin_memory(), self.y.pin_memory()
        self.epoch = 0

    @staticmethod
    def _unpack(data_or_x: object, y: object) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(data_or_x, ImageTensors):
            if y is not None:
                raise ValueError("y must be None when data_or_x is an ImageTensors (it carries its labels)")
            x, labels = data_or_x.x, data_or_x.y
        elif isinstance(data_or_x, torch.Tensor):
            x = data_or_x
            if x.dim() != 4:
                raise ValueError(f"data_or_x must have shape (N, C, H, W), got {tuple(x.shape)}")
            if x.dtype != torch.uint8 and not x.is_floating_point():
                raise TypeError(f"data_or_x must be uint8 (0..255) or floating ([0, 1]) images, got dtype {x.dtype}")
            if not isinstance(y, torch.Tensor):
                raise TypeError(f"y must be a torch.Tensor of labels when data_or_x is a tensor, "
                                f"got {type(y).__name__}")
            if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool or y.dim() != 1:
                raise TypeError(f"y must be an integer tensor of shape (N,), got dtype {y.dtype}, "
                                f"shape {tuple(y.shape)}")
            if y.shape[0] != x.shape[0]:
                raise ValueError(f"y has {y.shape[0]} labels but data_or_x has {x.shape[0]} images")
            labels = y.long()
        else:
            raise TypeError(f"data_or_x must be an ImageTensors or a torch.Tensor, got {type(data_or_x).__name__}")
        if x.shape[0] == 0:
            raise ValueError("data_or_x is empty (0 examples)")
        return x, labels

    def _fits_on_device(self, x: torch.Tensor, y: torch.Tensor) -> bool:
        if self.device.type != "cuda":
            return True  # CPU (and other devices): a plain .to(device)
        if x.device == self.device:
            return True
        nbytes = x.numel() * x.element_size() + y.numel() * y.element_size()
        free, _ = torch.cuda.mem_get_info(self.device)
        return nbytes <= DEVICE_FRACTION * free

    @property
    def num_samples(self) -> int:
        """Examples per epoch on this rank (the shard size, padding included)."""
        if not self.pad:
            return len(range(self.rank, self.num_examples, self.world_size))
        return math.ceil(self.num_examples / self.world_size)

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s shuffle and augmentation draws for the next iteration."""
        check_number("epoch", epoch, low=0, integer=True)
        self.epoch = epoch

    def epoch_plan(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """This rank's example indices and (oy, ox, flip) augmentation draws for ``epoch`` (CPU)."""
        n = self.num_examples
        g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        oy, ox, flip = sample_crop_flip(n, self.padding, g)
        total = math.ceil(n / self.world_size) * self.world_size if self.pad else n
        if total > n:  # pad like DistributedSampler: repeat the beginning of the order
            reps = math.ceil(total / n)
            order, oy, ox, flip = (t.repeat(reps)[:total] for t in (order, oy, ox, flip))
        sl = slice(self.rank, total, self.world_size)
        return order[sl], oy[sl], ox[sl], flip[sl]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        index, oy, ox, flip = self.epoch_plan(epoch)
        store = self.x.device
        index = index.to(store)
        if self.augment:
            oy, ox, flip = oy.to(self.device), ox.to(self.device), flip.to(self.device)
        for k in range(len(self)):
            sl = slice(k * self.batch_size, (k + 1) * self.batch_size)
            idx = index[sl]
            xb, yb = self.x[idx], self.y[idx]
            if not self.on_device:
                if self.device.type == "cuda":
                    xb, yb = xb.pin_memory(), yb.pin_memory()
                xb, yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
            if self.augment:
                xb = crop_flip(xb, oy[sl], ox[sl], flip[sl], self.padding)
            xb = xb.float().div_(255.0) if xb.dtype == torch.uint8 else xb.float()
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb

    def __repr__(self) -> str:
        return (f"TensorLoader(n={self.num_examples}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"augment={self.augment}, drop_last={self.drop_last}, device={self.device}, "
                f"rank={self.rank}/{self.world_size}, batches={len(self)})")
