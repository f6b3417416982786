"""The runner: hand-counted worst case, masking detection, official AutoAttack, modes, seeds, persistence."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torchattacks
from torch import nn

import mireg
from mireg.evaluation import AttackSpec, EvaluationReport, Suite, evaluate
from mireg.evaluation.report import AttackResult, format_eps
from mireg.evaluation.sanity import check_blackbox, check_eps_curve, check_orderings


class Threshold(nn.Module):
    """Two classes on a 1-pixel image: class 1 iff x > 0.5 (logits 0 and 10 (x - 0.5))."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.scale * (x.flatten(1)[:, :1] - 0.5)
        return torch.cat([torch.zeros_like(z), z], dim=1)


X_1PX = torch.tensor([0.2, 0.45, 0.55, 0.8, 0.48, 0.3]).view(6, 1, 1, 1)
Y_1PX = torch.tensor([0, 0, 1, 1, 1, 0])


def _plus_eps(model, eps):
    return lambda x, y: (x + eps).clamp(0, 1)


def _outside_ball(model, eps):
    return lambda x, y: (x + 3 * eps).clamp(0, 1)


def _fgsm(model, eps):
    return torchattacks.FGSM(model, eps=eps)


def test_worst_case_equals_a_hand_count():
    suite = Suite("hand", "Linf", 0.1, (
        AttackSpec("FGSM", _fgsm, scaled=(), steps_keys=()),
        AttackSpec("+eps", _plus_eps, scaled=(), steps_keys=()),
        AttackSpec("outside", _outside_ball, scaled=(), steps_keys=()),
    ))
    report = evaluate(Threshold(), (X_1PX, Y_1PX), suite=suite, progress=False, sanity=False)
    # clean: point 4 (0.48, label 1) is wrong.
    assert report.clean_correct.tolist() == [True, True, True, True, False, True]
    # FGSM moves each point by 0.1 towards the boundary: points 1 and 2 flip.
    assert report.results["FGSM"].robust.tolist() == [True, False, False, True, False, True]
    # +eps only pushes up: point 1 (0.45 -> 0.55) flips.
    assert report.results["+eps"].robust.tolist() == [True, False, True, True, False, True]
    # +3 eps flips points 1 and 5 but leaves the ball: never a success, always a violation.
    outside = report.results["outside"]
    assert outside.robust.tolist() == [True, True, True, True, False, True]
    assert outside.ball_violations == 5 and outside.range_violations == 0
    assert report.worst_case.tolist() == [True, False, False, True, False, True]
    assert report.worst_case_accuracy == pytest.approx(3 / 6)
    assert report.robust_accuracy == pytest.approx({"FGSM": 3 / 6, "+eps": 4 / 6, "outside": 5 / 6})
    assert report.broken_by == [None, "FGSM", "FGSM", None, "clean", None]
    assert report.results["FGSM"].perturbation[:4].tolist() == pytest.approx([0.1] * 4)
    assert report.results["FGSM"].attacked == 5
    failed = [c.name for c in report.failed_checks]
    assert failed == ["attacks respect the threat model"]


def test_report_from_flags_hand_count():
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    result = lambda label, flags: AttackResult(label, torch.tensor(flags), y.clone(),  # noqa: E731
                                               torch.zeros(6, dtype=torch.float64), 0.0, 5)
    report = EvaluationReport("s", "Linf", 8 / 255, y, torch.tensor([0, 1, 2, 3, 9, 5]), {
        "A": result("A", [True, False, True, True, False, True]),
        "B": result("B", [True, True, False, True, False, False]),
    })
    assert report.clean_accuracy == pytest.approx(5 / 6)
    assert report.worst_case.tolist() == [True, False, False, True, False, False]
    assert report.worst_case_accuracy == pytest.approx(2 / 6)
    assert report.broken_by == [None, "A", "B", None, "clean", "B"]
    assert format_eps(8 / 255) == "8/255" and format_eps(0.5, "L2") == "0.5"


def test_pure_checks():
    ok = check_orderings({"PGD-100": 0.40, "PGD-20": 0.41, "FGSM": 0.50}, [("PGD-100", "PGD-20", "FGSM")], n=1000)
    assert ok[0].passed
    bad = check_orderings({"PGD-100": 0.45, "PGD-20": 0.41, "FGSM": 0.50}, [("PGD-100", "PGD-20", "FGSM")], n=1000)
    assert not bad[0].passed and "PGD-100" in bad[0].message
    # one sample of slack with small n
    assert check_orderings({"a": 0.51, "b": 0.50}, [("a", "b")], n=100)[0].passed
    curve = check_eps_curve([0.1, 0.2, 0.4], [0.5, 0.2, 0.0], n=100)
    assert all(c.passed for c in curve)
    stuck = check_eps_curve([0.1, 0.2, 0.4], [0.5, 0.6, 0.3], n=100)
    assert [c.passed for c in stuck] == [False, False]
    y = torch.zeros(8, dtype=torch.long)
    flags = lambda bits: torch.tensor([b == "1" for b in bits])  # noqa: E731
    white = AttackResult("w", flags("11110000"), y, torch.zeros(8), 0, 8)
    black = AttackResult("b", flags("00110000"), y, torch.zeros(8), 0, 8, config={"kind": "black-box"})
    flagged = check_blackbox({"w": white, "b": black}, torch.ones(8, dtype=torch.bool))
    assert not flagged[0].passed and flagged[0].details["only_black_box"] == 2
    # one point of slack: a single black-box-only success on 8 points is tolerated
    black.robust = flags("01110000")
    assert check_blackbox({"w": white, "b": black}, torch.ones(8, dtype=torch.bool))[0].passed


class Quantized(nn.Module):
    """A deliberately masked model: a non-differentiable input quantizer (zero input gradient)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.round(x * 4) / 4)


class Saturated(nn.Module):
    """A deliberately masked model: logits x 1e4 saturate the softmax (zero cross-entropy gradient)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * 1e4


MASKING_KW = dict(suite="infoat", attacks=["FGSM", "PGD-20"], eps=0.15, n=32, progress=False, blackbox_queries=100)


@pytest.fixture(scope="module")
def honest(digits_model, digits_split):
    return evaluate(digits_model, (digits_split["x_test"], digits_split["y_test"]), **MASKING_KW)


def test_honest_model_passes_the_masking_checks(honest):
    assert not honest.masking_suspected, honest.table()
    assert {c.name for c in honest.checks} >= {"non-zero input gradients", "accuracy vanishes at large eps",
                                               "black-box does not beat white-box", "stronger attacks score lower"}


@pytest.mark.parametrize("wrapper", [Quantized, Saturated])
def test_masked_model_trips_the_masking_checks(digits_model, digits_split, honest, wrapper):
    masked = evaluate(wrapper(digits_model), (digits_split["x_test"], digits_split["y_test"]), **MASKING_KW)
    failed = {c.name for c in masked.failed_checks}
    assert masked.masking_suspected
    assert failed >= {"non-zero input gradients", "accuracy vanishes at large eps", "black-box does not beat white-box"}
    assert "gradient masking suspected" in masked.table()
    # The masked model looks far more robust to gradient attacks than the same network unmasked.
    assert masked.robust_accuracy["PGD-20"] > honest.robust_accuracy["PGD-20"] + 0.3


def _direct_autoattack(model, x, y, eps, **overrides):
    """pyautoattack called directly, the way RobustBench does, on the clean-correct points."""
    from pyautoattack import AutoAttack as PyAutoAttack

    correct = model(x).argmax(1) == y
    adversary = PyAutoAttack(model, device="cpu", eps=eps, norm="Linf", seed=0, version="standard")
    assert adversary.attacks_to_run == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert adversary.apgd.n_iter == 100 and adversary.apgd_targeted.n_iter == 100
    assert adversary.fab.n_iter == 100 and adversary.square.n_queries == 5000
    x_adv, _ = adversary.run_standard_evaluation(x[correct], y[correct], batch_size=len(y))
    robust = torch.zeros(len(y), dtype=torch.bool)
    robust[correct] = model(x_adv).argmax(1) == y[correct]
    return robust


def _autoattack_matches_direct(model, x, y, eps):
    report = evaluate(model, (x, y), suite="robustbench-linf", eps=eps, progress=False, sanity=False)
    entry = report.results["AutoAttack"]
    assert entry.config["kwargs"] == {"norm": "Linf", "version": "standard", "n_iter": 100, "n_queries": 5000,
                                      "eps": eps}
    assert torch.equal(entry.robust, _direct_autoattack(model, x, y, eps))
    assert entry.ball_violations == 0 and report.meta["reduced_budget"] is False
    return report


def test_autoattack_is_the_official_algorithm_through_pyautoattack(digits_model, digits_split):
    # At eps 0.3 APGD-CE (100 iterations) already breaks every point: the full standard budget, fast.
    x, y = digits_split["x_test"][:8], digits_split["y_test"][:8]
    report = _autoattack_matches_direct(digits_model, x, y, 0.3)
    assert report.robust_accuracy["AutoAttack"] == 0


@pytest.mark.slow
def test_autoattack_full_standard_run_matches_pyautoattack(digits_model, digits_split):
    # At eps 0.05 points survive APGD-CE, so APGD-T, FAB-T and Square run with their full budgets.
    x, y = digits_split["x_test"][:8], digits_split["y_test"][:8]
    report = _autoattack_matches_direct(digits_model, x, y, 0.05)
    assert report.robust_accuracy["AutoAttack"] > 0


def test_autoattack_reduced_budget_runs_every_stage(digits_model, digits_split):
    from mireg.attacks import AutoAttack

    x, y = digits_split["x_test"][:8], digits_split["y_test"][:8]
    atk = AutoAttack(digits_model, eps=0.05, n_iter=4, n_queries=20)
    adversary = atk.build()
    assert adversary.apgd.n_iter == 4 and adversary.apgd.n_iter_2 == 1 and adversary.fab.n_iter == 4
    assert adversary.apgd_targeted.n_iter == 4 and adversary.square.n_queries == 20
    x_adv = atk(x, y)
    assert (x_adv - x).abs().max() <= 0.05 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    report = evaluate(digits_model, (x, y), suite="robustbench-linf", eps=0.05, max_steps=4, progress=False,
                      sanity=False)
    assert report.results["AutoAttack"].config["kwargs"]["n_iter"] == 4
    with pytest.raises(ValueError, match="version"):
        AutoAttack(digits_model, version="rand")
    with pytest.raises(ValueError, match="attacks"):
        AutoAttack(digits_model, version="custom")
    with pytest.raises(ValueError, match="attacks"):
        AutoAttack(digits_model, version="custom", attacks=["pgd"])
    with pytest.raises(ValueError, match="n_iter"):
        AutoAttack(digits_model, n_iter=0)


def test_modes_device_dtype_and_seeds_are_handled(digits_model, digits_split):
    data = (digits_split["x_test"], digits_split["y_test"])
    model = copy.deepcopy(digits_model).train()
    features = model.model.features  # the small CNN's layers (features[1] is a BatchNorm)
    features[1].eval()  # a mixed state must come back exactly
    stats = features[1].running_mean.clone()
    rng = torch.get_rng_state()
    a = evaluate(model, data, suite="quick", n=20, max_steps=3, progress=False, sanity=["eps"])
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training and not features[1].training and features[4].training
    assert torch.equal(features[1].running_mean, stats)  # attacks ran in eval mode
    b = evaluate(model, data, suite="quick", n=20, max_steps=3, progress=False, sanity=["eps"])
    for label in a.results:
        assert torch.equal(a.results[label].robust, b.results[label].robust)
        assert torch.equal(a.results[label].perturbation.nan_to_num(-1), b.results[label].perturbation.nan_to_num(-1))
    double = copy.deepcopy(digits_model).double()
    with pytest.warns(UserWarning, match="fp32"):
        c = evaluate(double, data, suite="quick", n=20, max_steps=3, progress=False, sanity=False)
    assert next(double.parameters()).dtype == torch.float64
    assert c.clean_accuracy == pytest.approx(a.clean_accuracy)


def test_report_round_trip(tmp_path, digits_model, digits_split):
    report = evaluate(digits_model, (digits_split["x_test"], digits_split["y_test"]), suite="quick", n=30,
                      max_steps=3, progress=False, dataset="digits")
    paths = report.save(tmp_path / "eval")
    assert paths["json"].name == "report.json" and paths["npz"].name == "outcomes.npz"
    summary = json.loads(paths["json"].read_text())
    assert summary["suite"] == "quick" and summary["meta"]["dataset"] == "digits"
    assert summary["worst_case_accuracy"] == pytest.approx(report.worst_case_accuracy)
    assert summary["attacks"]["PGD-20"]["config"]["citation"]
    loaded = EvaluationReport.load(tmp_path / "eval")
    assert loaded.robust_accuracy == report.robust_accuracy
    assert torch.equal(loaded.worst_case, report.worst_case)
    assert [c.to_dict() for c in loaded.checks] == [c.to_dict() for c in report.checks]
    assert loaded.table() == report.table()
    assert loaded.eps_curve == report.eps_curve
    assert mireg.evaluate is evaluate


def test_a_failing_attack_names_its_suite_entry():
    def broken(model, eps):
        def run(x, y):
            raise RuntimeError("kernel expects 3 channels")
        return run

    suite = Suite("s", "Linf", 0.1, (AttackSpec("Broken-7", broken, scaled=(), steps_keys=()),))
    with pytest.raises(RuntimeError, match="3 channels") as info:
        evaluate(Threshold(), (X_1PX, Y_1PX), suite=suite, progress=False, sanity=False)
    assert any("Broken-7" in note for note in getattr(info.value, "__notes__", ["Broken-7"]))


@pytest.mark.cuda
def test_evaluate_on_cuda_moves_the_model_back(digits_model, digits_split):
    model = copy.deepcopy(digits_model)
    data = (digits_split["x_test"], digits_split["y_test"])
    gpu = evaluate(model, data, suite="quick", n=64, max_steps=5, device="cuda", progress=False)
    cpu = evaluate(model, data, suite="quick", n=64, max_steps=5, device="cpu", progress=False)
    assert next(model.parameters()).device.type == "cpu"
    assert gpu.meta["device"] == "cuda" and gpu.clean_accuracy == pytest.approx(cpu.clean_accuracy)
    assert abs(gpu.worst_case_accuracy - cpu.worst_case_accuracy) <= 2 / 64
