"""Training methods: a loss term plus the name of its inner maximiser, registered in ``METHODS``.

A method is never a loop. It is a function ``build(config, *, estimators=None, num_classes=10,
in_channels=3, **context) -> MethodSpec`` that says which :class:`mireg.losses.LossTerm` the engine minimises
and which attack (a name in :data:`mireg.registry.ATTACKS`) crafts ``x_adv``. Adding a method is one
registered function::

    @register_method("my-method")
    def my_method(config, **context):
        return MethodSpec(ATLoss() + 0.5 * MyReg(), attack="pgd")

A builder passes on only the weights the config sets (``beta``, ``lam``, ``mi_weight``); every default
lives once, in its loss class. Whether a method needs NAMID estimators is declared once, at its
registration (``register_method(..., needs_estimators=True)``): the engine then loads
``config.estimators`` and hands the pair to the builder.

The build context the engine passes (a builder takes what it needs and ignores the rest through
``**context``): ``estimators`` (the pair, or None), ``estimator_metadata`` (the estimator file's
metadata, or None), ``num_classes``, ``in_channels``, ``image_shape`` (C, H, W) of the training
images, and ``model``, the unwrapped classifier being trained (on its device; a loss that taps one of
its layers, as InfoAT's MINE ablation does, hooks it here).

| method | loss (outer minimisation) | default attack (inner maximisation) | source |
|---|---|---|---|
| clean | CE(f(x), y) | none | standard training |
| at | CE(f(x'), y) | ``pgd`` (uniform start) | Madry et al. 2018, Eq. 2.1 |
| trades | CE(f(x), y) + beta KL(p(x) ‖ p(x')) | ``tpgd`` (KL-PGD) | Zhang et al. 2019, Eq. 5 |
| mart | BCE(f(x'), y) + beta KL * (1 - p_y(x)) | ``mart-pgd`` | Wang et al. 2020, Eq. 8 |
| mart+ | MART with the KL weighted by H(p(x)) | ``mart-pgd`` | Xu et al. 2022 (InfoAT), §IV |
| infoat | CE(f(x'), y) + InfoAT(lam, beta) | ``infopgd`` (Eq. 18) | Xu et al. 2022, Eq. 17 |
| namid | ``NAMID``: CE(f(x'), y) + mi_weight * L_mi | ``mart-pgd`` | Zhou et al. 2022, Eq. 9 |
| namid_t | ``NAMID_T``: TRADES + mi_weight * L_mi | ``tpgd`` | Zhou et al. 2022, §4.3 |
| namid_m | ``NAMID_M``: MART + mi_weight * L_mi | ``mart-pgd`` | Zhou et al. 2022, §4.3 |
| wmim | ``WMIM``: CE(f(x'), y) - mi_weight * I(x'; f(x')) | ``mart-pgd`` | Zhu et al., ICML 2020, NAMID's baseline |

Every ablation of :data:`mireg.losses.ablations.ABLATIONS` is a method of the same name, with the
attack of the paper's method (``infopgd`` for InfoAT's, ``mart-pgd`` for NAMID's):
``infoat-weight-none``, ``infoat-weight-1-p`` (InfoAT Fig. 3b), ``infoat-div-js|ce|kl`` (Fig. 3c),
``infoat-reg-plus-hadv|minus-hnat|plus-hnat|none`` (Fig. 3d), ``infoat-mine-layer1..4`` (Eq. 19,
Table I, Fig. 3a), ``namid-no-adv-mi``, ``namid-no-nat-mi``, ``namid-lam0`` (NAMID Fig. 5) and
``namid-mim-estimators`` (NAMID Fig. 7); see ``docs/ablations.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mireg.estimators import LocalDIMEstimator
from mireg.losses import NAMID, NAMID_M, NAMID_T, WMIM, ATLoss, InfoAT, LossTerm, MARTLoss, MARTPlus, TRADESLoss
from mireg.losses.ablations import ABLATIONS, Ablation
from mireg.losses.base import ScaledLoss, SumLoss
from mireg.registry import METHODS

__all__ = ["MethodSpec", "needs_estimators", "register_method"]


@dataclass
class MethodSpec:
    """What the engine needs from a method.

    Attributes:
        loss: the loss term the engine minimises (its ``uses_natural``/``uses_images`` flags say which
            forward passes and inputs it needs).
        attack: name in ``mireg.registry.ATTACKS`` of the default inner maximiser, or None for clean
            training. ``TrainConfig.attack`` overrides it.
        attack_kwargs: extra keyword arguments for that attack (``TrainConfig.attack_kwargs`` win).
        mi_term: the ``weight * term`` inside ``loss`` that holds the method's MI term (NAMID's
            ``alpha * L_mi``, WMIM's ``w * I``), whose weight ``TrainConfig.mi_warmup_epochs`` /
            ``mi_ramp_epochs`` schedule; None for methods without one.
    """

    loss: LossTerm
    attack: str | None = "pgd"
    attack_kwargs: dict[str, Any] = field(default_factory=dict)
    mi_term: ScaledLoss | None = None


Builder = Callable[..., MethodSpec]


def register_method(name: str, *, needs_estimators: bool = False) -> Callable[[Builder], Builder]:
    """Register a method builder in ``METHODS``; ``needs_estimators``: it cannot run without a NAMID
    estimators checkpoint (``TrainConfig.estimators``)."""

    def decorator(build: Builder) -> Builder:
        build.needs_estimators = needs_estimators  # type: ignore[attr-defined]
        METHODS.add(name, build)
        return build

    return decorator


def needs_estimators(method: str) -> bool:
    """Whether the method registered as ``method`` requires a NAMID estimators checkpoint."""
    return bool(getattr(METHODS.get(method), "needs_estimators", False))


def _with_mi_term(loss: SumLoss, attack: str) -> MethodSpec:
    """The spec of ``base + weight * mi`` (NAMID's and WMIM's compositions): ``mi_term`` is its last term."""
    return MethodSpec(loss, attack=attack, mi_term=loss.terms[-1])


def _given(**weights: float | None) -> dict[str, float]:
    """The weights the config sets (None: the loss class's own default)."""
    return {k: v for k, v in weights.items() if v is not None}


@register_method("clean")
def clean(config, *, estimators=None, **context) -> MethodSpec:
    """Standard (non-adversarial) training: CE on the clean batch."""
    return MethodSpec(ATLoss(), attack=None)


@register_method("at")
def at(config, *, estimators=None, **context) -> MethodSpec:
    """Madry et al. (ICLR 2018) PGD adversarial training: CE on PGD examples."""
    return MethodSpec(ATLoss(), attack="pgd")


@register_method("trades")
def trades(config, *, estimators=None, **context) -> MethodSpec:
    """TRADES (Zhang et al., ICML 2019): beta defaults to TRADESLoss's 6.0 (the CIFAR script)."""
    return MethodSpec(TRADESLoss(**_given(beta=config.beta)), attack="tpgd")


@register_method("mart")
def mart(config, *, estimators=None, **context) -> MethodSpec:
    """MART (Wang et al., ICLR 2020): beta defaults to MARTLoss's 6.0 (5.0 in the ResNet-18 recipe)."""
    return MethodSpec(MARTLoss(**_given(beta=config.beta)), attack="mart-pgd")


@register_method("mart+")
def mart_plus(config, *, estimators=None, **context) -> MethodSpec:
    """MART+ (InfoAT paper): MART with an entropy weight; beta defaults to MARTPlus's 6.0."""
    return MethodSpec(MARTPlus(**_given(beta=config.beta)), attack="mart-pgd")


@register_method("infoat")
def infoat(config, *, estimators=None, **context) -> MethodSpec:
    """InfoAT (Xu et al., TNNLS 2022), Eq. 17 with InfoPGD (Eq. 18) using the same lam; InfoAT's lam 2.5
    and beta 0.2 by default."""
    term = InfoAT(**_given(lam=config.lam, beta=config.beta))
    return MethodSpec(ATLoss() + term, attack="infopgd", attack_kwargs={"lam": term.lam})


@register_method("namid", needs_estimators=True)
def namid(config, *, estimators=None, **context) -> MethodSpec:
    """NAMID (Zhou et al., ICML 2022), Eq. 9: CE on x' + mi_weight (alpha = 5) * L_mi (lam = 0.1)."""
    return _with_mi_term(NAMID(*estimators, **_given(alpha=config.mi_weight, lam=config.lam)), "mart-pgd")


@register_method("namid_t", needs_estimators=True)
def namid_t(config, *, estimators=None, **context) -> MethodSpec:
    """NAMID_T (Zhou et al. 2022, §4.3): TRADES (beta 6) + mi_weight * L_mi."""
    weights = _given(alpha=config.mi_weight, lam=config.lam, beta=config.beta)
    return _with_mi_term(NAMID_T(*estimators, **weights), "tpgd")


@register_method("namid_m", needs_estimators=True)
def namid_m(config, *, estimators=None, **context) -> MethodSpec:
    """NAMID_M (Zhou et al. 2022, §4.3): MART (beta 6) + mi_weight * L_mi."""
    weights = _given(alpha=config.mi_weight, lam=config.lam, beta=config.beta)
    return _with_mi_term(NAMID_M(*estimators, **weights), "mart-pgd")


@register_method("wmim")
def wmim(config, *, estimators=None, num_classes: int = 10, in_channels: int = 3, **context) -> MethodSpec:
    """WMIM, NAMID's baseline (§4.1; Zhu, Zhang & Evans, ICML 2020): AT + maximising the MI between
    adversarial inputs and their logits, with a co-trained local-DIM estimator (:class:`mireg.losses.WMIM`); weight
    ``mi_weight`` (WMIM's 0.1, untuned: the paper gives none). The estimator starts from the adversarial
    one of ``estimators`` when given, else fresh (width 512)."""
    estimator = estimators[1] if estimators is not None else LocalDIMEstimator(num_classes, in_channels, 512)
    return _with_mi_term(WMIM(estimator, **_given(alpha=config.mi_weight)), "mart-pgd")


def _ablation_doc(row: Ablation, attack: str) -> str:
    fixed = " Needs estimators trained with objective 'mim' (``mireg estimators --objective mim``)." \
        if row.estimator_objective == "mim" else ""
    return (f"Ablation ``{row.name}``, reproduces {row.source}: the paper's method with {row.changes} "
            f"(:data:`mireg.losses.ablations.ABLATIONS`); attack ``{attack}``.{fixed}")


def _register_infoat_ablation(row: Ablation) -> None:
    def build(config, *, model=None, image_shape=(3, 32, 32), **context) -> MethodSpec:
        loss = row.loss(model=model, image_shape=tuple(image_shape), **_given(lam=config.lam, beta=config.beta))
        return MethodSpec(loss, attack="infopgd", attack_kwargs={"lam": loss.terms[-1].lam})

    build.__doc__ = _ablation_doc(row, "infopgd (Eq. 18, the same lam)")
    register_method(row.name)(build)


def _register_namid_ablation(row: Ablation) -> None:
    # lam is what namid-lam0 changes: the config's lam never overrides it
    fixed_lam = "lam" in getattr(row.build, "keywords", {})

    def build(config, *, estimators=None, estimator_metadata=None, **context) -> MethodSpec:
        objective = (estimator_metadata or {}).get("objective")
        if row.estimator_objective == "mim" and objective is not None and objective != "mim":
            raise ValueError(f"method {row.name!r} needs estimators trained by MI maximisation (Eq. 4), but "
                             f"{config.estimators!r} was trained with objective={objective!r}: train them with "
                             "`mireg estimators --objective mim`")
        weights = _given(alpha=config.mi_weight, lam=None if fixed_lam else config.lam)
        return _with_mi_term(row.loss(estimators=estimators, **weights), "mart-pgd")

    build.__doc__ = _ablation_doc(row, "mart-pgd (NAMID's)")
    register_method(row.name, needs_estimators=True)(build)


for _row in ABLATIONS.values():
    (_register_namid_ablation if "estimators" in _row.needs else _register_infoat_ablation)(_row)
