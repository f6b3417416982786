"""TRADES' MNIST small CNN: architecture and parameter count re-derived from TRADES' models/small_cnn.py,
TRADES' state_dict keys and initialisation, 28x28 inputs only, and the mireg model contract."""

from __future__ import annotations

import pytest
import torch

from mireg.models import Normalized, TRADESSmallCNN, create_model, list_models

# TRADES' SmallCNN, layer by layer: (key, weight shape). Conv2d(in, out, 3) has out*in*9 weights + out biases.
TRADES_LAYERS = [
    ("feature_extractor.conv1", (32, 1, 3, 3)), ("feature_extractor.conv2", (32, 32, 3, 3)),
    ("feature_extractor.conv3", (64, 32, 3, 3)), ("feature_extractor.conv4", (64, 64, 3, 3)),
    ("classifier.fc1", (200, 1024)), ("classifier.fc2", (200, 200)), ("classifier.fc3", (10, 200)),
]


def test_state_dict_keys_shapes_and_count_follow_trades():
    model = TRADESSmallCNN()
    state = model.state_dict()
    expected = {}
    for key, shape in TRADES_LAYERS:
        expected[f"{key}.weight"] = shape
        expected[f"{key}.bias"] = (shape[0],)
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    by_hand = sum(torch.Size(s).numel() + s[0] for _, s in TRADES_LAYERS)
    assert by_hand == 312_202 == sum(p.numel() for p in model.parameters())


def test_trades_initialisation_and_forward():
    torch.manual_seed(0)
    model = TRADESSmallCNN().eval()
    assert torch.count_nonzero(model.classifier.fc3.weight) == 0 and torch.count_nonzero(model.classifier.fc3.bias) == 0
    assert all(torch.count_nonzero(model.feature_extractor[i].bias) == 0 for i in (0, 2, 5, 7))
    std = model.feature_extractor.conv4.weight.std().item()
    assert abs(std - (2 / (64 * 9)) ** 0.5) < 0.01  # He-normal, fan_in = 64 * 3 * 3
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(model(x), torch.zeros(3, 10))  # zero last layer: all-zero logits before training
    torch.nn.init.normal_(model.classifier.fc3.weight)
    feats = model.forward_features(x)
    assert feats.shape == (3, 200) and (feats >= 0).all()
    assert torch.allclose(model(x), model.classifier.fc3(feats))
    # the same computation written out with functional ops (eval mode: dropout is the identity)
    f = torch.nn.functional
    h = f.relu(model.feature_extractor.conv2(f.relu(model.feature_extractor.conv1(x))))
    h = f.max_pool2d(h, 2)
    h = f.max_pool2d(f.relu(model.feature_extractor.conv4(f.relu(model.feature_extractor.conv3(h)))), 2)
    h = f.relu(model.classifier.fc2(f.relu(model.classifier.fc1(h.reshape(3, -1)))))
    assert torch.allclose(model(x), model.classifier.fc3(h), atol=1e-6)


def test_registered_with_the_mireg_contract():
    assert "trades_small_cnn" in list_models() and "small_cnn" in list_models()
    model = create_model("trades_small_cnn", num_classes=10, in_channels=1, mean=(0.1307,), std=(0.3081,))
    assert isinstance(model, Normalized) and isinstance(model.model, TRADESSmallCNN)
    torch.nn.init.normal_(model.model.classifier.fc3.weight)
    model.eval()
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    logits = model(x)
    (grad,) = torch.autograd.grad(logits[0].sum(), x)
    assert logits.shape == (2, 10) and grad[0].abs().sum() > 0 and grad[1].abs().sum() == 0
    with torch.no_grad():
        out = model.to(memory_format=torch.channels_last)(x.detach().contiguous(memory_format=torch.channels_last))
    assert torch.allclose(out, logits, atol=1e-5)
    assert create_model("trades_small_cnn", in_channels=3).model.feature_extractor.conv1.in_channels == 3


def test_bad_input_names_the_fix():
    with pytest.raises(ValueError, match="28x28"):
        TRADESSmallCNN()(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="drop"):
        TRADESSmallCNN(drop=1.5)
    with pytest.raises(TypeError, match="num_classes"):
        TRADESSmallCNN(num_classes=10.0)
