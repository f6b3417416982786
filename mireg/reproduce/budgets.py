"""The budget side of a study: how much training, evaluation and estimator training a run spends.

A :class:`Budget` names, for every arm of a study, the recipe it starts from and the overrides on top,
and carries an :class:`EvalBudget` (points, iteration cap, radii) and an :class:`EstimatorBudget`
(NAMID's estimators). The same three names exist in every study (:data:`BUDGETS`)::

    EvalBudget(n=100, n_autoattack=100, max_steps=10, eps={"linf": 0.1})
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["BUDGETS", "Budget", "EvalBudget", "EstimatorBudget"]

#: Budget names every study defines: ``smoke`` (CPU, digits), ``fast`` (one GPU, fast CIFAR-10
#: recipes), ``paper`` (the papers' own recipes).
BUDGETS = ("smoke", "fast", "paper")


def frozen_mapping(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def check_name(kind: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{kind} must be a non-empty string, got {value!r}")
    return value


def _check_count(name: str, value: object, *, low: int = 1, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}{' or None' if allow_none else ''}, got {value!r}")


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

    Examples:
        >>> from mireg.reproduce import EvalBudget
        >>> EvalBudget(n=1000, n_autoattack=500).select
        'best'
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
        object.__setattr__(self, "eps", frozen_mapping(self.eps))
        if not isinstance(self.sanity, bool):
            object.__setattr__(self, "sanity", tuple(self.sanity))


@dataclasses.dataclass(frozen=True)
class EstimatorBudget:
    """NAMID's estimator training (``mireg.estimators.train_estimators``) on the AT model of a seed.

    The attack is L-inf PGD (``mireg.estimators.default_attack``) at the training eps with step
    eps/4 and ``attack_steps`` steps; the held-out check runs on the AT run's validation split.

    Args:
        epochs: the estimators' epochs.
        batch_size: samples per step.
        width: the estimators' width.
        lr: Adam's learning rate.
        objective: ``train_estimators``' objective.
        attack_steps: steps of the PGD that makes the adversarial samples.

    Examples:
        >>> from mireg.reproduce import EstimatorBudget
        >>> EstimatorBudget(epochs=8, width=256).batch_size
        400
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

    Examples:
        >>> from mireg.reproduce import get_study
        >>> smoke = get_study("infoat-table2").budgets[0]  # a Budget
        >>> smoke.name, smoke.recipes["InfoAT"], smoke.evaluation.n
        ('smoke', 'digits-infoat', 100)
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
        object.__setattr__(self, "recipes", frozen_mapping(self.recipes))
        object.__setattr__(self, "overrides", frozen_mapping(self.overrides))
        per_arm = {k: frozen_mapping(v) for k, v in self.arm_overrides.items()}
        object.__setattr__(self, "arm_overrides", frozen_mapping(per_arm))
