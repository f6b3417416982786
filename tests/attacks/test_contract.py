"""The attack contract, for EVERY attack registered in ``mireg.registry.ATTACKS`` (a new one is covered
without writing a test): on a small CPU model in train, eval or mixed mode, the output has the
input's shape and float32 dtype, lies in [0, 1] and inside the attack's ball (bounded attacks), is
detached; the model's modes, weights, parameter ``requires_grad`` and ``.grad`` come back unchanged.
mireg's own attacks keep it by themselves and also validate their inputs with clear errors;
torchattacks' attacks are not patched by mireg (plain torchattacks 3.5.1 flattens mixed train/eval
modes), so their contract is checked through mireg's hook, ``mireg.TrainingAttack``, which is how mireg
runs them.

An attack needs an entry below only when its defaults are too slow for a unit test (``CHEAP``), its
ball is not the L-inf ball of ``atk.eps`` (``THREAT``), or it needs more than a model (``NEEDS``).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchattacks.attack import Attack

import mireg  # noqa: F401  (registers every attack, applies the torchattacks repair)
from mireg.attacks import create_attack
from mireg.models import create_model
from mireg.registry import ATTACKS

NAMES = ATTACKS.names()

#: budgets small enough for a unit test (the defaults are the papers')
CHEAP = {
    "apgd-ce": {"steps": 3}, "apgd-dlr": {"steps": 3}, "apgd-t": {"steps": 2}, "cw-l2": {"steps": 5},
    "ddn": {"steps": 5}, "ddn-bounded": {"steps": 5}, "fab": {"steps": 2}, "fwa": {"steps": 2},
    "rays": {"query_limit": 30}, "spsa": {"nb_sample": 8, "max_batch_size": 8}, "square": {"n_queries": 20},
    "autoattack": {"version": "custom", "attacks": ["apgd-ce"], "n_iter": 2},
    "infopgd": {"steps": 3}, "mart-pgd": {"steps": 3}, "pgd": {"steps": 3}, "pgd-l2": {"steps": 3},
    "tpgd": {"steps": 3}, "ti-dim": {"steps": 3}, "tifgsm": {"steps": 3}, "cw-inf": {"steps": 3},
    "wasserstein-pgd": {"steps": 3}, "bpda-pgd": {"steps": 3},
}
#: the norm of the ball the output must lie in (default "Linf" with radius ``atk.eps``); None: minimum-
#: norm attacks, whose output is not bounded; "Wasserstein": the transport cost the attack reports is
#: within its budget (its L-inf size is not bounded)
THREAT = {"pgd-l2": "L2", "ddn-bounded": "L2", "cw-l2": None, "ddn": None, "wasserstein-pgd": "Wasserstein"}
#: torchattacks 3.5.1 attacks that break a clause by themselves: APGD (CE, DLR) and APGD-T return images with an
#: autograd graph, CW-L2 and FAB leave ``.grad`` on the parameters. mireg calls them through
#: ``mireg.TrainingAttack`` (training) or detaches their output (``mireg.evaluate``): the contract is
#: checked on ``TrainingAttack(attack)`` for these.
REPAIRED_BY_THE_HOOK = {"apgd-ce": "returns a graph", "apgd-dlr": "returns a graph", "apgd-t": "returns a graph",
                        "cw-l2": "leaves .grad", "fab": "leaves .grad"}


def _model(channels: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("small_cnn", num_classes=10, in_channels=channels, width=4, hidden=16)


def _make(name: str, model: torch.nn.Module):
    kwargs = dict(CHEAP.get(name, {}))
    if name == "transfer":
        kwargs.update(surrogate=_model().eval(), attack="pgd", attack_kwargs={"steps": 2})
    return create_attack(name, model, **kwargs)


def _is_mireg(name: str) -> bool:
    attack = _make(name, _model())
    return type(attack).__module__.startswith("mireg.")


OWN = [name for name in NAMES if _is_mireg(name)]


def _check_output(name: str, attack, x: torch.Tensor, adv: torch.Tensor) -> None:
    assert isinstance(adv, torch.Tensor) and adv.shape == x.shape and adv.dtype == torch.float32, name
    assert not adv.requires_grad and adv.grad_fn is None, name
    assert adv.device == x.device, name
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1, name
    norm = THREAT.get(name, "Linf")
    if norm == "Wasserstein":
        assert bool((attack.last_cost <= attack.last_budget * (1 + 1e-5) + 1e-7).all()), name
    elif norm is not None:
        delta = (adv - x).flatten(1).double()
        size = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
        assert bool((size <= attack.eps * (1 + 1e-4) + 1e-6).all()), (name, float(size.max()), attack.eps)


def _state(model: torch.nn.Module) -> tuple:
    return ([m.training for m in model.modules()], {k: v.clone() for k, v in model.state_dict().items()},
            [(p.requires_grad, p.grad) for p in model.parameters()])


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=4, deadline=None)
@given(batch=st.integers(1, 3), size=st.integers(6, 9), seed=st.integers(0, 10_000), extreme=st.booleans(),
       mode=st.sampled_from(["train", "eval", "mixed"]))
def test_every_attack_keeps_the_contract(name, batch, size, seed, extreme, mode):
    torch.manual_seed(seed)
    model = _model()
    model.train(mode != "eval")
    if mode == "mixed":
        model.model.features[1].eval()  # a frozen BatchNorm inside a training model
    first = next(model.parameters())
    first.grad = torch.ones_like(first)
    first.requires_grad_(False)  # a frozen layer must stay frozen
    x = torch.rand(batch, 3, size, size)
    if extreme:
        x = (x > 0.5).float()  # pixels exactly at 0 and 1
    y = torch.randint(0, 10, (batch,))
    attack = _make(name, model)
    before = _state(model)
    adv = (attack if name in OWN and name not in REPAIRED_BY_THE_HOOK else mireg.TrainingAttack(attack))(x, y)
    _check_output(name, attack, x, adv)
    after = _state(model)
    assert after[0] == before[0], f"{name} changed the modules' train/eval flags"
    assert all(torch.equal(after[1][k], v) for k, v in before[1].items()), f"{name} changed the weights"
    assert [(r, g is h) for (r, g), (_, h) in zip(after[2], before[2], strict=True)] == \
        [(r, True) for r, _ in before[2]], f"{name} changed requires_grad or .grad of the parameters"


@pytest.mark.parametrize("name", [n for n in NAMES if isinstance(_make(n, _model()), Attack)])
def test_modes_are_restored_when_the_attack_is_set_to_train_mode(name):
    """torchattacks 3.5.1 leaves an eval-mode model in train mode after ``set_model_training_mode
    (model_training=True)``. mireg's own attacks give every module its own flag back; torchattacks' are
    not patched (``import mireg`` changes nothing outside mireg), so mireg's hook restores them."""
    model = _model()
    for training in (True, False):
        model.train(training)
        model.model.features[1].eval()
        before = [m.training for m in model.modules()]
        attack = _make(name, model)
        attack.set_model_training_mode(model_training=True)
        call = attack if name in OWN else mireg.TrainingAttack(attack, mode="train")
        call(torch.rand(2, 3, 8, 8), torch.tensor([1, 2]))
        assert [m.training for m in model.modules()] == before, name


@pytest.mark.parametrize("name", OWN)
def test_mireg_attacks_reject_bad_inputs_with_clear_errors(name):
    attack = _make(name, _model())
    x, y = torch.rand(2, 3, 8, 8), torch.tensor([0, 1])
    cases = [
        ((x * 3, y), ValueError, r"images must be in \[0, 1\]"),
        ((x - 0.5, y), ValueError, r"images must be in \[0, 1\]"),
        ((torch.full_like(x, float("nan")), y), ValueError, r"NaN|\[0, 1\]"),
        ((x, y.float()), TypeError, "labels must hold integer"),
        ((x, y.view(2, 1)), ValueError, "labels must have shape"),
        ((x, torch.tensor([0, 1, 2])), ValueError, "labels must have shape"),
        ((x.numpy(), y), TypeError, "images must be a torch.Tensor"),
        ((x[:0], y[:0]), ValueError, "images is an empty batch"),
        ((torch.randint(0, 2, (2, 3, 8, 8)), y), TypeError, "floating"),
    ]
    for args, error, match in cases:
        with pytest.raises(error, match=match):
            attack(*args)


@pytest.mark.parametrize("name", OWN)
def test_mireg_attacks_reject_labels_outside_the_model_classes(name):
    attack = _make(name, _model())
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\]"):
        attack(torch.rand(2, 3, 8, 8), torch.tensor([0, 10]))
    if "targeted" not in attack.supported_mode:
        return
    attack.set_mode_targeted_by_label(quiet=True)
    with pytest.raises(ValueError, match="labels must lie in"):
        attack(torch.rand(2, 3, 8, 8), torch.tensor([-1, 0]))


@pytest.mark.cuda
@pytest.mark.parametrize("name", NAMES)
def test_every_attack_runs_on_cuda(name):
    model = _model().cuda().eval()
    attack = _make(name, model)
    if name == "transfer":
        attack.surrogate.cuda()
    x, y = torch.rand(4, 3, 8, 8).cuda(), torch.randint(0, 10, (4,), device="cuda")
    adv = (attack if name in OWN and name not in REPAIRED_BY_THE_HOOK else mireg.TrainingAttack(attack))(x, y)
    assert adv.is_cuda
    _check_output(name, attack, x, adv)


def test_the_contract_covers_every_registered_attack():
    assert set(NAMES) >= {"autoattack", "transfer", "infopgd", "cw-inf", "ddn", "ddn-bounded", "fwa", "rays",
                          "pgd", "fgsm", "square"}
    assert set(CHEAP) <= set(NAMES) and set(THREAT) <= set(NAMES)
    assert not set(REPAIRED_BY_THE_HOOK) & set(OWN)  # mireg's own attacks keep the whole contract themselves


@pytest.mark.parametrize("name", OWN)
def test_mireg_attacks_take_labels_of_any_integer_dtype(name):
    x, y = torch.rand(2, 3, 8, 8), torch.tensor([1, 2])
    adv = _make(name, _model())(x, y.to(torch.int32))
    assert adv.shape == x.shape
