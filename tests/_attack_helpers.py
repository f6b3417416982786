"""Small models and checks shared by the tests of mireg's own attacks (DDN, FWA, RayS, BPDA, CW-inf)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class LinearBinary(nn.Module):
    """Two-class linear classifier ``logits = [-z/2, z/2]`` with ``z = w . x + b``: the boundary is z = 0.

    The minimal L2 distance from x to the boundary is ``|z| / ||w||_2`` and the minimal L-inf distance
    ``|z| / ||w||_1`` (when the closest boundary point lies inside the [0, 1] box).
    """

    def __init__(self, w: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(b.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.flatten(1) @ self.w + self.b
        return torch.stack([-z / 2, z / 2], dim=1)


def linear_problem(n: int = 6, side: int = 4, low: float = 0.02, high: float = 0.08, seed: int = 1):
    """A LinearBinary model and inputs in about [0.35, 0.65] whose L2 boundary distance is in [low, high].

    Returns ``(model, x (n, 1, side, side), y (n,), l2_distance (n,) float64, linf_distance (n,) float64)``.
    """
    g = torch.Generator().manual_seed(seed)
    d = side * side
    w = torch.randn(d, generator=g)
    b = -0.5 * w.sum()
    x = 0.45 + 0.1 * torch.rand(n, d, generator=g)
    dist = low + (high - low) * torch.rand(n, generator=g)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    z0 = x @ w + b
    x = x + ((sign * dist * w.norm() - z0) / w.norm() ** 2).unsqueeze(1) * w
    x = x.view(n, 1, side, side)
    w64, x64 = w.double(), x.flatten(1).double()
    z = x64 @ w64 + b.double()
    y = (z > 0).long()
    return LinearBinary(w, b), x, y, z.abs() / w64.norm(), z.abs() / w64.abs().sum()


class TinyNet(nn.Module):
    """A randomly initialised small conv net with BatchNorm and Dropout, for property and mode tests."""

    def __init__(self, channels: int = 1, num_classes: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.Dropout(0.1), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class CallCounter(nn.Module):
    """Wraps a model and counts the samples (rows) it is called on."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.rows = 0
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        self.calls += 1
        return self.model(x)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def assert_modes_preserved(make_attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """Attacking a model in train mode and in eval mode leaves every module's flag and weights unchanged."""
    model = copy.deepcopy(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for training in (True, False):
        model.train(training)
        if hasattr(model, "body"):
            model.body[1].eval()  # a mixed state must survive too
        before = [m.training for m in model.modules()]
        make_attack(model)(x, y)
        assert [m.training for m in model.modules()] == before
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
