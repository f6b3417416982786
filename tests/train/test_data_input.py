"""``train(config, train_data=..., val_data=...)`` and ``evaluate(model, data=...)`` with PyTorch's own data:
a Dataset is materialised into the fast path (and trains exactly like the same data by name), a DataLoader
is streamed, and a run on given data says so in its checkpoint."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

import mireg
from mireg.data import load_dataset, split_validation
from mireg.runs import CUSTOM_DATASET, load_trained_model, with_data_defaults
from mireg.train import build_config, load_checkpoint, train


def tiny(tmp_path, **changes):
    base = {"image_size": 8, "channels": 1, "model_kwargs": {"width": 4, "hidden": 16}, "val_size": 97,
            "epochs": 1, "batch_size": 200, "steps": 2, "val_steps": 2, "eps": 0.1, "alpha": 0.05,
            "augment": True, "progress": False, "out_dir": str(tmp_path / "run")}
    return build_config("digits-at", overrides={**base, **changes})


class ToTensorDigits(Dataset):
    """The digits the way a torchvision dataset serves them: (float image in [0, 1], int label)."""

    def __init__(self, split: str) -> None:
        self.data = load_dataset("digits", split=split, image_size=8, channels=1)
        self.classes = self.data.classes

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        return self.data.x[i].float() / 255, int(self.data.y[i])


def test_a_dataset_trains_exactly_like_the_same_data_by_name(tmp_path):
    named = train(tiny(tmp_path / "a"))
    given = train(tiny(tmp_path / "b"), train_data=ToTensorDigits("train"))
    assert given.config.dataset == CUSTOM_DATASET and named.config.dataset == "digits"
    a, b = load_checkpoint(named.last_path)["model"], load_checkpoint(given.last_path)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert named.history[0]["val_robust_acc"] == given.history[0]["val_robust_acc"]


def test_a_dataloader_is_streamed_with_validation_only_when_given(tmp_path, capsys):
    loader = DataLoader(ToTensorDigits("train"), batch_size=128, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    result = train(tiny(tmp_path / "a", quiet=False), train_data=loader)
    assert result.best_epoch is None and result.history[0]["val_clean_acc"] is None
    err = capsys.readouterr().err
    assert "streaming train_data" in err and "no validation split" in err and "epoch 1/1" in err
    val = ToTensorDigits("test")
    result = train(tiny(tmp_path / "b", epochs=2), train_data=loader, val_data=val)
    assert result.best_epoch is not None and result.history[-1]["val_robust_acc"] >= 0
    model, data, cfg = load_trained_model(result.last_path, dataset="digits")
    assert cfg["dataset"] == CUSTOM_DATASET and len(data) == 500
    with pytest.raises(ValueError, match="trained on data given to mireg.train.train.*--dataset"):
        load_trained_model(result.last_path)


def test_normalisation_of_given_data_uses_its_own_statistics(tmp_path):
    data = ToTensorDigits("train")
    result = train(tiny(tmp_path, normalize=True), train_data=data)
    mean, std = split_validation(data.data, 97, seed=0)[0].mean_std()  # the training part's statistics
    assert result.model.mean.flatten().tolist() == pytest.approx(mean)
    assert result.model.std.flatten().tolist() == pytest.approx(std)
    with pytest.raises(ValueError, match="normalize=true.*Normalized"):
        train(tiny(tmp_path / "b", normalize=True), train_data=DataLoader(data, batch_size=64))
    with pytest.raises(TypeError, match="train_data must be"):
        train(tiny(tmp_path / "c"), train_data=[1, 2, 3])


def test_auto_data_settings_of_given_data():
    data = ToTensorDigits("train")
    config = build_config("digits-at", overrides={"augment": "auto", "val_size": "auto"})
    resolved = with_data_defaults(config.replace(dataset=CUSTOM_DATASET), data)
    assert resolved.augment is False and resolved.val_size == min(1000, len(data) // 10)  # a tenth, at most 1,000
    streamed = with_data_defaults(config, DataLoader(data, batch_size=64))
    assert streamed.val_size == 0 and streamed.augment is False
    assert with_data_defaults(config.replace(val_size=5, augment=True), data).val_size == 5  # set: kept


def test_evaluate_reads_a_dataset_or_an_unshuffled_dataloader(digits_model, digits_split):
    x, y = digits_split["x_test"], digits_split["y_test"]
    ref = mireg.evaluate(digits_model, (x, y), suite="quick", n=24, max_steps=2, progress=False, sanity=False)
    for data in (TensorDataset(x, y), DataLoader(TensorDataset(x, y), batch_size=10)):
        report = mireg.evaluate(digits_model, data, suite="quick", n=24, max_steps=2, progress=False, sanity=False)
        assert report.n == 24 and report.robust_accuracy == ref.robust_accuracy
        assert torch.equal(report.clean_pred, ref.clean_pred)
    with pytest.raises(ValueError, match="shuffles"):
        mireg.evaluate(digits_model, DataLoader(TensorDataset(x, y), shuffle=True), n=4, progress=False)
