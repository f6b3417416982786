"""scikit-learn's bundled digits: the embedded default dataset that needs no files.

1,797 greyscale 8x8 handwritten digits (UCI optdigits test part, 13 writers, levels 0..16),
10 classes, shipped inside the scikit-learn wheel. mireg turns them into CIFAR-shaped images:

1. levels 0..16 -> uint8 0..255 (``round(v * 255 / 16)``);
2. bilinear upsampling (``align_corners=False``, in float64, rounded back to uint8) from 8x8 to
   ``image_size`` x ``image_size`` (default 32, the models' input size; 8 keeps the originals);
3. the grey channel is replicated to ``channels`` (default 3; 1 keeps it single-channel).

The split is fixed: ``perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0))``;
train is ``perm[:1297]`` (1,297 images), test ``perm[1297:]`` (500 images), in that order
(the same split as the test suite's ``digits_split`` fixture).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mireg._optional import require
from mireg._validation import check_number
from mireg.data.base import DatasetInfo, ImageTensors, check_split, register_dataset

NUM_TRAIN = 1297
NUM_TEST = 500
SPLIT_SEED = 0

#: per-channel mean / std of the 32x32 training split in [0, 1] (see tests/test_data_digits.py)
DIGITS_MEAN = (0.3050,)
DIGITS_STD = (0.3234,)

INFO = DatasetInfo(
    name="digits", num_classes=10, channels=3, image_size=32, mean=DIGITS_MEAN * 3, std=DIGITS_STD * 3,
    description="scikit-learn digits (1,797 8x8 greyscale, 10 classes) upsampled to 32x32; 1,297 train / 500 test",
    val_size=200,
)


def digits_split_indices() -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed (train, test) index tensors into scikit-learn's ``load_digits()`` order."""
    perm = torch.randperm(NUM_TRAIN + NUM_TEST, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return perm[:NUM_TRAIN], perm[NUM_TRAIN:]


@register_dataset("digits", INFO)
def load_digits(root: object = None, split: str = "train", download: bool = False, *,
                image_size: int = 32, channels: int = 3) -> ImageTensors:
    """scikit-learn's digits as (N, channels, image_size, image_size) uint8 images (module docstring).

    ``root`` and ``download`` are accepted for a uniform loader signature and ignored.

    Example::

        train = load_digits(split="train")                  # x: (1297, 3, 32, 32) uint8
        small = load_digits(split="test", image_size=8, channels=1)   # the original 8x8 pixels
    """
    split = check_split(split, ("train", "test"))
    check_number("image_size", image_size, low=1, integer=True)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    require("sklearn", "the digits dataset (scikit-learn's bundled copy)")
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    levels = torch.as_tensor(bunch.images, dtype=torch.float64).unsqueeze(1)  # (1797, 1, 8, 8), 0..16
    values = levels * (255.0 / 16.0)
    if image_size != values.shape[-1]:
        values = F.interpolate(values, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = values.round().clamp_(0, 255).to(torch.uint8)
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    train_idx, test_idx = digits_split_indices()
    idx = train_idx if split == "train" else test_idx
    x = x[idx].expand(-1, channels, -1, -1).contiguous()
    return ImageTensors(x, y[idx].clone(), [str(d) for d in range(10)])
