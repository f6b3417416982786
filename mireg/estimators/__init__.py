"""NAMID's mutual-information estimators (Zhou et al., ICML 2022, arXiv:2207.12203) and MINE.

- :class:`LocalDIMEstimator`: per-sample DV MI score from a local net on an image-like input and a
  global net on logits (or any feature, see :class:`FeatureTap`);
- :func:`train_estimators`: NAMID's Eq. 4-6 on a frozen classifier, with the held-out Fig. 4 check;
- :func:`save_estimators` / :func:`load_estimators`;
- :func:`mi_scores`, :func:`check_estimators`: the per-sample scores and the held-out Fig. 4 check;
- :func:`mi_analysis` / :func:`plot_mi_analysis`: NAMID's Fig. 2/4 analysis for a list of attacks;
- :func:`train_standard_estimator`, :func:`standard_mi_analysis`, :func:`fig4_offset_means`,
  :func:`estimator_comparison`: NAMID's Fig. 2 (standard MI by MI maximisation on natural samples),
  its offset averages (Fig. 2, Fig. 4) and Fig. 4's Eq. 4 vs Eq. 5 estimators;
- :class:`MINE`, :func:`fit_mine`, :func:`estimate_layer_mi`: post-hoc MINE estimates of I(x; z) per
  layer, the measurement of InfoAT's Fig. 1(a) (InfoAT's MINE *ablation*, Eq. 19, is a training loss:
  :class:`mireg.losses.InfoATMINE`); :func:`stage_layer`: the submodule of a model's layer #k.
"""

from mireg.estimators.analysis import MIAnalysis, mi_analysis, plot_mi_analysis
from mireg.estimators.io import load_estimators, save_estimators
from mireg.estimators.local_dim import LocalDIMEstimator
from mireg.estimators.mine import MINE, MINEResult, estimate_layer_mi, fit_mine
from mireg.estimators.scoring import EstimatorCheck, check_estimators, global_inputs, mi_scores
from mireg.estimators.standard_mi import (
    StandardMIAnalysis,
    estimator_comparison,
    fig4_offset_means,
    plot_estimator_comparison,
    plot_standard_mi,
    standard_mi_analysis,
    train_standard_estimator,
)
from mireg.estimators.tap import FeatureTap, stage_layer
from mireg.estimators.training import EstimatorTrainingResult, default_attack, train_estimators

__all__ = [
    "MINE", "EstimatorCheck", "EstimatorTrainingResult", "FeatureTap", "LocalDIMEstimator", "MIAnalysis",
    "MINEResult", "check_estimators", "default_attack", "estimate_layer_mi", "fit_mine", "global_inputs",
    "load_estimators", "mi_analysis", "mi_scores", "plot_mi_analysis", "save_estimators", "train_estimators",
    "StandardMIAnalysis", "fig4_offset_means", "plot_standard_mi", "standard_mi_analysis", "train_standard_estimator",
    "estimator_comparison", "plot_estimator_comparison", "stage_layer",
]
