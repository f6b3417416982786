"""Evaluation-only attacks: official AutoAttack (through pyautoattack) and black-box transfer.

Both are torchattacks ``Attack`` subclasses, so they run in the same runner loop as every other
attack and compose with torchattacks (``MultiAttack``, ``save``). They are registered in
:data:`mireg.evaluation.suites.EVAL_ATTACKS` as ``"autoattack"`` and ``"transfer"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torchattacks.attack import Attack

from mireg._optional import require
from mireg._validation import check_choice, check_images, check_labels, check_number
from mireg.evaluation.suites import EVAL_ATTACKS, resolve_attack_factory

__all__ = ["AutoAttack", "TransferAttack"]

_AA_VERSIONS = ("standard", "plus", "custom")
_AA_ATTACKS = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")


def _set_apgd_iterations(apgd: Any, n_iter: int) -> None:
    """Change an APGD's iteration count together with its derived checkpoint schedule."""
    apgd.n_iter = n_iter
    apgd.n_iter_orig = n_iter
    apgd.n_iter_2 = max(int(0.22 * n_iter), 1)
    apgd.n_iter_min = max(int(0.06 * n_iter), 1)
    apgd.size_decr = max(int(0.03 * n_iter), 1)


class AutoAttack(Attack):
    r"""The official AutoAttack (Croce & Hein, ICML 2020, https://arxiv.org/abs/2003.01690).

    Runs fra31's algorithm as shipped by the ``pyautoattack`` package: ``version="standard"`` is
    APGD-CE, APGD-T (9 target classes), FAB-T (9 target classes), each with 100 iterations, and
    Square with 5000 queries, each attack run only on the points that are still robust (the
    per-sample worst case). This is NOT torchattacks' ``AutoAttack``, which runs 10 iterations.

    Arguments:
        model (nn.Module): maps images in [0, 1] (N, C, H, W) to logits (N, K), K >= 2
            (``standard`` needs K >= 10 for its 9 target classes).
        norm (str): ``"Linf"`` or ``"L2"``. Default: ``"Linf"``.
        eps (float): radius. Default: 8/255.
        version (str): ``"standard"``, ``"plus"`` or ``"custom"`` (with ``attacks``). Default ``"standard"``.
        attacks (sequence of str): for ``version="custom"``, from apgd-ce, apgd-dlr, fab, square, apgd-t, fab-t.
        n_iter (int): iterations of APGD/APGD-T/FAB. Default 100 (the official budget; lower it
            only for smoke tests).
        n_queries (int): Square's query budget. Default 5000.
        seed (int): seed for every sub-attack. Default 0.

    Shape:
        images (N, C, H, W) in [0, 1], labels (N,) -> adversarial images (N, C, H, W) in the ball.

    Example::

        >>> atk = AutoAttack(model, norm="Linf", eps=8 / 255)
        >>> x_adv = atk(x, y)
    """

    def __init__(self, model: nn.Module, norm: str = "Linf", eps: float = 8 / 255, version: str = "standard",
                 attacks: Sequence[str] | None = None, n_iter: int = 100, n_queries: int = 5000,
                 seed: int = 0) -> None:
        super().__init__("AutoAttack", model)
        self.norm = check_choice("norm", norm, ("Linf", "L2"))
        self.eps = float(check_number("eps", eps, low=0.0, low_open=True))
        self.version = check_choice("version", version, _AA_VERSIONS)
        if version == "custom":
            if not attacks:
                raise ValueError("attacks must list the sub-attacks when version='custom'")
            for name in attacks:
                check_choice("attacks", name, _AA_ATTACKS)
        elif attacks is not None:
            raise ValueError(f"attacks is only used with version='custom', got version={version!r}")
        self.attacks = list(attacks) if attacks else None
        self.n_iter = int(check_number("n_iter", n_iter, low=1, integer=True))
        self.n_queries = int(check_number("n_queries", n_queries, low=1, integer=True))
        self.seed = int(check_number("seed", seed, integer=True))

    def build(self) -> Any:
        """The configured ``pyautoattack.AutoAttack`` adversary."""
        require("pyautoattack", "AutoAttack")
        from pyautoattack import AutoAttack as PyAutoAttack

        adversary = PyAutoAttack(self.model, attacks=self.attacks, device=self.device, eps=self.eps,
                                 norm=self.norm, seed=self.seed, version=self.version)
        if self.n_iter != 100:
            _set_apgd_iterations(adversary.apgd, self.n_iter)
            _set_apgd_iterations(adversary.apgd_targeted, self.n_iter)
            adversary.fab.n_iter = self.n_iter
        adversary.square.n_queries = self.n_queries
        adversary.verbose = False
        return adversary

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_images("images", images)
        check_labels("labels", labels, batch=images.shape[0])
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        x_adv, _ = self.build().run_standard_evaluation(images, labels, batch_size=images.shape[0])
        return x_adv.detach()


class TransferAttack(Attack):
    r"""Black-box transfer: adversarial examples crafted on a surrogate, scored on the target.

    The transfer setting of NAMID (Zhou et al., ICML 2022, Sec. 5.2): a separately trained
    surrogate (VGG-19 in the paper) is attacked white-box; its adversarial examples are then fed to
    the target model, which is never queried while crafting them.

    Arguments:
        model (nn.Module): the target (kept so that the runner's bookkeeping is uniform; never
            called by this attack).
        surrogate (nn.Module): the model attacked white-box.
        attack (str or callable): the crafting attack, a registered name (default ``"pgd"``) or a
            factory ``fn(model, **kwargs)``.
        attack_kwargs (mapping): its arguments (eps is passed separately).
        eps (float): radius, passed to the crafting attack. Default 8/255.

    Shape:
        images (N, C, H, W) in [0, 1], labels (N,) -> adversarial images (N, C, H, W).

    Example::

        >>> atk = TransferAttack(model, surrogate=vgg, attack="pgd", attack_kwargs={"steps": 40})
        >>> x_adv = atk(x, y)
    """

    def __init__(self, model: nn.Module, surrogate: nn.Module | None = None, attack: Any = "pgd",
                 attack_kwargs: Mapping[str, Any] | None = None, eps: float = 8 / 255) -> None:
        super().__init__("Transfer", model)
        if not isinstance(surrogate, nn.Module):
            raise TypeError(f"surrogate must be an nn.Module, got {type(surrogate).__name__}")
        if surrogate is model:
            raise ValueError("surrogate must be a separately trained model, not the target itself")
        self.eps = float(check_number("eps", eps, low=0.0, low_open=True))
        crafting = resolve_attack_factory(attack)(surrogate, eps=self.eps, **dict(attack_kwargs or {}))
        # A bound method, not the Attack itself: torchattacks would otherwise propagate set_model()
        # and the target's device/mode onto the surrogate's attack.
        self._craft = crafting.__call__
        self.surrogate = surrogate

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_images("images", images)
        check_labels("labels", labels, batch=images.shape[0])
        surrogate_device = next(self.surrogate.parameters()).device
        modes = [(m, m.training) for m in self.surrogate.modules()]
        self.surrogate.eval()
        try:
            x_adv = self._craft(images.to(surrogate_device), labels.to(surrogate_device))
        finally:
            for module, training in modes:
                module.training = training
        return x_adv.detach().to(self.device)


def _autoattack(model: nn.Module, **kwargs: Any) -> AutoAttack:
    return AutoAttack(model, **kwargs)


def _transfer(model: nn.Module, **kwargs: Any) -> TransferAttack:
    return TransferAttack(model, **kwargs)


EVAL_ATTACKS["autoattack"] = _autoattack
EVAL_ATTACKS["transfer"] = _transfer
