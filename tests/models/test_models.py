"""Model zoo: shapes, gradients to the input, normalization inside, parameter counts, channels_last."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mireg.models import Normalized, create_model, list_models
from mireg.registry import MODELS

# (name, kwargs for a cheap instance, parameter count of that instance for 10 classes and 3 channels)
ARCHS = [
    ("small_cnn", {}, 160_426),
    ("resnet18", {}, 11_173_962),          # kuangliu/pytorch-cifar, MART: 11.17M
    ("preact_resnet18", {}, 11_172_170),   # Rice et al. preactresnet.py (with the final BN)
    ("vgg19", {}, 20_040_522),             # kuangliu VGG('VGG19'): 20.04M
    ("wrn", {"depth": 10, "widen_factor": 2}, 303_706),     # WRN-10-2
]
CLASSES = {"small_cnn": "SmallCNN", "resnet18": "ResNet", "preact_resnet18": "PreActResNet", "vgg19": "VGG",
           "wrn": "WideResNet"}
OTHER_COUNTS = [
    ("wrn34_10", {}, 46_160_474),                       # TRADES/MART WRN-34-10: 46.16M
    ("wrn", {}, 46_160_474),                            # the default wrn is WRN-34-10
    ("wrn", {"depth": 28, "widen_factor": 10}, 36_479_194),  # WRN-28-10: 36.48M
    ("resnet34", {}, 21_282_122),
    ("vgg16", {}, 14_728_266),
]


def _count(name: str, **kwargs) -> int:
    with torch.device("meta"):  # no memory, no init cost
        model = create_model(name, **kwargs)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, kwargs, count", ARCHS)
def test_parameter_counts(name, kwargs, count):
    assert _count(name, **kwargs) == count


@pytest.mark.parametrize("name, kwargs, count", OTHER_COUNTS)
def test_other_parameter_counts(name, kwargs, count):
    assert _count(name, **kwargs) == count


def test_resnet18_count_rederived():
    """Independent arithmetic: convs (no bias), BN (2 per channel), shortcut 1x1 convs + BN, linear."""
    def conv(cin, cout, k):
        return cin * cout * k * k
    total = conv(3, 64, 3) + 2 * 64
    cin = 64
    for planes in (64, 128, 256, 512):
        for block in range(2):
            total += conv(cin, planes, 3) + conv(planes, planes, 3) + 4 * planes
            if block == 0 and cin != planes:
                total += conv(cin, planes, 1) + 2 * planes
            cin = planes
    total += 512 * 10 + 10
    assert _count("resnet18") == total


def test_wrn34_10_count_rederived_and_counts_scale_with_classes():
    n, k = 5, 10
    widths = [16, 16 * k, 32 * k, 64 * k]
    total = 3 * 16 * 9
    for g in range(3):
        for i in range(n):
            cin = widths[g] if i == 0 else widths[g + 1]
            cout = widths[g + 1]
            total += 2 * cin + cin * cout * 9 + 2 * cout + cout * cout * 9 + (cin * cout if cin != cout else 0)
    total += 2 * 640 + 640 * 10 + 10
    assert _count("wrn34_10") == total
    assert _count("wrn34_10", num_classes=100) - total == 90 * 641
    assert _count("wrn34_10", in_channels=1) == total - 2 * 16 * 9


def test_wrn34_10_forward_batch_one():
    model = create_model("wrn34_10").eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 10)


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
    # normalization inside: the wrapper holds the statistics (its arithmetic: test_normalized_wraps_any_module...)
    assert torch.allclose(model.mean.flatten(), torch.tensor(mean)) and torch.allclose(model.std.flatten(),
                                                                                      torch.tensor(std))
    assert type(model.model).__name__ == CLASSES[name]
    with torch.no_grad():
        model = model.to(memory_format=torch.channels_last)
        out = model(x.detach().contiguous(memory_format=torch.channels_last))
        assert torch.allclose(out, logits, atol=1e-4)


@pytest.mark.parametrize("name, kwargs, count", ARCHS)
def test_single_channel_and_other_sizes(name, kwargs, count):
    """1-channel inputs; sizes other than 32 (the digits' 8x8 for small_cnn, 16x16 for the rest)."""
    size = {"small_cnn": 8, "vgg19": 32}.get(name, 16)  # VGG pools five times
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
    flat = Normalized(nn.Linear(2, 3), mean=(0.5, 0.25), std=(0.5, 2.0))   # (N, C) inputs work too
    v = torch.rand(5, 2)
    assert torch.allclose(flat(v), flat.model((v - torch.tensor([0.5, 0.25])) / torch.tensor([0.5, 2.0])))


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
    with pytest.raises(ValueError, match="depth must be 6n"):
        create_model("wrn", depth=30)
    with pytest.raises(ValueError, match="drop_rate"):
        create_model("wrn34_10", drop_rate=1.5)


@pytest.mark.parametrize("name, kwargs, dim", [("small_cnn", {}, 128), ("resnet18", {}, 512),
                                               ("wrn", {"depth": 10, "widen_factor": 1}, 64)])
def test_forward_features(name, kwargs, dim):
    model = create_model(name, **kwargs).eval()
    x = torch.rand(2, 3, 32, 32)
    feats = model.forward_features(x)
    assert feats.shape == (2, dim)
    with pytest.raises(AttributeError, match="forward_features"):
        Normalized(nn.Flatten(), in_channels=3).forward_features(x)


@pytest.mark.cuda
@pytest.mark.parametrize("name, kwargs, count", ARCHS)
def test_cuda_bf16_channels_last(name, kwargs, count):
    model = create_model(name, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), **kwargs).cuda().eval()
    model = model.to(memory_format=torch.channels_last)
    x = torch.rand(8, 3, 32, 32, device="cuda").contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(x)
    (grad,) = torch.autograd.grad(logits.float().sum(), x)
    assert logits.shape == (8, 10) and grad.dtype == torch.float32 and torch.isfinite(grad).all()
    with torch.no_grad():
        ref = model.float()(x.detach())
    assert (logits.float().argmax(1) == ref.argmax(1)).float().mean() >= 0.5
