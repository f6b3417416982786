"""InfoPGD (InfoAT Eq. 18): exact PGD reduction, eps-ball and [0, 1] properties, torchattacks contract."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from hypothesis import given, settings
from hypothesis import strategies as st

import mireg
import mireg.functional as MF


@pytest.fixture
def batch(digits_split):
    return digits_split["x_test"][:64], digits_split["y_test"][:64]


def test_lam_zero_without_random_start_equals_torchattacks_pgd(digits_model, batch):
    x, y = batch
    ours = mireg.InfoPGD(digits_model, eps=8 / 255, alpha=2 / 255, steps=10, lam=0.0, random_start=False)
    theirs = torchattacks.PGD(digits_model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)
    assert torch.equal(ours(x, y), theirs(x, y))


def test_lam_zero_targeted_equals_torchattacks_pgd_targeted(digits_model, batch):
    x, y = batch
    target = (y + 1) % 10
    ours = mireg.InfoPGD(digits_model, lam=0.0, random_start=False)
    theirs = torchattacks.PGD(digits_model, random_start=False)
    ours.set_mode_targeted_by_label(quiet=True)
    theirs.set_mode_targeted_by_label(quiet=True)
    assert torch.equal(ours(x, target), theirs(x, target))


def test_lam_zero_with_uniform_start_equals_pgd_under_the_same_seed(digits_model, batch):
    x, y = batch
    torch.manual_seed(5)
    ours = mireg.InfoPGD(digits_model, lam=0.0)(x, y)
    torch.manual_seed(5)
    theirs = torchattacks.PGD(digits_model)(x, y)
    assert torch.equal(ours, theirs)


@settings(max_examples=15, deadline=None)
@given(eps=st.floats(1e-4, 0.5), alpha=st.floats(1e-4, 0.3), steps=st.integers(1, 4), lam=st.floats(0.0, 10.0),
       start=st.sampled_from([True, False, "normal"]))
def test_never_leaves_the_eps_ball_or_the_unit_box(digits_model, digits_split, eps, alpha, steps, lam, start):
    x, y = digits_split["x_test"][:16], digits_split["y_test"][:16]
    adv = mireg.InfoPGD(digits_model, eps=eps, alpha=alpha, steps=steps, lam=lam, random_start=start)(x, y)
    assert adv.shape == x.shape and not adv.requires_grad
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1


def test_lowers_accuracy_and_raises_the_eq18_objective(digits_model, batch):
    x, y = batch
    clean_acc = (digits_model(x).argmax(1) == y).float().mean()
    adv = mireg.InfoPGD(digits_model, eps=0.3, alpha=0.05, steps=10, lam=2.5)(x, y)
    with torch.no_grad():
        robust_acc = (digits_model(adv).argmax(1) == y).float().mean()
        nat = digits_model(x)
        before = MF.infopgd_objective(nat, y, nat, 2.5)
        after = MF.infopgd_objective(digits_model(adv), y, nat, 2.5)
    assert robust_acc < clean_acc - 0.3
    assert after > before


def test_lambda_changes_the_attack(digits_model, batch):
    x, y = batch
    plain = mireg.InfoPGD(digits_model, eps=0.2, alpha=0.02, steps=5, lam=0.0, random_start=False)(x, y)
    info = mireg.InfoPGD(digits_model, eps=0.2, alpha=0.02, steps=5, lam=50.0, random_start=False)(x, y)
    assert not torch.equal(plain, info)




def test_works_inside_torchattacks_multiattack_and_save(digits_model, batch, tmp_path):
    x, y = batch
    multi = torchattacks.MultiAttack([
        mireg.InfoPGD(digits_model, eps=0.1, steps=3),
        torchattacks.PGD(digits_model, eps=0.1, steps=3),
    ])
    adv = multi(x, y)
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    rob_acc, _, _ = mireg.InfoPGD(digits_model, eps=0.1, steps=3).save(
        loader, save_path=str(tmp_path / "adv.pt"), verbose=False, return_verbose=True)
    assert 0 <= rob_acc <= 100 and (tmp_path / "adv.pt").exists()


def test_is_registered_by_name(digits_model):
    attack = mireg.registry.ATTACKS.create("infopgd", model=digits_model, steps=3)
    assert isinstance(attack, mireg.InfoPGD) and attack.steps == 3


@pytest.mark.parametrize("kwargs,error,match", [
    ({"eps": -0.1}, ValueError, "eps must be > 0"),
    ({"alpha": -1.0}, ValueError, "alpha"),
    ({"steps": 2.5}, TypeError, "steps must be an int"),
    ({"lam": -1.0}, ValueError, "lam"),
    ({"random_start": "gaussian"}, ValueError, "random_start"),
])
def test_bad_hyperparameters(digits_model, kwargs, error, match):
    with pytest.raises(error, match=match):
        mireg.InfoPGD(digits_model, **kwargs)
