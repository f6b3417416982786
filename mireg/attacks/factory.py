"""The one front door for building an attack: by registered name or from a factory.

Every caller (the training engine, the estimators, the evaluation suites, the transfer attack) builds
its attacks here::

    attack = create_attack("pgd", model, eps=8 / 255, alpha=2 / 255, steps=10)
    attack = create_attack("fgsm", model, budget={"eps": 0.1, "alpha": 0.025, "steps": 7})   # FGSM: eps only
    attack = create_attack(my_factory, model, eps=0.1)      # any fn(model, **kwargs) -> attack

Keyword arguments are passed as given, and an attack that does not take one is a ``ValueError``
naming the attack and the arguments. ``budget`` holds arguments passed only to attacks that take them
(the engine's eps/alpha/steps: FGSM has no steps, CW-L2 no eps); explicit keyword arguments win over it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from mireg._validation import check_eps, check_number
from mireg.registry import ATTACKS

__all__ = ["attack_norm", "create_attack"]

#: the norm in which each registered attack measures ``eps`` (mireg._validation.check_eps has the rule
#: per norm); None: the attack takes no eps (minimum-norm attacks)
_NORMS = {
    **dict.fromkeys(("fgsm", "pgd", "tpgd", "mart-pgd", "apgd-ce", "apgd-dlr", "apgd-t", "spsa", "tifgsm", "square",
                     "fab", "infopgd", "cw-inf", "fwa", "ti-dim", "rays", "autoattack", "transfer"), "Linf"),
    "pgd-l2": "L2", "ddn-bounded": "L2", "wasserstein-pgd": "Wasserstein", "cw-l2": None, "ddn": None,
}


def _signature(factory: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins and C extensions have none
        return None


def _takes(signature: inspect.Signature | None, name: str) -> bool:
    if signature is None:
        return False
    params = signature.parameters.values()
    return name in signature.parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def attack_norm(attack: str | Callable[..., Any], kwargs: Mapping[str, Any] | None = None) -> str | None:
    """The norm of the ``eps`` of ``attack`` built with ``kwargs``: "Linf", "L2", "Wasserstein" or None.

    A ``norm`` keyword argument (AutoAttack, APGD, Square, FAB) wins; ``"transfer"`` has its crafting
    attack's norm. None: the attack takes no eps, or it is a factory / a name mireg does not know.

    Args:
        attack: a registered attack name or a factory.
        kwargs: the arguments the attack is built with.

    Returns:
        "Linf", "L2", "Wasserstein" or None.

    Examples:
        >>> from mireg.attacks import attack_norm
        >>> attack_norm("pgd-l2"), attack_norm("autoattack", {"norm": "L2"}), attack_norm("pgd")
        ('L2', 'L2', 'Linf')
    """
    kwargs = dict(kwargs or {})
    if isinstance(kwargs.get("norm"), str):
        return kwargs["norm"]
    if not isinstance(attack, str):
        return None
    if attack.lower() == "transfer":
        return attack_norm(kwargs.get("attack", "pgd"), kwargs.get("attack_kwargs"))
    return _NORMS.get(attack.lower())


def _check_budget(attack: str | Callable[..., Any], arguments: Mapping[str, Any]) -> None:
    """eps and alpha within their norm's range (``check_eps``: 8 for 8/255 is refused), steps >= 1."""
    norm = attack_norm(attack, arguments)
    for key in ("eps", "alpha"):
        if arguments.get(key) is not None and (norm is not None or isinstance(attack, str)):
            check_eps(key, arguments[key], norm or "any")
    if arguments.get("steps") is not None:
        check_number("steps", arguments["steps"], low=1, integer=True)


def create_attack(attack: str | Callable[..., Any], model: nn.Module, /, *,
                  budget: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """``ATTACKS[attack](model, **kwargs)`` (or ``attack(model, **kwargs)`` for a factory).

    Args:
        attack: a name in :data:`mireg.registry.ATTACKS` (``mireg.registry.ATTACKS.names()``) or a
            factory ``fn(model, **kwargs) -> attack`` where ``attack(x, y) -> x_adv``.
        model: the model attacked (images in [0, 1] -> logits).
        budget: arguments given only to attacks that take them (e.g. ``{"eps": ..., "steps": ...}``).
        **kwargs: the attack's arguments, passed as given.

    Returns:
        The attack: a callable ``attack(images, labels) -> adversarial images``.

    Raises:
        ValueError: the attack does not take one of ``kwargs``.

    Examples:
        >>> import torch
        >>> from mireg.attacks import create_attack
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> atk = create_attack("infopgd", model, budget={"eps": 4 / 255, "steps": 3, "queries": 99})
        >>> atk.eps, atk.steps  # "queries" is not InfoPGD's: dropped from the budget
        (0.01568627450980392, 3)

    Raises:
        ValueError: unknown name (with suggestions), or arguments the attack does not take.
    """
    if not callable(attack) and not isinstance(attack, str):
        raise TypeError(f"attack must be a name in mireg.registry.ATTACKS or a factory fn(model, **kwargs), "
                        f"got {type(attack).__name__}")
    factory = attack if callable(attack) else ATTACKS.get(attack)
    name = attack if isinstance(attack, str) else getattr(attack, "__name__", repr(attack))
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (images in [0, 1] -> logits), got {type(model).__name__}")
    if budget is not None and not isinstance(budget, Mapping):
        raise TypeError(f"budget must be a mapping such as {{'eps': 8/255, 'steps': 10}}, got {type(budget).__name__}")
    signature = _signature(factory)
    arguments = {k: v for k, v in (budget or {}).items() if _takes(signature, k)}
    arguments.update(kwargs)
    _check_budget(attack, arguments)
    if signature is not None:
        try:
            signature.bind(model, **arguments)
        except TypeError as err:
            raise ValueError(f"attack {name!r} rejected its arguments {sorted(arguments)}: {err}") from None
    return factory(model, **arguments)
