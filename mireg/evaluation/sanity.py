"""Sanity checks against gradient masking, reported with every evaluation.

Following Athalye, Carlini & Wagner (ICML 2018, Sec. 3.1 "signs of obfuscated gradients") and
Carlini et al. ("On Evaluating Adversarial Robustness", 2019, Sec. 5-6), a defense whose numbers
trust gradients is suspect when

1. a stronger attack scores HIGHER than a weaker one (iterative vs single step, more vs fewer
   steps): :func:`check_orderings`, e.g. acc(PGD-100) <= acc(PGD-20) <= acc(FGSM);
2. robust accuracy does not fall to about 0 as eps grows (an unbounded attack must always win):
   :func:`check_eps_curve`;
3. a black-box attack (transfer, SPSA, Square) does BETTER than the white-box attacks:
   :func:`check_blackbox`;
4. inputs have exactly zero loss gradient (AutoAttack's ``check_zero_gradients``):
   :func:`check_zero_gradients`;
5. an attack leaves its threat model (outside the eps-ball or [0, 1]): :func:`check_threat_model`.

The check functions are pure (numbers in, :class:`SanityCheck` out); the probes that need the
model (:func:`gradient_probe`, :func:`eps_sweep`, :func:`blackbox_probe`) are run by
:func:`mireg.evaluate` when ``sanity=True``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torchattacks
from torch import nn
from torch.nn import functional as F

from mireg.evaluation.report import AttackResult, SanityCheck
from mireg.evaluation.suites import format_eps

__all__ = [
    "check_orderings", "check_eps_curve", "check_blackbox", "check_blackbox_probe", "check_zero_gradients",
    "check_threat_model",
    "gradient_probe", "eps_sweep", "blackbox_probe", "EPS_MULTIPLIERS",
]

#: Radii of the eps sweep, as multiples of the suite's eps (L-inf capped at 1).
EPS_MULTIPLIERS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def _tolerance(n: int, tol: float) -> float:
    """Accuracy slack: ``tol`` or one sample, whichever is larger."""
    return max(tol, 1.0 / max(n, 1))


def check_orderings(accuracy: Mapping[str, float], chains: Sequence[Sequence[str]], n: int,
                    tol: float = 0.005) -> list[SanityCheck]:
    """Each chain ``(strong, ..., weak)`` must have non-decreasing accuracy (within tolerance)."""
    checks = []
    slack = _tolerance(n, tol)
    for chain in chains:
        present = [lab for lab in chain if lab in accuracy]
        if len(present) < 2:
            continue
        bad = [(a, b) for a, b in zip(present, present[1:], strict=False) if accuracy[a] > accuracy[b] + slack]
        text = " <= ".join(f"{lab} {100 * accuracy[lab]:.2f}%" for lab in present)
        if bad:
            msg = "; ".join(f"{a} ({100 * accuracy[a]:.2f}%) scores higher than the weaker {b} "
                            f"({100 * accuracy[b]:.2f}%)" for a, b in bad)
            checks.append(SanityCheck("stronger attacks score lower", False, msg, {"chain": list(present)}))
        else:
            checks.append(SanityCheck("stronger attacks score lower", True, text, {"chain": list(present)}))
    return checks


def check_eps_curve(eps: Sequence[float], accuracy: Sequence[float], n: int, vanish_at: float = 0.05,
                    tol: float = 0.01, norm: str = "Linf") -> list[SanityCheck]:
    """Accuracy must not increase with eps and must reach <= ``vanish_at`` at the largest eps."""
    slack = _tolerance(n, tol)
    pairs = sorted(zip(eps, accuracy, strict=True))
    rises = [(e0, a0, e1, a1) for (e0, a0), (e1, a1) in zip(pairs, pairs[1:], strict=False) if a1 > a0 + slack]
    checks = []
    if rises:
        msg = "; ".join(f"{100 * a1:.2f}% at eps {format_eps(e1, norm)} > {100 * a0:.2f}% at {format_eps(e0, norm)}"
                        for e0, a0, e1, a1 in rises)
        checks.append(SanityCheck("accuracy falls as eps grows", False, msg))
    else:
        checks.append(SanityCheck("accuracy falls as eps grows", True, "non-increasing over "
                                  + ", ".join(format_eps(e, norm) for e, _ in pairs)))
    e_max, a_max = pairs[-1]
    ok = a_max <= vanish_at
    checks.append(SanityCheck(
        "accuracy vanishes at large eps", ok,
        f"{100 * a_max:.2f}% at eps {format_eps(e_max, norm)} ({'<=' if ok else '>'} {100 * vanish_at:.0f}%)",
        {"eps": e_max, "accuracy": a_max}))
    return checks


def check_blackbox(results: Mapping[str, AttackResult], clean_correct: torch.Tensor,
                   tol: float = 0.002) -> list[SanityCheck]:
    """Black-box/transfer attacks must not beat the white-box ones.

    Two views: (a) each black-box accuracy >= the lowest white-box accuracy - tol; (b) the share of
    points broken by a black-box attack but by NO white-box attack is <= tol (AutoAttack's
    ``check_square_sr`` uses the same 0.2% slack).
    """
    white = {k: r for k, r in results.items() if r.kind == "white-box"}
    black = {k: r for k, r in results.items() if r.kind != "white-box"}
    if not white or not black:
        return []
    n = int(clean_correct.numel())
    slack = _tolerance(n, tol)
    best_white = min(white, key=lambda k: white[k].accuracy)
    white_robust = clean_correct.clone()
    for r in white.values():
        white_robust &= r.robust
    checks = []
    for label, r in black.items():
        lower = r.accuracy < white[best_white].accuracy - slack
        only_black = int((white_robust & ~r.robust).sum())
        share = only_black / max(n, 1)
        ok = not lower and share <= slack
        best = white[best_white].accuracy
        msg = (f"{label} {100 * r.accuracy:.2f}% vs white-box best {best_white} {100 * best:.2f}%;"
               f" {only_black} point(s) broken only by {label}")
        checks.append(SanityCheck("black-box does not beat white-box", ok, msg,
                                  {"attack": label, "only_black_box": only_black}))
    return checks


def check_zero_gradients(n_zero: int, n: int) -> SanityCheck:
    """No input may have an exactly zero loss gradient."""
    ok = n_zero == 0
    return SanityCheck("non-zero input gradients", ok,
                       f"{n_zero} of {n} point(s) have an exactly zero input gradient of the loss",
                       {"zero_gradient_points": n_zero})


def check_threat_model(results: Mapping[str, AttackResult]) -> list[SanityCheck]:
    """Every bounded attack stays in its eps-ball and every attack in [0, 1]."""
    bad = {k: (r.ball_violations, r.range_violations) for k, r in results.items()
           if r.ball_violations or r.range_violations}
    if not results:
        return []
    if bad:
        msg = "; ".join(f"{k}: {b} outside the ball, {c} outside [0, 1]" for k, (b, c) in bad.items())
        return [SanityCheck("attacks respect the threat model", False, msg)]
    return [SanityCheck("attacks respect the threat model", True, "all perturbations inside the ball and [0, 1]")]


# ----------------------------------------------------------------------------------------------
# Probes (need the model).

def _batches(n: int, batch_size: int):
    return torch.arange(n).split(batch_size)


def gradient_probe(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                   device: torch.device) -> int:
    """Number of points whose cross-entropy gradient w.r.t. the input is exactly zero."""
    zero = 0
    for idx in _batches(len(y), batch_size):
        xb = x[idx].to(device).requires_grad_(True)
        loss = F.cross_entropy(model(xb), y[idx].to(device), reduction="sum")
        (grad,) = torch.autograd.grad(loss, xb)
        zero += int((grad.flatten(1).abs().sum(1) == 0).sum())
    return zero


def _predict(model: nn.Module, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    with torch.no_grad():
        return model(x.to(device)).argmax(1).cpu()


def eps_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, batch_size: int,
              device: torch.device, steps: int = 20, multipliers: Sequence[float] = EPS_MULTIPLIERS,
              seed: int = 0) -> dict[str, list[float]]:
    """Robust accuracy of PGD (steps, step 2.5 eps/steps, random start) at growing radii."""
    radii = sorted({min(m * eps, 1.0) if norm == "Linf" else m * eps for m in multipliers})
    accs = []
    for j, radius in enumerate(radii):
        alpha = 2.5 * radius / steps
        if norm == "Linf":
            attack = torchattacks.PGD(model, eps=radius, alpha=alpha, steps=steps, random_start=True)
        else:
            attack = torchattacks.PGDL2(model, eps=radius, alpha=alpha, steps=steps, random_start=True)
        correct = 0
        torch.manual_seed(seed + 7919 * (j + 1))
        for idx in _batches(len(y), batch_size):
            xb, yb = x[idx].to(device), y[idx].to(device)
            correct += int((_predict(model, attack(xb, yb), device) == y[idx]).sum())
        accs.append(correct / max(len(y), 1))
    return {"attack": f"PGD-{steps}", "eps": radii, "accuracy": accs}


def blackbox_probe(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float,
                   candidates: torch.Tensor, batch_size: int, device: torch.device, n_queries: int = 1000,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Square attack (score-based; Andriushchenko et al., ECCV 2020) on the ``candidates`` points.

    Returns ``(broken, pred)``: (n,) bool flags of candidate points Square misclassifies inside the
    ball, and the predictions on its adversarial examples (clean labels elsewhere).
    """
    broken = torch.zeros(len(y), dtype=torch.bool)
    pred = y.clone()
    idx_all = candidates.nonzero().flatten()
    if len(idx_all) == 0:
        return broken, pred
    attack = torchattacks.Square(model, norm=norm, eps=eps, n_queries=n_queries, seed=seed)
    for idx in idx_all.split(batch_size):
        xb, yb = x[idx].to(device), y[idx].to(device)
        adv = attack(xb, yb)
        p = _predict(model, adv, device)
        delta = (adv - xb).flatten(1).cpu()
        size = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
        inside = size <= eps * (1 + 1e-4) + 1e-6
        broken[idx] = (p != y[idx]) & inside
        pred[idx] = p
    return broken, pred


def check_blackbox_probe(n_broken: int, n: int, n_queries: int, tol: float = 0.002) -> SanityCheck:
    """Square (a black-box attack) must not break points that survived every white-box attack."""
    slack = _tolerance(n, tol)
    ok = n_broken / max(n, 1) <= slack
    return SanityCheck("black-box does not beat white-box", ok,
                       f"Square ({n_queries} queries) broke {n_broken} of {n} point(s) that survived every "
                       "white-box attack", {"attack": f"Square-{n_queries}", "only_black_box": n_broken})
