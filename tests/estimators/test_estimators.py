"""mireg.estimators: the local-DIM estimator, the feature tap, MINE, estimator training, save/load."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from mireg.estimators import (
    MINE,
    FeatureTap,
    LocalDIMEstimator,
    estimate_layer_mi,
    fit_mine,
    load_estimators,
    save_estimators,
    train_estimators,
)
from mireg.functional import dv_local_scores

WIDTH = 32



# ----------------------------------------------------------------------------- LocalDIMEstimator
@pytest.mark.parametrize("channels, size, patches", [(1, 28, 49), (3, 32, 64), (3, 64, 256), (1, 8, 4)])
def test_local_dim_shapes(channels, size, patches):
    est = LocalDIMEstimator(global_dim=100, in_channels=channels, width=WIDTH)
    x = torch.rand(3, channels, size, size)
    local = est.local_features(x)
    assert local.shape == (3, WIDTH, patches)
    scores = est(x, torch.randn(3, 100))
    assert scores.shape == (3,) and torch.isfinite(scores).all()


def test_local_dim_forward_is_the_dv_score_of_its_features():
    est = LocalDIMEstimator(10, 3, WIDTH).eval()
    x, z = torch.rand(5, 3, 16, 16), torch.randn(5, 10)
    torch.testing.assert_close(est(x, z), dv_local_scores(est.local_features(x), est.global_features(z)))
    quirk = LocalDIMEstimator(10, 3, WIDTH, diagonal="zero").eval()
    quirk.load_state_dict(est.state_dict())
    torch.testing.assert_close(quirk(x, z), dv_local_scores(est.local_features(x), est.global_features(z),
                                                            diagonal="zero"))


def test_local_dim_global_feature_map_is_average_pooled():
    est = LocalDIMEstimator(16, 3, WIDTH).eval()
    fmap = torch.randn(4, 16, 5, 5)
    torch.testing.assert_close(est.global_features(fmap), est.global_features(fmap.mean(dim=(2, 3))))


def test_local_dim_batch_of_one_in_eval_mode():
    est = LocalDIMEstimator(10, 1, WIDTH).eval()
    scores = est(torch.rand(1, 1, 8, 8), torch.randn(1, 10))
    assert scores.tolist() == [0.0]


def test_local_dim_shortcut_starts_near_identity():
    est = LocalDIMEstimator(10, 3, WIDTH)
    w = est.global_net.shortcut.weight[:, :, 0, 0]
    assert torch.equal(w[:10, :10].diagonal(), torch.ones(10))
    off = w.clone()
    off[torch.arange(10), torch.arange(10)] = 0
    assert off.abs().max() <= 0.01


@pytest.mark.parametrize("call, error, match", [
    (lambda e: e(torch.rand(2, 1, 8, 8), torch.randn(2, 10)), ValueError, "3 channels"),
    (lambda e: e(torch.rand(2, 3, 8, 8), torch.randn(2, 7)), ValueError, "10 features"),
    (lambda e: e(torch.rand(2, 3, 8, 8), torch.randn(3, 10)), ValueError, "same batch size"),
    (lambda e: e(torch.rand(2, 3, 3, 3), torch.randn(2, 10)), ValueError, "at least 4x4"),
    (lambda e: e(torch.rand(2, 3, 8), torch.randn(2, 10)), ValueError, "4 dimensions"),
    (lambda e: e("x", torch.randn(2, 10)), TypeError, "torch.Tensor"),
])
def test_local_dim_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call(LocalDIMEstimator(10, 3, WIDTH).eval())


@pytest.mark.parametrize("kwargs, error, match", [
    ({"global_dim": 0}, ValueError, "global_dim"),
    ({"global_dim": 10, "in_channels": 2.0}, TypeError, "in_channels"),
    ({"global_dim": 10, "width": -1}, ValueError, "width"),
    ({"global_dim": 10, "diagonal": "none"}, ValueError, "diagonal"),
])
def test_local_dim_bad_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        LocalDIMEstimator(**kwargs)


def test_trained_estimator_scores_dependent_pairs_higher():
    """Synthetic data with known dependence: z = f(x) for a fixed random f; shuffled pairs have none."""
    g = torch.Generator().manual_seed(0)
    proj = torch.randn(64, 10, generator=g)

    def f(x):
        return torch.tanh(x.flatten(1) @ proj / 4)

    x_train, x_test = torch.rand(512, 1, 8, 8, generator=g), torch.rand(128, 1, 8, 8, generator=g)
    est = LocalDIMEstimator(10, 1, WIDTH)
    optimizer = torch.optim.Adam(est.parameters(), lr=1e-3)
    for _ in range(6):
        for idx in torch.randperm(512, generator=g).split(64):
            loss = -est(x_train[idx], f(x_train[idx])).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    est.eval()
    with torch.no_grad():
        dependent = est(x_test, f(x_test)).mean()
        shuffled = est(x_test, f(x_test).roll(1, 0)).mean()
    assert dependent > 0.5
    assert dependent > shuffled + 0.5


# ----------------------------------------------------------------------------- FeatureTap
class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.layer3 = nn.Conv2d(4, 6, 3, padding=1)
        self.head = nn.Linear(6, 10)

    def forward(self, x):
        return self.head(self.layer3(self.body(x)).mean(dim=(2, 3)))


def test_feature_tap_reads_the_layer_and_keeps_the_forward():
    net = _Net()
    x = torch.rand(2, 1, 8, 8)
    before = net(x)
    with FeatureTap(net, "layer3") as tap:
        logits, feats = tap(x)
        torch.testing.assert_close(logits, before)
        torch.testing.assert_close(feats, net.layer3(net.body(x)))
        assert feats.requires_grad  # part of the graph: gradients can reach the model
        net(x)
        assert tap.features is not None and tap.features.shape == (2, 6, 8, 8)
    assert len(net.layer3._forward_hooks) == 0  # removed on exit
    assert FeatureTap(net, "layer3", detach=True)(x)[1].requires_grad is False


def test_feature_tap_on_a_wrapped_robustbench_architecture():
    from robustbench.model_zoo.architectures.wide_resnet import WideResNet  # importable: mireg is imported

    from mireg.models import Normalized

    model = Normalized(WideResNet(depth=10, widen_factor=1, num_classes=10), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()
    with FeatureTap(model, "model.block2") as tap:
        logits, feats = tap(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 10) and feats.shape[:2] == (2, 32)
    est = LocalDIMEstimator(global_dim=32, in_channels=3, width=WIDTH).eval()
    assert est(torch.rand(2, 3, 32, 32), feats).shape == (2,)


def test_feature_tap_bad_layer_names_suggest():
    with pytest.raises(ValueError, match="Did you mean 'layer3'"):
        FeatureTap(_Net(), "layer_3")
    with pytest.raises(TypeError, match="model must be"):
        FeatureTap("net", "layer3")
    with pytest.raises(TypeError, match="layer must be"):
        FeatureTap(_Net(), 3)



@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_stage_layer_numbers_layers_as_infoat(k):
    """InfoAT's layer #k: ResNet stage ``layer<k>`` (inside Normalized), or the k-th declared stage."""
    from mireg.estimators import stage_layer
    from mireg.models import create_model

    assert stage_layer(create_model("resnet18"), k) == f"model.layer{k}"
    small = create_model("small_cnn", in_channels=1, width=8, hidden=16)
    assert stage_layer(small, k) == f"model.{small.model.stages[k - 1]}"
    assert stage_layer(small.model, k) == small.model.stages[k - 1]


def test_stage_layer_bad_numbers_are_clear():
    from mireg.estimators import stage_layer
    from mireg.models import create_model

    small = create_model("small_cnn", in_channels=1, width=8, hidden=16)
    with pytest.raises(ValueError, match="declares no `stages` with a #5"):
        stage_layer(small, 5)
    with pytest.raises(ValueError, match="pass layer=<submodule name>"):
        stage_layer(_Net(), 1)
    for bad in (0, True, "2"):
        with pytest.raises(ValueError, match="index must be a layer number"):
            stage_layer(small, bad)

# ----------------------------------------------------------------------------- MINE
def test_mine_recovers_gaussian_mi():
    """Correlated Gaussians, I = -d/2 log(1 - rho^2); MINE's DV bound should come close from below."""
    g = torch.Generator().manual_seed(0)
    rho, d = 0.9, 2
    x = torch.randn(2000, d, generator=g)
    z = rho * x + math.sqrt(1 - rho**2) * torch.randn(2000, d, generator=g)
    true_mi = -d / 2 * math.log(1 - rho**2)  # 1.66 nats
    result = fit_mine(x, z, epochs=10, batch_size=200, lr=3e-3, hidden=64, progress=False)
    assert 0.75 * true_mi < result.mi < 1.1 * true_mi
    independent = fit_mine(x, torch.randn(2000, d, generator=g), epochs=3, batch_size=200, lr=3e-3, hidden=64,
                           progress=False)
    assert abs(independent.mi) < 0.2


def test_mine_loss_tracks_the_moving_average():
    mine = MINE((3,), (2,), hidden=8, ma_rate=0.5)
    assert math.isnan(float(mine.log_ma))
    mine.loss(torch.randn(6, 3), torch.randn(6, 2)).backward()
    first = float(mine.log_ma)
    assert math.isfinite(first) and mine.last_bound is not None
    mine.loss(torch.randn(6, 3), torch.randn(6, 2))
    assert float(mine.log_ma) != first


def test_mine_bad_inputs():
    with pytest.raises(ValueError, match="x_shape"):
        MINE((), (2,))
    mine = MINE((3,), (2,))
    with pytest.raises(ValueError, match="per-sample shapes"):
        mine(torch.randn(4, 4), torch.randn(4, 2))
    with pytest.raises(ValueError, match="N >= 2"):
        mine(torch.randn(1, 3), torch.randn(1, 2))
    with pytest.raises(ValueError, match="paired"):
        fit_mine(torch.randn(4, 3), torch.randn(5, 2))


def test_estimate_layer_mi_on_each_layer():
    net = _Net()
    out = estimate_layer_mi(net.train(), torch.rand(64, 1, 8, 8), ["body", "layer3"], epochs=2, batch_size=32,
                            hidden=16, progress=False)
    assert set(out) == {"body", "layer3"} and all(math.isfinite(v) for v in out.values())
    assert net.training  # mode restored
    with pytest.raises(ValueError, match="layers"):
        estimate_layer_mi(net, torch.rand(4, 1, 8, 8), "layer3")


# ----------------------------------------------------------------------------- train_estimators
def _pgd(model, eps=0.1):
    import torchattacks

    return torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=5)


@pytest.fixture(scope="module")
def trained(digits_split, digits_model):
    model = copy.deepcopy(digits_model)
    before = copy.deepcopy(model.state_dict())
    result = train_estimators(model, digits_split["x_train"][:600], digits_split["y_train"][:600],
                              attack=_pgd(model), epochs=6, batch_size=100, width=WIDTH,
                              x_val=digits_split["x_test"][:300], y_val=digits_split["y_test"][:300],
                              progress=False)
    return model, before, result


def test_train_estimators_passes_the_fig4_check(trained):
    _, _, result = trained
    check = result.check
    assert check is not None and check.n_selected > 20
    assert check.passed, str(check)
    assert check.en_nat > check.en_adv and check.ea_adv > check.ea_nat
    assert check.frac_en > 0.6 and check.frac_ea > 0.6
    assert "PASSED" in str(check)


def test_train_estimators_keeps_the_classifier_frozen(trained, digits_model):
    model, before, result = trained
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert not result.natural.training and not result.adversarial.training


def test_train_estimators_history_and_metadata(trained):
    _, _, result = trained
    assert [h["epoch"] for h in result.history] == list(range(1, 7))
    assert result.history[-1]["gap_n"] > result.history[0]["gap_n"]
    assert all(math.isfinite(h["loss_n"]) and math.isfinite(h["loss_a"]) for h in result.history)
    meta = result.metadata
    assert meta["objective"] == "eq5" and meta["width"] == WIDTH and meta["num_classes"] == 10
    assert meta["n_selected"] == result.history[0]["n_selected"] > 0


def test_train_estimators_is_seeded_and_leaves_global_rng(digits_split, digits_model):
    x, y = digits_split["x_train"][:200], digits_split["y_train"][:200]
    x_adv = _pgd(digits_model)(x, y)
    state = torch.get_rng_state()
    runs = [train_estimators(digits_model, x, y, x_adv=x_adv, epochs=1, batch_size=100, width=8, objective=obj,
                             progress=False, seed=3) for obj in ("mim", "mim", "eq5-literal")]
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(runs[0].natural.state_dict().values(), runs[1].natural.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert runs[0].history[0]["loss_n"] != runs[2].history[0]["loss_n"]


def test_train_estimators_with_a_feature_tap(digits_split, digits_model):
    x, y = digits_split["x_train"][:200], digits_split["y_train"][:200]
    res = train_estimators(digits_model, x, y, attack=_pgd(digits_model), epochs=1, batch_size=100, width=8,
                           layer="model.features.4", progress=False)
    assert res.natural.global_dim == 32 and res.metadata["layer"] == "model.features.4"


def test_train_estimators_no_selected_sample_is_a_clear_error(digits_split, digits_model):
    x, y = digits_split["x_train"][:64], digits_split["y_train"][:64]
    with pytest.raises(ValueError, match="Eq. 6"):
        train_estimators(digits_model, x, y, attack=lambda a, b: a.clone(), epochs=1, batch_size=32, width=8,
                         progress=False)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"objective": "eq7"}, ValueError, "objective"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"batch_size": 1}, ValueError, "batch_size"),
    ({"lr": -1.0}, ValueError, "lr"),
    ({"attack": "pgd"}, TypeError, "attack must be a callable"),
    ({"x_val": torch.rand(4, 1, 8, 8)}, ValueError, "x_val and y_val"),
    ({"x_adv": torch.rand(5, 1, 8, 8)}, ValueError, "x_adv must have the shape"),
])
def test_train_estimators_bad_arguments(digits_model, kwargs, error, match):
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    with pytest.raises(error, match=match):
        train_estimators(digits_model, x, y, progress=False, **kwargs)


def test_train_estimators_bad_data(digits_model):
    with pytest.raises(ValueError, match=r"x must be in \[0, 1\]"):
        train_estimators(digits_model, torch.rand(8, 1, 8, 8) * 3, torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match="y must have shape"):
        train_estimators(digits_model, torch.rand(8, 1, 8, 8), torch.zeros(7, dtype=torch.long))
    with pytest.raises(TypeError, match="model must be"):
        train_estimators(lambda t: t, torch.rand(8, 1, 8, 8), torch.zeros(8, dtype=torch.long))


# ----------------------------------------------------------------------------- save / load
def test_save_then_load_gives_identical_scores(trained, tmp_path):
    _, _, result = trained
    path = tmp_path / "sub" / "est.pt"
    save_estimators(path, result.natural, result.adversarial, result.metadata)
    assert isinstance(torch.load(path, weights_only=True), dict)  # plain weights-only payload
    e_n, e_a, meta = load_estimators(path)
    assert meta == result.metadata and not e_n.training and not e_a.training
    x, z = torch.rand(16, 1, 8, 8), torch.randn(16, 10)
    with torch.no_grad():
        assert torch.equal(e_n(x, z), result.natural(x, z))
        assert torch.equal(e_a(x, z), result.adversarial(x, z))
    assert not list(tmp_path.glob("sub/.estimators-*"))  # no temporary file left behind


def test_save_load_bad_inputs(tmp_path):
    est = LocalDIMEstimator(10, 1, 8)
    with pytest.raises(TypeError, match="natural must be"):
        save_estimators(tmp_path / "a.pt", nn.Linear(2, 2), est)
    with pytest.raises(ValueError, match="plain JSON"):
        save_estimators(tmp_path / "a.pt", est, LocalDIMEstimator(10, 1, 8), {"t": torch.ones(1)})
    with pytest.raises(TypeError, match="path"):
        save_estimators(3, est, LocalDIMEstimator(10, 1, 8))
    with pytest.raises(FileNotFoundError, match="no estimator file"):
        load_estimators(tmp_path / "missing.pt")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a mireg estimator file"):
        load_estimators(tmp_path / "other.pt")
