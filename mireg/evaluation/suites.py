"""Named evaluation suites: the attacks each paper evaluated with, with exact hyperparameters.

A :class:`Suite` is a list of :class:`AttackSpec` entries plus the threat model (norm, default
eps) and the orderings its sanity checks expect (a stronger attack must not score higher than a
weaker one). Suites are registered by name in :data:`mireg.registry.SUITES`::

    suite = SUITES.create("infoat")            # -> Suite
    for entry in suite.resolve(eps=8 / 255):   # -> list[ResolvedAttack]
        attack = entry.build(model)            # a torchattacks-style Attack

Step sizes are stored for the suite's default eps and scale linearly when another eps is asked
for (PGD-20's 0.003 at 8/255 becomes 0.0015 at 4/255). Iteration counts are the papers'; the
``max_steps`` argument of :meth:`Suite.resolve` caps them (raising step sizes to 2.5 eps/steps) for
smoke tests, and the report marks such a run as a reduced budget (never a claim).

Attack names are names in :data:`mireg.registry.ATTACKS`; entries are built by
:func:`mireg.attacks.create_attack`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from mireg._validation import check_choice, check_number
from mireg.attacks import create_attack
from mireg.registry import SUITES

__all__ = ["AttackSpec", "Suite", "ResolvedAttack", "get_suite"]

NORMS = ("Linf", "L2")
KINDS = ("white-box", "black-box", "transfer")

@dataclasses.dataclass(frozen=True)
class AttackSpec:
    """One suite entry.

    Args:
        label: the name shown in reports, e.g. ``"PGD-20"`` (unique within a suite).
        attack: a registered attack name (``mireg.registry.ATTACKS``) or a factory
            ``fn(model, **kwargs) -> attack`` where ``attack(x, y) -> x_adv``.
        kwargs: constructor arguments at the suite's default eps (eps itself is filled in).
        citation: where the setting comes from.
        eps_key: the keyword that receives eps (``None``: the attack takes no eps).
        scaled: keywords scaled by ``eps / suite.eps`` (step sizes).
        steps_keys: keywords that are iteration/query budgets, capped by ``max_steps``.
        restarts: independent runs with different seeds; a point is robust only if it survives all.
        bounded: False for minimum-norm attacks (CW-L2, DDN): their success counts only when the
            perturbation lies within eps. For bounded attacks a perturbation outside the ball is
            a bug and is reported as a violation (and never counted as a success).
        kind: ``"white-box"``, ``"black-box"`` (score-/decision-based) or ``"transfer"``.
        needs_surrogate: the factory takes ``surrogate=`` (black-box transfer).
    """

    label: str
    attack: str | Callable[..., Any]
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    citation: str = ""
    eps_key: str | None = "eps"
    scaled: tuple[str, ...] = ("alpha",)
    steps_keys: tuple[str, ...] = ("steps",)
    restarts: int = 1
    bounded: bool = True
    kind: str = "white-box"
    needs_surrogate: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"label must be a non-empty string, got {self.label!r}")
        if not (isinstance(self.attack, str) or callable(self.attack)):
            raise TypeError(f"attack must be a registered name or a factory, got {type(self.attack).__name__}")
        check_number("restarts", self.restarts, low=1, integer=True)
        check_choice("kind", self.kind, KINDS)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (for reports)."""
        name = self.attack if isinstance(self.attack, str) else getattr(self.attack, "__name__", repr(self.attack))
        return {"label": self.label, "attack": name, "kwargs": dict(self.kwargs), "restarts": self.restarts,
                "bounded": self.bounded, "kind": self.kind, "citation": self.citation}


@dataclasses.dataclass(frozen=True)
class ResolvedAttack:
    """A suite entry with its final arguments for one eps (and budget cap)."""

    spec: AttackSpec
    norm: str
    eps: float
    kwargs: Mapping[str, Any]

    @property
    def label(self) -> str:
        return self.spec.label

    def build(self, model: nn.Module, surrogate: nn.Module | None = None) -> Any:
        """Instantiate the attack on ``model`` (``surrogate`` for transfer entries)."""
        kwargs = dict(self.kwargs)
        if self.spec.needs_surrogate:
            if surrogate is None:
                raise ValueError(f"{self.label} needs a surrogate model (evaluate(..., surrogate=...))")
            kwargs["surrogate"] = surrogate
        return create_attack(self.spec.attack, model, **kwargs)

    def describe(self) -> dict[str, Any]:
        out = self.spec.describe()
        out.update(kwargs={k: v for k, v in self.kwargs.items()}, norm=self.norm, eps=self.eps)
        return out


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named list of attacks for one threat model.

    Args:
        name: registry name.
        norm: ``"Linf"`` or ``"L2"``.
        eps: the default radius (8/255 or 0.5).
        attacks: the entries, run in this order.
        orderings: chains of labels whose robust accuracies must not increase along the chain,
            e.g. ``("PGD-100", "PGD-20", "FGSM")`` means acc(PGD-100) <= acc(PGD-20) <= acc(FGSM).
        citation: the paper (section/table) the suite reproduces.
        description: one line for ``mireg eval --help``.
    """

    name: str
    norm: str
    eps: float
    attacks: tuple[AttackSpec, ...]
    orderings: tuple[tuple[str, ...], ...] = ()
    citation: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        check_choice("norm", self.norm, NORMS)
        check_number("eps", self.eps, low=0.0, low_open=True)
        labels = [a.label for a in self.attacks]
        if len(set(labels)) != len(labels):
            raise ValueError(f"suite {self.name!r} has duplicate attack labels: {labels}")
        for chain in self.orderings:
            unknown = [lab for lab in chain if lab not in labels]
            if unknown:
                raise ValueError(f"suite {self.name!r} ordering names unknown attacks {unknown}")

    @property
    def labels(self) -> list[str]:
        return [a.label for a in self.attacks]

    def resolve(self, eps: float | None = None, max_steps: int | None = None,
                only: Sequence[str] | None = None) -> list[ResolvedAttack]:
        """Final arguments for radius ``eps`` (default: the suite's), budgets capped at ``max_steps``.

        A capped ``steps`` also raises ``alpha`` to at least 2.5 eps / max_steps, so a shortened
        PGD can still reach the ball's boundary (smoke tests only; a capped run is never a claim).

        ``only`` keeps just the named labels (in suite order).
        """
        eps = self.eps if eps is None else float(check_number("eps", eps, low=0.0, low_open=True))
        if max_steps is not None:
            check_number("max_steps", max_steps, low=1, integer=True)
        if only is not None:
            unknown = [lab for lab in only if lab not in self.labels]
            if unknown:
                raise ValueError(f"only names attacks not in suite {self.name!r}: {unknown}; known: {self.labels}")
        out = []
        for spec in self.attacks:
            if only is not None and spec.label not in only:
                continue
            kwargs = dict(spec.kwargs)
            for key in spec.scaled:
                if key in kwargs:
                    kwargs[key] = kwargs[key] * eps / self.eps
            if spec.eps_key is not None:
                kwargs[spec.eps_key] = eps
            if max_steps is not None:
                for key in spec.steps_keys:
                    if key in kwargs and int(kwargs[key]) > max_steps:
                        kwargs[key] = max_steps
                        if key == "steps" and "alpha" in kwargs:
                            # keep the shortened attack able to reach the boundary: 2.5 eps / steps
                            # (Madry et al. 2018's rule), never a smaller step than the suite's
                            kwargs["alpha"] = max(kwargs["alpha"], 2.5 * eps / max_steps)
            out.append(ResolvedAttack(spec=spec, norm=self.norm, eps=eps, kwargs=kwargs))
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "norm": self.norm, "eps": self.eps, "citation": self.citation,
                "orderings": [list(c) for c in self.orderings], "attacks": [a.describe() for a in self.attacks]}


def get_suite(suite: str | Suite) -> Suite:
    """A registered suite by name, or the :class:`Suite` itself."""
    if isinstance(suite, Suite):
        return suite
    return SUITES.create(suite)


# ----------------------------------------------------------------------------------------------
# The papers' suites.

_EPS_LINF = 8 / 255
_INFOAT = "InfoAT (Xu et al., IEEE TNNLS 2022, arXiv:2206.12292), Sec. IV-A / Table II"
_INFOAT_STEP = ("step 0.003 as in MART's evaluation script (YisenWang/MART), which InfoAT's printed recipe "
                "follows; InfoAT prints no step size for PGD-k")
_NAMID = "NAMID (Zhou et al., ICML 2022, arXiv:2207.12203), Sec. 5.1 / Tables 1-2"


def _autoattack(norm: str, citation: str) -> AttackSpec:
    """The official AutoAttack entry (standard version, full budget)."""
    return AttackSpec("AutoAttack", "autoattack", {"norm": norm, "version": "standard", "n_iter": 100,
                                                   "n_queries": 5000},
                      citation, scaled=(), steps_keys=("n_iter", "n_queries"))


@SUITES.register("infoat")
def infoat_suite() -> Suite:
    """InfoAT's white-box evaluation at L-inf 8/255."""
    return Suite(
        name="infoat", norm="Linf", eps=_EPS_LINF,
        citation=_INFOAT,
        description="InfoAT L-inf 8/255: FGSM, PGD-20/100, PGD+, CW-inf-20/100, InfoPGD-20, AutoAttack",
        attacks=(
            AttackSpec("FGSM", "fgsm", {}, f"{_INFOAT}: FGSM (Goodfellow et al. 2015)", scaled=(), steps_keys=()),
            AttackSpec("PGD-20", "pgd", {"alpha": 0.003, "steps": 20, "random_start": True},
                       f"{_INFOAT}: PGD-20 (Madry et al. 2018), {_INFOAT_STEP}"),
            AttackSpec("PGD-100", "pgd", {"alpha": 0.003, "steps": 100, "random_start": True},
                       f"{_INFOAT}: PGD-100, {_INFOAT_STEP}"),
            AttackSpec("PGD+", "pgd", {"alpha": 0.01, "steps": 40, "random_start": True},
                       f"{_INFOAT}: PGD+ = 5 random restarts of 40 steps, step 0.01", restarts=5),
            AttackSpec("CW-inf-20", "cw-inf", {"alpha": 0.003, "steps": 20},
                       f"{_INFOAT}: CW-inf = PGD on the CW margin loss (Carlini & Wagner 2017), 20 steps, "
                       f"{_INFOAT_STEP}"),
            AttackSpec("CW-inf-100", "cw-inf", {"alpha": 0.003, "steps": 100},
                       f"{_INFOAT}: CW-inf, 100 steps, {_INFOAT_STEP}"),
            AttackSpec("InfoPGD-20", "infopgd", {"alpha": 0.003, "steps": 20},
                       f"{_INFOAT}: InfoPGD (the paper's Eq. 18 inner maximisation), 20 steps, {_INFOAT_STEP}"),
            _autoattack("Linf", "AutoAttack standard (Croce & Hein, ICML 2020; fra31/auto-attack via pyautoattack): "
                       "APGD-CE, APGD-T, FAB-T (100 iterations), Square (5000 queries)"),
        ),
        orderings=(("PGD-100", "PGD-20", "FGSM"), ("CW-inf-100", "CW-inf-20")),
    )


@SUITES.register("namid-linf")
def namid_linf_suite() -> Suite:
    """NAMID's white-box L-inf evaluation at 8/255."""
    return Suite(
        name="namid-linf", norm="Linf", eps=_EPS_LINF, citation=_NAMID,
        description="NAMID L-inf 8/255: PGD-40 (step eps/4), AutoAttack, FWA-40, TI-DIM",
        attacks=(
            AttackSpec("PGD-40", "pgd", {"alpha": _EPS_LINF / 4, "steps": 40, "random_start": True},
                       f"{_NAMID}: PGD-40, step eps/4"),
            _autoattack("Linf", "AutoAttack standard (Croce & Hein, ICML 2020) via pyautoattack, as in NAMID Table 1"),
            AttackSpec("FWA-40", "fwa", {"steps": 40},
                       f"{_NAMID}: FWA-40, Frank-Wolfe Wasserstein attack (Wu, Wang & Yu, ICML 2020) "
                       "inside the L-inf ball", scaled=()),
            AttackSpec("TI-DIM", "ti-dim", {"alpha": 0.007, "steps": 40, "decay": 0.1, "diversity_prob": 0.5},
                       f"{_NAMID}: TI-DIM (Dong et al. 2019 + Xie et al. 2019) as in dwDavidxd/MIAT "
                       "test_comparison.py: 40 steps, step 0.007, momentum 0.1, diversity prob 0.5"),
        ),
    )


@SUITES.register("namid-l2")
def namid_l2_suite() -> Suite:
    """NAMID's white-box L2 evaluation at 0.5."""
    return Suite(
        name="namid-l2", norm="L2", eps=0.5, citation=_NAMID,
        description="NAMID L2 0.5: PGD-40 (step eps/4), CW-L2, DDN",
        attacks=(
            AttackSpec("PGD-40", "pgd-l2", {"alpha": 0.5 / 4, "steps": 40, "random_start": True},
                       f"{_NAMID}: L2 PGD-40, step eps/4"),
            AttackSpec("CW-L2", "cw-l2", {"c": 1.0, "kappa": 0.0, "steps": 100, "lr": 0.01},
                       f"{_NAMID}: CW-L2 (Carlini & Wagner 2017; torchattacks CW). NAMID prints no CW "
                       "hyperparameters: c=1, kappa=0, 100 Adam steps of lr 0.01 is mireg's choice. "
                       "Minimum-norm attack: a success counts only within eps",
                       eps_key=None, scaled=(), bounded=False),
            AttackSpec("DDN", "ddn", {"steps": 20},
                       f"{_NAMID}: DDN (Rony et al., CVPR 2019), 20 iterations. Minimum-norm attack: a "
                       "success counts only within eps", eps_key=None, scaled=(), bounded=False),
        ),
    )


@SUITES.register("quick")
def quick_suite() -> Suite:
    """A cheap check during training: PGD-20 and APGD-CE at L-inf 8/255."""
    return Suite(
        name="quick", norm="Linf", eps=_EPS_LINF,
        citation="mireg quick check (not a claim): PGD-20 (Madry et al. 2018) and APGD-CE (Croce & Hein 2020)",
        description="quick L-inf 8/255 check during training: PGD-20 (step 2/255) and APGD-CE (100 iterations)",
        attacks=(
            AttackSpec("PGD-20", "pgd", {"alpha": 2 / 255, "steps": 20, "random_start": True},
                       "PGD-20, step 2/255 (Madry et al. 2018; torchattacks default step)"),
            AttackSpec("APGD-CE", "apgd-ce", {"steps": 100},
                       "APGD-CE, 100 iterations, 1 restart (Croce & Hein, ICML 2020; torchattacks APGD)",
                       scaled=()),
        ),
    )


@SUITES.register("blackbox")
def blackbox_suite() -> Suite:
    """Black-box evaluation at L-inf 8/255: transfer from a surrogate and SPSA."""
    return Suite(
        name="blackbox", norm="Linf", eps=_EPS_LINF,
        citation="Transfer from a separately trained VGG-19 surrogate (NAMID Sec. 5.2) and SPSA (InfoAT Sec. IV)",
        description="black-box L-inf 8/255: PGD-40 transferred from a surrogate, SPSA",
        attacks=(
            AttackSpec("Transfer-PGD-40", "transfer",
                       {"attack": "pgd", "attack_kwargs": {"alpha": _EPS_LINF / 4, "steps": 40,
                                                           "random_start": True}},
                       f"{_NAMID}: black-box transfer, PGD-40 (step eps/4) crafted on a VGG-19 surrogate",
                       scaled=(), steps_keys=(), kind="transfer", needs_surrogate=True),
            AttackSpec("SPSA", "spsa", {"delta": 0.01, "lr": 0.01, "nb_iter": 100, "nb_sample": 128,
                                        "max_batch_size": 64},
                       f"{_INFOAT}: SPSA (Uesato et al., ICML 2018; torchattacks SPSA). InfoAT prints no SPSA "
                       "budget: 100 iterations of 128 samples, delta = lr = 0.01 is mireg's choice",
                       scaled=(), steps_keys=("nb_iter",), kind="black-box"),
        ),
    )


@SUITES.register("robustbench-linf")
def robustbench_linf_suite() -> Suite:
    """The RobustBench L-inf claim: AutoAttack standard at 8/255."""
    return Suite(
        name="robustbench-linf", norm="Linf", eps=_EPS_LINF,
        citation="RobustBench (Croce et al., NeurIPS 2021 D&B): AutoAttack standard, L-inf 8/255",
        description="RobustBench L-inf: AutoAttack standard at 8/255",
        attacks=(_autoattack("Linf", "AutoAttack standard (Croce & Hein, ICML 2020) via pyautoattack"),),
    )


@SUITES.register("robustbench-l2")
def robustbench_l2_suite() -> Suite:
    """The RobustBench L2 claim: AutoAttack standard at 0.5."""
    return Suite(
        name="robustbench-l2", norm="L2", eps=0.5,
        citation="RobustBench (Croce et al., NeurIPS 2021 D&B): AutoAttack standard, L2 0.5",
        description="RobustBench L2: AutoAttack standard at 0.5",
        attacks=(_autoattack("L2", "AutoAttack standard (Croce & Hein, ICML 2020) via pyautoattack"),),
    )
