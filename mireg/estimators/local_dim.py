"""The local-DIM mutual-information estimator used by NAMID (Zhou et al., ICML 2022, Sec. 3.2).

Architecture of Zhu et al. 2020 / Hjelm et al. 2019 (as in dwDavidxd/MIAT ``models/estimator.py``
and ``models/discriminators.py``): a local conv net maps an image-like input to ``K`` patch features
of dimension ``width``, a global net maps a feature vector (the classifier's logits by default) to
one embedding of dimension ``width``, and a dot-product critic scores every (global, patch) pair.
"""

from __future__ import annotations

import torch
from torch import nn

from mireg._validation import check_choice, check_number, check_tensor
from mireg.functional.mi import dv_local_scores

__all__ = ["LocalDIMEstimator"]


class _Residual1x1(nn.Module):
    """``LayerNorm(shortcut(h) + conv1x1(relu(bn(conv1x1(h)))))`` over channels of a (B, C, H, W) map.

    The shortcut is initialised near the identity (uniform +-0.01, first diagonal entries 1), as in
    the DIM code, so the head starts as a (padded) copy of its input.
    """

    def __init__(self, in_dim: int, width: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(in_dim, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 1),
        )
        self.shortcut = nn.Conv2d(in_dim, width, 1, bias=False)
        with torch.no_grad():
            weight = torch.empty(width, in_dim).uniform_(-0.01, 0.01)
            idx = torch.arange(min(in_dim, width))
            weight[idx, idx] = 1.0
            self.shortcut.weight.copy_(weight[:, :, None, None])
        self.norm = nn.LayerNorm(width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.branch(h) + self.shortcut(h)
        return self.norm(out.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LocalDIMEstimator(nn.Module):
    r"""Local-DIM MI estimator: one Donsker-Varadhan MI score per sample (NAMID Sec. 3.2).

    - local net on an image-like input (B, C, H, W), e.g. the clean image ``x`` (NAMID's natural
      estimator E_n) or the noise ``x_adv - x`` (the adversarial estimator E_a): conv 4x4/2 -> 64,
      BN, ReLU, conv 4x4/2 -> 128, BN, ReLU, then a 1x1 residual head to ``width`` channels with
      LayerNorm: ``K = ceil(H/4) * ceil(W/4)`` patches (64 for 32x32, 49 for 28x28, 256 for 64x64);
    - global net on a feature vector (B, global_dim): the classifier's logits (global_dim = number
      of classes) or any feature (e.g. from :class:`mireg.estimators.FeatureTap`; a (B, C, H, W) map
      is global-average-pooled to (B, C) first), through the same 1x1 residual head;
    - dot-product critic and the per-sample DV score of :func:`mireg.functional.dv_local_scores`,
      with the other samples of the batch as negatives.

    Args:
        global_dim: dimension of the global input (number of classes for logits).
        in_channels: channels of the local input (1 or 3 typically).
        width: feature dimension D of the critic (the paper's 2048; use e.g. 64 for quick tests).
        diagonal: how the DV score treats the positive pair in the negatives (see
            :func:`mireg.functional.dv_local_scores`): ``"exclude"`` (default) or the released
            code's ``"zero"`` quirk.

    Shapes:
        ``forward(local_input (B, C, H, W), global_input (B, global_dim)) -> (B,)`` (higher = more MI).
        With B = 1 there are no negatives and the score is 0 (see ``dv_local_scores``). The BatchNorm
        layers need B >= 2 in train mode (as any BatchNorm).

    Examples:
        >>> import torch
        >>> from mireg.estimators import LocalDIMEstimator
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> x = torch.rand(4, 3, 8, 8)
        >>> x_adv = (x + 0.03 * torch.randn_like(x).sign()).clamp(0, 1)
        >>> e_n = LocalDIMEstimator(global_dim=10, in_channels=3, width=64)
        >>> e_n(x, model(x)).shape             # natural MI of natural samples, E_n(h(x))
        torch.Size([4])
        >>> e_a = LocalDIMEstimator(global_dim=10, in_channels=3, width=64)
        >>> scores = e_a(x_adv - x, model(x_adv))  # adversarial MI of adversarial samples
    """

    def __init__(self, global_dim: int, in_channels: int = 3, width: int = 2048, *,
                 diagonal: str = "exclude") -> None:
        super().__init__()
        check_number("global_dim", global_dim, low=1, integer=True)
        check_number("in_channels", in_channels, low=1, integer=True)
        check_number("width", width, low=1, integer=True)
        check_choice("diagonal", diagonal, ("exclude", "zero"))
        self.global_dim = global_dim
        self.in_channels = in_channels
        self.width = width
        self.diagonal = diagonal
        self.local_net = nn.Sequential(
            nn.Conv2d(in_channels, 64, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 128, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            _Residual1x1(128, width),
        )
        self.global_net = _Residual1x1(global_dim, width)

    @property
    def config(self) -> dict[str, object]:
        """Constructor arguments (plain types) to rebuild this estimator, e.g. after loading."""
        return {"global_dim": self.global_dim, "in_channels": self.in_channels, "width": self.width,
                "diagonal": self.diagonal}

    def local_features(self, local_input: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) image-like input -> (B, width, K) patch features."""
        check_tensor("local_input", local_input, ndim=4)
        if local_input.shape[1] != self.in_channels:
            raise ValueError(f"local_input must have {self.in_channels} channels (in_channels), "
                             f"got shape {tuple(local_input.shape)}")
        if min(local_input.shape[2:]) < 4:
            raise ValueError(f"local_input must be at least 4x4 pixels, got shape {tuple(local_input.shape)}")
        return self.local_net(local_input).flatten(2)

    def global_features(self, global_input: torch.Tensor) -> torch.Tensor:
        """(B, global_dim) features (or a (B, global_dim, H, W) map, average-pooled) -> (B, width)."""
        check_tensor("global_input", global_input, min_ndim=2)
        if global_input.dim() > 2:
            global_input = global_input.flatten(2).mean(dim=2)
        if global_input.shape[1] != self.global_dim:
            raise ValueError(f"global_input must have {self.global_dim} features (global_dim), "
                             f"got shape {tuple(global_input.shape)}")
        return self.global_net(global_input[:, :, None, None]).flatten(1)

    def score(self, local: torch.Tensor, global_: torch.Tensor) -> torch.Tensor:
        """Per-sample DV scores (B,) from precomputed ``local_features`` (B, width, K) and
        ``global_features`` (B, width); a stacked (S, B, width) global gives (S, B) in one pass."""
        return dv_local_scores(local, global_, diagonal=self.diagonal)

    def forward(self, local_input: torch.Tensor, global_input: torch.Tensor) -> torch.Tensor:
        if not isinstance(global_input, torch.Tensor) or not isinstance(local_input, torch.Tensor):
            raise TypeError("local_input and global_input must be torch.Tensors")
        if local_input.shape[:1] != global_input.shape[:1]:
            raise ValueError(f"local_input and global_input must have the same batch size, got "
                             f"{tuple(local_input.shape)} and {tuple(global_input.shape)}")
        return self.score(self.local_features(local_input), self.global_features(global_input))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())
