"""The fra31 ``autoattack`` API, served by the PyPI ``pyautoattack`` package.

PyPI robustbench 1.1.1 does ``from autoattack import AutoAttack`` and calls
``AutoAttack(model, norm=..., eps=..., version=..., device=..., log_path=...)`` and
``run_standard_evaluation(x, y, bs=..., state_path=...)`` (the API of fra31/auto-attack), but it
depends on ``pyautoattack``, which installs a module of another name with another signature.
:mod:`mireg.compat` registers this module as ``autoattack`` when no real ``autoattack`` is
installed. The attacks themselves (APGD-CE, APGD-T, FAB-T, Square; 100 iterations, 5000 queries
in the standard version) are pyautoattack's, unchanged.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from mireg._optional import require

require("pyautoattack", "AutoAttack (robustbench.eval.benchmark, mireg's autoattack module)")

from pyautoattack import AutoAttack as _PyAutoAttack  # noqa: E402
from pyautoattack import state  # noqa: E402,F401  (``autoattack.state`` is imported by robustbench)

__all__ = ["AutoAttack", "file_log", "state"]

_RUNS = itertools.count(1)


def _file_logger(log_path: str | os.PathLike) -> tuple[logging.Logger, logging.Handler]:
    """A logger of its own that appends to ``log_path``: not registered with ``logging`` (freed with its
    owner), a child of ``"auto-attack"`` so that handlers the user put there still see the messages."""
    logger = logging.Logger(f"auto-attack.run{next(_RUNS)}", logging.DEBUG)
    logger.parent = logging.getLogger("auto-attack")
    handler = logging.FileHandler(log_path)
    logger.addHandler(handler)
    return logger, handler


def _use_logger(adversary: Any, logger: logging.Logger) -> None:
    adversary.logger = logger
    for attack in (adversary.apgd, adversary.apgd_targeted, adversary.fab, adversary.square):
        if hasattr(attack, "logger"):
            attack.logger = logger


@contextlib.contextmanager
def file_log(adversary: Any, log_path: str | os.PathLike) -> Iterator[None]:
    """Within the block, a pyautoattack adversary logs verbosely (its official log lines) to the end of
    ``log_path``, and only there; the file is closed afterwards.

    Example:
        >>> with file_log(adversary, "autoattack.log"):
        ...     adversary.run_standard_evaluation(x, y, batch_size=500)
    """
    logger, handler = _file_logger(log_path)
    verbose, previous = adversary.verbose, adversary.logger
    adversary.verbose = True
    _use_logger(adversary, logger)
    try:
        yield
    finally:
        adversary.verbose = verbose
        _use_logger(adversary, previous)
        handler.close()


class AutoAttack(_PyAutoAttack):
    """fra31-style constructor and ``run_standard_evaluation`` on top of pyautoattack."""

    def __init__(
        self,
        model: torch.nn.Module,
        norm: str = "Linf",
        eps: float = 0.3,
        seed: int | None = None,
        verbose: bool = True,
        attacks_to_run: list[str] | None = None,
        version: str = "standard",
        is_tf_model: bool = False,
        device: str | torch.device = "cuda",
        log_path: str | None = None,
    ) -> None:
        if is_tf_model:
            raise ValueError("is_tf_model=True is not supported: pyautoattack runs PyTorch models only")
        if attacks_to_run and version != "custom":
            raise ValueError(
                f"attacks_to_run={attacks_to_run!r} needs version='custom' (got version={version!r})"
            )
        super().__init__(
            model,
            attacks=list(attacks_to_run) if attacks_to_run else None,
            device=device,
            eps=eps,
            norm=norm,
            seed=seed,
            version=version,
        )
        self.verbose = verbose
        if log_path is not None:
            self._log_to(log_path)

    def _log_to(self, log_path: str) -> None:
        """Log this adversary's run (and only it) to ``log_path``, as fra31's ``Logger(log_path)`` does.

        pyautoattack logs to the process-wide logger ``"auto-attack"``; a file handler added there would
        collect every later run too. This adversary gets its own logger, not registered with ``logging``
        (so it is freed with the adversary), a child of ``"auto-attack"`` so that handlers the user put
        there still see the messages; the file is closed when the adversary is garbage-collected.
        """
        logger, handler = _file_logger(log_path)
        weakref.finalize(self, handler.close)
        _use_logger(self, logger)

    def run_standard_evaluation(  # type: ignore[override]
        self,
        x_orig: torch.Tensor,
        y_orig: torch.Tensor,
        bs: int = 250,
        return_labels: bool = False,
        state_path: str | Path | None = None,
    ):
        path = Path(state_path) if state_path is not None else None
        x_adv, y_adv = super().run_standard_evaluation(x_orig, y_orig, batch_size=bs, state_path=path)
        return (x_adv, y_adv) if return_labels else x_adv
