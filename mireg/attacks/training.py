"""The training hook: run any attack inside a training step, safely."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torchattacks.attack import Attack

from mireg._validation import check_choice, check_images, check_labels
from mireg.utils.modes import preserved_modes

AttackFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """``requires_grad=False`` on every parameter for the block; each parameter's ``requires_grad``
    and ``.grad`` are restored exactly afterwards (also on exceptions)."""
    params = list(model.parameters())
    saved = [(p.requires_grad, p.grad) for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, (requires_grad, grad) in zip(params, saved, strict=True):
            p.requires_grad_(requires_grad)
            p.grad = grad


class TrainingAttack:
    """Wrap any torchattacks attack (or any callable ``(x, y) -> x_adv``) as a training-time inner maximiser.

    Each call

    1. checks that ``images`` is a float batch in [0, 1] and ``labels`` an integer vector of the same batch size;
    2. puts the model in the mode the recipe asks: ``"eval"`` (default; TRADES, MART, InfoAT, NAMID and
       torchattacks craft in eval mode) or ``"train"`` (Madry / Rice et al.: batch statistics, and the
       attack's forwards update BatchNorm running statistics);
    3. freezes the parameters (``requires_grad=False``) while attacking, so no weight gradient is computed
       or left behind, whatever the attack does;
    4. restores every module's own train/eval flag, the parameters' ``requires_grad`` and ``.grad`` exactly,
       also when the attack raises (torchattacks 3.5.1 alone leaves an eval model in train mode);
    5. checks the result's shape and returns ``x_adv`` detached.

    For a torchattacks ``Attack`` the model is ``attack.model``; during each call the attack runs with
    ``set_model_training_mode`` matching ``mode``, and its own settings (and its sub-attacks') are
    restored afterwards, so the caller's attack object is left as it was. Under DDP, build the attack on
    the unwrapped module.

    Args:
        attack: a torchattacks ``Attack`` or a callable ``(images, labels) -> adversarial images``.
        model: the model being trained; required for a plain callable.
        mode: "eval" or "train".

    Example:
        >>> hook = mireg.TrainingAttack(torchattacks.PGD(model, eps=8/255, alpha=2/255, steps=10))
        >>> model.train()
        >>> x_adv = hook(x, y)            # model is back in train mode, no parameter .grad touched
        >>> loss = mireg.ATLoss()(None, model(x_adv), y)
    """

    def __init__(self, attack: Attack | AttackFn, model: nn.Module | None = None, mode: str = "eval") -> None:
        if not callable(attack):
            raise TypeError(f"attack must be a torchattacks Attack or a callable (x, y) -> x_adv, "
                            f"got {type(attack).__name__}")
        self.mode = check_choice("mode", mode, ("eval", "train"))
        if isinstance(attack, Attack):
            if model is not None and model is not attack.model:
                raise ValueError("model must be the attack's own model (attack.model) or None")
            model = attack.model
        if not isinstance(model, nn.Module):
            raise TypeError("model (an nn.Module) is required when attack is a plain callable, "
                            f"got {type(model).__name__}")
        self.attack = attack
        self.model = model

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_images("images", images)
        check_labels("labels", labels, batch=images.shape[0])
        with preserved_modes(self.model, training=self.mode == "train"), _frozen(self.model), torch.enable_grad():
            adv = self._run_attack(images, labels)
        if not isinstance(adv, torch.Tensor) or adv.shape != images.shape:
            got = tuple(adv.shape) if isinstance(adv, torch.Tensor) else type(adv).__name__
            raise ValueError(f"the attack returned {got}, expected a tensor of the images' shape "
                             f"{tuple(images.shape)}")
        return adv.detach()

    def _run_attack(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Call the attack; a torchattacks one runs in this hook's mode, its own settings restored after."""
        if not isinstance(self.attack, Attack):
            return self.attack(images, labels)
        attacks = _with_sub_attacks(self.attack)
        saved = [(a._model_training, a._batchnorm_training, a._dropout_training) for a in attacks]
        training = self.mode == "train"
        try:
            self.attack.set_model_training_mode(model_training=training, batchnorm_training=training,
                                                dropout_training=training)
            return self.attack(images, labels)
        finally:
            for a, flags in zip(attacks, saved, strict=True):
                a._model_training, a._batchnorm_training, a._dropout_training = flags

    def __repr__(self) -> str:
        return f"TrainingAttack({self.attack!r}, mode={self.mode!r})"


def _with_sub_attacks(attack: Attack) -> list[Attack]:
    """The attack and, recursively, the sub-attacks torchattacks propagates settings to (``MultiAttack``)."""
    out = [attack]
    for sub in attack.__dict__.get("_attacks", {}).values():
        out += _with_sub_attacks(sub)
    return out
