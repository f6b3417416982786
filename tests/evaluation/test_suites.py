"""Evaluation suites: the papers' hyperparameters, every attack in its ball and [0, 1], every suite runs."""

from __future__ import annotations

import math

import pytest
import torch
import torchattacks
from torch import nn

import mireg  # noqa: F401  (compat first)
from mireg.evaluation import AttackSpec, Suite, evaluate, get_suite
from mireg.registry import SUITES

PAPER_SUITES = ("infoat", "namid-linf", "namid-l2", "quick", "blackbox", "robustbench-linf", "robustbench-l2")



class Tiny3(nn.Module):
    """A 3-channel 8x8 classifier (TI-DIM's kernel is built for 3 channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(8 * 64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 3) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(128):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def rgb(digits_split):
    xtr = digits_split["x_train"].expand(-1, 3, -1, -1).contiguous()
    xte = digits_split["x_test"].expand(-1, 3, -1, -1).contiguous()
    torch.manual_seed(1)
    target = _train(Tiny3(), xtr, digits_split["y_train"])
    torch.manual_seed(2)
    surrogate = _train(Tiny3(), xtr, digits_split["y_train"])
    return {"x": xte, "y": digits_split["y_test"], "model": target, "surrogate": surrogate}


def test_registered_suites():
    assert set(PAPER_SUITES) <= set(SUITES.names())
    for name in PAPER_SUITES:
        suite = get_suite(name)
        assert suite.name == name and suite.citation
        assert all(spec.citation for spec in suite.attacks)


def test_infoat_and_namid_suites_keep_their_structure():
    # the per-entry settings are checked against the papers' text in test_paper_suites.py
    suite = get_suite("infoat")
    assert suite.norm == "Linf" and suite.eps == pytest.approx(8 / 255)
    assert ("PGD-100", "PGD-20", "FGSM") in suite.orderings
    l2 = get_suite("namid-l2")
    assert l2.norm == "L2" and l2.eps == 0.5
    quick = {e.label: dict(e.kwargs) for e in get_suite("quick").resolve()}
    assert quick["PGD-20"]["steps"] == 20 and quick["APGD-CE"]["steps"] == 100


def test_resolve_scales_steps_with_eps_and_caps_budgets():
    suite = get_suite("infoat")
    half = {e.label: e.kwargs for e in suite.resolve(eps=4 / 255)}
    assert half["PGD-20"]["eps"] == pytest.approx(4 / 255)
    assert half["PGD-20"]["alpha"] == pytest.approx(1 / 255)
    assert half["PGD+"]["alpha"] == pytest.approx(0.005)
    capped = {e.label: e.kwargs for e in suite.resolve(max_steps=3)}
    assert capped["PGD-100"]["steps"] == 3 and capped["AutoAttack"]["n_queries"] == 3
    # a capped PGD gets a step of 2.5 eps / steps so it can still reach the boundary; never a smaller one
    assert capped["PGD-20"]["alpha"] == pytest.approx(2.5 * (8 / 255) / 3)
    assert suite.resolve(max_steps=50)[1].kwargs == {"alpha": 2 / 255, "steps": 20, "random_start": True,
                                                      "eps": 8 / 255}
    assert {e.label: e.kwargs for e in suite.resolve(max_steps=50)}["PGD-100"]["alpha"] == 2 / 255
    only = suite.resolve(only=["FGSM", "PGD-20"])
    assert [e.label for e in only] == ["FGSM", "PGD-20"]


@pytest.mark.parametrize("name", PAPER_SUITES)
def test_every_attack_respects_its_ball_and_range(rgb, name):
    suite = get_suite(name)
    torch.manual_seed(0)
    x, y = rgb["x"][:6], rgb["y"][:6]
    for entry in suite.resolve(max_steps=2):
        attack = entry.build(rgb["model"], surrogate=rgb["surrogate"])
        x_adv = attack(x, y)
        assert x_adv.shape == x.shape and x_adv.dtype == torch.float32, entry.label
        assert x_adv.min() >= 0 and x_adv.max() <= 1, entry.label
        delta = (x_adv - x).flatten(1)
        if entry.spec.threat == "wasserstein":  # bounded by its transport budget, not by a norm
            assert (attack.last_cost <= attack.last_budget * (1 + 1e-5) + 1e-7).all(), entry.label
        elif entry.spec.bounded:
            size = delta.abs().amax(1) if entry.norm == "Linf" else delta.norm(dim=1)
            assert (size <= entry.eps * (1 + 1e-4) + 1e-6).all(), (entry.label, size.max().item(), entry.eps)
        assert rgb["model"].training is False


@pytest.mark.parametrize("name", ["infoat", "namid-linf", "namid-l2", "quick", "blackbox"])
def test_every_suite_runs_through_evaluate(rgb, name):
    model = rgb["model"]
    report = evaluate(model, (rgb["x"], rgb["y"]), suite=name, n=12, max_steps=2, progress=False,
                      surrogate=rgb["surrogate"], sanity=False)
    assert list(report.results) == get_suite(name).labels
    assert report.meta["reduced_budget"] is True and "REDUCED BUDGET" in report.table()
    for label, r in report.results.items():
        assert r.ball_violations == 0 and r.range_violations == 0, label
        assert r.accuracy <= report.clean_accuracy + 1e-12
        assert report.worst_case_accuracy <= r.accuracy + 1e-12
        assert r.attacked == int(report.clean_correct.sum())
    assert not model.training


def test_custom_suite_with_a_factory(rgb):
    calls = []

    def identity_attack(model, eps):
        def run(x, y):
            calls.append(len(y))
            return x.clone()
        return run

    suite = Suite("custom", "Linf", 0.1, (AttackSpec("identity", identity_attack, scaled=(), steps_keys=()),))
    report = evaluate(rgb["model"], (rgb["x"], rgb["y"]), suite=suite, n=20, progress=False, sanity=False)
    # An attack that does nothing leaves exactly the clean-correct points robust.
    assert torch.equal(report.results["identity"].robust, report.clean_correct)
    assert sum(calls) == int(report.clean_correct.sum())


def test_transfer_needs_a_surrogate(rgb):
    report = evaluate(rgb["model"], (rgb["x"], rgb["y"]), suite="blackbox", n=8, max_steps=2, progress=False,
                      sanity=False)
    assert "Transfer-PGD-40" in report.skipped and "SPSA" in report.results
    with pytest.raises(ValueError, match="surrogate"):
        evaluate(rgb["model"], (rgb["x"], rgb["y"]), suite="blackbox", n=4, surrogate=rgb["model"])


def test_transfer_never_queries_the_target(rgb):
    from mireg.attacks import TransferAttack

    class Counting(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model, self.calls = model, 0

        def forward(self, x):
            self.calls += 1
            return self.model(x)

    target = Counting(rgb["model"])
    x, y = rgb["x"][:6], rgb["y"][:6]
    atk = TransferAttack(target, surrogate=rgb["surrogate"], attack="pgd", eps=0.1,
                         attack_kwargs={"alpha": 0.05, "steps": 3})
    x_adv = atk(x, y)
    assert target.calls == 0
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    # the same examples as attacking the surrogate directly with the same seed
    torch.manual_seed(0)
    again = TransferAttack(target, surrogate=rgb["surrogate"], attack="pgd", eps=0.1,
                           attack_kwargs={"alpha": 0.05, "steps": 3, "random_start": False})(x, y)
    direct = torchattacks.PGD(rgb["surrogate"], eps=0.1, alpha=0.05, steps=3, random_start=False)(x, y)
    assert torch.equal(again, direct)
    with pytest.raises(TypeError, match="surrogate"):
        TransferAttack(target, surrogate=None)
    with pytest.raises(ValueError, match="separately trained"):
        TransferAttack(target, surrogate=target)


def test_bad_suite_arguments():
    with pytest.raises(ValueError, match="unknown evaluation suite"):
        get_suite("infoatt")
    with pytest.raises(ValueError, match="eps"):
        get_suite("quick").resolve(eps=-1.0)
    with pytest.raises(ValueError, match="max_steps"):
        get_suite("quick").resolve(max_steps=0)
    with pytest.raises(ValueError, match="only names attacks"):
        get_suite("quick").resolve(only=["PGD-7"])
    with pytest.raises(ValueError, match="norm"):
        Suite("x", "L1", 0.1, ())
    with pytest.raises(ValueError, match="duplicate"):
        Suite("x", "Linf", 0.1, (AttackSpec("a", "pgd"), AttackSpec("a", "fgsm")))
    with pytest.raises(ValueError, match="ordering"):
        Suite("x", "Linf", 0.1, (AttackSpec("a", "pgd"),), orderings=(("a", "b"),))
    with pytest.raises(ValueError, match="restarts"):
        AttackSpec("a", "pgd", restarts=0)
    with pytest.raises(ValueError, match="kind"):
        AttackSpec("a", "pgd", kind="grey-box")
    assert math.isclose(get_suite("robustbench-l2").eps, 0.5)


def test_bad_evaluate_arguments(rgb):
    data = (rgb["x"], rgb["y"])
    with pytest.raises(TypeError, match="model"):
        evaluate(lambda x: x, data)
    with pytest.raises(TypeError, match="data"):
        evaluate(rgb["model"], rgb["x"])
    with pytest.raises(ValueError, match="n="):
        evaluate(rgb["model"], data, n=10**6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        evaluate(rgb["model"], (rgb["x"] * 2, rgb["y"]))
    with pytest.raises(ValueError, match="sanity"):
        evaluate(rgb["model"], data, n=4, sanity=["gradient"])
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(rgb["model"], data, n=4, batch_size=0)
