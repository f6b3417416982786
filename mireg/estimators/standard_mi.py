"""NAMID's proof-of-concept (Zhou et al., ICML 2022, arXiv:2207.12203, Sec. 3.1, Fig. 2, App. B) and
the offset averages of its Fig. 2 and Fig. 4.

Fig. 2 uses ONE local-DIM estimator of the standard MI, "trained on natural instances and their
outputs via the MI maximization (Hjelm et al., 2018)" (Sec. 3.1) -- all natural samples, not NAMID's
Eq. 6 selection -- and scores, for 1,000 random CIFAR-10 test samples and each attack (PGD-10,
PGD-40, FWA-10, FWA-40, AA) on a naturally trained ResNet-18 (App. B):

- ``nat_nat`` = I(x; h(x)), the standard MI of the natural sample,
- ``adv_adv`` = I(x~; h(x~)), the standard MI of the adversarial sample (local input x~),
- ``nat_adv`` = I(x; h(x~)), the MI between the natural sample and the adversarial output,

each "offset so that the worst-case of the estimated MI equals 0" and averaged over all samples
(:func:`mireg.functional.worst_case_offset_means`). The paper does not say whether the offset is per
attack; here it is one offset over every score of the figure, so the curves share one scale.
The paper gives no training budget for this estimator: :func:`train_standard_estimator` uses the
budget of :func:`~mireg.estimators.train_estimators` (Adam 1e-2, 25 epochs, batch 400).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from mireg._optional import require
from mireg._validation import check_fractions, check_images, check_labels, check_number
from mireg.estimators.local_dim import LocalDIMEstimator
from mireg.estimators.scoring import Attack, global_inputs, mi_scores, run_attack
from mireg.functional.mi_summary import worst_case_offset_means
from mireg.utils.atomic import save_figure
from mireg.utils.device import model_device
from mireg.utils.modes import preserved_modes
from mireg.utils.seeding import seeded

__all__ = ["StandardMIAnalysis", "estimator_comparison", "fig4_offset_means", "plot_estimator_comparison",
           "plot_standard_mi", "standard_mi_analysis", "train_standard_estimator"]

KEYS = ("nat_nat", "adv_adv", "nat_adv")


def train_standard_estimator(model: nn.Module, x: torch.Tensor, *, epochs: int = 25, batch_size: int = 400,
                             lr: float = 1e-2, width: int = 2048, layer: str | None = None,
                             milestones: tuple[float, ...] = (0.4, 0.8), progress: bool = True,
                             seed: int = 0) -> LocalDIMEstimator:
    """Train E(x, h(x)) by MI maximisation on ALL natural samples ``x`` (NAMID Sec. 3.1, Fig. 2).

    The classifier ``model`` is frozen (eval mode, restored after). Every batch of size >= 2 maximises
    the mean per-sample DV score of its samples (the others are the negatives). Returns the estimator
    in eval mode.

    Args:
        model: the classifier (frozen).
        x: (N, C, H, W) natural images in [0, 1].
        epochs: passes over ``x`` (25).
        batch_size: samples per step (400).
        lr: Adam's learning rate (1e-2).
        width: the estimator's width (2048).
        layer: the global input layer (None: logits).
        milestones: the fractions of the epochs at which the LR drops x0.1.
        progress: show a tqdm bar.
        seed: seeds initialisation and shuffling (the global RNG is restored).

    Returns:
        The :class:`~mireg.estimators.LocalDIMEstimator` E(x, h(x)), in eval mode.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
        >>> x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 10, (16,))
        >>> from mireg.estimators import train_standard_estimator
        >>> e = train_standard_estimator(model, x, epochs=1, batch_size=8, width=8, progress=False)
        >>> e.training
        False
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_images("x", x)
    if x.dim() != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
    check_number("epochs", epochs, low=1, integer=True)
    check_number("batch_size", batch_size, low=2, integer=True)
    check_number("lr", lr, low=0.0, low_open=True)
    milestones = check_fractions("milestones", milestones)
    device = model_device(model)
    with preserved_modes(model, training=False), seeded(seed, device):
        _, g = global_inputs(model, x, batch_size=batch_size, layer=layer, device=device)
        est = LocalDIMEstimator(g.shape[1], x.shape[1], width).to(device).train()
        optimizer = torch.optim.Adam(est.parameters(), lr=lr)
        steps = sorted({max(1, math.floor(m * epochs)) for m in milestones if 0 < m < 1})
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, steps, gamma=0.1)
        for _ in tqdm(range(epochs), desc="standard MI estimator", disable=not progress):
            for idx in torch.randperm(x.shape[0], device=device).split(batch_size):
                if idx.numel() < 2:
                    continue
                loss = -est(x[idx.to(x.device)].to(device), g[idx]).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            scheduler.step()
    return est.eval()


@torch.no_grad()
def _scores(est: LocalDIMEstimator, x: torch.Tensor, x_adv: torch.Tensor, g_nat: torch.Tensor,
            g_adv: torch.Tensor, batch_size: int) -> dict[str, torch.Tensor]:
    out: dict[str, list[torch.Tensor]] = {k: [] for k in KEYS}
    device = g_nat.device
    for i in range(0, x.shape[0], batch_size):
        local_nat = est.local_features(x[i:i + batch_size].to(device))
        local_adv = est.local_features(x_adv[i:i + batch_size].to(device))
        gn, ga = est.global_features(g_nat[i:i + batch_size]), est.global_features(g_adv[i:i + batch_size])
        out["nat_nat"].append(est.score(local_nat, gn))
        out["adv_adv"].append(est.score(local_adv, ga))
        out["nat_adv"].append(est.score(local_nat, ga))
    return {k: torch.cat(v).float().cpu() for k, v in out.items()}


@dataclass
class StandardMIAnalysis:
    """Per attack, the per-sample scores ``nat_nat``, ``adv_adv``, ``nat_adv`` (see the module
    docstring) of all samples; :meth:`offset_means` gives Fig. 2's numbers.

    Attributes:
        scores: attack -> {``nat_nat``, ``adv_adv``, ``nat_adv``: (N,) tensors}.

    Examples:
        >>> import torch
        >>> from mireg.estimators import StandardMIAnalysis
        >>> scores = {"nat_nat": torch.tensor([3.0]), "adv_adv": torch.tensor([2.0]), "nat_adv": torch.tensor([1.0])}
        >>> StandardMIAnalysis({"PGD": scores}).offset_means()
        {'PGD': {'nat_nat': 2.0, 'adv_adv': 1.0, 'nat_adv': 0.0}}
    """

    scores: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    def offset_means(self) -> dict[str, dict[str, float]]:
        """attack -> {nat_nat, adv_adv, nat_adv}: means over all samples after one offset that puts
        the worst score of the whole figure at 0."""
        flat = {f"{a}/{k}": v for a, s in self.scores.items() for k, v in s.items()}
        means = worst_case_offset_means(flat)
        return {a: {k: float(means[f"{a}/{k}"]) for k in KEYS} for a in self.scores}


def standard_mi_analysis(model: nn.Module, estimator: LocalDIMEstimator, x: torch.Tensor, y: torch.Tensor,
                         attacks: Mapping[str, Attack], *, batch_size: int = 256, layer: str | None = None,
                         progress: bool = True) -> StandardMIAnalysis:
    """NAMID Fig. 2: the standard-MI scores of every sample under each attack (model in eval mode,
    restored after).

    Args:
        model: the classifier.
        estimator: E(x, h(x)) from :func:`train_standard_estimator`.
        x: (N, C, H, W) images in [0, 1].
        y: (N,) labels.
        attacks: name -> callable ``(x, y) -> x_adv``.
        batch_size: samples per batch.
        layer: the estimator's global input layer (None: logits).
        progress: show tqdm bars.

    Returns:
        A :class:`StandardMIAnalysis`.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
        >>> x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 10, (16,))
        >>> import torchattacks
        >>> from mireg.estimators import LocalDIMEstimator, standard_mi_analysis
        >>> res = standard_mi_analysis(model, LocalDIMEstimator(10, 3, width=8), x, y,
        ...                            {"FGSM": torchattacks.FGSM(model)}, progress=False)
        >>> sorted(res.offset_means()["FGSM"])
        ['adv_adv', 'nat_adv', 'nat_nat']
    """
    check_images("x", x)
    check_labels("y", y, batch=x.shape[0])
    if not isinstance(attacks, Mapping) or not attacks:
        raise ValueError("attacks must be a non-empty dict name -> attack (x, y) -> x_adv")
    device = model_device(model)
    result = StandardMIAnalysis()
    with preserved_modes(model, training=False):
        _, g_nat = global_inputs(model, x, batch_size=batch_size, layer=layer, device=device)
        for name, attack in tqdm(attacks.items(), desc="standard MI", disable=not progress):
            x_adv = run_attack(attack, x, y, batch_size, device, name, progress)
            _, g_adv = global_inputs(model, x_adv, batch_size=batch_size, layer=layer, device=device)
            result.scores[name] = _scores(estimator.eval(), x, x_adv, g_nat, g_adv, batch_size)
    return result


def fig4_offset_means(scores: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """NAMID Fig. 4's four bars from :func:`~mireg.estimators.analysis.mi_scores` over ALL test samples:
    the natural MI (``en_nat``, ``en_adv``) offset so that its worst case is 0, and the adversarial MI
    (``ea_nat``, ``ea_adv``) offset likewise (Sec. 4.2).

    Args:
        scores: the (N,) tensors ``en_nat``, ``en_adv``, ``ea_nat``, ``ea_adv``.

    Returns:
        The four offset means.

    Examples:
        >>> import torch
        >>> from mireg.estimators import fig4_offset_means
        >>> t = torch.tensor
        >>> fig4_offset_means({"en_nat": t([2.0]), "en_adv": t([1.0]), "ea_nat": t([0.0]), "ea_adv": t([3.0])})
        {'en_nat': 1.0, 'en_adv': 0.0, 'ea_nat': 0.0, 'ea_adv': 3.0}
    """
    natural = worst_case_offset_means({"en_nat": scores["en_nat"], "en_adv": scores["en_adv"]})
    adversarial = worst_case_offset_means({"ea_nat": scores["ea_nat"], "ea_adv": scores["ea_adv"]})
    return {k: float(v) for k, v in {**natural, **adversarial}.items()}


def estimator_comparison(model: nn.Module, estimators: Mapping[str, tuple[LocalDIMEstimator, LocalDIMEstimator]],
                         x: torch.Tensor, x_adv: torch.Tensor, *, batch_size: int = 256, layer: str | None = None
                         ) -> dict[str, dict[str, float]]:
    """NAMID Fig. 4: for each pair of estimators (e.g. ``{"MIM": eq4_pair, "Our": eq5_pair}``), the
    four :func:`fig4_offset_means` over ALL the samples ``x`` and their adversarial ``x_adv`` (the same
    ``x_adv`` for every pair). The model is put in eval mode and restored.

    Args:
        model: the classifier.
        estimators: label -> ``(E_n, E_a)``.
        x: (N, C, H, W) natural images in [0, 1].
        x_adv: (N, C, H, W) their adversarial images.
        batch_size: samples scored together.
        layer: the estimators' global input layer (None: logits).

    Returns:
        label -> the four offset means ``en_nat``, ``en_adv``, ``ea_nat``, ``ea_adv``.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
        >>> x = torch.rand(16, 3, 8, 8)
        >>> from mireg.estimators import LocalDIMEstimator, estimator_comparison
        >>> pair = LocalDIMEstimator(10, 3, width=8), LocalDIMEstimator(10, 3, width=8)  # trained ones in practice
        >>> means = estimator_comparison(model, {"MIM": pair, "Our": pair}, x, (x + 0.03).clamp(0, 1))
        >>> sorted(means), sorted(means["Our"])
        (['MIM', 'Our'], ['ea_adv', 'ea_nat', 'en_adv', 'en_nat'])
    """
    check_images("x", x)
    check_images("x_adv", x_adv)
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}")
    if not isinstance(estimators, Mapping) or not estimators:
        raise ValueError("estimators must be a non-empty dict label -> (E_n, E_a)")
    device = model_device(model)
    with preserved_modes(model, training=False):
        _, g_nat = global_inputs(model, x, batch_size=batch_size, layer=layer, device=device)
        _, g_adv = global_inputs(model, x_adv, batch_size=batch_size, layer=layer, device=device)
    return {label: fig4_offset_means(mi_scores(e_n.to(device), e_a.to(device), x, x_adv, g_nat, g_adv,
                                               batch_size=batch_size))
            for label, (e_n, e_a) in estimators.items()}


def plot_estimator_comparison(means: Mapping[str, Mapping[str, float]], path: str | None = None):
    """Fig. 4's bars: natural MI (left) and adversarial MI (right), per estimator pair, natural vs
    adversarial instances.

    Args:
        means: what :func:`estimator_comparison` returns.
        path: where to save the figure (None: only return it).

    Returns:
        The matplotlib ``Figure``.

    Examples:
        >>> # needs: matplotlib
        >>> from mireg.estimators import plot_estimator_comparison
        >>> means = {"MIM": {"en_nat": 1.0, "en_adv": 0.0, "ea_nat": 0.0, "ea_adv": 0.5}}
        >>> figure = plot_estimator_comparison(means, "fig4.png")
    """
    require("matplotlib", "plot_estimator_comparison")
    from matplotlib.figure import Figure

    labels = list(means)
    fig = Figure(figsize=(max(4.5, 2.2 * len(labels) + 1.5), 3.4))
    ax = fig.subplots()
    for half, (nat, adv) in enumerate((("en_nat", "en_adv"), ("ea_nat", "ea_adv"))):
        pos = [half * (len(labels) + 1) + i for i in range(len(labels))]
        ax.bar([p - 0.2 for p in pos], [means[k][nat] for k in labels], width=0.4, color="tab:blue",
               label="natural instance" if half == 0 else None)
        ax.bar([p + 0.2 for p in pos], [means[k][adv] for k in labels], width=0.4, color="tab:red",
               label="adversarial instance" if half == 0 else None)
        for p, k in zip(pos, labels, strict=True):
            ax.text(p, 0, f"{k}\n{'natural' if half == 0 else 'adversarial'} MI", ha="center", va="top", fontsize=7)
    ax.set_xticks([])
    ax.set_ylabel("MI, offset (worst case = 0)")
    ax.legend(fontsize=8)
    ax.set_title("NAMID Fig. 4: estimators trained by Eq. 4 vs Eq. 5", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def plot_standard_mi(analysis: StandardMIAnalysis, path: str | None = None):
    """Fig. 2's plot: per attack, the three offset means; the gap between I(x~; h(x~)) and
    I(x; h(x~)) shaded.

    Args:
        analysis: a :class:`StandardMIAnalysis`.
        path: where to save the figure (None: only return it).

    Returns:
        The matplotlib ``Figure``.

    Examples:
        >>> # needs: matplotlib
        >>> import torch
        >>> from mireg.estimators import StandardMIAnalysis, plot_standard_mi
        >>> scores = {k: torch.randn(20) for k in ("nat_nat", "adv_adv", "nat_adv")}
        >>> figure = plot_standard_mi(StandardMIAnalysis({"PGD": scores}), "fig2.png")
    """
    require("matplotlib", "plot_standard_mi")
    from matplotlib.figure import Figure

    means = analysis.offset_means()
    if not means:
        raise ValueError("analysis is empty: run standard_mi_analysis with at least one attack")
    names = list(means)
    fig = Figure(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.4))
    ax = fig.subplots()
    pos = list(range(len(names)))
    labels = {"nat_nat": "I(x; h(x))", "adv_adv": "I(x~; h(x~))", "nat_adv": "I(x; h(x~))"}
    for key, color in (("nat_nat", "tab:blue"), ("adv_adv", "tab:red"), ("nat_adv", "tab:pink")):
        ax.plot(pos, [means[n][key] for n in names], marker="o", color=color, label=labels[key])
    ax.fill_between(pos, [means[n]["adv_adv"] for n in names], [means[n]["nat_adv"] for n in names],
                    color="tab:red", alpha=0.15)
    ax.set_xticks(pos, names)
    ax.set_ylabel("MI, offset (worst case = 0)")
    ax.legend(fontsize=8)
    ax.set_title("NAMID Fig. 2: standard MI of natural and adversarial samples", fontsize=9)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=120)
    return fig
