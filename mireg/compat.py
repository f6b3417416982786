"""mireg's one repair of the PyPI ecosystem, scoped to robustbench and switchable off (``docs/ecosystem.md``).

robustbench 1.1.1 imports ``autoattack`` (fra31's module) but depends on ``pyautoattack`` (another
module name, another API). ``import mireg`` arms a watcher (``_mireg_robustbench_hook``, standard
library only) that acts only when ``robustbench`` is imported: it then serves ``autoattack`` from
mireg's fra31-API adapter over pyautoattack (:mod:`mireg._autoattack_api`), with pyautoattack's
submodules under ``autoattack.*``, whenever no real ``autoattack`` is installed, and silences the
"pkg_resources is deprecated" warning of robustbench's import. A regular (non-editable) install also
arms it at interpreter start-up (``mireg-robustbench.pth``), so a bare ``import robustbench`` works.

Switch it off with the environment variable ``MIREG_NO_ROBUSTBENCH_REPAIR=1`` (set before Python
starts, or before ``import mireg``/``import robustbench``).

``import mireg`` changes nothing else: torchattacks is not patched. torchattacks 3.5.1 leaves an
eval-mode model in train mode after an attack configured with
``set_model_training_mode(model_training=True)``; mireg's own attacks, :class:`mireg.TrainingAttack`
and the evaluation runner restore every module's mode themselves.
"""

from __future__ import annotations

import _mireg_robustbench_hook as _hook

ENV_VAR = _hook.ENV_VAR

__all__ = ["ENV_VAR", "apply", "install_autoattack_alias", "repair_enabled"]


def repair_enabled() -> bool:
    """False when ``MIREG_NO_ROBUSTBENCH_REPAIR`` is set (to anything but ``0``, ``false`` or ``no``)."""
    return _hook.enabled()


def install_autoattack_alias() -> None:
    """Serve ``autoattack`` from pyautoattack now, without waiting for ``import robustbench``.

    Appends a finder at the end of ``sys.meta_path``: a real fra31 ``autoattack`` package, when
    installed, is always found first. Needs pyautoattack (``pip install "mireg[autoattack]"``).

    Examples:
        >>> mireg.compat.install_autoattack_alias()
        >>> from autoattack import AutoAttack                  # fra31's API on top of pyautoattack
        >>> from autoattack.autopgd_base import APGDAttack     # pyautoattack's module
    """
    _hook.install_autoattack_alias()


def apply() -> None:
    """Arm the robustbench repair (called by ``import mireg``; does nothing when switched off)."""
    _hook.install()
