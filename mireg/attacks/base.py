"""The base class of mireg's attacks: a torchattacks ``Attack`` that leaves the model as it found it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from torchattacks.attack import Attack as _TorchattacksAttack

__all__ = ["Attack", "preserving_modes"]


@contextmanager
def preserving_modes(module: nn.Module | None) -> Iterator[None]:
    """Restore every submodule's own train/eval flag on exit (also on error); ``None`` does nothing.

    Example:
        >>> with preserving_modes(model):
        ...     x_adv = torchattacks.PGD(model)(x, y)   # whatever torchattacks does to the modes
    """
    modes = [(m, m.training) for m in module.modules()] if module is not None else []
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


class Attack(_TorchattacksAttack):
    """A torchattacks ``Attack`` whose call restores every module's own train/eval flag exactly.

    torchattacks 3.5.1 switches the model for the attack (eval by default) and afterwards only calls
    ``model.train()`` if the model was training: after ``set_model_training_mode(model_training=True)``
    an eval-mode model is left in train mode, and a training model with frozen submodules (an eval
    BatchNorm) gets them all switched to train. Subclasses of this class (every mireg attack) snapshot
    each module's flag before the call and restore it after, also when the attack raises. mireg does
    not patch torchattacks itself: plain torchattacks attacks keep their own behaviour.

    Subclasses implement ``forward(images, labels)`` exactly as for torchattacks.

    Example:
        >>> model = model.train(); model.bn.eval()       # a frozen BatchNorm
        >>> x_adv = mireg.InfoPGD(model)(x, y)           # model.training and model.bn.training unchanged
    """

    def __call__(self, *args, **kwargs):
        with preserving_modes(self.model):
            return super().__call__(*args, **kwargs)
