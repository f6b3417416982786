"""Evaluating one trained cell with its study's suites (``mireg.evaluate``), at the budget's size.

Each evaluation runs its suite's attacks on the first ``n`` test points and, separately, the
AutoAttack entries on the first ``n_autoattack`` of them (AutoAttack costs far more than the rest).
The worst case is the per-point AND over every attack, on the points every attack ran on; the number
of points behind every column is recorded. The reports are saved under ``eval/<evaluation>/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mireg.reproduce.studies import CLEAN, WORST, EvalBudget, Evaluation, Study

__all__ = ["selected_model", "evaluate_cell", "split_labels"]


def selected_model(result, select: str = "best"):
    """``(model, epoch)``: the run's best-validation checkpoint (``select="best"``, when the run kept
    one) or its last epoch, loaded into ``result.model``."""
    from mireg.train import load_model_weights

    if select == "best" and result.best_path is not None:
        state = load_model_weights(result.model, result.best_path)
        return result.model, int(state["epoch"])
    return result.model, len(result.history)


def split_labels(evaluation: Evaluation) -> tuple[list[str], list[str]]:
    """The reported suite labels of ``evaluation``, in suite order: ``(AutoAttack entries, the others)``."""
    from mireg.evaluation import get_suite

    suite = get_suite(evaluation.suite)
    wanted = set(evaluation.columns) if evaluation.columns is not None else set(suite.labels)
    specs = [a for a in suite.attacks if a.label in wanted]
    heavy = [a.label for a in specs if isinstance(a.attack, str) and a.attack.lower() == "autoattack"]
    return heavy, [a.label for a in specs if a.label not in heavy]


def _run_evaluation(model, test, evaluation: Evaluation, budget: EvalBudget, seed: int, directory: Path,
                    progress: bool, dataset: str) -> dict[str, Any]:
    from mireg.evaluation import evaluate, get_suite
    from mireg.evaluation.suites import threat_note

    heavy, light = split_labels(evaluation)
    common = {"suite": evaluation.suite, "eps": budget.eps.get(evaluation.name), "max_steps": budget.max_steps,
              "batch_size": budget.batch_size, "seed": seed, "progress": progress, "dataset": dataset}
    main = evaluate(model, test, n=budget.n, attacks=light, sanity=budget.sanity, **common)
    main.save(directory / "main")
    reports = [main]
    if heavy:
        n_heavy = budget.n_autoattack if budget.n_autoattack is not None else main.n
        extra = evaluate(model, test, n=min(n_heavy, main.n), attacks=heavy, sanity=False, **common)
        extra.save(directory / "autoattack")
        reports.append(extra)
    m = min(r.n for r in reports)
    worst = main.clean_correct[:m].clone()
    accuracy, counts = {CLEAN: main.clean_accuracy}, {CLEAN: main.n}
    for report in reports:
        for label, result in report.results.items():
            accuracy[label], counts[label] = result.accuracy, report.n
            worst &= result.robust[:m]
    accuracy[WORST], counts[WORST] = float(worst.double().mean()), m
    ordered = [label for label in get_suite(evaluation.suite).labels if label in accuracy]
    notes = [threat_note({"label": label, **result.config}) for r in reports for label, result in r.results.items()]
    settings = {"suite": evaluation.suite, "norm": main.norm, "eps": main.eps, "n": main.n,
                "n_autoattack": reports[1].n if heavy else None, "max_steps": budget.max_steps,
                "attacks": ordered, "skipped": {**main.skipped, **(reports[-1].skipped if heavy else {})},
                "threat_notes": [n for n in notes if n]}
    failed = sorted({f"{c.name}: {c.message}" for r in reports for c in r.failed_checks})
    return {"accuracy": accuracy, "n": counts, "failed_checks": failed, "settings": settings,
            "seconds": sum(r.meta.get("seconds", 0.0) for r in reports)}


def evaluate_cell(result, study: Study, budget: EvalBudget, seed: int, directory: Path,
                  progress: bool = True) -> dict[str, Any]:
    """Evaluate the selected checkpoint of ``result`` (a TrainResult) with each of the study's
    evaluations; returns the record fields ``selected_epoch``, ``accuracy``, ``n``, ``failed_checks``,
    ``evaluation`` (the exact settings that ran, with the seconds spent)."""
    from mireg.data import load_dataset

    model, epoch = selected_model(result, budget.select)
    cfg = result.config
    options = {k: getattr(cfg, k) for k in ("image_size", "channels") if getattr(cfg, k) is not None}
    test = load_dataset(cfg.dataset, root=cfg.data_root, split="test", **options)
    fields: dict[str, Any] = {"selected_epoch": epoch, "accuracy": {}, "n": {}, "failed_checks": {}, "evaluation": {}}
    for evaluation in study.evaluations:
        out = _run_evaluation(model, test, evaluation, budget, seed, Path(directory) / "eval" / evaluation.name,
                              progress, cfg.dataset)
        fields["accuracy"][evaluation.name] = out["accuracy"]
        fields["n"][evaluation.name] = out["n"]
        fields["failed_checks"][evaluation.name] = out["failed_checks"]
        fields["evaluation"][evaluation.name] = {**out["settings"], "seconds": out["seconds"]}
    return fields
