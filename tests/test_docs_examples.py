"""Every code block of README.md and docs/*.md runs, or says what it needs (issue 13).

``python`` blocks run in the order they appear, one namespace per file (a guide builds on its earlier
blocks), in a temporary working folder, with torch's RNG seeded to 0. A block that cannot run in the
test suite says why in an HTML comment on the line just before its fence:

- ``<!-- needs: cifar10 -->`` (or ``svhn``, ``mnist``, ``tiny-imagenet``, ``robustbench-checkpoint``,
  ``runs``: the files of an earlier training run or a trained model): data the test suite does not
  have. Such a block is not run (it is still shown on the docs site as written);
- ``<!-- needs: gpu -->``: runs only where CUDA is available;
- ``<!-- needs: slow -->``: seconds to minutes of CPU; runs in the slow suite (``pytest -m slow``);
- ``<!-- needs: matplotlib -->`` (any optional package of :data:`mireg._optional.EXTRAS`): skipped
  where that package is missing.

Names can be combined (``<!-- needs: cifar10, gpu -->``). A ``toml`` or ``yaml`` block whose first line
is a file name (``# my_run.toml``) is written to that file first. ``bash`` blocks are not run: every ``mireg``
command in them (also after ``python -m`` or ``torchrun ... -m``) must parse with
:func:`mireg.cli.build_parser`, so the docs cannot drift from the CLI. Neither the docs nor the package
may name folders outside the repository (users do not have them).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
FILES = ["README.md"] + sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
_BLOCK = re.compile(r"(?:<!--\s*needs:\s*([^>]*?)\s*-->[ \t]*\n[ \t]*)?```(\w+)\n(.*?)```", re.S)
DATA_NEEDS = {"cifar10", "cifar100", "svhn", "mnist", "tiny-imagenet", "robustbench-checkpoint", "runs"}
OPTIONAL = {"robustbench", "timm", "pyautoattack", "matplotlib", "sklearn", "scipy", "tensorboard"}
KNOWN_NEEDS = DATA_NEEDS | OPTIONAL | {"gpu", "slow"}


def _unavailable(needs: set[str]) -> bool:
    from mireg._optional import _missing

    return bool(needs & DATA_NEEDS) or ("gpu" in needs and not torch.cuda.is_available()) or any(
        _missing(name) for name in needs & OPTIONAL)


def _blocks(name: str, language: str) -> list[tuple[int, set[str], str]]:
    """``(line, needs, code)`` of every ``language`` block of ``name``."""
    text = (ROOT / name).read_text()
    found = []
    for match in _BLOCK.finditer(text):
        if match.group(2) == language:
            needs = set(filter(None, re.split(r"[,\s]+", match.group(1) or "")))
            found.append((text[: match.start(3)].count("\n"), needs, match.group(3)))
    return found


def _run_file(name: str, *, slow: bool) -> int:
    """Run ``name``'s python blocks in one namespace; returns how many ran."""
    for _, _, code in _blocks(name, "toml") + _blocks(name, "yaml"):
        first = code.splitlines()[0] if code.strip() else ""
        if re.fullmatch(r"#\s*[\w.-]+\.(toml|ya?ml)", first):  # a config file the guide's commands read
            Path(first.lstrip("# ").strip()).write_text(code)
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for line, needs, code in _blocks(name, "python"):
        unknown = needs - KNOWN_NEEDS
        assert not unknown, f"{name}:{line}: unknown needs {sorted(unknown)} (known: {sorted(KNOWN_NEEDS)})"
        if _unavailable(needs) or ("slow" in needs) != slow:
            continue
        try:
            exec(compile(code, f"{name}:{line}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"the python block at {name}:{line} failed: {type(err).__name__}: {err}") from err
        ran += 1
    return ran


@pytest.fixture
def _docs_sandbox(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MIREG_DATA", str(tmp_path / "data"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


@pytest.mark.parametrize("name", [n for n in FILES if _blocks(n, "python")])
def test_python_blocks_run(name, _docs_sandbox, capsys):
    _run_file(name, slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in FILES if any("slow" in b[1] for b in _blocks(n, "python"))])
def test_slow_python_blocks_run(name, _docs_sandbox, capsys):
    assert _run_file(name, slow=True) > 0


def _mireg_commands(code: str) -> list[list[str]]:
    """The argument lists of the ``mireg`` commands in a bash block (continuations joined, comments cut)."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|;|\|", line):
            words = shlex.split(part, comments=True)
            if words[:1] == ["mireg"]:
                commands.append(words[1:])
            elif "-m" in words and words[words.index("-m") + 1: words.index("-m") + 2] == ["mireg"]:
                commands.append(words[words.index("-m") + 2:])
    return commands


COMMANDS = [(f"{name}:{line}", argv) for name in FILES for line, _, code in _blocks(name, "bash")
            for argv in _mireg_commands(code)]


@pytest.mark.parametrize("where,argv", COMMANDS, ids=[f"{w} {' '.join(a[:1])}" for w, a in COMMANDS])
def test_mireg_commands_in_the_docs_parse(where, argv, tmp_path, monkeypatch):
    from mireg.cli import build_parser

    monkeypatch.chdir(tmp_path)  # the files a command reads exist here (empty): only the syntax is checked
    for word in argv:
        if re.fullmatch(r"[\w./-]+\.(pt|toml|ya?ml|json)", word):
            (tmp_path / word).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / word).touch()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:
        if stop.code == 0 and {"--help", "-h", "--version"} & set(argv):
            return
        pytest.fail(f"{where}: 'mireg {' '.join(argv)}' does not parse (exit {stop.code})")
    assert getattr(args, "func", None) is not None, f"{where}: 'mireg {' '.join(argv)}' names no command"


def test_the_docs_have_commands_to_check():
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("folder", ["README.md", "docs", "mireg", "examples", "CHANGELOG.md"])
def test_no_folder_outside_the_repository_is_named(folder):
    paths = [ROOT / folder] if (ROOT / folder).is_file() else sorted((ROOT / folder).rglob("*"))
    outside = re.compile(r"\.\./shared|/work/shared|\bshared/(?:tools|data|reference)\b")
    bad = [f"{p.relative_to(ROOT)}:{i}" for p in paths if p.is_file() and p.suffix in (".md", ".py", ".toml", ".yml")
           for i, text in enumerate(p.read_text().splitlines(), 1) if outside.search(text)]
    assert not bad, f"folders outside the repository named at: {bad}"
