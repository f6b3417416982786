"""Independent float64 NumPy re-derivations of the loss formulas, written from the papers and the
reference code's equations (not from mireg's implementation)."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp, xlogy


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return z - logsumexp(z, axis=1, keepdims=True)


def entropy(z, normalize=False):
    p = softmax(z)
    h = -xlogy(p, p).sum(axis=1)
    return h / np.log(z.shape[1]) if normalize else h


def cross_entropy(z, y):
    return -log_softmax(z)[np.arange(len(y)), y]


def kl(p, q_log):
    """KL(p || q) from probabilities p and log q, with 0 log 0 = 0 (torch KLDivLoss semantics)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cross = np.where(p > 0, p * q_log, 0.0)
    return (xlogy(p, p) - cross).sum(axis=1)


def divergence(z_nat, z_adv, kind):
    p, q = softmax(z_nat), softmax(z_adv)
    if kind == "mse":
        return ((q - p) ** 2).sum(axis=1)
    if kind == "kl":
        return kl(p, log_softmax(z_adv))
    if kind == "ce":
        return -(p * log_softmax(z_adv)).sum(axis=1)
    m = (p + q) / 2
    with np.errstate(divide="ignore"):
        log_m = np.log(m)
    return 0.5 * kl(p, log_m) + 0.5 * kl(q, log_m)


def weight(z_nat, y, kind, normalize=False):
    if kind == "entropy":
        return entropy(z_nat, normalize)
    if kind == "none":
        return np.ones(len(z_nat))
    return 1.0 - softmax(z_nat)[np.arange(len(y)), y]


def infoat(z_nat, z_adv, y, lam, beta, divergence_kind="mse", weight_kind="entropy", normalize=False):
    """InfoAT Eq. 17 per sample: CE(p(x'), y) + lam H(p(x)) ||p(x') - p(x)||^2 - beta H(p(x'))."""
    return (cross_entropy(z_adv, y) + lam * weight(z_nat, y, weight_kind, normalize)
            * divergence(z_nat, z_adv, divergence_kind) - beta * entropy(z_adv, normalize))


def infopgd(z_adv, y, z_nat, lam):
    """InfoPGD Eq. 18 per sample."""
    return cross_entropy(z_adv, y) + lam * entropy(z_nat) * ((softmax(z_adv) - softmax(z_nat)) ** 2).sum(axis=1)


def trades(z_nat, z_adv, y, beta):
    """trades_loss: CE(f(x), y) + beta * KLDivLoss(sum)(log_softmax(f(x')), softmax(f(x))) / B, per sample."""
    return cross_entropy(z_nat, y) + beta * kl(softmax(z_nat), log_softmax(z_adv))


def mart(z_nat, z_adv, y, beta, weight_kind="1-p_y"):
    """mart_loss of YisenWang/MART with its constants, per sample."""
    q = softmax(z_adv)
    order = np.argsort(-q, axis=1, kind="stable")
    new_y = np.where(order[:, 0] == y, order[:, 1], order[:, 0])
    rows = np.arange(len(y))
    bce = cross_entropy(z_adv, y) - np.log(1.0001 - q[rows, new_y] + 1e-12)
    p = softmax(z_nat)
    kl_term = (xlogy(p, p) - p * np.log(q + 1e-12)).sum(axis=1)
    w = 1.0000001 - p[rows, y] if weight_kind == "1-p_y" else entropy(z_nat)
    return bce + beta * kl_term * w
