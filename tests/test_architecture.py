"""The house rules, read from the source (issue 9): layers, sizes, and every mechanic in one place.

The layer order below is also drawn in ``docs/design.md`` (a test checks that the two agree). A module
may import a module of a LOWER floor, or of its own package; two packages on the same floor never
import each other. Imports inside functions count too; imports under ``if TYPE_CHECKING:`` (annotations
only, never executed) do not. Lazy imports count: the module names in a module-level literal whose name
ends in ``_IMPORTS`` (``mireg/__init__.py``'s ``_LAZY_IMPORTS``, ``_SUBMODULE_IMPORTS`` and
``_REGISTRY_IMPORTS``, imported by name on first use) are edges like any ``import`` statement.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mireg"

#: floor (lowest first) -> the modules/packages on it
LAYERS: tuple[tuple[str, ...], ...] = (
    ("mireg._optional", "mireg._validation", "mireg.registry"),
    ("mireg.utils",),
    ("mireg._autoattack_api", "mireg.checkpoints", "mireg.config", "mireg.functional"),
    ("mireg.compat", "mireg.data", "mireg.models"),
    ("mireg.estimators",),
    ("mireg.attacks", "mireg.losses"),
    ("mireg.recipes", "mireg.runs"),
    ("mireg.evaluation",),
    ("mireg.train",),
    ("mireg.reproduce",),
    ("mireg",),
    ("mireg.cli",),
    ("mireg.__main__",),
)
FLOOR = {group: floor for floor, groups in enumerate(LAYERS) for group in groups}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _group(module: str) -> str:
    """The LAYERS entry a module belongs to (the longest matching prefix)."""
    candidates = [g for g in FLOOR if module == g or module.startswith(g + ".")]
    assert candidates, f"{module} is on no floor: add it to LAYERS (and to docs/design.md)"
    return max(candidates, key=len)


def _imports(module: str) -> set[str]:
    """The mireg modules ``module`` imports anywhere in its source (module- or function-level)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text())
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # ``from pkg import submodule`` imports the submodule
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    found |= _lazy_imports(tree)
    return {name for name in found if name in MODULES and name != module}


def _lazy_imports(tree: ast.Module) -> set[str]:
    """The ``"mireg...."`` strings of module-level ``NAME_IMPORTS = ...`` literals (imported by name on first use)."""
    found = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        if any(isinstance(t, ast.Name) and t.id.endswith("_IMPORTS") for t in targets) and node.value is not None:
            found.update(c.value for c in ast.walk(node.value)
                         if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value.startswith("mireg."))
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def test_every_module_is_on_a_floor():
    for module in MODULES:
        _group(module)


def test_imports_point_down_and_same_floor_packages_are_independent():
    bad = []
    for module, targets in GRAPH.items():
        for target in targets:
            mine, theirs = _group(module), _group(target)
            if mine != theirs and FLOOR[theirs] >= FLOOR[mine]:
                bad.append(f"{module} (floor {FLOOR[mine]}) imports {target} (floor {FLOOR[theirs]})")
    assert not bad, "imports that do not point down:\n" + "\n".join(sorted(bad))


def test_evaluation_does_not_import_train_and_estimators_no_attacks():
    for module, targets in GRAPH.items():
        if _group(module) == "mireg.evaluation":
            assert not {t for t in targets if _group(t) == "mireg.train"}, module
        if _group(module) == "mireg.estimators":
            assert not {t for t in targets if _group(t) in ("mireg.attacks", "mireg.train")}, module


def test_the_module_import_graph_has_no_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_design_doc_draws_the_same_layers():
    text = (ROOT / "docs" / "design.md").read_text()
    for floor, groups in enumerate(LAYERS):
        line = f"{floor:>2}  " + ", ".join(groups)
        assert line in text, f"docs/design.md must list floor {floor} as {line!r}"


def test_design_doc_import_graph_is_the_real_one():
    """The mermaid picture in docs/design.md has exactly the package-level edges of the source."""
    text = (ROOT / "docs" / "design.md").read_text()
    block = text.split("```mermaid", 1)[1].split("```", 1)[0]
    labels = dict(re.findall(r"(\w+)\[([\w.]+)\]", block))
    drawn = set()
    for line in block.splitlines():
        if "-->" not in line:
            continue
        left, right = line.split("-->")
        source = labels.get(re.sub(r"\[.*", "", left.strip()))
        for target in right.split("&"):
            drawn.add((source, labels[re.sub(r"\[.*", "", target.strip())]))
    real = {(_group(m), _group(t)) for m, targets in GRAPH.items() for t in targets if _group(m) != _group(t)}
    assert drawn == real, f"missing in the picture: {sorted(real - drawn)}; not in the source: {sorted(drawn - real)}"


def _code_lines(lines: list[str], node: ast.AST) -> int:
    """Lines of ``node`` holding code: blank lines, comment lines and the docstring aside."""
    skip: set[int] = set()
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for i in range(node.lineno, node.end_lineno + 1)
               if i not in skip and lines[i - 1].strip() and not lines[i - 1].strip().startswith("#"))


def test_functions_are_short_and_modules_small():
    long_functions, big_modules = [], []
    for module, path in MODULES.items():
        source = path.read_text()
        lines = source.splitlines()
        if len(lines) > 350:
            big_modules.append(f"{module}: {len(lines)} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(lines, node) > 60:
                long_functions.append(f"{module}.{node.name}: {_code_lines(lines, node)} lines of code")
    assert not big_modules, "modules over 350 lines: " + "; ".join(big_modules)
    assert not long_functions, "functions over 60 lines of code: " + "; ".join(long_functions)


def _calls(dotted: str) -> dict[str, int]:
    """Where ``dotted`` (e.g. ``os.replace``) is called: {module: count}."""
    *owner, name = dotted.split(".")
    counts: dict[str, int] = {}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            parts = []
            while isinstance(func, ast.Attribute):
                parts.insert(0, func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.insert(0, func.id)
            if parts and parts[-1] == name and parts[:-1][-len(owner):] == owner if owner else parts == [name]:
                counts[module] = counts.get(module, 0) + 1
    return counts


@pytest.mark.parametrize("call, home", [
    ("torch.random.fork_rng", "mireg.utils.seeding"),     # seeded blocks
    ("os.replace", "mireg.utils.atomic"),                 # atomic writes
    ("torch.load", "mireg.checkpoints"),                  # reading mireg's torch files
    ("torch.save", "mireg.checkpoints"),                  # writing them
    ("Fraction", "mireg.utils.parsing"),                  # "8/255"
    ("torch.cuda.is_available", "mireg.utils.device"),    # device resolution
])
def test_each_mechanic_has_one_home(call, home):
    where = _calls(call)
    assert set(where) == {home}, f"{call} is called in {sorted(where)}; it belongs in {home} only"


def test_mode_restore_lives_in_the_modes_module_and_matplotlib_keeps_its_backend():
    restores, flattens = [], []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "training"
                                                    for t in node.targets):
                restores.append(module)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "train" \
                    and node.args and not isinstance(node.args[0], ast.Constant) and not _is_super(node.func.value):
                flattens.append(module)  # model.train(was_training) flattens mixed modes
    flattens = [m for m in flattens if m != "mireg.utils.modes"]  # (which sets the requested mode)
    assert set(restores) == {"mireg.utils.modes"}, restores
    assert not flattens, f"model.train(<saved flag>) in {flattens}: use mireg.utils.modes.preserved_modes"
    assert not _calls("matplotlib.use"), "no library call may change matplotlib's global backend"
    pyplot = [module for module, path in MODULES.items() for node in ast.walk(ast.parse(path.read_text()))
              if isinstance(node, (ast.Import, ast.ImportFrom))
              and any("pyplot" in name for name in [getattr(node, "module", None) or ""]
                      + [alias.name for alias in node.names])]
    assert not pyplot, f"pyplot (global state) imported in {pyplot}: draw on matplotlib.figure.Figure"


def _is_super(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and getattr(node.func, "id", "") == "super"


@pytest.mark.parametrize("name", ["preserved_modes", "seeded", "atomic_writer", "model_device", "resolve_device",
                                  "parse_fraction", "create_attack", "build_model", "load_trained_model",
                                  "save_checkpoint", "load_checkpoint", "evaluate_accuracy", "build_optimizer"])
def test_each_mechanic_is_defined_once(name):
    defined = [module for module, path in MODULES.items() for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.FunctionDef) and node.name == name]
    assert len(defined) == 1, f"{name} is defined in {defined}"
