"""Rebuild a model trained by ``mireg train`` from its checkpoint, with its test split.

A checkpoint (``last.pt`` / ``best.pt``) stores the weights and the run's ``TrainConfig``; the
architecture, normalization and data options are read from that config.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

__all__ = ["load_trained_model"]


def load_trained_model(path: str | os.PathLike, dataset: str | None = None, data_root: str | None = None,
                       split: str = "test") -> tuple[nn.Module, Any, dict[str, Any]]:
    """``(model in eval mode, data split, config dict)`` of a ``mireg train`` checkpoint.

    ``dataset`` / ``data_root`` override the checkpoint's (same image size and channels).

    Example::

        >>> model, test, cfg = load_trained_model("runs/infoat/best.pt")
        >>> report = mireg.evaluate(model, test, suite="infoat", n=1000)
    """
    from mireg.data import dataset_info, load_dataset
    from mireg.models import create_model
    from mireg.train import TrainConfig
    from mireg.train.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    if "config" not in state:
        raise ValueError(f"{str(path)!r} has no training config: it was not written by 'mireg train'")
    cfg = TrainConfig(**state["config"])
    name = dataset or cfg.dataset
    options = {k: getattr(cfg, k) for k in ("image_size", "channels") if getattr(cfg, k) is not None}
    data = load_dataset(name, root=data_root if data_root is not None else cfg.data_root, split=split, **options)
    info = dataset_info(cfg.dataset, **options)
    mean, std = (info.mean, info.std) if cfg.normalize else (None, None)
    model = create_model(cfg.model, num_classes=data.num_classes, in_channels=data.image_shape[0], mean=mean,
                         std=std, **cfg.model_kwargs)
    model.load_state_dict(state["model"])
    return model.eval(), data, cfg.to_dict()
