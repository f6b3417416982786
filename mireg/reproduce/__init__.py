"""Reproducing the papers' tables: ``mireg reproduce`` (see ``docs/reproduce.md``).

- :class:`Study` (with :class:`Arm`, :class:`Evaluation`, :class:`Budget`, :class:`EvalBudget`,
  :class:`EstimatorBudget`): a table or an ablation as data, registered in :data:`STUDIES`
  (``infoat-table2``, ``namid-table1``; :mod:`mireg.reproduce.tables`; the ablations ``infoat-fig3``,
  ``infoat-table1``, ``namid-fig5``, ``namid-fig7``; :mod:`mireg.reproduce.ablations`);
- :func:`reproduce`: train every (method, seed) cell at a budget, evaluate it, write the report;
  resumable, and splittable over machines with ``methods=`` and :func:`merge`;
- :func:`build_report` / :func:`write_report`: mean ± standard deviation over seeds, the paper's
  numbers, seed-paired differences with 95% t-intervals (:mod:`mireg.reproduce.stats`), training cost.

This package is the top floor: it uses ``mireg.train``, ``mireg.estimators`` and ``mireg.evaluation``;
only the command line uses it.

Example::

    from mireg.reproduce import reproduce
    report = reproduce("infoat-table2", budget="smoke", seeds=5, out_dir="runs/infoat-smoke")
    report["evaluations"]["linf"]["summary"]["InfoAT"]["PGD-20"]   # {"mean": ..., "std": ..., "n": 5, ...}
"""

from mireg.reproduce import ablations, tables  # noqa: F401  (registers the papers' studies)
from mireg.reproduce.report import build_report, merge, write_report
from mireg.reproduce.runner import default_out_dir, reproduce
from mireg.reproduce.stats import paired_difference, summarize, t_quantile
from mireg.reproduce.studies import (
    BUDGETS,
    STUDIES,
    Arm,
    Budget,
    EstimatorBudget,
    EvalBudget,
    Evaluation,
    Study,
    get_study,
    register_study,
)

__all__ = [
    "BUDGETS", "STUDIES", "Arm", "Budget", "EstimatorBudget", "EvalBudget", "Evaluation", "Study",
    "build_report", "default_out_dir", "get_study", "merge", "paired_difference", "register_study",
    "reproduce", "summarize", "t_quantile", "write_report",
]
