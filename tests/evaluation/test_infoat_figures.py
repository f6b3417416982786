"""InfoAT's analysis figures with the paper's defaults: Fig. 1 (PGD-10), Fig. 4 (the loss change),
Fig. 5 (PGD-10 direction, the 8/255 neighbourhood), Fig. 1(a) (MI of robust vs non-robust examples)."""

from __future__ import annotations

import copy
import inspect

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from mireg.evaluation.analysis import (
    DEFAULT_ALPHAS,
    entropy_vs_perturbation,
    input_loss_surface,
    minimal_perturbation,
    weight_loss_surface,
)
from mireg.evaluation.infoat_figures import plot_robust_vs_nonrobust_mi, robust_vs_nonrobust_mi


def _default(fn, name):
    return inspect.signature(fn).parameters[name].default


def test_defaults_are_the_papers_settings():
    """The InfoAT paper's settings, as issue 14 of this project reports them from the paper (its full
    text was not in the stored corpus this session, so they are not quoted from it here):

    - "Fig. 1 and Fig. 5 default to PGD-20 where the paper uses PGD-10";
    - "Fig. 5's default grid spans 2 eps along each direction, so its corners lie up to 32/255 from
      the image, outside the 8/255 neighbourhood the paper plots";
    - "Fig. 4 plots the absolute loss where the paper (after Wu et al. 2020) plots the loss change",
      Wu et al.'s g(alpha) = rho(w + alpha d) - rho(w) along a filter-normalised Gaussian direction;
    - eps 8/255 (L-inf), the paper's threat model on CIFAR-10.
    """
    for fn in (entropy_vs_perturbation, minimal_perturbation, input_loss_surface, weight_loss_surface,
               robust_vs_nonrobust_mi):
        assert _default(fn, "steps") == 10, fn.__name__
    for fn in (input_loss_surface, weight_loss_surface, robust_vs_nonrobust_mi):
        assert _default(fn, "eps") == 8 / 255, fn.__name__
    assert _default(input_loss_surface, "span") is None and _default(input_loss_surface, "project") is True
    assert _default(weight_loss_surface, "alphas") == DEFAULT_ALPHAS
    assert min(DEFAULT_ALPHAS) == -1.0 and max(DEFAULT_ALPHAS) == 1.0 and 0.0 in DEFAULT_ALPHAS


class _Recorder(nn.Module):
    """Wraps a model and records every input it sees."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.model(x)


def test_input_surface_stays_in_the_eps_neighbourhood(digits_model, digits_split):
    x, y = digits_split["x_test"][:1], digits_split["y_test"][:1]
    rec = _Recorder(copy.deepcopy(digits_model))
    surf = input_loss_surface(rec, x, y, eps=0.1, points=5)
    assert surf["a"] == pytest.approx([-0.1, -0.05, 0.0, 0.05, 0.1])
    assert max(float((s - x).abs().max()) for s in rec.seen) <= 0.1 + 1e-6
    rec.seen.clear()
    input_loss_surface(rec, x, y, eps=0.1, points=5, span=0.2, project=False)  # mireg's former grid
    assert max(float((s - x).abs().max()) for s in rec.seen) > 0.1 + 1e-3


def test_weight_surface_reports_the_loss_change(digits_model, digits_split):
    x, y = digits_split["x_test"][:48], digits_split["y_test"][:48]
    surf = weight_loss_surface(digits_model, x, y, alphas=[-0.5, 0.0, 0.5], steps=3, seed=1)
    with torch.no_grad():
        base = F.cross_entropy(digits_model(x), y).item()
    assert surf["clean_change"][1] == 0.0 and surf["adversarial_change"][1] == 0.0
    for loss, change in zip(surf["clean"], surf["clean_change"], strict=True):
        assert change == pytest.approx(loss - base, abs=1e-6)
    for loss, change in zip(surf["adversarial"], surf["adversarial_change"], strict=True):
        assert change == pytest.approx(loss - surf["adversarial"][1], abs=1e-12)
    assert max(surf["clean_change"]) > 0  # moving the weights of a trained model raises its loss


def test_robust_vs_nonrobust_mi_on_digits(digits_model, digits_split):
    x, y = digits_split["x_test"][:200], digits_split["y_test"][:200]
    model = copy.deepcopy(digits_model).train()
    out = robust_vs_nonrobust_mi(model, x, y, ["model.features.2", "model.features.5"], eps=0.1, epochs=3,
                                 batch_size=64, hidden=32, progress=False)
    assert model.training  # mode restored
    assert out["n_used"] == min(out["n_robust"], out["n_non_robust"]) >= 2
    assert set(out["robust"]) == set(out["non_robust"]) == {"model.features.2", "model.features.5"}
    assert all(torch.isfinite(torch.tensor(list(out[k].values()))).all() for k in ("robust", "non_robust"))
    assert isinstance(plot_robust_vs_nonrobust_mi(out), Figure)


def test_robust_vs_nonrobust_mi_needs_both_groups(digits_model, digits_split):
    x, y = digits_split["x_test"][:20], digits_split["y_test"][:20]
    with pytest.raises(ValueError, match="non-robust"):
        robust_vs_nonrobust_mi(digits_model, x, y, ["model.features.2"], eps=1e-6, steps=1, epochs=1, progress=False)
