"""Optional dependencies: a clear error naming the extra to install when one is missing.

mireg's core install brings what the loss terms, attacks and training engine need. Everything else
comes through an extra (``pip install "mireg[NAME]"``; the table is in ``docs/install.md``) and is
imported only where it is used, after :func:`require` has checked that it is there.
"""

from __future__ import annotations

import importlib
import importlib.metadata
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


# Importable without being installed: torchattacks 3.5.1's wheel ships a partial copy of robustbench (no
# metadata, none of its dependencies), so for these the distribution must be installed too.
_PARTIAL_COPIES = {"robustbench": "torchattacks 3.5.1 ships a partial copy of it"}


def _missing(module: str) -> str | None:
    """Why ``module`` cannot be used (None when it can)."""
    if importlib.util.find_spec(module) is None:
        return "which is not installed"
    if module in _PARTIAL_COPIES:
        try:
            importlib.metadata.distribution(EXTRAS[module][0])
        except importlib.metadata.PackageNotFoundError:
            return f"which is not installed ({_PARTIAL_COPIES[module]}, which does not work alone)"
    return None


def require(module: str, purpose: str, extra: str | None = None) -> ModuleType:
    """Import the optional top-level ``module`` for ``purpose``, or raise a ``ModuleNotFoundError`` naming
    the extra that installs it (``extra`` overrides the smallest one, e.g. ``"demo"`` for the whole demo).
    Only a missing package is translated; any other import error propagates.

    Examples:
        >>> plt = require("matplotlib", "saving a plot")   # ModuleNotFoundError: ... pip install "mireg[plot]"
    """
    if module not in EXTRAS:
        raise ValueError(f"module must be one of mireg's optional packages {sorted(EXTRAS)}, got {module!r}")
    why = _missing(module)
    if why is not None:
        dist, smallest = EXTRAS[module]
        extra = extra or smallest
        raise ModuleNotFoundError(
            f"{purpose} needs the optional package {dist!r}, {why}. "
            f'Install it with: pip install "mireg[{extra}]"  (or pip install "mireg[all]")', name=module)
    return importlib.import_module(module)
