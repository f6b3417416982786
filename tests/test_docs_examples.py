"""The runnable examples of the user docs run (docs/infoat.md, docs/ablations.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _python_blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(_python_blocks("infoat.md"))))
def test_infoat_doc_examples_run(index, capsys):
    exec(compile(_python_blocks("infoat.md")[index], f"docs/infoat.md[{index}]", "exec"), {})


@pytest.mark.parametrize("index", range(len(_python_blocks("ablations.md"))))
def test_ablations_doc_examples_run(index, capsys):
    exec(compile(_python_blocks("ablations.md")[index], f"docs/ablations.md[{index}]", "exec"), {})
