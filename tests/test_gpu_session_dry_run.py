"""The prepared GPU session script runs end to end on CPU (``--dry-run``) and writes every result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_h200_session_dry_run(tmp_path):
    env = {**os.environ, "RESULTS": str(tmp_path), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(ROOT / "benchmarks/gpu/h200_session.sh"), "--dry-run"], env=env,
                          capture_output=True, text=True, timeout=900)
    log = (tmp_path / "issue11_session.log").read_text()
    assert proc.returncode == 0, proc.stderr + log
    for name in ("env", "data", "time_to_robustness", "vs_reference", "parity"):
        assert f"=== {name}: rc 0 " in log, log

    decoded = json.loads((tmp_path / "cifar10_jpeg_decode.json").read_text())
    assert (decoded["n_train"], decoded["n_test"]) == (240, 80)

    vs = json.loads((tmp_path / "vs_reference_resnet18.json").read_text())
    assert set(vs["results"]) == {"at", "trades", "infoat"}
    for variants in vs["results"].values():
        assert set(variants) == {"reference", "torchattacks", "engine"}
        assert all(v["images_per_second"] > 0 for v in variants.values())
    assert vs["flops"]["ideal_forwards"] == {"at": 7, "trades": 11, "infoat": 11}  # 2 attack steps
    assert vs["ratios"]["at"]["engine_speedup_over_reference_wall"] > 0

    ttr = json.loads((tmp_path / "time_to_robustness_fast_at_resnet18.json").read_text())
    assert ttr["reached"] and ttr["epoch_reached"] == 1 and len(ttr["curve"]) == 1
    assert ttr["seconds_to_target"] > 0 and ttr["stopped_by"].startswith("targets met at epoch 1")
    assert ttr["config"]["recipe"] == "fast-at-resnet18" and ttr["config"]["lr_schedule"] == "one_cycle"
    assert (tmp_path / "time_to_robustness_fast_at_resnet18.png").stat().st_size > 0

    parity = json.loads((tmp_path / "parity_resnet18.json").read_text())
    assert parity["settings"]["images"] == 192 and parity["passed"]
    assert parity["differences"] == {"clean": 0.0, "pgd20": 0.0}  # on the CPU the engine is the plain loop
