"""argparse types shared by the commands: a bad value is refused while parsing, as one line that
names the flag (``mireg demo: error: argument --epochs: must be an integer >= 1, got '0'``).

The checks are mireg's own (:mod:`mireg._validation`, :func:`mireg.utils.parsing.parse_fraction`,
:func:`mireg.utils.device.resolve_device`), imported inside the types: no torch at module level.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from typing import Any

from mireg.utils.parsing import parse_fraction

__all__ = ["checkpoint", "device", "fraction", "integer", "json_object", "linf_eps", "number", "radius"]


def integer(low: int) -> Callable[[str], int]:
    """An int >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    return parse


def number(low: float, *, open_low: bool = False) -> Callable[[str], float]:
    """A finite float >= ``low`` (> ``low`` when ``open_low``)."""
    bound = f"{'>' if open_low else '>='} {low:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {bound}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (open_low and value == low):
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
        return value

    return parse


def fraction(text: str) -> float:
    """A number or a fraction like ``2/255``, > 0 (step sizes)."""
    return parse_fraction(text, name="the value", positive=True)


def radius(text: str) -> float:
    """A radius > 0 written as a number or a fraction (``8/255``, ``0.5``); its range per norm is
    checked by the command once the norm (the attack or the suite) is known."""
    return parse_fraction(text, name="eps", positive=True)


def linf_eps(text: str) -> float:
    """An L-inf radius in (0, 1], e.g. ``8/255`` (``8`` is refused: did you mean 8/255?)."""
    from mireg._validation import check_eps

    value = parse_fraction(text, name="eps")
    try:
        return check_eps("eps", value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def json_object(text: str) -> dict[str, Any]:
    """A JSON object, e.g. ``'{"width": 8}'``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"must be a JSON object like '{{\"width\": 8}}', got {text!r} "
                                         f"({err.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object like '{{\"width\": 8}}', got {text!r}")
    return value


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (CUDA only where it is available); kept as written."""
    from mireg.utils.device import resolve_device

    try:
        resolve_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def checkpoint(text: str) -> str:
    """An existing checkpoint file; a folder is refused with the files a run folder holds (best.pt, last.pt)."""
    from pathlib import Path

    path = Path(text)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.pt"))
        hint = (f"it holds {', '.join(found)}" if found else
                "it holds no .pt file; a 'mireg train' run folder holds best.pt and last.pt")
        example = path / ("best.pt" if "best.pt" in found or not found else found[0])
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a checkpoint file: give a file in it, "
                                         f"e.g. {example} ({hint})")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"checkpoint {text!r} does not exist")
    return text
