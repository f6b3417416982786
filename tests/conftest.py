"""Shared test fixtures: deterministic seeds, one torch thread, a small trained digits model."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    # Tests use tiny models: one intra-op thread is as fast, and far faster when the CPU is shared.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield


class TinyDigitsNet(nn.Module):
    """A small CNN on 1x8x8 images in [0, 1] (scikit-learn digits), logits-only forward."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.BatchNorm2d(32), nn.ReLU(),
        )
        self.head = nn.Linear(32 * 4 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


@pytest.fixture(scope="session")
def digits_split() -> dict[str, torch.Tensor]:
    """scikit-learn's bundled digits as 1x8x8 float images in [0, 1]: 1,297 train / 500 test."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return {"x_train": x[:1297], "y_train": y[:1297], "x_test": x[1297:], "y_test": y[1297:]}


@pytest.fixture(scope="session")
def digits_model(digits_split) -> nn.Module:
    """TinyDigitsNet trained clean for a few seconds (about 95% test accuracy), in eval mode.

    Session-scoped and shared: tests must not modify its weights (copy.deepcopy it first).
    """
    torch.manual_seed(0)
    model = TinyDigitsNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = digits_split["x_train"], digits_split["y_train"]
    for _ in range(8):
        for idx in torch.randperm(len(y)).split(128):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()
