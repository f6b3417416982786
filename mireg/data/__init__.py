"""Datasets as in-memory uint8 tensors, a device-side batch loader, and tensor augmentation.

One file per dataset format; each registers itself in :data:`mireg.registry.DATASETS`:

========================  =====================================================================
``digits``                scikit-learn's bundled digits, upsampled (no files needed; the default)
========================  =====================================================================

Example::

    from mireg.data import load_dataset, split_validation, TensorLoader

    train, val = split_validation(load_dataset("digits", split="train"), n_val=200)
    loader = TensorLoader(train, batch_size=128, augment=True)
"""

from mireg.data import digits  # noqa: F401  (registers the dataset)
from mireg.data.augment import crop_flip, random_crop_flip, sample_crop_flip
from mireg.data.base import (
    CorruptDatasetError,
    DatasetInfo,
    DatasetNotFoundError,
    ImageTensors,
    dataset_info,
    load_dataset,
)
from mireg.data.loader import TensorLoader
from mireg.data.split import split_validation

__all__ = [
    "CorruptDatasetError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "ImageTensors",
    "TensorLoader",
    "crop_flip",
    "dataset_info",
    "load_dataset",
    "random_crop_flip",
    "sample_crop_flip",
    "split_validation",
]
