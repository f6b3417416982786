"""Fine-tune any model (a RobustBench Model-Zoo model, a torchvision network, ...) with a mireg method."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from mireg.recipes import build_config
from mireg.train.engine import TrainResult, train

__all__ = ["finetune"]


def finetune(model: nn.Module, method: str = "infoat", dataset: str = "cifar10", epochs: int = 1,
             recipe: str | None = None, out_dir: str | os.PathLike = "runs/finetune", **overrides: Any) -> TrainResult:
    """Fine-tune ``model`` with a mireg method through the training engine (``mireg.train.train``).

    ``recipe`` (e.g. ``"cifar10-infoat"``) supplies the paper's settings; ``overrides`` are any
    :class:`mireg.train.TrainConfig` fields (lr, batch_size, data_root, eps, ...). Returns the
    engine's ``TrainResult`` (``.model`` is the fine-tuned model, in place).

    Example::

        >>> model = load_robustbench_model("Sehwag2021Proxy_R18", model_dir="models")
        >>> result = finetune(model, method="infoat", dataset="cifar10", epochs=5, lr=0.01)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    values = {"method": method, "dataset": dataset, "epochs": epochs, "out_dir": str(out_dir), **overrides}
    return train(build_config(recipe, overrides=values), model=model)
