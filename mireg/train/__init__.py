"""Training: one engine loop for every method, paper recipes, checkpoints, DDP (see ``docs/training.md``).

Example::

    from mireg.train import build_config, train

    cfg = build_config("digits-infoat", overrides={"epochs": 5, "out_dir": "runs/infoat"})
    result = train(cfg)              # runs/infoat/{last.pt, best.pt, metrics.csv, metrics.json, curves.png}
"""

from mireg.train import methods, recipes  # noqa: F401  (register the methods and recipes)
from mireg.train.checkpoint import load_checkpoint, load_model_weights, save_checkpoint
from mireg.train.config import TrainConfig, build_config, load_config_file, parse_overrides
from mireg.train.engine import NonFiniteLossError, TrainResult, evaluate_accuracy, train
from mireg.train.methods import MethodSpec
from mireg.train.recipes import Recipe, add_recipe

__all__ = [
    "MethodSpec",
    "NonFiniteLossError",
    "Recipe",
    "TrainConfig",
    "TrainResult",
    "add_recipe",
    "build_config",
    "evaluate_accuracy",
    "load_checkpoint",
    "load_config_file",
    "load_model_weights",
    "parse_overrides",
    "save_checkpoint",
    "train",
]
