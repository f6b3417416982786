"""Scoring with NAMID's estimators (Zhou et al., ICML 2022): the four per-sample MI scores and the
held-out check of Fig. 4.

For a frozen classifier h, a natural estimator E_n (local input x) and an adversarial estimator E_a
(local input n = x_adv - x), each sample gets four scores:

- ``en_nat`` = E_n(x, h(x)): natural MI of the natural sample,
- ``en_adv`` = E_n(x, h(x_adv)): natural MI of the adversarial sample,
- ``ea_adv`` = E_a(n, h(x_adv)): adversarial MI of the adversarial sample,
- ``ea_nat`` = E_a(n, h(x)): adversarial MI of the natural sample.

NAMID's premise (Fig. 4) is ``en_nat > en_adv`` and ``ea_adv > ea_nat`` on the samples of Eq. 6
(:class:`EstimatorCheck`, :func:`check_estimators`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from mireg._validation import (
    check_images,
    check_labels,
    check_model_output,
    check_number,
    check_same_shape,
    check_tensor,
)
from mireg.estimators.local_dim import LocalDIMEstimator
from mireg.estimators.tap import FeatureTap
from mireg.functional.mi import namid_selection
from mireg.utils.device import model_device
from mireg.utils.modes import preserved_modes

__all__ = ["Attack", "EstimatorCheck", "check_estimators", "global_inputs", "mi_scores", "run_attack"]

#: any callable ``(x, y) -> x_adv`` (torchattacks attacks included)
Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def global_inputs(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256, layer: str | None = None,
                  device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, global features)`` of ``model`` on ``x`` under no_grad, in batches, on ``device``.

    The global features are the logits when ``layer`` is None, otherwise the output of that layer
    (read with :class:`FeatureTap`) average-pooled to (N, C). The model is used as it is (set its
    mode before calling).

    Args:
        model: the classifier.
        x: (N, C, H, W) images in [0, 1].
        batch_size: images per forward.
        layer: the layer whose pooled output is the global input (None: the logits).
        device: where to run (None: ``x``'s device).

    Returns:
        ``(logits (N, K), global features (N, D))``.

    Examples:
        >>> import torch
        >>> from mireg.estimators import global_inputs
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> logits, features = global_inputs(model, torch.rand(4, 3, 8, 8))
        >>> torch.equal(logits, features)  # layer=None: the logits
        True
    """
    check_number("batch_size", batch_size, low=1, integer=True)
    device = device or model_device(model)
    logits, feats = [], []
    tap = FeatureTap(model, layer, detach=True) if layer is not None else None
    try:
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size].to(device)
            if tap is None:
                out = feat = check_model_output(model(xb), batch=xb.shape[0])
            else:
                out, feat = tap(xb)
                out = check_model_output(out, batch=xb.shape[0])
                feat = feat.flatten(2).mean(dim=2) if feat.dim() > 2 else feat
            logits.append(out.float())
            feats.append(feat.float())
    finally:
        if tap is not None:
            tap.remove()
    return torch.cat(logits), torch.cat(feats)


def _check_scoring_inputs(natural, adversarial, x, x_adv, g_nat, g_adv, batch_size) -> None:
    for name, estimator in (("natural", natural), ("adversarial", adversarial)):
        if not isinstance(estimator, LocalDIMEstimator):
            raise TypeError(f"{name} must be a mireg.estimators.LocalDIMEstimator, got {type(estimator).__name__}")
    check_tensor("x", x, ndim=4)
    check_tensor("x_adv", x_adv, ndim=4)
    check_same_shape("x", x, "x_adv", x_adv)
    for name, g in (("g_nat", g_nat), ("g_adv", g_adv)):
        check_tensor(name, g, ndim=2)
        if g.shape[0] != x.shape[0]:
            raise ValueError(f"{name} has {g.shape[0]} rows for {x.shape[0]} images")
    check_number("batch_size", batch_size, low=1, integer=True)


@torch.no_grad()
def mi_scores(natural: LocalDIMEstimator, adversarial: LocalDIMEstimator, x: torch.Tensor, x_adv: torch.Tensor,
              g_nat: torch.Tensor, g_adv: torch.Tensor, *, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """The four per-sample scores (see the module docstring), estimators in eval mode, scored in
    consecutive batches of ``batch_size`` (the other samples of a batch are the negatives).

    Args:
        natural: the natural estimator E_n.
        adversarial: the adversarial estimator E_a.
        x: (N, C, H, W) natural images.
        x_adv: (N, C, H, W) adversarial images.
        g_nat: the global inputs on ``x`` (e.g. from :func:`global_inputs`).
        g_adv: the global inputs on ``x_adv``.
        batch_size: samples scored together.

    Returns:
        A dict of (N,) CPU float tensors ``en_nat, en_adv, ea_adv, ea_nat``.

    Examples:
        >>> import torch
        >>> from mireg.estimators import LocalDIMEstimator, mi_scores
        >>> e_n, e_a = LocalDIMEstimator(10, 3, width=8), LocalDIMEstimator(10, 3, width=8)
        >>> x = torch.rand(4, 3, 8, 8)
        >>> scores = mi_scores(e_n, e_a, x, x.flip(0), torch.randn(4, 10), torch.randn(4, 10))
        >>> sorted(scores), scores["en_nat"].shape
        (['ea_adv', 'ea_nat', 'en_adv', 'en_nat'], torch.Size([4]))
    """
    _check_scoring_inputs(natural, adversarial, x, x_adv, g_nat, g_adv, batch_size)
    device = g_nat.device
    out: dict[str, list[torch.Tensor]] = {"en_nat": [], "en_adv": [], "ea_adv": [], "ea_nat": []}
    with preserved_modes(natural, adversarial, training=False):
        for i in range(0, x.shape[0], batch_size):
            xb, xab = x[i:i + batch_size].to(device), x_adv[i:i + batch_size].to(device)
            gn, ga = g_nat[i:i + batch_size], g_adv[i:i + batch_size]
            local_n = natural.local_features(xb)
            out["en_nat"].append(natural.score(local_n, natural.global_features(gn)))
            out["en_adv"].append(natural.score(local_n, natural.global_features(ga)))
            local_a = adversarial.local_features(xab - xb)
            out["ea_adv"].append(adversarial.score(local_a, adversarial.global_features(ga)))
            out["ea_nat"].append(adversarial.score(local_a, adversarial.global_features(gn)))
    return {k: torch.cat(v).float().cpu() for k, v in out.items()}


@dataclass
class EstimatorCheck:
    """The held-out check of NAMID's Fig. 4 on the samples of Eq. 6 (means over those samples).

    ``frac_en``: fraction of selected samples with E_n(x) > E_n(x_adv); ``frac_ea``: with
    E_a(x_adv) > E_a(x). ``passed``: both mean inequalities hold (and some sample was selected).

    Attributes:
        n_samples: the samples checked.
        n_selected: the samples of Eq. 6 among them.
        en_nat: mean E_n(x) on the selection.
        en_adv: mean E_n(x_adv).
        ea_adv: mean E_a(x_adv).
        ea_nat: mean E_a(x).
        frac_en: fraction with E_n(x) > E_n(x_adv).
        frac_ea: fraction with E_a(x_adv) > E_a(x).

    Examples:
        >>> from mireg.estimators import EstimatorCheck
        >>> EstimatorCheck(100, 40, en_nat=2.0, en_adv=1.0, ea_adv=1.5, ea_nat=0.5, frac_en=0.9, frac_ea=0.8).passed
        True
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


def run_attack(attack: Attack, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device,
                desc: str, progress: bool) -> torch.Tensor:
    """``attack`` on ``x`` in batches of ``batch_size`` on ``device``; the adversarial images come back
    detached, on ``x``'s device and dtype (a tqdm bar named ``desc``)."""
    parts = []
    for i in tqdm(range(0, x.shape[0], batch_size), desc=desc, disable=not progress, leave=False):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        model = getattr(attack, "model", None)  # plain torchattacks may leave it in train mode
        with preserved_modes(*([model] if isinstance(model, nn.Module) else [])):
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

    Args:
        model: the classifier.
        natural: the natural estimator E_n.
        adversarial: the adversarial estimator E_a.
        x: (N, C, H, W) held-out images.
        y: (N,) labels.
        x_adv: (N, C, H, W) their adversarial images.
        batch_size: samples scored together.
        layer: the estimators' global input layer (None: logits).

    Returns:
        An :class:`EstimatorCheck`.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
        >>> x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 10, (16,))
        >>> from mireg.estimators import check_estimators
        >>> from mireg.estimators import LocalDIMEstimator
        >>> e_n, e_a = LocalDIMEstimator(10, 3, width=8), LocalDIMEstimator(10, 3, width=8)
        >>> check = check_estimators(model, e_n, e_a, x, y, (x + 0.03).clamp(0, 1))
        >>> check.n_samples
        16
    """
    check_images("x", x)
    check_images("x_adv", x_adv)
    check_same_shape("x", x, "x_adv", x_adv)
    device = model_device(model)
    logits_nat, g_nat = global_inputs(model, x, batch_size=batch_size, layer=layer, device=device)
    y = check_labels("y", y, batch=x.shape[0], num_classes=logits_nat.shape[1])
    logits_adv, g_adv = global_inputs(model, x_adv, batch_size=batch_size, layer=layer, device=device)
    selected = namid_selection(logits_nat, logits_adv, y.to(device))
    scores = mi_scores(natural, adversarial, x, x_adv, g_nat, g_adv, batch_size=batch_size)
    return EstimatorCheck.from_scores(scores, selected)
