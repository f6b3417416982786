"""A forward-hook feature tap: read an intermediate layer of any model without changing its forward.

mireg models (and RobustBench / torchattacks models) return logits only. To feed an estimator's
global net with, say, ResNet ``layer3`` features (the NAMID code's ``--is_internal`` option, or the
MINE ablation of InfoAT on layers #1-#4), a :class:`FeatureTap` records that layer's output on every forward.
"""

from __future__ import annotations

import copy
import difflib

import torch
from torch import nn

__all__ = ["FeatureTap", "check_layer", "stage_layer"]


def check_layer(model: nn.Module, layer: object) -> str:
    """``layer`` names a submodule of ``model`` (e.g. ``"model.layer3"``); else an error with the close names."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a submodule name (str), got {type(layer).__name__}")
    names = [name for name, _ in model.named_modules() if name]
    if layer not in names:
        close = difflib.get_close_matches(layer, names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        top = sorted({name.split(".")[0] for name in names})
        raise ValueError(f"layer {layer!r} is not a submodule of {type(model).__name__}.{hint} "
                         f"Top-level submodules: {', '.join(top)}")
    return layer


def stage_layer(model: nn.Module, index: int) -> str:
    """The submodule name of layer #``index`` of ``model``, as InfoAT numbers layers #1-#4 (Fig. 1(a),
    Table I): ResNet stage ``layer<index>`` (the shortest match, e.g. ``model.layer2`` inside
    :class:`mireg.models.Normalized`), else entry ``index - 1`` of a ``stages`` tuple the model (or a
    wrapped submodule) declares, as :class:`mireg.models.small_cnn.SmallCNN` does.

    Args:
        model: the model.
        index: the layer number (>= 1).

    Returns:
        The dotted submodule name (for :class:`FeatureTap`).

    Examples:
        >>> from mireg.estimators import stage_layer
        >>> from mireg.models import create_model
        >>> stage_layer(create_model("resnet18"), 2), stage_layer(create_model("small_cnn"), 4)
        ('model.layer2', 'model.fc')
    """
    if isinstance(index, bool) or not isinstance(index, int) or index < 1:
        raise ValueError(f"index must be a layer number >= 1, got {index!r}")
    names = [name for name, _ in model.named_modules() if name.rsplit(".", 1)[-1] == f"layer{index}"]
    if names:
        return min(names, key=len)
    declared = [(name, m.stages) for name, m in model.named_modules() if isinstance(getattr(m, "stages", None), tuple)]
    if declared and index <= len(min(declared, key=lambda item: len(item[0]))[1]):
        prefix, stages = min(declared, key=lambda item: len(item[0]))
        return f"{prefix}.{stages[index - 1]}" if prefix else stages[index - 1]
    raise ValueError(f"{type(model).__name__} has no submodule 'layer{index}' (InfoAT's layer #{index} of a "
                     f"ResNet) and declares no `stages` with a #{index}: pass layer=<submodule name> to choose "
                     f"the tapped layer")


class FeatureTap:
    """Record the output of ``model.<layer>`` on each forward pass, through a forward hook.

    Args:
        model: any ``nn.Module``; its ``forward`` is left untouched.
        layer: dotted submodule name as in ``model.named_modules()``, e.g. ``"layer3"`` or
            ``"model.layer3"`` for a model wrapped in ``mireg.models.Normalized``.
        detach: store the features detached (no graph) instead of as part of the autograd graph.
        by_input: also remember which model input each of the last two forward passes had (a
            forward pre-hook on ``model``), so that :meth:`features_of` returns the features of a
            given input tensor whatever the order of the forwards (e.g. the training engine's
            ``model(x_adv)`` then ``model(x)``). Off by default: it keeps two feature maps alive.

    After ``logits = model(x)``, :attr:`features` holds that layer's output for ``x`` (the last
    forward wins). ``tap(x)`` does both and returns ``(logits, features)``. Use it as a context
    manager, or call :meth:`remove`, to take the hook off.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from mireg.estimators import FeatureTap, LocalDIMEstimator
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
        >>> x = torch.rand(4, 3, 8, 8)
        >>> with FeatureTap(model, "1") as tap:
        ...     logits, feats = tap(x)
        >>> feats.shape
        torch.Size([4, 4, 8, 8])
        >>> estimator = LocalDIMEstimator(global_dim=feats.shape[1], in_channels=3, width=8)
        >>> estimator(x, feats).shape     # the map is average-pooled to (B, 4)
        torch.Size([4])
    """

    def __init__(self, model: nn.Module, layer: str, *, detach: bool = False, by_input: bool = False) -> None:
        check_layer(model, layer)
        self.model = model
        self.layer = layer
        self.detach = detach
        self.features: torch.Tensor | None = None
        self._handle = model.get_submodule(layer).register_forward_hook(self._hook)
        self.by_input = bool(by_input)
        self._input: object = None
        self._recent: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._pre_handle = model.register_forward_pre_hook(self._pre_hook) if self.by_input else None

    def _pre_hook(self, module: nn.Module, inputs: tuple) -> None:
        self._input = inputs[0] if inputs else None

    def _hook(self, module: nn.Module, inputs: tuple, output: object) -> None:
        if isinstance(output, (tuple, list)):
            output = output[0]
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"layer {self.layer!r} returned {type(output).__name__}, expected a tensor")
        self.features = output.detach() if self.detach else output
        if self.by_input and isinstance(self._input, torch.Tensor):
            older = [pair for pair in self._recent if pair[0] is not self._input][-1:]
            self._recent = [*older, (self._input, self.features)]

    def features_of(self, x: torch.Tensor) -> torch.Tensor:
        """The tapped features of the latest forward pass of the model on this very tensor ``x``
        (matched by identity, among the last two inputs; needs ``by_input=True``)."""
        if not self.by_input:
            raise ValueError("features_of needs a tap built with FeatureTap(model, layer, by_input=True)")
        for seen, features in reversed(self._recent):
            if seen is x:
                return features
        raise ValueError(f"the model has not been run on this tensor among its last two forward passes: call "
                         f"model(x) with this same tensor before reading its {self.layer!r} features (a copy or "
                         f"a slice of it is another tensor; compiled models may skip the hooks)")

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the model on ``x``; return ``(logits, features of the tapped layer)``."""
        self.features = None
        logits = self.model(x)
        if self.features is None:
            raise RuntimeError(f"layer {self.layer!r} was not called during the forward pass")
        features, self.features = self.features, None
        return logits, features

    def clear(self) -> None:
        """Drop the stored features and inputs (and their autograd graphs); the hooks stay on."""
        self.features = None
        self._input, self._recent = None, []

    def __deepcopy__(self, memo: dict) -> FeatureTap:
        """A copy (made e.g. when the model it hooks is deep-copied) without the stored features and
        inputs, which may belong to an autograd graph (and those tensors cannot be deep-copied)."""
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            setattr(new, key, value if key in ("features", "_input", "_recent") else copy.deepcopy(value, memo))
        new.clear()
        return new

    def remove(self) -> None:
        """Take the hook off the model and drop the stored features."""
        self._handle.remove()
        if self._pre_handle is not None:
            self._pre_handle.remove()
        self.clear()

    def __enter__(self) -> FeatureTap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"FeatureTap({type(self.model).__name__}, {self.layer!r})"
