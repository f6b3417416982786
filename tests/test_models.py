"""Model zoo: shapes, gradients to the input, normalization inside, parameter counts, channels_last."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mireg.models import Normalized, create_model, list_models
from mireg.registry import MODELS

# (name, kwargs for a cheap instance, known parameter count for 10 classes and 3 channels)
ARCHS = [
    ("small_cnn", {}, 160_426),
    ("resnet18", {}, 11_173_962),
]


def _count(name: str, **kwargs) -> int:
    with torch.device("meta"):  # no memory, no init cost
        model = create_model(name, **kwargs)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, kwargs, count", ARCHS)
def test_parameter_counts(name, kwargs, count):
    assert _count(name) == count


def test_registry_lists_models():
    assert set(n for n, _, _ in ARCHS) <= set(list_models())
    assert list_models() == MODELS.names()


@pytest.mark.parametrize("name, kwargs, count", ARCHS)
def test_model_contract(name, kwargs, count):
    """Logits shape, gradient to the input (per example), normalization inside, channels_last."""
    torch.manual_seed(0)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
    model = create_model(name, num_classes=7, mean=mean, std=std, **kwargs).eval()
    assert isinstance(model, Normalized) and {"mean", "std"} <= set(model.state_dict())
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 7) and logits.dtype == torch.float32
    (grad,) = torch.autograd.grad(logits[0].sum(), x)
    assert torch.isfinite(grad).all() and grad[0].abs().sum() > 0
    assert grad[1].abs().sum() == 0  # eval mode: example 0's logits ignore example 1
    with torch.no_grad():
        m = torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)
        s = torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
        expected = model.model(((x.double() - m) / s).float())
        assert torch.allclose(logits, expected, atol=1e-5)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.detach().contiguous(memory_format=torch.channels_last))
        assert torch.allclose(out, logits, atol=1e-4)


@pytest.mark.parametrize("name, kwargs, count", ARCHS)
def test_single_channel_and_other_sizes(name, kwargs, count):
    """1-channel inputs; sizes other than 32 (the digits' 8x8 for small_cnn, 16x16 for the rest)."""
    size = 8 if name == "small_cnn" else 16
    model = create_model(name, num_classes=3, in_channels=1, mean=(0.3,), std=(0.3,), **kwargs).train()
    x = torch.rand(2, 1, size, size, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 3)
    (grad,) = torch.autograd.grad(logits.sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_normalized_wraps_any_module_and_validates():
    lin = nn.Sequential(nn.Flatten(), nn.Linear(2 * 2 * 2, 3))
    model = Normalized(lin, mean=(0.5, 0.25), std=(0.5, 0.5))
    x = torch.rand(4, 2, 2, 2)
    ref = lin((x - torch.tensor([0.5, 0.25]).view(1, 2, 1, 1)) / 0.5)
    assert torch.allclose(model(x), ref)
    identity = Normalized(lin, in_channels=2)
    assert torch.equal(identity(x), lin(x))
    assert Normalized(lin, mean=torch.tensor([0.5]), std=[0.5]).mean.shape == (1, 1, 1, 1)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        Normalized(lambda t: t, mean=(0.5,), std=(0.5,))
    with pytest.raises(ValueError, match="std must be positive"):
        Normalized(lin, mean=(0.5, 0.5), std=(0.5, 0.0))
    with pytest.raises(ValueError, match="in_channels=2"):
        Normalized(lin, mean=(0.5, 0.5, 0.5), in_channels=2)
    with pytest.raises(TypeError, match="mean must be a sequence"):
        Normalized(lin, mean="0.5")
    with pytest.raises(ValueError, match="finite"):
        Normalized(lin, mean=(float("nan"), 0.0))
    with pytest.raises(ValueError, match="mean is None"):
        Normalized(lin)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2, H, W\)"):
        model(torch.rand(4, 3, 2, 2))


def test_create_model_bad_arguments():
    with pytest.raises(ValueError, match="unknown model"):
        create_model("resnet19")
    with pytest.raises(ValueError, match="num_classes"):
        create_model("small_cnn", num_classes=1)
    with pytest.raises(TypeError, match="in_channels"):
        create_model("small_cnn", in_channels=3.0)
    with pytest.raises(ValueError, match="in_channels=1"):
        create_model("small_cnn", in_channels=1, mean=(0.1, 0.2, 0.3))
    with pytest.raises(TypeError):
        create_model("small_cnn", no_such_option=1)


def test_forward_features():
    model = create_model("resnet18").eval()
    feats = model.forward_features(torch.rand(2, 3, 32, 32))
    assert feats.shape == (2, 512)
