"""VGG with batch normalization (Simonyan & Zisserman 2015, arXiv:1409.1556), CIFAR variant.

VGG-19: sixteen 3x3 conv-BN-ReLU layers (64, 64, M, 128, 128, M, 256 x4, M, 512 x4, M, 512 x4, M;
M = 2x2 max-pooling), global average pooling (a no-op at 32x32, where the map is 1x1) and one linear
layer, as in kuangliu/pytorch-cifar. NAMID (Zhou et al. 2022) uses it as the surrogate of its
black-box transfer attacks. 20,040,522 parameters for 10 classes.
"""

from __future__ import annotations

import torch
from torch import nn

from mireg._validation import check_number
from mireg.registry import MODELS

CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG-BN (Simonyan & Zisserman, ICLR 2015); (N, in_channels, H, W) -> logits (N, num_classes), H, W >= 32.

    Args:
        config: "vgg11", "vgg16" or "vgg19" (the layer plan).
        num_classes: output logits.
        in_channels: image channels.

    Examples:
        >>> import torch
        >>> from mireg.models import VGG
        >>> VGG("vgg11", num_classes=10)(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """

    def __init__(self, config: str = "vgg19", num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if config not in CONFIGS:
            raise ValueError(f"config must be one of {', '.join(map(repr, CONFIGS))}; got {config!r}")
        check_number("num_classes", num_classes, low=2, integer=True)
        check_number("in_channels", in_channels, low=1, integer=True)
        layers: list[nn.Module] = []
        channels = in_channels
        for v in CONFIGS[config]:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(channels, int(v), 3, padding=1), nn.BatchNorm2d(int(v)), nn.ReLU(inplace=True)]
                channels = int(v)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


@MODELS.register("vgg19")
def vgg19(num_classes: int = 10, in_channels: int = 3) -> VGG:
    """VGG-19 with BN (20.04M parameters for 10 classes); NAMID's black-box surrogate.

    Example::

        model = vgg19(num_classes=10)
        logits = model(torch.rand(2, 3, 32, 32))   # (2, 10)
    """
    return VGG("vgg19", num_classes, in_channels)


@MODELS.register("vgg16")
def vgg16(num_classes: int = 10, in_channels: int = 3) -> VGG:
    """VGG-16 with BN (14.73M parameters for 10 classes)."""
    return VGG("vgg16", num_classes, in_channels)
