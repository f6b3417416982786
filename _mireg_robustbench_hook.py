"""mireg's repair of PyPI robustbench 1.1.1, armed by ``mireg-robustbench.pth`` and by ``import mireg``.

robustbench 1.1.1 does ``from autoattack import AutoAttack`` (fra31's module and API), but its PyPI
metadata depends on ``pyautoattack`` (another module name and API), so ``import robustbench`` fails.
This module (standard library only: nothing is imported at start-up) puts one finder at the FRONT of
``sys.meta_path`` that only watches for ``import robustbench`` and otherwise answers nothing. When
robustbench is imported, and only then, it

1. appends a finder for ``autoattack`` at the END of ``sys.meta_path``: it answers only when no
   installed package provides ``autoattack`` (a real fra31 package always wins) and pyautoattack is
   installed, and serves mireg's fra31-API adapter (:mod:`mireg._autoattack_api`) with pyautoattack's
   submodules under ``autoattack.*`` (``from autoattack.autopgd_base import APGDAttack``);
2. silences the warnings of setuptools' ``pkg_resources`` that robustbench's import triggers ("pkg_resources
   is deprecated", and "Module _mireg_robustbench_hook was already imported" from a mireg source checkout).

Set the environment variable ``MIREG_NO_ROBUSTBENCH_REPAIR=1`` to switch all of it off.
``install_autoattack_alias()`` serves ``autoattack`` without robustbench being imported.
"""

import importlib
import importlib.util
import os
import sys
import warnings
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec

ENV_VAR = "MIREG_NO_ROBUSTBENCH_REPAIR"


def enabled():
    """False when the environment variable MIREG_NO_ROBUSTBENCH_REPAIR is set to anything but 0/false/no."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("", "0", "false", "no")


class AutoAttackLoader(Loader):
    """Fills a fresh ``autoattack`` module with the adapter and aliases pyautoattack's submodules."""

    def create_module(self, spec):
        return None  # a fresh module object, filled by exec_module

    def exec_module(self, module):
        import pyautoattack

        from mireg import _autoattack_api

        module.AutoAttack = _autoattack_api.AutoAttack
        module.__version__ = getattr(pyautoattack, "__version__", None)
        module.__doc__ = "fra31's autoattack API served by mireg over pyautoattack (see mireg._autoattack_api)."
        for name, sub in list(sys.modules.items()):
            if name.startswith("pyautoattack.") and sub is not None:
                short = name[len("pyautoattack."):]
                sys.modules.setdefault(f"autoattack.{short}", sub)
                if "." not in short:
                    setattr(module, short, sub)


class AutoAttackFinder(MetaPathFinder):
    """Answers ``import autoattack`` (only reached when no installed package provides it)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "autoattack" or importlib.util.find_spec("pyautoattack") is None:
            return None
        return ModuleSpec(fullname, AutoAttackLoader())


class RobustBenchTrigger(MetaPathFinder):
    """Applies the repair when ``robustbench`` is first imported; never finds a module itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "robustbench" and enabled():
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            # pkg_resources also warns when run from a mireg source checkout (this file on sys.path twice)
            warnings.filterwarnings("ignore", message=f"Module {__name__} was already imported", category=UserWarning)
            install_autoattack_alias()
        return None


def install_autoattack_alias():
    """Append the ``autoattack`` finder to the end of ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(finder, AutoAttackFinder) for finder in sys.meta_path):
        sys.meta_path.append(AutoAttackFinder())


def install():
    """Arm the repair: the robustbench trigger at the front of ``sys.meta_path`` (idempotent)."""
    if not enabled():
        return
    if not any(isinstance(finder, RobustBenchTrigger) for finder in sys.meta_path):
        sys.meta_path.insert(0, RobustBenchTrigger())
    if "robustbench" in sys.modules:  # imported before the trigger was armed (e.g. a real autoattack)
        install_autoattack_alias()


install()
