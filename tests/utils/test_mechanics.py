"""The ground floor (mireg.utils) and mireg.checkpoints: each mechanic's contract."""

from __future__ import annotations

import argparse
import os
import stat

import pytest
import torch
from torch import nn

from mireg.checkpoints import load_checkpoint, load_file, save_checkpoint, save_file
from mireg.utils.atomic import atomic_write_bytes, atomic_write_text, atomic_writer
from mireg.utils.device import model_device, resolve_device
from mireg.utils.modes import preserved_modes
from mireg.utils.parsing import FractionError, parse_fraction
from mireg.utils.seeding import seeded


def _mixed() -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Sequential(nn.Dropout(), nn.Linear(2, 2)))
    model.train()
    model[1].eval()          # a frozen BatchNorm inside a training model
    model[2][0].eval()
    return model


@pytest.mark.parametrize("training", [True, False, None])
def test_preserved_modes_sets_the_mode_and_restores_each_flag_exactly(training):
    model = _mixed()
    before = [m.training for m in model.modules()]
    with preserved_modes(model, training=training):
        inside = [m.training for m in model.modules()]
    assert inside == (before if training is None else [training] * len(before))
    assert [m.training for m in model.modules()] == before


def test_preserved_modes_restores_on_exceptions_and_for_several_modules():
    a, b = _mixed(), _mixed().eval()
    before = [m.training for m in (*a.modules(), *b.modules())]
    with pytest.raises(RuntimeError, match="boom"), preserved_modes(a, b, training=True):
        raise RuntimeError("boom")
    assert [m.training for m in (*a.modules(), *b.modules())] == before
    with pytest.raises(TypeError, match="nn.Module"), preserved_modes("model"):
        pass


def test_seeded_is_reproducible_and_leaves_the_callers_stream_untouched():
    torch.manual_seed(123)
    expected_after = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7, "cpu"):
        first = torch.rand(4)
    assert torch.equal(torch.rand(3), expected_after)
    with seeded(7):
        assert torch.equal(torch.rand(4), first)


def test_atomic_writer_writes_whole_files_or_nothing(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    assert atomic_write_text(target, "one") == target and target.read_text() == "one"
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    with pytest.raises(RuntimeError), atomic_writer(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # permissions as open() gives them
    with pytest.raises(ValueError, match="mode"), atomic_writer(target, "a"):
        pass


def test_model_device_and_resolve_device():
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(nn.BatchNorm1d(2, affine=False)) == torch.device("cpu")  # buffers only
    assert model_device(nn.ReLU()) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:1")


def test_parse_fraction():
    assert parse_fraction("8/255") == pytest.approx(8 / 255) and parse_fraction(" 0.5 ") == 0.5
    assert parse_fraction("1e-2") == pytest.approx(0.01) and parse_fraction("0") == 0.0
    for bad in ("8//255", "abc", "1/0", ""):
        with pytest.raises(FractionError, match="fraction like 8/255"):
            parse_fraction(bad)
    with pytest.raises(ValueError, match="eps must be > 0"):
        parse_fraction("-1/255", name="eps", positive=True)
    assert issubclass(FractionError, argparse.ArgumentTypeError)
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--eps", type=parse_fraction)
    with pytest.raises(argparse.ArgumentError, match="fraction like 8/255"):
        parser.parse_args(["--eps", "x/y"])


def test_checkpoints_round_trip_weights_only_with_one_line_errors(tmp_path):
    state = {"model": {"w": torch.ones(2)}, "epoch": 3, "history": [{"loss": 0.5}]}
    path = save_checkpoint(state, tmp_path / "run" / "last.pt")
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], torch.ones(2))
    assert torch.equal(load_file(save_file({"x": torch.zeros(1)}, tmp_path / "c.pt"))["x"], torch.zeros(1))
    with pytest.raises(FileNotFoundError, match="estimator file '.*none.pt' does not exist"):
        load_file(tmp_path / "none.pt", what="estimator file")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable weights-only torch checkpoint") as err:
        load_checkpoint(tmp_path / "junk.pt")
    assert "\n" not in str(err.value)
    save_file({"epoch": 1}, tmp_path / "nomodel.pt")
    with pytest.raises(ValueError, match="not a mireg checkpoint"):
        load_checkpoint(tmp_path / "nomodel.pt")
