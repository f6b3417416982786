"""Evaluation suites, the types: :class:`AttackSpec`, :class:`Suite`, :class:`ResolvedAttack`, :func:`get_suite`.

The papers' suites themselves (the catalogue, with their citations) are in
:mod:`mireg.evaluation.paper_suites`. A :class:`Suite` is a list of :class:`AttackSpec` entries plus
the threat model (norm, default eps) and the orderings its sanity checks expect (a stronger attack
must not score higher than a weaker one). Suites are registered by name in
:data:`mireg.registry.SUITES`::

    suite = SUITES.create("infoat")            # -> Suite
    for entry in suite.resolve(eps=8 / 255):   # -> list[ResolvedAttack]
        attack = entry.build(model)            # a torchattacks-style Attack

Step sizes are stored for the suite's default eps and scale linearly when another eps is asked
for (PGD-20's eps/4 = 2/255 at 8/255 becomes 1/255 at 4/255). Iteration counts are the papers'; the
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

__all__ = ["AttackSpec", "Suite", "ResolvedAttack", "THREATS", "format_eps", "get_suite", "threat_note"]

NORMS = ("Linf", "L2")
KINDS = ("white-box", "black-box", "transfer")
#: how the runner decides that an adversarial example is inside the threat model (:class:`AttackSpec`)
THREATS = ("norm", "wasserstein")

def format_eps(eps: float, norm: str = "Linf") -> str:
    """``8/255`` for multiples of 1/255 in L-inf, else a short decimal."""
    if norm == "Linf" and eps > 0:
        k = eps * 255
        if abs(k - round(k)) < 1e-6:
            return f"{round(k)}/255"
    return f"{eps:.4g}"


def threat_note(config: Mapping[str, Any]) -> str | None:
    """One sentence on an entry's threat model when it is not the suite's norm ball (from a
    :meth:`ResolvedAttack.describe`), else None."""
    if config.get("threat", "norm") != "wasserstein":
        return None
    kwargs = config.get("kwargs", {})
    eps = kwargs.get("eps")
    radius = "its default radius" if eps is None else f"eps = {format_eps(eps)}"
    window = f", transport window {kwargs['kernel_size']}" if "kernel_size" in kwargs else ""
    return (f"{config.get('label', '?')}: Wasserstein threat model ({radius} pixels of transport per unit of "
            f"image mass{window}): a success counts when the attack's transport cost is within its budget "
            "and the image in [0, 1]; its L-inf size is not bounded")


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
        threat: ``"norm"`` (default): the example must lie in the suite's ball (``norm``, eps).
            ``"wasserstein"``: the attack bounds the transport cost of the perturbation, not a norm
            (NAMID's FWA-40, :class:`mireg.attacks.WassersteinPGD`); after each call it reports
            ``last_cost`` and ``last_budget`` (N,), and a success counts only where
            ``last_cost <= last_budget`` and the image is in [0, 1]. Its L-inf / L2 size is not
            bounded; the runner records ``last_cost / sum(x)`` (the transport distance per unit of
            image mass, comparable to eps) as the perturbation size.

    Examples:
        >>> from mireg.evaluation import AttackSpec
        >>> spec = AttackSpec("PGD-20", "pgd", {"alpha": 2 / 255, "steps": 20}, citation="Madry et al. 2018")
        >>> spec.describe()["attack"], spec.scaled
        ('pgd', ('alpha',))
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
    threat: str = "norm"

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"label must be a non-empty string, got {self.label!r}")
        if not (isinstance(self.attack, str) or callable(self.attack)):
            raise TypeError(f"attack must be a registered name or a factory, got {type(self.attack).__name__}")
        check_number("restarts", self.restarts, low=1, integer=True)
        check_choice("kind", self.kind, KINDS)
        check_choice("threat", self.threat, THREATS)
        if self.threat == "wasserstein" and not self.bounded:
            raise ValueError(f"{self.label}: threat='wasserstein' entries are bounded by the attack's own "
                             "transport budget; set bounded=True")

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (for reports)."""
        name = self.attack if isinstance(self.attack, str) else getattr(self.attack, "__name__", repr(self.attack))
        return {"label": self.label, "attack": name, "kwargs": dict(self.kwargs), "restarts": self.restarts,
                "bounded": self.bounded, "kind": self.kind, "threat": self.threat, "citation": self.citation}


@dataclasses.dataclass(frozen=True)
class ResolvedAttack:
    """A suite entry with its final arguments for one eps (and budget cap).

    Attributes:
        spec: the :class:`AttackSpec`.
        norm: the threat model's norm.
        eps: the radius it runs at.
        kwargs: the attack's final arguments (eps filled in, steps scaled and capped).

    Examples:
        >>> from mireg.evaluation import get_suite
        >>> entry = get_suite("quick").resolve(eps=4 / 255)[0]  # a ResolvedAttack
        >>> entry.label, entry.kwargs["eps"] == 4 / 255
        ('PGD-20', True)
    """

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

    Examples:
        >>> from mireg.evaluation import AttackSpec, Suite
        >>> entries = (AttackSpec("FGSM", "fgsm"), AttackSpec("PGD-5", "pgd", {"steps": 5}))
        >>> suite = Suite("tiny", "Linf", 8 / 255, entries, orderings=(("PGD-5", "FGSM"),))
        >>> [spec.label for spec in suite.attacks]  # mireg.evaluate(model, data, suite=suite) runs it
        ['FGSM', 'PGD-5']
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
    """A registered suite by name, or the :class:`Suite` itself.

    Args:
        suite: a name in :data:`mireg.registry.SUITES` or a :class:`Suite`.

    Returns:
        The :class:`Suite`.

    Examples:
        >>> from mireg.evaluation import get_suite
        >>> suite = get_suite("quick")
        >>> suite.norm, [spec.label for spec in suite.attacks]
        ('Linf', ['PGD-20', 'APGD-CE'])
    """
    if isinstance(suite, Suite):
        return suite
    return SUITES.create(suite)
