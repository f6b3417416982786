"""Name -> constructor registries, so recipes, models, attacks and datasets are created by name.

In the spirit of timm's ``create_model``: every provider registers itself with a decorator, and the
CLI and config files refer to entries by their registered names::

    @MODELS.register("resnet18")
    def resnet18(num_classes: int = 10, **kwargs) -> nn.Module: ...

    model = MODELS.create("resnet18", num_classes=10)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any


class Registry:
    """A named collection of constructors with helpful errors for unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

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

    def get(self, name: str) -> Callable[..., Any]:
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__}")
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
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


MODELS = Registry("model")
ATTACKS = Registry("attack")
DATASETS = Registry("dataset")
METHODS = Registry("method")
RECIPES = Registry("recipe")
SUITES = Registry("evaluation suite")
