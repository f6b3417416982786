"""Registries fill themselves on first lookup (mireg's own modules, then plugins found through entry points),
and the CLI finds a plugin's dataset and model (issue 13). The plugin here is a real distribution: a
``.dist-info`` folder with ``entry_points.txt`` on ``sys.path``, read by ``importlib.metadata``."""

from __future__ import annotations

import json
import sys

import pytest

import mireg.data.base
from mireg.cli import main
from mireg.registry import DATASETS, MODELS, Registry, plugin_entry_points

PLUGIN = '''
import torch
from torch import nn

from mireg.data import DatasetInfo, ImageTensors, register_dataset
from mireg.registry import MODELS


@MODELS.register("toy-net")
def toy_net(num_classes=10, in_channels=3, mean=None, std=None):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))


@register_dataset("toy-data", DatasetInfo("toy-data", 3, 1, 6, (0.5,), (0.25,)))
def toy_data(root=None, split="train", download=False):
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    y = torch.arange(60) % 3
    x = (y.view(-1, 1, 1, 1) * 100 + torch.randint(0, 40, (60, 1, 6, 6), generator=g)).to(torch.uint8)
    return ImageTensors(x, y, ["a", "b", "c"])
'''


def _install_fake_distribution(root, entry_points: str, module: str = "toy_mireg_plugin", source: str = PLUGIN):
    dist = root / f"{module}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(entry_points)
    (root / f"{module}.py").write_text(source)


@pytest.fixture
def fresh_registries(monkeypatch, tmp_path):
    """MODELS and DATASETS as if no lookup had happened yet, restored afterwards; ``tmp_path`` on sys.path."""
    for registry in (MODELS, DATASETS):
        registry.load()
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))  # noqa: SLF001
        monkeypatch.setattr(registry, "_state", "empty")
    monkeypatch.setattr(mireg.data.base, "_INFO", dict(mireg.data.base._INFO))  # noqa: SLF001
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin_entry_points.cache_clear()
    yield tmp_path
    plugin_entry_points.cache_clear()
    for name in [m for m in sys.modules if m.startswith("toy_mireg")]:
        del sys.modules[name]  # (not monkeypatch.delitem: its undo would put the module back)


def test_a_plugin_distribution_registers_a_model_and_a_dataset_on_first_lookup(fresh_registries):
    _install_fake_distribution(fresh_registries, "[mireg.models]\ntoy-net = toy_mireg_plugin\n\n"
                                                 "[mireg.datasets]\ntoy-data = toy_mireg_plugin\n")
    assert "toy_mireg_plugin" not in sys.modules
    assert "toy-net" in MODELS.names() and "toy-data" in DATASETS
    assert "resnet18" in MODELS and "digits" in DATASETS  # the built-ins are still there
    data = mireg.data.load_dataset("toy-data", split="test")
    assert data.num_classes == 3 and mireg.data.dataset_info("toy-data").image_size == 6


def test_the_cli_trains_and_evaluates_with_a_plugins_dataset_and_model(fresh_registries, capsys):
    _install_fake_distribution(fresh_registries, "[mireg.models]\ntoy-net = toy_mireg_plugin\n\n"
                                                 "[mireg.datasets]\ntoy-data = toy_mireg_plugin\n")
    out = fresh_registries / "run"
    assert main(["train", "--dataset", "toy-data", "--model", "toy-net", "--method", "clean", "--epochs", "2",
                 "--lr", "0.01", "--batch-size", "20", "--set", "val_size=15", "--set", "val_steps=0",
                 "--no-progress", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model"] == "toy-net"
    assert main(["eval", str(out / "last.pt"), "--suite", "quick", "--attacks", "PGD-20", "--n", "12",
                 "--max-steps", "2", "--no-sanity", "--no-progress"]) == 0
    assert "clean" in capsys.readouterr().out


def test_broken_and_silent_plugins_are_skipped_with_a_warning(fresh_registries):
    _install_fake_distribution(fresh_registries, "[mireg.models]\nbroken = toy_mireg_broken\n",
                               module="toy_mireg_broken", source="raise ImportError('needs foo')\n")
    _install_fake_distribution(fresh_registries, "[mireg.models]\nsilent = toy_mireg_silent\n",
                               module="toy_mireg_silent", source="X = 1\n")
    with pytest.warns(RuntimeWarning) as record:
        names = MODELS.names()
    text = " ".join(str(w.message) for w in record)
    assert "skipped plugin 'broken'" in text and "needs foo" in text and "toy-mireg-broken" in text
    assert "registered no model named 'silent'" in text
    assert "resnet18" in names and "broken" not in names


def test_a_registry_imports_its_providers_on_first_lookup_only(tmp_path, monkeypatch):
    (tmp_path / "toy_mireg_provider.py").write_text(
        "import sys\nREG = sys.modules['toy_registry_holder'].REG\nREG.add('thing', dict)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    holder = type(sys)("toy_registry_holder")
    holder.REG = Registry("thing").provided_by("toy_mireg_provider")
    monkeypatch.setitem(sys.modules, "toy_registry_holder", holder)
    assert "toy_mireg_provider" not in sys.modules
    assert holder.REG.create("thing", a=1) == {"a": 1}
    assert "toy_mireg_provider" in sys.modules
    del sys.modules["toy_mireg_provider"]
    with pytest.raises(ValueError, match="unknown thing 'thin'. Did you mean 'thing'"):
        holder.REG.get("thin")
