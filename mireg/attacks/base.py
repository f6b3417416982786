"""The base class of mireg's attacks: a torchattacks ``Attack`` that leaves the model as it found it."""

from __future__ import annotations

import torch
from torch import nn
from torchattacks.attack import Attack as _TorchattacksAttack

from mireg._validation import check_images, check_labels, check_model_output
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

    Subclasses implement ``forward(images, labels)`` exactly as for torchattacks. ``get_logits`` checks
    that the model returned a logits tensor (N, K) (no value read, no sync): a model returning
    ``(logits, features)`` gets one clear error naming :class:`mireg.models.LogitsOnly`.

    Args:
        name: the attack's name (torchattacks' ``attack.attack``).
        model: the model attacked, mapping [0, 1] images to logits (N, K).

    Examples:
        >>> import torch, mireg
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(144, 10))
        >>> _ = model.train(); _ = model[1].eval()  # a frozen BatchNorm
        >>> x_adv = mireg.InfoPGD(model, steps=2)(torch.rand(2, 3, 8, 8), torch.tensor([3, 7]))
        >>> model.training, model[1].training  # both flags as they were
        (True, False)
    """

    def __init__(self, name: str, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module (images in [0, 1] -> logits), got {type(model).__name__}")
        super().__init__(name, model)

    def __call__(self, *args, **kwargs):
        with preserved_modes(self.model):
            return super().__call__(*args, **kwargs)

    def get_logits(self, inputs, labels=None, *args, **kwargs):
        logits = super().get_logits(inputs, labels, *args, **kwargs)
        return check_model_output(logits, batch=inputs.shape[0])

    def _prepared(self, images: torch.Tensor, labels: torch.Tensor,
                  image_batch: bool = False) -> tuple[torch.Tensor, torch.Tensor, float]:
        """The checked inputs of ``forward`` on the attack's device (float32 images, int64 labels; the
        target labels in targeted mode) and the sign of the ascent (-1 when targeted). ``image_batch``:
        the attack needs (N, C, H, W) images."""
        check_images("images", images)
        if image_batch and images.dim() != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        labels = check_labels("labels", labels, batch=images.shape[0])
        images = images.clone().detach().to(self.device, torch.float32)
        labels = labels.clone().detach().to(self.device)
        if self.targeted:
            labels = self.get_target_label(images, labels)
        return images, labels, -1.0 if self.targeted else 1.0
