"""The one interface every mireg loss term keeps, and its composition by ``+`` and ``*``.

A loss term is called as ``term(logits_nat, logits_adv, y=None, *, x=None, x_adv=None)``:

- ``logits_nat`` (B, K): logits on the clean batch; ``None`` is allowed when ``uses_natural`` is False;
- ``logits_adv`` (B, K): logits on the adversarial batch;
- ``y`` (B,): integer labels, for terms that need them;
- ``x``, ``x_adv`` (B, C, H, W): the images, for terms with ``uses_images`` True (NAMID, WMIM).

Terms add and scale like the equations they come from::

    infoat = ATLoss() + InfoAT(lam=2.5, beta=0.2)                    # InfoAT, Eq. 17
    namid = ATLoss() + 5.0 * NaturalAdversarialMILoss(e_n, e_a)      # NAMID, Eq. 9

so a training loop never needs to know which method it runs: it calls the term with what the term
says it uses.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from mireg._validation import check_number


class LossTerm(nn.Module):
    """Base class of all mireg losses and regularizers (see the module docstring for the call).

    Examples:
        >>> import torch, mireg
        >>> class LogitPenalty(mireg.LossTerm):
        ...     uses_natural = False
        ...     def forward(self, logits_nat, logits_adv, y=None, *, x=None, x_adv=None):
        ...         return logits_adv.pow(2).mean()
        >>> criterion = mireg.ATLoss() + 0.1 * LogitPenalty()
        >>> criterion.uses_natural, criterion(None, torch.zeros(2, 10), torch.tensor([0, 1]))
        (False, tensor(2.3026))
    """

    #: whether the term reads ``logits_nat`` (the engine then runs the clean forward pass)
    uses_natural: bool = True
    #: whether the term reads ``x`` and ``x_adv``
    uses_images: bool = False

    def forward(self, logits_nat: torch.Tensor | None, logits_adv: torch.Tensor,
                y: torch.Tensor | None = None, *, x: torch.Tensor | None = None,
                x_adv: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def __add__(self, other: LossTerm) -> SumLoss:
        if not isinstance(other, LossTerm):
            return NotImplemented
        return SumLoss(*_terms(self), *_terms(other))

    def __mul__(self, weight: float) -> ScaledLoss:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            return NotImplemented
        return ScaledLoss(float(weight), self)

    __rmul__ = __mul__


def _terms(term: LossTerm) -> tuple[LossTerm, ...]:
    return tuple(term.terms) if isinstance(term, SumLoss) else (term,)


class ScaledLoss(LossTerm):
    """``weight * term`` (e.g. NAMID's ``alpha * L_mi``); ``weight * term`` builds one.

    Args:
        weight: the factor (a number).
        term: the :class:`LossTerm` it scales.

    Examples:
        >>> import torch, mireg
        >>> scaled = 2.0 * mireg.ATLoss()
        >>> type(scaled).__name__, scaled(None, torch.zeros(1, 10), torch.tensor([0]))
        ('ScaledLoss', tensor(4.6052))
    """

    def __init__(self, weight: float, term: LossTerm) -> None:
        super().__init__()
        check_number("weight", weight)
        self.weight = float(weight)
        self.term = term
        self.uses_natural = term.uses_natural
        self.uses_images = term.uses_images

    def forward(self, logits_nat, logits_adv, y=None, *, x=None, x_adv=None):
        return self.weight * self.term(logits_nat, logits_adv, y, x=x, x_adv=x_adv)

    def extra_repr(self) -> str:
        return f"weight={self.weight}"


class SumLoss(LossTerm):
    """The sum of several terms; after each call ``components`` maps each term's name to its
    (detached) value, for logging. ``term_a + term_b`` builds one.

    Args:
        *terms: the :class:`LossTerm` s to add (at least one).

    Examples:
        >>> import torch, mireg
        >>> criterion = mireg.ATLoss() + mireg.TRADESLoss()
        >>> loss = criterion(torch.zeros(2, 10), torch.zeros(2, 10), torch.tensor([0, 1]))
        >>> criterion.components
        {'ATLoss': tensor(2.3026), 'TRADESLoss': tensor(2.3026)}
    """

    def __init__(self, *terms: LossTerm) -> None:
        super().__init__()
        if not terms:
            raise ValueError("SumLoss needs at least one term")
        for term in terms:
            if not isinstance(term, LossTerm):
                raise TypeError(f"every term must be a mireg LossTerm, got {type(term).__name__}")
        self.terms = nn.ModuleList(terms)
        self.uses_natural = any(t.uses_natural for t in terms)
        self.uses_images = any(t.uses_images for t in terms)
        self.components: dict[str, torch.Tensor] = {}

    def forward(self, logits_nat, logits_adv, y=None, *, x=None, x_adv=None):
        values = [t(logits_nat, logits_adv, y, x=x, x_adv=x_adv) for t in self.terms]
        self.components = {}
        for term, value in zip(self.terms, values, strict=True):
            name = _name(term)
            key, i = name, 2
            while key in self.components:
                key, i = f"{name}_{i}", i + 1
            self.components[key] = value.detach()
        total = values[0]
        for value in values[1:]:
            total = total + value
        return total


def _name(term: LossTerm) -> str:
    inner = term.term if isinstance(term, ScaledLoss) else term
    return type(inner).__name__


def default_of(cls: type, name: str) -> Any:
    """The default of argument ``name`` of ``cls``'s constructor.

    A composition shows the default of the term it is built from without repeating the number:
    ``NAMID_T(..., beta=default_of(TRADESLoss, "beta"))`` keeps TRADES' beta in :class:`TRADESLoss` only.

    Args:
        cls: a class (or any callable with a signature).
        name: the name of one of its arguments.

    Returns:
        That argument's default value.

    Examples:
        >>> import mireg
        >>> mireg.losses.default_of(mireg.TRADESLoss, "beta")
        6.0
    """
    return inspect.signature(cls).parameters[name].default
