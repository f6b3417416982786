"""A RobustBench submission bundle from a trained model (``mireg export``): the round trip out.

:func:`export_robustbench` evaluates the RobustBench way (:func:`~mireg.evaluation.robustbench_io.
robustbench_evaluate`, AutoAttack's own log recorded) and writes, with :func:`export_submission`::

    OUT/<model_name>.pt              the weights: a plain state dict of the BARE architecture (no
                                     ``model.`` prefix of mireg's Normalized wrapper) plus ``mu`` and
                                     ``sigma`` (1, C, 1, 1) when the model normalises its inputs
    OUT/model_info/<dataset>/<threat_model>/<model_name>.json
                                     the leaderboard entry, in the form of RobustBench's own (n, the
                                     threat model and a partial evaluation marked in ``evaluation``)
    OUT/autoattack.log               AutoAttack's own log of every batch, with mireg's summary
    OUT/report.json, outcomes.npz    mireg's report: per-sample outcomes, gradient-masking checks
    OUT/model.json                   how to rebuild the model: architecture, arguments, normalisation, sha256
    OUT/README.md                    what is there, what the author must fill in, how to load it

Normalisation travels the way RobustBench's Model Zoo carries it: its models take images in [0, 1]
and normalise inside, with ``mu`` / ``sigma`` buffers in the state dict and ``(x - mu) / sigma`` at the
start of ``forward`` (e.g. its ``Rice2020OverfittingNet``). RobustBench's loader removes ``module.`` and
``model.`` from any key containing them (``rm_substr_from_state_dict``), so keys with those substrings are
refused. :func:`load_submission` rebuilds a mireg model from a bundle.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mireg.checkpoints import load_file, save_file
from mireg.evaluation.report import EvaluationReport
from mireg.evaluation.robustbench_io import missing_fields, robustbench_evaluate, write_model_info
from mireg.evaluation.robustbench_readme import readme
from mireg.evaluation.suites import format_eps
from mireg.models import Normalized, create_model
from mireg.utils.atomic import atomic_write_text
from mireg.utils.device import model_device
from mireg.utils.modes import preserved_modes
from mireg.utils.paths import check_output_dir
from mireg.utils.seeding import seeded

__all__ = ["bare_state_dict", "export_robustbench", "export_submission", "load_submission"]

#: substrings RobustBench's loader strips from any key that contains them
_STRIPPED = ("module.", "model.")


def bare_state_dict(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, list[float]] | None]:
    """``(state dict, normalisation)`` of ``model`` as RobustBench's Model Zoo stores it.

    A :class:`~mireg.models.Normalized` model gives the wrapped architecture's state dict (no ``model.``
    prefix) plus ``mu`` and ``sigma`` (its mean and std, shape (1, C, 1, 1)), or no extra keys when its
    statistics are the identity (0 and 1); any other module gives its own state dict and ``None``.

    Example::

        >>> weights, normalisation = bare_state_dict(create_model("small_cnn", mean=[0.5] * 3, std=[0.25] * 3))
        >>> sorted(k for k in weights if "." not in k), normalisation["mu"]    # (['mu', 'sigma'], [0.5, 0.5, 0.5])
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(model, Normalized):
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, None
    state = {k: v.detach().cpu().clone() for k, v in model.model.state_dict().items()}
    if bool((model.mean == 0).all()) and bool((model.std == 1).all()):
        return state, None
    clash = [k for k in ("mu", "sigma") if k in state]
    if clash:
        raise ValueError(f"the architecture already has parameters named {clash}: RobustBench's mu/sigma buffers "
                         "would collide with them")
    state["mu"], state["sigma"] = model.mean.detach().cpu().clone(), model.std.detach().cpu().clone()
    return state, {"mu": state["mu"].flatten().tolist(), "sigma": state["sigma"].flatten().tolist()}


def _check_keys(state: dict[str, torch.Tensor]) -> None:
    bad = [k for k in state if any(s in k for s in _STRIPPED)]
    if bad:
        raise ValueError(f"state-dict keys {bad[:3]} contain 'module.' or 'model.', which RobustBench's loader "
                         "(robustbench.utils.rm_substr_from_state_dict) cuts: rename those submodules first")


def export_submission(model: nn.Module, report: EvaluationReport, out_dir: str | os.PathLike, model_name: str, *,
                      architecture: dict[str, Any] | None = None, autoattack_log: str | os.PathLike | None = None,
                      **info_fields: Any) -> dict[str, Path]:
    """Write the submission bundle (module docstring) of ``model`` and its RobustBench ``report``.

    Args:
        model: the evaluated model (inputs in [0, 1]).
        report: its :func:`~mireg.evaluation.robustbench_io.robustbench_evaluate` report.
        out_dir: the bundle's folder.
        model_name: RobustBench's ``<Surname><Year><FirstWordOfTitle>[_arch]``.
        architecture: ``{"name": registered model name, "kwargs": {...}, "num_classes": K,
            "in_channels": C, "input_shape": [C, H, W]}``; with it the bundle is checked by reloading
            (:func:`load_submission`: the same logits) and can be loaded back.
        autoattack_log: the file ``robustbench_evaluate(log_path=...)`` wrote (moved into the bundle).
        **info_fields: model-info fields (``name``, ``authors``, ``venue``, ``external``, ...;
            :func:`~mireg.evaluation.robustbench_io.model_info`).

    Returns:
        ``{"weights", "model_info", "autoattack_log", "report", "model", "readme"}`` -> paths.
    """
    if not isinstance(model_name, str) or not model_name or "/" in model_name or model_name.startswith("."):
        raise ValueError(f"model_name must be a file-name-safe string, got {model_name!r}")
    out = Path(out_dir)
    state, normalisation = bare_state_dict(model)
    _check_keys(state)
    architecture = _describe_class(model, architecture)
    paths = {"weights": save_file(state, out / f"{model_name}.pt")}
    paths["model_info"] = write_model_info(report, model_name, out_dir=out / "model_info", **info_fields)
    info = json.loads(paths["model_info"].read_text())
    paths["autoattack_log"] = _write_log(out / "autoattack.log", report, autoattack_log)
    paths["report"] = report.save(out)["json"]
    record = {"format": "mireg-robustbench-bundle-v1", "model_name": model_name, "architecture": architecture,
              "normalization": normalisation, "inputs": "images in [0, 1], (N, C, H, W)",
              "weights": paths["weights"].name, "sha256": _sha256(paths["weights"]),
              "state_dict_keys": len(state), "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    paths["model"] = atomic_write_text(out / "model.json", json.dumps(record, indent=2) + "\n")
    if architecture is not None and architecture.get("input_shape"):
        record["reload_check"] = _reload_check(model, out, architecture["input_shape"])
        atomic_write_text(paths["model"], json.dumps(record, indent=2) + "\n")
    paths["readme"] = atomic_write_text(out / "README.md", readme(record, info, report, missing_fields(info)))
    return paths


def export_robustbench(model: nn.Module, data: Any, out_dir: str | os.PathLike, model_name: str, *,
                       n: int = 10_000, threat_model: str = "Linf", eps: float | None = None,
                       architecture: dict[str, Any] | None = None, batch_size: int = 500,
                       device: str | torch.device | None = None, seed: int = 0, progress: bool = True,
                       sanity: bool = True, dataset: str | None = None,
                       **info_fields: Any) -> tuple[EvaluationReport, dict[str, Path]]:
    """Evaluate the RobustBench way (the first ``n`` test points of ``data``, AutoAttack standard, its log
    kept) and write the submission bundle; returns the report and the bundle's paths.

    Example::

        >>> report, paths = export_robustbench(model, test_set, "submission", "Doe2026Mutual", n=10_000,
        ...                                    dataset="cifar10", name="Mutual information AT", venue="ICML 2026")
    """
    out = check_output_dir(out_dir, "out_dir", create=True)  # before the evaluation, not after it
    batch_log = out / ".autoattack-batches.log"
    batch_log.unlink(missing_ok=True)  # (a log of an earlier attempt)
    report = robustbench_evaluate(model, data, n=n, threat_model=threat_model, eps=eps, batch_size=batch_size,
                                  device=device, seed=seed, progress=progress, sanity=sanity, dataset=dataset,
                                  log_path=batch_log)
    report.meta["batch_size"] = batch_size
    paths = export_submission(model, report, out, model_name, architecture=architecture, autoattack_log=batch_log,
                              **info_fields)
    return report, paths


def _write_log(path: Path, report: EvaluationReport, batch_log: str | os.PathLike | None) -> Path:
    """``autoattack.log``: what was run, AutoAttack's own lines per batch, the result."""
    eps = format_eps(report.eps, report.norm)
    head = [f"# mireg: AutoAttack standard, {report.norm} eps {eps}, the first {report.n} points of "
            f"{report.meta.get('dataset') or 'the test set'}; seed {report.meta.get('seed')}",
            f"# clean accuracy {100 * report.clean_accuracy:.2f}% ({int(report.clean_correct.sum())} of "
            f"{report.n}); AutoAttack runs on those points, in batches of at most "
            f"{report.meta.get('batch_size', '?')}: each batch's 'initial accuracy' below is of that batch "
            "(100%: all of them are classified correctly)"]
    body = Path(batch_log).read_text() if batch_log is not None and Path(batch_log).is_file() else \
        "(no AutoAttack log was recorded: pass log_path to robustbench_evaluate)\n"
    tail = [f"# robust accuracy (AutoAttack): {100 * report.robust_accuracy['AutoAttack']:.2f}% of {report.n} "
            "points" + ("; gradient-masking checks FAILED: see report.json" if report.masking_suspected else "")]
    written = atomic_write_text(path, "\n".join(head) + "\n" + body + "\n".join(tail) + "\n")
    if batch_log is not None and Path(batch_log) != path:
        Path(batch_log).unlink(missing_ok=True)
    return written


def _describe_class(model: nn.Module, architecture: dict[str, Any] | None) -> dict[str, Any] | None:
    """``architecture`` with the bare architecture's class and, when the registered builder's arguments
    are also the class's, ``class_arguments`` (for the Model-Zoo entry of the README)."""
    if architecture is None:
        return None
    bare = model.model if isinstance(model, Normalized) else model
    cls = type(bare)
    arguments = {"num_classes": architecture.get("num_classes"), "in_channels": architecture.get("in_channels"),
                 **architecture.get("kwargs", {})}
    try:
        inspect.signature(cls.__init__).bind(None, **arguments)
    except TypeError:
        arguments = None
    return {**architecture, "class": cls.__name__, "module": cls.__module__, "class_arguments": arguments}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_submission(bundle_dir: str | os.PathLike) -> nn.Module:
    """The model of a bundle written by :func:`export_submission` (with its ``architecture``), in eval
    mode: the registered architecture, its bare weights loaded strictly, ``mu``/``sigma`` as
    :class:`~mireg.models.Normalized`'s mean and std.

    Example::

        >>> model = load_submission("submission")
        >>> report = mireg.evaluate(model, test_set, suite="robustbench-linf", n=1000)
    """
    bundle = Path(bundle_dir)
    record = json.loads((bundle / "model.json").read_text())
    arch = record.get("architecture")
    if not arch or not arch.get("name"):
        raise ValueError(f"{str(bundle / 'model.json')!r} names no architecture: the bundle cannot be rebuilt")
    weights = load_file(bundle / record["weights"], what="weights")
    mu, sigma = weights.pop("mu", None), weights.pop("sigma", None)
    model = create_model(arch["name"], num_classes=arch["num_classes"], in_channels=arch["in_channels"],
                         mean=mu, std=sigma, **arch.get("kwargs", {}))
    model.model.load_state_dict(weights, strict=True)
    return model.eval()


def _reload_check(model: nn.Module, bundle: Path, input_shape: list[int]) -> str:
    """Reload the bundle and compare logits with ``model`` on random images; raise on any difference."""
    reloaded = load_submission(bundle)
    with seeded(0):
        x = torch.rand(4, *input_shape)
    with torch.no_grad(), preserved_modes(model, training=False):
        a = model(x.to(model_device(model))).cpu()
        b = reloaded(x)
    if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
        raise RuntimeError(f"the exported weights do not reproduce the model: max |logit difference| "
                           f"{float((a - b).abs().max()):.3g}")
    return f"passed: reloaded logits equal the model's on 4 random images (max |difference| " \
           f"{float((a - b).abs().max()):.1g})"
