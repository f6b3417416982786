"""Shared test fixtures: deterministic seeds, one torch thread, digits and a small trained model, both
built with mireg itself (``mireg.data`` and ``mireg.models``)."""

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


@pytest.fixture(scope="session")
def digits_split() -> dict[str, torch.Tensor]:
    """scikit-learn's bundled digits through ``mireg.data.load_dataset("digits")`` at their own 8x8
    pixels, one channel, float in [0, 1]: 1,297 train / 500 test (mireg's fixed split)."""
    from mireg.data import load_dataset

    train = load_dataset("digits", split="train", image_size=8, channels=1)
    test = load_dataset("digits", split="test", image_size=8, channels=1)
    return {"x_train": train.float(), "y_train": train.y, "x_test": test.float(), "y_test": test.y}


@pytest.fixture(scope="session")
def digits_model(digits_split) -> nn.Module:
    """``mireg.models.create_model("small_cnn")`` (width 16) trained clean for a few seconds on the 8x8
    digits (about 95% test accuracy), in eval mode.

    Session-scoped and shared: tests must not modify its weights (copy.deepcopy it first).
    """
    from mireg.models import create_model

    torch.manual_seed(0)
    model = create_model("small_cnn", num_classes=10, in_channels=1, width=16, hidden=64)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = digits_split["x_train"], digits_split["y_train"]
    for _ in range(8):
        for idx in torch.randperm(len(y)).split(128):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()
