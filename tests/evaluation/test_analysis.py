"""InfoAT analyses (loss surfaces, entropy vs smallest perturbation) against direct re-derivations; plots."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import mireg  # noqa: F401
from mireg.evaluation import evaluate, plots
from mireg.evaluation.analysis import (
    entropy_vs_perturbation,
    filter_normalized_direction,
    input_loss_surface,
    minimal_perturbation,
    prediction_entropy,
    weight_loss_surface,
)


class Threshold(nn.Module):
    """class 1 iff the single pixel is > 0.5."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.scale * (x.flatten(1)[:, :1] - 0.5)
        return torch.cat([torch.zeros_like(z), z], dim=1)


def test_prediction_entropy_matches_float64_numpy():
    logits = torch.randn(5, 7) * 4
    p = np.exp(logits.double().numpy())
    p /= p.sum(1, keepdims=True)
    expected = -(p * np.log(p)).sum(1)
    assert np.allclose(prediction_entropy(logits).numpy(), expected, atol=1e-5)
    assert prediction_entropy(torch.zeros(1, 10)).item() == pytest.approx(math.log(10))


def test_filter_normalized_direction(digits_model):
    d = filter_normalized_direction(digits_model, torch.Generator().manual_seed(3))
    for name, p in digits_model.named_parameters():
        if p.dim() <= 1:
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            assert torch.allclose(d[name].flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1), rtol=1e-5)


def test_weight_loss_surface_against_a_direct_perturbation(digits_model, digits_split):
    x, y = digits_split["x_test"][:64], digits_split["y_test"][:64]
    before = copy.deepcopy(digits_model.state_dict())
    surf = weight_loss_surface(digits_model, x, y, alphas=[-0.5, 0.0, 0.5], adversarial=True, steps=3, seed=5)
    assert surf["alpha"] == [-0.5, 0.0, 0.5] and len(surf["adversarial"]) == 3
    for k, v in digits_model.state_dict().items():
        assert torch.equal(v, before[k])  # the model itself is never modified
    with torch.no_grad():
        assert surf["clean"][1] == pytest.approx(F.cross_entropy(digits_model(x), y).item(), rel=1e-5)
        manual = copy.deepcopy(digits_model)
        d = filter_normalized_direction(manual, torch.Generator().manual_seed(5))
        for name, p in manual.named_parameters():
            p.add_(0.5 * d[name])
        assert surf["clean"][2] == pytest.approx(F.cross_entropy(manual(x), y).item(), rel=1e-5)
    assert all(a >= c - 1e-6 for a, c in zip(surf["adversarial"], surf["clean"], strict=True))


def test_input_loss_surface_center_and_axis(digits_model, digits_split):
    x, y = digits_split["x_test"][:1], digits_split["y_test"][:1]
    surf = input_loss_surface(digits_model, x, y, eps=0.1, points=5, seed=0)
    loss = np.asarray(surf["loss"])
    assert loss.shape == (5, 5) and surf["a"] == pytest.approx([-0.1, -0.05, 0.0, 0.05, 0.1])
    with torch.no_grad():
        assert loss[2, 2] == pytest.approx(F.cross_entropy(digits_model(x), y).item(), rel=1e-5)
    assert surf["pgd_loss"] >= loss[2, 2]
    with pytest.raises(ValueError, match="one sample"):
        input_loss_surface(digits_model, digits_split["x_test"][:2], digits_split["y_test"][:2])


def test_minimal_perturbation_hand_count():
    x = torch.tensor([0.45, 0.2, 0.48, 0.58]).view(4, 1, 1, 1)
    y = torch.tensor([0, 0, 1, 1])
    # 0.45 needs > 0.05 -> 0.06; 0.2 needs > 0.3 -> never in this grid; 0.48 is wrong clean -> 0; 0.58 -> 0.1
    got = minimal_perturbation(Threshold(), x, y, eps_grid=[0.1, 0.02, 0.04, 0.06], steps=5)
    assert got.tolist() == [0.06, math.inf, 0.0, 0.1]
    with pytest.raises(ValueError, match="eps_grid"):
        minimal_perturbation(Threshold(), x, y, eps_grid=[0.0, 0.1])


def test_entropy_vs_perturbation(digits_model, digits_split):
    x, y = digits_split["x_test"][:40], digits_split["y_test"][:40]
    out = entropy_vs_perturbation(digits_model, x, y, eps_grid=[0.05, 0.1, 0.2, 0.4], steps=5)
    assert len(out["entropy"]) == len(out["min_eps"]) == 40
    with torch.no_grad():
        assert out["entropy"] == pytest.approx(prediction_entropy(digits_model(x)).tolist(), rel=1e-5)
    assert set(out["min_eps"]) <= {0.0, 0.05, 0.1, 0.2, 0.4, math.inf}
    assert -1 <= out["correlation"] <= 1


def test_plots_write_pngs(tmp_path, digits_model, digits_split):
    data = (digits_split["x_test"], digits_split["y_test"])
    report = evaluate(digits_model, data, suite="quick", n=20, max_steps=2, progress=False, sanity=["eps"])
    paths = report.plot(tmp_path)
    assert [p.name for p in paths] == ["robust_accuracy.png", "accuracy_vs_eps.png"]
    x, y = data[0][:16], data[1][:16]
    paths.append(plots.plot_weight_surface(weight_loss_surface(digits_model, x, y, alphas=[-1, 0, 1], steps=2),
                                           tmp_path / "w.png"))
    paths.append(plots.plot_input_surface(input_loss_surface(digits_model, x[:1], y[:1], points=4), tmp_path / "i.png"))
    paths.append(plots.plot_entropy_vs_perturbation(
        entropy_vs_perturbation(digits_model, x, y, eps_grid=[0.1, 0.3], steps=2), tmp_path / "e.png"))
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bare = evaluate(digits_model, data, suite="quick", n=8, max_steps=1, progress=False, sanity=False)
    with pytest.raises(ValueError, match="eps curve"):
        plots.plot_eps_curve(bare, tmp_path / "x.png")
