"""Pure functions for the math of mireg: entropies, weighted divergences, the InfoAT / TRADES /
MART objectives and the mutual-information scores. No state, no ``nn.Module``, no I/O.

Each takes logits (or features) and a ``reduction`` in {"mean", "sum", "none"}.
"""

from mireg.functional.at import at_loss
from mireg.functional.divergence import divergence, entropy_weighted_mse, sample_weight, weighted_divergence
from mireg.functional.entropy import entropy
from mireg.functional.infoat import infoat_loss, infoat_term, infopgd_objective
from mireg.functional.infoat_mine import mi_weighted_term
from mireg.functional.mart import mart_loss, mart_plus_loss
from mireg.functional.mi import cosine_loss, dv_bound, dv_local_scores, mine_surrogate, namid_selection
from mireg.functional.mi_summary import worst_case_offset_means
from mireg.functional.trades import trades_loss

__all__ = [
    "at_loss",
    "cosine_loss",
    "dv_bound",
    "dv_local_scores",
    "divergence",
    "entropy",
    "entropy_weighted_mse",
    "infoat_loss",
    "infoat_term",
    "infopgd_objective",
    "mart_loss",
    "mart_plus_loss",
    "mi_weighted_term",
    "mine_surrogate",
    "namid_selection",
    "sample_weight",
    "trades_loss",
    "weighted_divergence",
    "worst_case_offset_means",
]
