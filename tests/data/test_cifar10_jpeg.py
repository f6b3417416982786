"""The CIFAR-10 JPEG-q75 copy, converted to the official pickle layout by the workspace's
``cifar10_from_jpeg.py``, loads through ``load_dataset("cifar10")`` (skipped when the copy is absent).

To stay fast (~7 s) only the test split is decoded and written: the tool's train decode is replaced by
the test images tiled five times and its train batches are not written (the five-batch train path is
covered by tests/test_data_files.py on generated batches).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import PIL
import pytest

from mireg.data import dataset_info, load_dataset

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PACK = SHARED / "data" / "cifar10-jpeg"
TOOL = SHARED / "tools" / "cifar10_from_jpeg.py"
OFFICIAL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

pytestmark = pytest.mark.skipif(not (PACK / "test.npz").is_file() or not TOOL.is_file(),
                                reason="the CIFAR-10 JPEG-q75 copy of the development workspace is not available")


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("cifar10_from_jpeg", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    test_x, test_y, classes = tool.decode("test", str(PACK))
    tool.decode = lambda split, pack_dir=None: ((test_x, test_y, classes) if split == "test"
                                                else (np.tile(test_x, (5, 1, 1, 1)), np.tile(test_y, 5), classes))
    dump = tool._dump
    tool._dump = lambda obj, path: None if Path(path).name.startswith("data_batch") else dump(obj, path)
    out = tmp_path_factory.mktemp("cifar10_q75")
    tool.write_python_layout(str(out), str(PACK))
    return out


def test_jpeg_copy_loads_in_official_layout_with_a_checksum_warning(converted):
    with pytest.warns(UserWarning, match="not the official"):
        test = load_dataset("cifar10", root=converted, split="test")
    assert test.x.shape == (10000, 3, 32, 32) and test.classes == OFFICIAL_NAMES
    assert test.class_counts().tolist() == [1000] * 10
    # undo the tool's fixed shuffle and compare with the documented reference decode (Pillow 13.0.0)
    order = np.random.default_rng(1).permutation(10000)
    file_order = np.empty((10000, 32, 32, 3), np.uint8)
    file_order[order] = test.x.permute(0, 2, 3, 1).numpy()
    labels = np.empty(10000, np.uint8)
    labels[order] = test.y.numpy().astype(np.uint8)
    assert hashlib.sha256(labels.tobytes()).hexdigest().startswith("a054c239a40ee7f2")
    if PIL.__version__ == "13.0.0":
        assert hashlib.sha256(file_order.tobytes()).hexdigest().startswith("5a6aa8185204d80b")
    mean, std = test.mean_std()
    official_mean, official_std = (0.4942, 0.4851, 0.4504), (0.2467, 0.2429, 0.2616)
    assert np.allclose(mean, official_mean, atol=2e-3) and np.allclose(std, official_std, atol=3e-3)
    assert np.allclose(mean, dataset_info("cifar10").mean, atol=6e-3)
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        load_dataset("cifar10", root=converted, split="train", verify=False)

