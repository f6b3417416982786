"""Atomic file writes: a file appears whole or not at all, never truncated by a crash mid-write.

The data goes to a temporary file ``.<name>.<pid>-<hex>.tmp`` in the destination's folder (same file
system), is flushed and fsynced, and is moved onto the destination with ``os.replace`` (atomic on
POSIX and Windows). If writing fails, the temporary file is removed and the destination is left as it
was. Every mireg writer (checkpoints, estimator files, metrics, reports, figures, model-info JSON,
downloads, caches) goes through :func:`atomic_writer`::

    with atomic_writer("runs/x/metrics.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    atomic_write_text("runs/x/config.json", text)
    save_figure(fig, "runs/x/curves.png", dpi=110)

Links: the temporary file is created exclusively (``O_EXCL``, which never follows a link) and
``os.replace`` replaces a symbolic link at the destination by the new file instead of writing
through it, so a link planted in an output folder never leads a write to a file outside it.

Failures: any ``OSError`` of the write (disk full, read-only file system, permission, file too large)
becomes a :class:`WriteError` whose message is one line naming the file and the cause; the previous
version of the file is kept. :func:`remove_leftovers` deletes the temporary files a killed process
left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["WriteError", "atomic_write_bytes", "atomic_write_text", "atomic_writer", "remove_leftovers",
           "save_figure"]

#: what a failed write means to the user, by errno
_CAUSES = {
    errno.ENOSPC: "no space left on the device (the disk is full)",
    getattr(errno, "EDQUOT", -1): "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "file too large (for the file system or the process's file-size limit)",
    errno.ENOTDIR: "a file stands where a folder should be",
    errno.EISDIR: "it is a folder",
}

#: temporary files of this module (``.<name>.<pid>-<hex>.tmp``) and of mireg < 0.2 (``<name>.tmp-<pid>``)
_TMP_NAMES = (re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp$"),
              re.compile(r"^(?P<name>.+)\.tmp-(?P<pid>\d+)$"))


class WriteError(OSError):
    """A file could not be written; ``str(err)`` is one line naming the file and the cause.

    Attributes: ``errno``, ``strerror`` (the cause in words) and ``filename`` (the destination).

    Examples:
        >>> from mireg.utils.atomic import WriteError, atomic_write_text
        >>> _ = atomic_write_text("folder/f.txt", "x")
        >>> try:
        ...     atomic_write_text("folder/f.txt/inside.txt", "y")  # a file is no folder
        ... except WriteError as err:
        ...     print(err.filename)
        folder/f.txt/inside.txt
    """

    def __init__(self, path: str | os.PathLike, cause: OSError, detail: str = "") -> None:
        code = cause.errno if cause.errno is not None else errno.EIO
        super().__init__(code, _CAUSES.get(code, cause.strerror or str(cause)), os.fspath(path))
        self.detail = detail

    def __str__(self) -> str:
        return f"could not write {self.filename!r}: {self.strerror}{self.detail}"

    def with_detail(self, detail: str) -> WriteError:
        """The same error with ``detail`` appended to its message (e.g. what the run kept)."""
        return WriteError(self.filename, OSError(self.errno, self.strerror), self.detail + detail)


def describe_os_error(err: OSError) -> str:
    """The cause of an ``OSError`` in words (``"the file system is read-only"``)."""
    return _CAUSES.get(err.errno, err.strerror or str(err)) if err.errno is not None else str(err)


@contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on a clean exit it replaces ``path`` atomically.

    Args:
        path: the destination (its folder is created when missing). A symbolic link there is
            replaced, never written through.
        mode: ``"wb"`` (bytes, default) or ``"w"`` (text).
        **open_kwargs: passed to :func:`open` (e.g. ``newline=""`` for csv, ``encoding``).

    Raising inside the block removes the temporary file and keeps ``path`` untouched; an ``OSError``
    of the write itself is raised as a :class:`WriteError`.

    Yields:
        The open temporary file.

    Examples:
        >>> import csv
        >>> from mireg.utils.atomic import atomic_writer
        >>> with atomic_writer("runs/metrics.csv", "w", newline="") as fh:
        ...     _ = csv.writer(fh).writerow(["epoch", "loss"])
        >>> open("runs/metrics.csv").read().splitlines()
        ['epoch,loss']
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, mode.replace("w", "x"), **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except WriteError:
        raise
    except OSError as err:
        raise WriteError(path, err) from None
    finally:
        _unlink_quietly(tmp)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):  # already moved, never created, or the folder does not let us
        path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically.

    Args:
        path: the destination (its folder is created when missing).
        data: the bytes.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Examples:
        >>> from mireg.utils.atomic import atomic_write_bytes
        >>> atomic_write_bytes("out/b.bin", b"ab").stat().st_size
        2
    """
    with atomic_writer(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically.

    Args:
        path: the destination (its folder is created when missing).
        text: the text.
        encoding: its encoding.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Examples:
        >>> from mireg.utils.atomic import atomic_write_text
        >>> atomic_write_text("out/notes.md", "# run").read_text()
        '# run'
    """
    with atomic_writer(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)


def save_figure(fig: Any, path: str | os.PathLike, **savefig_kwargs: Any) -> Path:
    """``fig.savefig`` into ``path`` atomically (the format from the suffix: .png, .pdf, .svg, ...).

    Args:
        fig: a matplotlib ``Figure``.
        path: the destination.
        **savefig_kwargs: passed to ``fig.savefig`` (e.g. ``dpi``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Examples:
        >>> # needs: matplotlib
        >>> from matplotlib.figure import Figure
        >>> from mireg.utils.atomic import save_figure
        >>> fig = Figure(); _ = fig.subplots().plot([1, 2])
        >>> save_figure(fig, "runs/x/curves.png", dpi=50).exists()
        True
    """
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    with atomic_writer(path, "wb") as fh:
        fig.savefig(fh, format=fmt, **savefig_kwargs)
    return path


def remove_leftovers(folder: str | os.PathLike, *, any_process: bool = False) -> list[Path]:
    """Delete the temporary files that killed writers left in ``folder``; returns what was removed.

    Only files named as :func:`atomic_writer` names them are touched. By default a file is removed
    when the process that wrote it no longer runs on this machine; ``any_process=True`` removes them
    all (for a folder whose lock the caller holds, so no other writer can be at work in it).

    Args:
        folder: the folder.
        any_process: remove the leftovers of live writers too.

    Returns:
        The removed files.

    Examples:
        >>> from mireg.utils.atomic import remove_leftovers
        >>> remove_leftovers("runs/nothing-here")
        []
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = next((m for m in (p.match(entry.name) for p in _TMP_NAMES) if m), None)
        if match is None or entry.is_dir():
            continue
        pid = int(match["pid"])
        if any_process or (pid != os.getpid() and not process_alive(pid)):
            _unlink_quietly(entry)
            removed.append(entry)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs on this machine (a pid of another user counts)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
