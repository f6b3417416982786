"""The training hook: run any attack inside a training step, safely."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torchattacks.attack import Attack

from mireg._validation import check_choice, check_images, check_labels, check_model_output
from mireg.utils.modes import preserved_modes
from mireg.utils.seeding import draw_seed, seeded

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

    1. checks that ``images`` is a float batch in [0, 1] and ``labels`` an integer vector (any integer
       dtype, given to the attack as ``torch.long``) of the same batch size whose values index the
       model's classes: the model's first forward in the first call (the attack's own; no extra
       forward) checks that it returns a logits tensor (a model returning ``(logits, features)`` is
       refused with a message naming :class:`mireg.models.LogitsOnly`) and learns the number of
       classes ``num_classes``, checked before every later call;
    2. puts the model in the mode the recipe asks: ``"eval"`` (default; TRADES, MART, InfoAT, NAMID and
       torchattacks craft in eval mode) or ``"train"`` (Madry / Rice et al.: batch statistics, and the
       attack's forwards update BatchNorm running statistics);
    3. freezes the parameters (``requires_grad=False``) while attacking, so no weight gradient is computed
       or left behind, whatever the attack does;
    4. restores every module's own train/eval flag, the parameters' ``requires_grad`` and ``.grad`` exactly,
       also when the attack raises (torchattacks 3.5.1 alone leaves an eval model in train mode);
    5. runs the attack in its own random stream and leaves torch's global RNG as the caller's stream
       would be after one draw (see below);
    6. checks the result's shape and returns ``x_adv`` detached.

    Randomness: each call draws ONE integer from the caller's CPU generator (``torch.randint``) and runs
    the attack under ``mireg.utils.seeding.seeded(that_seed)``: the attack's random starts come from a
    fresh seed on every call, the run stays reproducible (the draw comes from the global stream that
    ``torch.manual_seed`` and mireg's resume state cover), and whatever the attack does to the RNG
    (torchattacks' APGD, APGD-T, FAB and Square call ``torch.manual_seed(self.seed)`` on every call)
    is undone afterwards: the CPU and CUDA generators are restored, then advanced by that one draw
    only. Attacks with a ``seed`` attribute (those four, torchattacks' AutoAttack) get the call's seed
    for the call (their own value is restored after), so they too start from fresh randomness.

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
        self.num_classes: int | None = None  # learnt on the first call

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_images("images", images)
        labels = check_labels("labels", labels, batch=images.shape[0], num_classes=self.num_classes)
        seed = draw_seed()  # the caller's CPU stream: one draw
        training = self.mode == "train"
        with (preserved_modes(self.model, training=training), _frozen(self.model), seeded(seed, images.device),
              torch.enable_grad(), self._learning_classes(labels)):
            adv = self._run_attack(images, labels, seed)
        if not isinstance(adv, torch.Tensor) or adv.shape != images.shape:
            got = tuple(adv.shape) if isinstance(adv, torch.Tensor) else type(adv).__name__
            raise ValueError(f"the attack returned {got}, expected a tensor of the images' shape "
                             f"{tuple(images.shape)}")
        return adv.detach()

    @contextmanager
    def _learning_classes(self, labels: torch.Tensor) -> Iterator[None]:
        """Until the number of classes is known, the model's first forward (the attack's own: no extra
        forward) checks its output is a logits tensor, learns K and checks ``labels`` against it."""
        if self.num_classes is not None:
            yield
            return

        def check(module: nn.Module, inputs: object, output: object) -> None:
            handle.remove()
            self.num_classes = check_model_output(output).shape[1]
            check_labels("labels", labels, batch=labels.shape[0], num_classes=self.num_classes)

        handle = self.model.register_forward_hook(check)
        try:
            yield
        finally:
            handle.remove()

    def _run_attack(self, images: torch.Tensor, labels: torch.Tensor, seed: int) -> torch.Tensor:
        """Call the attack; a torchattacks one runs in this hook's mode with the call's ``seed``, its own
        settings restored after."""
        if not isinstance(self.attack, Attack):
            return self.attack(images, labels)
        attacks = _with_sub_attacks(self.attack)
        saved = [(a._model_training, a._batchnorm_training, a._dropout_training, a.__dict__.get("seed", _NONE))
                 for a in attacks]
        training = self.mode == "train"
        try:
            self.attack.set_model_training_mode(model_training=training, batchnorm_training=training,
                                                dropout_training=training)
            for a, flags in zip(attacks, saved, strict=True):
                if flags[3] is not _NONE:
                    a.seed = seed
            return self.attack(images, labels)
        finally:
            for a, flags in zip(attacks, saved, strict=True):
                a._model_training, a._batchnorm_training, a._dropout_training = flags[:3]
                if flags[3] is not _NONE:
                    a.seed = flags[3]

    def __repr__(self) -> str:
        return f"TrainingAttack({self.attack!r}, mode={self.mode!r})"


_NONE = object()  # "the attack has no seed attribute"


def _with_sub_attacks(attack: Attack) -> list[Attack]:
    """The attack and, recursively, the sub-attacks torchattacks propagates settings to (``MultiAttack``)."""
    out = [attack]
    for sub in attack.__dict__.get("_attacks", {}).values():
        out += _with_sub_attacks(sub)
    return out
