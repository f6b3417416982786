"""NAMID's Fig. 2 (standard MI by MI maximisation on natural samples) and the offset averages of
Fig. 2 / Fig. 4, on a fixed example computed by hand."""

from __future__ import annotations

import copy

import pytest
import torch
from matplotlib.figure import Figure

from mireg.estimators import (
    LocalDIMEstimator,
    StandardMIAnalysis,
    fig4_offset_means,
    plot_standard_mi,
    standard_mi_analysis,
    train_standard_estimator,
)
from mireg.estimators.analysis import global_inputs
from mireg.functional import worst_case_offset_means


def test_offset_means_by_hand():
    """natural: [1, 3] -> mean 2; adversarial: [-1, 1] -> mean 0; worst case over both = -1.
    Offset by +1: natural [2, 4] -> 3, adversarial [0, 2] -> 1."""
    means = worst_case_offset_means({"natural": torch.tensor([1.0, 3.0]), "adversarial": torch.tensor([-1.0, 1.0])})
    assert {k: float(v) for k, v in means.items()} == {"natural": 3.0, "adversarial": 1.0}


def test_fig4_offsets_each_estimator_separately_by_hand():
    """E_n: nat [0.5, 1.5, 1.0], adv [0.0, 0.5, -0.5]; worst -0.5 -> nat mean 1.0 + 0.5 = 1.5, adv 0.0 + 0.5 = 0.5.
    E_a: nat [2, 2, 2], adv [3, 5, 4]; worst 2 -> nat 0, adv 2."""
    scores = {"en_nat": torch.tensor([0.5, 1.5, 1.0]), "en_adv": torch.tensor([0.0, 0.5, -0.5]),
              "ea_nat": torch.tensor([2.0, 2.0, 2.0]), "ea_adv": torch.tensor([3.0, 5.0, 4.0])}
    assert fig4_offset_means(scores) == {"en_nat": 1.5, "en_adv": 0.5, "ea_nat": 0.0, "ea_adv": 2.0}


def test_fig2_offset_is_one_worst_case_over_the_whole_figure_by_hand():
    analysis = StandardMIAnalysis({
        "PGD-10": {"nat_nat": torch.tensor([1.0, 2.0]), "adv_adv": torch.tensor([0.0, 1.0]),
                   "nat_adv": torch.tensor([-1.0, 0.0])},
        "AA": {"nat_nat": torch.tensor([1.0, 2.0]), "adv_adv": torch.tensor([-2.0, 0.0]),
               "nat_adv": torch.tensor([-2.0, -2.0])},
    })
    # worst case of the figure: -2 -> add 2 everywhere, then average over all samples
    assert analysis.offset_means() == {"PGD-10": {"nat_nat": 3.5, "adv_adv": 2.5, "nat_adv": 1.5},
                                       "AA": {"nat_nat": 3.5, "adv_adv": 1.0, "nat_adv": 0.0}}
    fig = plot_standard_mi(analysis)
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 3


@pytest.mark.parametrize("bad, match", [({}, "non-empty"), ({"a": torch.ones(2, 2)}, "dimensions"),
                                        ({"a": torch.tensor([])}, "empty"),
                                        ({"a": torch.tensor([1.0, float("nan")])}, "NaN")])
def test_offset_means_reject_bad_scores(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        worst_case_offset_means(bad)


def test_standard_estimator_learns_mi_on_natural_samples_and_scores_attacks(digits_split, digits_model):
    model = copy.deepcopy(digits_model)
    x, y = digits_split["x_train"][:256], digits_split["y_train"][:256]
    torch.manual_seed(0)
    untrained = LocalDIMEstimator(10, 1, 16).eval()
    est = train_standard_estimator(model, x, epochs=4, batch_size=64, width=16, progress=False)
    assert not est.training and not model.training
    _, g = global_inputs(model, x[:64])
    with torch.no_grad():
        assert float(est(x[:64], g).mean()) > float(untrained(x[:64], g).mean()) + 0.1
    noise = {"noise": lambda xb, yb: (xb + 0.2 * torch.randn_like(xb)).clamp(0, 1)}
    res = standard_mi_analysis(model, est, x[:64], y[:64], noise, progress=False)
    assert set(res.scores["noise"]) == {"nat_nat", "adv_adv", "nat_adv"}
    assert all(v.shape == (64,) for v in res.scores["noise"].values())
    means = res.offset_means()["noise"]
    assert min(means.values()) >= 0.0


def test_standard_estimator_rejects_bad_inputs(digits_model):
    with pytest.raises(TypeError, match="nn.Module"):
        train_standard_estimator(object(), torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_standard_estimator(digits_model, torch.rand(4, 1, 8, 8) * 3)
    with pytest.raises(ValueError, match="attacks"):
        standard_mi_analysis(digits_model, LocalDIMEstimator(10, 1, 8), torch.rand(4, 1, 8, 8),
                             torch.zeros(4, dtype=torch.long), {})


def test_estimator_comparison_is_fig4_offset_means_of_each_pair_on_all_samples(digits_split, digits_model):
    """NAMID Fig. 4: every pair scored on the same x and x_adv, each offset by its own worst cases."""
    from mireg.estimators import estimator_comparison, mi_scores

    model = copy.deepcopy(digits_model).train()
    x = digits_split["x_test"][:40]
    x_adv = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    torch.manual_seed(1)
    pairs = {"MIM": (LocalDIMEstimator(10, 1, 8), LocalDIMEstimator(10, 1, 8)),
             "Our": (LocalDIMEstimator(10, 1, 8), LocalDIMEstimator(10, 1, 8))}
    got = estimator_comparison(model, pairs, x, x_adv, batch_size=16)
    assert model.training                                  # the caller's mode is restored
    with torch.no_grad():
        g_nat, g_adv = model.eval()(x), model(x_adv)
    for label, (e_n, e_a) in pairs.items():
        expected = fig4_offset_means(mi_scores(e_n, e_a, x, x_adv, g_nat, g_adv, batch_size=16))
        assert got[label] == pytest.approx(expected, abs=1e-6)
        assert min(got[label].values()) >= 0.0
    assert got["MIM"] != got["Our"]


def test_estimator_comparison_rejects_bad_inputs(digits_model):
    from mireg.estimators import estimator_comparison

    x = torch.rand(4, 1, 8, 8)
    pair = (LocalDIMEstimator(10, 1, 8), LocalDIMEstimator(10, 1, 8))
    with pytest.raises(ValueError, match="same shape"):
        estimator_comparison(digits_model, {"a": pair}, x, x[:3])
    with pytest.raises(ValueError, match="non-empty"):
        estimator_comparison(digits_model, {}, x, x)


def test_plot_estimator_comparison_draws_both_halves(tmp_path):
    from mireg.estimators import plot_estimator_comparison

    means = {"MIM": {"en_nat": 1.0, "en_adv": 0.5, "ea_nat": 0.2, "ea_adv": 0.9},
             "Our": {"en_nat": 1.2, "en_adv": 0.3, "ea_nat": 0.1, "ea_adv": 1.1}}
    fig = plot_estimator_comparison(means, str(tmp_path / "fig4.png"))
    assert isinstance(fig, Figure) and (tmp_path / "fig4.png").stat().st_size > 1000
    assert len(fig.axes[0].patches) == 8                   # 2 pairs x 2 MIs x natural / adversarial
