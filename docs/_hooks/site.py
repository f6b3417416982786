"""mkdocs hook: the site's home page is README.md and its changelog page CHANGELOG.md, from the repository root.

Links in those files are written for the repository: ``docs/X.md`` becomes the site page ``X.md``,
``CHANGELOG.md`` the changelog page, and a link to any other repository file (examples, benchmarks,
LICENSE, CITATION.cff) becomes its path in plain text, since the site does not carry those files.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

PAGES = {"README.md": "index.md", "CHANGELOG.md": "changelog.md"}
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _rewrite(match: re.Match) -> str:
    text, target = match.group(1), match.group(2)
    if re.match(r"^[a-z]+:", target) or target.startswith("#"):
        return match.group(0)
    path, _, anchor = target.partition("#")
    if path.startswith("docs/"):
        page = path.removeprefix("docs/")
    elif path in PAGES:
        page = PAGES[path]
    else:
        return f"{text} (`{path}` in the repository)"
    return f"[{text}]({page}{'#' + anchor if anchor else ''})"


def on_files(files, config):
    root = Path(config.config_file_path).parent
    for source, page in PAGES.items():
        files.append(File.generated(config, page, content=_LINK.sub(_rewrite, (root / source).read_text())))
    return files
