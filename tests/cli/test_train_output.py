"""What ``mireg train`` prints and logs: per-epoch lines without progress bars (``--no-progress``), nothing
with ``--quiet``, TensorBoard with ``--tensorboard DIR``; and the demo's plot, whose legends stay off the data."""

from __future__ import annotations

import sys

import pytest

import mireg.train.loggers as loggers
from mireg.cli import main

TINY = ["--recipe", "digits-at", "--epochs", "1", "--eps", "0.1", "--steps", "1", "--batch-size", "400",
        "--set", "image_size=8", "--set", "channels=1", "--set", "model_kwargs={width = 4, hidden = 16}",
        "--set", "val_size=97", "--set", "val_steps=1"]


def test_no_progress_keeps_the_epoch_lines_and_quiet_drops_them(tmp_path, capsys):
    assert main(["train", *TINY, "--no-progress", "--out", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    assert "[at] epoch 1/1 | loss" in captured.err and "\r" not in captured.err  # a line, no bar
    assert main(["train", *TINY, "--quiet", "--out", str(tmp_path / "b")]) == 0
    captured = capsys.readouterr()
    assert "epoch 1/1" not in captured.err and captured.err.strip() == ""
    assert "last checkpoint" in captured.out  # the final summary still prints


def test_tensorboard_flag_logs_every_epoch_and_closes_the_writer(tmp_path, monkeypatch):
    made = []

    class Writer:
        def __init__(self):
            self.scalars, self.closed = [], False

        def add_scalar(self, tag, value, step):
            self.scalars.append((tag, value, step))

        def flush(self):
            pass

        def close(self):
            self.closed = True

    class Logger(loggers.TensorBoardLogger):  # the real logger, with a writer that records instead of writing
        def __init__(self, log_dir):
            self.fake = Writer()
            super().__init__(log_dir, writer=self.fake)
            self._owns_writer = True  # closed by the logger, as the SummaryWriter it creates would be
            made.append(self)

    monkeypatch.setattr(loggers, "TensorBoardLogger", Logger)
    assert main(["train", *TINY, "--epochs", "2", "--quiet", "--tensorboard", str(tmp_path / "tb"),
                 "--out", str(tmp_path / "run")]) == 0
    (logger,) = made
    assert logger.log_dir == str(tmp_path / "tb") and logger.fake.closed  # closed after training
    assert {step for _, _, step in logger.fake.scalars} == {1, 2}
    tags = {tag for tag, _, _ in logger.fake.scalars}
    assert ("train/lr", 0.05, 1) in logger.fake.scalars and "val/robust_acc" in tags


def test_tensorboard_flag_without_the_extra_names_the_pip_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    assert main(["train", *TINY, "--tensorboard", str(tmp_path / "tb"), "--out", str(tmp_path / "run")]) == 2
    assert 'pip install "mireg[tensorboard]"' in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before training


def test_real_tensorboard_files_from_the_cli(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main(["train", *TINY, "--epochs", "2", "--quiet", "--tensorboard", str(tmp_path / "tb"),
                 "--out", str(tmp_path / "run")]) == 0
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    assert "val/robust_acc" in events.Tags()["scalars"]


def test_the_demo_plots_legends_do_not_cover_the_bars_or_the_curves():
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from mireg.train.demo import demo_figure

    rows = [{"method": m, "test_clean_acc": c, "test_pgd_acc": r}
            for m, c, r in (("at", 0.98, 0.70), ("trades", 0.96, 0.70), ("infoat", 0.96, 0.72), ("namid", 0.97, 0.65))]
    histories = {r["method"]: [{"epoch": e, "val_robust_acc": 0.1 * e} for e in range(1, 9)] for r in rows}
    fig = demo_figure(rows, histories, steps=20)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax_bar, ax_curve = fig.axes
    legend = ax_bar.get_legend().get_window_extent(renderer)
    bars = [patch.get_window_extent(renderer) for patch in ax_bar.patches]
    assert len(bars) == 8 and not any(legend.overlaps(bar) for bar in bars)
    assert not legend.overlaps(ax_bar.get_window_extent(renderer))  # above the axes, not in them
    assert not ax_curve.get_legend().get_window_extent(renderer).overlaps(ax_curve.get_window_extent(renderer))
