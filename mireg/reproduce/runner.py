"""``reproduce(study, budget, seeds)``: train every (method, seed) cell, evaluate it, write the report.

For each seed, for each selected arm (study order):

1. skip the cell when its ``cell.json`` is finished (:mod:`mireg.reproduce.cells`) and was made with
   the same training settings;
2. arms that need NAMID's estimators: make sure the study's ``estimators_from`` arm (AT) of the same
   seed is trained (training it, or resuming it, when needed), then train the estimators on its
   selected checkpoint once per seed (:func:`ensure_estimators`);
3. train with ``resume=True`` (an interrupted run continues from its ``last.pt``); a run whose loss
   turns NaN is recorded as a ``failed`` cell with the engine's message, never retried silently;
4. evaluate the selected checkpoint with each evaluation's suite on the test split (AutoAttack entries
   on their own number of points), record accuracies, point counts and training cost, and write
   ``cell.json`` last.

The report is then rebuilt from ``study.json`` and all finished cells (:mod:`mireg.reproduce.report`).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mireg.reproduce.cells import (
    CELL_FILE,
    CELL_FORMAT,
    cell_dir,
    prepare_out,
    read_cell,
    read_json,
    train_fingerprint,
    write_json,
)
from mireg.reproduce.evaluate import evaluate_cell, selected_model
from mireg.reproduce.studies import Arm, Budget, Study, get_study
from mireg.utils.device import resolve_device

__all__ = ["reproduce", "default_out_dir", "check_available", "seed_list", "ensure_estimators", "run_cell"]

FAST_RECIPES_HINT = ("the fast CIFAR-10 recipes (fast-at-resnet18, fast-trades-resnet18, fast-mart-resnet18, "
                     "fast-mart+-resnet18, fast-infoat-resnet18) are not part of this mireg version yet; "
                     "use --budget smoke or --budget paper")


@dataclasses.dataclass
class _Run:
    """Everything one call of :func:`reproduce` shares."""

    study: Study
    budget: Budget
    out: Path
    device: str
    progress: bool
    data_root: str | None = None
    download: bool = False

    def config(self, arm: Arm, seed: int):
        """The TrainConfig of ``arm`` at ``seed``, training into its cell folder with ``resume=True`` ("auto"
        data settings resolved, as the engine writes them into the cell's config.json)."""
        from mireg.runs import with_data_defaults
        from mireg.train import build_config

        recipe, overrides = self.study.train_settings(arm, self.budget)
        overrides.update(seed=seed, out_dir=str(cell_dir(self.out, arm.key, seed)), device=self.device,
                         progress=self.progress, resume=True)
        if self.data_root is not None:
            overrides["data_root"] = self.data_root
        if self.download:
            overrides["download"] = True
        return with_data_defaults(build_config(recipe, overrides=overrides))

    def say(self, message: str) -> None:
        if self.progress:
            print(f"[reproduce {self.study.name}/{self.budget.name}] {message}", file=sys.stderr, flush=True)


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``5`` -> ``[0, 1, 2, 3, 4]``; a list of seeds is checked (ints >= 0, no repeats) and sorted."""
    if isinstance(seeds, bool) or not isinstance(seeds, (int, Sequence)) or isinstance(seeds, str):
        raise TypeError(f"seeds must be a count (int) or a list of ints, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {seeds}")
        return list(range(seeds))
    values = list(seeds)
    if not values or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in values):
        raise ValueError(f"seeds must be a non-empty list of ints >= 0, got {values!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"seeds must not repeat, got {values!r}")
    return sorted(values)


def check_available(study: Study, budget: Budget, arms: Sequence[Arm]) -> None:
    """Every recipe, method and suite the run needs is registered, and every reported column exists."""
    import mireg.evaluation  # noqa: F401  (registers the suites)
    import mireg.train  # noqa: F401  (registers the recipes and methods)
    from mireg.registry import METHODS, RECIPES, SUITES

    needed = list(arms)
    if any(a.needs_estimators for a in arms):
        needed.append(study.arm(study.estimators_from))
    for arm in needed:
        recipe = budget.recipes[arm.name]
        if recipe not in RECIPES:
            hint = FAST_RECIPES_HINT if budget.name == "fast" else f"known recipes: {', '.join(RECIPES.names())}"
            raise ValueError(f"budget {budget.name!r} of study {study.name!r} trains {arm.name} with recipe "
                             f"{recipe!r}, which is not registered: {hint}")
        METHODS.get(arm.method)
    for ev in study.evaluations:
        labels = SUITES.create(ev.suite).labels
        unknown = [c for c in ev.columns or () if c not in labels]
        if unknown:
            raise ValueError(f"evaluation {ev.name!r} of study {study.name!r} reports {unknown}, which suite "
                             f"{ev.suite!r} does not have; its attacks are {labels}")


def default_out_dir(study: str, budget: str) -> Path:
    """``runs/reproduce/<study>-<budget>``.

    Args:
        study: the study's name.
        budget: the budget's name.

    Returns:
        The default output folder.

    Examples:
        >>> from mireg.reproduce import default_out_dir
        >>> default_out_dir("infoat-table2", "smoke").as_posix()
        'runs/reproduce/infoat-table2-smoke'
    """
    return Path("runs", "reproduce", f"{study}-{budget}")


def reproduce(study: str | Study, budget: str = "smoke", seeds: int | Sequence[int] = 5,
              methods: str | Sequence[str] | None = None, out_dir: str | Path | None = None,
              device: str = "auto", progress: bool = True, *, data_root: str | None = None,
              download: bool = False) -> dict[str, Any]:
    """Reproduce ``study`` at ``budget`` over ``seeds``; resumable; returns the report (a dict).

    Args:
        study: a registered study name (``"infoat-table2"``, ``"namid-table1"``) or a :class:`Study`.
        budget: ``"smoke"`` (CPU, digits), ``"fast"`` (one GPU, fast CIFAR-10 recipes) or ``"paper"``.
        seeds: a count (``5`` = seeds 0-4) or a list of seeds.
        methods: only these arms (``"at,infoat"`` or a list), e.g. to split a study over machines; the
            output folders are combined with :func:`mireg.reproduce.merge`.
        out_dir: the output folder (default ``runs/reproduce/<study>-<budget>``); rerunning into it
            skips finished cells and resumes interrupted ones.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        progress: progress bars and one line per step on stderr.
        data_root: where CIFAR-10 lives (the fast and paper budgets).
        download: fetch CIFAR-10 when it is missing.

    Returns:
        The report (also in ``out_dir/report.json`` and ``report.md``).

    Examples:
        The smoke budget trains every arm on the digits for minutes, so it is not run here:

        >>> from mireg.reproduce import reproduce
        >>> report = reproduce("infoat-table2", "smoke", seeds=5, out_dir="runs/infoat-smoke")  # doctest: +SKIP
        >>> print(open("runs/infoat-smoke/report.md").read())  # doctest: +SKIP
    """
    from mireg.reproduce.report import write_report

    study = get_study(study)
    the_budget = study.budget(budget)
    arms = study.select(methods)
    seeds = seed_list(seeds)
    resolve_device(device)  # a bad device string is refused before any cell runs
    check_available(study, the_budget, arms)
    out = Path(out_dir) if out_dir is not None else default_out_dir(study.name, budget)
    prepare_out(out, study.describe(the_budget))
    run = _Run(study, the_budget, out, device, progress, data_root, download)
    start = time.perf_counter()
    for seed in seeds:
        for arm in arms:
            run_cell(run, arm, seed)
    run.say(f"all {len(arms) * len(seeds)} cells finished in {time.perf_counter() - start:.0f} s; writing the report")
    return write_report(out)


def _check_settings(directory: Path, saved: dict[str, Any] | None, config) -> None:
    now = train_fingerprint(config.to_dict())
    if saved is not None and saved != now:
        changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        raise ValueError(f"{str(directory)!r} was trained with other settings ({', '.join(changed)}) than "
                         "requested now; use another --out folder, or delete that cell folder to redo it")


def _checked_config(run: _Run, arm: Arm, seed: int):
    """``(config, finished record or None)`` of a cell, after checking that what its folder already
    holds (a finished record, or a partial run's ``config.json``) was made with the same settings."""
    directory = cell_dir(run.out, arm.key, seed)
    config = run.config(arm, seed)
    record = read_cell(directory)
    partial = read_json(directory / "config.json")
    if record is not None:
        _check_settings(directory, record["train"], config)
    elif isinstance(partial, dict):
        _check_settings(directory, train_fingerprint(partial), config)
    return config, record


def run_cell(run: _Run, arm: Arm, seed: int) -> dict[str, Any]:
    """Train and evaluate one (arm, seed) cell unless it is finished; returns its record."""
    directory = cell_dir(run.out, arm.key, seed)
    config, record = _checked_config(run, arm, seed)
    if record is not None:
        run.say(f"{arm.name} seed {seed}: finished earlier ({record['status']}), skipped")
        return record
    estimator_seconds = None
    if arm.needs_estimators:
        path, info = ensure_estimators(run, seed, arm.estimator_objective)
        config = config.replace(estimators=str(path))
        estimator_seconds = info.get("seconds")
    record = {"format": CELL_FORMAT, "study": run.study.name, "budget": run.budget.name, "arm": arm.name,
              "method": arm.method, "seed": seed, "train": train_fingerprint(config.to_dict()), "error": None,
              "evaluation": {}, "selected_epoch": None, "accuracy": {}, "n": {}, "failed_checks": {}}
    result, cost = _train(run, arm, seed, config)
    cost["estimator_seconds"] = estimator_seconds
    record["cost"] = cost
    if isinstance(result, str):
        record.update(status="failed", error=result)
    else:
        run.say(f"{arm.name} seed {seed}: evaluating")
        record.update(status="done", **evaluate_cell(result, run.study, run.budget.evaluation, seed,
                                                     directory, run.progress))
    write_json(directory / CELL_FILE, record)
    return record


def _train(run: _Run, arm: Arm, seed: int, config) -> tuple[Any, dict[str, Any]]:
    """Train (or resume) one cell: ``(TrainResult, cost)``, or ``(error message, cost)`` on a NaN loss."""
    from mireg.train import NonFiniteLossError, train

    before = read_json(Path(config.out_dir) / "metrics.json")
    resumed = len(before["epochs"]) if isinstance(before, dict) and before.get("epochs") else 0
    run.say(f"{arm.name} seed {seed}: training ({config.recipe}, {config.epochs} epochs"
            f"{f', resuming after epoch {resumed}' if resumed else ''})")
    start = time.perf_counter()
    try:
        outcome = train(config)
        history, device = outcome.history, str(next(outcome.model.parameters()).device)
    except NonFiniteLossError as err:
        run.say(f"{arm.name} seed {seed}: FAILED: {err}")
        saved = read_json(Path(config.out_dir) / "metrics.json")
        outcome, history, device = str(err), (saved or {}).get("epochs") or [], config.device
    wall = time.perf_counter() - start
    seconds = sum(row.get("train_seconds") or 0.0 for row in history)
    images = sum((row.get("images_per_second") or 0.0) * (row.get("train_seconds") or 0.0) for row in history)
    return outcome, {"train_seconds": seconds, "images_per_second": images / seconds if seconds else None,
                     "wall_seconds": wall, "epochs": len(history), "resumed_after_epoch": resumed,
                     "device": device}


def ensure_estimators(run: _Run, seed: int, objective: str | None = None) -> tuple[Path, dict[str, Any]]:
    """NAMID's estimators of ``seed``: trained once on the selected checkpoint of the study's
    ``estimators_from`` arm (AT) of the same seed, which is trained (or resumed) first if needed.
    ``objective`` other than the budget's (an arm's ``estimator_objective``) trains another pair, in
    ``estimators/seed<k>-<objective>``.

    Returns ``(estimators.pt, info)``; ``estimators.json`` (info) is written last and marks them finished.
    """
    from mireg.data import load_dataset, split_validation
    from mireg.estimators import default_attack, save_estimators, train_estimators
    from mireg.train import train

    settings = run.budget.estimators
    own = objective is not None and objective != settings.objective
    if own:
        settings = dataclasses.replace(settings, objective=objective)
    directory = run.out / "estimators" / (f"seed{seed}-{objective}" if own else f"seed{seed}")
    path, info_path = directory / "estimators.pt", directory / "estimators.json"
    info = read_json(info_path)
    if isinstance(info, dict) and info.get("complete") and path.is_file():
        return path, info
    source = run.study.arm(run.study.estimators_from)
    run.say(f"estimators of seed {seed}: on the {source.name} model of seed {seed} (trained first if needed)")
    result = train(_checked_config(run, source, seed)[0])
    model, epoch = selected_model(result, run.budget.evaluation.select)
    cfg = result.config
    options = {k: getattr(cfg, k) for k in ("image_size", "channels") if getattr(cfg, k) is not None}
    data = load_dataset(cfg.dataset, root=cfg.data_root, split="train", **options)
    train_data, val_data = split_validation(data, cfg.val_size, seed=cfg.seed) if cfg.val_size else (data, None)
    attack = default_attack(model, eps=cfg.eps, alpha=cfg.eps / 4, steps=settings.attack_steps)
    start = time.perf_counter()
    res = train_estimators(model, train_data.float(), train_data.y, attack=attack, epochs=settings.epochs,
                           batch_size=settings.batch_size, lr=settings.lr, objective=settings.objective,
                           x_val=None if val_data is None else val_data.float(),
                           y_val=None if val_data is None else val_data.y,
                           progress=run.progress, seed=seed, width=settings.width)
    seconds = time.perf_counter() - start
    classifier = {"arm": source.name, "seed": seed, "epoch": epoch}
    save_estimators(path, res.natural, res.adversarial, {**res.metadata, "classifier": classifier})
    check = None if res.check is None else {**dataclasses.asdict(res.check), "passed": res.check.passed}
    info = {"complete": True, "seconds": seconds, "classifier": classifier, "settings": dataclasses.asdict(settings),
            "attack": {"name": "pgd", "eps": cfg.eps, "alpha": cfg.eps / 4, "steps": settings.attack_steps},
            "check": check, "history": res.history}
    write_json(info_path, info)
    return path, info
