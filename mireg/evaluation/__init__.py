"""Honest robustness evaluation: attack suites, the runner, sanity checks, RobustBench in/out, plots.

- :func:`evaluate` (also ``mireg.evaluate``): clean + per-attack robust accuracy, per-sample worst
  case and gradient-masking checks over a named suite (:mod:`mireg.evaluation.suites`).
- :mod:`mireg.evaluation.robustbench_io`: load RobustBench models, fine-tune them, evaluate the
  RobustBench way and write the model-info JSON.
- :mod:`mireg.evaluation.plots` and :mod:`mireg.evaluation.analysis`: report figures and the
  InfoAT paper's loss-surface / entropy analyses.

This package is named ``evaluation`` because ``mireg.evaluate`` is the public function.
"""

from mireg.evaluation.report import AttackResult, EvaluationReport, SanityCheck
from mireg.evaluation.runner import evaluate, load_data
from mireg.evaluation.suites import AttackSpec, ResolvedAttack, Suite, get_suite

__all__ = [
    "evaluate", "load_data", "EvaluationReport", "AttackResult", "SanityCheck", "Suite", "AttackSpec",
    "ResolvedAttack", "get_suite",
]
