"""MNIST and Fashion-MNIST from small generated IDX files in the official layouts (gzip and raw); missing,
corrupt and modified files; downloads from local file:// URLs with md5 checks."""

from __future__ import annotations

import gzip
import hashlib
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

import mireg.data.mnist as mnist_mod
from mireg.data import CorruptDatasetError, DatasetNotFoundError, dataset_info, load_dataset
from mireg.data.download import Resource
from mireg.registry import DATASETS

PREFIX = {"train": "train", "test": "t10k"}


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding written independently of the reader: >HBB magic (0, 0x08, ndim), >I per dimension."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes(order="C")


def write_split(folder: Path, split: str, n: int = 6, seed: int = 0, compress: bool = True,
                num_labels: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, num_labels, n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, array, idx in (("images", images, 3), ("labels", labels, 1)):
        name = f"{PREFIX[split]}-{kind}-idx{idx}-ubyte"
        data = idx_bytes(array)
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("name, folder", [("mnist", "mnist"), ("fashion-mnist", "fashion-mnist")])
@pytest.mark.parametrize("compress", [True, False])
def test_reads_the_official_idx_files(tmp_path, name, folder, compress):
    images, labels = write_split(tmp_path / folder, "test", compress=compress)
    data = load_dataset(name, root=tmp_path, split="test", verify=False)
    assert data.x.shape == (6, 1, 28, 28) and str(data.x.dtype) == "torch.uint8"
    assert np.array_equal(data.x[:, 0].numpy(), images) and data.y.tolist() == labels.tolist()
    assert data.num_classes == 10 and len(data.classes) == 10
    info = dataset_info(name)
    assert (info.num_classes, info.channels, info.image_size) == (10, 1, 28)
    assert name in DATASETS.names()


def test_fashion_classes_and_torchvision_layout(tmp_path):
    write_split(tmp_path / "FashionMNIST" / "raw", "train", n=3, compress=False)
    data = load_dataset("fashion-mnist", root=tmp_path, split="train")
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot" and len(data) == 3
    write_split(tmp_path / "MNIST" / "raw", "train", n=4)
    assert len(load_dataset("mnist", root=tmp_path, split="train", verify=False)) == 4


def test_local_gzip_files_are_checked_against_the_official_md5(tmp_path):
    write_split(tmp_path / "mnist", "train")
    with pytest.warns(UserWarning) as record:
        load_dataset("mnist", root=tmp_path, split="train")
    messages = " ".join(str(w.message) for w in record)
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in messages and "d53e105ee54ea40749a09fcbcd1e9432" in messages
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_dataset("mnist", root=tmp_path, split="train", verify=False)


def test_missing_files_name_the_path_and_the_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", root=tmp_path, split="test")
    text = str(info.value)
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz") in text and "download=True" in text
    assert "9fb629c4189551a2d022fa330f9573f3" in text and "t10k-images-idx3-ubyte.gz" in text
    with pytest.raises(ValueError, match="split"):
        load_dataset("mnist", root=tmp_path, split="extra")


def test_corrupt_files(tmp_path):
    folder = tmp_path / "mnist"
    write_split(folder, "test", n=4)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(b"not gzip at all")
    with pytest.raises(CorruptDatasetError, match="not a readable gzip"):
        load_dataset("mnist", root=tmp_path, split="test", verify=False)
    labels.write_bytes(gzip.compress(struct.pack(">HBB", 0, 0x0D, 1) + struct.pack(">I", 4) + bytes(16)))
    with pytest.raises(CorruptDatasetError, match="not an IDX file of unsigned bytes"):
        load_dataset("mnist", root=tmp_path, split="test", verify=False)
    labels.write_bytes(gzip.compress(idx_bytes(np.zeros(4, np.uint8))[:-1]))
    with pytest.raises(CorruptDatasetError, match="truncated"):
        load_dataset("mnist", root=tmp_path, split="test", verify=False)
    labels.write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(CorruptDatasetError, match="4 images but"):
        load_dataset("mnist", root=tmp_path, split="test", verify=False)
    labels.write_bytes(gzip.compress(idx_bytes(np.full(4, 10, np.uint8))))
    with pytest.raises(CorruptDatasetError, match="label 10"):
        load_dataset("mnist", root=tmp_path, split="test", verify=False)


def test_download_from_local_urls_with_md5_checks(tmp_path, monkeypatch):
    src = tmp_path / "src"
    images, labels = write_split(src, "test", n=5)
    resources = []
    for path in sorted(src.iterdir(), key=lambda p: "labels" in p.name):  # images first, then labels
        md5 = hashlib.md5(path.read_bytes()).hexdigest()
        resources.append(Resource(("file:///no/such/mirror/" + path.name, path.as_uri()), path.name, md5))
    monkeypatch.setattr(mnist_mod, "FASHION_MNIST_FILES", {**mnist_mod.FASHION_MNIST_FILES, "test": tuple(resources)})
    data = load_dataset("fashion-mnist", root=tmp_path / "data", split="test", download=True, verify=False)
    assert (tmp_path / "data" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    assert np.array_equal(data.x[:, 0].numpy(), images) and data.y.tolist() == labels.tolist()
    bad = (Resource((resources[0].urls[1],), resources[0].filename, "0" * 32), resources[1])
    monkeypatch.setattr(mnist_mod, "MNIST_FILES", {**mnist_mod.MNIST_FILES, "test": bad})
    with pytest.raises(CorruptDatasetError, match="expected the official"):
        load_dataset("mnist", root=tmp_path / "other", split="test", download=True)
    assert not any((tmp_path / "other" / "mnist").iterdir())  # nothing half-downloaded is left


def test_official_resources_point_to_the_official_files():
    for files in (mnist_mod.MNIST_FILES, mnist_mod.FASHION_MNIST_FILES):
        for split, (images, labels) in files.items():
            assert images.filename == f"{PREFIX[split]}-images-idx3-ubyte.gz"
            assert labels.filename == f"{PREFIX[split]}-labels-idx1-ubyte.gz"
            assert all(url.endswith(r.filename) for r in (images, labels) for url in r.urls)
            assert all(len(r.md5) == 32 for r in (images, labels))
    assert mnist_mod.MNIST_FILES["train"][0].url.startswith("http://yann.lecun.com/exdb/mnist/")
