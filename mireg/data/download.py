"""Fetching, checking and unpacking the official dataset files (used only with ``download=True``).

Downloads stream to a temporary file that is moved into place only after its md5 matches the
official one (:func:`mireg.utils.atomic.atomic_writer`), so an interrupted or corrupted download
never looks like a dataset. Archives are
unpacked with path checks (no member may land outside the target folder). Local files that differ
from the official checksums (e.g. the CIFAR-10 JPEG-q75 copy converted to the pickle layout) only
get a warning: :func:`warn_if_modified`.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.request
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mireg.data.base import CorruptDatasetError
from mireg.utils.atomic import atomic_writer

CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    """One official file: where to get it (mirrors tried in order), its name and md5."""

    urls: tuple[str, ...]
    filename: str
    md5: str

    @property
    def url(self) -> str:
        return self.urls[0]


def md5sum(path: str | os.PathLike[str]) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _ChecksumMismatch(Exception):
    """The downloaded bytes have another md5 than the official one (``args[0]``: the md5 got)."""


def _fetch(url: str, dest: Path, md5: str, progress: bool) -> None:
    """Stream ``url`` (http(s), ftp or file) into ``dest`` with a tqdm bar; the file appears only when
    the bytes' md5 equals ``md5`` (else :class:`_ChecksumMismatch`, and nothing is written)."""
    from tqdm.auto import tqdm

    digest = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(url, timeout=60) as response, atomic_writer(dest) as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        if digest.hexdigest() != md5:
            raise _ChecksumMismatch(digest.hexdigest())


def download_resource(resource: Resource, folder: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """Download ``resource`` into ``folder`` (skipped when a file with the right md5 is there).

    Each mirror is tried in turn; the file is kept only when its md5 equals ``resource.md5``.

    Raises:
        CorruptDatasetError: no mirror gave the right file and one gave a file with another md5.
        OSError: no mirror could be reached (the message lists the errors).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / resource.filename
    if target.is_file() and md5sum(target) == resource.md5:
        return target
    errors: list[str] = []
    mismatch = False
    for url in resource.urls:
        try:
            _fetch(url, target, resource.md5, progress)
        except OSError as err:  # URLError, HTTPError and socket errors are OSErrors
            errors.append(f"{url}: {err}")
            continue
        except _ChecksumMismatch as err:
            errors.append(f"{url}: got md5 {err.args[0]}, expected the official {resource.md5} (file deleted)")
            mismatch = True
            continue
        return target
    message = (f"could not download {resource.filename} into {folder}:\n  " + "\n  ".join(errors)
               + f"\nRetry, or download it by hand from {resource.url} into {folder}.")
    raise CorruptDatasetError(message) if mismatch else OSError(message)


def _safe_members(names: Sequence[str], dest: Path) -> None:
    root = dest.resolve()
    for name in names:
        target = (dest / name).resolve()
        if target != root and root not in target.parents:
            raise CorruptDatasetError(f"archive member {name!r} would be written outside {dest}; refusing to extract")


def extract_archive(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Unpack a ``.tar.gz``/``.tgz``/``.tar`` or ``.zip`` archive into ``dest`` (path-checked)."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    name = archive.name.lower()
    try:
        if name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                _safe_members([m.name for m in members], dest)
                bad = [m.name for m in members if not (m.isfile() or m.isdir())]
                if bad:
                    raise CorruptDatasetError(f"archive {archive} holds links or special files ({bad[:3]}); refusing")
                tar.extractall(dest, members=members)  # members checked above
        elif name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                _safe_members(zf.namelist(), dest)
                zf.extractall(dest)
        else:
            raise ValueError(f"archive must end in .tar.gz, .tgz, .tar or .zip, got {archive.name!r}")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
        raise CorruptDatasetError(f"cannot unpack {archive}: {err}. Delete it and download again.") from err
    return dest


def download_and_extract(resource: Resource, root: str | os.PathLike[str], *, remove_archive: bool = False,
                         progress: bool = True) -> Path:
    """Download an official archive into ``root`` (md5-checked) and unpack it there."""
    archive = download_resource(resource, root, progress=progress)
    extract_archive(archive, root)
    if remove_archive:
        archive.unlink()
    return Path(root)


_WARNED: set[str] = set()


def warn_if_modified(path: str | os.PathLike[str], md5: str, what: str) -> bool:
    """Warn (once per file and process) when a local file's md5 differs from the official one.

    Returns True when the file matches. Local copies are allowed to differ (re-encoded copies,
    converted layouts): the data is loaded anyway, but results must then be labelled accordingly.
    """
    got = md5sum(path)
    if got == md5:
        return True
    key = str(Path(path).resolve())
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(
            f"{what} file {path} has md5 {got}, not the official {md5}: it is not the official release "
            "(e.g. a re-encoded copy). Loading it anyway; label results "
            "with the data's provenance. Pass verify=False to skip this check.",
            UserWarning, stacklevel=3,
        )
    return False

