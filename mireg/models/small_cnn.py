"""A small CNN for digits-sized problems: fast enough for adversarial training on two CPU cores.

Three 3x3 conv-BN-ReLU layers (``width``, 2x``width``, 4x``width`` channels; 2x2 max-pooling after the
first two), adaptive average pooling to 2x2, and a two-layer head (128 hidden units). With the
default width 32 it has 0.16M parameters and costs about 10M multiply-adds per 32x32 image.
"""

from __future__ import annotations

import torch
from torch import nn

from mireg._validation import check_number
from mireg.registry import MODELS


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """(N, in_channels, H, W) -> logits (N, num_classes) for any H, W >= 4 (8x8 digits up to 32x32 and beyond).

    ``stages``: the submodules whose outputs are its layers #1-#4 (the two pooled conv blocks, the pooled
    third block, the hidden layer), as InfoAT's MINE ablation numbers a ResNet's ``layer1``-``layer4``.
    """

    stages = ("features.3", "features.7", "features.11", "fc")

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32, hidden: int = 128) -> None:
        super().__init__()
        check_number("num_classes", num_classes, low=2, integer=True)
        check_number("in_channels", in_channels, low=1, integer=True)
        check_number("width", width, low=1, integer=True)
        check_number("hidden", hidden, low=1, integer=True)
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, width), nn.MaxPool2d(2),
            *_conv_bn_relu(width, 2 * width), nn.MaxPool2d(2),
            *_conv_bn_relu(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(2),
        )
        self.fc = nn.Sequential(nn.Linear(4 * width * 4, hidden), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


@MODELS.register("small_cnn")
def small_cnn(num_classes: int = 10, in_channels: int = 3, width: int = 32, hidden: int = 128) -> SmallCNN:
    """The small digits CNN (module docstring).

    Example::

        model = small_cnn(num_classes=10, in_channels=1)
        logits = model(torch.rand(4, 1, 32, 32))   # (4, 10)
    """
    return SmallCNN(num_classes, in_channels, width, hidden)
