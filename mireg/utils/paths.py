"""Output paths checked before the work starts: a folder that can be created and written, a file that can
be written (not a folder, in a writable folder), refused with one line naming the path and the cause.

Commands call these first, so a typo in ``--out`` costs a second, not an evaluation::

    check_output_dir("runs/eval", what="--out")          # ValueError: --out '/dev/null/x': ...
    check_output_file("runs/est/estimators.pt", what="--out")

The checks ask the operating system (``os.access``), which also reports a read-only file system. A
folder is not created unless ``create=True`` (the training run creates its folder to lock it).
"""

from __future__ import annotations

import os
from pathlib import Path

from mireg.utils.atomic import describe_os_error

__all__ = ["check_output_dir", "check_output_file"]


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (a dangling link counts as existing)."""
    current = path
    while not os.path.lexists(current) and current != current.parent:
        current = current.parent
    return current


def _problem(folder: Path) -> str | None:
    """Why no file can be written in ``folder`` (created when missing), or None."""
    anchor = _existing_ancestor(folder)
    if not anchor.is_dir():
        kind = "a broken link" if anchor.is_symlink() and not anchor.exists() else "not a folder"
        return f"{str(anchor)!r} is {kind}"
    if not os.access(anchor, os.W_OK | os.X_OK):
        cause = "the file system is read-only" if _read_only(anchor) else "permission denied"
        return f"cannot write in {str(anchor)!r} ({cause})"
    return None


def _check_path_type(path: object, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise TypeError(f"{what} must be a path (str or os.PathLike), got {path!r}")
    return Path(path)


def check_output_dir(path: str | os.PathLike, what: str = "output folder", *, create: bool = False) -> Path:
    """Check that ``path`` is (or can become) a folder this process can write.

    Args:
        path: the folder.
        what: what it is, for the message (e.g. ``"--out"``).
        create: create it now.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: one line, e.g. ``--out '/dev/null/x': '/dev/null' is not a folder; choose another
            folder`` or ``--out 'runs/x': cannot write in 'runs' (the file system is read-only); ...``.

    Examples:
        >>> from mireg.utils.paths import check_output_dir
        >>> check_output_dir("runs/new", "--out", create=True).is_dir()
        True
    """
    path = _check_path_type(path, what)
    problem = _problem(path)
    if problem:
        raise ValueError(f"{what} {str(path)!r}: {problem}; choose another folder")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"{what} {str(path)!r}: cannot create it ({describe_os_error(err)})") from None
    return path


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check that ``path`` can be written as a file (not a folder; its folder writable).

    Args:
        path: the file.
        what: what it is, for the message (e.g. ``"--plot"``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: one line naming the path and the cause.

    Examples:
        >>> import os
        >>> from mireg.utils.paths import check_output_file
        >>> os.makedirs("a-folder")
        >>> check_output_file("a-folder", "--plot")
        Traceback (most recent call last):
        ValueError: --plot 'a-folder' ...
    """
    path = _check_path_type(path, what)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder; give a file name (e.g. {str(path / 'out')!r})")
    problem = _problem(path.parent)
    if problem:
        raise ValueError(f"{what} {str(path)!r}: {problem}; choose another path")
    return path


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs (Windows)
        return False
