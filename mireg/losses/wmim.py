"""The WMIM baseline of NAMID (Zhou et al., ICML 2022, Sec. 4.1 "Baselines"): adversarial training plus
maximising the standard MI I(x_adv; h(x_adv)) between adversarial inputs and their outputs, after the
worst-case-MI principle of Zhu, Zhang & Evans, "Learning Adversarially Robust Representations via
Worst-Case Mutual Information Maximization", ICML 2020 (PMLR 119, pp. 11609-11618), arXiv:2002.11798.

NAMID describes WMIM only as "adversarial training + standard MI maximisation on adversarial
samples" and released no code. Our choices, where the paper leaves them open:

- the MI estimate is the per-sample DV score of a :class:`~mireg.estimators.LocalDIMEstimator`
  whose local input is ``x_adv`` and whose global input is ``h(x_adv)`` (the estimator of the deleted
  MIAT script ``train_MI_estimator_only_adv_max.py``), averaged over the batch;
- the estimator is co-trained (``update_estimator=True``, default): at each call in train mode it
  takes one Adam step (``estimator_lr``, 1e-4 as Zhu et al.'s README) maximising the same score on
  the detached batch, then scores the batch frozen, so the classifier's gradient never reaches it
  and it never holds a ``.grad`` after the call; with ``update_estimator=False`` it stays as given
  (e.g. pre-trained);
- the weight is set by composition, ``ATLoss() + w * WMIMLoss(e)`` (:class:`WMIM`); w is not given by
  the paper (we use 0.1, untuned).
"""

from __future__ import annotations

import torch

from mireg._validation import check_images, check_logits, check_number, check_same_shape
from mireg.estimators.local_dim import LocalDIMEstimator
from mireg.losses.at import ATLoss
from mireg.losses.base import LossTerm, SumLoss
from mireg.utils.device import model_device

__all__ = ["WMIM", "WMIMLoss"]


class WMIMLoss(LossTerm):
    """``-mean_i E(x_adv_i, h(x_adv_i))``: minimising it maximises the estimated MI I(x_adv; h(x_adv)).

    Args:
        estimator: a :class:`~mireg.estimators.LocalDIMEstimator` with ``global_dim`` = number of
            classes and ``in_channels`` = image channels (e.g. ``LocalDIMEstimator(10, 3)``).
        update_estimator: co-train the estimator (one Adam step per call in train mode).
        estimator_lr: its Adam learning rate.

    Call: ``term(logits_nat, logits_adv (B, K), y=None, *, x_adv (B, C, H, W)) -> scalar``
    (``logits_nat``, ``y`` and ``x`` are not used). With B = 1 the DV score is 0 (no negatives) and
    the estimator is not updated.

    Examples:
        >>> import torch, mireg
        >>> from mireg.estimators import LocalDIMEstimator
        >>> wmim = mireg.ATLoss() + 0.1 * mireg.WMIMLoss(LocalDIMEstimator(global_dim=10, in_channels=3, width=8))
        >>> x_adv, y = torch.rand(4, 3, 8, 8), torch.randint(0, 10, (4,))
        >>> wmim(None, torch.randn(4, 10), y, x_adv=x_adv).shape
        torch.Size([])
    """

    uses_natural = False
    uses_images = True

    def __init__(self, estimator: LocalDIMEstimator, *, update_estimator: bool = True,
                 estimator_lr: float = 1e-4) -> None:
        super().__init__()
        if not isinstance(estimator, LocalDIMEstimator):
            raise TypeError(f"estimator must be a mireg.estimators.LocalDIMEstimator, got {type(estimator).__name__}")
        if not isinstance(update_estimator, bool):
            raise TypeError(f"update_estimator must be a bool, got {type(update_estimator).__name__}")
        check_number("estimator_lr", estimator_lr, low=0.0, low_open=True)
        self.estimator = estimator.eval().requires_grad_(False)
        self.update_estimator = update_estimator
        self.estimator_lr = float(estimator_lr)
        self._optimizer: torch.optim.Optimizer | None = None

    def train(self, mode: bool = True) -> WMIMLoss:
        super().train(mode)
        self.estimator.eval()
        return self

    def _update(self, x_adv: torch.Tensor, logits_adv: torch.Tensor) -> None:
        est = self.estimator
        params = list(est.parameters())
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam(params, lr=self.estimator_lr)
        est.train()
        est.requires_grad_(True)
        try:
            with torch.enable_grad():
                loss = -est(x_adv, logits_adv).mean()
                grads = torch.autograd.grad(loss, params)
            for p, g in zip(params, grads, strict=True):
                p.grad = g
            self._optimizer.step()
        finally:
            for p in params:
                p.grad = None
            est.requires_grad_(False)
            est.eval()

    def forward(self, logits_nat: torch.Tensor | None, logits_adv: torch.Tensor, y: torch.Tensor | None = None, *,
                x: torch.Tensor | None = None, x_adv: torch.Tensor | None = None) -> torch.Tensor:
        check_logits("logits_adv", logits_adv)
        if x_adv is None:
            raise ValueError("WMIMLoss needs the adversarial images: call it with x_adv=...")
        check_images("x_adv", x_adv)
        if x_adv.dim() != 4 or x_adv.shape[0] != logits_adv.shape[0]:
            raise ValueError(f"x_adv must be (B, C, H, W) with B = {logits_adv.shape[0]}, got {tuple(x_adv.shape)}")
        if x is not None:
            check_images("x", x)
            check_same_shape("x", x, "x_adv", x_adv)
        est = self.estimator
        if est.global_dim != logits_adv.shape[1]:
            raise ValueError(f"estimator was built for global_dim={est.global_dim} but the logits have "
                             f"{logits_adv.shape[1]} classes")
        if model_device(est) != x_adv.device:
            est.to(x_adv.device)
        with torch.autocast(x_adv.device.type, enabled=False):
            local_input = x_adv.detach().float()
            if self.training and self.update_estimator and x_adv.shape[0] >= 2:
                self._update(local_input, logits_adv.detach().float())
            with torch.no_grad():
                local = est.local_features(local_input)
            return -est.score(local, est.global_features(logits_adv.float())).mean()


class WMIM(SumLoss):
    """The WMIM baseline of NAMID (Sec. 4.1) as one loss: ``ATLoss() + alpha * WMIMLoss(estimator)``.

    Args:
        estimator: the co-trained :class:`~mireg.estimators.LocalDIMEstimator` (``global_dim`` = classes,
            ``in_channels`` = image channels).
        alpha: weight of the MI term (0.1; the paper gives none, untuned).

    Examples:
        >>> import mireg
        >>> from mireg.estimators import LocalDIMEstimator
        >>> criterion = mireg.WMIM(LocalDIMEstimator(global_dim=10, in_channels=3, width=8))
        >>> [type(term).__name__ for term in criterion.terms]
        ['ATLoss', 'ScaledLoss']
    """

    def __init__(self, estimator: LocalDIMEstimator, alpha: float = 0.1) -> None:
        check_number("alpha", alpha, low=0.0)
        super().__init__(ATLoss(), alpha * WMIMLoss(estimator))
