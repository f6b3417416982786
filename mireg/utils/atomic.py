"""Atomic file writes: a file appears whole or not at all, never truncated by a crash mid-write.

The data goes to a temporary file in the destination's folder (same file system), is flushed and
fsynced, and is moved onto the destination with ``os.replace`` (atomic on POSIX and Windows). If
writing fails, the temporary file is removed and the destination is left as it was. Every mireg
writer (checkpoints, estimator files, metrics, reports, model-info JSON, downloads, caches) goes
through :func:`atomic_writer`::

    with atomic_writer("runs/x/metrics.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    atomic_write_text("runs/x/config.json", text)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_writer"]


@contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on a clean exit it replaces ``path`` atomically.

    Args:
        path: the destination (its folder is created when missing).
        mode: ``"wb"`` (bytes, default) or ``"w"`` (text).
        **open_kwargs: passed to :func:`open` (e.g. ``newline=""`` for csv, ``encoding``).

    Yields the open file. Raising inside the block removes the temporary file and keeps ``path``
    untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, mode.replace("w", "x"), **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_writer(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_writer(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)
