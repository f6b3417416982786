"""A run's data split and model, assembled from its :class:`~mireg.config.TrainConfig` or from a checkpoint.

The one place that turns a run description into tensors and a network, used by the training engine,
the evaluation CLI, the estimators CLI and the demo:

- :func:`with_data_defaults`: the config with ``augment="auto"`` / ``val_size="auto"`` resolved by
  dataset (crop+flip for CIFAR, SVHN, Tiny-ImageNet; 1,000 validation images for CIFAR);
- :func:`load_split`: a split of the run's dataset with its image size and channels;
- :func:`train_val_split`: the training split and the held-out validation split (``val_size`` images,
  seeded with ``config.seed``; never the test set), of the run's dataset or of data the caller gives
  (:class:`~mireg.data.ImageTensors`, a torch ``Dataset``, materialised, or a ``DataLoader``, streamed);
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
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from mireg.checkpoints import load_checkpoint, load_file
from mireg.config import AUTO, TrainConfig
from mireg.data import ImageTensors, dataset_info, load_dataset, split_validation
from mireg.data.torch_data import is_torch_data, materialize
from mireg.models import create_model
from mireg.utils.modes import preserved_modes

__all__ = ["CUSTOM_DATASET", "build_model", "data_options", "load_split", "load_trained_model", "read_run_file",
           "train_val_split", "with_data_defaults"]

#: the ``dataset`` a run records when its data was given to ``train(train_data=...)``, not named
CUSTOM_DATASET = "custom"


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


def with_data_defaults(config: TrainConfig, train_data: Any = None) -> TrainConfig:
    """``config`` with ``augment`` and ``val_size`` set to the dataset's defaults where they are "auto"
    (:class:`~mireg.data.DatasetInfo`'s ``augment`` and ``val_size``); ``config`` itself when neither is.

    For data given to ``train(train_data=...)``: no augmentation (the data's own transforms apply) and a
    tenth of the training images held out, at most 1,000 (none of a streamed ``DataLoader``).

    Args:
        config: the run's config.
        train_data: the data given to ``train(train_data=...)``, or None (the config's dataset).

    Returns:
        The config with its "auto" data fields resolved.

    Examples:
        >>> from mireg.config import TrainConfig
        >>> from mireg.runs import with_data_defaults
        >>> config = with_data_defaults(TrainConfig(dataset="cifar10"))
        >>> config.augment, config.val_size  # crop + flip, 1,000 held out
        (True, 1000)
    """
    if config.augment != AUTO and config.val_size != AUTO:
        return config
    if train_data is not None:
        augment, val_size = False, 0 if isinstance(train_data, DataLoader) else min(1000, len(train_data) // 10)
    else:
        info = dataset_info(config.dataset, **data_options(config))
        augment, val_size = info.augment, info.val_size
    return config.replace(**{name: value for name, value in (("augment", augment), ("val_size", val_size))
                             if getattr(config, name) == AUTO})


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
        >>> # needs: sklearn (the bundled digits)
        >>> from mireg.runs import load_split
        >>> test = load_split(TrainConfig(dataset="digits", image_size=8, channels=1), "test")
        >>> len(test), test.image_shape
        (500, (1, 8, 8))
    """
    root = data_root if data_root is not None else config.data_root
    return load_dataset(dataset or config.dataset, root=root, split=split, download=download,
                        **data_options(config))


def train_val_split(config: TrainConfig, train_data: Any = None, val_data: Any = None, *,
                    progress: bool = False) -> tuple[ImageTensors | DataLoader, ImageTensors | None]:
    """The run's training data and its held-out validation split (None when ``val_size`` is 0).

    ``train_data`` (default: the config's dataset) may be an :class:`~mireg.data.ImageTensors`, a torch
    ``Dataset`` (materialised as uint8 ImageTensors, :func:`mireg.data.materialize`) or a ``DataLoader``
    (returned as is: the engine streams it). ``val_data`` (ImageTensors, Dataset or DataLoader,
    materialised) replaces the split of ``val_size`` training images; a streamed ``train_data`` is not
    split, so it has a validation set only when ``val_data`` is given.

    Args:
        config: the run's config.
        train_data: the training data (None: the config's dataset).
        val_data: the validation data (None: ``val_size`` images held out of the training data).
        progress: show a bar while a Dataset is materialised.

    Returns:
        ``(train, val)``; ``val`` is None when ``val_size`` is 0 (or ``train_data`` is a DataLoader
        without ``val_data``).

    Examples:
        >>> from mireg.config import TrainConfig
        >>> # needs: sklearn (the bundled digits)
        >>> from mireg.runs import train_val_split
        >>> train, val = train_val_split(TrainConfig(dataset="digits", image_size=8, val_size=100))
        >>> len(train), len(val)
        (1197, 100)
    """
    if train_data is None:
        data = load_split(config, "train", download=config.download)
    else:
        data = _given(train_data, "train_data", progress, stream=True)
    if val_data is not None:
        return data, _given(val_data, "val_data", progress, stream=False)
    val_size = with_data_defaults(config, train_data).val_size
    if not val_size or isinstance(data, DataLoader):
        return data, None
    if val_size >= len(data):
        default = f" (the default of {config.dataset!r})" if config.val_size == AUTO else ""
        raise ValueError(f"val_size={val_size}{default} must be smaller than the training split ({len(data)} "
                         "images): set val_size")
    return split_validation(data, val_size, seed=config.seed)


def _given(data: Any, name: str, progress: bool, *, stream: bool) -> ImageTensors | DataLoader:
    if isinstance(data, ImageTensors) or (stream and isinstance(data, DataLoader)):
        return data
    if is_torch_data(data):
        return materialize(data, name=name, progress=progress)
    raise TypeError(f"{name} must be a mireg.data.ImageTensors, a torch.utils.data.Dataset of (image in [0, 1], "
                    f"label) or a DataLoader, got {type(data).__name__}")


def build_model(config: TrainConfig, data: Any, *,
                stats: tuple[Sequence[float], Sequence[float]] | None = None) -> nn.Module:
    """``MODELS[config.model]`` for ``data``'s classes and channels (anything with ``num_classes`` and
    ``image_shape``), normalised inside when asked: with ``stats`` = (mean, std), else the dataset's.

    Args:
        config: the run's config (``model``, ``model_kwargs``, ``normalize``).
        data: the data the model is for (its number of classes and channels).
        stats: ``(mean, std)`` for the normalisation (None: the dataset's).

    Returns:
        The model (images in [0, 1] -> logits).

    Raises:
        ValueError: the model cannot take the data's images (e.g. an ``image_size`` too small for its layers).

    Examples:
        >>> import torch
        >>> from mireg.config import TrainConfig
        >>> # needs: sklearn (the bundled digits)
        >>> from mireg.runs import build_model, load_split
        >>> config = TrainConfig(dataset="digits", image_size=8, channels=1, model_kwargs={"width": 4})
        >>> model = build_model(config, load_split(config, "test"))
        >>> model(torch.rand(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    mean = std = None
    if config.normalize:
        if stats is None:
            info = dataset_info(config.dataset, **data_options(config))
            stats = info.mean, info.std
        mean, std = stats
    model = create_model(config.model, num_classes=data.num_classes, in_channels=data.image_shape[0], mean=mean,
                         std=std, **config.model_kwargs)
    _check_fits(model, config, tuple(data.image_shape))
    return model


def _check_fits(model: nn.Module, config: TrainConfig, image_shape: tuple[int, ...]) -> None:
    """Refuse, before any work, a model whose layers cannot take the data's images (e.g. too small)."""
    try:
        with torch.no_grad(), preserved_modes(model, training=False):
            model(torch.zeros(2, *image_shape))
    except RuntimeError as error:
        size = "x".join(map(str, image_shape))
        given = f"image_size={config.image_size}" if config.image_size else f"dataset {config.dataset!r}"
        raise ValueError(f"model {config.model!r} cannot take the data's {size} images ({given}): "
                         f"{str(error).splitlines()[0]}; choose a larger image_size or another model") from None


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
        >>> # needs: sklearn (the bundled digits)
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
    if config.dataset == CUSTOM_DATASET and dataset is None:
        raise ValueError(f"{str(path)!r} was trained on data given to mireg.train.train(train_data=...), not on a "
                         "named dataset: name the evaluation data (mireg eval --dataset NAME), or evaluate in "
                         "Python with mireg.evaluate(model, data=your_test_set)")
    data = load_split(config, split, dataset=dataset, data_root=data_root)
    weights = state["model"]
    stats = (weights["mean"].flatten().tolist(), weights["std"].flatten().tolist()) \
        if config.normalize and "mean" in weights and "std" in weights else None
    model = build_model(config, data, stats=stats)  # (the stats the model was trained with)
    model.load_state_dict(weights)
    return model.eval(), data, config.to_dict()
