"""Tiny-ImageNet-200 (Stanford CS231n) from its official folder layout.

Expected files (``root`` defaults to ``$MIREG_DATA`` or ``./data``)::

    root/tiny-imagenet-200/wnids.txt                          200 WordNet ids, one per line
    root/tiny-imagenet-200/words.txt                          "<wnid>\\t<names>" (class names)
    root/tiny-imagenet-200/train/<wnid>/images/*.JPEG         500 64x64 images per class
    root/tiny-imagenet-200/val/images/*.JPEG                  10,000 images
    root/tiny-imagenet-200/val/val_annotations.txt            "<file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1>"

``split="test"`` (alias ``"val"``) is the official validation set: the official test images have no
labels. Class ``k`` is the ``k``-th wnid in sorted order (torchvision ``ImageFolder`` order); its
name is the first synonym in ``words.txt`` (the wnid when ``words.txt`` is absent). Greyscale JPEGs
are converted to RGB. Decoding 100,000 JPEGs takes a while: ``cache=True`` keeps the decoded
tensors in ``.mireg-cache-*.pt`` files for the next load. ``download=True`` fetches the official zip
(248 MB, md5-checked) and unpacks it into ``root``.
"""

from __future__ import annotations

import os
from pathlib import Path

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
from mireg.data.download import Resource, download_and_extract
from mireg.data.image_folder import IMAGE_EXTENSIONS, check_image_options, load_cached

FOLDER = "tiny-imagenet-200"
ARCHIVE = Resource(("http://cs231n.stanford.edu/tiny-imagenet-200.zip",), "tiny-imagenet-200.zip",
                   "90528d7ca1a48142e341f4ef8d21d0de")


def _missing(root: Path, path: Path) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"Tiny-ImageNet: expected {path} is missing. Get the dataset with load_dataset('tiny-imagenet', "
        f"root={str(root)!r}, download=True) (CLI: --download), which fetches {ARCHIVE.url} (md5 {ARCHIVE.md5}) "
        f"and unpacks it into {root / FOLDER}."
    )


def _read_lines(path: Path) -> list[str]:
    try:
        return [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as err:
        raise CorruptDatasetError(f"Tiny-ImageNet file {path} is not UTF-8 text ({err})") from err


def _class_names(base: Path, wnids: list[str]) -> list[str]:
    words = base / "words.txt"
    if not words.is_file():
        return list(wnids)
    names: dict[str, str] = {}
    for line in _read_lines(words):
        wnid, _, text = line.partition("\t")
        names[wnid.strip()] = text.split(",")[0].strip()
    return [names.get(w) or w for w in wnids]


@register_dataset("tiny-imagenet", DatasetInfo(
    "tiny-imagenet", num_classes=200, channels=3, image_size=64,
    mean=(0.4802, 0.4481, 0.3975), std=(0.2770, 0.2691, 0.2821), splits=("train", "test", "val"),
    description="Tiny-ImageNet-200: 100,000 train / 10,000 val (used as test) 64x64 colour images, 200 classes",
    augment=True))
def load_tiny_imagenet(root: str | os.PathLike[str] | None = None, split: str = "train", download: bool = False, *,
                       image_size: int | None = None, cache: bool = False, progress: bool = True) -> ImageTensors:
    """Tiny-ImageNet-200 from ``root/tiny-imagenet-200`` (module docstring); ``split="test"`` is the val set.

    Example::

        val = load_tiny_imagenet("data", split="test", cache=True)   # x: (10000, 3, 64, 64) uint8
    """
    split = check_split(split, ("train", "test", "val"))
    check_image_options(3, image_size)
    root_path = resolve_root(root)
    base = root_path / FOLDER
    if download and not (base / "wnids.txt").is_file():
        download_and_extract(ARCHIVE, root_path)
    if not (base / "wnids.txt").is_file():
        raise _missing(root_path, base / "wnids.txt")
    wnids = sorted({w.strip() for w in _read_lines(base / "wnids.txt")})
    if not wnids:
        raise CorruptDatasetError(f"Tiny-ImageNet file {base / 'wnids.txt'} lists no class ids")
    index = {w: i for i, w in enumerate(wnids)}
    paths: list[Path] = []
    labels: list[int] = []
    if split == "train":
        for wnid in wnids:
            folder = base / "train" / wnid / "images"
            if not folder.is_dir():
                raise _missing(root_path, folder)
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise _missing(root_path, folder / f"{wnid}_0.JPEG")
            paths += files
            labels += [index[wnid]] * len(files)
        cache_dir = base / "train"
    else:
        annotations = base / "val" / "val_annotations.txt"
        if not annotations.is_file():
            raise _missing(root_path, annotations)
        for number, line in enumerate(_read_lines(annotations), start=1):
            parts = line.split("\t")
            if len(parts) < 2 or parts[1] not in index:
                raise CorruptDatasetError(f"Tiny-ImageNet file {annotations}, line {number}: expected "
                                          f"'<file>\\t<wnid>...' with a wnid from wnids.txt, got {line!r}")
            paths.append(base / "val" / "images" / parts[0])
            labels.append(index[parts[1]])
        cache_dir = base / "val"
    for path in paths:
        if not path.is_file():
            raise _missing(root_path, path)
    cache_path = cache_dir / f".mireg-cache-{image_size or 'orig'}.pt"
    return load_cached(cache_path, paths, torch.tensor(labels, dtype=torch.long), _class_names(base, wnids), 3,
                       image_size, cache, progress, f"tiny-imagenet {split}")
