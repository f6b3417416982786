"""PyTorch's own data as mireg data: any ``Dataset`` of ``(image, label)`` and any ``DataLoader``.

Images are tensors ``(C, H, W)`` in [0, 1] (what ``torchvision.transforms.ToTensor()`` gives) or uint8
0..255; labels are integers. Three ways in:

- :func:`materialize`: the whole Dataset (or DataLoader) in memory as uint8 :class:`ImageTensors`, one pass,
  1 byte per value: the fast path (:class:`~mireg.data.TensorLoader`: shuffling, crop + flip on the
  device, exact DDP shards, the same batches after a resume). Lossless for 8-bit images (every value a
  multiple of 1/255, as ``ToTensor()`` gives); other values are refused rather than rounded. A random
  transform of the Dataset is drawn ONCE, at materialisation, not every epoch.
- :class:`StreamLoader`: a DataLoader iterated afresh every epoch: its own batch size, sampler, workers and
  transforms (drawn again each epoch); for data that does not fit in memory or is not 8-bit.
- :func:`collect`: the first ``n`` points as float32 tensors, unchanged (evaluation).

Example::

    from torchvision import datasets, transforms
    train = datasets.CIFAR10("data", train=True, transform=transforms.ToTensor())
    data = materialize(train)                    # ImageTensors, 150 MB of uint8
    stream = StreamLoader(DataLoader(train, batch_size=128, shuffle=True, num_workers=4), device="cuda")
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from mireg._validation import check_images, check_labels, check_number
from mireg.data.augment import crop_flip, sample_crop_flip
from mireg.data.base import ImageTensors
from mireg.data.loader import epoch_seed

__all__ = ["StreamLoader", "class_names", "collect", "is_torch_data", "materialize"]

#: largest |255 x - round(255 x)| of an image value accepted as 8-bit
LEVEL_TOLERANCE = 1e-3


def is_torch_data(data: object) -> bool:
    """True for a ``torch.utils.data.Dataset`` or ``DataLoader``."""
    return isinstance(data, (Dataset, DataLoader))


def class_names(data: Dataset | DataLoader) -> list[str]:
    """The ``classes`` of the dataset (torchvision's convention; through ``DataLoader.dataset`` and
    ``Subset.dataset``), or ``[]``."""
    seen = 0
    while data is not None and seen < 8:
        classes = getattr(data, "classes", None)
        if isinstance(classes, (list, tuple)) and classes:
            return [str(c) for c in classes]
        data, seen = getattr(data, "dataset", None), seen + 1
    return []


def _batches(data: Dataset | DataLoader, name: str, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Checked ``(x, y)`` CPU batches of ``data`` in its order (a Dataset: its index order)."""
    if not is_torch_data(data):
        raise TypeError(f"{name} must be a torch.utils.data.Dataset or DataLoader, got {type(data).__name__}")
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size, shuffle=False)
    iterator = iter(loader)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except TypeError as err:  # default_collate on PIL images, strings, ...
            raise TypeError(f"{name}: items must be (image tensor (C, H, W) in [0, 1], integer label); "
                            f"add torchvision.transforms.ToTensor() to the dataset ({err})") from None
        yield check_batch(batch, name)


def check_batch(batch: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One collated batch as ``(x, y)``: x float in [0, 1] or uint8 (B, C, H, W), y long (B,)."""
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        raise TypeError(f"{name} must yield (images, labels) pairs, got a {type(batch).__name__}"
                        + (f" of {len(batch)} items" if isinstance(batch, (list, tuple)) else ""))
    x, y = batch
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"{name}: images must be tensors (C, H, W) that batch to (B, C, H, W), got {got}")
    if x.dtype != torch.uint8:
        check_images(f"{name} images", x)
    y = check_labels(f"{name} labels", y, batch=x.shape[0]).long()
    return x, y


def _to_uint8(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.dtype == torch.uint8:
        return x
    scaled = x.double().mul(255.0)
    levels = scaled.round()
    worst = float((scaled - levels).abs().max()) if x.numel() else 0.0
    if worst > LEVEL_TOLERANCE:
        raise ValueError(f"{name} has images that are not 8-bit (a value is {worst / 255:.2g} away from the nearest "
                         "multiple of 1/255): materialising would round them. Pass a DataLoader to stream them "
                         "unchanged, or evaluate them with mireg.evaluate, which keeps floats")
    return levels.clamp_(0, 255).to(torch.uint8)


def materialize(data: Dataset | DataLoader, *, n: int | None = None, name: str = "data",
                batch_size: int = 256, progress: bool = False) -> ImageTensors:
    """The first ``n`` (default: all) examples of ``data`` in memory as uint8 :class:`ImageTensors`.

    Lossless for 8-bit images; a ``ValueError`` for others (module docstring). ``classes`` come from
    the dataset's ``classes`` attribute when it has one.

    Example::

        >>> data = materialize(torchvision.datasets.MNIST("data", transform=transforms.ToTensor()))
        >>> data.x.shape, data.x.dtype          # (torch.Size([60000, 1, 28, 28]), torch.uint8)
    """
    xs, ys = [], []
    for x, y in _first(data, n, name, batch_size, progress):
        xs.append(_to_uint8(x, name))
        ys.append(y)
    if not ys:
        raise ValueError(f"{name} is empty")
    labels = torch.cat(ys)
    classes = class_names(data)
    if classes and int(labels.max()) >= len(classes):
        classes = []
    return ImageTensors(torch.cat(xs), labels, classes)


def collect(data: Dataset | DataLoader, n: int | None = None, *, name: str = "data",
            batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` (default: all) points of ``data`` as ``(x float32 in [0, 1], y long)``, values
    unchanged. A DataLoader that shuffles is refused: "the first n" must be the same points every run."""
    if isinstance(data, DataLoader) and isinstance(data.sampler, RandomSampler):
        raise ValueError(f"{name} is a DataLoader that shuffles: an evaluation takes the first n points in a fixed "
                         "order; pass the Dataset itself or a DataLoader with shuffle=False")
    xs, ys = [], []
    for x, y in _first(data, n, name, batch_size, progress=False):
        xs.append(x.float().div_(255) if x.dtype == torch.uint8 else x.float())
        ys.append(y)
    if not ys:
        raise ValueError(f"{name} is empty")
    return torch.cat(xs), torch.cat(ys)


def _first(data: Dataset | DataLoader, n: int | None, name: str, batch_size: int,
           progress: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    from tqdm.auto import tqdm

    if n is not None:
        check_number("n", n, low=1, integer=True)
    total = n if n is not None else _length(data)
    bar = tqdm(total=total, desc=f"loading {name}", unit="img", leave=False, disable=not progress, file=sys.stderr)
    seen = 0
    for x, y in _batches(data, name, batch_size):
        if n is not None and seen + len(y) >= n:
            x, y = x[: n - seen], y[: n - seen]
        seen += len(y)
        bar.update(len(y))
        yield x, y
        if n is not None and seen >= n:
            break
    bar.close()
    if n is not None and seen < n:
        raise ValueError(f"n={n} exceeds the {seen} points of {name}")


def _length(data: Dataset | DataLoader) -> int | None:
    try:
        return len(data.dataset if isinstance(data, DataLoader) else data)  # type: ignore[arg-type]
    except TypeError:
        return None


class StreamLoader:
    """A DataLoader as the training engine's loader: ``(x float32 in [0, 1], y long)`` batches on ``device``.

    Every epoch iterates ``loader`` afresh (its batch size, sampler, workers and transforms), calls its
    sampler's ``set_epoch`` when it has one (``DistributedSampler``), checks the first batch of the epoch
    (shape, [0, 1] range, labels) and, with ``augment``, applies mireg's random crop (zero padding
    ``padding``) + horizontal flip on the device, drawn from ``(seed, epoch)``.

    Args:
        loader: a ``torch.utils.data.DataLoader`` of ``(images, labels)``.
        device: where batches go (non-blocking copies; use ``pin_memory=True`` in the DataLoader on CUDA).
        augment, seed, padding: mireg's crop + flip (off by default: the loader's transforms usually do it).
        channels_last: batches in ``torch.channels_last`` memory format.
        name: how errors call the data.

    Example::

        >>> stream = StreamLoader(DataLoader(train_set, batch_size=128, shuffle=True, num_workers=4), device="cuda")
        >>> stream.set_epoch(0)
        >>> x, y = next(iter(stream))
    """

    def __init__(self, loader: DataLoader, device: torch.device | str = "cpu", *, augment: bool = False,
                 seed: int = 0, padding: int = 4, channels_last: bool = False, name: str = "train_data") -> None:
        if not isinstance(loader, DataLoader):
            raise TypeError(f"{name} must be a torch.utils.data.DataLoader, got {type(loader).__name__}")
        check_number("seed", seed, low=0, integer=True)
        check_number("padding", padding, low=0, integer=True)
        self.loader, self.device, self.augment = loader, torch.device(device), augment
        self.seed, self.padding, self.channels_last, self.name = seed, padding, channels_last, name
        self.epoch = 0
        self._shape: tuple[int, tuple[int, int, int]] | None = None

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def num_classes(self) -> int:
        """Number of classes (:meth:`describe`)."""
        return self.describe()[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image (:meth:`describe`)."""
        return self.describe()[1]

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch`` (the sampler's ``set_epoch`` too) for the next iteration."""
        check_number("epoch", epoch, low=0, integer=True)
        self.epoch = epoch
        if callable(getattr(self.loader.sampler, "set_epoch", None)):
            self.loader.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        for k, batch in enumerate(self.loader):
            x, y = check_batch(batch, self.name) if k == 0 else batch
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True).long()
            if self.augment:
                x = crop_flip(x, *sample_crop_flip(x.shape[0], self.padding, generator), self.padding)
            x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y

    def describe(self) -> tuple[int, tuple[int, int, int]]:
        """``(num_classes, (C, H, W))``: classes from the dataset's ``classes`` (or ``targets``), else one
        pass over the labels; the image shape from the first batch. Computed once."""
        if self._shape is None:
            x, _ = check_batch(next(iter(self.loader)), self.name)
            classes = class_names(self.loader)
            if classes:
                count = len(classes)
            else:
                targets = getattr(self.loader.dataset, "targets", None)
                if targets is None:
                    targets = torch.cat([torch.as_tensor(batch[1]) for batch in self.loader])
                count = int(torch.as_tensor(targets).max()) + 1
            self._shape = count, tuple(x.shape[1:])
        return self._shape

    def __repr__(self) -> str:
        return (f"StreamLoader({type(self.loader.dataset).__name__}, batches={len(self)}, "
                f"batch_size={self.loader.batch_size}, augment={self.augment}, device={self.device})")
