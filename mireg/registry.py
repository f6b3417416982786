"""Name -> constructor registries, so recipes, models, attacks and datasets are created by name.

In the spirit of timm's ``create_model``: every provider registers itself with a decorator, and the
CLI and config files refer to entries by their registered names::

    @MODELS.register("resnet18")
    def resnet18(num_classes: int = 10, **kwargs) -> nn.Module: ...

    model = MODELS.create("resnet18", num_classes=10)

A registry fills itself on its first lookup (``get``, ``create``, ``names``, ``in``, iteration):
it imports the modules that provide its built-in entries (named by :mod:`mireg` with
:meth:`Registry.provided_by`; this module imports no other mireg module), then loads the
installed plugins of its entry-point group, e.g. ``mireg.models``. A plugin distribution declares,
in its ``pyproject.toml``::

    [project.entry-points."mireg.models"]
    my-net = "my_package.mireg_plugin"

and ``my_package/mireg_plugin.py`` registers ``my-net`` on import (``@MODELS.register("my-net")``;
datasets with :func:`mireg.data.register_dataset`). A plugin that fails to import, or that does not
register its entry point's name, is skipped with a warning: it never breaks mireg.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["ATTACKS", "DATASETS", "METHODS", "MODELS", "RECIPES", "SUITES", "Registry", "plugin_entry_points"]


@functools.cache
def plugin_entry_points(group: str) -> tuple[EntryPoint, ...]:
    """The installed entry points of ``group`` (read once per process; ``cache_clear()`` re-reads)."""
    from importlib.metadata import entry_points  # on first lookup only: ``import mireg`` stays light

    return tuple(entry_points(group=group))


class Registry:
    """A named collection of constructors with helpful errors for unknown names.

    Args:
        kind: what the entries are, for messages ("model").
        group: the entry-point group of plugins (``"mireg.models"``); None: no plugins.
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, Callable[..., Any]] = {}
        self._providers: list[str] = []
        self._state = "empty"  # -> "loading" -> "loaded"

    def provided_by(self, *modules: str) -> Registry:
        """Name the modules whose import registers the built-in entries (imported on first lookup)."""
        self._providers.extend(m for m in modules if m not in self._providers)
        if self._state == "loaded":
            self._state = "empty"
        return self

    def register(self, name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator that registers ``fn`` under ``name`` (default: its ``__name__`` in lower case)."""

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name or fn.__name__.lower(), fn)
            return fn

        return decorator

    def add(self, name: str, fn: Callable[..., Any]) -> None:
        key = name.lower()
        if key in self._entries and self._entries[key] is not fn:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[key] = fn

    def load(self) -> Registry:
        """Import the providers and the plugins now (done by the first lookup; idempotent)."""
        if self._state != "empty":
            return self  # loaded, or loading: a provider looked an entry up while being imported
        self._state = "loading"
        try:
            for module in self._providers:
                importlib.import_module(module)
        except BaseException:
            self._state = "empty"
            raise
        if self.group:
            for entry_point in plugin_entry_points(self.group):
                self._load_plugin(entry_point)
        self._state = "loaded"
        return self

    def _load_plugin(self, entry_point: EntryPoint) -> None:
        dist = getattr(entry_point.dist, "name", None) or "an installed package"
        where = f"plugin {entry_point.name!r} = {entry_point.value!r} of {dist} (entry points {self.group!r})"
        try:
            entry_point.load()
        except Exception as err:  # noqa: BLE001 - a broken plugin must not break mireg
            warnings.warn(f"skipped {where}: {type(err).__name__}: {err}", RuntimeWarning, stacklevel=4)
            return
        if entry_point.name.lower() not in self._entries:
            warnings.warn(f"{where} registered no {self.kind} named {entry_point.name!r}", RuntimeWarning,
                          stacklevel=4)

    def get(self, name: str) -> Callable[..., Any]:
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__}")
        self.load()
        try:
            return self._entries[name.lower()]
        except KeyError:
            close = difflib.get_close_matches(name.lower(), self._entries, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries))}"
            ) from None

    def create(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        return sorted(self.load()._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.load()._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


MODELS = Registry("model", "mireg.models")
ATTACKS = Registry("attack", "mireg.attacks")
DATASETS = Registry("dataset", "mireg.datasets")
METHODS = Registry("method", "mireg.methods")
RECIPES = Registry("recipe", "mireg.recipes")
SUITES = Registry("evaluation suite", "mireg.suites")
