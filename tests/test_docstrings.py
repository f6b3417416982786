"""Every public callable has a Google-style docstring with an example, and every example runs (issue 13).

The public API is every callable named in the ``__all__`` of the packages in :data:`PACKAGES` and of the
modules of :mod:`mireg.utils` (whose ``__init__`` re-exports nothing). Each one's own docstring (a class's,
not its methods') must have

- a one-line summary;
- ``Args:`` listing its parameters one by one (no ``x, y:`` groups, no names the signature lacks); a
  dataclass may list its fields under ``Attributes:`` instead, or name every field in its text (the 60
  fields of :class:`mireg.config.TrainConfig`, grouped); exceptions, ``(*args, **kwargs)`` signatures and
  classes whose constructor is another package's (:class:`mireg.attacks.Attack`: torchattacks') need none;
- ``Returns:`` (or ``Yields:`` for a context manager) for a function not annotated ``-> None``;
- an ``Examples:`` section of ``>>>`` lines (the title mkdocstrings renders as code); no other forms
  (``Example:``, ``Example::``, ``Arguments:``, ``:param``).

The examples run as doctests (``ELLIPSIS``, ``NORMALIZE_WHITESPACE``) in an empty namespace, so each one
imports what it uses, with torch's RNG seeded to 0 and restored afterwards, in a temporary working folder.
An example that needs one of mireg's optional packages says so in a first line ``>>> # needs: matplotlib``
(the names of :data:`mireg._optional.EXTRAS`; ``gpu`` for CUDA) and is skipped where it is missing. An
example that needs a dataset file, a download or a long run marks those lines ``# doctest: +SKIP`` and
says why in the text before it.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import inspect
import pkgutil
import re

import pytest
import torch

PACKAGES = ("mireg", "mireg.functional", "mireg.losses", "mireg.attacks", "mireg.estimators",
            "mireg.evaluation", "mireg.train", "mireg.data", "mireg.models", "mireg.reproduce",
            "mireg.checkpoints", "mireg.config", "mireg.recipes", "mireg.runs")


def _public() -> dict[str, object]:
    """``"package.name" -> object`` for every public callable, each object once (first name wins)."""
    import mireg.utils

    modules = list(PACKAGES) + [f"mireg.utils.{m.name}" for m in pkgutil.iter_modules(mireg.utils.__path__)]
    found, seen = {}, set()
    for name in modules:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", ()):
            obj = getattr(module, attr)
            if callable(obj) and id(obj) not in seen:
                seen.add(id(obj))
                found[f"{name}.{attr}"] = obj
    return found


PUBLIC = _public()
_SECTION = re.compile(r"^(\w[\w ]*):\s*$", re.M)


def _sections(doc: str) -> dict[str, str]:
    """Google-style sections of a docstring: title -> its indented body."""
    parts = _SECTION.split(doc)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _listed_names(body: str) -> list[str]:
    """The names an ``Args:`` body documents (its lines indented by exactly four spaces)."""
    return [m.group(1) for m in re.finditer(r"^ {4}(\*{0,2}\w[\w, ]*?)(?: \([^)]*\))?:", body, re.M)]


def _parameters(obj) -> list[inspect.Parameter] | None:
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return None
    return params


def _problems(name: str, obj) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    if not doc.strip():
        return ["no docstring"]
    bad, sections = [], _sections(doc)
    if re.search(r"^(Examples?::|Example:|Arguments:|Parameters:)\s*$|:param ", doc, re.M):
        bad.append("a section title other than Google's (Example:, Example::, Arguments:, :param)")
    if ">>>" not in sections.get("Examples", ""):
        bad.append("no 'Examples:' section with >>> lines")
    params = _parameters(obj)
    no_args = inspect.isclass(obj) and (issubclass(obj, BaseException) or not _own_constructor(obj))
    named = [p for p in params or [] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if named and not no_args:
        bad += _args_problems(obj, doc, sections, params)
    returns = inspect.isfunction(obj) and inspect.signature(obj).return_annotation not in ("None", None)
    if returns and "Returns" not in sections and "Yields" not in sections:
        bad.append("no 'Returns:' (or 'Yields:') section")
    return bad


def _own_constructor(cls: type) -> bool:
    """Whether mireg wrote ``cls``'s constructor (a dataclass's counts), not an inherited third-party one."""
    return any(klass.__module__.startswith("mireg") and ("__init__" in vars(klass) or dataclasses.is_dataclass(klass))
               for klass in cls.__mro__)


def _args_problems(obj, doc: str, sections: dict[str, str], params: list[inspect.Parameter]) -> list[str]:
    real = {p.name for p in params} | {f"*{p.name}" for p in params} | {f"**{p.name}" for p in params}
    body = sections.get("Args")
    if dataclasses.is_dataclass(obj):
        body = body or sections.get("Attributes")
        if body is None:
            unnamed = [f.name for f in dataclasses.fields(obj) if not re.search(rf"\b{f.name}\b", doc)]
            return [f"no 'Attributes:' section and fields not documented: {unnamed}"] if unnamed else []
    if body is None:
        return ["no 'Args:' section"]
    return [f"Args lists {listed!r}, which is not one parameter of the signature"
            for listed in _listed_names(body) if listed not in real]


def test_the_public_api_is_found():
    assert len(PUBLIC) > 150
    assert "mireg.functional.infoat_loss" in PUBLIC and "mireg.utils.seeding.seeded" in PUBLIC


def test_every_public_callable_has_a_google_docstring_with_an_example():
    report = [f"{name}: {problem}" for name, obj in PUBLIC.items() for problem in _problems(name, obj)]
    assert not report, f"{len(report)} docstring problems:\n" + "\n".join(report)


def _doctests() -> list[tuple[str, doctest.DocTest]]:
    finder = doctest.DocTestFinder(recurse=False)
    tests = []
    for name, obj in PUBLIC.items():
        for test in finder.find(obj, name, globs={}):
            if test.examples:
                tests.append((name, test))
    return tests


DOCTESTS = _doctests()


def _skip_unless_available(test: doctest.DocTest) -> None:
    from mireg._optional import EXTRAS, _missing

    # doctest drops comment-only examples, so the marker is read from the docstring itself
    for needs in re.finditer(r"^\s*>>>\s*#\s*needs:\s*([^(\n]+)", test.docstring or "", re.M):
        for name in re.findall(r"[\w-]+", needs.group(1)):
            assert name in set(EXTRAS) | {"gpu"}, f"{test.name}: unknown need {name!r} (known: {sorted(EXTRAS)}, gpu)"
            if name == "gpu" and not torch.cuda.is_available():
                pytest.skip("the example needs a GPU")
            if name != "gpu" and _missing(name):
                pytest.skip(f"the example needs {name}, {_missing(name)}")


def _registries() -> list[object]:
    import mireg.registry
    import mireg.reproduce.studies

    return [obj for module in (mireg.registry, mireg.reproduce.studies) for obj in vars(module).values()
            if isinstance(obj, mireg.registry.Registry)]


@pytest.fixture
def _registries_restored():
    """Examples that register a recipe, method or study leave the registries as they found them."""
    saved = [(reg, {k: v.copy() if isinstance(v, (dict, list, set)) else v for k, v in vars(reg).items()})
             for reg in _registries()]
    yield
    for reg, state in saved:
        vars(reg).clear()
        vars(reg).update(state)


@pytest.mark.parametrize("name,test", DOCTESTS, ids=[name for name, _ in DOCTESTS])
def test_docstring_example_runs(name, test, tmp_path, monkeypatch, _registries_restored):
    _skip_unless_available(test)
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)
