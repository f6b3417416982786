"""The small CNN of TRADES' MNIST experiments (Zhang et al., ICML 2019; yaodongyu/TRADES ``models/small_cnn.py``).

Four 3x3 convolutions without padding (32, 32, 64, 64 channels, ReLU, 2x2 max-pooling after the second
and the fourth) on 28x28 images, then fully connected 1024 -> 200 -> ReLU -> dropout(0.5) -> 200 ->
ReLU -> num_classes: 312,202 parameters for one channel and 10 classes. MART (Wang et al., ICLR 2020)
uses the same network for MNIST. Initialisation as in TRADES: He-normal convolution weights, zero
convolution biases, and a zero last layer (so a fresh model outputs all-zero logits). The
``state_dict`` keys are TRADES' (``feature_extractor.conv1.weight``, ``classifier.fc3.bias``, ...), so
TRADES' MNIST checkpoints load into it. Not to be confused with mireg's ``small_cnn``, a BatchNorm CNN
for the digits demo.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from mireg._validation import check_number
from mireg.registry import MODELS

__all__ = ["TRADESSmallCNN", "trades_small_cnn"]

IMAGE_SIZE = 28


class TRADESSmallCNN(nn.Module):
    """(N, in_channels, 28, 28) -> logits (N, num_classes); see the module docstring.

    Args:
        num_classes: output logits (TRADES: 10).
        in_channels: image channels (TRADES: 1, MNIST's grey images).
        drop: dropout probability before the second fully connected layer (TRADES: 0.5).

    Examples:
        >>> import torch
        >>> from mireg.models import TRADESSmallCNN
        >>> TRADESSmallCNN()(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, drop: float = 0.5) -> None:
        super().__init__()
        check_number("num_classes", num_classes, low=2, integer=True)
        check_number("in_channels", in_channels, low=1, integer=True)
        check_number("drop", drop, low=0.0, high=1.0)
        self.feature_extractor = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 32, 3)), ("relu1", nn.ReLU(inplace=True)),
            ("conv2", nn.Conv2d(32, 32, 3)), ("relu2", nn.ReLU(inplace=True)),
            ("maxpool1", nn.MaxPool2d(2, 2)),
            ("conv3", nn.Conv2d(32, 64, 3)), ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(64, 64, 3)), ("relu4", nn.ReLU(inplace=True)),
            ("maxpool2", nn.MaxPool2d(2, 2)),
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(64 * 4 * 4, 200)), ("relu1", nn.ReLU(inplace=True)), ("drop", nn.Dropout(drop)),
            ("fc2", nn.Linear(200, 200)), ("relu2", nn.ReLU(inplace=True)),
            ("fc3", nn.Linear(200, num_classes)),
        ]))
        for module in self.feature_extractor:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.zeros_(self.classifier.fc3.weight)
        nn.init.zeros_(self.classifier.fc3.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 200 penultimate features (after the second fully connected layer and its ReLU)."""
        if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"TRADES' small CNN takes {IMAGE_SIZE}x{IMAGE_SIZE} images (MNIST), got "
                             f"{tuple(x.shape[-2:])}; use image_size=28 or another model (e.g. small_cnn)")
        h = self.feature_extractor(x).flatten(1)
        for name, layer in self.classifier.named_children():
            if name != "fc3":
                h = layer(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.fc3(self.forward_features(x))


@MODELS.register("trades_small_cnn")
def trades_small_cnn(num_classes: int = 10, in_channels: int = 1, drop: float = 0.5) -> TRADESSmallCNN:
    """TRADES' MNIST small CNN (module docstring).

    Example::

        model = trades_small_cnn()                 # 1 channel, 10 classes, 312,202 parameters
        logits = model(torch.rand(4, 1, 28, 28))   # (4, 10); all zero before training (TRADES' init)
    """
    return TRADESSmallCNN(num_classes, in_channels, drop)
