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
from typing import Any

from mireg.registry import Registry
from mireg.reproduce.budgets import BUDGETS, Budget, EstimatorBudget, EvalBudget, check_name, frozen_mapping

__all__ = ["Arm", "Evaluation", "Study", "STUDIES", "get_study", "register_study",
           # re-exported: the budget side of a study
           "BUDGETS", "Budget", "EstimatorBudget", "EvalBudget"]

#: Columns every evaluation reports besides its suite's attacks.
CLEAN, WORST = "clean", "worst case"

STUDIES = Registry("study")


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
        estimator_objective: train this arm's estimators with this objective (``"eq5"``,
            ``"eq5-literal"``, ``"mim"``) instead of the budget's (NAMID Fig. 7's Eq. 4 arm); None: the budget's.
    """

    name: str
    method: str
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    needs_estimators: bool = False
    estimator_objective: str | None = None

    def __post_init__(self) -> None:
        check_name("arm name", self.name)
        check_name(f"method of arm {self.name!r}", self.method)
        object.__setattr__(self, "overrides", frozen_mapping(self.overrides))
        if self.estimator_objective is not None and (
                not self.needs_estimators or self.estimator_objective not in ("eq5", "eq5-literal", "mim")):
            raise ValueError(f"estimator_objective of arm {self.name!r} must be 'eq5', 'eq5-literal' or 'mim' on an "
                             f"arm that needs_estimators, got {self.estimator_objective!r}")

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
        paper_note: what the reader must know about the paper's numbers, printed with the table: why
            they are missing, or why they are not comparable with these arms.
    """

    name: str
    suite: str
    columns: tuple[str, ...] | None = None
    paper: Mapping[str, Mapping[str, float | None]] = dataclasses.field(default_factory=dict)
    paper_note: str = ""

    def __post_init__(self) -> None:
        check_name("evaluation name", self.name)
        check_name(f"suite of evaluation {self.name!r}", self.suite)
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "paper", frozen_mapping({k: frozen_mapping(v) for k, v in self.paper.items()}))


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
        check_name("study name", self.name)
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
            if arm.estimator_objective is not None:
                arms[-1]["estimator_objective"] = arm.estimator_objective
        settings = {"study": self.name, "budget": budget.name, "arms": arms,
                    "evaluations": [{"name": e.name, "suite": e.suite,
                                     "columns": None if e.columns is None else list(e.columns),
                                     "attacks": _suite_settings(e.suite)}
                                    for e in self.evaluations],
                    "evaluation_budget": _fields(budget.evaluation),
                    "estimators": None if budget.estimators is None else _fields(budget.estimators),
                    "estimators_from": self.estimators_from}
        return {"settings": settings, "title": self.title, "paper": self.paper, "reproduces": self.reproduces,
                "kind": self.kind, "baseline": self.baseline, "budget_description": budget.description,
                "notes": self.notes,
                "paper_numbers": {e.name: _plain(e.paper) for e in self.evaluations},
                "paper_notes": {e.name: e.paper_note for e in self.evaluations}}


def _suite_settings(name: str) -> list[dict[str, Any]]:
    """What a suite's numbers depend on: every entry's attack, arguments and accounting (not its citation),
    so that a folder evaluated with other suite settings is refused rather than mixed."""
    from mireg.evaluation import get_suite

    entries = _plain(get_suite(name).describe()["attacks"])
    return [{k: v for k, v in entry.items() if k != "citation"} for entry in entries]


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
    return STUDIES.get(study)
