"""A training run in a child process that dies where a test says (issue 10's crash tests).

``python -m tests.train.crash_child '<json spec>'`` with the spec::

    {"overrides": {...TrainConfig fields...},   # the run: mireg train --recipe digits-at --config <them>
     "kill": {"epoch": 2, "at": "before", "file": "best.pt"},  # optional: SIGKILL itself
     "fsize": 30000}                            # optional: RLIMIT_FSIZE in bytes (a "full disk")

``at`` is ``"before"`` (just before the checkpoint ``file`` of ``epoch`` is written: ``before best.pt``
is the moment between the last.pt and best.pt writes) or ``"inside"`` (half-way through writing it,
leaving a partial temporary file). Without ``kill`` the parent kills it whenever it likes.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _arm(kill: dict) -> None:
    import torch

    import mireg.train.engine as engine

    real_save, real_torch_save = engine.save_checkpoint, torch.save

    def half_then_die(obj, fh, *args, **kwargs):
        import io

        buffer = io.BytesIO()
        real_torch_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        fh.write(data[: len(data) // 2])
        fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def save(state, path, *args, **kwargs):
        if state.get("epoch") == kill["epoch"] and os.path.basename(path) == kill["file"]:
            if kill["at"] == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            torch.save = half_then_die
        return real_save(state, path, *args, **kwargs)

    engine.save_checkpoint = save


def main() -> None:
    spec = json.loads(sys.argv[1])
    import torch

    torch.set_num_threads(1)
    if spec.get("fsize"):
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec["fsize"], spec["fsize"]))
    from mireg.cli import main as cli_main

    if spec.get("kill"):
        _arm(spec["kill"])
    config = os.path.join(spec["overrides"]["out_dir"] + ".yaml")  # YAML reads JSON
    with open(config, "w") as fh:
        json.dump(spec["overrides"], fh)
    sys.exit(cli_main(["train", "--recipe", "digits-at", "--config", config, *spec.get("args", [])]))


if __name__ == "__main__":
    main()
