"""CIFAR-10 and CIFAR-100 from the official "python version" pickle layout (Krizhevsky 2009).

Expected files (``root`` defaults to ``$MIREG_DATA`` or ``./data``)::

    root/cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch, batches.meta
    root/cifar-100-python/train, test, meta

Each batch is a pickled dict with ``data`` (uint8, N x 3072: the red, green and blue 32x32 planes of
each image, row-major) and ``labels`` (CIFAR-10) or ``fine_labels``/``coarse_labels`` (CIFAR-100);
the meta file holds the class names. Files written by Python 2 (the official release) and by
Python 3 load alike. Unpickling is restricted to the numpy array constructors these files need,
so a tampered file cannot run code.

``download=True`` fetches the official archive (md5-checked) and unpacks it into ``root``. Local
files whose md5 differs from the official release are loaded with a warning (``verify=False``
skips the check): e.g. a re-encoded (JPEG) copy written in this layout.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mireg._validation import check_choice
from mireg.data.base import (
    CorruptDatasetError,
    DatasetInfo,
    DatasetNotFoundError,
    ImageTensors,
    check_split,
    register_dataset,
    resolve_root,
)
from mireg.data.download import Resource, download_and_extract, warn_if_modified

CIFAR10_ARCHIVE = Resource(("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                           "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")
CIFAR100_ARCHIVE = Resource(("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                            "cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85")


@dataclass(frozen=True)
class CifarSpec:
    title: str
    name: str
    folder: str
    archive: Resource
    train: tuple[tuple[str, str], ...]   # (file, official md5)
    test: tuple[tuple[str, str], ...]
    meta: tuple[str, str]
    labels: dict[str, tuple[str, str, int]]   # label_type -> (labels key, names key, num_classes)


CIFAR10 = CifarSpec(
    "CIFAR-10", "cifar10", "cifar-10-batches-py", CIFAR10_ARCHIVE,
    train=(("data_batch_1", "c99cafc152244af753f735de768cd75f"), ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
           ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"), ("data_batch_4", "634d18415352ddfa80567beed471001a"),
           ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb")),
    test=(("test_batch", "40351d587109b95175f43aff81a1287e"),),
    meta=("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
    labels={"fine": ("labels", "label_names", 10)},
)
CIFAR100 = CifarSpec(
    "CIFAR-100", "cifar100", "cifar-100-python", CIFAR100_ARCHIVE,
    train=(("train", "16019d7e3df5f24257cddd939b257f8d"),),
    test=(("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),),
    meta=("meta", "7973b15100ade9c7d40fb424638fde48"),
    labels={"fine": ("fine_labels", "fine_label_names", 100), "coarse": ("coarse_labels", "coarse_label_names", 20)},
)

#: The datasets' public page (Krizhevsky 2009), named in the missing-file error.
HOME_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, dtypes and scalars (what CIFAR files contain)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name} in a dataset pickle")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy >= 2 moved numpy.core
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)


def _unpickle(path: Path, title: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except Exception as err:  # any parse failure means the file is not a CIFAR pickle
        raise CorruptDatasetError(
            f"{title} file {path} is corrupt or not a python-pickle CIFAR file ({type(err).__name__}: {err}). "
            "Delete it and get the dataset again (download=True / --download)."
        ) from err
    if not isinstance(obj, dict):
        raise CorruptDatasetError(f"{title} file {path} holds a {type(obj).__name__}, expected a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _text(value: Any) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _missing(spec: CifarSpec, root: Path, path: Path) -> DatasetNotFoundError:
    how = (f"Get the official files with load_dataset({spec.name!r}, root={str(root)!r}, download=True) "
           f"(CLI: --download), which fetches {spec.archive.url} (md5 {spec.archive.md5}) and unpacks it into "
           f"{root / spec.folder}; or download that archive from {HOME_PAGE} yourself and unpack it into {root}")
    return DatasetNotFoundError(f"{spec.title}: expected file {path} is missing. {how}.")


def load_cifar(spec: CifarSpec, root: str | os.PathLike[str] | None, split: str, download: bool,
               label_type: str = "fine", verify: bool = True) -> ImageTensors:
    """Load one split of a CIFAR dataset described by ``spec`` (see the module docstring)."""
    split = check_split(split, ("train", "test"))
    label_type = check_choice("label_type", label_type, tuple(spec.labels))
    root_path = resolve_root(root)
    folder = root_path / spec.folder
    files = (spec.train if split == "train" else spec.test) + (spec.meta,)
    if download and not all((folder / name).is_file() for name, _ in files):
        download_and_extract(spec.archive, root_path)
    for name, _ in files:
        if not (folder / name).is_file():
            raise _missing(spec, root_path, folder / name)
    if verify:
        for name, md5 in files:
            warn_if_modified(folder / name, md5, spec.title)
    label_key, names_key, num_classes = spec.labels[label_type]
    images, labels = [], []
    for name, _ in files[:-1]:
        path = folder / name
        batch = _unpickle(path, spec.title)
        for key in ("data", label_key):
            if key not in batch:
                raise CorruptDatasetError(f"{spec.title} file {path} has no {key!r} entry (keys: {sorted(batch)})")
        data = np.asarray(batch["data"])
        y = np.asarray(batch[label_key]).reshape(-1)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise CorruptDatasetError(f"{spec.title} file {path}: 'data' must be uint8 of shape (N, 3072), "
                                      f"got {data.dtype} {data.shape}")
        if y.shape[0] != data.shape[0]:
            raise CorruptDatasetError(f"{spec.title} file {path}: {data.shape[0]} images but {y.shape[0]} labels")
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise CorruptDatasetError(f"{spec.title} file {path}: labels must lie in [0, {num_classes - 1}], "
                                      f"got [{y.min()}, {y.max()}]")
        images.append(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()))
        labels.append(torch.from_numpy(y.astype(np.int64)))
    meta_path = folder / spec.meta[0]
    meta = _unpickle(meta_path, spec.title)
    if names_key not in meta or len(meta[names_key]) != num_classes:
        raise CorruptDatasetError(f"{spec.title} file {meta_path} must list {num_classes} names under {names_key!r}")
    classes = [_text(c) for c in meta[names_key]]
    return ImageTensors(torch.cat(images), torch.cat(labels), classes)


@register_dataset("cifar10", DatasetInfo(
    "cifar10", num_classes=10, channels=3, image_size=32,
    mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
    description="CIFAR-10: 50,000 train / 10,000 test 32x32 colour images, 10 classes", augment=True))
def load_cifar10(root: str | os.PathLike[str] | None = None, split: str = "train", download: bool = False, *,
                 verify: bool = True) -> ImageTensors:
    """CIFAR-10 from ``root/cifar-10-batches-py`` (50,000 train / 10,000 test; module docstring).

    Example::

        test = load_cifar10("data", split="test")   # x: (10000, 3, 32, 32) uint8, classes[0] == "airplane"
    """
    return load_cifar(CIFAR10, root, split, download, "fine", verify)


def _cifar100_info(info: DatasetInfo, kwargs: dict[str, Any]) -> DatasetInfo:
    label_type = check_choice("label_type", kwargs.get("label_type", "fine"), tuple(CIFAR100.labels))
    return replace(info, num_classes=CIFAR100.labels[label_type][2])


@register_dataset("cifar100", DatasetInfo(
    "cifar100", num_classes=100, channels=3, image_size=32,
    mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
    description="CIFAR-100: 50,000 train / 10,000 test 32x32 colour images, 100 classes (20 coarse)", augment=True),
    adapt=_cifar100_info)
def load_cifar100(root: str | os.PathLike[str] | None = None, split: str = "train", download: bool = False, *,
                  label_type: str = "fine", verify: bool = True) -> ImageTensors:
    """CIFAR-100 from ``root/cifar-100-python``; ``label_type="coarse"`` gives the 20 superclasses.

    Example::

        train = load_cifar100("data", split="train")   # 50000 images, 100 classes
    """
    return load_cifar(CIFAR100, root, split, download, label_type, verify)
