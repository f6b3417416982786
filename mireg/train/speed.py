"""The engine's speed settings resolved for a device, and ``torch.compile`` with a fallback to eager.

:func:`resolve_speed` turns the config's speed knobs (``"auto"`` or explicit) into what the run uses
on its device. On CUDA, "auto" means fast: ``torch.compile`` on, the fused optimizer, the last short
batch dropped (static shapes for compilation and CUDA graphs); ``amp`` (bf16 autocast) and
``channels_last`` apply to CUDA only. On the CPU, "auto" keeps the plain eager path.

:class:`CompileFallback` compiles the engine's modules and, when compiling fails (any exception at
a call of the compiled module, or while wrapping it), runs the module eagerly instead, from then on,
with ONE warning for the whole run. A forward call that fails is re-run eagerly on the same inputs,
so a run whose compilation fails at its first call trains exactly as an eager run. A failure outside
the forward call (the backward graph is compiled at the first backward) is caught by the training
step (:class:`mireg.train.step.TrainingStep`), which re-runs that step eagerly. If the eager call
fails too, its own error is raised (a genuine error, not a compiler failure), and no warning is given.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mireg.config import AUTO, TrainConfig

__all__ = ["CompileFallback", "CompiledModule", "Speed", "resolve_speed"]


@dataclass(frozen=True)
class Speed:
    """The speed settings a run uses on its device (``"auto"`` resolved; see the module docstring)."""

    amp: bool
    channels_last: bool
    compile: bool
    compile_mode: str
    fused: bool
    drop_last: bool

    def describe(self) -> str:
        """One line for the run's log, e.g. ``compile (default), bf16 autocast, channels_last, ...``."""
        parts = [f"compile ({self.compile_mode})" if self.compile else "eager",
                 "bf16 autocast" if self.amp else "fp32", *(["channels_last"] if self.channels_last else []),
                 "fused optimizer" if self.fused else "foreach optimizer",
                 "last short batch dropped" if self.drop_last else "every batch kept"]
        return ", ".join(parts)


def resolve_speed(config: TrainConfig, device: torch.device) -> Speed:
    """The run's :class:`Speed` on ``device``: ``compile``, ``fused`` and ``drop_last`` "auto" resolve
    to on for CUDA (``drop_last`` only when compiling) and off elsewhere; ``amp`` and
    ``channels_last`` have an effect on CUDA only."""
    cuda = device.type == "cuda"
    compile_ = cuda if config.compile == AUTO else bool(config.compile)
    fused = cuda if config.fused == AUTO else bool(config.fused)
    drop_last = (cuda and compile_) if config.drop_last == AUTO else bool(config.drop_last)
    return Speed(amp=config.amp and cuda, channels_last=config.channels_last and cuda, compile=compile_,
                 compile_mode=config.compile_mode, fused=fused, drop_last=drop_last)


class CompileFallback:
    """``torch.compile`` for the modules of one run, eager from the first failure on (module docstring).

    Example::

        fallback = CompileFallback("default")
        fast = fallback.wrap(model)          # a CompiledModule; fast(x) is model(x), compiled when it can be
        fallback.active                      # False once compiling failed (one warning was given)
    """

    def __init__(self, mode: str = "default") -> None:
        self.mode = mode
        self.active = True
        self._warned = False

    def wrap(self, module: nn.Module) -> CompiledModule:
        """``module`` compiled (a :class:`CompiledModule`), or run eagerly when ``torch.compile`` raises."""
        compiled = None
        if self.active:
            try:
                compiled = torch.compile(module, mode=None if self.mode == "default" else self.mode)
            except Exception as err:  # noqa: BLE001 - any failure to compile means: run eagerly
                self.failed(err)
        return CompiledModule(module, compiled, self)

    def failed(self, err: BaseException) -> None:
        """Compiling failed with ``err`` (and the eager run of the same call worked): eager from now on,
        with one warning per run."""
        self.active = False
        if not self._warned:
            self._warned = True
            warnings.warn(f"torch.compile failed ({_summary(err)}); training continues without "
                          "compilation (eager): the same computation, slower. Set compile=false (mireg train "
                          "--no-compile) to skip compiling.", RuntimeWarning, stacklevel=3)


def _summary(err: BaseException) -> str:
    """``Type: message`` of ``err`` in one line: its first two non-empty lines (dynamo's
    ``BackendCompilerFailed`` names the backend on the first and the backend's error on the second)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()][:2]
    return f"{type(err).__name__}: {' '.join(lines)[:300]}"


class CompiledModule(nn.Module):
    """``module`` called through its compiled version while its :class:`CompileFallback` is active,
    eagerly otherwise; a call that fails compiled is re-run eagerly (module docstring).

    The module is the only registered child (its parameters, buffers and train/eval flags are the
    wrapper's), so attacks and DDP see the same weights whichever path runs.
    """

    def __init__(self, module: nn.Module, compiled: Any, fallback: CompileFallback) -> None:
        super().__init__()
        self.module = module
        self.__dict__["compiled"] = compiled  # not a registered child: the same module, wrapped
        self.__dict__["fallback"] = fallback

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is None or not self.fallback.active:
            return self.module(*args, **kwargs)
        try:
            return self.compiled(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - verified below: the eager call must succeed
            self.fallback.active = False
            out = self.module(*args, **kwargs)
            self.fallback.failed(err)
            return out
