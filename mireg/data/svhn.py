"""SVHN (Netzer et al. 2011) from the official cropped-digits MATLAB files.

Expected files (``root`` defaults to ``$MIREG_DATA`` or ``./data``)::

    root/svhn/train_32x32.mat   (73,257 images)
    root/svhn/test_32x32.mat    (26,032 images)
    root/svhn/extra_32x32.mat   (531,131 images; split="extra")

(``root/train_32x32.mat`` etc., torchvision's layout, is accepted too.) Each file holds ``X``, uint8
of shape (32, 32, 3, N), and ``y`` of shape (N, 1) with labels 1..10, where **10 means the digit 0**;
mireg maps label 10 to class 0 so that class ``k`` is the digit ``k``. ``download=True`` fetches
the file of the split from the official site (md5-checked).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from mireg._optional import require
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

FOLDER = "svhn"
BASE_URL = "http://ufldl.stanford.edu/housenumbers/"
FILES = {
    "train": Resource((BASE_URL + "train_32x32.mat",), "train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": Resource((BASE_URL + "test_32x32.mat",), "test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
    "extra": Resource((BASE_URL + "extra_32x32.mat",), "extra_32x32.mat", "a93ce644f1a588dc4d68dda5feec44a7"),
}


def _read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    require("scipy", "reading SVHN's .mat files")
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    except Exception as err:  # scipy raises several types (MatReadError, ValueError, OSError, ...)
        raise CorruptDatasetError(
            f"SVHN file {path} is corrupt or not a MATLAB file ({type(err).__name__}: {err}). "
            "Delete it and download it again (download=True / --download)."
        ) from err
    for key in ("X", "y"):
        if key not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise CorruptDatasetError(f"SVHN file {path} has no {key!r} variable (found {found})")
    return np.asarray(mat["X"]), np.asarray(mat["y"])


@register_dataset("svhn", DatasetInfo(
    "svhn", num_classes=10, channels=3, image_size=32,
    mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970), splits=("train", "test", "extra"),
    description="SVHN cropped digits: 73,257 train / 26,032 test (+531,131 extra) 32x32 colour images",
    augment=True))
def load_svhn(root: str | os.PathLike[str] | None = None, split: str = "train", download: bool = False, *,
              verify: bool = True) -> ImageTensors:
    """SVHN from ``root/svhn/<split>_32x32.mat`` (module docstring); class k is the digit k.

    Example::

        test = load_svhn("data", split="test")   # x: (26032, 3, 32, 32) uint8
    """
    split = check_split(split, tuple(FILES))
    resource = FILES[split]
    root_path = resolve_root(root)
    candidates = [root_path / FOLDER / resource.filename, root_path / resource.filename]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None and download:
        path = download_resource(resource, root_path / FOLDER)
    if path is None:
        raise DatasetNotFoundError(
            f"SVHN: expected file {candidates[0]} (or {candidates[1]}) is missing. Get it with "
            f"load_dataset('svhn', root={str(root_path)!r}, split={split!r}, download=True) (CLI: --download), "
            f"which fetches {resource.url} (md5 {resource.md5})."
        )
    if verify:
        warn_if_modified(path, resource.md5, "SVHN")
    x, y = _read_mat(path)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise CorruptDatasetError(f"SVHN file {path}: 'X' must be uint8 of shape (32, 32, 3, N), "
                                  f"got {x.dtype} {x.shape}")
    y = y.reshape(-1)
    if y.shape[0] != x.shape[3]:
        raise CorruptDatasetError(f"SVHN file {path}: {x.shape[3]} images but {y.shape[0]} labels")
    if y.size and (y.min() < 0 or y.max() > 10):
        raise CorruptDatasetError(f"SVHN file {path}: labels must lie in 0..10 (official: 1..10, 10 = digit 0), "
                                  f"got [{y.min()}, {y.max()}]")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))
    labels = torch.from_numpy(y.astype(np.int64) % 10)
    return ImageTensors(images, labels, [str(d) for d in range(10)])
