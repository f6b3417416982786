"""Save and load a pair of NAMID estimators (E_n, E_a) with what is needed to rebuild them.

The file is a plain dict of tensors and Python types, written atomically and read weights-only
through :mod:`mireg.checkpoints`: loading runs no pickled code.
"""

from __future__ import annotations

import json
import os

import torch

from mireg.checkpoints import load_file, save_file
from mireg.estimators.local_dim import LocalDIMEstimator

__all__ = ["load_estimators", "save_estimators"]

_FORMAT = "mireg.estimators/1"


def _check_path(path: object) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def save_estimators(path: str | os.PathLike, natural: LocalDIMEstimator, adversarial: LocalDIMEstimator,
                    metadata: dict | None = None) -> None:
    """Write E_n, E_a (config + weights) and ``metadata`` (JSON-serialisable plain types) to ``path``.

    Args:
        path: the file (written atomically).
        natural: the natural estimator E_n.
        adversarial: the adversarial estimator E_a.
        metadata: plain-type settings (e.g. ``train_estimators(...).metadata``).

    Examples:
        >>> from mireg.estimators import LocalDIMEstimator, load_estimators, save_estimators
        >>> save_estimators("estimators.pt", LocalDIMEstimator(10, 3, width=8), LocalDIMEstimator(10, 3, width=8),
        ...                 {"epochs": 25})
        >>> e_n, e_a, meta = load_estimators("estimators.pt")
        >>> meta["epochs"], e_n.training
        (25, False)
    """
    path = _check_path(path)
    for name, est in (("natural", natural), ("adversarial", adversarial)):
        if not isinstance(est, LocalDIMEstimator):
            raise TypeError(f"{name} must be a mireg LocalDIMEstimator, got {type(est).__name__}")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict of plain JSON types, got {type(metadata).__name__}")
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as err:
        raise ValueError("metadata must hold plain JSON types (str, int, float, bool, None, list, dict): "
                         f"{err}") from None
    payload = {"format": _FORMAT, "metadata": metadata}
    for name, est in (("natural", natural), ("adversarial", adversarial)):
        payload[name] = {"config": est.config,
                         "state_dict": {k: v.detach().cpu() for k, v in est.state_dict().items()}}
    save_file(payload, path)


def load_estimators(path: str | os.PathLike, *, map_location: str | torch.device | None = "cpu"
                    ) -> tuple[LocalDIMEstimator, LocalDIMEstimator, dict]:
    """Read a file written by :func:`save_estimators`: ``(natural, adversarial, metadata)``, the
    estimators rebuilt from their config, loaded strictly, in eval mode, on ``map_location``.

    Args:
        path: the file.
        map_location: where the weights go.

    Returns:
        ``(E_n, E_a, metadata)``.

    Examples:
        >>> from mireg.estimators import LocalDIMEstimator, load_estimators, save_estimators
        >>> save_estimators("e.pt", LocalDIMEstimator(10, 3, width=8), LocalDIMEstimator(10, 3, width=8))
        >>> e_n, e_a, meta = load_estimators("e.pt")
        >>> e_n.training, e_a.training
        (False, False)
    """
    path = _check_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no estimator file at {path!r}")
    payload = load_file(path, map_location, what="estimator file")
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{path!r} is not a mireg estimator file (expected format {_FORMAT!r}); "
                         "write it with mireg.estimators.save_estimators")
    out = []
    for name in ("natural", "adversarial"):
        est = LocalDIMEstimator(**payload[name]["config"])
        est.load_state_dict(payload[name]["state_dict"])
        if map_location is not None:
            est = est.to(map_location)
        out.append(est.eval())
    return out[0], out[1], payload["metadata"]
