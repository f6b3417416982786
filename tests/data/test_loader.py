"""TensorLoader batching/shuffling/sharding and the tensor augmentation (crop with padding + flip)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mireg.data import ImageTensors, TensorLoader, crop_flip, random_crop_flip, sample_crop_flip


def _data(n: int = 10, c: int = 3, h: int = 6, w: int = 5, seed: int = 0) -> ImageTensors:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
    return ImageTensors(x, torch.arange(n) % 3, ["a", "b", "c"])


def _reference_crop_flip(x: np.ndarray, oy: int, ox: int, flip: bool, p: int) -> np.ndarray:
    """torchvision semantics written independently: zero-pad, slice, then mirror."""
    c, h, w = x.shape
    padded = np.zeros((c, h + 2 * p, w + 2 * p), dtype=x.dtype)
    padded[:, p:p + h, p:p + w] = x
    out = padded[:, oy:oy + h, ox:ox + w]
    return out[:, :, ::-1] if flip else out


def test_batches_in_order_without_shuffle():
    data = _data(10)
    loader = TensorLoader(data, batch_size=4, shuffle=False)
    batches = list(loader)
    assert len(loader) == 3 == len(batches)
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    assert x.dtype == torch.float32 and y.dtype == torch.long
    assert torch.equal(x, data.x.float() / 255) and torch.equal(y, data.y)
    assert len(TensorLoader(data, batch_size=4, shuffle=False, drop_last=True)) == 2
    assert [b[0].shape[0] for b in TensorLoader(data, batch_size=4, drop_last=True)] == [4, 4]


def test_tensor_inputs_uint8_and_float():
    data = _data(7)
    a = torch.cat([b[0] for b in TensorLoader(data.x, data.y, batch_size=3, shuffle=False)])
    xf = data.float()
    b = torch.cat([b[0] for b in TensorLoader(xf, data.y.int(), batch_size=3, shuffle=False)])
    assert torch.equal(a, xf) and torch.equal(b, xf)


def test_shuffle_is_a_permutation_deterministic_per_epoch():
    data = _data(50, h=2, w=2)
    loader = TensorLoader(data, batch_size=8, shuffle=True, seed=3)

    def order(ld, epoch):
        ld.set_epoch(epoch)
        return torch.cat([(b[0][:, 0, 0, 0] * 255).round().long() * 1000 + b[1] for b in ld])

    keys = data.x[:, 0, 0, 0].long() * 1000 + data.y
    e0, e1 = order(loader, 0), order(loader, 1)
    assert sorted(e0.tolist()) == sorted(keys.tolist()) == sorted(e1.tolist())
    assert not torch.equal(e0, e1)
    assert torch.equal(e0, order(TensorLoader(data, batch_size=8, seed=3), 0))
    assert not torch.equal(e0, order(TensorLoader(data, batch_size=8, seed=4), 0))
    # without set_epoch each iteration advances the epoch
    fresh = TensorLoader(data, batch_size=8, seed=3)
    first = torch.cat([b[1] for b in fresh])
    second = torch.cat([b[1] for b in fresh])
    assert fresh.epoch == 2 and not torch.equal(first, second)


@pytest.mark.parametrize("n, world_size", [(12, 2), (12, 3), (10, 3), (5, 4), (2, 3)])
def test_ddp_shards_equal_disjoint_complete(n, world_size):
    data = _data(n)
    plans = [TensorLoader(data, batch_size=2, rank=r, world_size=world_size, seed=1).epoch_plan(4)[0]
             for r in range(world_size)]
    size = math.ceil(n / world_size)
    assert all(len(p) == size for p in plans)
    every = torch.cat(plans)
    assert set(every.tolist()) == set(range(n))                  # complete
    repeats = size * world_size - n                               # DistributedSampler padding
    assert len(every) - len(set(every.tolist())) == repeats      # disjoint up to the padding
    if n % world_size == 0:
        assert len(set(every.tolist())) == len(every)


@pytest.mark.parametrize("n, world_size", [(10, 3), (12, 3), (2, 3)])
def test_unpadded_shards_partition_exactly(n, world_size):
    data = _data(n)
    loaders = [TensorLoader(data, batch_size=2, shuffle=False, rank=r, world_size=world_size, pad=False)
               for r in range(world_size)]
    sizes = [ld.num_samples for ld in loaders]
    assert sum(sizes) == n and max(sizes) - min(sizes) <= 1
    ys = torch.cat([torch.cat([b[1] for b in ld]) if len(ld) else torch.empty(0, dtype=torch.long)
                    for ld in loaders])
    assert sorted(ys.tolist()) == sorted(data.y.tolist())
    assert all(len(ld) == -(-s // 2) for ld, s in zip(loaders, sizes, strict=True))


@pytest.mark.parametrize("augment", [False, True])
def test_ddp_batches_equal_single_process_global_batch(augment):
    data = _data(21)
    world_size, local = 3, 2
    single = list(TensorLoader(data, batch_size=world_size * local, augment=augment, seed=5))
    ranks = [list(TensorLoader(data, batch_size=local, augment=augment, seed=5, rank=r, world_size=world_size))
             for r in range(world_size)]
    assert all(len(r) == len(single) for r in ranks)
    for k, (xs, ys) in enumerate(single):
        xr = torch.cat([r[k][0] for r in ranks])
        yr = torch.cat([r[k][1] for r in ranks])
        # same examples (and augmentation) in the global batch; order inside differs by striding
        key = lambda x, y: sorted(zip(x.flatten(1).tolist(), y.tolist(), strict=True))  # noqa: E731
        assert key(xr, yr) == key(xs, ys)


def test_loader_augmentation_matches_reference_crop_and_flip():
    data = _data(9, c=2, h=5, w=7)
    loader = TensorLoader(data, batch_size=4, shuffle=True, augment=True, seed=2, padding=2)
    loader.set_epoch(3)
    index, oy, ox, flip = loader.epoch_plan(3)
    loader.set_epoch(3)
    got = torch.cat([b[0] for b in loader])
    for i in range(len(index)):
        ref = _reference_crop_flip(data.x[index[i]].numpy(), int(oy[i]), int(ox[i]), bool(flip[i]), 2)
        assert torch.equal(got[i], torch.from_numpy(ref.copy()).float() / 255)
    assert int(oy.min()) >= 0 and int(oy.max()) <= 4 and flip.any() and (~flip).any()


@settings(max_examples=20, deadline=None)
@given(b=st.integers(1, 4), h=st.integers(1, 6), w=st.integers(1, 6), p=st.integers(0, 4), seed=st.integers(0, 99))
def test_crop_flip_property(b, h, w, p, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 2, h, w, generator=g)
    oy, ox, flip = sample_crop_flip(b, p, g)
    out = crop_flip(x, oy, ox, flip, p)
    assert out.shape == x.shape and out.dtype == x.dtype
    for i in range(b):
        ref = _reference_crop_flip(x[i].numpy(), int(oy[i]), int(ox[i]), bool(flip[i]), p)
        assert torch.equal(out[i], torch.from_numpy(ref.copy()))


def test_crop_keeps_content_shifted_within_padding_and_flip_is_exact():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8) + 1
    p = 4
    centre = torch.full((2,), p)
    no = torch.zeros(2, dtype=torch.bool)
    assert torch.equal(crop_flip(x, centre, centre, no, p), x)                    # offset p: identity
    assert torch.equal(crop_flip(x, centre, centre, ~no, p), x.flip(3))           # flip exact
    shifted = crop_flip(x, torch.tensor([p + 2, p]), torch.tensor([p, p - 3]), no, p)
    assert torch.equal(shifted[0, :, :6], x[0, :, 2:]) and (shifted[0, :, 6:] == 0).all()   # up by 2
    assert torch.equal(shifted[1, :, :, 3:], x[1, :, :, :5]) and (shifted[1, :, :, :3] == 0).all()  # right by 3
    # random draws: every output pixel is either zero padding or an input pixel moved by <= p
    out = random_crop_flip(x, padding=p, generator=torch.Generator().manual_seed(0))
    nonzero = out[out != 0]
    assert set(nonzero.tolist()) <= set(x.flatten().tolist())
    assert (out != 0).sum(dim=(1, 2, 3)).min() >= 3 * 4 * 4  # at least a (H-p) x (W-p) window survives


def test_crop_flip_matches_torchvision():
    import torchvision.transforms.functional as TF

    data = _data(5, c=3, h=32, w=32)
    oy, ox, flip = sample_crop_flip(5, 4, torch.Generator().manual_seed(3))
    out = crop_flip(data.x, oy, ox, flip, 4)
    for i in range(5):
        ref = TF.crop(TF.pad(data.x[i], [4]), int(oy[i]), int(ox[i]), 32, 32)
        ref = TF.hflip(ref) if flip[i] else ref
        assert torch.equal(out[i], ref)


def test_uint8_augmentation_equals_float_augmentation():
    data = _data(6)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a = random_crop_flip(data.x, 4, g1).float() / 255
    b = random_crop_flip(data.float(), 4, g2)
    assert torch.equal(a, b)


def test_channels_last_batches():
    x, _ = next(iter(TensorLoader(_data(4), batch_size=4, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": 2.0}, TypeError, "batch_size"),
    ({"rank": 2, "world_size": 2}, ValueError, "rank"),
    ({"world_size": 0}, ValueError, "world_size"),
    ({"seed": -1}, ValueError, "seed"),
    ({"shuffle": 1}, TypeError, "shuffle"),
    ({"augment": "yes"}, TypeError, "augment"),
])
def test_loader_bad_arguments(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        TensorLoader(_data(4), **kwargs)


def test_loader_bad_data():
    data = _data(4)
    with pytest.raises(ValueError, match="y must be None"):
        TensorLoader(data, data.y)
    with pytest.raises(TypeError, match="y must be a torch.Tensor"):
        TensorLoader(data.x)
    with pytest.raises(ValueError, match="labels but data_or_x has"):
        TensorLoader(data.x, data.y[:3])
    with pytest.raises(TypeError, match="integer tensor"):
        TensorLoader(data.x, data.y.float())
    with pytest.raises(TypeError, match="uint8"):
        TensorLoader(data.x.int(), data.y)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        TensorLoader(data.x[0], data.y)
    with pytest.raises(ValueError, match="empty"):
        TensorLoader(data.x[:0], data.y[:0])
    with pytest.raises(TypeError, match="ImageTensors or a torch.Tensor"):
        TensorLoader([1, 2, 3])
    with pytest.raises(ValueError, match="epoch"):
        TensorLoader(data).set_epoch(-1)
    with pytest.raises(ValueError, match="oy must be a tensor of shape"):
        crop_flip(data.x, torch.zeros(3, dtype=torch.long), torch.zeros(4, dtype=torch.long),
                  torch.zeros(4, dtype=torch.bool))


@pytest.mark.cuda
def test_loader_keeps_data_on_cuda():
    data = _data(64)
    loader = TensorLoader(data, batch_size=16, augment=True, device="cuda")
    assert loader.on_device and loader.x.is_cuda
    x, y = next(iter(loader))
    assert x.is_cuda and y.is_cuda and x.dtype == torch.float32
    cpu = TensorLoader(data, batch_size=16, augment=True)
    # the same crops, flips and order; the uint8 -> [0, 1] division may round differently on the GPU
    torch.testing.assert_close(x.cpu(), next(iter(cpu))[0], rtol=0, atol=1e-6)
