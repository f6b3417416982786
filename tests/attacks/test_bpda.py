"""BPDA: identity transform reproduces the plain attack exactly, gradients vs hand-derived ones, defended digits."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import mireg  # noqa: F401
from mireg.attacks import BPDA, CWInf, InfoPGD, bpda
from tests._attack_helpers import TinyNet, accuracy, assert_modes_preserved


def _binarize(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x)  # gradient-masking: its autograd gradient is zero everywhere


@pytest.mark.parametrize("make", [
    lambda m: torchattacks.PGD(m, eps=0.1, alpha=0.02, steps=5),
    lambda m: CWInf(m, eps=0.1, alpha=0.02, steps=5),
    lambda m: torchattacks.PGDL2(m, eps=0.5, alpha=0.1, steps=5),
])
def test_identity_transform_equals_the_plain_attack_exactly(make, digits_model, digits_split):
    x, y = digits_split["x_test"][:32], digits_split["y_test"][:32]
    torch.manual_seed(3)
    plain = make(digits_model)(x, y)
    torch.manual_seed(3)
    through = make(BPDA(lambda t: t, digits_model))(x, y)
    assert torch.equal(plain, through)


def test_forward_is_model_of_transform_and_backward_is_straight_through():
    model = TinyNet().eval()
    x = torch.rand(3, 1, 6, 6, requires_grad=True)
    wrapped = BPDA(_binarize, model)
    out = wrapped(x)
    assert torch.equal(out, model(_binarize(x.detach())))
    (grad,) = torch.autograd.grad(out.sum(), x)
    xb = _binarize(x.detach()).requires_grad_(True)
    (expected,) = torch.autograd.grad(model(xb).sum(), xb)  # d f / d g evaluated at g(x), times I
    assert torch.equal(grad, expected)
    assert float(grad.abs().sum()) > 0


def test_user_backward_gives_the_vjp_of_the_approximation():
    # g(x) = quantised 2x, h(x) = 2x  =>  grad = J_h^T v = 2 v
    model = TinyNet().eval()
    x = torch.rand(2, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    model = model.double()

    def g(t):
        return torch.round(2 * t * 8) / 8

    out = BPDA(g, model, backward=lambda t: 2 * t)(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    gx = g(x.detach()).requires_grad_(True)
    (v,) = torch.autograd.grad(model(gx).sum(), gx)
    torch.testing.assert_close(grad, 2 * v, rtol=1e-12, atol=1e-12)
    # a non-linear h: the gradient is h'(x) * v elementwise
    out = bpda(x, torch.round, backward=torch.sin)
    (grad,) = torch.autograd.grad((out * 3).sum(), x)
    torch.testing.assert_close(grad, 3 * torch.cos(x.detach()), rtol=1e-12, atol=1e-12)


def test_bpda_breaks_a_gradient_masking_defense(digits_model, digits_split):
    x, y = digits_split["x_test"][:100], digits_split["y_test"][:100]
    defended = BPDA(_binarize, digits_model)
    plain_model = _Composed(_binarize, digits_model)
    clean = accuracy(plain_model, x, y)
    assert clean > 0.8
    no_bpda = torchattacks.PGD(plain_model, eps=0.3, alpha=0.05, steps=10, random_start=False)(x, y)
    with_bpda = torchattacks.PGD(defended, eps=0.3, alpha=0.05, steps=10, random_start=False)(x, y)
    assert torch.equal(no_bpda, x)  # zero gradients: the plain attack does not move at all
    assert accuracy(plain_model, with_bpda, y) < clean - 0.3


@settings(max_examples=12, deadline=None)
@given(batch=st.integers(1, 3), size=st.integers(3, 6), eps=st.floats(0.01, 0.5), levels=st.integers(2, 16),
       steps=st.integers(1, 4), seed=st.integers(0, 9999), l2=st.booleans())
def test_attacks_through_bpda_stay_in_box_and_ball(batch, size, eps, levels, steps, seed, l2):
    torch.manual_seed(seed)
    defended = BPDA(lambda t: torch.round(t * (levels - 1)) / (levels - 1), TinyNet().eval())
    x = torch.rand(batch, 1, size, size)
    y = torch.randint(0, 3, (batch,))
    if l2:
        adv = torchattacks.PGDL2(defended, eps=eps, alpha=eps / 2, steps=steps)(x, y)
        assert bool(((adv - x).flatten(1).norm(dim=1) <= eps + 1e-5).all())
    else:
        adv = CWInf(defended, eps=eps, alpha=eps / 2, steps=steps)(x, y)
        assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1 and not adv.requires_grad


class _Composed(nn.Module):
    def __init__(self, transform, model):
        super().__init__()
        self.transform, self.model = transform, model

    def forward(self, x):
        return self.model(self.transform(x))


def test_inside_multiattack_and_modes(digits_model, digits_split):
    x, y = digits_split["x_test"][:30], digits_split["y_test"][:30]
    defended = BPDA(_binarize, digits_model)
    atk = torchattacks.MultiAttack([CWInf(defended, eps=0.3, steps=5),
                                    torchattacks.PGD(defended, eps=0.3, alpha=0.05, steps=5)])
    adv = atk(x, y)
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= 0.3 + 1e-6
    assert accuracy(defended, adv, y) < accuracy(defended, x, y)
    x4, y4 = torch.rand(4, 1, 8, 8), torch.randint(0, 3, (4,))
    assert_modes_preserved(lambda m: InfoPGD(BPDA(_binarize, m), steps=2), TinyNet(), x4, y4)


def test_wrapper_starts_in_the_models_mode_so_plain_torchattacks_leaves_an_eval_model_in_eval():
    model = TinyNet().eval()
    defended = BPDA(_binarize, model)
    assert not defended.training
    torchattacks.PGD(defended, steps=1)(torch.rand(4, 1, 8, 8), torch.randint(0, 3, (4,)))
    assert not any(m.training for m in model.modules())
    assert BPDA(_binarize, TinyNet().train()).training


def test_module_transform_is_registered_and_follows_the_model():
    transform = nn.Upsample(scale_factor=1)
    wrapped = BPDA(transform, TinyNet())
    assert wrapped.transform is transform and "transform" in dict(wrapped.named_modules())
    wrapped.eval()
    assert not transform.training


def test_bad_arguments():
    model = TinyNet()
    with pytest.raises(TypeError, match="transform must be callable"):
        BPDA(3, model)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        BPDA(_binarize, lambda t: t)
    with pytest.raises(TypeError, match="backward must be callable"):
        BPDA(_binarize, model, backward="identity")
    with pytest.raises(ValueError, match="keep the shape"):
        BPDA(lambda t: t[:, :, :4, :4], model)(torch.rand(1, 1, 6, 6))
    with pytest.raises(ValueError, match="shape of transform"):
        x = torch.rand(1, 1, 6, 6, requires_grad=True)
        out = BPDA(lambda t: t[:, :, :4, :4], model, backward=lambda t: t)(x)
        torch.autograd.grad(out.sum(), x)
    with pytest.raises(TypeError, match="transform must return a torch.Tensor"):
        bpda(torch.rand(2), lambda t: t.numpy())


@pytest.mark.cuda
def test_runs_on_cuda():
    model = TinyNet().cuda().eval()
    x, y = torch.rand(4, 1, 8, 8).cuda(), torch.randint(0, 3, (4,), device="cuda")
    adv = CWInf(BPDA(torch.round, model), eps=0.1, steps=3)(x, y)
    assert adv.is_cuda and adv.dtype == torch.float32 and not adv.requires_grad
    assert adv.min() >= 0 and adv.max() <= 1 and bool((adv - x).abs().max() <= 0.1 + 1e-6)
