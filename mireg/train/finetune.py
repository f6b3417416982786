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

    Args:
        model: the model (images in [0, 1] -> logits), trained in place.
        method: a name in :data:`mireg.registry.METHODS`.
        dataset: the dataset it is fine-tuned on.
        epochs: training epochs.
        recipe: a recipe the settings start from (None: the defaults).
        out_dir: the run's folder.
        **overrides: any :class:`~mireg.train.TrainConfig` fields.

    Returns:
        The engine's :class:`~mireg.train.TrainResult`.

    Examples:
        Fine-tuning a RobustBench model needs its checkpoint and CIFAR-10 (not run here):

        >>> from mireg.models import load_robustbench_model
        >>> from mireg.train import finetune
        >>> model = load_robustbench_model("Sehwag2021Proxy_R18", model_dir="models")  # doctest: +SKIP
        >>> result = finetune(model, method="infoat", dataset="cifar10", epochs=5, lr=0.01)  # doctest: +SKIP
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    values = {"method": method, "dataset": dataset, "epochs": epochs, "out_dir": str(out_dir), **overrides}
    return train(build_config(recipe, overrides=values), model=model)
