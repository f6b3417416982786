"""NAMID's natural/adversarial MI loss L_mi (Zhou et al., ICML 2022, arXiv:2207.12203, Eq. 8).

With frozen estimators E_n (local input x) and E_a (local input n = x_adv - x) and the samples X' of
Eq. 6 (correct on x, wrong on x_adv; m = |X'|):

.. math::

    L_{mi} = Lcos(E_n(h(\\tilde x')), E_n(h(x'))) + Lcos(E_a(h(\\tilde x')), E_a(h(x')))
             + \\lambda \\frac{1}{m} \\sum_{i \\in X'} [E_a(h(\\tilde x_i)) - E_n(h(\\tilde x_i))]

where ``E(h(.))`` is the vector of per-sample DV scores of the selected samples and
``Lcos(a, b) = 1 - cos(a, b)`` is taken across that vector (as the released code does: it aligns the
direction of the per-sample MI profile on adversarial inputs with the one on natural inputs).
Minimising the lam term raises E_n and lowers E_a on adversarial inputs, as the corrected paper (the
PDF in dwDavidxd/MIAT, arXiv v1) has it; the released code comments it out (lam = 0).

The methods are named compositions (Eq. 9 and its TRADES/MART variants, alpha = 5, lam = 0.1)::

    NAMID(e_n, e_a)     == ATLoss() + 5.0 * NaturalAdversarialMILoss(e_n, e_a, lam=0.1)        # Eq. 9
    NAMID_T(e_n, e_a)   == TRADESLoss(beta=6.0) + 5.0 * NaturalAdversarialMILoss(e_n, e_a)     # NAMID_T
    NAMID_M(e_n, e_a)   == MARTLoss(beta=6.0) + 5.0 * NaturalAdversarialMILoss(e_n, e_a)       # NAMID_M
"""

from __future__ import annotations

import torch

from mireg._validation import check_images, check_labels, check_logits, check_number, check_same_shape
from mireg.estimators.local_dim import LocalDIMEstimator
from mireg.functional.mi import cosine_loss, namid_selection
from mireg.losses.at import ATLoss
from mireg.losses.base import LossTerm, ScaledLoss, SumLoss, default_of
from mireg.losses.mart import MARTLoss
from mireg.losses.trades import TRADESLoss
from mireg.utils.device import model_device

__all__ = ["NAMID", "NAMID_M", "NAMID_T", "NaturalAdversarialMILoss"]


def _freeze(estimator: LocalDIMEstimator) -> LocalDIMEstimator:
    estimator.eval()
    estimator.requires_grad_(False)
    return estimator


class NaturalAdversarialMILoss(LossTerm):
    """L_mi of NAMID's Eq. 8 on the samples of Eq. 6, with frozen estimators.

    Args:
        estimator_n: the natural MI estimator E_n (a :class:`mireg.estimators.LocalDIMEstimator`
            whose local input is the clean image), e.g. from ``mireg.estimators.train_estimators``.
        estimator_a: the adversarial MI estimator E_a (local input: the noise ``x_adv - x``).
        lam: weight of ``mean(E_a(h(x_adv)) - E_n(h(x_adv)))`` (>= 0; 0 reproduces the released code).
        natural: keep the natural-MI terms (``Lcos`` of E_n and ``-lam E_n(h(x_adv))``); NAMID's
            ablation (Sec. 4.4, Fig. 5) "(ii) removing the natural MI" is ``natural=False``.
        adversarial: keep the adversarial-MI terms (``Lcos`` of E_a and ``+lam E_a(h(x_adv))``);
            "(i) removing the adversarial MI" is ``adversarial=False``. The paper does not say what
            happens to the lam term; here each estimator takes its own part of it along.

    Both estimators are frozen here: put in eval mode (also when this term or its parent is put in
    train mode), ``requires_grad`` off, so they never get a ``.grad``; the loss reaches the classifier
    through both ``logits_nat`` and ``logits_adv`` (the estimators' local inputs are not
    differentiated). An empty selection gives an exact 0 that is still connected to both logits.
    With one selected sample the cosines are +-1 (the cosine terms then carry no gradient).

    Call: ``term(logits_nat (B, K), logits_adv (B, K), y (B,), *, x (B, C, H, W), x_adv) -> scalar``.
    ``last_selected`` holds the (B,) Eq. 6 mask of the last call.

    Examples:
        >>> import torch, mireg
        >>> from mireg.estimators import LocalDIMEstimator
        >>> # trained estimators come from mireg.estimators.train_estimators / load_estimators
        >>> e_n, e_a = LocalDIMEstimator(10, 3, width=8), LocalDIMEstimator(10, 3, width=8)
        >>> mi_loss = mireg.NaturalAdversarialMILoss(e_n, e_a, lam=0.1)
        >>> x = torch.rand(4, 3, 8, 8)
        >>> x_adv = (x + 0.03 * torch.randn_like(x)).clamp(0, 1)
        >>> logits_nat, logits_adv, y = torch.randn(4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
        >>> mi_loss(logits_nat, logits_adv, y, x=x, x_adv=x_adv).shape
        torch.Size([])
        >>> namid = mireg.ATLoss() + 5.0 * mi_loss    # NAMID's Eq. 9 as one LossTerm
    """

    uses_natural = True
    uses_images = True

    def __init__(self, estimator_n: LocalDIMEstimator, estimator_a: LocalDIMEstimator, lam: float = 0.1, *,
                 natural: bool = True, adversarial: bool = True) -> None:
        super().__init__()
        for name, est in (("estimator_n", estimator_n), ("estimator_a", estimator_a)):
            if not isinstance(est, LocalDIMEstimator):
                raise TypeError(f"{name} must be a mireg.estimators.LocalDIMEstimator, got {type(est).__name__}")
        if estimator_n is estimator_a:
            raise ValueError("estimator_n and estimator_a must be two different estimators (E_n and E_a)")
        check_number("lam", lam, low=0.0)
        if not isinstance(natural, bool) or not isinstance(adversarial, bool):
            raise TypeError("natural and adversarial must be bools")
        if not (natural or adversarial):
            raise ValueError("natural=False and adversarial=False leave no term: keep at least one of the two MIs")
        self.natural, self.adversarial = natural, adversarial
        self.estimator_n = _freeze(estimator_n)
        self.estimator_a = _freeze(estimator_a)
        self.lam = float(lam)
        self.last_selected: torch.Tensor | None = None

    def train(self, mode: bool = True) -> NaturalAdversarialMILoss:
        super().train(mode)
        self.estimator_n.eval()
        self.estimator_a.eval()
        return self

    def _check(self, logits_nat, logits_adv, y, x, x_adv) -> None:
        if logits_nat is None:
            raise ValueError("NaturalAdversarialMILoss needs logits_nat (the model's logits on x)")
        check_logits("logits_adv", logits_adv)
        batch, classes = logits_adv.shape
        check_logits("logits_nat", logits_nat, batch=batch)
        check_same_shape("logits_nat", logits_nat, "logits_adv", logits_adv)
        if y is None:
            raise ValueError("NaturalAdversarialMILoss needs the labels y (for the selection of Eq. 6)")
        check_labels("y", y, batch=batch, num_classes=classes)
        if x is None or x_adv is None:
            raise ValueError("NaturalAdversarialMILoss needs the images: call it with x=... and x_adv=...")
        check_images("x", x)
        check_images("x_adv", x_adv)
        check_same_shape("x", x, "x_adv", x_adv)
        if x.dim() != 4 or x.shape[0] != batch:
            raise ValueError(f"x must be (B, C, H, W) with B = {batch} (the logits' batch), got {tuple(x.shape)}")
        for name, est in (("estimator_n", self.estimator_n), ("estimator_a", self.estimator_a)):
            if est.global_dim != classes:
                raise ValueError(f"{name} was built for global_dim={est.global_dim} but the logits have "
                                 f"{classes} classes")
            if est.in_channels != x.shape[1]:
                raise ValueError(f"{name} was built for in_channels={est.in_channels} but x has {x.shape[1]} channels")

    def forward(self, logits_nat: torch.Tensor | None, logits_adv: torch.Tensor, y: torch.Tensor | None = None, *,
                x: torch.Tensor | None = None, x_adv: torch.Tensor | None = None) -> torch.Tensor:
        self._check(logits_nat, logits_adv, y, x, x_adv)
        selected = namid_selection(logits_nat, logits_adv, y)
        self.last_selected = selected
        if not bool(selected.any()):
            return (logits_nat.sum() + logits_adv.sum()) * 0.0
        with torch.autocast(x.device.type, enabled=False):
            logits = torch.cat([logits_nat, logits_adv]).float()
            # one global pass and one critic pass per estimator for h(x) and h(x_adv) together
            loss, mi_adv = None, {}
            for name, est, local_input in (("natural", self.estimator_n, x.detach()),
                                           ("adversarial", self.estimator_a, x_adv.detach() - x.detach())):
                if not getattr(self, name):
                    continue
                if model_device(est) != x.device:
                    est.to(x.device)
                with torch.no_grad():
                    local = est.local_features(local_input.float())
                on_nat, on_adv = est.score(local, est.global_features(logits).view(2, logits_adv.shape[0], -1))[
                    :, selected]
                cos = cosine_loss(on_adv, on_nat)
                loss = cos if loss is None else loss + cos
                mi_adv[name] = on_adv
            if self.lam:
                if len(mi_adv) == 2:
                    loss = loss + self.lam * (mi_adv["adversarial"] - mi_adv["natural"]).mean()
                elif "natural" in mi_adv:
                    loss = loss - self.lam * mi_adv["natural"].mean()
                else:
                    loss = loss + self.lam * mi_adv["adversarial"].mean()
        return loss

    def extra_repr(self) -> str:
        parts = "" if self.natural and self.adversarial else f", natural={self.natural}, adversarial={self.adversarial}"
        return f"lam={self.lam}{parts}"


_LAM = default_of(NaturalAdversarialMILoss, "lam")


def _weighted_mi_term(estimator_n: LocalDIMEstimator, estimator_a: LocalDIMEstimator, alpha: float,
                      lam: float) -> ScaledLoss:
    """``alpha * L_mi``: the MI term every NAMID method adds to its base loss."""
    check_number("alpha", alpha, low=0.0)
    return alpha * NaturalAdversarialMILoss(estimator_n, estimator_a, lam=lam)


class NAMID(SumLoss):
    """NAMID's training objective (Zhou et al., ICML 2022, Eq. 9): ``CE(f(x_adv), y) + alpha * L_mi``.

    Args:
        estimator_n: the natural MI estimator E_n (frozen by :class:`NaturalAdversarialMILoss`),
            e.g. from ``mireg.estimators.load_estimators``.
        estimator_a: the adversarial MI estimator E_a (frozen likewise).
        alpha: weight of L_mi (the paper's 5.0).
        lam: L_mi's lambda (the paper's 0.1, :class:`NaturalAdversarialMILoss`'s default).

    Call: ``loss = namid(logits_nat, logits_adv, y, x=x, x_adv=x_adv)``; ``namid.components`` holds the
    ``ATLoss`` and ``NaturalAdversarialMILoss`` values of the last call.

    Examples:
        >>> import torch, mireg
        >>> from mireg.estimators import LocalDIMEstimator
        >>> e_n, e_a = LocalDIMEstimator(10, 3, width=8), LocalDIMEstimator(10, 3, width=8)
        >>> criterion = mireg.NAMID(e_n, e_a)  # ATLoss() + 5.0 * NaturalAdversarialMILoss(e_n, e_a, lam=0.1)
        >>> x = torch.rand(4, 3, 8, 8)
        >>> logits_nat, logits_adv, y = torch.randn(4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
        >>> loss = criterion(logits_nat, logits_adv, y, x=x, x_adv=x.flip(0))
        >>> sorted(criterion.components)
        ['ATLoss', 'NaturalAdversarialMILoss']
    """

    def __init__(self, estimator_n: LocalDIMEstimator, estimator_a: LocalDIMEstimator, alpha: float = 5.0,
                 lam: float = _LAM) -> None:
        super().__init__(ATLoss(), _weighted_mi_term(estimator_n, estimator_a, alpha, lam))


_ALPHA = default_of(NAMID, "alpha")


class NAMID_T(SumLoss):  # noqa: N801 - the paper's name
    """NAMID_T (Zhou et al., ICML 2022, Sec. 4.3): TRADES plus the MI term, ``TRADESLoss(beta) + alpha * L_mi``.

    Args:
        estimator_n: the natural MI estimator E_n (as in :class:`NAMID`).
        estimator_a: the adversarial MI estimator E_a.
        alpha: weight of L_mi (5.0).
        lam: L_mi's lambda (0.1).
        beta: TRADES' weight (:class:`~mireg.losses.TRADESLoss`'s default, 6.0).

    Examples:
        >>> import mireg
        >>> from mireg.estimators import LocalDIMEstimator
        >>> e_n, e_a = LocalDIMEstimator(10, 3, width=8), LocalDIMEstimator(10, 3, width=8)
        >>> criterion = mireg.NAMID_T(e_n, e_a)  # TRADESLoss(6.0) + 5.0 * NaturalAdversarialMILoss(e_n, e_a)
        >>> [type(term).__name__ for term in criterion.terms]
        ['TRADESLoss', 'ScaledLoss']
    """

    def __init__(self, estimator_n: LocalDIMEstimator, estimator_a: LocalDIMEstimator, alpha: float = _ALPHA,
                 lam: float = _LAM, beta: float = default_of(TRADESLoss, "beta")) -> None:
        super().__init__(TRADESLoss(beta=beta), _weighted_mi_term(estimator_n, estimator_a, alpha, lam))


class NAMID_M(SumLoss):  # noqa: N801 - the paper's name
    """NAMID_M (Zhou et al., ICML 2022, Sec. 4.3): MART plus the MI term, ``MARTLoss(beta) + alpha * L_mi``.

    Args:
        estimator_n: the natural MI estimator E_n (as in :class:`NAMID`).
        estimator_a: the adversarial MI estimator E_a.
        alpha: weight of L_mi (5.0).
        lam: L_mi's lambda (0.1).
        beta: MART's weight (:class:`~mireg.losses.MARTLoss`'s default, 6.0).

    Examples:
        >>> import mireg
        >>> from mireg.estimators import LocalDIMEstimator
        >>> e_n, e_a = LocalDIMEstimator(10, 3, width=8), LocalDIMEstimator(10, 3, width=8)
        >>> criterion = mireg.NAMID_M(e_n, e_a)  # MARTLoss(6.0) + 5.0 * NaturalAdversarialMILoss(e_n, e_a)
        >>> [type(term).__name__ for term in criterion.terms]
        ['MARTLoss', 'ScaledLoss']
    """

    def __init__(self, estimator_n: LocalDIMEstimator, estimator_a: LocalDIMEstimator, alpha: float = _ALPHA,
                 lam: float = _LAM, beta: float = default_of(MARTLoss, "beta")) -> None:
        super().__init__(MARTLoss(beta=beta), _weighted_mi_term(estimator_n, estimator_a, alpha, lam))
