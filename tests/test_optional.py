"""Optional packages: every import of one is guarded by ``mireg._optional.require``, whose error names the extra."""

from __future__ import annotations

import ast
import configparser
import importlib
import sys
from pathlib import Path

import pytest
import torch

from mireg._optional import EXTRAS, require

ROOT = Path(__file__).resolve().parents[1]
# An import of the key is also covered by a require() of the value (robustbench pins timm).
COVERED_BY = {"timm": "robustbench"}


def _extras() -> dict[str, list[str]]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    section = cfg["options.extras_require"]
    return {name: [line.strip() for line in section[name].splitlines() if line.strip() and not line.startswith("#")]
            for name in section}


def _requires_before(body: list[ast.stmt], lineno: int) -> set[str]:
    """Modules passed to require("...") in statements of ``body`` that start before ``lineno``."""
    found = set()
    for stmt in body:
        if stmt.lineno >= lineno:
            break
        for node in ast.walk(stmt):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found


def _unguarded_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    scopes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    bad = []
    for scope in scopes:
        for stmt in ast.walk(scope):
            if not isinstance(stmt, (ast.Import, ast.ImportFrom)) or stmt not in _direct_statements(scope):
                continue
            names = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else [stmt.module or ""]
            for top in {n.partition(".")[0] for n in names} & set(EXTRAS):
                guards = _requires_before(scope.body, stmt.lineno)
                if top not in guards and COVERED_BY.get(top) not in guards:
                    bad.append(f"{path.relative_to(ROOT)}:{stmt.lineno} imports {top}")
    return bad


def _direct_statements(scope: ast.AST) -> list[ast.stmt]:
    """Statements of ``scope`` not inside a nested function or class."""
    out, todo = [], list(getattr(scope, "body", []))
    while todo:
        stmt = todo.pop()
        out.append(stmt)
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            todo.extend(child for child in ast.iter_child_nodes(stmt) if isinstance(child, ast.stmt))
    return out


def test_every_import_of_an_optional_package_is_guarded_by_require():
    bad = [line for path in sorted((ROOT / "mireg").rglob("*.py")) for line in _unguarded_imports(path)]
    assert not bad, "import an optional package only after mireg._optional.require(...):\n" + "\n".join(bad)


def test_each_optional_package_comes_with_the_extra_the_error_names():
    extras = _extras()
    for module, (dist, extra) in EXTRAS.items():
        if module in COVERED_BY:
            continue
        assert any(req.split(";")[0].strip().lower().startswith(dist) for req in extras[extra]), (module, extra)


def test_all_is_every_runtime_extra_and_test_brings_it_too():
    extras = _extras()
    runtime = {name for name in extras if name not in ("all", "test")}
    union = {req for name in runtime for req in extras[name]}
    assert set(extras["all"]) == union
    assert union <= set(extras["test"])


def test_the_docs_tools_are_no_extra_because_pip_cannot_install_them_beside_torchattacks():
    # torchattacks 3.5.1 pins requests~=2.25.1; mkdocs-material >= 9.5 needs requests >= 2.26.
    extras = _extras()
    docs_tools = [req for reqs in extras.values() for req in reqs if req.lower().startswith("mkdocs")]
    assert not docs_tools, "keep the docs tools in docs/requirements.txt: " + ", ".join(docs_tools)
    requirements = (ROOT / "docs" / "requirements.txt").read_text()
    assert "mkdocs-material" in requirements and "mkdocstrings" in requirements


@pytest.mark.parametrize("module, extra", [(m, e) for m, (_, e) in EXTRAS.items()])
def test_a_missing_package_raises_an_error_naming_the_extra(monkeypatch, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # what Python sees when the package is not installed
    with pytest.raises(ModuleNotFoundError, match=rf'pip install "mireg\[{extra}\]"') as info:
        require(module, "this feature")
    assert info.value.name == module and "this feature" in str(info.value)


def test_torchattacks_partial_robustbench_copy_counts_as_missing(monkeypatch):
    import importlib.metadata

    def no_robustbench(name):
        if name == "robustbench":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    real = importlib.metadata.distribution
    monkeypatch.setattr(importlib.metadata, "distribution", no_robustbench)
    with pytest.raises(ModuleNotFoundError, match=r'partial copy.*pip install "mireg\[robustbench\]"'):
        require("robustbench", "RobustBench models")


def test_the_demo_names_its_own_extra_before_training(monkeypatch):
    from mireg.train.demo import run_demo

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ModuleNotFoundError, match=r'mireg demo needs .*pip install "mireg\[demo\]"'):
        run_demo(methods=["at"], epochs=1)


def test_require_refuses_a_module_that_is_not_optional():
    with pytest.raises(ValueError, match="optional"):
        require("torch", "x")


def test_real_entry_points_name_their_extra(monkeypatch, tmp_path):
    from mireg.data.digits import load_digits
    from mireg.data.svhn import _read_mat

    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ModuleNotFoundError, match=r"mireg\[data\]"):
        load_digits(split="train")
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(ModuleNotFoundError, match=r"mireg\[data\]"):
        _read_mat(tmp_path / "train_32x32.mat")
    monkeypatch.setitem(sys.modules, "pyautoattack", None)
    monkeypatch.delitem(sys.modules, "mireg._autoattack_api", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r"mireg\[autoattack\]"):
        importlib.import_module("mireg._autoattack_api")
    from mireg.attacks import AutoAttack

    with pytest.raises(ModuleNotFoundError, match=r"mireg\[autoattack\]"):
        AutoAttack(torch.nn.Linear(2, 2)).build()
