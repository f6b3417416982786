"""The ablations of InfoAT (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292) and NAMID (Zhou et al.,
ICML 2022, arXiv:2207.12203) as compositions of mireg's loss terms, one entry per ablation.

Each :class:`Ablation` names the figure or table it reproduces, says what it changes with respect to
the paper's method, and builds its training loss (:meth:`Ablation.loss`). The training method (the
attack, the recipe) is the paper method's; ``docs/_ablations_plan.md`` lists the settings. Example::

    >>> from mireg.losses.ablations import ABLATIONS, ablation_loss
    >>> ablation_loss("infoat-div-js")                   # ATLoss() + InfoAT(2.5, 0.2, divergence="js")
    >>> ablation_loss("infoat-mine-layer2", model=model, image_shape=(3, 32, 32))
    >>> ablation_loss("namid-no-adv-mi", estimators=(e_n, e_a))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from torch import nn

from mireg.estimators.local_dim import LocalDIMEstimator
from mireg.estimators.tap import stage_layer
from mireg.losses.at import ATLoss
from mireg.losses.base import LossTerm
from mireg.losses.infoat import InfoAT
from mireg.losses.infoat_mine import InfoATMINE
from mireg.losses.namid import NaturalAdversarialMILoss

__all__ = ["ABLATIONS", "Ablation", "ablation_loss", "infoat_mine_variant", "infoat_variant", "namid_variant"]


def infoat_variant(lam: float = 2.5, beta: float = 0.2, *, weight: str = "entropy", divergence: str = "mse",
                   entropy_term: str = "-adv") -> LossTerm:
    """``ATLoss() + InfoAT(lam, beta, weight=..., divergence=..., entropy_term=...)``: Eq. 17 and its
    ablations of Fig. 3b (weight), Fig. 3c (divergence) and Fig. 3d (entropy term)."""
    return ATLoss() + InfoAT(lam, beta, weight=weight, divergence=divergence, entropy_term=entropy_term)


def infoat_mine_variant(model: nn.Module, layer: str | int, image_shape: tuple[int, ...] = (3, 32, 32),
                        lam: float = 2.5, beta: float = 0.2, **kwargs) -> LossTerm:
    """``ATLoss() + InfoATMINE.for_layer(model, layer, ...)``: Eq. 19, Table I / Fig. 3a. ``layer`` is
    a submodule name or a ResNet stage number 1-4 (``layer<k>``)."""
    name = stage_layer(model, layer) if isinstance(layer, int) and not isinstance(layer, bool) else layer
    return ATLoss() + InfoATMINE.for_layer(model, name, image_shape, lam=lam, beta=beta, **kwargs)


def namid_variant(estimator_n: LocalDIMEstimator, estimator_a: LocalDIMEstimator, alpha: float = 5.0,
                  lam: float = 0.1, *, natural: bool = True, adversarial: bool = True) -> LossTerm:
    """``ATLoss() + alpha * NaturalAdversarialMILoss(e_n, e_a, lam, natural=..., adversarial=...)``:
    NAMID's Eq. 9 and its ablations of Fig. 5."""
    return ATLoss() + alpha * NaturalAdversarialMILoss(estimator_n, estimator_a, lam, natural=natural,
                                                       adversarial=adversarial)


@dataclass(frozen=True)
class Ablation:
    """One ablation: ``name``, the figure/table it reproduces (``source``), what it ``changes`` with
    respect to the paper's method, what its loss needs (``needs``: ``"model"`` or ``"estimators"``),
    the objective its estimators are trained with (NAMID; None otherwise) and the loss builder."""

    name: str
    source: str
    changes: str
    build: Callable[..., LossTerm] = field(repr=False)
    needs: tuple[str, ...] = ()
    estimator_objective: str | None = None

    def loss(self, *, model: nn.Module | None = None,
             estimators: tuple[LocalDIMEstimator, LocalDIMEstimator] | None = None,
             image_shape: tuple[int, ...] = (3, 32, 32), **overrides) -> LossTerm:
        """Build the ablation's loss term; ``overrides`` change the paper's weights (e.g. ``lam``)."""
        if "model" in self.needs:
            if not isinstance(model, nn.Module):
                raise ValueError(f"ablation {self.name!r} taps a layer of the classifier: pass model=<the nn.Module "
                                 f"being trained>")
            return self.build(model, image_shape=image_shape, **overrides)
        if "estimators" in self.needs:
            if not (isinstance(estimators, (tuple, list)) and len(estimators) == 2):
                raise ValueError(f"ablation {self.name!r} needs NAMID's estimators: pass estimators=(e_n, e_a) "
                                 f"trained with objective={self.estimator_objective!r}")
            return self.build(*estimators, **overrides)
        return self.build(**overrides)


def _infoat(name: str, source: str, changes: str, **options) -> Ablation:
    return Ablation(name, source, changes, partial(infoat_variant, **options))


def _namid(name: str, changes: str, objective: str = "eq5", source: str = "NAMID Sec. 4.4, Fig. 5",
           **options) -> Ablation:
    return Ablation(name, source, changes, partial(namid_variant, **options), ("estimators",), objective)


def _table() -> dict[str, Ablation]:
    rows = [
        _infoat("infoat-weight-none", "InfoAT Fig. 3b", "weight H(p(x)) -> 1", weight="none"),
        _infoat("infoat-weight-1-p", "InfoAT Fig. 3b", "weight H(p(x)) -> 1 - p_y(x) (MART's)", weight="1-p_y"),
        *[_infoat(f"infoat-div-{d}", "InfoAT Fig. 3c", f"||p(x_adv) - p(x)||^2 -> {label}", divergence=d)
          for d, label in (("js", "JS(p(x), p(x_adv))"), ("ce", "CE(p(x), p(x_adv))"), ("kl", "KL(p(x) || p(x_adv))"))],
        *[_infoat(f"infoat-reg-{word}-h{side}", "InfoAT Fig. 3d",
                  f"- beta H(p(x_adv)) -> {sign} beta H(p(x{'_adv' if side == 'adv' else ''}))",
                  entropy_term=f"{sign}{side}")
          for word, sign, side in (("plus", "+", "adv"), ("minus", "-", "nat"), ("plus", "+", "nat"))],
        _infoat("infoat-reg-none", "InfoAT Fig. 3d", "no entropy term (beta H dropped)", entropy_term="none"),
        *[Ablation(f"infoat-mine-layer{k}", "InfoAT Sec. IV-A, Eq. 19, Table I, Fig. 3a",
                   f"weight H(p(x)) -> batch MINE estimate of I(x; z) at layer #{k}",
                   partial(infoat_mine_variant, layer=k), ("model",)) for k in (1, 2, 3, 4)],
        _namid("namid-no-adv-mi", "(i) without the adversarial MI: Lcos(E_a) and lam E_a dropped",
               adversarial=False),
        _namid("namid-no-nat-mi", "(ii) without the natural MI: Lcos(E_n) and -lam E_n dropped", natural=False),
        _namid("namid-lam0", "(iii) lam = 0", lam=0.0),
        _namid("namid-mim-estimators", "estimators trained by MI maximisation, Eq. 4, instead of Eq. 5",
               objective="mim", source="NAMID App. E.1, Fig. 7 (and Sec. 4.2, Fig. 4)"),
    ]
    return {row.name: row for row in rows}


#: every ablation of the two papers, by name
ABLATIONS: dict[str, Ablation] = _table()


def ablation_loss(name: str, **context) -> LossTerm:
    """The loss term of ablation ``name`` (see :data:`ABLATIONS`); ``context``: ``model=``,
    ``estimators=(e_n, e_a)``, ``image_shape=``, and overrides of the weights."""
    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; known: {', '.join(sorted(ABLATIONS))}")
    return ABLATIONS[name].loss(**context)
