"""Decode a CIFAR-10 JPEG pack into the python-pickle layout that ``mireg.data.load_dataset("cifar10")`` reads.

The pack is two files, ``SRC/train.npz`` and ``SRC/test.npz``, each with ``jpeg`` (uint8: the JPEG files
concatenated), ``offsets`` (int64, N + 1: image i is ``jpeg[offsets[i]:offsets[i + 1]]``), ``labels`` (int64)
and ``classes`` (the 10 names). It is how a GPU session carries CIFAR-10 in a small working tree (55 MB
instead of 180 MB decoded). Output: ``OUT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``,
each split shuffled with a fixed seed (as the official batches are shuffled), pickled with protocol 2.

Decoded pixels can differ by one level across libjpeg builds, so ``--report`` records the Pillow version
and the sha256 of the decoded test images (uint8 N x 32 x 32 x 3, in the pack's order) and labels (uint8).

Usage::

    python benchmarks/gpu/decode_cifar10_jpeg.py SRC OUT [--report data.json] [--workers 16]
    python benchmarks/gpu/decode_cifar10_jpeg.py --make-sample SRC --n 300     # a tiny random pack (dry runs)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickle
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_PACK: dict[str, np.ndarray] = {}


def _decode_range(bounds: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    jpeg, offsets = _PACK["jpeg"], _PACK["offsets"]
    out = np.empty((bounds[1] - bounds[0], 32, 32, 3), dtype=np.uint8)
    for k, i in enumerate(range(*bounds)):
        with Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())) as image:
            out[k] = np.asarray(image.convert("RGB"))
    return out


def decode(path: Path, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)) of one npz pack, in file order."""
    with np.load(path) as pack:
        _PACK.update(jpeg=pack["jpeg"], offsets=pack["offsets"])
        labels = pack["labels"].astype(np.int64)
    n = len(labels)
    step = max(1, -(-n // (4 * workers)))
    ranges = [(i, min(i + step, n)) for i in range(0, n, step)]
    with Pool(workers) as pool:  # forked workers read the pack from _PACK
        images = np.concatenate(pool.map(_decode_range, ranges))
    return images, labels


def _pickle(obj: dict, path: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def write_layout(out: Path, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> Path:
    folder = out / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for names, (images, labels) in ((["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                                      "data_batch_5"], train), (["test_batch"], test)):
        order = rng.permutation(len(labels))
        planes = images[order].transpose(0, 3, 1, 2).reshape(len(labels), 3072)  # R, G, B planes per row
        for name, part in zip(names, np.array_split(np.arange(len(labels)), len(names)), strict=True):
            _pickle({"batch_label": name, "labels": labels[order][part].tolist(),
                     "data": np.ascontiguousarray(planes[part])}, folder / name)
    _pickle({"label_names": list(CLASSES), "num_cases_per_batch": 10000, "num_vis": 3072}, folder / "batches.meta")
    return folder


def make_sample(src: Path, n: int) -> None:
    """A pack of ``n`` train and ``n // 3`` test random 32x32 JPEG images (q75), for dry runs and tests."""
    from PIL import Image

    src.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, count in (("train", n), ("test", max(1, n // 3))):
        blobs = []
        for _ in range(count):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=75)
            blobs.append(np.frombuffer(buffer.getvalue(), dtype=np.uint8))
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
        np.savez(src / f"{name}.npz", jpeg=np.concatenate(blobs), offsets=offsets,
                 labels=np.arange(count, dtype=np.int64) % 10, classes=np.array(CLASSES))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path, help="folder with train.npz and test.npz")
    p.add_argument("out", type=Path, nargs="?", help="data root to write cifar-10-batches-py/ into")
    p.add_argument("--report", type=Path, default=None, help="write versions, hashes and timings here (JSON)")
    p.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    p.add_argument("--make-sample", action="store_true", help="write a tiny random pack into SRC instead")
    p.add_argument("--n", type=int, default=300, help="training images of --make-sample")
    args = p.parse_args(argv)
    if args.make_sample:
        make_sample(args.src, args.n)
        return {}
    if args.out is None:
        p.error("OUT is required unless --make-sample")
    import PIL

    start = time.perf_counter()
    train, test = decode(args.src / "train.npz", args.workers), decode(args.src / "test.npz", args.workers)
    folder = write_layout(args.out, train, test)
    report = {"pillow": PIL.__version__, "n_train": len(train[1]), "n_test": len(test[1]), "folder": str(folder),
              "sha256_test_images": hashlib.sha256(test[0].tobytes()).hexdigest(),
              "sha256_test_labels_uint8": hashlib.sha256(test[1].astype(np.uint8).tobytes()).hexdigest(),
              "seconds": time.perf_counter() - start}
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
