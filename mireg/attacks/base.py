"""The base class of mireg's attacks: a torchattacks ``Attack`` that leaves the model as it found it."""

from __future__ import annotations

from torchattacks.attack import Attack as _TorchattacksAttack

from mireg.utils.modes import preserved_modes

__all__ = ["Attack"]


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
        with preserved_modes(self.model):
            return super().__call__(*args, **kwargs)
