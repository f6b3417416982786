"""Two gloo processes on CPU train exactly what one process trains with the same global batch."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from mireg.train import build_config, load_checkpoint, train

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")


def _model() -> nn.Module:
    # no BatchNorm: DDP keeps per-process batch statistics, which no single process can reproduce
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 10))


def _config(out_dir: str):
    # a deterministic attack (PGD without random start) so that the processes' RNG streams do not matter;
    # TRADES runs two forwards (clean and adversarial) through the DDP wrapper before one backward
    return build_config("digits-trades", overrides={
        "image_size": 8, "channels": 1, "val_size": 97, "epochs": 2, "batch_size": 100, "steps": 2,
        "val_steps": 2, "eps": 0.1, "alpha": 0.05, "attack": "pgd", "attack_kwargs": {"random_start": False},
        "augment": True, "progress": False, "out_dir": out_dir, "device": "cpu"})


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    train(_config(out_dir), model=_model())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_matches_single_process(tmp_path):
    single = train(_config(str(tmp_path / "single")), model=_model())
    ddp_dir = tmp_path / "ddp"
    mp.spawn(_worker, args=(2, _free_port(), str(ddp_dir)), nprocs=2, join=True)

    state = load_checkpoint(ddp_dir / "last.pt")
    assert state["epoch"] == 2 and len(state["rng"]) == 2  # one RNG state per process
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(state["model"][key], value, rtol=0, atol=2e-5, msg=key)
    for a, b in zip(single.history, state["history"], strict=True):  # metrics all-reduced over ranks
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["train_adv_acc"] == pytest.approx(b["train_adv_acc"], abs=1e-9)
        assert a["val_clean_acc"] == b["val_clean_acc"]  # exact shards: every example counted once
        # the validation PGD's random starts are drawn per shard, so they differ from one process's
        assert a["val_robust_acc"] == pytest.approx(b["val_robust_acc"], abs=0.05)
    assert not (ddp_dir / "last.pt.tmp-0").exists()


@pytest.mark.slow
def test_torchrun_launch_of_the_cli(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "mireg", "train", "--recipe", "digits-at", "--epochs", "1", "--device", "cpu", "--set", "image_size=8",
           "--set", "channels=1", "--steps", "2", "--set", "val_steps=2", "--out", str(out), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("last checkpoint") == 1  # only rank 0 reports
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 1 and len(state["rng"]) == 2
