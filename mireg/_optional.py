"""Optional dependencies: a clear error naming the extra to install when one is missing.

mireg's core install brings what the loss terms, attacks and training engine need. Everything else
comes through an extra (``pip install "mireg[NAME]"``; the table is in ``docs/install.md``) and is
imported only where it is used, after :func:`require` has checked that it is there.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["EXTRAS", "require"]

# module -> (distribution on PyPI, the smallest mireg extra that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "robustbench": ("robustbench", "robustbench"),
    "timm": ("timm", "robustbench"),
    "pyautoattack": ("pyautoattack", "autoattack"),
    "matplotlib": ("matplotlib", "plot"),
    "sklearn": ("scikit-learn", "data"),
    "scipy": ("scipy", "data"),
    "tensorboard": ("tensorboard", "tensorboard"),
}


def require(module: str, purpose: str) -> ModuleType:
    """Import the optional top-level ``module`` for ``purpose``, or raise a ``ModuleNotFoundError`` naming
    the extra that installs it. Only a missing package is translated; any other import error propagates.

    Example:
        >>> plt = require("matplotlib", "saving a plot")   # ModuleNotFoundError: ... pip install "mireg[plot]"
    """
    if module not in EXTRAS:
        raise ValueError(f"module must be one of mireg's optional packages {sorted(EXTRAS)}, got {module!r}")
    if importlib.util.find_spec(module) is None:
        dist, extra = EXTRAS[module]
        raise ModuleNotFoundError(
            f"{purpose} needs the optional package {dist!r}, which is not installed. "
            f'Install it with: pip install "mireg[{extra}]"  (or pip install "mireg[all]")', name=module)
    return importlib.import_module(module)
