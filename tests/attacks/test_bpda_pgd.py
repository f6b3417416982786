"""BPDA-PGD (InfoAT suite's BPDA entry): the update against a float64 re-derivation, 8-bit outputs inside the
ball, the straight-through gradient where plain PGD is stuck, modes, argument errors."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from torch import nn
from torch.nn import functional as F

import mireg  # noqa: F401
from mireg.attacks import BPDAPGD, create_attack
from mireg.attacks.bpda_pgd import grid_in_ball, quantize
from tests._attack_helpers import TinyNet, accuracy, assert_modes_preserved


class Quantized(nn.Module):
    """``model(quantize(x))``: a defence whose input quantiser has zero gradient almost everywhere."""

    def __init__(self, model: nn.Module, levels: int) -> None:
        super().__init__()
        self.model, self.levels = model, levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(quantize(x, self.levels))


def _reference(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
               levels: int) -> torch.Tensor:
    """float64 BPDA-PGD from Athalye et al. Sec. 4.1: forward at round(x k)/k, gradient taken there and
    applied to the unquantised iterate (straight-through); the result rounded, then moved toward x."""
    model = model.double()
    k = levels - 1
    x = x.double()
    adv = x.clone()
    for _ in range(steps):
        u = (torch.round(adv * k) / k).requires_grad_(True)
        loss = F.cross_entropy(model(u), y)
        (grad,) = torch.autograd.grad(loss, u)
        adv = torch.clamp(torch.minimum(torch.maximum(adv + alpha * grad.sign(), x - eps), x + eps), 0, 1)
    out = torch.round(adv * k) / k
    low = torch.ceil(torch.clamp(x - eps, min=0) * k - 1e-4) / k
    high = torch.floor(torch.clamp(x + eps, max=1) * k + 1e-4) / k
    return torch.minimum(torch.maximum(out, low), high)


@pytest.mark.parametrize(("eps", "levels"), [(8 / 255, 256), (0.11, 256), (0.2, 17)])
def test_matches_a_float64_rederivation(eps, levels, digits_model, digits_split):
    # eps away from half a grey level: (x + eps)(levels - 1) at k + 1/2 is a rounding tie float32 and
    # float64 may break differently
    import copy

    x, y = digits_split["x_test"][:24], digits_split["y_test"][:24]
    x = quantize(x, levels)  # clean images on the quantiser's grid
    adv = BPDAPGD(digits_model, eps=eps, alpha=eps / 4, steps=6, random_start=False, levels=levels)(x, y)
    ref = _reference(copy.deepcopy(digits_model), x, y, eps, eps / 4, 6, levels)
    assert torch.allclose(adv.double(), ref, atol=1e-6)


@pytest.mark.parametrize("eps", [8 / 255, 0.1, 3 / 255])
def test_output_is_8bit_inside_the_ball_and_the_box(eps, digits_model, digits_split):
    x, y = digits_split["x_test"][:64], digits_split["y_test"][:64]  # uint8 data / 255: on the 8-bit grid
    assert torch.equal(quantize(x), x)
    adv = BPDAPGD(digits_model, eps=eps, alpha=eps / 2, steps=5)(x, y)
    assert float((adv - x).abs().max()) <= eps + 1e-6
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    assert torch.allclose(adv * 255, torch.round(adv * 255), atol=1e-4)


def test_grid_in_ball_rounds_toward_the_clean_pixel_and_clips_off_grid_images():
    x = torch.tensor([10 / 255, 250 / 255, 0.0])
    eps = 0.1  # 25.5 levels: the rounding of x + 0.1 = (k + 25.5)/255 lands on k + 26, outside
    q = quantize(x + torch.tensor([eps, eps, -eps]).clamp(min=-x))
    out = grid_in_ball(q, x, eps)
    assert torch.allclose(out * 255, torch.tensor([35.0, 255.0, 0.0]), atol=1e-4)
    off = torch.tensor([0.5004])  # off the grid, eps below half a level: the ball holds no grey level
    assert torch.allclose(grid_in_ball(quantize(off + 0.001), off, 0.001), off + 0.001)


def test_the_straight_through_gradient_attacks_where_plain_pgd_is_stuck(digits_model, digits_split):
    x, y = digits_split["x_test"][:128], digits_split["y_test"][:128]
    defended = Quantized(digits_model, levels=17).eval()
    stuck = torchattacks.PGD(defended, eps=0.2, alpha=0.05, steps=10, random_start=False)(x, y)
    assert torch.equal(stuck, x)  # every gradient through round() is exactly zero
    clean = accuracy(defended, x, y)
    # the same defence as BPDA-PGD sees it: the model behind the attack's own quantiser
    adv = BPDAPGD(digits_model, eps=0.2, alpha=0.05, steps=10, random_start=False, levels=17)(x, y)
    assert torch.equal(quantize(adv, 17), adv)
    assert accuracy(defended, adv, y) < clean - 0.3


def test_registered_modes_and_targeted(digits_model, digits_split):
    x, y = digits_split["x_test"][:8], digits_split["y_test"][:8]
    atk = create_attack("bpda-pgd", digits_model, eps=0.1, steps=2)
    assert isinstance(atk, BPDAPGD) and atk.alpha == pytest.approx(2 / 255)
    assert_modes_preserved(lambda m: BPDAPGD(m, eps=0.1, steps=2), TinyNet(), torch.rand(4, 1, 6, 6),
                           torch.tensor([0, 1, 2, 0]))
    atk = BPDAPGD(digits_model, eps=0.3, alpha=0.05, steps=10)
    target = (y + 1) % 10
    atk.set_mode_targeted_by_label(quiet=True)
    adv = atk(x, target)
    with torch.no_grad():
        hit = (digits_model(adv).argmax(1) == target).float().mean()
    assert hit > 0.5


@pytest.mark.parametrize(("kwargs", "match"), [({"eps": 0}, "eps"), ({"alpha": -1}, "alpha"),
                                               ({"steps": 0}, "steps"), ({"levels": 1}, "levels")])
def test_bad_arguments_name_themselves(kwargs, match, digits_model):
    with pytest.raises(ValueError, match=match):
        BPDAPGD(digits_model, **kwargs)
    with pytest.raises(TypeError, match="random_start"):
        BPDAPGD(digits_model, random_start="yes")
