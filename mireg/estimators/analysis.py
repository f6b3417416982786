"""MI analysis of NAMID (Zhou et al., ICML 2022, Fig. 2 and Fig. 4): per-sample natural and
adversarial MI of natural and adversarial samples, per attack, as a table and a figure.

For a frozen classifier h, a natural estimator E_n (local input x) and an adversarial estimator E_a
(local input n = x_adv - x), each sample gets four scores:

- ``en_nat`` = E_n(x, h(x)): natural MI of the natural sample,
- ``en_adv`` = E_n(x, h(x_adv)): natural MI of the adversarial sample,
- ``ea_adv`` = E_a(n, h(x_adv)): adversarial MI of the adversarial sample,
- ``ea_nat`` = E_a(n, h(x)): adversarial MI of the natural sample.

NAMID's premise (Fig. 4) is ``en_nat > en_adv`` and ``ea_adv > ea_nat`` on the samples of Eq. 6.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from mireg._optional import require
from mireg._validation import check_images, check_labels, check_number
from mireg.attacks.base import preserving_modes
from mireg.estimators.local_dim import LocalDIMEstimator
from mireg.estimators.tap import FeatureTap
from mireg.functional.mi import namid_selection

__all__ = ["EstimatorCheck", "MIAnalysis", "check_estimators", "global_inputs", "mi_analysis", "mi_scores",
           "plot_mi_analysis"]

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def global_inputs(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256, layer: str | None = None,
                  device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, global features)`` of ``model`` on ``x`` under no_grad, in batches, on ``device``.

    The global features are the logits when ``layer`` is None, otherwise the output of that layer
    (read with :class:`FeatureTap`) average-pooled to (N, C). The model is used as it is (set its
    mode before calling).
    """
    device = device or _device_of(model)
    logits, feats = [], []
    tap = FeatureTap(model, layer, detach=True) if layer is not None else None
    try:
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size].to(device)
            if tap is None:
                out = model(xb)
                feat = out
            else:
                out, feat = tap(xb)
                feat = feat.flatten(2).mean(dim=2) if feat.dim() > 2 else feat
            logits.append(out.float())
            feats.append(feat.float())
    finally:
        if tap is not None:
            tap.remove()
    return torch.cat(logits), torch.cat(feats)


@torch.no_grad()
def mi_scores(natural: LocalDIMEstimator, adversarial: LocalDIMEstimator, x: torch.Tensor, x_adv: torch.Tensor,
              g_nat: torch.Tensor, g_adv: torch.Tensor, *, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """The four per-sample scores (see the module docstring), estimators in eval mode, scored in
    consecutive batches of ``batch_size`` (the other samples of a batch are the negatives).

    ``g_nat``/``g_adv`` are the global inputs on ``x``/``x_adv`` (e.g. from :func:`global_inputs`).
    Returns a dict of (N,) CPU float tensors ``en_nat, en_adv, ea_adv, ea_nat``.
    """
    modes = natural.training, adversarial.training
    natural.eval()
    adversarial.eval()
    device = g_nat.device
    out: dict[str, list[torch.Tensor]] = {"en_nat": [], "en_adv": [], "ea_adv": [], "ea_nat": []}
    try:
        for i in range(0, x.shape[0], batch_size):
            xb, xab = x[i:i + batch_size].to(device), x_adv[i:i + batch_size].to(device)
            gn, ga = g_nat[i:i + batch_size], g_adv[i:i + batch_size]
            local_n = natural.local_features(xb)
            out["en_nat"].append(natural.score(local_n, natural.global_features(gn)))
            out["en_adv"].append(natural.score(local_n, natural.global_features(ga)))
            local_a = adversarial.local_features(xab - xb)
            out["ea_adv"].append(adversarial.score(local_a, adversarial.global_features(ga)))
            out["ea_nat"].append(adversarial.score(local_a, adversarial.global_features(gn)))
    finally:
        natural.train(modes[0])
        adversarial.train(modes[1])
    return {k: torch.cat(v).float().cpu() for k, v in out.items()}


@dataclass
class EstimatorCheck:
    """The held-out check of NAMID's Fig. 4 on the samples of Eq. 6 (means over those samples).

    ``frac_en``: fraction of selected samples with E_n(x) > E_n(x_adv); ``frac_ea``: with
    E_a(x_adv) > E_a(x). ``passed``: both mean inequalities hold (and some sample was selected).
    """

    n_samples: int
    n_selected: int
    en_nat: float
    en_adv: float
    ea_adv: float
    ea_nat: float
    frac_en: float
    frac_ea: float

    @property
    def passed(self) -> bool:
        return self.n_selected > 0 and self.en_nat > self.en_adv and self.ea_adv > self.ea_nat

    @classmethod
    def from_scores(cls, scores: Mapping[str, torch.Tensor], selected: torch.Tensor) -> EstimatorCheck:
        sel = selected.cpu()
        m = int(sel.sum())

        def mean(t: torch.Tensor) -> float:
            return float(t[sel].mean()) if m else math.nan

        return cls(n_samples=int(sel.numel()), n_selected=m,
                   en_nat=mean(scores["en_nat"]), en_adv=mean(scores["en_adv"]),
                   ea_adv=mean(scores["ea_adv"]), ea_nat=mean(scores["ea_nat"]),
                   frac_en=mean((scores["en_nat"] > scores["en_adv"]).float()),
                   frac_ea=mean((scores["ea_adv"] > scores["ea_nat"]).float()))

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        return (f"estimator check {verdict} on {self.n_selected}/{self.n_samples} selected samples: "
                f"E_n(x)={self.en_nat:.3f} vs E_n(x_adv)={self.en_adv:.3f} ({self.frac_en:.0%} of samples >); "
                f"E_a(x_adv)={self.ea_adv:.3f} vs E_a(x)={self.ea_nat:.3f} ({self.frac_ea:.0%} of samples >)")


def _run_attack(attack: Attack, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device,
                desc: str, progress: bool) -> torch.Tensor:
    parts = []
    for i in tqdm(range(0, x.shape[0], batch_size), desc=desc, disable=not progress, leave=False):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        with preserving_modes(getattr(attack, "model", None)):  # plain torchattacks may leave it in train mode
            x_adv = attack(xb, yb)
        if not isinstance(x_adv, torch.Tensor) or x_adv.shape != xb.shape:
            raise ValueError(f"attack must return a tensor shaped like its input {tuple(xb.shape)}, got "
                             f"{getattr(x_adv, 'shape', type(x_adv).__name__)}")
        parts.append(x_adv.detach().to(x.device, x.dtype))
    return torch.cat(parts)


def check_estimators(model: nn.Module, natural: LocalDIMEstimator, adversarial: LocalDIMEstimator,
                     x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor, *, batch_size: int = 256,
                     layer: str | None = None) -> EstimatorCheck:
    """NAMID Fig. 4 check on held-out data: on the samples of Eq. 6, is E_n(x) > E_n(x_adv) and
    E_a(x_adv) > E_a(x)? ``model`` should be in eval mode.

    Example:
        >>> check = check_estimators(model.eval(), e_n, e_a, x_test, y_test, x_test_adv)
        >>> check.passed, print(check)
    """
    device = _device_of(model)
    logits_nat, g_nat = global_inputs(model, x, batch_size=batch_size, layer=layer, device=device)
    logits_adv, g_adv = global_inputs(model, x_adv, batch_size=batch_size, layer=layer, device=device)
    selected = namid_selection(logits_nat, logits_adv, y.to(device))
    scores = mi_scores(natural, adversarial, x, x_adv, g_nat, g_adv, batch_size=batch_size)
    return EstimatorCheck.from_scores(scores, selected)


@dataclass
class MIAnalysis:
    """Per-attack per-sample MI scores (see the module docstring) and the Eq. 6 selections.

    ``scores[attack]``: dict of (N,) tensors ``en_nat, en_adv, ea_adv, ea_nat``;
    ``selected[attack]``: (N,) bool mask of Eq. 6; ``rows``: one summary dict per attack.
    """

    scores: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    selected: dict[str, torch.Tensor] = field(default_factory=dict)
    rows: list[dict[str, float | int | str]] = field(default_factory=list)

    def table(self) -> str:
        """A Markdown table: per attack, robust accuracy, #selected and mean scores on the selection."""
        head = ("| attack | robust acc | selected | E_n(x) | E_n(x_adv) | E_a(x_adv) | E_a(x) | "
                "E_n(x)>E_n(x_adv) | E_a(x_adv)>E_a(x) |")
        lines = [head, "|" + "---|" * 9]
        for r in self.rows:
            lines.append(f"| {r['attack']} | {r['robust_acc']:.2%} | {r['n_selected']} | {r['en_nat']:.3f} | "
                         f"{r['en_adv']:.3f} | {r['ea_adv']:.3f} | {r['ea_nat']:.3f} | {r['frac_en']:.0%} | "
                         f"{r['frac_ea']:.0%} |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def mi_analysis(model: nn.Module, natural: LocalDIMEstimator, adversarial: LocalDIMEstimator, x: torch.Tensor,
                y: torch.Tensor, attacks: Mapping[str, Attack] | Sequence[Attack], *, batch_size: int = 256,
                layer: str | None = None, progress: bool = True) -> MIAnalysis:
    """NAMID Fig. 2 / Fig. 4 analysis: the four per-sample MI scores of every sample under each attack.

    Args:
        model: the classifier (put in eval mode during the analysis, then restored).
        natural, adversarial: the estimators E_n and E_a (e.g. from ``train_estimators``).
        x, y: images in [0, 1] (N, C, H, W) and labels (N,).
        attacks: ``{"name": attack}`` or a list of attacks; an attack is any callable
            ``(x, y) -> x_adv`` (torchattacks attacks included).
        batch_size: batch for attacks and scoring (scores use the batch as negatives).
        layer: the estimators' global input layer (None: logits), as in training.

    Returns:
        :class:`MIAnalysis`; ``print(result.table())``, ``plot_mi_analysis(result, "mi.png")``.

    Example:
        >>> import torchattacks
        >>> res = mi_analysis(model, e_n, e_a, x_test, y_test,
        ...                   {"PGD-20": torchattacks.PGD(model, steps=20), "FGSM": torchattacks.FGSM(model)})
        >>> print(res.table())
    """
    check_images("x", x)
    check_labels("y", y, batch=x.shape[0])
    check_number("batch_size", batch_size, low=1, integer=True)
    if isinstance(attacks, Mapping):
        named = dict(attacks)
    elif isinstance(attacks, Sequence) and not isinstance(attacks, str):
        named = {}
        for attack in attacks:
            name, i = type(attack).__name__, 2
            while name in named:
                name, i = f"{type(attack).__name__}_{i}", i + 1
            named[name] = attack
    else:
        raise TypeError(f"attacks must be a dict name -> attack or a list of attacks, got {type(attacks).__name__}")
    if not named:
        raise ValueError("attacks must not be empty")
    for name, attack in named.items():
        if not callable(attack):
            raise TypeError(f"attack {name!r} must be callable (x, y) -> x_adv, got {type(attack).__name__}")
    device = _device_of(model)
    was_training = model.training
    model.eval()
    result = MIAnalysis()
    try:
        logits_nat, g_nat = global_inputs(model, x, batch_size=batch_size, layer=layer, device=device)
        yd = y.to(device)
        for name, attack in tqdm(named.items(), desc="MI analysis", disable=not progress):
            x_adv = _run_attack(attack, x, y, batch_size, device, name, progress)
            logits_adv, g_adv = global_inputs(model, x_adv, batch_size=batch_size, layer=layer, device=device)
            selected = namid_selection(logits_nat, logits_adv, yd).cpu()
            scores = mi_scores(natural, adversarial, x, x_adv, g_nat, g_adv, batch_size=batch_size)
            check = EstimatorCheck.from_scores(scores, selected)
            result.scores[name] = scores
            result.selected[name] = selected
            result.rows.append({"attack": name, "n": int(x.shape[0]),
                                "clean_acc": float((logits_nat.argmax(1) == yd).float().mean()),
                                "robust_acc": float((logits_adv.argmax(1) == yd).float().mean()),
                                "n_selected": check.n_selected, "en_nat": check.en_nat, "en_adv": check.en_adv,
                                "ea_adv": check.ea_adv, "ea_nat": check.ea_nat, "frac_en": check.frac_en,
                                "frac_ea": check.frac_ea})
    finally:
        model.train(was_training)
    return result


def plot_mi_analysis(analysis: MIAnalysis, path: str | None = None, *, selected_only: bool = True,
                     bins: int = 30):
    """Histograms like NAMID's Fig. 2 / Fig. 4: one row per attack; left, the natural MI (E_n) of
    natural vs adversarial samples; right, the adversarial MI (E_a) of natural vs adversarial samples.

    Args:
        analysis: the result of :func:`mi_analysis`.
        path: where to save the figure (PNG/PDF by extension); None: only return it.
        selected_only: restrict to the samples of Eq. 6 (as the paper does); else all samples.

    Returns:
        the matplotlib ``Figure``.
    """
    require("matplotlib", "plot_mi_analysis")
    from matplotlib.figure import Figure  # no pyplot: no global state, renders with Agg

    if not isinstance(analysis, MIAnalysis) or not analysis.scores:
        raise ValueError("analysis must be a non-empty MIAnalysis (the result of mi_analysis)")
    names = list(analysis.scores)
    fig = Figure(figsize=(10, 3.2 * len(names)))
    axes = fig.subplots(len(names), 2, squeeze=False)
    for row, name in enumerate(names):
        s = analysis.scores[name]
        mask = analysis.selected[name] if selected_only else torch.ones_like(analysis.selected[name])
        for col, (key_nat, key_adv, title) in enumerate((("en_nat", "en_adv", "natural MI  E_n"),
                                                         ("ea_nat", "ea_adv", "adversarial MI  E_a"))):
            ax = axes[row][col]
            if int(mask.sum()) == 0:
                ax.text(0.5, 0.5, "no selected samples", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.hist(s[key_nat][mask].numpy(), bins=bins, alpha=0.6, label="natural samples", color="tab:blue")
                ax.hist(s[key_adv][mask].numpy(), bins=bins, alpha=0.6, label="adversarial samples", color="tab:red")
                ax.legend(fontsize=8)
            ax.set_title(f"{name}: {title} ({int(mask.sum())} samples)", fontsize=10)
            ax.set_xlabel("per-sample MI estimate (nats)")
            ax.set_ylabel("count")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
