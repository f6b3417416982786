"""Make the PyPI robustness ecosystem work as installed; applied once by ``import mireg``.

Three breakages of the released packages are repaired here (details in ``docs/ecosystem.md``):

1. robustbench 1.1.1 imports ``autoattack`` (fra31's module) but depends on ``pyautoattack``
   (another module name, another API). When no real ``autoattack`` is importable, mireg registers
   :mod:`mireg._autoattack_api` under that name, so ``robustbench.eval.benchmark`` runs the official
   AutoAttack algorithm through pyautoattack. A (non-editable) install also ships a start-up hook
   (``_mireg_robustbench_hook``) that does the same for a bare ``import robustbench``.
2. robustbench imports ``pkg_resources``; mireg depends on ``setuptools<81`` (which still has it)
   and silences its deprecation warning.
3. torchattacks 3.5.1 leaves an eval-mode model in train mode after an attack configured with
   ``set_model_training_mode(model_training=True)``, and resets every submodule to train mode
   after attacking a training model. mireg wraps ``Attack.__call__`` so that each module's own
   train/eval flag is restored exactly, also when the attack raises.

Each repair is idempotent and can be applied on its own.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import warnings

from mireg.utils.modes import preserved_modes

__all__ = ["apply", "install_autoattack_alias", "patch_torchattacks_mode_restore"]


def install_autoattack_alias() -> bool:
    """Serve ``autoattack`` from pyautoattack when fra31's package is absent. Returns True if aliased."""
    from mireg import _autoattack_api

    existing = sys.modules.get("autoattack")
    if existing is not None:
        return getattr(existing, "AutoAttack", None) is _autoattack_api.AutoAttack
    spec = importlib.util.find_spec("autoattack")
    if spec is not None and type(spec.loader).__module__ != "_mireg_robustbench_hook":
        return False  # the real fra31 package is installed: leave it alone

    sys.modules["autoattack"] = _autoattack_api
    sys.modules["autoattack.state"] = _autoattack_api.state
    return True


def patch_torchattacks_mode_restore() -> None:
    """Make every torchattacks ``Attack`` call restore each module's train/eval flag exactly."""
    from torchattacks.attack import Attack

    if getattr(Attack.__call__, "_mireg_restores_mode", False):
        return
    original_call = Attack.__call__

    @functools.wraps(original_call)
    def call_restoring_mode(self, *args, **kwargs):
        with preserved_modes(self.model):
            return original_call(self, *args, **kwargs)

    call_restoring_mode._mireg_restores_mode = True  # type: ignore[attr-defined]
    Attack.__call__ = call_restoring_mode


def apply() -> None:
    """Apply every repair (called by ``import mireg``)."""
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    install_autoattack_alias()
    patch_torchattacks_mode_restore()
