"""The files of a reproduction: one folder per (method, seed) cell, whose ``cell.json`` is its record.

Layout of an output folder::

    study.json                          the study and budget (settings + presentation)
    cells/<arm>/seed<k>/                the training run (last.pt, best.pt, metrics.*), eval/<evaluation>/
    cells/<arm>/seed<k>/cell.json       the cell's record, written LAST and atomically
    estimators/seed<k>/estimators.pt    NAMID's estimators on the AT model of seed k (+ estimators.json)
    report.md, report.json, *.png       the report (a function of study.json and the cell records)

A cell is finished exactly when its ``cell.json`` exists, parses and has every key of
:data:`CELL_KEYS`; anything less is redone (an interrupted training resumes from its ``last.pt``).
A merged folder holds only the ``cell.json`` records, so it can be merged again.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from mireg.utils.atomic import atomic_write_text

__all__ = ["CELL_FORMAT", "CELL_FILE", "STUDY_FILE", "CELL_KEYS", "cell_dir", "write_json", "read_json",
           "read_cell", "find_cells", "train_fingerprint", "prepare_out", "read_study"]

CELL_FORMAT = "mireg-reproduce-cell/1"
CELL_FILE = "cell.json"
STUDY_FILE = "study.json"
#: keys every finished cell record has
CELL_KEYS = ("format", "study", "budget", "arm", "method", "seed", "status", "error", "train", "evaluation",
             "selected_epoch", "accuracy", "n", "failed_checks", "cost")
#: TrainConfig fields that change where or how visibly a run happens, not its numbers
OPERATIONAL = ("device", "progress", "quiet", "out_dir", "resume", "estimators", "data_root", "download",
               "log_every", "save_every")


def cell_dir(out: str | os.PathLike, arm_key: str, seed: int) -> Path:
    """``out/cells/<arm_key>/seed<seed>``."""
    return Path(out) / "cells" / arm_key / f"seed{seed}"


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically (:func:`mireg.utils.atomic.atomic_write_text`); NaN and
    inf become null."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(_finite(data), indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_json(path: str | os.PathLike) -> Any:
    """The parsed JSON file, or None when it is missing or does not parse."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_cell(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The finished cell record in ``directory``, or None (missing, unreadable or incomplete)."""
    record = read_json(Path(directory) / CELL_FILE)
    if not isinstance(record, dict) or record.get("format") != CELL_FORMAT:
        return None
    if any(key not in record for key in CELL_KEYS) or record["status"] not in ("done", "failed"):
        return None
    return record


def find_cells(out: str | os.PathLike) -> list[dict[str, Any]]:
    """Every finished cell record under ``out/cells``, sorted by (arm folder, seed)."""
    root = Path(out) / "cells"
    records = []
    if root.is_dir():
        for path in sorted(root.glob(f"*/seed*/{CELL_FILE}")):
            record = read_cell(path.parent)
            if record is not None:
                records.append(record)
    return sorted(records, key=lambda r: (r["arm"], r["seed"]))


def train_fingerprint(config: dict[str, Any]) -> dict[str, Any]:
    """The TrainConfig fields the numbers depend on (``config`` without :data:`OPERATIONAL` fields)."""
    return {k: v for k, v in config.items() if k not in OPERATIONAL}


def read_study(out: str | os.PathLike) -> dict[str, Any]:
    """The ``study.json`` of an output folder (ValueError when there is none)."""
    description = read_json(Path(out) / STUDY_FILE)
    if not isinstance(description, dict) or "settings" not in description:
        raise ValueError(f"{str(out)!r} is not a 'mireg reproduce' output folder (no readable {STUDY_FILE})")
    return description


def prepare_out(out: str | os.PathLike, description: dict[str, Any]) -> Path:
    """Create ``out`` for ``description`` (a :meth:`Study.describe`), or check that the folder holds the
    same study at the same settings; the presentation (title, paper numbers) is refreshed."""
    out = Path(out)
    if (out / STUDY_FILE).exists():
        old = read_study(out)
        if old["settings"] != description["settings"]:
            raise ValueError(
                f"{str(out)!r} holds cells of study {old['settings'].get('study')!r} at budget "
                f"{old['settings'].get('budget')!r} with other settings than requested now; use another "
                "--out folder (or delete this one) to start afresh")
    write_json(out / STUDY_FILE, description)
    return out
