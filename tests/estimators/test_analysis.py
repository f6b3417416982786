"""mireg.estimators.mi_analysis / plot_mi_analysis / check_estimators (NAMID Fig. 2 and Fig. 4)."""

from __future__ import annotations

import pytest
import torch

from mireg.estimators import MIAnalysis, check_estimators, mi_analysis, plot_mi_analysis, train_estimators


@pytest.fixture(scope="module")
def setup(digits_split, digits_model):
    import torchattacks

    pgd = torchattacks.PGD(digits_model, eps=0.1, alpha=0.025, steps=5, random_start=False)  # deterministic
    x_val, y_val = digits_split["x_test"][:200], digits_split["y_test"][:200]
    x_val_adv = pgd(x_val, y_val)
    result = train_estimators(digits_model, digits_split["x_train"][:400], digits_split["y_train"][:400],
                              attack=pgd, epochs=3, batch_size=100, width=16, x_val=x_val, y_val=y_val,
                              x_val_adv=x_val_adv, progress=False)
    attacks = {"PGD": pgd, "FGSM": torchattacks.FGSM(digits_model, eps=0.1)}
    return result, attacks, x_val, y_val, x_val_adv


def test_analysis_rows_match_independent_counts(setup, digits_model):
    result, attacks, x, y, x_adv = setup
    digits_model.train()
    try:
        res = mi_analysis(digits_model, result.natural, result.adversarial, x, y, attacks, batch_size=100,
                          progress=False)
        assert digits_model.training  # mode restored
    finally:
        digits_model.eval()
    assert [r["attack"] for r in res.rows] == ["PGD", "FGSM"]
    with torch.no_grad():
        pred_nat = digits_model(x).argmax(1)
        pred_adv = digits_model(x_adv).argmax(1)
    pgd = res.rows[0]
    assert pgd["clean_acc"] == pytest.approx(float((pred_nat == y).float().mean()))
    assert pgd["robust_acc"] == pytest.approx(float((pred_adv == y).float().mean()))
    assert torch.equal(res.selected["PGD"], (pred_nat == y) & (pred_adv != y))
    for name in attacks:
        assert set(res.scores[name]) == {"en_nat", "en_adv", "ea_adv", "ea_nat"}
        assert all(v.shape == (200,) and torch.isfinite(v).all() for v in res.scores[name].values())
    # E_n(x, h(x)) does not depend on the attack
    torch.testing.assert_close(res.scores["PGD"]["en_nat"], res.scores["FGSM"]["en_nat"])
    sel = res.selected["PGD"]
    assert pgd["en_nat"] == pytest.approx(float(res.scores["PGD"]["en_nat"][sel].mean()), rel=1e-5)
    table = res.table()
    assert table.startswith("| attack |") and "| PGD |" in table and "| FGSM |" in table
    assert str(res) == table


def test_check_estimators_equals_the_training_check(setup, digits_model):
    result, _, x, y, x_adv = setup
    check = check_estimators(digits_model, result.natural, result.adversarial, x, y, x_adv, batch_size=100)
    assert check == result.check
    assert check.n_selected > 0 and 0.0 <= check.frac_en <= 1.0


def test_plot_writes_a_figure(setup, digits_model, tmp_path):
    result, attacks, x, y, _ = setup
    res = mi_analysis(digits_model, result.natural, result.adversarial, x[:100], y[:100],
                      [attacks["PGD"], attacks["PGD"]], progress=False)
    assert list(res.scores) == ["PGD", "PGD_2"]
    path = tmp_path / "mi.png"
    fig = plot_mi_analysis(res, path)
    assert path.stat().st_size > 1000
    assert len(fig.axes) == 4
    fig_all = plot_mi_analysis(res, selected_only=False)
    assert "100 samples" in fig_all.axes[0].get_title()


def test_plot_with_no_selected_samples(tmp_path):
    scores = {k: torch.randn(5) for k in ("en_nat", "en_adv", "ea_adv", "ea_nat")}
    res = MIAnalysis(scores={"none": scores}, selected={"none": torch.zeros(5, dtype=torch.bool)})
    fig = plot_mi_analysis(res, tmp_path / "empty.png")
    assert "no selected samples" in [t.get_text() for t in fig.axes[0].texts]


@pytest.mark.parametrize("attacks, error, match", [
    ({}, ValueError, "must not be empty"),
    ("pgd", TypeError, "dict name -> attack"),
    ({"x": 3}, TypeError, "must be callable"),
])
def test_analysis_bad_attacks(setup, digits_model, attacks, error, match):
    result, _, x, y, _ = setup
    with pytest.raises(error, match=match):
        mi_analysis(digits_model, result.natural, result.adversarial, x, y, attacks, progress=False)


def test_analysis_bad_data_and_attack_output(setup, digits_model):
    result, _, x, y, _ = setup
    with pytest.raises(ValueError, match="y must have shape"):
        mi_analysis(digits_model, result.natural, result.adversarial, x, y[:5], {"id": lambda a, b: a},
                    progress=False)
    with pytest.raises(ValueError, match="attack must return a tensor shaped like its input"):
        mi_analysis(digits_model, result.natural, result.adversarial, x, y, {"bad": lambda a, b: a[:, :, :4]},
                    progress=False)
    with pytest.raises(ValueError, match="non-empty MIAnalysis"):
        plot_mi_analysis(MIAnalysis())
