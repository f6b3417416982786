"""After the README install, mireg and PyPI robustbench import and work together (mireg.compat)."""

from __future__ import annotations

import subprocess
import sys

import torch

import mireg


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_robustbench_imports_after_mireg_in_a_fresh_interpreter():
    result = _run(
        "import mireg, robustbench\n"
        "from robustbench.utils import load_model, clean_accuracy, ModelInfo\n"
        "from robustbench.eval import benchmark\n"
        "from robustbench.data import load_cifar10\n"
        "print(callable(benchmark), callable(load_model))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True"
    assert "pkg_resources is deprecated" not in result.stderr


def test_autoattack_alias_has_the_fra31_api():
    import autoattack
    from autoattack.state import EvaluationState  # noqa: F401

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)).eval()
    x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 2, 0])
    adversary = autoattack.AutoAttack(model, norm="Linf", eps=0.05, version="custom", device="cpu",
                                      attacks_to_run=["apgd-ce"], verbose=False, seed=0)
    adversary.apgd.n_iter = 5
    x_adv = adversary.run_standard_evaluation(x, y, bs=4)
    assert x_adv.shape == x.shape and (x_adv - x).abs().max() <= 0.05 + 1e-6


def test_compat_is_idempotent():
    mireg.compat.apply()
    mireg.compat.apply()
    import sys as _sys

    assert _sys.modules["autoattack"].AutoAttack is mireg._autoattack_api.AutoAttack


def test_bare_import_robustbench_works_after_a_regular_install():
    import importlib.util

    spec = importlib.util.find_spec("_mireg_robustbench_hook")
    if spec is None or "site-packages" not in (spec.origin or ""):
        import pytest

        pytest.skip("mireg is installed in editable mode: the start-up hook is only shipped by `pip install .`")
    result = _run("import robustbench\nfrom robustbench.eval import benchmark\nimport sys\n"
                  "print('mireg' in sys.modules, sys.modules['autoattack'].AutoAttack.__module__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True mireg._autoattack_api"
