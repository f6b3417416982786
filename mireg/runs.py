"""A run's data split and model, assembled from its :class:`~mireg.config.TrainConfig` or from a checkpoint.

The one place that turns a run description into tensors and a network, used by the training engine,
the evaluation CLI, the estimators CLI and the demo:

- :func:`with_data_defaults`: the config with ``augment="auto"`` / ``val_size="auto"`` resolved by
  dataset (crop+flip for CIFAR, SVHN, Tiny-ImageNet; 1,000 validation images for CIFAR);
- :func:`load_split`: a split of the run's dataset with its image size and channels;
- :func:`train_val_split`: the training split and the held-out validation split (``val_size`` images,
  seeded with ``config.seed``; never the test set);
- :func:`build_model`: the architecture with the dataset's normalisation inside (when ``normalize``),
  sized for the data (classes, channels);
- :func:`read_run_file`: the weights and the config dict of a ``mireg train`` checkpoint, or the weights
  of a plain ``state_dict`` file;
- :func:`load_trained_model`: model (with its weights, in eval mode), data split and config of a
  ``mireg train`` checkpoint.

Example::

    model, test, cfg = load_trained_model("runs/infoat/best.pt")
    report = mireg.evaluate(model, test, suite="infoat", n=1000)
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from mireg.checkpoints import load_checkpoint, load_file
from mireg.config import AUTO, TrainConfig
from mireg.data import ImageTensors, dataset_info, load_dataset, split_validation
from mireg.models import create_model

__all__ = ["build_model", "data_options", "load_split", "load_trained_model", "read_run_file", "train_val_split",
           "with_data_defaults"]


def data_options(config: TrainConfig) -> dict[str, int]:
    """The dataset options the config sets (``image_size``, ``channels``; None means the loader's).

    Args:
        config: the run's config.

    Returns:
        The options to pass to ``mireg.data.load_dataset``.

    Examples:
        >>> from mireg.config import TrainConfig
        >>> from mireg.runs import data_options
        >>> data_options(TrainConfig(image_size=8))
        {'image_size': 8}
    """
    return {k: getattr(config, k) for k in ("image_size", "channels") if getattr(config, k) is not None}


def with_data_defaults(config: TrainConfig) -> TrainConfig:
    """``config`` with ``augment`` and ``val_size`` set to the dataset's defaults where they are "auto"
    (:class:`~mireg.data.DatasetInfo`'s ``augment`` and ``val_size``); ``config`` itself when neither is.

    Args:
        config: the run's config.

    Returns:
        The config with its "auto" data fields resolved.

    Examples:
        >>> from mireg.config import TrainConfig
        >>> from mireg.runs import with_data_defaults
        >>> config = with_data_defaults(TrainConfig(dataset="cifar10"))
        >>> config.augment, config.val_size  # crop + flip, 1,000 held out
        (True, 1000)
    """
    changes: dict[str, Any] = {}
    if config.augment == AUTO or config.val_size == AUTO:
        info = dataset_info(config.dataset, **data_options(config))
        if config.augment == AUTO:
            changes["augment"] = info.augment
        if config.val_size == AUTO:
            changes["val_size"] = info.val_size
    return config.replace(**changes) if changes else config


def load_split(config: TrainConfig, split: str = "train", *, dataset: str | None = None,
               data_root: str | None = None, download: bool = False) -> ImageTensors:
    """``split`` of the run's dataset (or of ``dataset``, with the run's image size and channels), from
    ``data_root`` (default: the run's).

    Args:
        config: the run's config.
        split: "train" or "test".
        dataset: another dataset's name (None: the run's).
        data_root: another folder (None: the run's).
        download: download the files when missing.

    Returns:
        The split as :class:`~mireg.data.ImageTensors`.

    Examples:
        >>> from mireg.config import TrainConfig
        >>> from mireg.runs import load_split
        >>> test = load_split(TrainConfig(dataset="digits", image_size=8, channels=1), "test")
        >>> len(test), test.image_shape
        (500, (1, 8, 8))
    """
    root = data_root if data_root is not None else config.data_root
    return load_dataset(dataset or config.dataset, root=root, split=split, download=download,
                        **data_options(config))


def train_val_split(config: TrainConfig) -> tuple[ImageTensors, ImageTensors | None]:
    """The run's training split and its held-out validation split (None when ``val_size`` is 0).

    Args:
        config: the run's config.

    Returns:
        ``(train, val)`` as :class:`~mireg.data.ImageTensors`; ``val`` is None when ``val_size`` is 0.

    Examples:
        >>> from mireg.config import TrainConfig
        >>> from mireg.runs import train_val_split
        >>> train, val = train_val_split(TrainConfig(dataset="digits", image_size=8, val_size=100))
        >>> len(train), len(val)
        (1197, 100)
    """
    data = load_split(config, "train", download=config.download)
    val_size = with_data_defaults(config).val_size
    if not val_size:
        return data, None
    if val_size >= len(data):
        default = f" (the default of {config.dataset!r})" if config.val_size == AUTO else ""
        raise ValueError(f"val_size={val_size}{default} must be smaller than the training split ({len(data)} "
                         "images): set val_size")
    return split_validation(data, val_size, seed=config.seed)


def build_model(config: TrainConfig, data: ImageTensors) -> nn.Module:
    """``MODELS[config.model]`` for ``data``'s classes and channels, normalised inside when asked.

    Args:
        config: the run's config (``model``, ``model_kwargs``, ``normalize``).
        data: the data the model is for (its number of classes and channels).

    Returns:
        The model (images in [0, 1] -> logits).

    Examples:
        >>> import torch
        >>> from mireg.config import TrainConfig
        >>> from mireg.runs import build_model, load_split
        >>> config = TrainConfig(dataset="digits", image_size=8, channels=1, model_kwargs={"width": 4})
        >>> model = build_model(config, load_split(config, "test"))
        >>> model(torch.rand(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    info = dataset_info(config.dataset, **data_options(config))
    mean, std = (info.mean, info.std) if config.normalize else (None, None)
    return create_model(config.model, num_classes=data.num_classes, in_channels=data.image_shape[0], mean=mean,
                        std=std, **config.model_kwargs)


def read_run_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(weights, config dict)`` of a ``mireg train`` checkpoint, or ``(weights, {})`` of a plain
    ``state_dict`` file (read weights-only).

    Args:
        path: the file.

    Returns:
        ``(state dict, config dict)``; the config dict is empty for a plain state dict.

    Examples:
        >>> import torch
        >>> from mireg.runs import read_run_file
        >>> torch.save(torch.nn.Linear(2, 1).state_dict(), "weights.pt")
        >>> weights, config = read_run_file("weights.pt")
        >>> sorted(weights), config
        (['bias', 'weight'], {})
    """
    state = load_file(path)
    if not isinstance(state, dict):
        raise ValueError(f"{str(path)!r} holds a {type(state).__name__}, expected a checkpoint dict")
    if "model" in state:
        return state["model"], dict(state.get("config", {}))
    return state, {}


def load_trained_model(path: str | os.PathLike, dataset: str | None = None, data_root: str | None = None,
                       split: str = "test") -> tuple[nn.Module, ImageTensors, dict[str, Any]]:
    """``(model in eval mode, data split, config dict)`` of a ``mireg train`` checkpoint.

    ``dataset`` / ``data_root`` override the checkpoint's (same image size and channels).

    Args:
        path: the checkpoint (``best.pt``, ``last.pt``).
        dataset: another dataset to load (None: the run's).
        data_root: another data folder (None: the run's).
        split: the split returned.

    Returns:
        ``(model in eval mode, data split, config dict)``.

    Examples:
        >>> from mireg.config import TrainConfig
        >>> from mireg.runs import build_model, load_split, load_trained_model
        >>> from mireg.train import save_checkpoint
        >>> config = TrainConfig(dataset="digits", image_size=8, channels=1, model_kwargs={"width": 4})
        >>> trained = build_model(config, load_split(config, "test"))  # stands for a trained model
        >>> _ = save_checkpoint({"model": trained.state_dict(), "config": config.to_dict()}, "best.pt")
        >>> model, test, cfg = load_trained_model("best.pt")
        >>> model.training, len(test), cfg["dataset"]
        (False, 500, 'digits')
    """
    state = load_checkpoint(path)
    if "config" not in state:
        raise ValueError(f"{str(path)!r} has no training config: it was not written by 'mireg train'")
    config = TrainConfig(**state["config"])
    data = load_split(config, split, dataset=dataset, data_root=data_root)
    model = build_model(config, data)
    model.load_state_dict(state["model"])
    return model.eval(), data, config.to_dict()
