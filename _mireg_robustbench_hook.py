"""Start-up hook installed by mireg (``mireg-robustbench.pth``): lets PyPI robustbench import.

robustbench 1.1.1 does ``from autoattack import AutoAttack``, but PyPI only has ``pyautoattack``
(another module name and API). This hook appends a finder at the END of ``sys.meta_path`` that
answers for ``autoattack`` only when no installed package provides it, serving mireg's fra31-API
adapter over pyautoattack (:mod:`mireg._autoattack_api`). It imports nothing heavy at start-up:
torch and mireg are imported only when something imports ``autoattack``.
"""

import sys
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec


class AutoAttackLoader(Loader):
    def create_module(self, spec):
        return None  # a fresh module object, filled by exec_module

    def exec_module(self, module):
        from mireg import _autoattack_api

        module.AutoAttack = _autoattack_api.AutoAttack
        module.state = _autoattack_api.state
        sys.modules["autoattack.state"] = _autoattack_api.state


class AutoAttackFinder(MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        return ModuleSpec(fullname, AutoAttackLoader()) if fullname == "autoattack" else None


def install():
    if not any(isinstance(finder, AutoAttackFinder) for finder in sys.meta_path):
        sys.meta_path.append(AutoAttackFinder())


install()
