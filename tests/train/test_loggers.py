"""TensorBoardLogger as an engine epoch callback: tags and values, ranks, the missing extra; TensorBoard's own
reader over a real run when tensorboard is installed; and the MNIST recipes end to end on generated IDX files."""

from __future__ import annotations

import math
import sys

import pytest

from mireg.train import build_config, train
from mireg.train.loggers import TensorBoardLogger, scalar_tags
from tests.data.test_mnist import write_split


class FakeWriter:
    def __init__(self):
        self.scalars: list[tuple[str, float, int]] = []
        self.flushes = 0

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def flush(self):
        self.flushes += 1


ROW = {"epoch": 2, "lr": 0.01, "loss": 0.9, "train_adv_acc": 0.5, "train_nat_acc": None, "loss_trades_kl": 0.2,
       "train_seconds": 3.0, "images_per_second": 100.0, "val_clean_acc": 0.8, "val_robust_acc": math.nan,
       "best": True}


def test_scalar_tags_group_the_metrics_and_drop_what_is_not_a_number():
    assert scalar_tags(ROW) == {"train/lr": 0.01, "train/loss": 0.9, "train/adv_acc": 0.5,
                                "train/loss_trades_kl": 0.2, "speed/train_seconds": 3.0,
                                "speed/images_per_second": 100.0, "val/clean_acc": 0.8}


def test_logger_writes_each_number_at_the_epoch_and_flushes():
    writer = FakeWriter()
    logger = TensorBoardLogger("unused", writer=writer)
    logger(2, ROW)
    assert sorted(writer.scalars) == sorted((tag, value, 2) for tag, value in scalar_tags(ROW).items())
    assert writer.flushes == 1
    logger.close()  # a writer passed in is not closed (FakeWriter has no close)


def test_bad_arguments_and_the_missing_extra(monkeypatch):
    with pytest.raises(TypeError, match="log_dir"):
        TensorBoardLogger(3)
    with pytest.raises(TypeError, match="add_scalar"):
        TensorBoardLogger("runs", writer=object())
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "mireg\[tensorboard\]"'):
        TensorBoardLogger("runs")


@pytest.mark.slow
def test_mnist_recipes_train_end_to_end_and_log_every_epoch(tmp_path):
    """trades-mnist / trades-fashion-mnist (small budget) on generated IDX files, TRADES' small CNN."""
    for name, folder in (("trades-mnist", "mnist"), ("trades-fashion-mnist", "fashion-mnist")):
        write_split(tmp_path / "data" / folder, "train", n=48, compress=False)  # raw: no md5 warning
        writer = FakeWriter()
        cfg = build_config(name, overrides={
            "data_root": str(tmp_path / "data"), "val_size": 16, "epochs": 2, "batch_size": 16, "steps": 2,
            "val_steps": 1, "lr_milestones": [2], "progress": False, "device": "cpu",
            "out_dir": str(tmp_path / "run" / name)})
        result = train(cfg, callbacks=[TensorBoardLogger(tmp_path / "tb", writer=writer)])
        assert type(result.model.model).__name__ == "TRADESSmallCNN" and len(result.history) == 2
        assert {step for _, _, step in writer.scalars} == {1, 2}
        assert ("train/lr", 0.01, 1) in writer.scalars and ("train/lr", 0.001, 2) in writer.scalars
        assert any(tag == "val/robust_acc" for tag, _, _ in writer.scalars)


def test_real_tensorboard_files_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with TensorBoardLogger(tmp_path / "tb") as logger:
        logger(1, {**ROW, "epoch": 1, "loss": 1.5})
        logger(2, ROW)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    loss = events.Scalars("train/loss")
    assert [(e.step, round(e.value, 6)) for e in loss] == [(1, 1.5), (2, 0.9)]
    assert set(events.Tags()["scalars"]) == set(scalar_tags(ROW))
