"""A folder lock: one live process at a time works in a folder; the lock of a killed process is stale and
taken over.

The lock is a file (``.mireg.lock``) holding who owns it (pid, host, start time, command) and, where
the operating system has it, an exclusive ``flock`` on that file for as long as the owner lives: the
kernel drops it when the process dies, however it dies (SIGKILL included), so a later run finds the
file but not the lock, and takes it over as stale. Without ``flock`` (Windows, a file system that
refuses it) the pid in the file decides: the lock is stale when that pid no longer runs on this host.
::

    with FolderLock("runs/x") as lock:      # FolderInUseError when another live process holds it
        lock.stale                          # the owner record of a dead holder it replaced, or None
        ...                                 # the folder is ours
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from mireg.utils.atomic import process_alive

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "FolderInUseError", "FolderLock"]

LOCK_NAME = ".mireg.lock"


class FolderInUseError(RuntimeError):
    """Another live process holds the folder's lock (``owner``: its pid, host, start time, command).

    Examples:
        >>> from mireg.utils.lock import FolderInUseError
        >>> FolderInUseError("runs/x is in use by pid 12", {"pid": 12}).owner["pid"]
        12
    """

    def __init__(self, message: str, owner: dict[str, Any]) -> None:
        super().__init__(message)
        self.owner = owner


class FolderLock:
    """The lock of ``folder`` (created when missing); :meth:`acquire` / :meth:`release` or ``with``.

    Args:
        folder: the folder.
        what: what the folder is, for the messages.

    Attributes:
        path: the lock file.
        stale: after :meth:`acquire`, the owner record of the dead process whose lock was taken over
            (None when the folder was free).

    Examples:
        >>> import os
        >>> from mireg.utils.lock import FolderLock
        >>> os.makedirs("runs/x")
        >>> with FolderLock("runs/x", what="training folder") as lock:
        ...     lock.path.exists(), lock.stale
        (True, None)
        >>> lock.path.exists()
        False
    """

    def __init__(self, folder: str | os.PathLike, what: str = "folder") -> None:
        self.path = Path(folder) / LOCK_NAME
        self.what = what
        self.stale: dict[str, Any] | None = None
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock or raise :class:`FolderInUseError` (one line naming the owner)."""
        for _ in range(10):  # retried only when the holder released and removed it under our feet
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            try:
                previous = _read_owner(fd)
                if not self._lock(fd, previous):
                    raise FolderInUseError(self._busy_message(previous), previous)
                if _same_file(fd, self.path):
                    self.stale = previous or None
                    _write_owner(fd)
                    self._fd, fd = fd, -1
                    return self
            finally:
                if fd >= 0:
                    os.close(fd)
        raise FolderInUseError(f"{self.what} {str(self.path.parent)!r}: could not take its lock {str(self.path)!r}",
                               {})

    def _lock(self, fd: int, previous: dict[str, Any]) -> bool:
        """Whether this process now holds ``fd``'s lock (flock, else the pid recorded in the file)."""
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
            except OSError:  # the file system does not support flock: fall back to the pid
                pass
        pid, host = previous.get("pid"), previous.get("host")
        if not isinstance(pid, int) or pid == os.getpid():
            return True
        return host == socket.gethostname() and not process_alive(pid)

    def _busy_message(self, owner: dict[str, Any]) -> str:
        who = f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}"
        since = f", started {owner['started']}" if owner.get("started") else ""
        return (f"{self.what} {str(self.path.parent)!r} is in use by another mireg run ({who}{since}): wait for "
                f"it to finish, or choose another folder")

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing when not held)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"FolderLock({str(self.path.parent)!r}, held={self.held})"


def _read_owner(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 65536)
    try:
        owner = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except ValueError:
        return {"pid": None, "host": None, "damaged": True}
    return owner if isinstance(owner, dict) else {}


def _write_owner(fd: int) -> None:
    owner = {"pid": os.getpid(), "host": socket.gethostname(),
             "started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "command": " ".join(sys.argv)[:500]}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(owner) + "\n").encode("utf-8"))


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file ``fd`` has open (a releasing holder unlinks it)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
