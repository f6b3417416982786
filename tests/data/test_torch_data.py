"""PyTorch's own data types as mireg data: ``materialize`` (lossless for 8-bit images), ``collect``
(values unchanged, the first n) and ``StreamLoader`` (a DataLoader as the engine's loader)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset, TensorDataset

from mireg.data import ImageTensors, StreamLoader, collect, materialize


def _digits_like(n=50, seed=0) -> ImageTensors:
    g = torch.Generator().manual_seed(seed)
    return ImageTensors(torch.randint(0, 256, (n, 1, 6, 6), generator=g, dtype=torch.uint8), torch.arange(n) % 5,
                        [f"c{k}" for k in range(5)])


class Named(Dataset):
    """A map-style dataset the way torchvision writes them: float images from ToTensor, int labels, classes."""

    classes = ["zero", "one", "two", "three", "four"]

    def __init__(self, data: ImageTensors) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        return self.data.x[i].float() / 255, int(self.data.y[i])


def test_materialize_is_lossless_for_8bit_images_and_keeps_the_order_and_classes():
    data = _digits_like()
    out = materialize(Named(data))
    assert torch.equal(out.x, data.x) and torch.equal(out.y, data.y) and out.classes == Named.classes
    assert torch.equal(out.float(), data.float())  # the same float32 values ToTensor gives
    sub = materialize(Subset(Named(data), [3, 1, 4]))
    assert torch.equal(sub.x, data.x[[3, 1, 4]]) and sub.classes == Named.classes  # classes through .dataset
    first = materialize(DataLoader(TensorDataset(data.x, data.y), batch_size=7), n=10)  # uint8 items too
    assert torch.equal(first.x, data.x[:10]) and first.classes == []


def test_materialize_refuses_what_it_would_change():
    data = _digits_like()
    nudged = TensorDataset(data.float() * 0.999, data.y)
    with pytest.raises(ValueError, match="not 8-bit.*DataLoader"):
        materialize(nudged)
    normalised = TensorDataset((data.float() - 0.5) / 0.25, data.y)
    with pytest.raises(ValueError, match=r"in \[0, 1\].*inside the model"):
        materialize(normalised)
    with pytest.raises(TypeError, match="ToTensor"):
        materialize(_PilLike())
    with pytest.raises(TypeError, match="must be a torch.utils.data.Dataset"):
        materialize([(data.float()[0], 1)])
    with pytest.raises(TypeError, match="pairs"):
        materialize(TensorDataset(data.float()))
    with pytest.raises(ValueError, match="n=60 exceeds the 50 points"):
        materialize(Named(data), n=60)


class _PilLike(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i):
        from PIL import Image

        return Image.new("L", (4, 4)), i


def test_collect_keeps_float_values_and_refuses_a_shuffled_order():
    x = torch.rand(30, 3, 4, 4)  # not 8-bit: kept exactly
    y = torch.arange(30) % 3
    cx, cy = collect(DataLoader(TensorDataset(x, y), batch_size=8), n=20)
    assert torch.equal(cx, x[:20]) and torch.equal(cy, y[:20])
    with pytest.raises(ValueError, match="shuffles"):
        collect(DataLoader(TensorDataset(x, y), shuffle=True))


def test_stream_loader_covers_the_data_each_epoch_and_draws_its_augmentation_from_seed_and_epoch():
    data = _digits_like()
    loader = DataLoader(Named(data), batch_size=16, shuffle=False)
    stream = StreamLoader(loader, augment=True, seed=3)
    assert len(stream) == 4 and stream.num_classes == 5 and stream.image_shape == (1, 6, 6)
    epoch0 = [(x.clone(), y) for x, y in stream]
    assert sum(len(y) for _, y in epoch0) == 50 and all(x.dtype == torch.float32 for x, _ in epoch0)
    assert torch.equal(torch.cat([y for _, y in epoch0]), data.y)
    again = StreamLoader(loader, augment=True, seed=3)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(epoch0, again, strict=True))  # (seed, epoch 0)
    epoch1 = torch.cat([x for x, _ in stream])
    assert not torch.equal(epoch1, torch.cat([x for x, _ in epoch0]))
    plain = torch.cat([x for x, _ in StreamLoader(loader)])
    assert torch.equal(plain, data.float())


def test_stream_loader_sets_the_samplers_epoch_and_counts_classes_without_names():
    data = _digits_like()
    sampler = DistributedSampler(TensorDataset(data.x, data.y), num_replicas=2, rank=0, shuffle=True, seed=0)
    stream = StreamLoader(DataLoader(TensorDataset(data.x, data.y), batch_size=10, sampler=sampler))
    stream.set_epoch(4)
    assert sampler.epoch == 4 and stream.num_classes == 5  # max label + 1, from one pass over the labels
    assert sum(len(y) for _, y in stream) == 25  # this rank's half
    with pytest.raises(TypeError, match="DataLoader"):
        StreamLoader(TensorDataset(data.x, data.y))
    bad = StreamLoader(DataLoader(TensorDataset(data.float() * 2, data.y), batch_size=10))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        next(iter(bad))
