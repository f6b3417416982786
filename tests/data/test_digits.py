"""The embedded digits dataset, ImageTensors, dataset_info, load_dataset and split_validation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mireg.data import (
    DatasetInfo,
    ImageTensors,
    dataset_info,
    load_dataset,
    split_validation,
)
from mireg.registry import DATASETS


def test_digits_shapes_ranges_and_split_sizes():
    train = load_dataset("digits", split="train")
    test = load_dataset("digits", split="test")
    assert train.x.shape == (1297, 3, 32, 32) and test.x.shape == (500, 3, 32, 32)
    assert train.x.dtype == torch.uint8 and train.y.dtype == torch.long
    assert train.classes == [str(d) for d in range(10)]
    assert int(train.x.min()) == 0 and int(train.x.max()) == 255
    assert set(train.y.tolist()) == set(range(10)) and set(test.y.tolist()) == set(range(10))
    # grey replicated to 3 identical channels
    assert torch.equal(train.x[:, 0], train.x[:, 1]) and torch.equal(train.x[:, 0], train.x[:, 2])
    f = train.float()
    assert f.dtype == torch.float32 and float(f.min()) == 0.0 and float(f.max()) == 1.0
    assert len(train) == 1297 and train.num_classes == 10


def test_digits_is_deterministic_and_train_test_disjoint():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    from sklearn.datasets import load_digits

    raw = torch.as_tensor(load_digits().images).flatten(1)
    train8 = load_dataset("digits", split="train", image_size=8, channels=1)
    test8 = load_dataset("digits", split="test", image_size=8, channels=1)
    # every image of the 8x8 version maps back to a distinct row of the raw data: together all 1797
    rows = torch.cat([train8.x, test8.x]).flatten(1).double() * 16 / 255
    dist = torch.cdist(rows, raw)
    nearest = dist.argmin(1)
    assert torch.unique(nearest).numel() == 1797
    assert float(dist.min(1).values.max()) < 0.5 * 16 / 255 * 8 + 1e-9


def _independent_split() -> dict[str, torch.Tensor]:
    """scikit-learn's digits as levels / 16, split with ``randperm(1797)`` of seed 0 (1,297 / 500),
    without mireg: the reference the loader is checked against."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return {"x_train": x[:1297], "y_train": y[:1297], "x_test": x[1297:], "y_test": y[1297:]}


def test_digits_matches_an_independent_split():
    """image_size=8, channels=1 reproduces scikit-learn's digits and the fixed split up to the uint8
    rounding (the test fixture ``digits_split`` is this loader)."""
    reference = _independent_split()
    train = load_dataset("digits", split="train", image_size=8, channels=1)
    test = load_dataset("digits", split="test", image_size=8, channels=1)
    assert torch.equal(train.y, reference["y_train"]) and torch.equal(test.y, reference["y_test"])
    assert float((train.float() - reference["x_train"]).abs().max()) <= 0.5 / 255 + 1e-7
    assert float((test.float() - reference["x_test"]).abs().max()) <= 0.5 / 255 + 1e-7


def test_digits_upsampling_is_float64_bilinear():
    small = load_dataset("digits", split="test", image_size=8, channels=1)
    big = load_dataset("digits", split="test", image_size=32, channels=1)
    from sklearn.datasets import load_digits

    ref_src = torch.as_tensor(load_digits().images, dtype=torch.float64)[:, None] * 255 / 16
    from mireg.data.digits import digits_split_indices

    ref = F.interpolate(ref_src[digits_split_indices()[1]], size=(32, 32), mode="bilinear", align_corners=False)
    assert torch.equal(big.x, ref.round().to(torch.uint8))
    assert small.x.shape == (500, 1, 8, 8)
    odd = load_dataset("digits", split="test", image_size=28, channels=3)
    assert odd.x.shape == (500, 3, 28, 28)


def test_digits_info_matches_data():
    info = dataset_info("digits")
    assert isinstance(info, DatasetInfo)
    assert (info.num_classes, info.channels, info.image_size) == (10, 3, 32)
    mean, std = load_dataset("digits").mean_std()
    # independent float64 re-derivation of the documented statistics
    x = load_dataset("digits").x.double() / 255
    assert abs(x.mean().item() - mean[0]) < 1e-9 and abs(x.std(unbiased=False).item() - std[0]) < 1e-9
    assert all(abs(m - info.mean[0]) < 5e-4 for m in mean)
    assert all(abs(s - info.std[0]) < 5e-4 for s in std)
    grey = dataset_info("digits", channels=1)
    assert grey.channels == 1 and len(grey.mean) == 1 and len(grey.std) == 1
    assert dataset_info("digits", channels=None, image_size=None) == info  # None means the default
    assert dataset_info("digits", image_size=8).image_size == 8
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        dataset_info("digits", channels=2)


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"split": "val"}, ValueError, "split"),
    ({"split": 3}, TypeError, "split"),
    ({"channels": 2}, ValueError, "channels"),
    ({"image_size": 0}, ValueError, "image_size"),
    ({"image_size": 3.5}, TypeError, "image_size"),
    ({"download": "yes"}, TypeError, "download"),
])
def test_digits_bad_arguments(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        load_dataset("digits", **kwargs)


def test_unknown_option_names_the_dataset_options():
    with pytest.raises(TypeError, match=r"'digits' does not take option\(s\) 'verify'; its options: image_size, chan"):
        load_dataset("digits", verify=False)
    with pytest.raises(TypeError, match="'cifar10' does not take option.*'image_size'.*verify"):
        load_dataset("cifar10", image_size=32)


def test_unknown_dataset_suggests_names():
    with pytest.raises(ValueError, match="cifar10|digits"):
        load_dataset("digit")
    with pytest.raises(ValueError, match="unknown dataset"):
        dataset_info("mnist-xyz")
    assert "digits" in DATASETS


def test_image_tensors_validation_and_indexing():
    x = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    y = torch.tensor([0, 1, 1, 0])
    data = ImageTensors(x, y, ["a", "b"])
    assert len(data[1:3]) == 2 and data[torch.tensor([True, False, False, True])].y.tolist() == [0, 0]
    assert data[0].x.shape == (1, 1, 2, 2) and data[-1].y.tolist() == [0]
    assert data.class_counts().tolist() == [2, 2]
    with pytest.raises(TypeError, match="uint8"):
        ImageTensors(x.float(), y, ["a", "b"])
    with pytest.raises(TypeError, match="long"):
        ImageTensors(x, y.int(), ["a", "b"])
    with pytest.raises(ValueError, match="same length"):
        ImageTensors(x, y[:3], ["a", "b"])
    with pytest.raises(ValueError, match="classes are named"):
        ImageTensors(x, y + 1, ["a", "b"])
    with pytest.raises(ValueError, match="non-negative"):
        ImageTensors(x, y - 1)


def test_split_validation_stratified_deterministic_and_complete():
    data = load_dataset("digits", split="train", image_size=8, channels=1)
    train, val = split_validation(data, n_val=200, seed=0)
    train2, val2 = split_validation(data, n_val=200, seed=0)
    assert torch.equal(val.y, val2.y) and torch.equal(val.x, val2.x)
    assert len(train) + len(val) == len(data) and len(val) == 200
    # exact partition: the (image, label) multisets add up
    key = lambda d: sorted(zip(d.x.flatten(1).tolist(), d.y.tolist(), strict=True))  # noqa: E731
    assert key(data) == sorted(key(train) + key(val))
    # stratified: every class gets its proportional share within 1
    expected = data.class_counts().double() * 200 / len(data)
    assert ((val.class_counts().double() - expected).abs() < 1).all()
    # another seed, another choice; a fraction works too
    _, val3 = split_validation(data, n_val=200, seed=1)
    assert not torch.equal(val.x, val3.x)
    _, val4 = split_validation(data, n_val=0.1, seed=0, stratified=False)
    assert len(val4) == round(0.1 * len(data))


@settings(max_examples=15, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=2, max_size=60), frac=st.floats(0.05, 0.95),
       seed=st.integers(0, 50), stratified=st.booleans())
def test_split_validation_property(labels, frac, seed, stratified):
    n = len(labels)
    y = torch.tensor(labels)
    data = ImageTensors(torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1), y, [str(c) for c in range(5)])
    n_val = min(max(1, round(frac * n)), n - 1)
    train, val = split_validation(data, n_val, seed=seed, stratified=stratified)
    ids_train, ids_val = train.x.flatten().tolist(), val.x.flatten().tolist()
    assert len(ids_val) == n_val and sorted(ids_train + ids_val) == list(range(n))
    assert ids_train == sorted(ids_train) and ids_val == sorted(ids_val)   # original order kept
    if stratified:
        expected = data.class_counts().double() * n_val / n
        assert ((val.class_counts().double() - expected).abs() < 1).all()


@pytest.mark.parametrize("n_val, exc", [(0, ValueError), (1297, ValueError), (1.0, ValueError), ("5", TypeError),
                                        (-0.5, ValueError)])
def test_split_validation_bad_sizes(n_val, exc):
    data = load_dataset("digits", split="train", image_size=8, channels=1)
    with pytest.raises(exc, match="n_val"):
        split_validation(data, n_val=n_val)


def test_split_validation_rejects_non_dataset():
    with pytest.raises(TypeError, match="data must be an ImageTensors"):
        split_validation(torch.zeros(3), n_val=1)
