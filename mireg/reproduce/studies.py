"""Studies as data: a paper's table or ablation, its methods, its evaluation and its budgets.

A :class:`Study` says WHAT is compared (its :class:`Arm` s, the baseline they are paired with, the
:class:`Evaluation` s with the paper's numbers) and, per :class:`Budget`, HOW MUCH is spent (the recipe
of every arm, training overrides, the evaluation budget, NAMID's estimator training). The runner
(:func:`mireg.reproduce.reproduce`) has one code path for every study; a new table or ablation is
one more registered ``Study``::

    from mireg.reproduce import STUDIES, get_study
    study = get_study("infoat-table2")
    [arm.name for arm in study.arms]           # ['AT', 'TRADES', 'MART', 'MART+', 'InfoAT']
    study.budget("smoke").recipes["InfoAT"]      # 'digits-infoat'

Training settings of an arm, later wins: the budget's recipe for the arm -> ``budget.overrides`` ->
``arm.overrides`` -> ``budget.arm_overrides[arm]`` -> the runner's (seed, out_dir, device, estimators).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from mireg.registry import Registry

__all__ = ["Arm", "Evaluation", "EvalBudget", "EstimatorBudget", "Budget", "Study", "STUDIES", "BUDGETS",
           "get_study", "register_study"]

#: Budget names every study defines: ``smoke`` (CPU, digits), ``fast`` (one GPU, fast CIFAR-10
#: recipes), ``paper`` (the papers' own recipes).
BUDGETS = ("smoke", "fast", "paper")
#: Columns every evaluation reports besides its suite's attacks.
CLEAN, WORST = "clean", "worst case"

STUDIES = Registry("study")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def _check_name(kind: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{kind} must be a non-empty string, got {value!r}")
    return value


def _check_count(name: str, value: object, *, low: int = 1, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}{' or None' if allow_none else ''}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Arm:
    """One compared method of a study.

    Args:
        name: the row label, as the paper writes it (``"NAMID_T"``); ``--methods`` matches it
            case-insensitively.
        method: a name in :data:`mireg.registry.METHODS`.
        overrides: training settings in every budget (the method's weights, e.g. ``{"beta": 6.0}``).
        needs_estimators: train NAMID's estimators on the study's ``estimators_from`` arm (same seed)
            first, and train this arm with ``estimators=<that file>``.
    """

    name: str
    method: str
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    needs_estimators: bool = False

    def __post_init__(self) -> None:
        _check_name("arm name", self.name)
        _check_name(f"method of arm {self.name!r}", self.method)
        object.__setattr__(self, "overrides", _frozen(self.overrides))

    @property
    def key(self) -> str:
        """The arm's folder and ``--methods`` name: lower case, ``/`` and spaces replaced."""
        return self.name.lower().replace("/", "-").replace(" ", "-")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One threat model a study reports: a suite, the columns shown and the paper's numbers.

    Args:
        name: short name (``"linf"``, ``"l2"``), used in folders and headings.
        suite: a name in :data:`mireg.registry.SUITES`.
        columns: the suite labels reported (None: all of them); ``clean`` and ``worst case`` always.
        paper: the paper's numbers in percent, ``{arm name: {column: value or None}}``; None = not
            filled in (shown as ``-``). A column the suite lacks is listed under the table.
    """

    name: str
    suite: str
    columns: tuple[str, ...] | None = None
    paper: Mapping[str, Mapping[str, float | None]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("evaluation name", self.name)
        _check_name(f"suite of evaluation {self.name!r}", self.suite)
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "paper", _frozen({k: _frozen(v) for k, v in self.paper.items()}))


@dataclasses.dataclass(frozen=True)
class EvalBudget:
    """How much of a suite runs on each trained model.

    Args:
        n: the first ``n`` test points for every attack (None: the whole test split).
        n_autoattack: the first ``n_autoattack`` of them for AutoAttack entries (None: ``n``); the
            worst case is taken over the points every attack ran on.
        max_steps: cap on every iteration / query budget (``mireg.evaluate(max_steps=)``); a capped run
            is a smoke test, never a claim, and the report says so at the top.
        eps: ``{evaluation name: radius}`` (missing: the suite's own, 8/255 or 0.5).
        batch_size: attack batch size.
        sanity: gradient-masking probes to run (``mireg.evaluate(sanity=)``); the checks computed from
            the suite's own results always run.
        select: evaluate the ``"best"`` validation checkpoint or the ``"last"`` epoch.
    """

    n: int | None = None
    n_autoattack: int | None = None
    max_steps: int | None = None
    eps: Mapping[str, float] = dataclasses.field(default_factory=dict)
    batch_size: int = 256
    sanity: bool | tuple[str, ...] = False
    select: str = "best"

    def __post_init__(self) -> None:
        _check_count("n", self.n)
        _check_count("n_autoattack", self.n_autoattack)
        _check_count("max_steps", self.max_steps)
        _check_count("batch_size", self.batch_size, allow_none=False)
        if self.n is not None and self.n_autoattack is not None and self.n_autoattack > self.n:
            raise ValueError(f"n_autoattack={self.n_autoattack} must not exceed n={self.n}")
        if self.select not in ("best", "last"):
            raise ValueError(f"select must be 'best' or 'last', got {self.select!r}")
        object.__setattr__(self, "eps", _frozen(self.eps))
        if not isinstance(self.sanity, bool):
            object.__setattr__(self, "sanity", tuple(self.sanity))


@dataclasses.dataclass(frozen=True)
class EstimatorBudget:
    """NAMID's estimator training (``mireg.estimators.train_estimators``) on the AT model of a seed.

    The attack is L-inf PGD (``mireg.estimators.default_attack``) at the training eps with step
    eps/4 and ``attack_steps`` steps; the held-out check runs on the AT run's validation split.
    """

    epochs: int = 25
    batch_size: int = 400
    width: int = 2048
    lr: float = 1e-2
    objective: str = "eq5"
    attack_steps: int = 20

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "width", "attack_steps"):
            _check_count(name, getattr(self, name), allow_none=False)
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")


@dataclasses.dataclass(frozen=True)
class Budget:
    """What a study costs at one budget: the recipe per arm, overrides, evaluation, estimators.

    Args:
        name: one of :data:`BUDGETS`.
        description: one sentence for the report's head (device, data, what is reduced).
        recipes: ``{arm name: recipe name}`` for every arm (a name in :data:`mireg.registry.RECIPES`).
        overrides: training settings for every arm (e.g. ``{"epochs": 5}``).
        arm_overrides: ``{arm name: settings}`` applied last.
        evaluation: the :class:`EvalBudget`.
        estimators: the :class:`EstimatorBudget` (needed when an arm ``needs_estimators``).
    """

    name: str
    description: str
    recipes: Mapping[str, str]
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    arm_overrides: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    evaluation: EvalBudget = dataclasses.field(default_factory=EvalBudget)
    estimators: EstimatorBudget | None = None

    def __post_init__(self) -> None:
        if self.name not in BUDGETS:
            raise ValueError(f"budget name must be one of {', '.join(BUDGETS)}, got {self.name!r}")
        object.__setattr__(self, "recipes", _frozen(self.recipes))
        object.__setattr__(self, "overrides", _frozen(self.overrides))
        object.__setattr__(self, "arm_overrides", _frozen({k: _frozen(v) for k, v in self.arm_overrides.items()}))


@dataclasses.dataclass(frozen=True)
class Study:
    """A paper's table or ablation figure as data (see the module docstring).

    Args:
        name: registry name (``"infoat-table2"``).
        title: one line for the report's head.
        paper: the paper's citation.
        reproduces: the table or figure (``"Table II"``).
        kind: ``"table"`` or ``"ablation"``.
        arms: the compared methods, in the paper's row order.
        baseline: the arm every other is paired with (by seed) for the differences.
        evaluations: the threat models reported.
        budgets: one :class:`Budget` per name of :data:`BUDGETS`.
        estimators_from: the arm whose model (same seed) NAMID's estimators are trained on.
        notes: where this study departs from the paper (shown in the report).
    """

    name: str
    title: str
    paper: str
    reproduces: str
    arms: tuple[Arm, ...]
    baseline: str
    evaluations: tuple[Evaluation, ...]
    budgets: tuple[Budget, ...]
    kind: str = "table"
    estimators_from: str | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        _check_name("study name", self.name)
        if self.kind not in ("table", "ablation"):
            raise ValueError(f"kind must be 'table' or 'ablation', got {self.kind!r}")
        for field, values in (("arms", self.arms), ("evaluations", self.evaluations), ("budgets", self.budgets)):
            object.__setattr__(self, field, tuple(values))
        names = {a.name for a in self.arms}
        _unique(f"study {self.name!r} arm names", [a.key for a in self.arms])
        _unique(f"study {self.name!r} evaluations", [e.name for e in self.evaluations])
        _unique(f"study {self.name!r} budgets", [b.name for b in self.budgets])
        if not self.arms or not self.evaluations:
            raise ValueError(f"study {self.name!r} needs at least one arm and one evaluation")
        _known(f"study {self.name!r} baseline", [self.baseline], names)
        for ev in self.evaluations:
            _known(f"paper numbers of evaluation {ev.name!r}", ev.paper, names)
        needs = [a.name for a in self.arms if a.needs_estimators]
        if needs:
            _known(f"estimators_from (needed by {', '.join(needs)})", [self.estimators_from], names)
        for budget in self.budgets:
            missing = sorted(names - set(budget.recipes))
            if missing:
                raise ValueError(f"budget {budget.name!r} of study {self.name!r} has no recipe for {missing}")
            _known(f"budget {budget.name!r} arm_overrides", budget.arm_overrides, names)
            if needs and budget.estimators is None:
                raise ValueError(f"budget {budget.name!r} of study {self.name!r} needs estimator settings "
                                 f"(estimators=EstimatorBudget(...)) for {', '.join(needs)}")

    def arm(self, name: str) -> Arm:
        """The arm called ``name`` (case-insensitive, its :attr:`Arm.key` also accepted)."""
        key = str(name).strip().lower()
        for arm in self.arms:
            if key in (arm.name.lower(), arm.key):
                return arm
        raise ValueError(f"study {self.name!r} has no method {name!r}; its methods are "
                         f"{', '.join(a.key for a in self.arms)}")

    def select(self, methods: str | Sequence[str] | None = None) -> list[Arm]:
        """The arms named in ``methods`` (a comma-separated string or a list), in study order."""
        if methods is None:
            return list(self.arms)
        names = methods.split(",") if isinstance(methods, str) else list(methods)
        chosen = {self.arm(n).name for n in names if str(n).strip()}
        if not chosen:
            raise ValueError(f"methods must name at least one of {', '.join(a.key for a in self.arms)}")
        return [a for a in self.arms if a.name in chosen]

    def budget(self, name: str) -> Budget:
        """The :class:`Budget` called ``name``."""
        for budget in self.budgets:
            if budget.name == name:
                return budget
        raise ValueError(f"unknown budget {name!r} for study {self.name!r}; choose one of "
                         f"{', '.join(b.name for b in self.budgets)}")

    def train_settings(self, arm: Arm, budget: str | Budget) -> tuple[str, dict[str, Any]]:
        """``(recipe, overrides)`` of ``arm`` at ``budget`` (the runner adds seed, out_dir, device)."""
        budget = budget if isinstance(budget, Budget) else self.budget(budget)
        overrides = {**budget.overrides, **arm.overrides, **budget.arm_overrides.get(arm.name, {}),
                     "method": arm.method}
        return budget.recipes[arm.name], _plain(overrides)

    def describe(self, budget: str | Budget) -> dict[str, Any]:
        """JSON description: ``settings`` (what the numbers depend on) and the presentation."""
        budget = budget if isinstance(budget, Budget) else self.budget(budget)
        arms = []
        for arm in self.arms:
            recipe, overrides = self.train_settings(arm, budget)
            arms.append({"name": arm.name, "key": arm.key, "method": arm.method, "recipe": recipe,
                         "overrides": overrides, "needs_estimators": arm.needs_estimators})
        settings = {"study": self.name, "budget": budget.name, "arms": arms,
                    "evaluations": [{"name": e.name, "suite": e.suite,
                                     "columns": None if e.columns is None else list(e.columns)}
                                    for e in self.evaluations],
                    "evaluation_budget": _fields(budget.evaluation),
                    "estimators": None if budget.estimators is None else _fields(budget.estimators),
                    "estimators_from": self.estimators_from}
        return {"settings": settings, "title": self.title, "paper": self.paper, "reproduces": self.reproduces,
                "kind": self.kind, "baseline": self.baseline, "budget_description": budget.description,
                "notes": self.notes,
                "paper_numbers": {e.name: _plain(e.paper) for e in self.evaluations}}


def _unique(what: str, values: Sequence[str]) -> None:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"{what} must be unique, repeated: {sorted(set(seen))}")


def _known(what: str, values, known: set[str]) -> None:
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"{what} names unknown arms {unknown}; the arms are {sorted(known)}")


def _plain(value: Any) -> Any:
    """Mappings (also read-only ones) and tuples as plain dicts and lists, for JSON."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as plain JSON types (``dataclasses.asdict`` cannot copy read-only mappings)."""
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def register_study(study: Study) -> Study:
    """Add ``study`` to :data:`STUDIES` under its name."""
    if not isinstance(study, Study):
        raise TypeError(f"study must be a mireg.reproduce.Study, got {type(study).__name__}")
    STUDIES.add(study.name, study)
    return study


def get_study(study: str | Study) -> Study:
    """A registered study by name (``"infoat-table2"``), or the :class:`Study` itself."""
    if isinstance(study, Study):
        return study
    from mireg.reproduce import tables  # noqa: F401  (registers the papers' studies)

    return STUDIES.get(study)
