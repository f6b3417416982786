"""MINE (Belghazi et al., ICML 2018, arXiv:1801.04062): post-hoc estimates of I(x; z) per layer.

InfoAT (Xu et al. 2022, arXiv:2206.12292) estimates I(x; z) between the input and the features z of
layers #1-#4 with MINE: a statistics network T(x, z) trained to maximise the batch-level
Donsker-Varadhan bound ``E_P[T] - log E_Q[e^T]`` (MINE Eq. 10), with the moving-average correction
of the biased mini-batch gradient (MINE Sec. 3.2). :func:`estimate_layer_mi` estimates it after the
fact on any model through :class:`~mireg.estimators.FeatureTap`; InfoAT's ablation itself (Eq. 19,
MINE trained alongside the classifier) is the loss :class:`mireg.losses.InfoATMINE`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from mireg._validation import check_number, check_tensor
from mireg.estimators.tap import FeatureTap
from mireg.functional.mi import dv_bound, mine_surrogate
from mireg.utils.modes import preserved_modes
from mireg.utils.seeding import seeded

__all__ = ["MINE", "MINEResult", "estimate_layer_mi", "fit_mine"]


def _pool_flat(t: torch.Tensor, pool: int | None) -> torch.Tensor:
    if t.dim() == 4 and pool is not None:
        t = F.adaptive_avg_pool2d(t, pool)
    return t.flatten(1)


class MINE(nn.Module):
    r"""MINE statistics network ``T(x, z)`` on a pair of (per-sample) tensors.

    ``x`` and ``z`` are flattened (4-D maps are first adaptive-average-pooled to ``pool x pool``,
    which keeps T small for high-resolution layers), concatenated and passed through an MLP
    ``[dx + dz] -> hidden -> hidden -> 1`` with ELU activations.

    Negatives (samples of the product of marginals) pair each ``x_i`` with ``z_{i+s}`` for a random
    cyclic shift ``s`` in [1, N-1], so no sample is paired with itself.

    Args:
        x_shape: the per-sample shape of x, e.g. ``(3, 32, 32)``.
        z_shape: the per-sample shape of z, e.g. ``(64, 32, 32)``.
        hidden: MLP width.
        pool: spatial size 4-D inputs are pooled to (``None``: no pooling).
        ma_rate: moving-average rate of the gradient correction.

    Shapes: ``forward(x (N, *x_shape), z (N, *z_shape)) -> scalar DV bound`` (nats), N >= 2.

    Examples:
        >>> import torch
        >>> from mireg.estimators import MINE
        >>> mine = MINE((3, 8, 8), (4, 8, 8), hidden=16)
        >>> x, z = torch.rand(8, 3, 8, 8), torch.rand(8, 4, 8, 8)
        >>> loss = mine.loss(x, z); loss.backward()     # one training step (minimise)
        >>> mine(x, z).shape                             # the DV estimate of I(x; z)
        torch.Size([])
    """

    def __init__(self, x_shape: tuple[int, ...], z_shape: tuple[int, ...], hidden: int = 256, *,
                 pool: int | None = 4, ma_rate: float = 0.01) -> None:
        super().__init__()
        for name, shape in (("x_shape", x_shape), ("z_shape", z_shape)):
            if not isinstance(shape, (tuple, list)) or not shape or not all(
                    isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
                raise ValueError(f"{name} must be a non-empty tuple of positive ints (per-sample shape), got {shape!r}")
        check_number("hidden", hidden, low=1, integer=True)
        if pool is not None:
            check_number("pool", pool, low=1, integer=True)
        check_number("ma_rate", ma_rate, low=0.0, high=1.0, low_open=True)
        self.x_shape, self.z_shape = tuple(x_shape), tuple(z_shape)
        self.pool, self.ma_rate = pool, ma_rate
        dx = _pool_flat(torch.zeros(1, *x_shape), pool).shape[1]
        dz = _pool_flat(torch.zeros(1, *z_shape), pool).shape[1]
        self.net = nn.Sequential(nn.Linear(dx + dz, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(),
                                 nn.Linear(hidden, 1))
        self.register_buffer("log_ma", torch.tensor(float("nan")))
        self.last_bound: torch.Tensor | None = None

    def _check(self, x: torch.Tensor, z: torch.Tensor) -> None:
        check_tensor("x", x, min_ndim=2)
        check_tensor("z", z, min_ndim=2)
        if tuple(x.shape[1:]) != self.x_shape or tuple(z.shape[1:]) != self.z_shape:
            raise ValueError(f"x and z must have per-sample shapes {self.x_shape} and {self.z_shape}, "
                             f"got {tuple(x.shape)} and {tuple(z.shape)}")
        if x.shape[0] != z.shape[0] or x.shape[0] < 2:
            raise ValueError(f"x and z need the same batch size N >= 2 (negatives come from the batch), "
                             f"got {x.shape[0]} and {z.shape[0]}")

    def critic(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(T on joint pairs (N,), T on shuffled pairs (N,))``."""
        self._check(x, z)
        fx, fz = _pool_flat(x, self.pool), _pool_flat(z, self.pool)
        shift = int(torch.randint(1, x.shape[0], ())) if x.shape[0] > 2 else 1
        joint = self.net(torch.cat([fx, fz], dim=1)).squeeze(1)
        marginal = self.net(torch.cat([fx, fz.roll(shift, dims=0)], dim=1)).squeeze(1)
        return joint, marginal

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return dv_bound(*self.critic(x, z))

    def loss(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The bias-corrected training loss (``-surrogate``, to minimise); updates the running mean
        and sets ``last_bound`` to the (detached) DV bound of this batch."""
        joint, marginal = self.critic(x, z)
        log_ma = None if torch.isnan(self.log_ma) else self.log_ma
        surrogate, new_log_ma = mine_surrogate(joint, marginal, log_ma, self.ma_rate)
        self.log_ma.copy_(new_log_ma)
        self.last_bound = dv_bound(joint.detach(), marginal.detach())
        return -surrogate


@dataclass
class MINEResult:
    """What :func:`fit_mine` returns.

    Attributes:
        mine: the trained network.
        mi: the DV estimate (nats) on the evaluation data.
        history: the training-batch DV bound per epoch (mean).

    Examples:
        >>> import torch
        >>> from mireg.estimators import fit_mine
        >>> x = torch.randn(64, 2)
        >>> result = fit_mine(x, x, epochs=2, batch_size=32, hidden=8, progress=False)
        >>> type(result).__name__, len(result.history)
        ('MINEResult', 2)
    """

    mine: MINE
    mi: float
    history: list[float] = field(default_factory=list)


def fit_mine(x: torch.Tensor, z: torch.Tensor, *, epochs: int = 50, batch_size: int = 256, lr: float = 1e-4,
             hidden: int = 256, pool: int | None = 4, ma_rate: float = 0.01, x_eval: torch.Tensor | None = None,
             z_eval: torch.Tensor | None = None, progress: bool = True, seed: int = 0) -> MINEResult:
    """Train MINE on paired samples ``(x_i, z_i)`` and estimate I(x; z) (MINE Algorithm 1).

    The estimate is the DV bound on ``(x_eval, z_eval)`` (default: the training pairs), averaged over
    mini-batches of ``batch_size`` (the bound is a batch statistic).

    Args:
        x: (N, ...) samples of x.
        z: (N, ...) the paired samples of z.
        epochs: passes over the pairs.
        batch_size: pairs per step (the other pairs are the negatives).
        lr: Adam's learning rate.
        hidden: MINE's width.
        pool: the size 4-D inputs are pooled to (None: no pooling).
        ma_rate: the moving-average rate of the gradient correction.
        x_eval: evaluation samples of x (default: ``x``).
        z_eval: the paired evaluation samples of z (default: ``z``).
        progress: show a tqdm bar.
        seed: seeds initialisation and shuffling (the global RNG is restored).

    Returns:
        A :class:`MINEResult` (``.mi`` in nats).

    Examples:
        >>> import torch
        >>> from mireg.estimators import fit_mine
        >>> x = torch.randn(256, 2)
        >>> result = fit_mine(x, torch.tanh(x), epochs=3, batch_size=64, hidden=16, progress=False)
        >>> isinstance(result.mi, float)  # nats
        True
    """
    check_tensor("x", x, min_ndim=2)
    check_tensor("z", z, min_ndim=2)
    if x.shape[0] != z.shape[0] or x.shape[0] < 2:
        raise ValueError(f"x and z must be paired (same N >= 2), got {tuple(x.shape)} and {tuple(z.shape)}")
    check_number("epochs", epochs, low=1, integer=True)
    check_number("batch_size", batch_size, low=2, integer=True)
    check_number("lr", lr, low=0.0, low_open=True)
    with seeded(seed, x.device):
        mine = MINE(tuple(x.shape[1:]), tuple(z.shape[1:]), hidden, pool=pool, ma_rate=ma_rate).to(x.device)
        optimizer = torch.optim.Adam(mine.parameters(), lr=lr)
        history = []
        for _ in tqdm(range(epochs), desc="MINE", disable=not progress):
            bounds = []
            for idx in torch.randperm(x.shape[0], device=x.device).split(batch_size):
                if idx.numel() < 2:
                    continue
                loss = mine.loss(x[idx], z[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                bounds.append(float(mine.last_bound))
            history.append(sum(bounds) / max(len(bounds), 1))
        xe, ze = (x, z) if x_eval is None else (x_eval, z_eval)
        if ze is None:
            raise ValueError("z_eval is required with x_eval")
        with torch.no_grad():
            parts = [(float(mine(xe[i:i + batch_size], ze[i:i + batch_size])), min(batch_size, xe.shape[0] - i))
                     for i in range(0, xe.shape[0], batch_size) if xe.shape[0] - i >= 2]
    mi = sum(v * n for v, n in parts) / sum(n for _, n in parts) if parts else math.nan
    return MINEResult(mine, mi, history)


@torch.no_grad()
def _collect(model: nn.Module, x: torch.Tensor, layer: str, batch_size: int, pool: int | None) -> torch.Tensor:
    with FeatureTap(model, layer, detach=True) as tap:
        return torch.cat([_pool_flat(tap(x[i:i + batch_size])[1], pool).float()
                          for i in range(0, x.shape[0], batch_size)])


def estimate_layer_mi(model: nn.Module, x: torch.Tensor, layers: list[str], *, epochs: int = 50,
                      batch_size: int = 256, lr: float = 1e-4, hidden: int = 256, pool: int | None = 4,
                      progress: bool = True, seed: int = 0) -> dict[str, float]:
    """The MINE estimate of I(x; z_l) for each named layer ``l`` of a trained ``model`` (post hoc; the
    training ablation of InfoAT Eq. 19 is :class:`mireg.losses.InfoATMINE`).

    ``model`` is put in eval mode (and restored); features are read with :class:`FeatureTap` and
    pooled to ``pool x pool`` before MINE (as is ``x``).

    Args:
        model: the trained classifier.
        x: (N, C, H, W) images in [0, 1].
        layers: dotted layer names (as in ``model.named_modules()``).
        epochs: MINE's passes over the data.
        batch_size: pairs per step.
        lr: Adam's learning rate.
        hidden: MINE's width.
        pool: the size inputs and features are pooled to.
        progress: show tqdm bars.
        seed: seeds MINE (the global RNG is restored).

    Returns:
        Layer name -> the DV estimate (nats).

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from mireg.estimators import estimate_layer_mi
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
        >>> mi = estimate_layer_mi(model, torch.rand(64, 3, 8, 8), ["0", "1"], epochs=1, hidden=8, progress=False)
        >>> sorted(mi)
        ['0', '1']
    """
    check_tensor("x", x, ndim=4)
    if isinstance(layers, str) or not layers:
        raise ValueError(f"layers must be a non-empty list of submodule names, got {layers!r}")
    with preserved_modes(model, training=False):
        xf = _pool_flat(x, pool)
        out = {}
        for layer in layers:
            z = _collect(model, x, layer, batch_size, pool)
            out[layer] = fit_mine(xf, z, epochs=epochs, batch_size=batch_size, lr=lr, hidden=hidden, pool=None,
                                  progress=progress, seed=seed).mi
        return out
