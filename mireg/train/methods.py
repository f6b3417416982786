"""Training methods: a loss term plus the name of its inner maximiser, registered in ``METHODS``.

A method is never a loop. It is a function ``build(config, *, estimators=None, num_classes=10,
in_channels=3) -> MethodSpec`` that
says which :class:`mireg.losses.LossTerm` the engine minimises and which attack (a name in
:data:`mireg.registry.ATTACKS`) crafts ``x_adv``. Adding a method is one registered function::

    @METHODS.register("my-method")
    def my_method(config, **context):
        return MethodSpec(ATLoss() + 0.5 * MyReg(), attack="pgd")

| method | loss (outer minimisation) | default attack (inner maximisation) | source |
|---|---|---|---|
| clean | CE(f(x), y) | none | standard training |
| at | CE(f(x'), y) | ``pgd`` (uniform start) | Madry et al. 2018, Eq. 2.1 |
| trades | CE(f(x), y) + beta KL(p(x) ‖ p(x')) | ``tpgd`` (KL-PGD) | Zhang et al. 2019, Eq. 5 |
| mart | BCE(f(x'), y) + beta KL * (1 - p_y(x)) | ``mart-pgd`` | Wang et al. 2020, Eq. 8 |
| mart+ | MART with the KL weighted by H(p(x)) | ``mart-pgd`` | Xu et al. 2022 (InfoAT), §IV |
| infoat | CE(f(x'), y) + InfoAT(lam, beta) | ``infopgd`` (Eq. 18) | Xu et al. 2022, Eq. 17 |
| namid | CE(f(x'), y) + mi_weight * L_mi | ``mart-pgd`` | Zhou et al. 2022, Eq. 9 |
| namid_t | TRADES + mi_weight * L_mi | ``tpgd`` | Zhou et al. 2022, §4 |
| namid_m | MART + mi_weight * L_mi | ``mart-pgd`` | Zhou et al. 2022, §4 |
| wmim | CE(f(x'), y) - mi_weight * I(x'; f(x')) | ``mart-pgd`` | Zhu et al. 2020 as NAMID's baseline |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mireg.losses import ATLoss, InfoAT, LossTerm, MARTLoss, MARTPlus, TRADESLoss
from mireg.registry import METHODS


@dataclass
class MethodSpec:
    """What the engine needs from a method.

    Attributes:
        loss: the loss term the engine minimises (its ``uses_natural``/``uses_images`` flags say which
            forward passes and inputs it needs).
        attack: name in ``mireg.registry.ATTACKS`` of the default inner maximiser, or None for clean
            training. ``TrainConfig.attack`` overrides it.
        attack_kwargs: extra keyword arguments for that attack (``TrainConfig.attack_kwargs`` win).
    """

    loss: LossTerm
    attack: str | None = "pgd"
    attack_kwargs: dict[str, Any] = field(default_factory=dict)


def _get(value: float | None, default: float) -> float:
    return default if value is None else value


@METHODS.register("clean")
def clean(config, *, estimators=None, **context) -> MethodSpec:
    """Standard (non-adversarial) training: CE on the clean batch."""
    return MethodSpec(ATLoss(), attack=None)


@METHODS.register("at")
def at(config, *, estimators=None, **context) -> MethodSpec:
    """Madry et al. (ICLR 2018) PGD adversarial training: CE on PGD examples."""
    return MethodSpec(ATLoss(), attack="pgd")


@METHODS.register("trades")
def trades(config, *, estimators=None, **context) -> MethodSpec:
    """TRADES (Zhang et al., ICML 2019): beta defaults to 6.0 (the CIFAR script)."""
    return MethodSpec(TRADESLoss(beta=_get(config.beta, 6.0)), attack="tpgd")


@METHODS.register("mart")
def mart(config, *, estimators=None, **context) -> MethodSpec:
    """MART (Wang et al., ICLR 2020): beta defaults to 6.0 (5.0 in the ResNet-18 recipe)."""
    return MethodSpec(MARTLoss(beta=_get(config.beta, 6.0)), attack="mart-pgd")


@METHODS.register("mart+")
def mart_plus(config, *, estimators=None, **context) -> MethodSpec:
    """MART+ (InfoAT paper): MART with an entropy weight; beta defaults to 6.0."""
    return MethodSpec(MARTPlus(beta=_get(config.beta, 6.0)), attack="mart-pgd")


@METHODS.register("infoat")
def infoat(config, *, estimators=None, **context) -> MethodSpec:
    """InfoAT (Xu et al., TNNLS 2022), Eq. 17 with InfoPGD (Eq. 18); lam 2.5 and beta 0.2 by default."""
    lam = _get(config.lam, 2.5)
    return MethodSpec(ATLoss() + InfoAT(lam=lam, beta=_get(config.beta, 0.2)), attack="infopgd",
                      attack_kwargs={"lam": lam})


def _mi_term(config, estimators) -> LossTerm:
    from mireg.losses import NaturalAdversarialMILoss

    if estimators is None:
        raise ValueError(f"method {config.method!r} needs NAMID estimators trained on an adversarially "
                         "trained classifier: set estimators=<path of a `mireg estimators` checkpoint> "
                         "(see `mireg estimators --help`), or run `mireg demo` for the whole pipeline")
    natural, adversarial = estimators
    return _get(config.mi_weight, 5.0) * NaturalAdversarialMILoss(natural, adversarial,
                                                                  lam=_get(config.lam, 0.1))


@METHODS.register("namid")
def namid(config, *, estimators=None, **context) -> MethodSpec:
    """NAMID (Zhou et al., ICML 2022), Eq. 9: CE on x' + mi_weight (alpha = 5) * L_mi (lam = 0.1)."""
    return MethodSpec(ATLoss() + _mi_term(config, estimators), attack="mart-pgd")


@METHODS.register("namid_t")
def namid_t(config, *, estimators=None, **context) -> MethodSpec:
    """NAMID_T (Zhou et al. 2022, §4): TRADES (beta 6) + mi_weight * L_mi."""
    return MethodSpec(TRADESLoss(beta=_get(config.beta, 6.0)) + _mi_term(config, estimators), attack="tpgd")


@METHODS.register("namid_m")
def namid_m(config, *, estimators=None, **context) -> MethodSpec:
    """NAMID_M (Zhou et al. 2022, §4): MART (beta 6) + mi_weight * L_mi."""
    return MethodSpec(MARTLoss(beta=_get(config.beta, 6.0)) + _mi_term(config, estimators),
                      attack="mart-pgd")


@METHODS.register("wmim")
def wmim(config, *, estimators=None, num_classes: int = 10, in_channels: int = 3, **context) -> MethodSpec:
    """WMIM, NAMID's baseline (Zhu et al. 2020): AT + maximising the MI between adversarial inputs and
    their logits, with a co-trained local-DIM estimator (:class:`mireg.losses.WMIMLoss`); weight
    ``mi_weight`` (0.1, untuned: the paper gives none). The estimator starts from the adversarial one
    of ``estimators`` when given, else fresh (width 512)."""
    from mireg.estimators import LocalDIMEstimator
    from mireg.losses import WMIMLoss

    estimator = estimators[1] if estimators is not None else LocalDIMEstimator(num_classes, in_channels, 512)
    return MethodSpec(ATLoss() + _get(config.mi_weight, 0.1) * WMIMLoss(estimator), attack="mart-pgd")


def needs_estimators(method: str) -> bool:
    """Whether a built-in method requires a NAMID estimators checkpoint."""
    return method.lower() in ("namid", "namid_t", "namid_m")
