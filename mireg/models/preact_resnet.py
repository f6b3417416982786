"""Pre-activation ResNet-18 (He et al. 2016, arXiv:1603.05027), CIFAR variant.

The architecture of "Fast is better than free" (Wong et al. 2020) and "Overfitting in adversarially
robust deep learning" (Rice et al. 2020): BN-ReLU before every convolution, 1x1 conv shortcuts
(without BN) where the shape changes, a final BN-ReLU before global average pooling, a 3x3
stride-1 stem and no max-pooling. 11,172,170 parameters for 10 classes (kuangliu's copy lacks the
final BN: 11,171,146). ``state_dict`` keys follow Rice et al.'s ``preactresnet.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mireg._validation import check_number
from mireg.registry import MODELS


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3, BN-ReLU-conv3x3, plus the (projected) pre-activated input."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """Pre-activation ResNet (He et al., ECCV 2016); (N, in_channels, H, W) -> logits (N, num_classes), H, W >= 8.

    Args:
        num_blocks: blocks per stage ((2, 2, 2, 2): PreActResNet-18).
        num_classes: output logits.
        in_channels: image channels.

    Examples:
        >>> import torch
        >>> from mireg.models import PreActResNet
        >>> PreActResNet(num_classes=10)(torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, num_blocks: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 10,
                 in_channels: int = 3) -> None:
        super().__init__()
        check_number("num_classes", num_classes, low=2, integer=True)
        check_number("in_channels", in_channels, low=1, integer=True)
        self.in_planes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.layer1 = self._make_layer(64, num_blocks[0], 1)
        self.layer2 = self._make_layer(128, num_blocks[1], 2)
        self.layer3 = self._make_layer(256, num_blocks[2], 2)
        self.layer4 = self._make_layer(512, num_blocks[3], 2)
        self.bn = nn.BatchNorm2d(512)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(PreActBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        return self.pool(F.relu(self.bn(out))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.forward_features(x))


@MODELS.register("preact_resnet18")
def preact_resnet18(num_classes: int = 10, in_channels: int = 3) -> PreActResNet:
    """PreAct ResNet-18 (blocks 2-2-2-2; 11.17M parameters for 10 classes).

    Example::

        model = preact_resnet18(num_classes=10)
        logits = model(torch.rand(4, 3, 32, 32))   # (4, 10)
    """
    return PreActResNet((2, 2, 2, 2), num_classes, in_channels)
