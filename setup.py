"""Build hook only (metadata lives in setup.cfg): ship ``mireg-robustbench.pth`` in site-packages so that
``import robustbench`` works on its own (see ``_mireg_robustbench_hook.py``). Editable installs skip it;
there ``import mireg`` applies the same repair."""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "mireg-robustbench.pth"


class BuildPyWithPth(build_py):
    def run(self):
        super().run()
        self.copy_file(PTH, os.path.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode=1):
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH)]


setup(cmdclass={"build_py": BuildPyWithPth})
