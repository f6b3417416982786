"""Inputs checked where they enter (issue 10, problems 4, 8, 9, 10 and 11): one test per problem.

Each test here failed on the code before the fix (main at 90b7aa2) and passes after: eps in pixel units
and eps = 0 refused with a hint; labels of any integer dtype accepted and out-of-range labels refused
everywhere; models returning ``(logits, features)`` refused with one message naming
``mireg.models.LogitsOnly`` (which makes them usable); the global RNG untouched by attacks run through
``mireg.TrainingAttack``; the smaller CLI corner cases. The catalogues of bad inputs are
``tests/test_bad_inputs_api.py`` and ``tests/cli/test_bad_inputs.py``.
"""

from __future__ import annotations

import os
import re
import stat

import pytest
import torch
import torchattacks
from torch import nn

import mireg
from mireg.cli import main
from mireg.config import TrainConfig
from mireg.models import create_model
from mireg.train.demo import run_demo


def _model(classes: int = 10) -> nn.Module:
    torch.manual_seed(0)
    return create_model("small_cnn", num_classes=classes, in_channels=1, width=4, hidden=16).eval()


class TupleNet(nn.Module):
    """A model whose forward returns ``(logits, features)``, as many research models do."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU())
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor):
        features = self.body(x)
        return self.head(features), features


X = torch.rand(4, 1, 8, 8)
Y = torch.tensor([0, 1, 2, 3])


@pytest.fixture(scope="module")
def run_checkpoint(tmp_path_factory):
    """A 'mireg train'-style checkpoint (random weights: nothing here trains) of the 8x8 digits small CNN."""
    folder = tmp_path_factory.mktemp("run")
    config = TrainConfig(image_size=8, channels=1, model_kwargs={"width": 4, "hidden": 16}).to_dict()
    model = create_model("small_cnn", num_classes=10, in_channels=1, width=4, hidden=16)
    torch.save({"format": "mireg-train-v1", "model": model.state_dict(), "config": config}, folder / "best.pt")
    return folder


def _cli(argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# --- 4: eps outside its norm's range ---------------------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda: TrainConfig(eps=8),
    lambda: mireg.InfoPGD(_model(), eps=8),
    lambda: mireg.CWInf(_model(), eps=8),
    lambda: mireg.attacks.AutoAttack(_model(), eps=8),
    lambda: mireg.estimators.default_attack(_model(), eps=8),
    lambda: mireg.evaluate(_model(), (X, Y), suite="quick", eps=8, progress=False),
], ids=["TrainConfig", "InfoPGD", "CWInf", "AutoAttack", "default_attack", "evaluate"])
def test_eps_in_pixel_units_is_refused_with_the_hint(build):
    with pytest.raises(ValueError, match=r"eps=8 is larger than 1: images are in \[0, 1\], did you mean 8/255\?"):
        build()


def test_eps_zero_is_refused_and_l2_radii_may_exceed_one():
    for build in (lambda: TrainConfig(eps=0.0), lambda: mireg.InfoPGD(_model(), eps=0),
                  lambda: run_demo(eps=0.0)):
        with pytest.raises(ValueError, match="eps must be > 0"):
            build()
    assert mireg.DDNBounded(_model(), eps=3.0).eps == 3.0  # L2: ImageNet's radius is 3
    assert mireg.attacks.AutoAttack(_model(), norm="L2", eps=3.0).eps == 3.0
    with pytest.raises(ValueError, match="larger than 8, the L2 distance between the black and the white image"):
        mireg.evaluate(_model(), (X, Y), suite="namid-l2", eps=9.0, progress=False)  # sqrt(1*8*8) = 8


@pytest.mark.parametrize("argv, message", [
    (["train", "--eps", "8", "--print-config"], r"eps=8 is larger than 1.*did you mean 8/255\?"),
    (["eval", "{ckpt}", "--eps", "8"], r"--eps=8 is larger than 1.*did you mean 8/255\?"),
    (["estimators", "--checkpoint", "{ckpt}", "--eps", "8"], r"--eps=8 is larger than 1.*did you mean 8/255\?"),
    (["demo", "--eps", "0"], r"argument --eps: eps must be > 0"),
    (["demo", "--eps", "8"], r"argument --eps: eps=8 is larger than 1"),
])
def test_cli_refuses_eps_out_of_range(argv, message, run_checkpoint, capsys, tmp_path):
    argv = [a.replace("{ckpt}", str(run_checkpoint / "best.pt")) for a in argv] + (
        ["--out", str(tmp_path / "out")] if argv[0] in ("demo", "estimators", "eval") else [])
    code, err = _cli(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"mireg {argv[0]}: error:")
    assert re.search(message, err), err


# --- 8: labels ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8, torch.int8])
def test_labels_of_any_integer_dtype_are_accepted(dtype):
    logits_nat, logits_adv = torch.randn(4, 10), torch.randn(4, 10)
    y = Y.to(dtype)
    for term in (mireg.ATLoss(), mireg.TRADESLoss(), mireg.MARTLoss(), mireg.InfoAT() + mireg.ATLoss(),
                 mireg.MARTPlus()):
        assert torch.allclose(term(logits_nat, logits_adv, y), term(logits_nat, logits_adv, Y))
    model = _model()
    torch.manual_seed(1)
    ours = mireg.InfoPGD(model, eps=0.1, steps=2)(X, y)
    torch.manual_seed(1)
    assert torch.equal(ours, mireg.InfoPGD(model, eps=0.1, steps=2)(X, Y))
    assert mireg.TrainingAttack(torchattacks.PGD(model, eps=0.1, steps=2))(X, y).shape == X.shape


@pytest.mark.parametrize("bad", [10, -1, -100])
def test_labels_outside_the_model_classes_are_refused_everywhere(bad):
    y = torch.tensor([0, 1, 2, bad])
    message = (r"labels must lie in \[0, 9\] \(the model has 10 classes\), "
               rf"got values in \[{min(bad, 0)}, {max(bad, 2)}\]")
    model = _model()
    with pytest.raises(ValueError, match=message.replace("labels", "data labels")):
        mireg.evaluate(model, (X, y), suite="quick", max_steps=1, progress=False, sanity=False)
    for attack in (mireg.InfoPGD(model, steps=1), mireg.TrainingAttack(torchattacks.PGD(model, steps=1)),
                   mireg.TrainingAttack(torchattacks.APGD(model, steps=1))):
        with pytest.raises(ValueError, match=message):
            attack(X, y)
    with pytest.raises(ValueError, match=message.replace("labels", "y")):
        mireg.estimators.train_estimators(model, X, y, epochs=1, batch_size=4, width=4, progress=False)


# --- 9: models returning (logits, features) -------------------------------------------------------------

def test_tuple_models_get_one_message_everywhere_and_logits_only_makes_them_usable(tmp_path):
    net = TupleNet()
    message = r"model returned a tuple of 2 items.*mireg\.models\.LogitsOnly\(model\)"
    calls = [
        lambda: mireg.evaluate(net, (X, Y), suite="quick", max_steps=1, progress=False, sanity=False),
        lambda: mireg.InfoPGD(net, steps=1)(X, Y),
        lambda: mireg.TrainingAttack(torchattacks.PGD(net, steps=1))(X, Y),
        lambda: mireg.estimators.train_estimators(net, X, Y, epochs=1, batch_size=4, width=4, progress=False),
        lambda: mireg.train.train(TrainConfig(image_size=8, channels=1, epochs=1, val_size=10, val_steps=0,
                                              steps=1, progress=False, out_dir=str(tmp_path / "run")), model=net),
    ]
    for call in calls:
        with pytest.raises(TypeError, match=message):
            call()
    model = mireg.models.LogitsOnly(net)
    assert torch.equal(model(X), net(X)[0])
    assert mireg.InfoPGD(model, eps=0.1, steps=1)(X, Y).shape == X.shape
    report = mireg.evaluate(model, (X, Y), suite="quick", max_steps=1, progress=False, sanity=False)
    assert report.n == 4


# --- 10: the global RNG and the attacks run through mireg's hook ----------------------------------------

@pytest.mark.parametrize("name", ["apgd-ce", "apgd-dlr", "apgd-t", "fab", "square", "pgd", "infopgd"])
def test_training_attack_leaves_the_global_rng_as_one_draw_would(name):
    model = _model()
    kwargs = {"square": {"n_queries": 5}, "fab": {"steps": 1}}.get(name, {"steps": 1})
    hook = mireg.TrainingAttack(mireg.attacks.create_attack(name, model, eps=0.1, **kwargs))
    torch.manual_seed(123)
    torch.randint(0, 2**62, (), dtype=torch.int64)  # the hook's one draw
    expected = torch.get_rng_state()
    torch.manual_seed(123)
    hook(X, Y)
    assert torch.equal(torch.get_rng_state(), expected), f"{name} moved the caller's RNG"


def test_training_attack_randomness_is_fresh_per_call_and_reproducible():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()  # APGD succeeds on it (so its start shows)
    hook = mireg.TrainingAttack(torchattacks.APGD(model, eps=0.3, steps=2))  # APGD re-seeds itself every call
    with torch.no_grad():
        y = model(X).argmax(1)  # APGD attacks only the points the model classifies correctly
    torch.manual_seed(0)
    first, second = hook(X, y), hook(X, y)
    torch.manual_seed(0)
    assert torch.equal(hook(X, y), first) and torch.equal(hook(X, y), second)  # reproducible from the seed
    assert not torch.equal(first, second)  # a fresh random start on every call
    assert hook.attack.seed == 0  # the attack's own setting is restored


def test_evaluation_leaves_the_global_rng_untouched():
    model = _model()
    torch.manual_seed(7)
    state = torch.get_rng_state()
    mireg.evaluate(model, (X, Y), suite="quick", max_steps=1, progress=False, sanity=False)
    assert torch.equal(torch.get_rng_state(), state)


# --- 11: smaller ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, flag", [(["--n-train", "-5"], "--n-train"), (["--eps", "-1"], "--eps"),
                                         (["--n-train", "0"], "--n-train")])
def test_estimators_refuses_bad_counts_and_radii_before_any_work(extra, flag, run_checkpoint, capsys, tmp_path):
    code, err = _cli(["estimators", "--checkpoint", run_checkpoint / "best.pt", "--epochs", "1", "--width", "4",
                      "--n-val", "0", "--steps", "1", "--batch-size", "64", "--no-progress", "--out",
                      tmp_path / "e.pt", *extra], capsys)
    assert code == 2 and err.startswith(f"mireg estimators: error: argument {flag}:"), err
    assert not (tmp_path / "e.pt").exists()


@pytest.mark.parametrize("command", [["eval"], ["estimators", "--checkpoint"]])
def test_a_run_folder_given_as_checkpoint_names_the_files_it_holds(command, run_checkpoint, capsys):
    code, err = _cli([*command, run_checkpoint], capsys)
    assert code == 2 and "is a folder, not a checkpoint file" in err and "best.pt" in err, err


class Pickled:
    """Any Python object: weights-only loading refuses it."""


def test_weights_only_load_failures_are_one_line_without_torch_advice(tmp_path, capsys):
    torch.save({"model": {}, "extra": Pickled()}, tmp_path / "pickled.pt")
    (tmp_path / "garbage.pt").write_bytes(os.urandom(256))
    for name, reason in (("pickled.pt", r"it holds a Python object \(.*Pickled\) that weights-only loading refuses"),
                         ("garbage.pt", "not a file written by torch.save")):
        code, err = _cli(["eval", tmp_path / name], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert re.search(reason, err), err
        assert "Re-running `torch.load`" not in err and "trust" not in err and "\x1b[" not in err


def test_estimator_files_are_written_with_the_umask_default_mode(tmp_path):
    est = mireg.estimators.LocalDIMEstimator(10, 1, 4)
    mireg.estimators.save_estimators(tmp_path / "e.pt", est, est)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "e.pt").stat().st_mode) == 0o666 & ~umask


class _TinyEnsemble(nn.Module):
    """Stands in for a RobustBench ensemble architecture: ``.models`` members, logits averaged."""

    def __init__(self) -> None:
        super().__init__()
        self.models = nn.ModuleList(nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10)) for _ in range(3))

    def forward(self, x):
        return torch.stack([m(x) for m in self.models]).mean(0)


def test_robustbench_ensembles_load_offline_from_their_member_files(tmp_path, monkeypatch):
    pytest.importorskip("robustbench")
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    from mireg.models import load_robustbench_model, robustbench_checkpoint_path

    name = "Chen2020Adversarial"  # a Model-Zoo ensemble of 3 members (gdrive_id is a list of 3)
    entry = model_dicts[BenchmarkDataset("cifar10")][ThreatModel("Linf")][name]
    assert isinstance(entry["gdrive_id"], list) and len(entry["gdrive_id"]) == 3
    monkeypatch.setitem(entry, "model", _TinyEnsemble)  # small generated files, the real file layout
    path = robustbench_checkpoint_path(name, tmp_path)
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    original = _TinyEnsemble()
    for i, member in enumerate(original.models[:2]):
        torch.save({"state_dict": {f"module.{k}": v for k, v in member.state_dict().items()}},
                   f"{path}_m{i}.pt")
    with pytest.raises(FileNotFoundError, match=r"Chen2020Adversarial\.pt_m2\.pt"):
        load_robustbench_model(name, model_dir=tmp_path)
    torch.save(original.models[2].state_dict(), f"{path}_m2.pt")
    model = load_robustbench_model(name, model_dir=tmp_path)
    x = torch.rand(2, 3, 4, 4)
    with torch.no_grad():
        assert torch.equal(model(x), original(x)) and not model.training
