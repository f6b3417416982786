"""BPDA: Backward Pass Differentiable Approximation for non-differentiable input transforms.

Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security: Circumventing
Defenses to Adversarial Examples", ICML 2018, https://arxiv.org/abs/1802.00420, Sec. 4.1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["BPDA", "bpda"]

Transform = Callable[[torch.Tensor], torch.Tensor]


class _BPDAFunction(torch.autograd.Function):
    """Forward: ``g(x)``. Backward: ``v -> v`` (straight-through) or ``v -> J_h(x)^T v``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, transform: Transform, backward: Transform | None) -> torch.Tensor:
        with torch.no_grad():
            out = transform(x)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"transform must return a torch.Tensor, got {type(out).__name__}")
        if backward is None and out.shape != x.shape:
            raise ValueError(
                "the straight-through (identity) backward needs transform to keep the shape: "
                f"got {tuple(x.shape)} -> {tuple(out.shape)}; pass backward=h with h(x) ~ transform(x)"
            )
        ctx.backward_fn = backward
        if backward is not None:
            ctx.save_for_backward(x)
        return out.clone() if out is x else out

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        if ctx.backward_fn is None:
            return grad_output, None, None
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            x_ = x.detach().requires_grad_(True)
            approx = ctx.backward_fn(x_)
            if approx.shape != grad_output.shape:
                raise ValueError(
                    f"backward(x) must have the shape of transform(x), got {tuple(approx.shape)} "
                    f"and {tuple(grad_output.shape)}"
                )
            (grad,) = torch.autograd.grad(approx, x_, grad_output)
        return grad, None, None


def bpda(x: torch.Tensor, transform: Transform, backward: Transform | None = None) -> torch.Tensor:
    r"""Apply ``transform`` to ``x`` with a BPDA gradient (Athalye et al. 2018, Sec. 4.1).

    Forward: ``transform(x)`` (any function, e.g. JPEG, quantisation, median filter). Backward: with
    ``backward=None`` the straight-through estimate :math:`\nabla_x g(x) \approx I`
    (valid when :math:`g(x) \approx x`); otherwise ``backward`` is a differentiable :math:`h` with
    :math:`h(x) \approx g(x)` and the gradient is the vector-Jacobian product of :math:`h` at ``x``.

    Args:
        x: any (B, ...) tensor.
        transform: the forward function ``g`` (any callable).
        backward: ``None`` (straight-through) or a differentiable ``h`` with ``h(x) ≈ g(x)``.

    Returns:
        ``transform(x)``, whose gradient is that of ``h`` (the identity by default).

    Examples:
        >>> import torch
        >>> from mireg.attacks import bpda
        >>> x = torch.tensor([0.1, 0.5], requires_grad=True)
        >>> y = bpda(x, lambda t: torch.round(t * 2) / 2)  # round to {0, 0.5, 1}: zero gradient
        >>> y.sum().backward()
        >>> y.detach(), x.grad  # straight-through: gradient I
        (tensor([0.0000, 0.5000]), tensor([1., 1.]))
    """
    if not callable(transform):
        raise TypeError(f"transform must be callable, got {type(transform).__name__}")
    if backward is not None and not callable(backward):
        raise TypeError(f"backward must be callable or None, got {type(backward).__name__}")
    return _BPDAFunction.apply(x, transform, backward)


class BPDA(nn.Module):
    r"""``model(transform(x))`` with a BPDA backward pass, so any gradient attack can run through it.

    Athalye et al. (ICML 2018), Sec. 4.1: a defense :math:`f(g(x))` whose pre-processing :math:`g`
    is non-differentiable (or has useless gradients) is attacked by computing the forward pass with
    :math:`g` and the backward pass with a differentiable approximation :math:`h \approx g`:
    :math:`\nabla_x f(g(x)) \approx \nabla f(g(x)) \cdot \nabla h(x)`. With ``backward=None``,
    :math:`h` is the identity (straight-through).

    Args:
        transform: the (possibly non-differentiable) input transform ``g``, a callable (B, ...) -> (B, ...);
            an ``nn.Module`` is registered as a submodule (device moves, train/eval flags).
        model: the classifier ``f`` applied after the transform, mapping to logits (N, K); the wrapper
            starts in its train/eval mode.
        backward: ``None`` (identity, needs ``g`` to keep the shape) or a differentiable ``h``.

    Shapes: x (N, C, H, W) in [0, 1] -> logits (N, K).

    Examples:
        >>> import torch, torchattacks, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([3, 7])
        >>> quantize = lambda x: torch.round(x * 7) / 7  # zero gradient almost everywhere
        >>> defended = mireg.BPDA(quantize, model)        # straight-through backward
        >>> adv = torchattacks.PGD(defended, eps=8/255, steps=3)(images, labels)
        >>> adv.shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(self, transform: Transform, model: nn.Module, backward: Transform | None = None) -> None:
        super().__init__()
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if backward is not None and not callable(backward):
            raise TypeError(f"backward must be callable or None, got {type(backward).__name__}")
        # The wrapper starts in the model's mode (a fresh nn.Module is in train mode): torchattacks calls
        # model.train() after attacking a "training" model, which would switch an eval classifier to train.
        # Set before any submodule is attached, so only the wrapper's own flag changes.
        super().train(model.training)
        self.transform = transform
        self.model = model
        self.backward_fn = backward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(bpda(x, self.transform, self.backward_fn))
