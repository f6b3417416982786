"""InfoAT Fig. 1(a) (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292): the mutual information I(x; z_l)
between the input and the features of layer #l, estimated by MINE, for robust and for non-robust
examples -- the observation InfoAT is built on ("an example with high mutual information of the
input and its associated latent representation is more likely to be attacked", the abstract).

Our choices where the figure's protocol is not given in what this project has of the paper:

- examples are the clean-correct ones; "robust" = still correct under L-inf PGD-10 at 8/255 (step
  eps/4, uniform start; the paper's analyses use PGD-10), "non-robust" = broken by it;
- MI is a property of a distribution, so each group gets its own MINE (:func:`~mireg.estimators.fit_mine`
  through :func:`~mireg.estimators.estimate_layer_mi`, the same budget and seed); both groups are
  subsampled to the same size, since the DV estimate depends on the sample size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mireg._optional import require
from mireg._validation import check_images, check_labels, check_number
from mireg.estimators.mine import estimate_layer_mi
from mireg.evaluation.analysis import _pgd
from mireg.utils.atomic import save_figure
from mireg.utils.device import model_device
from mireg.utils.modes import preserved_modes
from mireg.utils.seeding import seeded

__all__ = ["plot_robust_vs_nonrobust_mi", "robust_vs_nonrobust_mi"]


def _split_by_robustness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
                         batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean masks (robust, non_robust) over the samples, model in eval mode."""
    device = model_device(model)
    robust, broken = [], []
    with seeded(seed, device):
        attack = _pgd(model, "Linf", eps, steps)
        for idx in torch.arange(len(y)).split(batch_size):
            xb, yb = x[idx].to(device), y[idx].to(device)
            x_adv = attack(xb, yb)
            with torch.no_grad():
                clean_ok, adv_ok = model(xb).argmax(1) == yb, model(x_adv).argmax(1) == yb
            robust.append((clean_ok & adv_ok).cpu())
            broken.append((clean_ok & ~adv_ok).cpu())
    return torch.cat(robust), torch.cat(broken)


def robust_vs_nonrobust_mi(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers: Sequence[str], *,
                           eps: float = 8 / 255, steps: int = 10, epochs: int = 50, batch_size: int = 256,
                           lr: float = 1e-4, hidden: int = 256, pool: int | None = 4, seed: int = 0,
                           progress: bool = True) -> dict[str, Any]:
    """InfoAT Fig. 1(a): MINE estimates of I(x; z_l) of robust and non-robust examples, per layer.

    Returns ``{"robust": {layer: nats}, "non_robust": {layer: nats}, "n_robust", "n_non_robust",
    "n_used"}``. The model is put in eval mode and restored.

    Examples:
        >>> out = robust_vs_nonrobust_mi(model, x_test[:2000], y_test[:2000],
        ...                               ["model.layer1", "model.layer2", "model.layer3", "model.layer4"])
        >>> plot_robust_vs_nonrobust_mi(out, "fig1a.png")
    """
    check_images("x", x)
    check_labels("y", y, batch=x.shape[0])
    check_number("eps", eps, low=0.0, low_open=True)
    check_number("steps", steps, low=1, integer=True)
    with preserved_modes(model, training=False):
        robust, broken = _split_by_robustness(model, x, y, eps, steps, batch_size, seed)
    n = min(int(robust.sum()), int(broken.sum()))
    if n < 2:
        raise ValueError(f"need at least 2 robust and 2 non-robust examples, got {int(robust.sum())} robust and "
                         f"{int(broken.sum())} non-robust of {len(y)}: use more samples (or a weaker/stronger model)")
    g = torch.Generator().manual_seed(seed)
    out: dict[str, Any] = {"n_robust": int(robust.sum()), "n_non_robust": int(broken.sum()), "n_used": n}
    for key, mask in (("robust", robust), ("non_robust", broken)):
        idx = mask.nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)[:n]]
        out[key] = estimate_layer_mi(model, x[idx], list(layers), epochs=epochs, batch_size=batch_size, lr=lr,
                                     hidden=hidden, pool=pool, progress=progress, seed=seed)
    return out


def plot_robust_vs_nonrobust_mi(data: dict[str, Any], path: str | None = None):
    """Bars of I(x; z_l) per layer, robust vs non-robust examples; returns the ``Figure``."""
    require("matplotlib", "plot_robust_vs_nonrobust_mi")
    from matplotlib.figure import Figure

    layers = list(data["robust"])
    fig = Figure(figsize=(max(4.0, 1.2 * len(layers) + 1.5), 3.4))
    ax = fig.subplots()
    pos = torch.arange(len(layers)).tolist()
    ax.bar([p - 0.2 for p in pos], [data["robust"][k] for k in layers], width=0.4, label="robust")
    ax.bar([p + 0.2 for p in pos], [data["non_robust"][k] for k in layers], width=0.4, label="non-robust")
    ax.set_xticks(pos, [f"#{i + 1}\n{k}" for i, k in enumerate(layers)], fontsize=8)
    ax.set_ylabel("MINE estimate of I(x; z) (nats)")
    ax.set_title(f"InfoAT Fig. 1(a): {data['n_used']} examples per group (PGD-10)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=120)
    return fig
