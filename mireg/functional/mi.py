"""Mutual-information scores of NAMID (Zhou et al., ICML 2022, arXiv:2207.12203) and MINE.

- :func:`dv_local_scores`: the per-sample Donsker-Varadhan (DV) score of a local-DIM estimator
  (Hjelm et al. 2019; Zhu et al. 2020; NAMID Sec. 3.2): one MI value per sample, negatives taken
  from the other samples of the batch at the same patch location.
- :func:`dv_bound`: the batch-level DV lower bound ``E_P[T] - log E_Q[exp T]`` (MINE, Belghazi et
  al. 2018, Eq. 10) and :func:`mine_surrogate`, its moving-average bias-corrected gradient form.
- :func:`cosine_loss`: ``Lcos(a, b) = 1 - cos(a, b)`` of NAMID's Eq. 8.
- :func:`namid_selection`: the sample selection of NAMID's Eq. 6 (correct on x, wrong on x_adv).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mireg._validation import check_choice, check_number, check_same_shape, check_tensor

__all__ = ["cosine_loss", "dv_bound", "dv_local_scores", "mine_surrogate", "namid_selection"]


def dv_local_scores(local: torch.Tensor, global_: torch.Tensor, *, diagonal: str = "exclude") -> torch.Tensor:
    r"""Per-sample Donsker-Varadhan MI score of a local-DIM estimator (NAMID Sec. 3.2).

    With the dot-product critic ``s[i, j, k] = <G_i, L_{j,k}>`` between the global embedding of
    sample ``i`` and the local feature of sample ``j`` at patch location ``k``:

    .. math::

        \hat I_i = \frac{1}{K} \sum_k \Big( s_{i,i,k}
            - \log \frac{1}{N-1} \sum_{j \ne i} e^{s_{i,j,k}} \Big)

    i.e. positives are each sample's global embedding with its own patches, negatives the same
    embedding with the patches of the other ``N - 1`` samples at the same location. Higher means
    more MI. The released code (dwDavidxd/MIAT ``dim_losses.py``) returns ``-\hat I_i``.

    Args:
        local: (N, D, K) local features (K patch locations of dimension D).
        global_: (N, D) global embeddings, or (S, N, D): S sets of embeddings scored against the
            same local features in one pass (e.g. h(x) and h(x_adv) in NAMID), which keeps one
            copy of ``local`` for backward instead of S.
        diagonal: ``"exclude"`` (default, the clean estimator above) or ``"zero"``, the released
            code's quirk: the positive pair is set to 0 (not removed) inside the log-sum-exp, which
            adds an extra ``exp(0) = 1`` term to the negatives while still dividing by ``N - 1``.

    Returns:
        (N,) scores, or (S, N) for a stacked ``global_``. With ``N = 1`` there are no negatives and
        the DV bound is undefined: the score is defined as 0 (a tensor connected to the inputs'
        graph with zero gradient), never NaN.

    Examples:
        >>> import torch
        >>> from mireg.functional import dv_local_scores
        >>> dv_local_scores(torch.randn(8, 16, 4), torch.randn(8, 16)).shape
        torch.Size([8])
    """
    check_tensor("local", local, ndim=3)
    check_tensor("global_", global_, min_ndim=2)
    check_choice("diagonal", diagonal, ("exclude", "zero"))
    n, d, k = local.shape
    if n == 0:
        raise ValueError("local is an empty batch (N = 0)")
    if global_.dim() > 3 or global_.shape[-2:] != (n, d):
        raise ValueError(f"global_ must have shape (N, D) = ({n}, {d}) or (S, N, D) to match local (N, D, K) = "
                         f"{tuple(local.shape)}, got {tuple(global_.shape)}")
    stacked = global_.reshape(-1, n, d)
    sets = stacked.shape[0]
    # s[g, i, j, k] = <G_{g,i}, L_{j,k}> as one matmul against a (D, N*K) copy of the local features
    scores = (stacked.reshape(sets * n, d) @ local.transpose(0, 1).reshape(d, n * k)).view(sets, n, n, k)
    if n == 1:
        out = scores.sum(dim=(2, 3)) * 0.0
    else:
        eye = torch.eye(n, dtype=torch.bool, device=local.device).view(1, n, n, 1)
        positive = scores.diagonal(dim1=1, dim2=2).transpose(1, 2)  # (S, N, K): s[g, i, i, k]
        masked = scores.masked_fill(eye, float("-inf") if diagonal == "exclude" else 0.0)
        negative = torch.logsumexp(masked, dim=2) - math.log(n - 1)  # (S, N, K)
        out = (positive - negative).mean(dim=2)
    return out if global_.dim() == 3 else out[0]


def dv_bound(t_joint: torch.Tensor, t_marginal: torch.Tensor) -> torch.Tensor:
    r"""Batch-level Donsker-Varadhan lower bound on MI (MINE, Belghazi et al. 2018, Eq. 10).

    .. math:: \hat I = \frac{1}{N}\sum_i T(x_i, z_i) - \log \frac{1}{M}\sum_j e^{T(x_j, \bar z_j)}

    Args:
        t_joint: (N,) critic values on samples of the joint distribution.
        t_marginal: (M,) critic values on samples of the product of marginals (e.g. shuffled z).

    Returns:
        A scalar tensor (nats).

    Examples:
        >>> import torch
        >>> from mireg.functional import dv_bound
        >>> dv_bound(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]))
        tensor(1.5000)
    """
    check_tensor("t_joint", t_joint, ndim=1)
    check_tensor("t_marginal", t_marginal, ndim=1)
    if t_joint.numel() == 0 or t_marginal.numel() == 0:
        raise ValueError("t_joint and t_marginal must be non-empty")
    return t_joint.mean() - (torch.logsumexp(t_marginal, dim=0) - math.log(t_marginal.numel()))


def mine_surrogate(t_joint: torch.Tensor, t_marginal: torch.Tensor, log_ma: torch.Tensor | None,
                   rate: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    r"""MINE's bias-corrected objective (Belghazi et al. 2018, Sec. 3.2), to be *maximised*.

    The gradient of ``log E_Q[e^T]`` estimated on a mini-batch is biased; MINE replaces its
    denominator by a moving average ``ma`` of ``E_Q[e^T]``. The returned surrogate
    ``mean(T_joint) - mean(e^{T_marginal}) / ma`` (with ``ma`` detached) has exactly that
    corrected gradient. It is computed in the log domain for stability.

    Args:
        t_joint: (N,) critic values on joint samples.
        t_marginal: (M,) critic values on marginal samples.
        log_ma: scalar tensor, log of the running mean of ``E_Q[e^T]``; ``None`` on the first step
            (the running mean starts at the current batch value).
        rate: the moving-average rate in (0, 1].

    Returns:
        ``(surrogate, new_log_ma)``: the surrogate scalar (its value is not the bound; report
        :func:`dv_bound` instead) and the updated, detached running log-mean.

    Examples:
        >>> import torch
        >>> from mireg.functional import mine_surrogate
        >>> surrogate, log_ma = mine_surrogate(torch.randn(8), torch.randn(8), None)
        >>> surrogate.shape, log_ma.requires_grad
        (torch.Size([]), False)
    """
    check_tensor("t_joint", t_joint, ndim=1)
    check_tensor("t_marginal", t_marginal, ndim=1)
    check_number("rate", rate, low=0.0, high=1.0, low_open=True)
    if t_joint.numel() == 0 or t_marginal.numel() == 0:
        raise ValueError("t_joint and t_marginal must be non-empty")
    log_mean_exp = torch.logsumexp(t_marginal, dim=0) - math.log(t_marginal.numel())
    current = log_mean_exp.detach()
    if log_ma is not None:
        check_tensor("log_ma", log_ma, ndim=0)
    if log_ma is None or rate == 1.0:
        new_log_ma = current
    else:
        new_log_ma = torch.logaddexp(log_ma.detach().to(current) + math.log1p(-rate), current + math.log(rate))
    surrogate = t_joint.mean() - torch.exp(log_mean_exp - new_log_ma)
    return surrogate, new_log_ma


def cosine_loss(a: torch.Tensor, b: torch.Tensor, *, eps: float = 1e-8) -> torch.Tensor:
    r"""``Lcos(a, b) = 1 - cos(a, b)`` over the last dimension (NAMID Eq. 8).

    In NAMID, ``a`` and ``b`` are the vectors of per-sample MI values of the selected samples on
    adversarial and on natural inputs, so Lcos aligns the *direction* of the MI profile across the
    batch (scale-invariant; in [0, 2]). Zero vectors give ``cos = 0`` (``Lcos = 1``) with finite
    gradients.

    Args:
        a: a tensor of shape (..., M).
        b: a tensor of the same shape as ``a``.
        eps: the floor of the norms in the cosine.

    Returns:
        A tensor of shape (...,).

    Examples:
        >>> import torch
        >>> from mireg.functional import cosine_loss
        >>> cosine_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0]))  # orthogonal
        tensor(1.)
    """
    check_tensor("a", a, min_ndim=1)
    check_tensor("b", b, min_ndim=1)
    check_same_shape("a", a, "b", b)
    return 1.0 - F.cosine_similarity(a, b, dim=-1, eps=eps)


def namid_selection(logits_nat: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""The samples of NAMID's Eq. 6: correctly classified on x AND misclassified on x_adv.

    .. math:: X' = \{ x_i : \arg\max_c h(x_i)_c = y_i,\ \arg\max_c h(\tilde x_i)_c \ne y_i \}

    The argmax is over classes (``logits.argmax(1)``); the released code's argmax of
    ``softmax(logits, dim=0)`` (a softmax over the *batch*) is a bug and is not reproduced.

    Args:
        logits_nat: (B, K) logits on natural inputs.
        logits_adv: (B, K) logits on adversarial inputs.
        y: (B,) integer labels.

    Returns:
        (B,) boolean mask (no gradient).

    Examples:
        >>> import torch
        >>> from mireg.functional import namid_selection
        >>> namid_selection(torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]]), torch.tensor([0]))
        tensor([True])
    """
    check_tensor("logits_nat", logits_nat, ndim=2)
    check_tensor("logits_adv", logits_adv, ndim=2)
    check_same_shape("logits_nat", logits_nat, "logits_adv", logits_adv)
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError("y must be a tensor of integer class indices (e.g. torch.long)")
    if y.shape != logits_nat.shape[:1]:
        raise ValueError(f"y must have shape ({logits_nat.shape[0]},), got {tuple(y.shape)}")
    with torch.no_grad():
        return (logits_nat.argmax(1) == y) & (logits_adv.argmax(1) != y)
