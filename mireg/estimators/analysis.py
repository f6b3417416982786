"""MI analysis of NAMID (Zhou et al., ICML 2022, Fig. 2 and Fig. 4): the four per-sample scores of
:mod:`mireg.estimators.scoring` for every sample under each of several attacks, as a table
(:class:`MIAnalysis`) and a figure (:func:`plot_mi_analysis`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from mireg._optional import require
from mireg._validation import check_images, check_labels, check_number
from mireg.estimators.local_dim import LocalDIMEstimator
from mireg.estimators.scoring import Attack, EstimatorCheck, global_inputs, mi_scores, run_attack
from mireg.functional.mi import namid_selection
from mireg.utils.atomic import save_figure
from mireg.utils.device import model_device
from mireg.utils.modes import preserved_modes

__all__ = ["MIAnalysis", "mi_analysis", "plot_mi_analysis"]


@dataclass
class MIAnalysis:
    """Per-attack per-sample MI scores (see the module docstring) and the Eq. 6 selections.

    ``scores[attack]``: dict of (N,) tensors ``en_nat, en_adv, ea_adv, ea_nat``;
    ``selected[attack]``: (N,) bool mask of Eq. 6; ``rows``: one summary dict per attack.

    Attributes:
        scores: attack -> {``en_nat``, ``en_adv``, ``ea_adv``, ``ea_nat``: (N,) tensors}.
        selected: attack -> (N,) bool mask of Eq. 6.
        rows: one summary dict per attack (what :meth:`table` prints).

    Examples:
        >>> from mireg.estimators import MIAnalysis
        >>> MIAnalysis().scores  # made by mireg.estimators.mi_analysis
        {}
    """

    scores: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    selected: dict[str, torch.Tensor] = field(default_factory=dict)
    rows: list[dict[str, float | int | str]] = field(default_factory=list)

    def table(self) -> str:
        """A Markdown table: per attack, robust accuracy, #selected and raw mean scores on the Eq. 6
        selection (mireg's check; NAMID's Fig. 4 averages all samples after a worst-case offset, see
        :func:`mireg.estimators.fig4_offset_means`)."""
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
        natural: the natural estimator E_n (e.g. from ``train_estimators``).
        adversarial: the adversarial estimator E_a.
        x: images in [0, 1] (N, C, H, W).
        y: labels (N,).
        attacks: ``{"name": attack}`` or a list of attacks; an attack is any callable
            ``(x, y) -> x_adv`` (torchattacks attacks included).
        batch_size: batch for attacks and scoring (scores use the batch as negatives).
        layer: the estimators' global input layer (None: logits), as in training.
        progress: show tqdm progress bars.

    Returns:
        :class:`MIAnalysis`; ``print(result.table())``, ``plot_mi_analysis(result, "mi.png")``.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
        >>> x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 10, (16,))
        >>> import torchattacks
        >>> from mireg.estimators import mi_analysis
        >>> from mireg.estimators import LocalDIMEstimator
        >>> e_n, e_a = LocalDIMEstimator(10, 3, width=8), LocalDIMEstimator(10, 3, width=8)
        >>> res = mi_analysis(model, e_n, e_a, x, y, {"FGSM": torchattacks.FGSM(model)}, progress=False)
        >>> res.scores["FGSM"]["en_nat"].shape
        torch.Size([16])
        >>> table = res.table()  # Markdown, one row per attack
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
    device = model_device(model)
    result = MIAnalysis()
    with preserved_modes(model, training=False):
        logits_nat, g_nat = global_inputs(model, x, batch_size=batch_size, layer=layer, device=device)
        yd = y.to(device)
        for name, attack in tqdm(named.items(), desc="MI analysis", disable=not progress):
            x_adv = run_attack(attack, x, y, batch_size, device, name, progress)
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
    return result


def plot_mi_analysis(analysis: MIAnalysis, path: str | None = None, *, selected_only: bool = True,
                     bins: int = 30):
    """Histograms like NAMID's Fig. 2 / Fig. 4: one row per attack; left, the natural MI (E_n) of
    natural vs adversarial samples; right, the adversarial MI (E_a) of natural vs adversarial samples.

    Args:
        analysis: the result of :func:`mi_analysis`.
        path: where to save the figure (PNG/PDF by extension); None: only return it.
        selected_only: restrict to the samples of Eq. 6 (mireg's choice, to show the premise where
            it is stated); else all samples. NAMID's own Fig. 2 and Fig. 4 report averages over ALL
            test samples, offset so that the worst case equals 0: see
            :func:`mireg.estimators.fig4_offset_means` and :func:`mireg.estimators.standard_mi_analysis`.

        bins: histogram bins.

    Returns:
        the matplotlib ``Figure``.

    Examples:
        >>> # needs: matplotlib
        >>> import torch
        >>> from mireg.estimators import MIAnalysis, plot_mi_analysis
        >>> scores = {k: torch.randn(50) for k in ("en_nat", "en_adv", "ea_adv", "ea_nat")}
        >>> analysis = MIAnalysis(scores={"PGD": scores}, selected={"PGD": torch.rand(50) < 0.5})
        >>> figure = plot_mi_analysis(analysis, "mi.png")
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
        save_figure(fig, path, dpi=120)
    return fig
