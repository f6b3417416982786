"""CIFAR ResNet (He et al. 2016, arXiv:1512.03385) as used for adversarial training on 32x32 images.

The CIFAR variant of MART, TRADES-ResNet and InfoAT (kuangliu/pytorch-cifar): a 3x3 stride-1 stem
with no max-pooling, four stages of basic blocks (64, 128, 256, 512 channels, strides 1, 2, 2, 2),
global average pooling and one linear layer. ResNet-18 has 11,173,962 parameters for 10 classes.
(NAMID's copy uses padding 0 in the stem; mireg keeps the standard padding 1.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mireg._validation import check_number
from mireg.registry import MODELS


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a ReLU between and an identity (or 1x1 conv-BN) shortcut."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet of basic blocks; ``forward(x)`` maps (N, in_channels, H, W) to logits (N, num_classes).

    Works for any H, W >= 8 (global average pooling). ``forward_features`` gives the pooled
    (N, 512) features.

    Args:
        num_blocks: blocks per stage ((2, 2, 2, 2): ResNet-18; (3, 4, 6, 3): ResNet-34).
        num_classes: output logits.
        in_channels: image channels.

    Examples:
        >>> import torch
        >>> from mireg.models import ResNet
        >>> model = ResNet(num_classes=10)  # ResNet-18
        >>> model(torch.rand(2, 3, 8, 8)).shape, model.forward_features(torch.rand(2, 3, 8, 8)).shape
        (torch.Size([2, 10]), torch.Size([2, 512]))
    """

    def __init__(self, num_blocks: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 10,
                 in_channels: int = 3) -> None:
        super().__init__()
        check_number("num_classes", num_classes, low=2, integer=True)
        check_number("in_channels", in_channels, low=1, integer=True)
        self.in_planes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, num_blocks[0], 1)
        self.layer2 = self._make_layer(128, num_blocks[1], 2)
        self.layer3 = self._make_layer(256, num_blocks[2], 2)
        self.layer4 = self._make_layer(512, num_blocks[3], 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(512 * BasicBlock.expansion, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes * BasicBlock.expansion
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.pool(out).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.forward_features(x))


@MODELS.register("resnet18")
def resnet18(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """CIFAR ResNet-18 (blocks 2-2-2-2; 11.17M parameters for 10 classes).

    Example::

        model = resnet18(num_classes=10)          # un-normalised; see mireg.models.create_model
        logits = model(torch.rand(4, 3, 32, 32))  # (4, 10)
    """
    return ResNet((2, 2, 2, 2), num_classes, in_channels)


@MODELS.register("resnet34")
def resnet34(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """CIFAR ResNet-34 (blocks 3-4-6-3; 21.28M parameters for 10 classes)."""
    return ResNet((3, 4, 6, 3), num_classes, in_channels)
