"""Datasets as in-memory uint8 tensors, a device-side batch loader, and tensor augmentation.

One file per dataset format; each registers itself in :data:`mireg.registry.DATASETS`:

=================  ==========================================================================
``digits``         scikit-learn's bundled digits, upsampled (no files needed; the default)
``cifar10``        CIFAR-10, official python-pickle layout (``cifar-10-batches-py/``)
``cifar100``       CIFAR-100, official python-pickle layout (``cifar-100-python/``)
``svhn``           SVHN cropped digits, official ``.mat`` files (``svhn/train_32x32.mat``, ...)
``mnist``          MNIST, official IDX files (``mnist/train-images-idx3-ubyte.gz``, ...)
``fashion-mnist``  Fashion-MNIST, official IDX files (``fashion-mnist/train-images-idx3-ubyte.gz``, ...)
``tiny-imagenet``  Tiny-ImageNet-200, official folder layout (``tiny-imagenet-200/``)
``image-folder``   any ``root/<split>/<class>/*.png|jpg`` folder
=================  ==========================================================================

Files live under ``root`` (default ``$MIREG_DATA`` or ``./data``); ``download=True`` fetches the
official files. A missing or unreadable file raises :class:`DatasetNotFoundError` or
:class:`CorruptDatasetError` naming the file and how to get it.

PyTorch's own data (:mod:`mireg.data.torch_data`): :func:`materialize` turns any ``Dataset`` of
``(image in [0, 1], label)`` into ``ImageTensors``; :class:`StreamLoader` serves a ``DataLoader`` the way
the training engine reads batches; :func:`collect` gives the first n points as float tensors.

Example::

    from mireg.data import load_dataset, split_validation, TensorLoader

    train, val = split_validation(load_dataset("digits", split="train"), n_val=200)
    loader = TensorLoader(train, batch_size=128, augment=True)
"""

from mireg.data import cifar, digits, image_folder, mnist, svhn, tiny_imagenet  # noqa: F401  (registration)
from mireg.data.augment import crop_flip, random_crop_flip, sample_crop_flip
from mireg.data.base import (
    CorruptDatasetError,
    DatasetInfo,
    DatasetNotFoundError,
    ImageTensors,
    dataset_info,
    load_dataset,
    register_dataset,
)
from mireg.data.loader import TensorLoader
from mireg.data.split import split_validation
from mireg.data.torch_data import StreamLoader, collect, materialize

__all__ = [
    "CorruptDatasetError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "ImageTensors",
    "StreamLoader",
    "TensorLoader",
    "collect",
    "crop_flip",
    "dataset_info",
    "load_dataset",
    "materialize",
    "random_crop_flip",
    "register_dataset",
    "sample_crop_flip",
    "split_validation",
]
