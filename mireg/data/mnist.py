"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017) from their official IDX files.

Expected files (``root`` defaults to ``$MIREG_DATA`` or ``./data``; the official file names, gzip or
uncompressed)::

    root/mnist/train-images-idx3-ubyte.gz   train-labels-idx1-ubyte.gz   (60,000 images)
    root/mnist/t10k-images-idx3-ubyte.gz    t10k-labels-idx1-ubyte.gz    (10,000 images)
    root/fashion-mnist/...                  the same four names

(torchvision's layout, ``root/MNIST/raw/`` and ``root/FashionMNIST/raw/``, is accepted too.) An IDX
file is a big-endian header (two zero bytes, the type code 0x08 for unsigned bytes, the number of
dimensions, then each dimension as an int32) followed by the values: images (N, 28, 28) and labels
(N,) in 0..9. ``download=True`` fetches the gzip files (official site first, then a mirror) and
checks their md5 against the official release; local ``.gz`` files whose md5 differs are loaded with
a warning (``verify=False`` skips the check). Uncompressed files have no published checksum and are
checked by their header only.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from mireg.data.base import (
    CorruptDatasetError,
    DatasetInfo,
    DatasetNotFoundError,
    ImageTensors,
    check_split,
    register_dataset,
    resolve_root,
)
from mireg.data.download import Resource, download_resource, warn_if_modified

__all__ = ["MNIST_FILES", "FASHION_MNIST_FILES", "load_mnist", "load_fashion_mnist", "read_idx"]

_MNIST_URLS = ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/")
_FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")


def _files(urls: tuple[str, ...], md5s: dict[str, str]) -> dict[str, tuple[Resource, Resource]]:
    """split -> (images, labels) resources with the official names and md5s of the .gz files."""
    prefix = {"train": "train", "test": "t10k"}
    out = {}
    for split, p in prefix.items():
        images, labels = f"{p}-images-idx3-ubyte.gz", f"{p}-labels-idx1-ubyte.gz"
        out[split] = (Resource(tuple(u + images for u in urls), images, md5s[images]),
                      Resource(tuple(u + labels for u in urls), labels, md5s[labels]))
    return out


MNIST_FILES = _files(_MNIST_URLS, {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
})
FASHION_MNIST_FILES = _files(_FASHION_URLS, {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
})
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def read_idx(path: str | os.PathLike[str], ndim: int) -> np.ndarray:
    """The uint8 array of an IDX file (gzip-compressed when its name ends in ``.gz``) with ``ndim`` dimensions.

    Raises:
        CorruptDatasetError: not gzip data, a wrong header, or fewer/more bytes than the header says.

    Example::

        labels = read_idx("data/mnist/t10k-labels-idx1-ubyte.gz", ndim=1)   # (10000,) uint8
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:
        raise CorruptDatasetError(f"{path} is not a readable gzip file ({err}). Delete it and download it again "
                                  "(download=True / --download).") from err
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08 or raw[3] != ndim:
        raise CorruptDatasetError(f"{path} is not an IDX file of unsigned bytes with {ndim} dimension(s) "
                                  f"(header {raw[:4].hex() or 'empty'}, expected 0000080{ndim})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptDatasetError(f"{path}: the IDX header is truncated")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != int(np.prod(shape)):
        raise CorruptDatasetError(f"{path}: the header gives shape {shape} ({int(np.prod(shape))} bytes) but "
                                  f"{len(raw) - header} bytes follow; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(resource: Resource, folders: list[Path]) -> Path | None:
    """The first existing file of ``resource``, gzip or uncompressed, in ``folders``."""
    names = (resource.filename, resource.filename.removesuffix(".gz"))
    return next((folder / name for folder in folders for name in names if (folder / name).is_file()), None)


def _load(title: str, name: str, folders: tuple[str, str], files: dict[str, tuple[Resource, Resource]],
          classes: list[str], root: str | os.PathLike[str] | None, split: str, download: bool,
          verify: bool) -> ImageTensors:
    split = check_split(split, tuple(files))
    root_path = resolve_root(root)
    candidates = [root_path / folder for folder in folders]
    arrays = []
    for resource, ndim in zip(files[split], (3, 1), strict=True):
        path = _find(resource, candidates)
        if path is None and download:
            path = download_resource(resource, candidates[0])
        if path is None:
            raise DatasetNotFoundError(
                f"{title}: expected file {candidates[0] / resource.filename} (gzip or uncompressed; or in "
                f"{candidates[1]}) is missing. Get it with load_dataset({name!r}, root={str(root_path)!r}, "
                f"split={split!r}, download=True) (CLI: --download), which fetches {resource.url} "
                f"(md5 {resource.md5}).")
        if verify and path.suffix == ".gz":
            warn_if_modified(path, resource.md5, title)
        arrays.append((path, read_idx(path, ndim)))
    (image_path, images), (label_path, labels) = arrays
    if images.shape[0] != labels.shape[0]:
        raise CorruptDatasetError(f"{title}: {image_path} holds {images.shape[0]} images but {label_path} "
                                  f"{labels.shape[0]} labels")
    if labels.size and labels.max() >= len(classes):
        raise CorruptDatasetError(f"{title}: {label_path} has label {labels.max()}, expected 0..{len(classes) - 1}")
    x = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 1, H, W)
    return ImageTensors(x, torch.from_numpy(labels.astype(np.int64)), list(classes))


# mean / std: the training split's pixel statistics in [0, 1], as normalisation constants are usually
# quoted for these datasets (MNIST 0.1307 / 0.3081, Fashion-MNIST 0.2860 / 0.3530).
@register_dataset("mnist", DatasetInfo(
    "mnist", num_classes=10, channels=1, image_size=28, mean=(0.1307,), std=(0.3081,),
    description="MNIST handwritten digits: 60,000 train / 10,000 test 28x28 grey images"))
def load_mnist(root: str | os.PathLike[str] | None = None, split: str = "train", download: bool = False, *,
               verify: bool = True) -> ImageTensors:
    """MNIST from ``root/mnist/`` (module docstring): x (N, 1, 28, 28) uint8, class k is the digit k.

    Example::

        test = load_mnist("data", split="test")   # x: (10000, 1, 28, 28) uint8
    """
    return _load("MNIST", "mnist", ("mnist", "MNIST/raw"), MNIST_FILES, [str(d) for d in range(10)],
                 root, split, download, verify)


@register_dataset("fashion-mnist", DatasetInfo(
    "fashion-mnist", num_classes=10, channels=1, image_size=28, mean=(0.2860,), std=(0.3530,),
    description="Fashion-MNIST (Zalando article images): 60,000 train / 10,000 test 28x28 grey images"))
def load_fashion_mnist(root: str | os.PathLike[str] | None = None, split: str = "train", download: bool = False,
                       *, verify: bool = True) -> ImageTensors:
    """Fashion-MNIST from ``root/fashion-mnist/`` (module docstring): x (N, 1, 28, 28) uint8, 10 classes.

    Example::

        train = load_fashion_mnist("data", split="train", download=True)
        train.classes[train.y[0]]                 # e.g. 'Ankle boot'
    """
    return _load("Fashion-MNIST", "fashion-mnist", ("fashion-mnist", "FashionMNIST/raw"), FASHION_MNIST_FILES,
                 FASHION_CLASSES, root, split, download, verify)
