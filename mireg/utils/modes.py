"""Train/eval mode preservation with exactly one meaning: every module gets its OWN flag back.

``model.train(was_training)`` is not a restore: it sets one flag on every submodule, so a model whose
modules are in mixed modes (a frozen BatchNorm inside a training network, an estimator kept in eval
mode inside a loss) comes back flattened. :func:`preserved_modes` records each submodule's flag and
puts exactly that flag back, also when the block raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["preserved_modes"]


@contextmanager
def preserved_modes(*modules: nn.Module, training: bool | None = None) -> Iterator[None]:
    """Run a block with ``modules`` in ``training`` mode, then restore every submodule's own flag.

    Args:
        *modules: the models (and any other ``nn.Module``) whose flags are recorded.
        training: ``True`` (train mode), ``False`` (eval mode) or ``None`` (leave the modes as they
            are during the block; only restore them afterwards).

    Yields:
        Nothing; the modes are restored when the block ends (also on an exception).

    Examples:
        >>> import torch
        >>> from mireg.utils.modes import preserved_modes
        >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
        >>> _ = model.train(); _ = model[1].eval()  # a frozen BatchNorm
        >>> with preserved_modes(model, training=False):
        ...     model.training, model[1].training  # eval mode here
        (False, False)
        >>> model.training, model[1].training  # every module's own flag back
        (True, False)
    """
    for module in modules:
        if not isinstance(module, nn.Module):
            raise TypeError(f"preserved_modes needs nn.Module arguments, got {type(module).__name__}")
    saved = [(sub, sub.training) for module in modules for sub in module.modules()]
    try:
        if training is not None:
            for module in modules:
                module.train(training)
        yield
    finally:
        for sub, flag in saved:
            sub.training = flag
