"""Black-box transfer (NAMID, Zhou et al., ICML 2022, Sec. 4.3 "Black-box attacks", Table 2) as a
torchattacks ``Attack``.

Registered in :data:`mireg.registry.ATTACKS` as ``"transfer"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mireg._validation import check_eps, check_images, check_labels, check_model_output
from mireg.attacks.base import Attack
from mireg.attacks.factory import attack_norm, create_attack
from mireg.registry import ATTACKS
from mireg.utils.device import model_device
from mireg.utils.modes import preserved_modes

__all__ = ["TransferAttack"]


class TransferAttack(Attack):
    r"""Black-box transfer: adversarial examples crafted on a surrogate, scored on the target.

    The transfer setting of NAMID (Zhou et al., ICML 2022, Sec. 4.3, Table 2): a separately trained
    surrogate (VGG-19 in the paper) is attacked white-box; its adversarial examples are then fed to
    the target model, which is never queried while crafting them.

    Args:
        model (nn.Module): the target (kept so that the runner's bookkeeping is uniform; never
            called by this attack).
        surrogate (nn.Module): the model attacked white-box.
        attack (str or callable): the crafting attack, a registered name (default ``"pgd"``) or a
            factory ``fn(model, **kwargs)``.
        attack_kwargs (mapping): its arguments (eps is passed separately).
        eps (float): radius, passed to the crafting attack. Default 8/255.

    Shape:
        images (N, C, H, W) in [0, 1], labels (N,) -> adversarial images (N, C, H, W).

    Examples:
        >>> import torch
        >>> from mireg.attacks import TransferAttack
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> surrogate = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
        >>> atk = TransferAttack(model, surrogate=surrogate, attack="pgd", attack_kwargs={"steps": 3})
        >>> x_adv = atk(torch.rand(2, 3, 8, 8), torch.tensor([3, 7]))  # crafted on the surrogate only
    """

    def __init__(self, model: nn.Module, surrogate: nn.Module | None = None, attack: Any = "pgd",
                 attack_kwargs: Mapping[str, Any] | None = None, eps: float = 8 / 255) -> None:
        super().__init__("Transfer", model)
        if not isinstance(surrogate, nn.Module):
            raise TypeError(f"surrogate must be an nn.Module, got {type(surrogate).__name__}")
        if surrogate is model:
            raise ValueError("surrogate must be a separately trained model, not the target itself")
        if attack_kwargs is not None and not isinstance(attack_kwargs, Mapping):
            raise TypeError(f"attack_kwargs must be a mapping of the crafting attack's arguments, "
                            f"got {type(attack_kwargs).__name__}")
        self.eps = check_eps("eps", eps, attack_norm(attack, attack_kwargs))
        crafting = create_attack(attack, surrogate, eps=self.eps, **dict(attack_kwargs or {}))
        # A bound method, not the Attack itself: torchattacks would otherwise propagate set_model()
        # and the target's device/mode onto the surrogate's attack.
        self._craft = crafting.__call__
        self.surrogate = surrogate

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_images("images", images)
        labels = check_labels("labels", labels, batch=images.shape[0])
        surrogate_device = model_device(self.surrogate)
        images, labels = images.to(surrogate_device), labels.to(surrogate_device)
        with preserved_modes(self.surrogate, training=False):
            with torch.no_grad():  # once per call: the labels must index the surrogate's classes
                logits = check_model_output(self.surrogate(images), batch=images.shape[0], name="surrogate")
            check_labels("labels", labels, batch=images.shape[0], num_classes=logits.shape[1])
            x_adv = self._craft(images, labels)
        return x_adv.detach().to(self.device)


ATTACKS.add("transfer", TransferAttack)
