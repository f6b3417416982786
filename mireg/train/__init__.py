"""Training: one engine loop for every method, paper recipes, checkpoints, DDP (see ``docs/training.md``).

Example::

    from mireg.train import build_config, train

    cfg = build_config("digits-infoat", overrides={"epochs": 5, "out_dir": "runs/infoat"})
    result = train(cfg)              # runs/infoat/{last.pt, best.pt, metrics.csv, metrics.json, curves.png}
"""

from mireg.checkpoints import load_checkpoint, load_model_weights, save_checkpoint
from mireg.config import TrainConfig, load_config_file, parse_overrides
from mireg.recipes import Recipe, add_recipe, build_config
from mireg.train.engine import NonFiniteLossError, StopTraining, TrainResult, evaluate_accuracy, train
from mireg.train.finetune import finetune
from mireg.train.methods import MethodSpec, register_method

__all__ = [
    "MethodSpec",
    "NonFiniteLossError",
    "Recipe",
    "StopTraining",
    "TrainConfig",
    "TrainResult",
    "add_recipe",
    "build_config",
    "evaluate_accuracy",
    "finetune",
    "load_checkpoint",
    "load_config_file",
    "load_model_weights",
    "parse_overrides",
    "register_method",
    "save_checkpoint",
    "train",
]
