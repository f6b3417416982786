"""Architectures for adversarial training, created by name, with normalization inside the model.

Every model maps [0, 1] images (N, C, H, W) to logits (N, num_classes); :func:`create_model`
wraps the architecture in :class:`Normalized` so the dataset's mean/std travel with the weights.

=====================  ======================================================================
``small_cnn``          small 3-layer CNN for digits (0.16M parameters)
``trades_small_cnn``   TRADES' MNIST small CNN, 28x28 inputs (0.31M)
``resnet18``           CIFAR ResNet-18 (11.17M)
``resnet34``           CIFAR ResNet-34 (21.28M)
``preact_resnet18``    PreAct ResNet-18 of Wong et al. / Rice et al. (11.17M)
``wrn34_10``           WideResNet-34-10 of TRADES / MART (46.16M); ``wrn`` takes depth / widen_factor
``vgg19``              VGG-19 with BN, NAMID's black-box surrogate (20.04M); also ``vgg16``
=====================  ======================================================================

Example::

    from mireg.models import create_model
    model = create_model("resnet18", num_classes=10, mean=(0.4914, 0.4822, 0.4465),
                         std=(0.2471, 0.2435, 0.2616))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mireg._validation import check_number
from mireg.models import preact_resnet, resnet, small_cnn, trades_small_cnn, vgg, wide_resnet  # noqa: F401
from mireg.models.logits_only import LogitsOnly
from mireg.models.normalize import Normalized
from mireg.models.preact_resnet import PreActResNet
from mireg.models.resnet import ResNet
from mireg.models.robustbench import load_robustbench_model, robustbench_checkpoint_path, with_normalization
from mireg.models.small_cnn import SmallCNN
from mireg.models.trades_small_cnn import TRADESSmallCNN
from mireg.models.vgg import VGG
from mireg.models.wide_resnet import WideResNet
from mireg.registry import MODELS


def create_model(name: str, num_classes: int = 10, in_channels: int = 3,
                 mean: Sequence[float] | torch.Tensor | None = None,
                 std: Sequence[float] | torch.Tensor | None = None, **kwargs: Any) -> Normalized:
    """Build a registered architecture and wrap it in :class:`Normalized`.

    Args:
        name: a name in ``mireg.registry.MODELS`` (``mireg.models.list_models()``).
        num_classes: output logits.
        in_channels: image channels (1 or 3 for the bundled architectures).
        mean: per-channel input means in [0, 1] units (e.g. ``dataset_info(...).mean``); None: 0.
        std: per-channel standard deviations (positive); None: 1.
        **kwargs: architecture options (e.g. ``depth``/``widen_factor`` for ``wrn``).

    Returns:
        ``Normalized(arch, mean, std)``: inputs in [0, 1], logits (N, num_classes) out; the bare
        architecture is ``model.model``.

    Examples:
        >>> import torch
        >>> from mireg.models import create_model
        >>> model = create_model("small_cnn", num_classes=10, in_channels=3)
        >>> model(torch.rand(8, 3, 32, 32)).shape
        torch.Size([8, 10])
    """
    check_number("num_classes", num_classes, low=2, integer=True)
    check_number("in_channels", in_channels, low=1, integer=True)
    arch = MODELS.get(name)(num_classes=num_classes, in_channels=in_channels, **kwargs)
    return Normalized(arch, mean, std, in_channels=in_channels)


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`.

    Returns:
        The registered architecture names, sorted.

    Examples:
        >>> from mireg.models import list_models
        >>> "resnet18" in list_models() and "wrn34_10" in list_models()
        True
    """
    return MODELS.names()


__all__ = ["VGG", "LogitsOnly", "Normalized", "PreActResNet", "ResNet", "SmallCNN", "TRADESSmallCNN", "WideResNet",
           "create_model", "list_models", "load_robustbench_model", "robustbench_checkpoint_path", "with_normalization"]
