"""TI-DIM: translation-invariant, diverse-input momentum iterative FGSM, as NAMID's evaluation runs it.

Dong, Pang, Su & Zhu, "Evading Defenses to Transferable Adversarial Examples by Translation-Invariant
Attacks", CVPR 2019, https://arxiv.org/abs/1904.02884 (TI: the gradient convolved with a kernel), on
Xie et al., "Improving Transferability of Adversarial Examples with Input Diversity", CVPR 2019,
https://arxiv.org/abs/1803.06978 (DI) and Dong et al., "Boosting Adversarial Attacks with Momentum",
CVPR 2018 (MI-FGSM). NAMID (Zhou et al., ICML 2022) evaluates with dwDavidxd/MIAT
``test_comparison.py``: ``TIDIM_Attack(eps=8/255, steps=40, step_size=0.007, momentum=0.1, prob=0.5,
low=32, high=32)`` from ``utils_attack/ti_dim_gpu.py``, whose diversity resizes 32x32 images to 32x32 (a
no-op on CIFAR-10). The defaults below are those; re-derived, not copied.

torchattacks' ``TIFGSM`` differs in three ways: its kernel convolution hard-codes 3 channels, its
``resize_rate=1.0`` raises (an empty random range), and it projects the stored iterate onto [0, 1]
and takes the gradient at the clipped image, where MIAT keeps the perturbation in the L-inf ball only
and differentiates through the clip (see :class:`TIDIM`).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from mireg._validation import check_choice, check_eps, check_labels, check_number
from mireg.attacks.base import Attack
from mireg.registry import ATTACKS

__all__ = ["TIDIM", "ti_kernel"]


def ti_kernel(name: str = "gaussian", length: int = 15, nsig: float = 3.0) -> torch.Tensor:
    """The (length, length) smoothing kernel of TI (Dong et al. 2019, Sec. 3.2), summing to 1, float64.

    ``gaussian``: the outer product of the standard normal density at ``length`` points evenly spaced in
    [-nsig, nsig]; ``uniform``: constant; ``linear``: the outer product of ``1 - |t| / (length + 1) * 2``.
    """
    check_choice("kernel_name", name, ("gaussian", "uniform", "linear"))
    if name == "gaussian":
        t = torch.linspace(-nsig, nsig, length, dtype=torch.float64)
        one = torch.exp(-t ** 2 / 2) / math.sqrt(2 * math.pi)
    elif name == "uniform":
        one = torch.ones(length, dtype=torch.float64)
    else:
        t = torch.linspace((1 - length) / 2, (length - 1) / 2, length, dtype=torch.float64)
        one = 1 - (t / (length + 1) * 2).abs()
    kernel = torch.outer(one, one)
    return kernel / kernel.sum()


class TIDIM(Attack):
    r"""TI-DIM (Dong et al. 2019 + Xie et al. 2019) with MIAT's update, for any number of channels.

    The iterate is the perturbation :math:`\delta_t` in the L-inf ball (:math:`\delta_0 = 0`, or uniform
    in the ball with ``random_start``); the model sees :math:`x_t = \mathrm{clip}_{[0,1]}(x + \delta_t)`:

    .. math::
        g = \nabla_\delta \mathrm{CE}(f(D(x_t)), y), \quad \hat g = \frac{W * g}{\mathrm{mean}|W * g|}, \quad
        m_{t+1} = \mu\, m_t + \hat g, \quad \delta_{t+1} = \mathrm{clip}_{[-\epsilon, \epsilon]}(\delta_t +
        \alpha\, \mathrm{sign}(m_{t+1})),

    with :math:`W` the TI kernel (:func:`ti_kernel`, zero "same" padding, one copy per channel), the mean
    over each sample's (C, H, W), the gradient through the clip (zero where it is active, as MIAT's
    in-place clamp gives) and :math:`D` the input diversity: with probability ``diversity_prob`` the
    image is resized to a random side in ``[round(resize_rate * H), H]`` and zero-padded back to H x W at
    a random offset; ``resize_rate=1.0`` turns it off (MIAT's CIFAR-10 setting). The last iterate is
    returned, :math:`\mathrm{clip}_{[0,1]}(x + \delta_T)`. Targeted mode descends the target's CE.

    Args:
        model: classifier mapping [0, 1] images to logits (N, K).
        eps: L-inf radius (> 0). Default 8/255.
        alpha: step size (> 0). Default 0.007 (MIAT).
        steps: iterations (int >= 1). Default 40 (MIAT).
        decay: momentum factor mu (>= 0). Default 0.1 (MIAT).
        kernel_name: ``"gaussian"``, ``"uniform"`` or ``"linear"``. Default ``"gaussian"``.
        len_kernel: odd kernel side (int >= 1). Default 15.
        nsig: Gaussian range in standard deviations (> 0). Default 3.
        resize_rate: smallest resized side over the image side, in (0, 1]. Default 1.0 (no diversity).
        diversity_prob: probability of the diversity transform per step, in [0, 1]. Default 0.5.
        random_start: start uniformly in the ball. Default False (MIAT).

    Shapes: images (N, C, H, W) in [0, 1], labels (N,) long -> adversarial images (N, C, H, W).

    Examples:
        >>> import torch, mireg
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([3, 7])
        >>> atk = mireg.attacks.TIDIM(model, steps=3)  # NAMID's TI-DIM as MIAT runs it, 3 of its 40 steps
        >>> adv_images = atk(images, labels)
        >>> bool((adv_images - images).abs().max() <= 8 / 255 + 1e-6)
        True
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, alpha: float = 0.007, steps: int = 40,
                 decay: float = 0.1, kernel_name: str = "gaussian", len_kernel: int = 15, nsig: float = 3.0,
                 resize_rate: float = 1.0, diversity_prob: float = 0.5, random_start: bool = False) -> None:
        super().__init__("TIDIM", model)
        self.eps = check_eps("eps", eps)
        self.alpha = float(check_number("alpha", alpha, low=0.0, low_open=True))
        self.steps = int(check_number("steps", steps, low=1, integer=True))
        self.decay = float(check_number("decay", decay, low=0.0))
        self.len_kernel = int(check_number("len_kernel", len_kernel, low=1, integer=True))
        if self.len_kernel % 2 != 1:
            raise ValueError(f"len_kernel must be odd (a centred kernel), got {len_kernel}")
        self.nsig = float(check_number("nsig", nsig, low=0.0, low_open=True))
        self.kernel_name = check_choice("kernel_name", kernel_name, ("gaussian", "uniform", "linear"))
        self.resize_rate = float(check_number("resize_rate", resize_rate, low=0.0, high=1.0, low_open=True))
        self.diversity_prob = float(check_number("diversity_prob", diversity_prob, low=0.0, high=1.0))
        if not isinstance(random_start, bool):
            raise TypeError(f"random_start must be a bool, got {type(random_start).__name__}")
        self.random_start = random_start
        self.supported_mode = ["default", "targeted"]

    def input_diversity(self, x: torch.Tensor) -> torch.Tensor:
        """Xie et al.'s transform (random resize, random zero padding back to H x W), or ``x`` itself."""
        h, w = x.shape[-2:]
        low = round(self.resize_rate * h)
        if low >= h or float(torch.rand(())) >= self.diversity_prob:  # CPU random numbers: no device sync
            return x
        side = int(torch.randint(low, h + 1, ()))
        width = max(1, round(side * w / h))
        top, left = int(torch.randint(0, h - side + 1, ())), int(torch.randint(0, w - width + 1, ()))
        resized = F.interpolate(x, size=(side, width), mode="bilinear", align_corners=False)
        return F.pad(resized, (left, w - width - left, top, h - side - top))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        r"""Overridden: returns :math:`\mathrm{clip}_{[0,1]}(x + \delta_T)` (N, C, H, W)."""
        images, labels, sign = self._prepared(images, labels, image_batch=True)
        n, c = images.shape[:2]
        kernel = ti_kernel(self.kernel_name, self.len_kernel, self.nsig).to(self.device, torch.float32)
        weight = kernel.expand(c, 1, -1, -1)
        loss_fn = nn.CrossEntropyLoss()

        delta = torch.zeros_like(images)
        if self.random_start:
            delta = torch.empty_like(images).uniform_(-self.eps, self.eps)
        momentum = torch.zeros_like(images)
        for t in range(self.steps):
            raw = images + delta
            adv = raw.clamp(0, 1).requires_grad_(True)
            logits = self.get_logits(self.input_diversity(adv))
            if t == 0:  # once per call: the labels must index the model's classes
                check_labels("labels", labels, batch=n, num_classes=logits.shape[1])
            # the gradient through the clip, 1 on the closed interval [0, 1] as in MIAT's PyTorch 1.x
            # (recent torch's clamp gives 0 at the bounds, where black and white pixels sit)
            grad = torch.autograd.grad(sign * loss_fn(logits, labels), adv)[0] * ((raw >= 0) & (raw <= 1))
            grad = F.conv2d(grad, weight, padding=self.len_kernel // 2, groups=c)
            grad = grad / grad.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
            momentum = self.decay * momentum + grad
            delta = (delta + self.alpha * momentum.sign()).clamp(-self.eps, self.eps)
        return (images + delta).clamp(0, 1).detach()


ATTACKS.add("ti-dim", TIDIM)
