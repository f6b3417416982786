"""The in-memory dataset type, dataset metadata, the loader registry front end and dataset errors.

Every dataset loader returns an :class:`ImageTensors`: the whole split as one compact uint8 tensor
``x`` (N, C, H, W), long labels ``y`` (N,) and the class names. Loaders are registered with
:func:`register_dataset`, which stores a :class:`DatasetInfo` next to the constructor in
:data:`mireg.registry.DATASETS`; :func:`load_dataset` and :func:`dataset_info` look them up by name.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mireg._validation import check_choice
from mireg.registry import DATASETS

#: environment variable naming the default data folder used when ``root`` is None
DATA_ENV = "MIREG_DATA"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file or folder is missing; the message says which, where, and how to get it.

    Examples:
        >>> from mireg.data import DatasetNotFoundError, load_dataset
        >>> try:
        ...     load_dataset("cifar10", root="no-such-folder")
        ... except DatasetNotFoundError as err:
        ...     print("download=True" in str(err))
        True
    """


class CorruptDatasetError(ValueError):
    """A dataset file exists but cannot be read as the official format; the message says which.

    Examples:
        >>> from mireg.data import CorruptDatasetError
        >>> issubclass(CorruptDatasetError, ValueError)  # caught as a ValueError too
        True
    """


@dataclass
class ImageTensors:
    """A whole dataset split held in memory.

    Attributes:
        x: uint8 images of shape (N, C, H, W) (0..255; compact, 1 byte per value).
        y: ``torch.long`` labels of shape (N,).
        classes: class names; ``y`` indexes this list.

    Examples:
        >>> # needs: sklearn (the bundled digits)
        >>> from mireg.data import load_dataset
        >>> data = load_dataset("digits", split="test")
        >>> data.float().shape, data.float().dtype  # in [0, 1]
        (torch.Size([500, 3, 32, 32]), torch.float32)
        >>> len(data), data.num_classes
        (500, 10)
    """

    x: torch.Tensor
    y: torch.Tensor
    classes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or self.x.dtype != torch.uint8 or self.x.dim() != 4:
            got = (f"dtype {self.x.dtype}, shape {tuple(self.x.shape)}" if isinstance(self.x, torch.Tensor)
                   else type(self.x).__name__)
            raise TypeError(f"x must be a uint8 tensor of shape (N, C, H, W), got {got}")
        if not isinstance(self.y, torch.Tensor) or self.y.dtype != torch.long or self.y.dim() != 1:
            got = (f"dtype {self.y.dtype}, shape {tuple(self.y.shape)}" if isinstance(self.y, torch.Tensor)
                   else type(self.y).__name__)
            raise TypeError(f"y must be a torch.long tensor of shape (N,), got {got}")
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x and y must have the same length, got {self.x.shape[0]} and {self.y.shape[0]}")
        self.classes = [str(c) for c in self.classes]
        if self.classes and self.y.numel() and int(self.y.max()) >= len(self.classes):
            raise ValueError(f"y holds label {int(self.y.max())} but only {len(self.classes)} classes are named")
        if self.y.numel() and int(self.y.min()) < 0:
            raise ValueError(f"y must hold non-negative class indices, got {int(self.y.min())}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, index: Any) -> ImageTensors:
        """A subset (slice, index tensor or boolean mask) sharing the class list."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return ImageTensors(self.x[index], self.y[index], list(self.classes))

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(classes)``, or ``max(y) + 1`` when no names are given)."""
        if self.classes:
            return len(self.classes)
        return int(self.y.max()) + 1 if len(self) else 0

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def float(self) -> torch.Tensor:
        """The images as float32 in [0, 1] (``x / 255``), shape (N, C, H, W)."""
        return self.x.float().div_(255.0)

    def to(self, device: torch.device | str | None) -> ImageTensors:
        """A copy with ``x`` and ``y`` on ``device`` (still uint8)."""
        return ImageTensors(self.x.to(device), self.y.to(device), list(self.classes))

    def class_counts(self) -> torch.Tensor:
        """Number of examples per class, shape (num_classes,)."""
        return torch.bincount(self.y.cpu(), minlength=self.num_classes)

    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and standard deviation of the [0, 1] pixels (float64, streamed by chunks)."""
        c = self.x.shape[1]
        total = torch.zeros(c, dtype=torch.float64)
        total_sq = torch.zeros(c, dtype=torch.float64)
        for chunk in self.x.cpu().split(4096):
            v = chunk.to(torch.float64).div_(255.0)
            total += v.sum(dim=(0, 2, 3))
            total_sq += v.square().sum(dim=(0, 2, 3))
        n = max(1, self.x.shape[0] * self.x.shape[2] * self.x.shape[3])
        mean = total / n
        std = (total_sq / n - mean.square()).clamp_min(0).sqrt()
        return tuple(mean.tolist()), tuple(std.tolist())


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset before loading it.

    ``num_classes`` / ``image_size`` are None when they depend on the files (``image-folder``):
    read them from the loaded :class:`ImageTensors` then. ``mean`` / ``std`` are the per-channel
    statistics of the official training split in [0, 1] (for :class:`mireg.models.Normalized`).
    ``augment`` / ``val_size`` are the training defaults of the dataset (what ``augment="auto"`` and
    ``val_size="auto"`` of :class:`mireg.config.TrainConfig` mean for it): whether random crop
    (padding 4) + horizontal flip is its standard training augmentation, and how many training images
    to hold out for model selection.

    Attributes:
        name: the registered name.
        num_classes: the number of classes (None: read from the files).
        channels: image channels.
        image_size: image height = width (None: read from the files).
        mean: per-channel mean of the training split in [0, 1].
        std: per-channel standard deviation.
        splits: the split names :func:`load_dataset` takes.
        description: one line.
        augment: whether crop + flip is its standard training augmentation.
        val_size: images held out of the training split for model selection.

    Examples:
        >>> from mireg.data import dataset_info
        >>> info = dataset_info("cifar10")
        >>> info.num_classes, info.channels, info.image_size, info.augment
        (10, 3, 32, True)
    """

    name: str
    num_classes: int | None
    channels: int
    image_size: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    splits: tuple[str, ...] = ("train", "test")
    description: str = ""
    augment: bool = False
    val_size: int = 1000


Loader = Callable[..., ImageTensors]
InfoAdapter = Callable[[DatasetInfo, dict[str, Any]], DatasetInfo]
_INFO: dict[str, tuple[DatasetInfo, InfoAdapter | None]] = {}


def register_dataset(name: str, info: DatasetInfo, adapt: InfoAdapter | None = None
                     ) -> Callable[[Loader], Loader]:
    """Decorator: register ``fn(root=None, split="train", download=False, **kwargs) -> ImageTensors``.

    ``adapt(info, kwargs)`` may return the metadata for loader options that change it (e.g.
    CIFAR-100's ``label_type="coarse"`` has 20 classes).

    Args:
        name: the dataset's name (``load_dataset(name)``, ``mireg train --dataset``).
        info: its :class:`DatasetInfo`.
        adapt: a function ``(info, kwargs) -> DatasetInfo`` for options that change the metadata, or None.

    Returns:
        The decorator (it returns the loader unchanged).

    Examples:
        >>> import torch
        >>> from mireg.data import DatasetInfo, ImageTensors, load_dataset, register_dataset
        >>> @register_dataset("gray-squares", DatasetInfo("gray-squares", 2, 1, 4, (0.5,), (0.5,)))
        ... def gray_squares(root=None, split="train", download=False):
        ...     return ImageTensors(torch.full((4, 1, 4, 4), 128, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))
        >>> len(load_dataset("gray-squares"))
        4
    """

    def decorator(fn: Loader) -> Loader:
        DATASETS.add(name, fn)
        _INFO[name.lower()] = (info, adapt)
        return fn

    return decorator


def dataset_info(name: str, **kwargs: Any) -> DatasetInfo:
    """Metadata of a registered dataset (``num_classes``, ``channels``, ``image_size``, ``mean``, ``std``).

    ``kwargs`` are the loader options that change the metadata: ``channels`` and ``image_size`` for
    ``digits`` and ``image-folder``, ``label_type`` for ``cifar100``.

    Args:
        name: a registered dataset name.
        **kwargs: loader options that change the metadata.

    Returns:
        The :class:`DatasetInfo` (no file is read).

    Examples:
        >>> from mireg.data import dataset_info
        >>> info = dataset_info("digits", image_size=8, channels=1)
        >>> info.num_classes, info.channels, info.image_size
        (10, 1, 8)
    """
    DATASETS.get(name)  # unknown names: the registry's error with suggestions
    info, adapt = _INFO[name.lower()]
    if adapt is not None:
        info = adapt(info, kwargs)
    channels = kwargs.get("channels") or info.channels
    image_size = kwargs.get("image_size") or info.image_size
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    mean, std = info.mean, info.std
    if channels != len(mean):  # grey <-> colour: one statistic replicated or averaged
        mean = (sum(mean) / len(mean),) * channels
        std = (sum(std) / len(std),) * channels
    return dataclasses.replace(info, channels=channels, image_size=image_size, mean=mean, std=std)


def default_root() -> Path:
    """The data folder used when ``root`` is None: ``$MIREG_DATA``, else ``./data``."""
    return Path(os.environ.get(DATA_ENV, "data"))


def resolve_root(root: str | os.PathLike[str] | None) -> Path:
    if root is None:
        return default_root()
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike) or None, got {type(root).__name__}")
    return Path(root).expanduser()


def check_split(split: object, splits: Sequence[str]) -> str:
    if not isinstance(split, str):
        raise TypeError(f"split must be a string, got {type(split).__name__}")
    return check_choice("split", split, splits)


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, split: str = "train",
                 download: bool = False, **kwargs: Any) -> ImageTensors:
    """Load a whole dataset split by name into memory as uint8 :class:`ImageTensors`.

    Args:
        name: a registered dataset: ``digits``, ``cifar10``, ``cifar100``, ``svhn``, ``mnist``,
            ``fashion-mnist``, ``tiny-imagenet``, ``image-folder`` (see ``mireg.registry.DATASETS.names()``).
        root: the data folder (default ``$MIREG_DATA`` or ``./data``); ignored by ``digits``.
        split: ``"train"`` or ``"test"`` (SVHN also ``"extra"``).
        download: fetch and extract the official files into ``root`` when they are missing
            (needs internet; the archives' md5 checksums are verified).
        **kwargs: loader options (e.g. ``image_size``/``channels`` for digits and image folders).

    Raises:
        DatasetNotFoundError: a file is missing (the message names the path and how to get it).
        CorruptDatasetError: a file cannot be parsed as the official format.

    Returns:
        The split as uint8 :class:`ImageTensors`.

    Examples:
        >>> # needs: sklearn (the bundled digits)
        >>> from mireg.data import load_dataset
        >>> train = load_dataset("digits", split="train", image_size=8, channels=1)  # no files needed
        >>> train.x.shape, train.x.dtype
        (torch.Size([1297, 1, 8, 8]), torch.uint8)

        CIFAR-10 reads ``root/cifar-10-batches-py/`` (``download=True`` fetches it):

        >>> test = load_dataset("cifar10", root="data", split="test")  # doctest: +SKIP
    """
    if not isinstance(download, bool):
        raise TypeError(f"download must be a bool, got {type(download).__name__}")
    loader = DATASETS.get(name)
    params = inspect.signature(loader).parameters
    options = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = [k for k in kwargs if k not in params or k in ("root", "split", "download")]
    if unknown and not any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values()):
        raise TypeError(f"dataset {name!r} does not take option(s) {', '.join(map(repr, unknown))}; "
                        f"its options: {', '.join(options) or 'none'}")
    return loader(root=root, split=split, download=download, **kwargs)
