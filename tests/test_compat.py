"""``import mireg`` has no side effect the user did not ask for; the robustbench repair (mireg.compat)
acts only on ``import robustbench``, can be switched off, and serves pyautoattack under ``autoattack.*``."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys

import pytest
import torch

import mireg

OPTIONAL = ("robustbench", "pyautoattack", "autoattack", "matplotlib", "scipy", "sklearn", "tensorboard", "timm",
            "torchvision")


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_import_mireg_imports_no_optional_package_and_patches_nothing():
    result = _run(
        "import sys, json, importlib.util\n"
        "import torchattacks, torchattacks.attack as ta\n"  # torchattacks itself imports scipy.optimize
        "before, call = set(sys.modules), ta.Attack.__call__\n"
        "import mireg\n"
        "print(json.dumps({'new': sorted(set(sys.modules) - before), 'all': sorted(sys.modules),\n"
        "                  'patched': ta.Attack.__call__ is not call,\n"
        "                  'autoattack_served': importlib.util.find_spec('autoattack') is not None}))\n")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    top = {name.partition(".")[0] for name in out["new"]}
    assert not top & set(OPTIONAL), f"import mireg imported optional packages {sorted(top & set(OPTIONAL))}"
    loaded = {name.partition(".")[0] for name in out["all"]}
    assert not loaded & (set(OPTIONAL) - {"scipy"}), sorted(loaded & set(OPTIONAL))
    assert not out["patched"], "import mireg replaced torchattacks.attack.Attack.__call__"
    assert not out["autoattack_served"], "autoattack must only be served once robustbench is imported"


def test_robustbench_imports_after_mireg_in_a_fresh_interpreter():
    result = _run(
        "import mireg, robustbench\n"
        "from robustbench.utils import load_model, clean_accuracy, ModelInfo\n"
        "from robustbench.eval import benchmark\n"
        "from robustbench.data import load_cifar10\n"
        "import autoattack, pyautoattack.autopgd_base\n"
        "from autoattack.autopgd_base import APGDAttack\n"
        "print(callable(benchmark), callable(load_model), APGDAttack is pyautoattack.autopgd_base.APGDAttack)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True True"
    assert "pkg_resources is deprecated" not in result.stderr


def test_the_repair_switches_off_with_the_environment_variable():
    result = _run("import sys, mireg, _mireg_robustbench_hook as h\n"
                  "print(any(type(f).__module__ == h.__name__ for f in sys.meta_path), mireg.compat.repair_enabled())\n"
                  "import robustbench\n", MIREG_NO_ROBUSTBENCH_REPAIR="1")
    assert result.stdout.startswith("False False"), result.stdout + result.stderr
    assert result.returncode != 0 and "No module named 'autoattack'" in result.stderr


def test_autoattack_alias_has_the_fra31_api_and_pyautoattacks_submodules():
    mireg.compat.install_autoattack_alias()
    import autoattack
    import pyautoattack.autopgd_base
    import pyautoattack.state
    from autoattack.autopgd_base import APGDAttack
    from autoattack.state import EvaluationState

    assert APGDAttack is pyautoattack.autopgd_base.APGDAttack
    assert EvaluationState is pyautoattack.state.EvaluationState and autoattack.state is pyautoattack.state
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)).eval()
    x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 2, 0])
    adversary = autoattack.AutoAttack(model, norm="Linf", eps=0.05, version="custom", device="cpu",
                                      attacks_to_run=["apgd-ce"], verbose=False, seed=0)
    adversary.apgd.n_iter = 5
    x_adv = adversary.run_standard_evaluation(x, y, bs=4)
    assert x_adv.shape == x.shape and (x_adv - x).abs().max() <= 0.05 + 1e-6


def test_each_adversary_logs_only_its_own_run(tmp_path):
    from mireg._autoattack_api import AutoAttack

    shared = logging.getLogger("auto-attack")
    handlers_before = list(shared.handlers)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)).eval()
    x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 2, 0])

    def run(log_path):
        adversary = AutoAttack(model, eps=0.05, version="custom", attacks_to_run=["apgd-ce"], device="cpu",
                               seed=0, log_path=str(log_path))
        adversary.apgd.n_iter = 2
        adversary.run_standard_evaluation(x, y, bs=4)
        return adversary

    first = run(tmp_path / "first.log")
    written = (tmp_path / "first.log").read_text()
    assert "robust accuracy" in written
    second = run(tmp_path / "second.log")
    assert (tmp_path / "first.log").read_text() == written  # the first run's log is not written again
    assert "robust accuracy" in (tmp_path / "second.log").read_text()
    assert shared.handlers == handlers_before and first.logger is not second.logger


def test_file_log_writes_one_block_and_leaves_the_adversary_as_it_was(tmp_path):
    from pyautoattack import AutoAttack as PyAutoAttack

    from mireg._autoattack_api import file_log
    from mireg.attacks import AutoAttack

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)).eval()
    x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 2, 0])
    adversary = PyAutoAttack(model, attacks=["apgd-ce"], device="cpu", eps=0.05, seed=0, version="custom")
    adversary.apgd.n_iter, adversary.verbose = 2, False
    logger_before = adversary.logger
    with file_log(adversary, tmp_path / "aa.log"):
        adversary.run_standard_evaluation(x, y, batch_size=4)
    written = (tmp_path / "aa.log").read_text()
    assert "initial accuracy" in written and "robust accuracy" in written
    assert adversary.verbose is False and adversary.logger is logger_before and adversary.apgd.logger is logger_before
    adversary.run_standard_evaluation(x, y, batch_size=4)  # after the block: nothing more in the file
    assert (tmp_path / "aa.log").read_text() == written
    # mireg's attack appends one block per call, and only with log_path
    attack = AutoAttack(model, eps=0.05, version="custom", attacks=["apgd-ce"], n_iter=2, log_path=tmp_path / "m.log")
    attack(x, y)
    attack(x, y)
    assert (tmp_path / "m.log").read_text().count("initial accuracy") == 2
    with pytest.raises(TypeError, match="log_path"):
        AutoAttack(model, log_path=3)


def test_compat_is_idempotent():
    import _mireg_robustbench_hook as hook

    mireg.compat.apply()
    mireg.compat.apply()
    mireg.compat.install_autoattack_alias()
    mireg.compat.install_autoattack_alias()
    assert sum(isinstance(f, hook.RobustBenchTrigger) for f in sys.meta_path) == 1
    assert sum(isinstance(f, hook.AutoAttackFinder) for f in sys.meta_path) == 1


def test_bare_import_robustbench_works_after_a_regular_install():
    spec = importlib.util.find_spec("_mireg_robustbench_hook")
    if spec is None or "site-packages" not in (spec.origin or ""):
        pytest.skip("mireg is installed in editable mode: the start-up hook is only shipped by `pip install .`")
    result = _run("import robustbench\nfrom robustbench.eval import benchmark\nimport sys\n"
                  "print('mireg' in sys.modules, sys.modules['autoattack'].AutoAttack.__module__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True mireg._autoattack_api"
