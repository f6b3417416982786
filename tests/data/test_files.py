"""File-format loaders on small generated files in the official layouts: CIFAR-10/100 pickles, SVHN .mat,
Tiny-ImageNet folders, generic image folders; missing and corrupt files; downloads from local file:// URLs."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

import mireg.data.cifar as cifar_mod
import mireg.data.image_folder as folder_mod
import mireg.data.svhn as svhn_mod
import mireg.data.tiny_imagenet as tiny_mod
from mireg.data import CorruptDatasetError, DatasetNotFoundError, dataset_info, load_dataset
from mireg.data.download import Resource, download_resource, extract_archive, md5sum

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------- CIFAR

def write_cifar10(root: Path, n: int = 4, bytes_keys: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    """The official layout with n images per batch; returns the raw arrays written."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    raw = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        raw[name] = (data, labels)
        batch = {key("batch_label"): key(name), key("labels"): labels.tolist(), key("data"): data,
                 key("filenames"): [key(f"{i}.png") for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {key("label_names"): [key(c) for c in CIFAR10_NAMES], key("num_cases_per_batch"): n,
            key("num_vis"): 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return raw


def write_cifar100(root: Path, n: int = 6, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    raw = {}
    for name in ("train", "test"):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine, coarse = rng.integers(0, 100, n), rng.integers(0, 20, n)
        raw[name] = (data, fine, coarse)
        batch = {"filenames": [f"{i}.png" for i in range(n)], "batch_label": name, "fine_labels": fine.tolist(),
                 "coarse_labels": coarse.tolist(), "data": data}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {"fine_label_names": [f"fine{i}" for i in range(100)],
            "coarse_label_names": [f"coarse{i}" for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return raw


@pytest.mark.parametrize("bytes_keys", [False, True])
def test_cifar10_reads_official_layout(tmp_path, bytes_keys):
    raw = write_cifar10(tmp_path, n=4, bytes_keys=bytes_keys)
    with pytest.warns(UserWarning, match="not the official"):
        train = load_dataset("cifar10", root=tmp_path, split="train")
    test = load_dataset("cifar10", root=str(tmp_path), split="test", verify=False)
    assert train.x.shape == (20, 3, 32, 32) and test.x.shape == (4, 3, 32, 32)
    assert train.classes == CIFAR10_NAMES and train.x.dtype == torch.uint8
    data, labels = raw["test_batch"]
    # independent index arithmetic: value of channel c, row i, column j is data[:, 1024 c + 32 i + j]
    for c, i, j in [(0, 0, 0), (1, 5, 7), (2, 31, 31), (2, 0, 31)]:
        assert torch.equal(test.x[:, c, i, j], torch.from_numpy(data[:, 1024 * c + 32 * i + j]))
    assert test.y.tolist() == labels.tolist()
    expected_train = np.concatenate([raw[f"data_batch_{b}"][1] for b in range(1, 6)])
    assert train.y.tolist() == expected_train.tolist()


def test_cifar10_local_checksum_warning_once_and_verify_off(tmp_path):
    write_cifar10(tmp_path)
    with pytest.warns(UserWarning) as record:
        load_dataset("cifar10", root=tmp_path, split="test")
        load_dataset("cifar10", root=tmp_path, split="test")
    messages = [str(w.message) for w in record if "not the official" in str(w.message)]
    assert len(messages) == 2  # test_batch and batches.meta, once each
    assert any("40351d587109b95175f43aff81a1287e" in m for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_dataset("cifar10", root=tmp_path, split="test", verify=False)


def test_cifar10_missing_file_message(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("cifar10", root=tmp_path, split="train", verify=False)
    text = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_3") in text
    assert "download=True" in text and "--download" in text and "https://www.cs.toronto.edu/~kriz/cifar.html" in text
    load_dataset("cifar10", root=tmp_path, split="test", verify=False)  # the test split is still complete
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(DatasetNotFoundError, match="batches.meta"):
        load_dataset("cifar10", root=tmp_path, split="test", verify=False)
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        load_dataset("cifar10", root=tmp_path / "elsewhere", split="test")


def test_cifar10_corrupt_files(tmp_path):
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    blob = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(blob[: len(blob) // 2])  # truncated
    with pytest.raises(CorruptDatasetError, match=r"test_batch is corrupt"):
        load_dataset("cifar10", root=tmp_path, split="test", verify=False)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((3, 100), np.uint8), "labels": [0, 1, 2]}))
    with pytest.raises(CorruptDatasetError, match=r"\(N, 3072\)"):
        load_dataset("cifar10", root=tmp_path, split="test", verify=False)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((3, 3072), np.uint8), "labels": [0, 11, 2]}))
    with pytest.raises(CorruptDatasetError, match=r"labels must lie in \[0, 9\]"):
        load_dataset("cifar10", root=tmp_path, split="test", verify=False)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((3, 3072), np.uint8), "labels": [0]}))
    with pytest.raises(CorruptDatasetError, match="3 images but 1 labels"):
        load_dataset("cifar10", root=tmp_path, split="test", verify=False)
    (folder / "test_batch").write_bytes(pickle.dumps({"labels": [0]}))
    with pytest.raises(CorruptDatasetError, match="no 'data' entry"):
        load_dataset("cifar10", root=tmp_path, split="test", verify=False)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_pickle_cannot_run_code(tmp_path, capsys):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({"data": _Evil(), "labels": []}))
    with pytest.raises(CorruptDatasetError, match="unexpected global builtins.print"):
        load_dataset("cifar10", root=tmp_path, split="test", verify=False)
    assert "pwned" not in capsys.readouterr().out


def test_cifar100_fine_and_coarse(tmp_path):
    raw = write_cifar100(tmp_path)
    fine = load_dataset("cifar100", root=tmp_path, split="test", verify=False)
    coarse = load_dataset("cifar100", root=tmp_path, split="train", label_type="coarse", verify=False)
    assert fine.x.shape == (6, 3, 32, 32) and len(fine.classes) == 100 and fine.classes[3] == "fine3"
    assert fine.y.tolist() == raw["test"][1].tolist()
    assert coarse.y.tolist() == raw["train"][2].tolist() and coarse.classes[19] == "coarse19"
    assert torch.equal(fine.x.reshape(6, -1), torch.from_numpy(raw["test"][0]))
    assert dataset_info("cifar100").num_classes == 100
    assert dataset_info("cifar100", label_type="coarse").num_classes == 20
    with pytest.raises(ValueError, match="label_type"):
        load_dataset("cifar100", root=tmp_path, label_type="medium")
    (tmp_path / "cifar-100-python" / "meta").write_bytes(b"not a pickle")
    with pytest.raises(CorruptDatasetError, match="meta is corrupt"):
        load_dataset("cifar100", root=tmp_path, split="test", verify=False)


def _tar_gz(src_root: Path, member: str, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(src_root / member, arcname=member)
    return out


def test_cifar10_download_from_local_url(tmp_path, monkeypatch):
    src = tmp_path / "src"
    raw = write_cifar10(src)
    archive = _tar_gz(src, "cifar-10-batches-py", tmp_path / "cifar-10-python.tar.gz")
    good = Resource(("file:///no/such/mirror.tar.gz", archive.as_uri()), "cifar-10-python.tar.gz", _md5(archive))
    monkeypatch.setattr(cifar_mod, "CIFAR10", dataclasses.replace(cifar_mod.CIFAR10, archive=good))
    root = tmp_path / "data"
    with pytest.raises(DatasetNotFoundError):
        load_dataset("cifar10", root=root, split="test")  # download=False never fetches
    test = load_dataset("cifar10", root=root, split="test", download=True, verify=False)
    assert torch.equal(test.x.reshape(4, -1), torch.from_numpy(raw["test_batch"][0]))
    assert (root / "cifar-10-python.tar.gz").is_file() and not list(root.glob("*.part"))


def test_download_md5_mismatch_is_an_error_and_leaves_nothing(tmp_path, monkeypatch):
    src = tmp_path / "src"
    write_cifar10(src)
    archive = _tar_gz(src, "cifar-10-batches-py", tmp_path / "cifar-10-python.tar.gz")
    bad = Resource((archive.as_uri(),), "cifar-10-python.tar.gz", "0" * 32)
    monkeypatch.setattr(cifar_mod, "CIFAR10", dataclasses.replace(cifar_mod.CIFAR10, archive=bad))
    root = tmp_path / "data"
    with pytest.raises(CorruptDatasetError, match="expected the official 0000"):
        load_dataset("cifar10", root=root, split="test", download=True)
    assert not list(root.glob("*"))
    with pytest.raises(OSError, match="could not download"):
        download_resource(Resource(("file:///no/such/file",), "x.tar.gz", "0" * 32), root, progress=False)


def test_download_skips_good_existing_file(tmp_path):
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"abc" * 1000)
    res = Resource((payload.as_uri(),), "copy.bin", md5sum(payload))
    first = download_resource(res, tmp_path / "d", progress=False)
    payload.unlink()  # the source is gone: a second call must not need it
    assert download_resource(res, tmp_path / "d", progress=False) == first
    assert md5sum(first) == res.md5


def test_extract_refuses_path_traversal(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(CorruptDatasetError, match="outside"):
        extract_archive(bad, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    bad_zip = tmp_path / "bad.zip"
    bad_zip.write_bytes(b"PK garbage")
    with pytest.raises(CorruptDatasetError, match="cannot unpack"):
        extract_archive(bad_zip, tmp_path / "out")
    with pytest.raises(ValueError, match="archive must end in"):
        extract_archive(tmp_path / "file.rar", tmp_path / "out")


# ------------------------------------------------------------------------------------------------ SVHN

def write_svhn(path: Path, n: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = np.array([10, 1, 9, 10, 5][:n], dtype=np.uint8).reshape(n, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"X": x, "y": y})
    return x, y


def test_svhn_reads_mat_and_maps_10_to_0(tmp_path):
    x, y = write_svhn(tmp_path / "svhn" / "train_32x32.mat")
    data = load_dataset("svhn", root=tmp_path, split="train", verify=False)
    assert data.x.shape == (5, 3, 32, 32) and data.classes == [str(d) for d in range(10)]
    assert data.y.tolist() == [0, 1, 9, 0, 5]
    for n, c, i, j in [(0, 0, 0, 0), (4, 2, 31, 0), (2, 1, 7, 19)]:
        assert int(data.x[n, c, i, j]) == int(x[i, j, c, n])
    # torchvision's layout (files directly in root) works too
    write_svhn(tmp_path / "tv" / "test_32x32.mat")
    assert len(load_dataset("svhn", root=tmp_path / "tv", split="test", verify=False)) == 5
    with pytest.warns(UserWarning, match="eb5a983be6a315427106f1b164d9cef3"):
        load_dataset("svhn", root=tmp_path / "tv", split="test")


def test_svhn_missing_and_corrupt(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("svhn", root=tmp_path, split="test")
    assert str(tmp_path / "svhn" / "test_32x32.mat") in str(info.value) and "download=True" in str(info.value)
    path = tmp_path / "svhn" / "test_32x32.mat"
    path.parent.mkdir()
    path.write_bytes(b"MATLAB 5.0 MAT-file, but then garbage" * 3)
    with pytest.raises(CorruptDatasetError, match="test_32x32.mat is corrupt"):
        load_dataset("svhn", root=tmp_path, split="test", verify=False)
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(CorruptDatasetError, match="no 'y' variable"):
        load_dataset("svhn", root=tmp_path, split="test", verify=False)
    scipy.io.savemat(path, {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(CorruptDatasetError, match=r"\(32, 32, 3, N\)"):
        load_dataset("svhn", root=tmp_path, split="test", verify=False)
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [11]])})
    with pytest.raises(CorruptDatasetError, match="labels must lie in"):
        load_dataset("svhn", root=tmp_path, split="test", verify=False)
    with pytest.raises(ValueError, match="split"):
        load_dataset("svhn", root=tmp_path, split="valid")


def test_svhn_download_from_local_url(tmp_path, monkeypatch):
    x, _ = write_svhn(tmp_path / "src" / "test_32x32.mat")
    src = tmp_path / "src" / "test_32x32.mat"
    files = dict(svhn_mod.FILES, test=Resource((src.as_uri(),), "test_32x32.mat", _md5(src)))
    monkeypatch.setattr(svhn_mod, "FILES", files)
    data = load_dataset("svhn", root=tmp_path / "data", split="test", download=True, verify=False)
    assert (tmp_path / "data" / "svhn" / "test_32x32.mat").is_file()
    assert int(data.x[3, 1, 2, 3]) == int(x[2, 3, 1, 3])


# ---------------------------------------------------------------------------------------- Tiny-ImageNet

WNIDS = ["n02124075", "n01443537", "n09999999"]  # not sorted on purpose


def write_tiny(root: Path, per_class: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Official layout with PNG-encoded content (exact pixels) under .JPEG names, one real greyscale JPEG."""
    rng = np.random.default_rng(seed)
    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (base / "words.txt").write_text("n01443537\tgoldfish, Carassius auratus\nn02124075\tEgyptian cat\n"
                                    "n00000001\tunused\n")
    pixels = {}
    for wnid in WNIDS:
        folder = base / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(arr).save(folder / f"{wnid}_{i}.JPEG", format="PNG")
            pixels[f"{wnid}_{i}"] = arr
    grey = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(grey, mode="L").save(base / "val" / "images" / "val_0.JPEG", format="JPEG")
    lines = ["val_0.JPEG\tn09999999\t0\t0\t10\t10"]
    for k, wnid in enumerate(WNIDS[:2], start=1):
        arr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(arr).save(base / "val" / "images" / f"val_{k}.JPEG", format="PNG")
        pixels[f"val_{k}"] = arr
        lines.append(f"val_{k}.JPEG\t{wnid}\t1\t2\t30\t40")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return pixels


def test_tiny_imagenet_layout(tmp_path):
    pixels = write_tiny(tmp_path)
    train = load_dataset("tiny-imagenet", root=tmp_path, split="train", progress=False)
    assert train.x.shape == (6, 3, 64, 64)
    assert train.classes == ["goldfish", "Egyptian cat", "n09999999"]   # sorted wnids, names from words.txt
    assert train.y.tolist() == [0, 0, 1, 1, 2, 2]
    assert torch.equal(train.x[2], torch.from_numpy(pixels["n02124075_0"]).permute(2, 0, 1))
    test = load_dataset("tiny-imagenet", root=tmp_path, split="test", progress=False)
    val = load_dataset("tiny-imagenet", root=tmp_path, split="val", progress=False)
    assert torch.equal(test.x, val.x) and test.y.tolist() == [2, 1, 0]
    assert torch.equal(test.x[1], torch.from_numpy(pixels["val_1"]).permute(2, 0, 1))
    assert torch.equal(test.x[0, 0], test.x[0, 1]) and torch.equal(test.x[0, 0], test.x[0, 2])  # grey -> RGB
    small = load_dataset("tiny-imagenet", root=tmp_path, split="test", image_size=32, progress=False)
    assert small.x.shape == (3, 3, 32, 32)
    info = dataset_info("tiny-imagenet")
    assert (info.num_classes, info.image_size) == (200, 64)


def test_tiny_imagenet_missing_and_corrupt(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("tiny-imagenet", root=tmp_path)
    assert "wnids.txt" in str(info.value) and "download=True" in str(info.value)
    write_tiny(tmp_path)
    base = tmp_path / "tiny-imagenet-200"
    (base / "val" / "images" / "val_2.JPEG").unlink()
    with pytest.raises(DatasetNotFoundError, match="val_2.JPEG"):
        load_dataset("tiny-imagenet", root=tmp_path, split="test", progress=False)
    (base / "val" / "images" / "val_2.JPEG").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(CorruptDatasetError, match="cannot decode image .*val_2.JPEG"):
        load_dataset("tiny-imagenet", root=tmp_path, split="test", progress=False)
    (base / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn12345678\t0\t0\t1\t1\n")
    with pytest.raises(CorruptDatasetError, match="line 1"):
        load_dataset("tiny-imagenet", root=tmp_path, split="test", progress=False)
    (base / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="val_annotations.txt"):
        load_dataset("tiny-imagenet", root=tmp_path, split="test", progress=False)
    for f in (base / "train" / "n01443537" / "images").iterdir():
        f.unlink()
    with pytest.raises(DatasetNotFoundError, match="n01443537"):
        load_dataset("tiny-imagenet", root=tmp_path, split="train", progress=False)


def test_tiny_imagenet_cache_reused_and_invalidated(tmp_path, monkeypatch):
    write_tiny(tmp_path)
    first = load_dataset("tiny-imagenet", root=tmp_path, split="train", cache=True, progress=False)
    assert list((tmp_path / "tiny-imagenet-200" / "train").glob(".mireg-cache-*.pt"))

    def fail(*args, **kwargs):
        raise AssertionError("decoded although the cache is valid")

    monkeypatch.setattr(folder_mod, "decode_images", fail)
    again = load_dataset("tiny-imagenet", root=tmp_path, split="train", cache=True, progress=False)
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)
    monkeypatch.undo()
    img = tmp_path / "tiny-imagenet-200" / "train" / "n09999999" / "images" / "n09999999_1.JPEG"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(img, format="PNG")
    changed = load_dataset("tiny-imagenet", root=tmp_path, split="train", cache=True, progress=False)
    assert int(changed.x[5].sum()) == 0 and not torch.equal(changed.x, first.x)


def test_tiny_imagenet_download_zip_from_local_url(tmp_path, monkeypatch):
    write_tiny(tmp_path / "src")
    archive = tmp_path / "tiny-imagenet-200.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((tmp_path / "src").rglob("*")):
            zf.write(path, path.relative_to(tmp_path / "src").as_posix())
    monkeypatch.setattr(tiny_mod, "ARCHIVE", Resource((archive.as_uri(),), archive.name, _md5(archive)))
    data = load_dataset("tiny-imagenet", root=tmp_path / "data", split="test", download=True, progress=False)
    assert data.x.shape == (3, 3, 64, 64)


# ----------------------------------------------------------------------------------------- image folder

def write_folder(root: Path, size=(8, 6), classes=("dog", "cat"), per_class: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    pixels = {}
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / name / f"{i}.png")
            pixels[(name, i)] = arr
    return pixels


def test_image_folder_split_layout_and_flat_layout(tmp_path):
    pixels = write_folder(tmp_path / "ds" / "train")
    write_folder(tmp_path / "ds" / "test", per_class=1, seed=1)
    train = load_dataset("image-folder", root=tmp_path / "ds", split="train", progress=False)
    assert train.classes == ["cat", "dog"] and train.y.tolist() == [0, 0, 1, 1]
    assert train.x.shape == (4, 3, 6, 8)
    assert torch.equal(train.x[2], torch.from_numpy(pixels[("dog", 0)]).permute(2, 0, 1))
    assert len(load_dataset("image-folder", root=tmp_path / "ds", split="test", progress=False)) == 2
    with pytest.raises(DatasetNotFoundError, match="split 'val'"):
        load_dataset("image-folder", root=tmp_path / "ds", split="val", progress=False)
    write_folder(tmp_path / "flat")
    flat = load_dataset("image-folder", root=tmp_path / "flat", split="train", progress=False)
    assert torch.equal(flat.x, train.x)
    with pytest.raises(DatasetNotFoundError, match="flat/test"):
        load_dataset("image-folder", root=tmp_path / "flat", split="test", progress=False)
    grey = load_dataset("image-folder", root=tmp_path / "flat", channels=1, image_size=4, progress=False)
    assert grey.x.shape == (4, 1, 4, 4)
    assert dataset_info("image-folder", channels=1, image_size=4).image_size == 4


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_dataset("image-folder", root=tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no class folders"):
        load_dataset("image-folder", root=tmp_path / "empty")
    write_folder(tmp_path / "mixed")
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "mixed" / "cat" / "9.png")
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("image-folder", root=tmp_path / "mixed", progress=False)
    assert load_dataset("image-folder", root=tmp_path / "mixed", image_size=5, progress=False).x.shape[0] == 5
    (tmp_path / "mixed" / "cat" / "9.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(CorruptDatasetError, match="9.png"):
        load_dataset("image-folder", root=tmp_path / "mixed", image_size=5, progress=False)
    (tmp_path / "mixed" / "bird").mkdir()
    (tmp_path / "mixed" / "bird" / "notes.txt").write_text("no images here")
    with pytest.raises(DatasetNotFoundError, match="bird has no images"):
        load_dataset("image-folder", root=tmp_path / "mixed", image_size=5, progress=False)
    with pytest.raises(ValueError, match="download=True is not available"):
        load_dataset("image-folder", root=tmp_path / "mixed", download=True)
    with pytest.raises(ValueError, match="channels"):
        load_dataset("image-folder", root=tmp_path / "mixed", channels=4)
    with pytest.raises(TypeError, match="root"):
        load_dataset("image-folder", root=3)


def test_default_root_from_environment(tmp_path, monkeypatch):
    write_cifar10(tmp_path)
    monkeypatch.setenv("MIREG_DATA", str(tmp_path))
    assert len(load_dataset("cifar10", split="test", verify=False)) == 4
