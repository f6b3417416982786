"""TrainConfig: recipes load, and a file then overrides win in that order; bad settings are clear errors."""

from __future__ import annotations

import json

import pytest

import mireg.data  # noqa: F401, I001  (registers the datasets)
import mireg.models  # noqa: F401  (registers the architectures)
from mireg.recipes import Recipe
from mireg.registry import DATASETS, METHODS, MODELS, RECIPES
from mireg.train import TrainConfig, build_config, load_config_file, parse_overrides

PAPER_RECIPES = ("at-preact18", "trades-wrn34", "mart-resnet18", "mart-wrn34", "infoat-resnet18",
                 "namid-resnet18")


@pytest.mark.parametrize("name", RECIPES.names())
def test_every_recipe_builds_a_valid_config_with_known_names(name):
    recipe = RECIPES.get(name)
    assert isinstance(recipe, Recipe) and recipe.source
    cfg = recipe()
    assert cfg.recipe == name
    assert cfg.method in METHODS and cfg.model in MODELS and cfg.dataset in DATASETS


def test_paper_recipes_hold_the_published_numbers():
    for name in PAPER_RECIPES:
        assert name in RECIPES
    mart = RECIPES.get("mart-resnet18")()
    assert (mart.lr, mart.weight_decay, mart.batch_size, mart.epochs, mart.beta) == (0.01, 3.5e-3, 128, 120, 5.0)
    assert mart.lr_milestones == [75, 90, 100] and (mart.eps, mart.alpha, mart.steps) == (0.031, 0.007, 10)
    infoat = RECIPES.get("infoat-resnet18")()  # InfoAT prints MART's ResNet-18 optimiser
    assert (infoat.lr, infoat.weight_decay, infoat.momentum) == (0.01, 3.5e-3, 0.9)
    assert (infoat.lam, infoat.beta, infoat.method) == (2.5, 0.2, "infoat")
    # the paper's training attack (issue 12): eps 8/255, step eps/4, uniform start, not MART's
    assert (infoat.eps, infoat.alpha, infoat.steps) == (8 / 255, 2 / 255, 10)
    assert infoat.attack_kwargs == {"random_start": "uniform"}
    trades = RECIPES.get("trades-wrn34")()
    assert (trades.model, trades.epochs, trades.weight_decay, trades.beta) == ("wrn34_10", 76, 2e-4, 6.0)
    rice = RECIPES.get("at-preact18")()
    assert (rice.attack_mode, rice.weight_decay, rice.epochs, rice.alpha) == ("train", 5e-4, 200, 2 / 255)
    namid = RECIPES.get("namid-resnet18")()
    assert (namid.batch_size, namid.mi_weight, namid.lam, namid.epochs) == (1024, 5.0, 0.1, 100)
    for name in PAPER_RECIPES:  # selection on a validation split, never the test set
        assert RECIPES.get(name)().val_size == 1000


def test_recipe_then_toml_then_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('recipe = "mart-resnet18"\nepochs = 30\nlr = 0.02\nlr_milestones = [20, 25]\n'
                    '[attack_kwargs]\nrandom_start = "uniform"\n')
    cfg = build_config(file=path, overrides={"lr": 0.05})
    assert cfg.recipe == "mart-resnet18" and cfg.weight_decay == 3.5e-3  # from the recipe
    assert cfg.epochs == 30 and cfg.lr_milestones == [20, 25]               # from the file
    assert cfg.lr == 0.05                                                   # the override wins
    assert cfg.attack_kwargs == {"random_start": "uniform"}


def test_yaml_file_and_explicit_recipe(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 7\nbeta: 3.0\n")
    cfg = build_config("digits-trades", path)
    assert (cfg.epochs, cfg.beta, cfg.method) == (7, 3.0, "trades")


def test_parse_overrides_reads_typed_values():
    got = parse_overrides(["epochs=5", "lr=0.1", "augment=true", "lr_milestones=[3, 4]", "attack=pgd",
                           "estimators=none", "attack_kwargs={random_start = false}"])
    assert got == {"epochs": 5, "lr": 0.1, "augment": True, "lr_milestones": [3, 4], "attack": "pgd",
                   "estimators": None, "attack_kwargs": {"random_start": False}}


@pytest.mark.parametrize("items, match", [(["epoch=5"], "unknown training setting 'epoch'.*'epochs'"),
                                          (["epochs"], "key=value")])
def test_bad_overrides(items, match):
    with pytest.raises(ValueError, match=match):
        parse_overrides(items)


def test_unknown_key_in_file_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("learning_rate = 0.1\n")
    with pytest.raises(ValueError, match="'learning_rate'.*bad.toml"):
        load_config_file(path)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config_file(tmp_path / "missing.toml")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match=r"\.toml, \.yaml or \.yml"):
        load_config_file(tmp_path / "x.json")
    (tmp_path / "broken.toml").write_text("epochs = = 3")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config_file(tmp_path / "broken.toml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="table of settings"):
        load_config_file(tmp_path / "list.yaml")


def test_unknown_recipe_suggests():
    with pytest.raises(ValueError, match="mart-resnet18"):
        build_config("mart-resnet19")


@pytest.mark.parametrize("changes, error, match", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": 2.5}, TypeError, "epochs"),
    ({"lr": -1.0}, ValueError, "lr"),
    ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
    ({"attack_mode": "test"}, ValueError, "attack_mode"),
    ({"lr_milestones": [5, 3]}, ValueError, "increasing"),
    ({"lr_milestones": 5}, TypeError, "lr_milestones"),
    ({"augment": "yes"}, TypeError, "augment"),
    ({"attack_kwargs": [1]}, TypeError, "attack_kwargs"),
    ({"method": ""}, TypeError, "method"),
    ({"beta": -1.0}, ValueError, "beta"),
])
def test_bad_values_name_the_field(changes, error, match):
    with pytest.raises(error, match=match):
        TrainConfig(**changes)


def test_replace_and_to_dict_are_plain():
    cfg = TrainConfig().replace(epochs=3)
    assert cfg.epochs == 3
    assert json.loads(json.dumps(cfg.to_dict()))["epochs"] == 3
    with pytest.raises(ValueError, match="unknown training setting"):
        cfg.replace(epoch=3)


def test_schedule_settings_are_checked_against_their_schedule():
    cfg = TrainConfig(epochs=10, lr_schedule="cosine", lr_warmup_epochs=2.5)
    assert cfg.lr_warmup_epochs == 2.5
    assert TrainConfig(lr_schedule="one_cycle", lr_peak=0.3).lr_peak == 0.3
    for changes, match in [({"lr_schedule": "step"}, "lr_schedule must be one of"),
                           ({"lr_warmup_epochs": 10}, "lr_warmup_epochs=10 must be shorter than the run"),
                           ({"lr_warmup_epochs": -1}, "lr_warmup_epochs must be >= 0"),
                           ({"lr_schedule": "one_cycle", "lr_warmup_epochs": 1}, "ramps up from 0 by itself"),
                           ({"lr_schedule": "cyclic", "lr_peak": 1.0}, "lr_peak must be a fraction"),
                           ({"lr_schedule": "multistep", "lr_peak": 0.4}, "lr_peak applies to the one_cycle"),
                           ({"compile_mode": "fast"}, "compile_mode must be one of")]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(epochs=10, **changes)
    for name in ("compile", "fused", "drop_last", "augment"):
        assert getattr(TrainConfig(), name) == "auto"
        assert getattr(TrainConfig(**{name: False}), name) is False
        with pytest.raises(TypeError, match=f'{name} must be true, false or "auto"'):
            TrainConfig(**{name: "yes"})
    with pytest.raises(TypeError, match="val_size must be an int"):
        TrainConfig(val_size="some")
    assert parse_overrides(["compile=auto", "lr_peak=none"]) == {"compile": "auto", "lr_peak": None}


def test_auto_data_settings_follow_the_dataset():
    from mireg.runs import with_data_defaults

    expected = {"cifar10": (True, 1000), "cifar100": (True, 1000), "svhn": (True, 1000),
                "tiny-imagenet": (True, 1000), "digits": (False, 200), "mnist": (False, 1000),
                "fashion-mnist": (False, 1000)}
    for dataset, (augment, val_size) in expected.items():
        cfg = with_data_defaults(TrainConfig(dataset=dataset))
        assert (cfg.augment, cfg.val_size) == (augment, val_size), dataset
    explicit = TrainConfig(dataset="cifar10", augment=False, val_size=0)
    assert with_data_defaults(explicit) is explicit  # nothing "auto": the same config


def test_optimizers_follow_the_config():
    import torch

    from mireg.train.optim import build_optimizer

    model = torch.nn.Linear(3, 2)
    sgd = build_optimizer(TrainConfig(lr=0.1, momentum=0.8, nesterov=True, weight_decay=1e-4), model)
    assert isinstance(sgd, torch.optim.SGD)
    assert {k: sgd.param_groups[0][k] for k in ("lr", "momentum", "nesterov", "weight_decay")} == {
        "lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 1e-4}
    assert isinstance(build_optimizer(TrainConfig(optimizer="adam"), model), torch.optim.Adam)
    assert isinstance(build_optimizer(TrainConfig(optimizer="adamw", weight_decay=0.05), model), torch.optim.AdamW)
    assert not sgd.defaults["fused"]
    for name in ("sgd", "adam", "adamw"):  # torch's fused kernels (the engine asks for them on CUDA)
        assert build_optimizer(TrainConfig(optimizer=name), model, fused=True).defaults["fused"] is True


FAST_RECIPES = ("fast-at-resnet18", "fast-trades-resnet18", "fast-mart-resnet18", "fast-mart+-resnet18",
                "fast-infoat-resnet18")


@pytest.mark.parametrize("name", FAST_RECIPES)
def test_fast_recipes_share_one_budget_cite_their_sources_and_say_they_are_unmeasured(name):
    recipe = RECIPES.get(name)
    cfg = recipe()
    assert (cfg.dataset, cfg.model, cfg.epochs, cfg.batch_size, cfg.lr, cfg.lr_schedule) == (
        "cifar10", "resnet18", 15, 512, 0.4, "one_cycle")
    assert (cfg.steps, cfg.alpha, cfg.eps, cfg.weight_decay, cfg.val_size) == (7, 2 / 255, 8 / 255, 5e-4, 1000)
    assert cfg.epochs <= 30  # the budget
    assert "Wong, Rice & Kolter" in recipe.source and "Rice, Wong & Kolter" in recipe.source
    assert "Not yet measured on a GPU" in recipe.notes
    assert cfg.compile == "auto" and cfg.amp  # fast on CUDA by default, eager on the CPU


@pytest.mark.parametrize("name", FAST_RECIPES)
def test_fast_recipes_train_a_tiny_step_on_the_cpu(tmp_path, name):
    from mireg.train import train

    small = {"dataset": "digits", "image_size": 8, "channels": 1, "model": "small_cnn",
             "model_kwargs": {"width": 4, "hidden": 16}, "normalize": False, "val_size": 97, "val_steps": 1,
             "epochs": 1, "batch_size": 600, "steps": 1, "device": "cpu", "progress": False,
             "out_dir": str(tmp_path)}
    result = train(build_config(name, overrides=small))
    row = result.history[0]
    assert row["loss"] == row["loss"] and row["lr"] > 0  # finite; one_cycle's first step is not at lr 0
    assert result.config.recipe == name and result.config.lr_schedule == "one_cycle"
