"""Honest robustness evaluation: attack suites, the runner, sanity checks, RobustBench in/out, plots.

- :func:`evaluate` (also ``mireg.evaluate``): clean + per-attack robust accuracy, per-sample worst
  case and gradient-masking checks over a named suite (:mod:`mireg.evaluation.suites`, the papers'
  suites in :mod:`mireg.evaluation.paper_suites`).
- :mod:`mireg.evaluation.robustbench_io`: evaluate the RobustBench way and write the model-info JSON
  (Model-Zoo models load with :mod:`mireg.models.robustbench`; :func:`mireg.train.finetune` fine-tunes).
- :mod:`mireg.evaluation.plots` and :mod:`mireg.evaluation.analysis`: report figures and the
  InfoAT paper's loss-surface / entropy analyses.

This package is named ``evaluation`` because ``mireg.evaluate`` is the public function.
"""

from mireg.evaluation import paper_suites  # noqa: F401  (registers the papers' suites)
from mireg.evaluation.report import AttackResult, EvaluationReport, SanityCheck
from mireg.evaluation.runner import evaluate, load_data
from mireg.evaluation.suites import AttackSpec, ResolvedAttack, Suite, get_suite

__all__ = [
    "evaluate", "load_data", "EvaluationReport", "AttackResult", "SanityCheck", "Suite", "AttackSpec",
    "ResolvedAttack", "get_suite",
]
