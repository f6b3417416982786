"""Parity: mireg's engine learns exactly as a plain PyTorch loop with the same model, data, attack and seeds.

The plain loop is ``benchmarks/reference_loop.py`` (hand-written PGD, SGD, per-epoch multistep lr, the
loader's documented data order and crop/flip draws; nothing from mireg). Given the same initial
weights, the engine (``mireg.train.train``) and the plain loop run the same operations in the same
order, so their weights must agree bit for bit after every epoch, BatchNorm buffers included: this
checks the data order and augmentation, the attack's start, steps and BN mode, the lr steps, the
weight decay and the optimiser, all at once.

The accuracy check (made first, so a failure says which statement broke) is the weaker one, which
would survive a platform where some kernel rounds differently: clean and PGD-20
accuracy on the 500 held-out test digits equal within the plain loop's own run-to-run spread. How
it was chosen: eight runs of the plain loop with seeds 0-7 (seed = initial weights, data order and
attack starts; the digits-at recipe, 180 steps; measured with the same evaluation on the 2-core
development CPU) gave clean accuracy 0.972-0.984 (mean 0.979, sd 0.005) and PGD-20 accuracy
0.660-0.710 (mean 0.692, sd 0.016); the tolerances are those ranges. Reproduce with
``python benchmarks/reference_loop.py --seeds 0-7`` (``benchmarks/results/parity_spread_cpu.json``).
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest
import torch

from mireg.data import load_dataset, split_validation
from mireg.models import create_model
from mireg.train import TrainConfig, build_config, train

CLEAN_TOLERANCE = 0.012  # range of the plain loop's clean accuracy over 8 seeds (module docstring)
ROBUST_TOLERANCE = 0.050  # range of its PGD-20 accuracy over the same 8 seeds


def _reference_loop():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "reference_loop.py"
    spec = importlib.util.spec_from_file_location("reference_loop", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _reference_loop()


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _train_both(cfg: TrainConfig):
    """(engine model, plain model, per-epoch engine weights, per-epoch plain weights) from one init."""
    data = load_dataset(cfg.dataset, split="train", image_size=cfg.image_size, channels=cfg.channels)
    train_data, _ = split_validation(data, cfg.val_size, seed=cfg.seed)
    torch.manual_seed(1234)
    engine_model = create_model(cfg.model, num_classes=10, in_channels=cfg.channels, **cfg.model_kwargs)
    plain_model = copy.deepcopy(engine_model)
    engine_weights, plain_weights = [], []
    train(cfg, model=engine_model, callbacks=[lambda epoch, row: engine_weights.append(_snapshot(engine_model))])
    ref.train_plain(plain_model, train_data.float(), train_data.y, epochs=cfg.epochs, batch_size=cfg.batch_size,
                    lr=cfg.lr, eps=cfg.eps, alpha=cfg.alpha, steps=cfg.steps, momentum=cfg.momentum,
                    weight_decay=cfg.weight_decay, milestones=cfg.lr_milestones, gamma=cfg.lr_gamma,
                    seed=cfg.seed, augment=cfg.augment, attack_mode=cfg.attack_mode,
                    on_epoch=lambda epoch, model: plain_weights.append(_snapshot(model)))
    return engine_model, plain_model, engine_weights, plain_weights


def _assert_same_weights(engine_weights, plain_weights):
    assert len(engine_weights) == len(plain_weights)
    for epoch, (a, b) in enumerate(zip(engine_weights, plain_weights, strict=True), 1):
        assert a.keys() == b.keys()
        for key in a:
            diff = (a[key].double() - b[key].double()).abs().max().item() if a[key].numel() else 0.0
            assert torch.equal(a[key], b[key]), f"epoch {epoch}: {key} differs by up to {diff:.3g}"


def test_engine_equals_plain_loop_with_crop_flip_and_train_mode_bn(tmp_path):
    # 2 short epochs, crop+flip, BN in train mode during the attack (Madry / Rice style), an lr step
    cfg = build_config("digits-at", overrides={
        "image_size": 8, "model_kwargs": {"width": 4, "hidden": 16}, "val_size": 97, "val_steps": 0,
        "epochs": 2, "batch_size": 200, "steps": 2, "eps": 0.1, "alpha": 0.05, "lr_milestones": [2],
        "augment": True, "attack_mode": "train", "progress": False, "out_dir": str(tmp_path / "run")})
    _, _, engine_weights, plain_weights = _train_both(cfg)
    _assert_same_weights(engine_weights, plain_weights)
    assert not torch.equal(engine_weights[0]["model.classifier.weight"], engine_weights[1]["model.classifier.weight"])


@pytest.mark.slow
def test_engine_learns_exactly_as_the_plain_loop(tmp_path):
    # the digits-at recipe as it is: 10 epochs x 18 steps, PGD-7, eval-mode BN attack, lr x0.1 from epoch 8
    cfg = build_config("digits-at", overrides={"val_steps": 0, "progress": False, "out_dir": str(tmp_path / "run")})
    engine_model, plain_model, engine_weights, plain_weights = _train_both(cfg)
    test = load_dataset(cfg.dataset, split="test", image_size=cfg.image_size, channels=cfg.channels)
    kwargs = {"eps": cfg.eps, "alpha": cfg.alpha, "steps": 20, "seed": 0}
    engine_clean, engine_robust = ref.evaluate(engine_model, test.float(), test.y, **kwargs)
    plain_clean, plain_robust = ref.evaluate(plain_model, test.float(), test.y, **kwargs)
    assert abs(engine_clean - plain_clean) <= CLEAN_TOLERANCE
    assert abs(engine_robust - plain_robust) <= ROBUST_TOLERANCE
    assert engine_clean > 0.9 and engine_robust > 0.4  # it learned: chance is 0.1
    _assert_same_weights(engine_weights, plain_weights)
