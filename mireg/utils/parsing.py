"""Numbers as people write them: ``"8/255"`` -> 0.03137..., for the command line and config files.

:func:`parse_fraction` raises :class:`FractionError`, which is both a ``ValueError`` (for library
callers) and an ``argparse.ArgumentTypeError`` (so argparse prints its message as the error)::

    parser.add_argument("--eps", type=parse_fraction)          # mireg train --eps 8/255
"""

from __future__ import annotations

import argparse
from fractions import Fraction

__all__ = ["FractionError", "parse_fraction"]


class FractionError(ValueError, argparse.ArgumentTypeError):
    """A string that is not a number or a fraction like 8/255 (or not > 0 where that is required).

    Examples:
        >>> from mireg.utils.parsing import FractionError, parse_fraction
        >>> try:
        ...     parse_fraction("8/0", name="eps")
        ... except FractionError as err:  # also a ValueError and argparse's ArgumentTypeError
        ...     print("eps" in str(err))
        True
    """


def parse_fraction(text: str, *, name: str | None = None, positive: bool = False) -> float:
    """``"8/255"``, ``"0.031"`` or ``"1e-2"`` -> float; ``positive`` requires a value > 0.

    ``name`` is the quantity named in the error (``"eps must be ..."``); without it the message
    reads ``"expected a number or a fraction like 8/255, got ..."``.

    Args:
        text: the string.
        name: the quantity, for the error message.
        positive: require a value > 0.

    Returns:
        The number.

    Examples:
        >>> from mireg.utils.parsing import parse_fraction
        >>> parse_fraction("8/255"), parse_fraction("1e-2")
        (0.03137254901960784, 0.01)
    """
    subject = f"{name} must be" if name else "expected"
    try:
        value = float(Fraction(str(text).strip()))
    except (ValueError, ZeroDivisionError):
        raise FractionError(f"{subject} a number or a fraction like 8/255, got {text!r}") from None
    if positive and value <= 0:
        raise FractionError(f"{name or 'the value'} must be > 0, got {text!r}")
    return value
