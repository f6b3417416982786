"""``mireg estimators``: help by example, an end-to-end run on digits, clear errors."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from mireg.cli import main
from mireg.estimators import load_estimators


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A 'mireg train'-style checkpoint of a small CNN trained clean on 16x16 one-channel digits."""
    from mireg.data import load_dataset
    from mireg.models import create_model

    data = load_dataset("digits", split="train", image_size=16, channels=1)
    x, y = data.float(), data.y
    torch.manual_seed(0)
    model = create_model("small_cnn", in_channels=1, width=8, hidden=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(3):
        for idx in torch.randperm(len(y)).split(64):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    folder = tmp_path_factory.mktemp("cli")
    config = {"model": "small_cnn", "dataset": "digits", "image_size": 16, "channels": 1,
              "model_kwargs": {"width": 8, "hidden": 32}, "data_root": None}
    torch.save({"format": "mireg-train-v1", "model": model.state_dict(), "config": config}, folder / "best.pt")
    torch.save(model.state_dict(), folder / "plain.pt")
    return folder


def test_help_teaches_by_example(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["estimators", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for needle in ("examples:", "--checkpoint runs/at/best.pt", "--attack pgd-l2", "--epochs", "--out",
                   "--analyze pgd,fgsm", "mireg train --recipe digits-namid --estimators"):
        assert needle in text, needle


def test_end_to_end_on_digits(checkpoint, capsys):
    out = checkpoint / "est" / "e.pt"
    figure = checkpoint / "mi.png"
    code = main(["estimators", "--checkpoint", str(checkpoint / "best.pt"), "--n-train", "300", "--n-val", "100",
                 "--epochs", "2", "--width", "8", "--batch-size", "100", "--eps", "0.1", "--alpha", "1/40",
                 "--steps", "4", "--analyze", "fgsm,pgd", "--figure", str(figure), "--out", str(out),
                 "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "estimator check" in text and "| fgsm |" in text and "| pgd |" in text
    e_n, e_a, meta = load_estimators(out)
    assert e_n.config == {"global_dim": 10, "in_channels": 1, "width": 8, "diagonal": "exclude"}
    assert meta["model"] == "small_cnn" and meta["eps"] == pytest.approx(0.1) and meta["steps"] == 4
    report = json.loads((checkpoint / "est" / "e.pt.json").read_text())
    assert [r["attack"] for r in report["analysis"]] == ["fgsm", "pgd"] and "check" in report
    assert figure.stat().st_size > 1000


def test_plain_state_dict_needs_the_architecture(checkpoint, capsys):
    args = ["estimators", "--checkpoint", str(checkpoint / "plain.pt"), "--dataset", "digits", "--image-size",
            "16", "--channels", "1", "--out", str(checkpoint / "x.pt")]
    assert main(args) == 2
    assert "pass --model" in capsys.readouterr().err
    assert main([*args, "--model", "small_cnn", "--model-kwargs", "[8]"]) == 2  # refused while parsing
    assert "argument --model-kwargs: must be a JSON object" in capsys.readouterr().err


def test_figure_without_analysis_is_an_error(checkpoint, capsys):
    code = main(["estimators", "--checkpoint", str(checkpoint / "best.pt"), "--figure", "x.png"])
    assert code == 2
    assert "--figure needs --analyze" in capsys.readouterr().err


def test_bad_eps_is_an_argparse_error(capsys, tmp_path):
    (tmp_path / "x.pt").write_bytes(b"")
    assert main(["estimators", "--checkpoint", str(tmp_path / "x.pt"), "--eps", "8//255"]) == 2
    assert "fraction like 8/255" in capsys.readouterr().err
