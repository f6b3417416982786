"""A generic image-folder dataset (``root/<split>/<class>/*.png|jpg``) and the shared image decoder.

Layout: ``root/<split>/<class>/<image>`` (e.g. ``root/train/cat/001.png``), or ``root/<class>/<image>``
for ``split="train"`` when there are no split folders. Classes are the sorted sub-folder names
(as torchvision's ``ImageFolder``); files are read in sorted order; extensions ``.png``, ``.jpg``,
``.jpeg``, ``.bmp``, ``.gif``, ``.webp``, ``.tif``, ``.tiff`` (any case). Images are converted to RGB
(``channels=3``) or greyscale (``channels=1``) and, when ``image_size`` is given, resized to
``image_size`` x ``image_size`` with Pillow's bilinear filter (aspect ratio not kept); without it all
images must share one size. ``cache=True`` stores the decoded tensors next to the images
(``.mireg-cache-*.pt``) and reuses them while the file list, sizes and times are unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mireg._validation import check_number
from mireg.checkpoints import load_file, save_file
from mireg.data.base import (
    CorruptDatasetError,
    DatasetInfo,
    DatasetNotFoundError,
    ImageTensors,
    check_split,
    register_dataset,
    resolve_root,
)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def check_image_options(channels: object, image_size: object) -> None:
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if image_size is not None:
        check_number("image_size", image_size, low=1, integer=True)


def decode_images(paths: Sequence[Path], channels: int = 3, image_size: int | None = None, *,
                  progress: bool = True, desc: str = "decoding") -> torch.Tensor:
    """Decode image files into one uint8 tensor (N, channels, H, W) (module docstring for the rules).

    Raises:
        DatasetNotFoundError: a file is missing.
        CorruptDatasetError: a file cannot be decoded.
        ValueError: sizes differ and ``image_size`` is None.
    """
    from PIL import Image
    from tqdm.auto import tqdm

    check_image_options(channels, image_size)
    mode = "RGB" if channels == 3 else "L"
    out: np.ndarray | None = None
    first: Path | None = None
    for i, path in enumerate(tqdm(paths, desc=desc, unit="img", leave=False, disable=not progress)):
        try:
            with Image.open(path) as im:
                im = im.convert(mode)
                if image_size is not None and im.size != (image_size, image_size):
                    im = im.resize((image_size, image_size), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except FileNotFoundError as err:
            raise DatasetNotFoundError(f"expected image file {path} is missing") from err
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            raise CorruptDatasetError(f"cannot decode image {path} ({type(err).__name__}: {err}); "
                                      "delete or replace the file") from err
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if out is None:
            out = np.empty((len(paths), *arr.shape), dtype=np.uint8)
            first = path
        elif arr.shape != out.shape[1:]:
            raise ValueError(f"images have different sizes: {first} is {out.shape[2]}x{out.shape[1]} but {path} is "
                             f"{arr.shape[1]}x{arr.shape[0]}; pass image_size=... to resize them all")
        out[i] = arr
    if out is None:
        raise DatasetNotFoundError("no image files to decode")
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _fingerprint(paths: Sequence[Path]) -> list[int]:
    stats = [p.stat() for p in paths]
    return [len(stats), sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)]


def load_cached(cache_path: Path, paths: Sequence[Path], labels: torch.Tensor, classes: list[str], channels: int,
                image_size: int | None, cache: bool, progress: bool, desc: str) -> ImageTensors:
    """Decode ``paths`` (or reuse ``cache_path`` when ``cache`` and the fingerprint matches)."""
    fingerprint = _fingerprint(paths) if cache else []
    if cache and cache_path.is_file():
        try:
            saved = load_file(cache_path)
            if saved["fingerprint"] == fingerprint and saved["classes"] == classes and torch.equal(saved["y"], labels):
                return ImageTensors(saved["x"], saved["y"], classes)
        except Exception:  # an unreadable or stale cache is rebuilt
            pass
    x = decode_images(paths, channels, image_size, progress=progress, desc=desc)
    data = ImageTensors(x, labels, classes)
    if cache:
        save_file({"x": data.x, "y": data.y, "classes": classes, "fingerprint": fingerprint}, cache_path)
    return data


def _layout_hint(root: Path) -> str:
    return (f"Expected {root}/<split>/<class>/<image> (e.g. {root}/train/cat/001.png) or, for split='train', "
            f"{root}/<class>/<image>; image types {', '.join(IMAGE_EXTENSIONS)}")


@register_dataset("image-folder", DatasetInfo(
    "image-folder", num_classes=None, channels=3, image_size=None,
    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), splits=("train", "val", "test"),
    description="any folder of class sub-folders of images; mean/std default to ImageNet's (use data.mean_std())"))
def load_image_folder(root: str | os.PathLike[str] | None = None, split: str = "train", download: bool = False, *,
                      image_size: int | None = None, channels: int = 3, cache: bool = False,
                      progress: bool = True) -> ImageTensors:
    """Images from ``root/<split>/<class>/*`` (module docstring); classes are sorted folder names.

    Example::

        train = load_image_folder("my_images", split="train", image_size=32)
        train.classes        # ['cat', 'dog']
    """
    split = check_split(split, ("train", "val", "test"))
    check_image_options(channels, image_size)
    if download:
        raise ValueError("download=True is not available for 'image-folder': there is no official source; "
                         "put the images under root/<split>/<class>/")
    root_path = resolve_root(root)
    if not root_path.is_dir():
        raise DatasetNotFoundError(f"image folder {root_path} does not exist. {_layout_hint(root_path)}.")
    folder = root_path / split
    if not folder.is_dir():
        has_splits = any((root_path / s).is_dir() for s in ("train", "val", "test"))
        if split != "train" or has_splits:
            raise DatasetNotFoundError(f"image folder {folder} for split {split!r} does not exist. "
                                       f"{_layout_hint(root_path)}.")
        folder = root_path
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DatasetNotFoundError(f"no class folders in {folder}. {_layout_hint(root_path)}.")
    paths: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise DatasetNotFoundError(f"class folder {folder / name} has no images ({', '.join(IMAGE_EXTENSIONS)})")
        paths += files
        labels += [index] * len(files)
    cache_path = folder / f".mireg-cache-{channels}c-{image_size or 'orig'}.pt"
    return load_cached(cache_path, paths, torch.tensor(labels, dtype=torch.long), classes, channels, image_size,
                       cache, progress, f"image-folder {split}")
