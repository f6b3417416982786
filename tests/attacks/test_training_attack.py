"""The training hook around any attack: modes restored exactly, no parameter gradients, checked inputs."""

from __future__ import annotations

import copy

import pytest
import torch
import torchattacks
from torch import nn

import mireg


class ModeRecorder(nn.Module):
    """A model that records whether it was in train mode at each forward."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
        self.seen: list[bool] = []

    def forward(self, x):
        self.seen.append(self.training)
        return self.net(x)


@pytest.fixture
def batch():
    return torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))


@pytest.mark.parametrize("initially_training", [True, False])
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("kind", ["torchattacks", "callable"])
def test_mode_during_and_after_in_all_combinations(batch, initially_training, mode, kind):
    model = ModeRecorder().train(initially_training)
    if kind == "torchattacks":
        attack = torchattacks.PGD(model, steps=2)
        hook = mireg.TrainingAttack(attack, mode=mode)
    else:
        hook = mireg.TrainingAttack(lambda x, y: (x + 0.01 * model(x).mean()).clamp(0, 1), model=model, mode=mode)
    hook(*batch)
    assert model.seen and all(seen == (mode == "train") for seen in model.seen)
    assert all(m.training is initially_training for m in model.modules())


def test_restores_each_submodules_own_flag(batch):
    model = ModeRecorder().train()
    model.net[2].eval()  # a frozen BatchNorm inside a training model
    mireg.TrainingAttack(torchattacks.PGD(model, steps=1), mode="train")(*batch)
    assert model.training and model.net[1].training and not model.net[2].training


def test_restores_modes_even_when_the_attack_raises(batch):
    model = ModeRecorder().train()

    def broken(x, y):
        model(x)
        raise RuntimeError("attack failed")

    with pytest.raises(RuntimeError, match="attack failed"):
        mireg.TrainingAttack(broken, model=model)(*batch)
    assert all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())


def test_leaves_no_gradient_on_parameters_and_keeps_existing_ones(batch):
    model = ModeRecorder()
    first = next(model.parameters())
    first.grad = torch.ones_like(first)
    existing = first.grad

    def backward_happy(x, y):  # an attack that (wrongly) calls backward() on the full loss
        x = x.clone().requires_grad_(True)
        nn.functional.cross_entropy(model(x), y).backward()
        return (x + 0.01 * x.grad.sign()).clamp(0, 1).detach()

    mireg.TrainingAttack(backward_happy, model=model)(*batch)
    assert first.grad is existing and torch.equal(first.grad, torch.ones_like(first))
    assert all(p.grad is None for p in model.parameters() if p is not first)
    assert all(p.requires_grad for p in model.parameters())


def test_returns_detached_adversarial_images(batch):
    model = ModeRecorder()
    adv = mireg.TrainingAttack(mireg.InfoPGD(model, steps=2))(*batch)
    assert not adv.requires_grad and adv.grad_fn is None and adv.shape == batch[0].shape


def _training_flags(attack):
    return attack._model_training, attack._batchnorm_training, attack._dropout_training


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_leaves_the_callers_attack_settings_as_it_found_them(batch, mode):
    model = ModeRecorder().eval()
    model.net[2] = nn.Identity()  # no BatchNorm: MultiAttack may hand FGSM a single image
    pgd, fgsm = torchattacks.PGD(model, steps=1), torchattacks.FGSM(model)
    fgsm.set_model_training_mode(model_training=True, batchnorm_training=False, dropout_training=True)
    multi = torchattacks.MultiAttack([pgd, fgsm])
    before = [_training_flags(a) for a in (multi, pgd, fgsm)]
    hook = mireg.TrainingAttack(multi, mode=mode)
    assert [_training_flags(a) for a in (multi, pgd, fgsm)] == before  # construction changes nothing
    hook(*batch)
    assert model.seen and all(seen == (mode == "train") for seen in model.seen)  # the hook's mode inside
    assert [_training_flags(a) for a in (multi, pgd, fgsm)] == before  # and the caller's settings after
    assert not model.training


def test_plain_torchattacks_keeps_its_own_behaviour_and_the_hook_repairs_it(batch):
    """torchattacks 3.5.1 leaves this eval model in train mode (mireg does not patch it); the hook does not."""
    model = ModeRecorder().eval()
    attack = torchattacks.PGD(model, steps=1)
    attack.set_model_training_mode(model_training=True)
    attack(*batch)
    assert model.training  # torchattacks' own behaviour, documented in docs/ecosystem.md
    model.eval()
    mireg.TrainingAttack(attack, mode="train")(*batch)
    assert not model.training


@pytest.mark.parametrize("images,labels,error,match", [
    (torch.rand(8, 1, 8, 8) + 1.0, torch.zeros(8, dtype=torch.long), ValueError, r"\[0, 1\]"),
    (torch.rand(8, 1, 8, 8), torch.zeros(7, dtype=torch.long), ValueError, "batch"),
    (torch.rand(8, 1, 8, 8), torch.zeros(8), TypeError, "integer"),
    ("images", torch.zeros(8, dtype=torch.long), TypeError, "torch.Tensor"),
])
def test_bad_inputs(images, labels, error, match):
    with pytest.raises(error, match=match):
        mireg.TrainingAttack(torchattacks.PGD(ModeRecorder(), steps=1))(images, labels)


def test_bad_construction_and_bad_attack_output(batch):
    model = ModeRecorder()
    with pytest.raises(TypeError, match="callable"):
        mireg.TrainingAttack("pgd")
    with pytest.raises(TypeError, match="model"):
        mireg.TrainingAttack(lambda x, y: x)
    with pytest.raises(ValueError, match="mode"):
        mireg.TrainingAttack(lambda x, y: x, model=model, mode="inference")
    with pytest.raises(ValueError, match="attack.model"):
        mireg.TrainingAttack(torchattacks.PGD(model), model=copy.deepcopy(model))
    with pytest.raises(ValueError, match="shape"):
        mireg.TrainingAttack(lambda x, y: x[:2], model=model)(*batch)


def test_estimator_attack_runs_restore_the_model_mode(batch):
    """mireg's MI analysis / estimator training run any attack; a plain torchattacks one configured to attack
    in train mode must not leave the model in train mode for the scoring that follows."""
    from mireg.estimators.scoring import run_attack

    model = ModeRecorder().eval()
    attack = torchattacks.PGD(model, steps=1)
    attack.set_model_training_mode(model_training=True)
    x_adv = run_attack(attack, *batch, batch_size=4, device=torch.device("cpu"), desc="", progress=False)
    assert x_adv.shape == batch[0].shape and not any(m.training for m in model.modules())
