"""Run folders whose records never lie (issue 10, problems 1, 2, 3, 5, 6): resume semantics, best.pt
after any interruption, one run per folder, one-line I/O failures, leftovers and links; and the crash
tests (SIGKILL, full disk, read-only output), each followed by a resume that gives the uninterrupted
run's weights bit for bit and consistent records.

Every test but the crash loops uses only the public API and the CLI, so each also runs against code
from before the fix (where the numbered ones fail).
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import mireg.utils.atomic as atomic_module
from mireg.checkpoints import load_checkpoint
from mireg.cli import main
from mireg.train import build_config, train

ROOT = Path(__file__).resolve().parents[2]
#: 8x8 grey digits, a small CNN that learns in three epochs (validation PGD accuracy improves every
#: epoch; PGD's random start draws from the RNG that resuming must restore): under a second per epoch
SETTINGS = {"image_size": 8, "channels": 1, "model_kwargs": {"width": 8, "hidden": 32}, "val_size": 97,
            "epochs": 3, "batch_size": 100, "steps": 1, "val_steps": 1, "eps": 0.05, "alpha": 0.05, "lr": 0.1,
            "lr_milestones": [], "augment": False, "progress": False, "quiet": True, "device": "cpu", "amp": False}


def config(out: Path, **changes):
    return build_config("digits-at", overrides={**SETTINGS, "out_dir": str(out), **changes})


def cli_args(out: Path, **changes) -> list[str]:
    """``mireg train`` arguments for :data:`SETTINGS` (through a YAML file beside ``out``)."""
    path = Path(f"{out}.yaml")
    path.write_text(json.dumps({**SETTINGS, "out_dir": str(out), **changes}))  # YAML reads JSON
    return ["train", "--recipe", "digits-at", "--config", str(path)]


def run_child(spec: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    """``tests/train/crash_child.py`` in a fresh interpreter (one torch thread)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "tests.train.crash_child", json.dumps(spec)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def start_child(spec: dict) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "tests.train.crash_child", json.dumps(spec)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its last.pt, best.pt and metrics rows."""
    result = train(config(tmp_path_factory.mktemp("reference") / "run"))
    assert result.best_epoch == 3 and [r["best"] for r in result.history] == [True, True, True]
    return {"last": load_checkpoint(result.last_path), "best": load_checkpoint(result.best_path),
            "history": result.history}


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def assert_records_consistent(out: Path, reference: dict) -> None:
    """last.pt, best.pt and metrics.json of ``out`` agree with each other and with the uninterrupted run."""
    last, best = load_checkpoint(out / "last.pt"), load_checkpoint(out / "best.pt")
    metrics = json.loads((out / "metrics.json").read_text())
    assert_same_tensors(last["model"], reference["last"]["model"])
    assert_same_tensors(best["model"], reference["best"]["model"])
    assert last["epoch"] == reference["last"]["epoch"]
    assert best["epoch"] == last["best"]["epoch"] == metrics["best_epoch"] == reference["best"]["epoch"]
    assert [row["epoch"] for row in metrics["epochs"]] == [row["epoch"] for row in reference["history"]]
    for row, ref in zip(metrics["epochs"], reference["history"], strict=True):
        assert row["loss"] == ref["loss"] and row["val_robust_acc"] == ref["val_robust_acc"]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp") or ".tmp-" in p.name or "lock" in p.name]


# -- problem 1: a resumed run takes the new values it may change, and records them ------------------------------


def test_resume_takes_the_new_lr_and_records_it(tmp_path):
    """Problem 1: `--epochs 3 --lr 0.001 --resume` trained epoch 3 at the old lr (the optimizer's param
    groups came back from last.pt) while config.json and metrics.json recorded 0.001."""
    out = tmp_path / "run"
    train(config(out, epochs=2))
    resumed = train(config(out, epochs=3, lr=0.001, resume=True))
    assert [row["lr"] for row in resumed.history] == [0.1, 0.1, 0.001]
    last = load_checkpoint(out / "last.pt")
    assert all(group["lr"] == 0.001 for group in last["optimizer"]["param_groups"])
    assert json.loads((out / "config.json").read_text())["lr"] == 0.001
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["lr"] == 0.001 and [r["lr"] for r in metrics["epochs"]] == [0.1, 0.1, 0.001]
    assert metrics["resumes"] == [{"after_epoch": 2, "changed": {"epochs": [2, 3], "lr": [0.1, 0.001]}}]


def test_the_nan_stop_recovery_works(tmp_path):
    """Problem 1: the NaN-stop message recommends resuming with a lower lr; that must train the next
    epochs at the lower lr, from the last good checkpoint."""
    from mireg.models import create_model

    out = tmp_path / "run"
    torch.manual_seed(0)
    model = create_model("small_cnn", num_classes=10, in_channels=1, width=8, hidden=32)

    def poison_after_epoch_1(epoch, row):  # what a far too high lr does, made certain
        if epoch == 1:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("nan"))

    with pytest.raises(Exception, match=r"NaN or inf in epoch 2.*resume.*lower") as err:
        train(config(out), model=model, callbacks=[poison_after_epoch_1])
    assert "resume=true" in str(err.value)
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    resumed = train(config(out, lr=0.01, resume=True))
    assert [row["lr"] for row in resumed.history] == [0.1, 0.01, 0.01]
    assert all(torch.isfinite(v).all() for v in resumed.model.state_dict().values() if v.is_floating_point())
    assert all(row["loss"] == row["loss"] for row in resumed.history)  # finite: it went on from epoch 1


# -- problem 2: best.pt is the epoch the records call best, after any interruption --------------------------------


def test_a_kill_between_last_and_best_is_repaired(tmp_path, reference):
    """Problem 2: SIGKILL after last.pt of an improving epoch is written and before best.pt is replaced
    left best.pt at the previous epoch while metrics.json and the CLI called the new one the best, and
    resuming never repaired it."""
    out = tmp_path / "run"
    proc = run_child({"overrides": {**SETTINGS, "out_dir": str(out)},
                      "kill": {"epoch": 3, "at": "before", "file": "best.pt"}})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert load_checkpoint(out / "last.pt")["best"]["epoch"] == 3
    assert load_checkpoint(out / "best.pt")["epoch"] == 2  # the moment of the kill
    result = train(config(out, resume=True))  # nothing left to train: the records are reconciled
    assert result.best_epoch == 3 and load_checkpoint(result.best_path)["epoch"] == 3
    assert_records_consistent(out, reference)


# -- problem 3: one run per folder; a run is never replaced or mixed silently -------------------------------------


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path):
    """Problem 3: two runs started into the same --out both exited 0, leaving last.pt from one and
    best.pt from the other."""
    out = tmp_path / "run"
    first_epoch_done, second_tried = threading.Event(), threading.Event()

    def wait_for_the_second(epoch, row):
        first_epoch_done.set()
        second_tried.wait(120)

    first = threading.Thread(target=train, args=(config(out, epochs=2),),
                             kwargs={"callbacks": [wait_for_the_second]})
    first.start()
    try:
        assert first_epoch_done.wait(300)
        with pytest.raises(RuntimeError, match=rf"out_dir '{out}' is in use by another mireg run \(pid {os.getpid()}"):
            train(config(out, epochs=2, method="trades", overwrite=True))
    finally:
        second_tried.set()
        first.join()
    assert load_checkpoint(out / "last.pt")["config"]["method"] == "at"
    assert load_checkpoint(out / "best.pt")["config"]["method"] == "at"


def test_a_finished_run_is_never_overwritten_silently(tmp_path, capsys):
    """Problem 3: a new run into a finished run's folder overwrote it without a word."""
    out = tmp_path / "run"
    train(config(out, epochs=1))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    args = ["train", "--recipe", "digits-at", "--set", "image_size=8", "--set", "channels=1", "--epochs", "1",
            "--device", "cpu", "--quiet", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds a finished run (at, epoch 1 of 1)" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("change, message", [
    ({"method": "trades"}, "method was 'at', now 'trades'"),
    ({"eps": 0.1}, "eps was 0.05, now 0.1"),
    ({"attack": "fgsm"}, "attack was None, now 'fgsm'"),
    ({"model_kwargs": {"width": 4, "hidden": 32}}, "model_kwargs was"),
    ({"seed": 1}, "seed was 0, now 1"),
])
def test_resume_refuses_what_would_mix_two_experiments(tmp_path, change, message):
    """Problem 3: `--resume` with another --method or --eps continued and mixed both in one history."""
    out = tmp_path / "run"
    train(config(out, epochs=1))
    with pytest.raises(ValueError, match=rf"cannot resume the run in .*{message}.*--overwrite") as err:
        train(config(out, epochs=2, resume=True, **change))
    assert "\n" not in str(err.value)
    assert load_checkpoint(out / "last.pt")["epoch"] == 1


def test_overwrite_starts_a_new_run(tmp_path):
    """Problem 3: the explicit way to start a new run in a folder that holds one."""
    out = tmp_path / "run"
    train(config(out, epochs=2, save_every=1))
    result = train(config(out, epochs=1, method="trades", overwrite=True))
    assert [row["epoch"] for row in result.history] == [1]
    assert not (out / "epoch_0002.pt").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "trades" and len(metrics["epochs"]) == 1 and metrics["resumes"] == []
    assert load_checkpoint(out / "best.pt")["config"]["method"] == "trades"


# -- problem 5: paths checked before the work; one line for every I/O failure, nothing lost -------------------------


def test_train_out_is_checked_before_the_work(tmp_path, capsys, monkeypatch):
    """Problem 5: an --out that cannot be a folder is refused before any data is loaded."""
    import mireg.train.engine as engine

    monkeypatch.setattr(engine, "train_val_split", lambda *a: pytest.fail("the work started"))
    (tmp_path / "file").write_text("x")
    assert main(["train", "--recipe", "digits-at", "--no-progress", "--out", str(tmp_path / "file" / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"'{tmp_path / 'file'}' is not a folder" in err


class _FullDisk:
    """A file whose writes fail with ENOSPC once ``room`` bytes are written (a disk that fills up)."""

    def __init__(self, fh, room):
        self.fh, self.room = fh, room

    def write(self, data):
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_a_full_disk_is_one_line_and_loses_nothing(tmp_path, capsys, monkeypatch, reference):
    """Problem 5: a full disk ended in torch's `enforce fail at inline_container.cc` (or an OSError
    traceback). Now: one line naming the file and the cause; last.pt keeps the last saved epoch, and a
    resume once there is room gives the uninterrupted run."""
    out = tmp_path / "run"
    real_open = open
    calls = {"last.pt": 0}

    def open_on_a_filling_disk(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        if ".last.pt." in os.fspath(path):
            calls["last.pt"] += 1
            if calls["last.pt"] == 2:  # epoch 2's last.pt does not fit
                return _FullDisk(fh, room=10_000)
        return fh

    monkeypatch.setattr(atomic_module, "open", open_on_a_filling_disk, raising=False)
    args = cli_args(out)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"could not write '{out / 'last.pt'}'" in err and "no space left on the device" in err
    assert "holds epoch 1" in err and "--resume" in err
    assert "inline_container" not in err and "Traceback" not in err
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    monkeypatch.undo()
    train(config(out, resume=True))
    assert_records_consistent(out, reference)


@pytest.mark.parametrize("name, nth", [("best.pt", 2), ("metrics.json", 3), ("metrics.csv", 1), ("config.json", 1)])
def test_a_disk_that_fills_at_any_record_then_resume(tmp_path, monkeypatch, reference, name, nth):
    """The crash tests: the disk fills while the ``nth`` write of ``name`` (not only last.pt) is under way;
    the error is one line naming that file, and the resume gives the uninterrupted run's weights and
    records that agree (no half-written file, no temporary left)."""
    out = tmp_path / "run"
    real_open = open
    calls = {name: 0}

    def open_on_a_filling_disk(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        if f".{name}." in os.fspath(path):
            calls[name] += 1
            if calls[name] == nth:
                return _FullDisk(fh, room=10)
        return fh

    monkeypatch.setattr(atomic_module, "open", open_on_a_filling_disk, raising=False)
    with pytest.raises(OSError) as err:
        train(config(out))
    message = str(err.value)
    assert "\n" not in message and f"could not write {str(out / name)!r}" in message, message
    assert "no space left on the device" in message
    monkeypatch.undo()
    train(config(out, resume=True))
    assert_records_consistent(out, reference)
    assert json.loads((out / "config.json").read_text())["epochs"] == 3


def test_a_file_size_limit_in_a_child_process_is_one_line(tmp_path, reference):
    """Problem 5 with the kernel's own failure: RLIMIT_FSIZE below the size of last.pt (writes fail with
    EFBIG inside torch.save, as on a full disk)."""
    out = tmp_path / "run"
    proc = run_child({"overrides": {**SETTINGS, "out_dir": str(out)}, "fsize": 20_000})
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"mireg train: error: could not write '{out / 'last.pt'}': file too large")
    assert "was not written (no epoch saved)" in lines[-1]
    assert "Traceback" not in proc.stderr and "inline_container" not in proc.stderr
    assert not (out / "last.pt").exists()
    train(config(out, resume=True))
    assert_records_consistent(out, reference)


def test_a_read_only_output_is_one_line_and_loses_nothing(tmp_path, capsys, monkeypatch, reference):
    """Problem 5: the output folder becomes read-only after epoch 1 (injected EROFS, which a root user's
    chmod cannot give); one line, last.pt keeps epoch 1, the resume gives the uninterrupted run."""
    out = tmp_path / "run"
    real_open = open

    def read_only_after_epoch_1(path, mode="r", *args, **kwargs):
        if (out / "last.pt").exists() and "x" in mode:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(atomic_module, "open", read_only_after_epoch_1, raising=False)
    with pytest.raises(OSError) as err:
        train(config(out))
    message = str(err.value)
    assert "\n" not in message and "the file system is read-only" in message and "holds epoch 1" in message
    monkeypatch.undo()
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    train(config(out, resume=True))
    assert_records_consistent(out, reference)


# -- problem 6: leftovers cleaned; no write follows a link out of the folder ----------------------------------------


def test_leftovers_of_a_killed_run_are_cleaned_at_the_next_start(tmp_path):
    """Problem 6: temporary checkpoint files left by a kill were never cleaned up."""
    out = tmp_path / "run"
    train(config(out, epochs=1))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    leftovers = [out / f".last.pt.{pid}-0123abcd.tmp", out / f"last.pt.tmp-{pid}", out / f".best.pt.{pid}-deadbeef.tmp"]
    for path in leftovers:
        path.write_bytes(b"partial checkpoint")
    train(config(out, epochs=2, resume=True))
    assert not [p for p in leftovers if p.exists()]


def test_writes_never_follow_a_link_out_of_the_run_folder(tmp_path):
    """Problem 6: config.json, curves.png, metrics and checkpoints planted as links to files outside the
    output folder; the run replaces the links and leaves the outside files alone."""
    out, outside = tmp_path / "run", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    names = ("config.json", "curves.png", "metrics.json", "metrics.csv")
    for name in names:
        (outside / name).write_text("precious")
        (out / name).symlink_to(outside / name)
    train(config(out, epochs=1))
    for name in names:
        assert (outside / name).read_text() == "precious", name
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0, name


# -- the crash loops: SIGKILL anywhere, then resume -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("epoch, at, file", [(1, "inside", "last.pt"), (2, "before", "last.pt"),
                                             (2, "inside", "best.pt"), (2, "before", "best.pt"),
                                             (3, "inside", "last.pt"), (3, "before", "best.pt")])
def test_sigkill_inside_and_between_the_checkpoint_writes(tmp_path, reference, epoch, at, file):
    """The crash tests: SIGKILL half-way through a checkpoint write (a partial temporary file) or just
    before it (``before best.pt``: between the last.pt and best.pt writes); the resume gives the
    uninterrupted run's weights bit for bit and consistent records."""
    out = tmp_path / "run"
    proc = run_child({"overrides": {**SETTINGS, "out_dir": str(out)}, "kill": {"epoch": epoch, "at": at, "file": file}})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    train(config(out, resume=True))
    assert_records_consistent(out, reference)


@pytest.mark.slow
def test_sigkill_at_random_times_then_resume(tmp_path, reference):
    """The crash tests: the CLI run killed with SIGKILL at random moments (seeded), resumed with the same
    command after each kill, until it finishes: the uninterrupted run's weights and records."""
    out = tmp_path / "run"
    spec = {"overrides": {**SETTINGS, "out_dir": str(out), "resume": True}}
    rng = random.Random(10)
    kills = 0
    for _ in range(12):
        child = start_child(spec)
        time.sleep(rng.uniform(2.0, 12.0))
        if child.poll() is not None:
            break
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills += 1
    else:
        child = start_child(spec)
    assert child.wait(600) == 0, child.stderr.read()[-2000:]
    assert kills >= 2
    assert_records_consistent(out, reference)


@pytest.mark.slow
def test_a_killed_holder_leaves_a_stale_lock_that_the_next_run_takes_over(tmp_path, reference):
    """Problem 3: the lock of a run killed with SIGKILL is stale; the next run (resume) takes it over."""
    out = tmp_path / "run"
    child = start_child({"overrides": {**SETTINGS, "out_dir": str(out), "epochs": 50}})
    deadline = time.time() + 300
    while not (out / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    with pytest.raises(RuntimeError, match=rf"in use by another mireg run \(pid {child.pid}"):
        train(config(out, resume=True, epochs=50))
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert (out / ".mireg.lock").exists()

    class Started(Exception):
        pass

    def stop(epoch, row):
        raise Started

    with pytest.raises(Started):  # the lock was taken over and the run went on
        train(config(out, resume=True, epochs=50), callbacks=[stop])
    assert not (out / ".mireg.lock").exists()


def test_a_moved_run_resumes_with_its_start_files_at_their_new_place(tmp_path):
    from mireg.config import TrainConfig
    from mireg.train.rundir import check_resumable

    old, new, other = tmp_path / "old.pt", tmp_path / "new.pt", tmp_path / "other.pt"
    new.write_bytes(b"estimators")
    other.write_bytes(b"other estimators")
    config = TrainConfig(dataset="digits", method="namid", estimators=str(new))
    state = {"epoch": 1, "config": {**config.to_dict(), "estimators": str(old)}}
    check_resumable(state, config)  # the saved file is gone: moved with the folder
    old.write_bytes(b"estimators")
    check_resumable(state, config)  # the same contents at both places
    with pytest.raises(ValueError, match="estimators was .*old.pt', now .*other.pt'"):
        check_resumable(state, TrainConfig(dataset="digits", method="namid", estimators=str(other)))
