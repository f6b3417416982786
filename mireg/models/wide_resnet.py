"""Wide ResNet (Zagoruyko & Komodakis 2016, arXiv:1605.07146), the TRADES / MART WRN-34-10 variant.

Depth ``d`` gives ``n = (d - 4) / 6`` pre-activation basic blocks per group; the three groups have
16k, 32k and 64k channels for widen factor ``k`` (strides 1, 2, 2) after a 16-channel 3x3 stem,
then BN-ReLU, global average pooling and a linear layer. Where the width changes, the block
pre-activates its input once and projects it with a 1x1 conv for the shortcut (the TRADES code's
``equalInOut`` logic). Initialisation as in TRADES: conv weights N(0, 2 / (3 * 3 * out_channels)),
BN weight 1 and bias 0, linear bias 0. ``dropRate`` 0 by default (TRADES, MART).
WRN-34-10 has 46,160,474 parameters for 10 classes. ``state_dict`` keys follow TRADES'
``wideresnet.py`` (``block1.layer.0.convShortcut.weight``, ``fc.weight``, ...) except its unused
``sub_block1``, so TRADES / MART checkpoints load after dropping the ``sub_block1.*`` keys.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mireg._validation import check_number
from mireg.registry import MODELS


class WideBasicBlock(nn.Module):
    """BN-ReLU-conv3x3(stride), BN-ReLU-(dropout)-conv3x3, plus identity or a 1x1 projection."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = None if self.equal_in_out else nn.Conv2d(in_planes, out_planes, 1, stride=stride,
                                                                      bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(pre)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        return out + (x if self.convShortcut is None else self.convShortcut(pre))


class NetworkBlock(nn.Module):
    """``n`` wide basic blocks; the first changes width and stride (``.layer`` as in TRADES)."""

    def __init__(self, n: int, in_planes: int, out_planes: int, stride: int, drop_rate: float) -> None:
        super().__init__()
        self.layer = nn.Sequential(*[WideBasicBlock(in_planes if i == 0 else out_planes, out_planes,
                                                    stride if i == 0 else 1, drop_rate) for i in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WRN-depth-widen_factor (Zagoruyko & Komodakis, BMVC 2016); (N, in_channels, H, W) -> logits (N, num_classes).

    Args:
        depth: 6n + 4 (34: WRN-34-10 of TRADES, MART, InfoAT).
        widen_factor: the width multiplier k.
        num_classes: output logits.
        in_channels: image channels.
        drop_rate: dropout between the two convolutions of a block.

    Examples:
        >>> import torch
        >>> from mireg.models import WideResNet
        >>> WideResNet(depth=10, widen_factor=1)(torch.rand(2, 3, 8, 8)).shape  # WRN-10-1
        torch.Size([2, 10])
    """

    def __init__(self, depth: int = 34, widen_factor: int = 10, num_classes: int = 10, in_channels: int = 3,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        check_number("depth", depth, low=10, integer=True)
        if (depth - 4) % 6 != 0:
            raise ValueError(f"depth must be 6n + 4 (10, 16, 22, 28, 34, 40, ...), got {depth}")
        check_number("widen_factor", widen_factor, low=1, integer=True)
        check_number("num_classes", num_classes, low=2, integer=True)
        check_number("in_channels", in_channels, low=1, integer=True)
        check_number("drop_rate", drop_rate, low=0.0, high=1.0)
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, widths[0], widths[1], 1, drop_rate)
        self.block2 = NetworkBlock(n, widths[1], widths[2], 2, drop_rate)
        self.block3 = NetworkBlock(n, widths[2], widths[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.pool(F.relu(self.bn1(out))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


@MODELS.register("wrn")
def wrn(num_classes: int = 10, in_channels: int = 3, depth: int = 34, widen_factor: int = 10,
        drop_rate: float = 0.0) -> WideResNet:
    """Wide ResNet of any depth (6n + 4) and width, e.g. ``wrn(depth=28, widen_factor=10)``.

    Example::

        model = wrn(depth=16, widen_factor=4)
        logits = model(torch.rand(2, 3, 32, 32))   # (2, 10)
    """
    return WideResNet(depth, widen_factor, num_classes, in_channels, drop_rate)


@MODELS.register("wrn34_10")
def wrn34_10(num_classes: int = 10, in_channels: int = 3, drop_rate: float = 0.0) -> WideResNet:
    """WRN-34-10 of TRADES and MART (46.16M parameters for 10 classes)."""
    return WideResNet(34, 10, num_classes, in_channels, drop_rate)
