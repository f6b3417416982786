"""The runner's per-entry threat models: ``threat="wasserstein"`` counts a success only within the
attack's own transport budget (never by the suite's L-inf ball), hand-counted and on the real FWA-40."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mireg.attacks import WassersteinPGD
from mireg.evaluation import AttackSpec, EvaluationReport, Suite, evaluate
from mireg.evaluation.suites import threat_note


class Threshold(nn.Module):
    """Two classes on a 1-pixel image: class 1 iff x > 0.5."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.scale * (x.flatten(1)[:, :1] - 0.5)
        return torch.cat([torch.zeros_like(z), z], dim=1)


X = torch.tensor([0.2, 0.45, 0.55, 0.8, 0.48, 0.3]).view(6, 1, 1, 1)
Y = torch.tensor([0, 0, 1, 1, 1, 0])


class Mirror:
    """Flips every point (x -> 1 - x, far outside the L-inf ball of 0.1) and reports a transport cost of
    half its budget for dark points (x < 0.5) and twice its budget for bright ones."""

    def __init__(self, model: nn.Module, eps: float) -> None:
        self.eps = eps

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.last_budget = self.eps * x.flatten(1).sum(1)
        self.last_cost = self.last_budget * torch.where(x.flatten(1)[:, 0] < 0.5, 0.5, 2.0)
        return 1 - x


def mirror(model, eps):
    return Mirror(model, eps)


def _suite(threat: str) -> Suite:
    return Suite("w", "Linf", 0.1, (AttackSpec("Mirror", mirror, scaled=(), steps_keys=(), threat=threat),))


def test_a_success_over_the_transport_budget_does_not_count():
    report = evaluate(Threshold(), (X, Y), suite=_suite("wasserstein"), progress=False, sanity=False)
    result = report.results["Mirror"]
    # every clean-correct point (0, 1, 2, 3, 5) is misclassified after the mirror; points 2 and 3
    # (bright) report twice their budget: not successes, and counted as violations of the threat model.
    assert report.clean_correct.tolist() == [True, True, True, True, False, True]
    assert result.robust.tolist() == [False, False, True, True, False, False]
    assert result.ball_violations == 2 and result.range_violations == 0
    # the recorded size is the transport cost per unit of image mass: 0.5 eps or 2 eps
    assert result.perturbation[[0, 1, 2, 3, 5]].tolist() == pytest.approx([0.05, 0.05, 0.2, 0.2, 0.05])
    assert [c.name for c in report.failed_checks] == ["attacks respect the threat model"]
    assert "Wasserstein threat model" in report.table() and "L-inf size is not bounded" in report.table()


def test_the_same_attack_under_the_norm_threat_model_counts_nothing():
    report = evaluate(Threshold(), (X, Y), suite=_suite("norm"), progress=False, sanity=False)
    result = report.results["Mirror"]
    # |1 - 2x| <= 0.1 only for points 1 and 2 (0.45 <-> 0.55): the other three mirrors leave the L-inf ball
    assert result.robust.tolist() == [True, False, False, True, False, True]
    assert result.ball_violations == 3
    assert "Wasserstein" not in report.table()


def test_an_attack_without_a_certificate_is_refused_by_name():
    def plain(model, eps):
        return lambda x, y: 1 - x

    suite = Suite("w", "Linf", 0.1, (AttackSpec("NoCert", plain, scaled=(), steps_keys=(), threat="wasserstein"),))
    with pytest.raises(ValueError, match="NoCert.*last_cost and last_budget"):
        evaluate(Threshold(), (X, Y), suite=suite, progress=False, sanity=False)


def test_threat_arguments_are_checked():
    with pytest.raises(ValueError, match="threat"):
        AttackSpec("x", mirror, threat="l1")
    with pytest.raises(ValueError, match="bounded=True"):
        AttackSpec("x", mirror, threat="wasserstein", bounded=False)
    assert threat_note({"label": "PGD", "threat": "norm"}) is None
    note = threat_note({"label": "FWA-40", "threat": "wasserstein", "kwargs": {"eps": 8 / 255, "kernel_size": 4}})
    assert note.startswith("FWA-40: Wasserstein threat model (eps = 8/255") and "window 4" in note


def test_fwa40_counts_exactly_the_certified_misclassifications(tmp_path, digits_model, digits_split):
    x, y = digits_split["x_test"][:48], digits_split["y_test"][:48]
    eps = 0.1
    report = evaluate(digits_model, (x, y), suite="namid-linf", eps=eps, attacks=["FWA-40"], max_steps=4,
                      progress=False, sanity=False)
    result = report.results["FWA-40"]
    kwargs = result.config["kwargs"]
    assert result.config["threat"] == "wasserstein" and kwargs["eps"] == eps and kwargs["steps"] == 4
    # by hand: the same attack (deterministic: no random start) on the clean-correct points
    correct = report.clean_correct
    atk = WassersteinPGD(digits_model, **kwargs)
    adv = atk(x[correct], y[correct])
    with torch.no_grad():
        wrong = digits_model(adv).argmax(1) != y[correct]
    certified = atk.last_cost.double() <= atk.last_budget.double() * (1 + 1e-5) + 1e-7
    expected = correct.clone()
    expected[correct] = ~(wrong & certified)
    assert torch.equal(result.robust, expected)
    assert result.ball_violations == 0 and int(wrong.sum()) > 0
    # successes outside the suite's L-inf ball count: the norm check would have rejected them
    linf = (adv - x[correct]).flatten(1).abs().amax(1)
    assert bool((linf[wrong] > eps).any())
    assert torch.allclose(result.perturbation[correct], (atk.last_cost / x[correct].flatten(1).sum(1)).double())
    report.save(tmp_path)
    assert EvaluationReport.load(tmp_path).table() == report.table()
