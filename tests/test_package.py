"""``import mireg`` is light (PEP 562): no torch until a public name is used, every documented name still
resolves, and ``mireg --help`` answers without importing torch (issue 13)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import mireg


def _run(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_mireg_imports_no_torch_until_a_name_is_used():
    out = _run("import sys, json, mireg\n"
               "light = 'torch' in sys.modules\n"
               "loaded = sorted(m for m in sys.modules if m.startswith('mireg'))\n"
               "term = mireg.InfoAT(lam=2.5, beta=0.2)\n"
               "after = 'torch' in sys.modules\n"
               "from mireg.registry import ATTACKS, DATASETS, METHODS, MODELS, RECIPES, SUITES\n"
               "before = 'mireg.models' in sys.modules\n"
               "print(json.dumps({'light': light, 'loaded': loaded, 'after': after, 'before': before,\n"
               "                  'type': type(term).__module__, 'version': mireg.__version__,\n"
               "                  'models': MODELS.names(), 'datasets': DATASETS.names(),\n"
               "                  'attacks': ATTACKS.names(), 'methods': METHODS.names(),\n"
               "                  'recipes': RECIPES.names(), 'suites': SUITES.names()}))\n")
    assert out["light"] is False, "import mireg imported torch"
    assert out["loaded"] == ["mireg", "mireg.compat", "mireg.registry"]
    assert out["after"] is True and out["type"] == "mireg.losses.infoat"
    assert out["version"] == mireg.__version__
    # every registry is complete on its first lookup, whatever was imported before
    assert out["before"] is False
    assert {"resnet18", "small_cnn"} <= set(out["models"]) and {"digits", "mnist"} <= set(out["datasets"])
    assert {"pgd", "infopgd", "autoattack"} <= set(out["attacks"]) and {"infoat", "namid"} <= set(out["methods"])
    assert "digits-infoat" in out["recipes"] and "robustbench-linf" in out["suites"]


def test_mireg_help_imports_no_torch():
    probe = ("import atexit, json, runpy, sys\n"
             "atexit.register(lambda: print(json.dumps({'torch': 'torch' in sys.modules}), file=sys.stderr))\n"
             "sys.argv = ['mireg', '--help']\n"
             "runpy.run_module('mireg', run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "examples:" in result.stdout and "reproduce" in result.stdout
    assert json.loads(result.stderr.strip().splitlines()[-1]) == {"torch": False}


@pytest.mark.parametrize("name", mireg.__all__)
def test_every_public_name_resolves(name):
    value = getattr(mireg, name)
    assert value is not None and name in dir(mireg)
    assert getattr(mireg, name) is value  # cached in the module's namespace after the first use


def test_names_come_from_their_home_modules_and_unknown_names_fail_clearly():
    import mireg.attacks
    import mireg.config
    import mireg.evaluation
    import mireg.losses

    assert mireg.InfoAT is mireg.losses.InfoAT and mireg.InfoPGD is mireg.attacks.InfoPGD
    assert mireg.evaluate is mireg.evaluation.evaluate and mireg.TrainConfig is mireg.config.TrainConfig
    assert mireg.train.TrainConfig is mireg.TrainConfig
    for module in ("checkpoints", "recipes", "runs", "reproduce", "utils"):
        assert getattr(mireg, module).__name__ == f"mireg.{module}"
    with pytest.raises(AttributeError, match="no attribute 'InfoATT'"):
        mireg.InfoATT  # noqa: B018
    namespace: dict = {}
    exec("from mireg import *", namespace)
    assert set(mireg.__all__) <= set(namespace)
