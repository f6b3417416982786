"""The run folder (``out_dir``) of :func:`mireg.train.train`: checked, locked and made consistent before
any work starts, so that its records never lie.

Before set-up, the main process (rank 0; the other ranks get its verdict):

1. checks that ``out_dir`` is a folder it can write (created when missing);
2. takes the folder's lock (:class:`mireg.utils.lock.FolderLock`): a second run into the same folder
   stops with :class:`~mireg.utils.lock.FolderInUseError`; the lock of a killed run is stale and taken
   over;
3. deletes the temporary files a killed run left (:func:`mireg.utils.atomic.remove_leftovers`);
4. decides what the folder holds. ``last.pt`` is the run's one commit point: a run exists exactly
   when it does. Without ``resume`` or ``overwrite`` a folder that holds a run is refused (never
   silently replaced); ``overwrite`` deletes the old run's files first; ``resume`` loads ``last.pt``,
   refuses settings that would mix two experiments (:data:`mireg.config.RESUME_FIXED`), and
   reconciles the other files with it: ``best.pt`` must be the epoch ``last.pt`` calls the best
   (same ``id``), and is rewritten from ``last.pt`` when a kill came between the two writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from mireg.checkpoints import load_checkpoint, load_file, save_checkpoint
from mireg.config import RESUME_FIXED, TrainConfig
from mireg.registry import ATTACKS, DATASETS, METHODS, MODELS
from mireg.runs import CUSTOM_DATASET
from mireg.train import distributed as D
from mireg.train.state import best_state
from mireg.utils.atomic import WriteError, remove_leftovers
from mireg.utils.lock import FolderInUseError, FolderLock
from mireg.utils.paths import check_output_dir

__all__ = ["RUN_FILES", "RunFolder", "check_names", "check_resumable", "open_run_folder", "reconcile"]

#: the files a run writes (besides ``epoch_NNNN.pt`` copies); ``overwrite`` deletes exactly these
RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "metrics.json", "curves.png", "config.json")


@dataclass
class RunFolder:
    """An opened run folder: its path, the lock (main process only) and, when resuming, ``last.pt``."""

    path: Path
    lock: FolderLock | None = None
    state: dict[str, Any] | None = None

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()


def check_names(config: TrainConfig, model: nn.Module | None) -> None:
    """The model's type and every registered name, before the folder, the data or the model is touched."""
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    METHODS.get(config.method)
    if config.dataset != CUSTOM_DATASET:
        DATASETS.get(config.dataset)
    if model is None:
        MODELS.get(config.model)
    if config.attack is not None:
        ATTACKS.get(config.attack)


def open_run_folder(config: TrainConfig, ctx: D.DistContext, log: Callable[[str], None]) -> RunFolder:
    """Check, lock and prepare ``config.out_dir`` (see the module docstring); every process gets the same
    outcome (a ValueError, FolderInUseError or OSError with one line, raised on every rank)."""
    folder, error = RunFolder(Path(config.out_dir)), None
    if ctx.is_main:
        try:
            folder = _prepare(config, log)
        except (ValueError, FolderInUseError, OSError) as err:
            error = err
    verdict = D.broadcast_object(None if error is None else (type(error).__name__, str(error)), ctx)
    if error is not None:
        raise error
    if verdict is not None:  # another rank's failure, reported here too
        kind, message = verdict
        raise ValueError(message) if kind == "ValueError" else RuntimeError(message)
    return folder


def _prepare(config: TrainConfig, log: Callable[[str], None]) -> RunFolder:
    out = check_output_dir(config.out_dir, "out_dir", create=True)
    lock = FolderLock(out, what="out_dir").acquire()
    try:
        if lock.stale:
            log(f"took over the stale lock of a run that no longer runs (pid {lock.stale.get('pid')} on "
                f"{lock.stale.get('host')})")
        leftovers = remove_leftovers(out, any_process=True)
        if leftovers:
            log(f"removed {len(leftovers)} temporary file(s) left by an interrupted run: "
                + ", ".join(p.name for p in leftovers))
        return RunFolder(out, lock, _existing_run(out, config, log))
    except BaseException:
        lock.release()
        raise


def _existing_run(out: Path, config: TrainConfig, log: Callable[[str], None]) -> dict[str, Any] | None:
    """``last.pt`` when the run resumes, None for a fresh start; refuses a folder that holds a run."""
    if config.overwrite:
        removed = _remove_run_files(out)
        if removed:
            log(f"overwrite=true: deleted the previous run's {', '.join(removed)} in {str(out)!r}")
        return None
    last = out / "last.pt"
    if not last.is_file():
        orphans = [p.name for p in [out / "best.pt", *sorted(out.glob("epoch_*.pt"))] if p.exists()]
        if orphans:
            raise ValueError(f"out_dir {str(out)!r} holds {', '.join(orphans)} but no last.pt, so it holds a run "
                             "that cannot be resumed: pass overwrite=true (--overwrite) to replace it, or choose "
                             "another out_dir")
        return None
    state = load_checkpoint(last)
    if not config.resume:
        saved = state.get("config", {})
        done, total = int(state.get("epoch", 0)), saved.get("epochs", "?")
        kind = "a finished run" if isinstance(total, int) and done >= total else "an unfinished run"
        raise ValueError(f"out_dir {str(out)!r} already holds {kind} ({saved.get('method', '?')}, epoch {done} of "
                         f"{total}): pass resume=true (--resume) to continue it, overwrite=true (--overwrite) to "
                         "replace it, or choose another out_dir")
    check_resumable(state, config, out)
    reconcile(out, state, log)
    return state


def _remove_run_files(out: Path) -> list[str]:
    removed = []
    for path in [out / name for name in RUN_FILES] + sorted(out.glob("epoch_*.pt")):
        if path.exists() or path.is_symlink():
            try:
                path.unlink()
            except OSError as err:
                raise WriteError(path, err, " (deleting the previous run's files for overwrite=true)") from None
            removed.append(path.name)
    return removed


#: the settings that name a file the run starts from
FILE_FIELDS = ("estimators", "init_from")


def _same_file(old: object, new: object) -> bool:
    if not isinstance(old, str) or not isinstance(new, str) or not Path(new).is_file():
        return False
    if not Path(old).is_file():
        return True  # moved with the run folder: the run's own checkpoint holds what it loaded from it
    return Path(old).read_bytes() == Path(new).read_bytes()


def check_resumable(state: dict[str, Any], config: TrainConfig, out: Path | str = "") -> None:
    """Raise a one-line ``ValueError`` when ``config`` would mix another experiment into the run of
    ``state`` (a field of :data:`~mireg.config.RESUME_FIXED` differs) or end before what it has done.
    The files a run starts from (``estimators``, ``init_from``) count as the same when their contents
    are, or when the saved path is gone and the new one exists (a run folder moved with its files)."""
    saved, new = state.get("config") or {}, config.to_dict()
    diffs = [f"{k} was {saved[k]!r}, now {new[k]!r}" for k in RESUME_FIXED
             if k in saved and saved[k] != new[k] and not (k in FILE_FIELDS and _same_file(saved[k], new[k]))]
    where = f"the run in {str(out)!r}" if out else "the run"
    if diffs:
        raise ValueError(f"cannot resume {where}: {'; '.join(diffs)}. These settings define the experiment, "
                         "which a resumed run keeps (it may change its length, lr schedule and optimiser "
                         "hyperparameters, validation cadence, logging and device). Use the run's values, or "
                         "start a new run: overwrite=true (--overwrite) replaces this one, or choose another "
                         "out_dir")
    done = int(state.get("epoch", 0))
    if config.epochs < done:
        raise ValueError(f"cannot resume {where}: epochs={config.epochs} is fewer than the {done} epochs it has "
                         f"done; pass epochs >= {done}")


def reconcile(out: Path, state: dict[str, Any], log: Callable[[str], None]) -> None:
    """Make ``best.pt`` (and the ``epoch_NNNN.pt`` copy of the last epoch) agree with ``last.pt``.

    ``best.pt`` is written after ``last.pt``: a kill between the two leaves it one improvement behind,
    while ``last.pt`` then holds the best epoch's weights itself, from which it is rewritten.
    """
    best = state.get("best") or {}
    epoch, path = best.get("epoch"), out / "best.pt"
    if epoch is not None and not _holds_best(path, best):
        if int(state["epoch"]) == epoch:
            save_checkpoint(best_state(state), path)
            log(f"repaired {path}: it now holds epoch {epoch}, the best epoch last.pt records (an interruption "
                "came between the two writes)")
        else:
            log(f"warning: {path} does not hold epoch {epoch}, which last.pt records as the best, and that "
                "epoch's weights are gone; it was changed outside mireg")
    every = (state.get("config") or {}).get("save_every") or 0
    done = int(state["epoch"])
    snapshot = out / f"epoch_{done:04d}.pt"
    if every and done % every == 0 and not snapshot.is_file():
        save_checkpoint(state, snapshot)
        log(f"wrote {snapshot}, which an interruption had kept from being written")


def _holds_best(path: Path, best: dict[str, Any]) -> bool:
    """Whether ``best.pt`` is the file of the best epoch ``best`` (by its id; by epoch for old runs)."""
    try:
        current = load_file(path)
    except (OSError, ValueError):
        return False
    if not isinstance(current, dict):
        return False
    if best.get("id"):
        return current.get("id") == best["id"]
    return current.get("epoch") == best.get("epoch")
