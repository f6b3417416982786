"""The official AutoAttack (Croce & Hein, ICML 2020) as a torchattacks ``Attack``, through pyautoattack.

Registered in :data:`mireg.registry.ATTACKS` as ``"autoattack"``. pyautoattack is imported only when
an attack runs (:meth:`AutoAttack.build`), so ``import mireg.attacks`` does not need it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mireg._optional import require
from mireg._validation import check_choice, check_eps, check_images, check_labels, check_number
from mireg.attacks.base import Attack
from mireg.registry import ATTACKS

__all__ = ["AutoAttack"]

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
        log_path (str or path): append pyautoattack's own verbose log of every call to this file (the
            "AutoAttack log" a RobustBench submission carries). Default None: no log.

    Shape:
        images (N, C, H, W) in [0, 1], labels (N,) -> adversarial images (N, C, H, W) in the ball.

    Example::

        >>> atk = AutoAttack(model, norm="Linf", eps=8 / 255)
        >>> x_adv = atk(x, y)
    """

    def __init__(self, model: nn.Module, norm: str = "Linf", eps: float = 8 / 255, version: str = "standard",
                 attacks: Sequence[str] | None = None, n_iter: int = 100, n_queries: int = 5000,
                 seed: int = 0, log_path: str | os.PathLike | None = None) -> None:
        super().__init__("AutoAttack", model)
        self.norm = check_choice("norm", norm, ("Linf", "L2"))
        self.eps = check_eps("eps", eps, self.norm)
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
        if log_path is not None and not isinstance(log_path, (str, os.PathLike)):
            raise TypeError(f"log_path must be a path (str or os.PathLike) or None, got {type(log_path).__name__}")
        self.log_path = log_path

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
        labels = check_labels("labels", labels, batch=images.shape[0])
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        with torch.no_grad():  # once per call: the labels must index the model's classes
            classes = self.get_logits(images).shape[1]
        check_labels("labels", labels, batch=images.shape[0], num_classes=classes)
        adversary = self.build()
        if self.log_path is None:
            x_adv, _ = adversary.run_standard_evaluation(images, labels, batch_size=images.shape[0])
        else:
            from mireg._autoattack_api import file_log

            with file_log(adversary, self.log_path):
                x_adv, _ = adversary.run_standard_evaluation(images, labels, batch_size=images.shape[0])
        return x_adv.detach()


ATTACKS.add("autoattack", AutoAttack)
