"""Statistics of a reproduction: mean ± standard deviation over seeds and seed-paired differences
with 95% t-intervals, in plain Python (no scipy, no numpy).

For ``n`` seeds with values ``v_1..v_n``: mean, the sample standard deviation (divisor ``n - 1``).
A method is compared with the study's baseline by the differences ``d_i = a_i - b_i`` of the seeds
both ran; the 95% interval is ``mean(d) ± t_{0.975, n-1} · sd(d) / sqrt(n)`` (Student's t, exact
for normally distributed differences). The t quantile inverts the t distribution function, written
with the regularised incomplete beta function (continued fraction, Numerical Recipes §6.4).

Example::

    >>> round(summarize([0.70, 0.72, 0.71])["std"], 12)
    0.01
    >>> round(t_quantile(0.975, 4), 3)
    2.776
    >>> round(paired_difference({0: 0.72, 1: 0.70}, {0: 0.70, 1: 0.69})["mean"], 12)
    0.015
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["summarize", "t_cdf", "t_quantile", "paired_difference"]


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "n"}`` of ``values`` (std: divisor n - 1; None for n < 2; mean None for n = 0).

    Args:
        values: one number per seed.

    Returns:
        ``{"mean", "std", "n"}``.

    Examples:
        >>> from mireg.reproduce import summarize
        >>> round(summarize([0.70, 0.72, 0.71])["std"], 12), summarize([0.5])
        (0.01, {'mean': 0.5, 'std': None, 'n': 1})
    """
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    mean = math.fsum(vals) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std, "n": n}


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def _regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function, for 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def _check_df(df: float) -> float:
    if isinstance(df, bool) or not isinstance(df, (int, float)) or not df > 0 or math.isinf(df):
        raise ValueError(f"df (degrees of freedom) must be a finite number > 0, got {df!r}")
    return float(df)


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    df = _check_df(df)
    tail = 0.5 * _regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (``t_quantile(0.975, 4)`` = 2.776).

    Bisection on :func:`t_cdf` to 1e-12 relative accuracy; exact symmetric: ``t(1 - p) = -t(p)``.

    Args:
        p: the probability, in (0, 1).
        df: the degrees of freedom (> 0).

    Returns:
        The quantile.

    Examples:
        >>> from mireg.reproduce import t_quantile
        >>> round(t_quantile(0.975, 4), 3), round(t_quantile(0.025, 4), 3)
        (2.776, -2.776)
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p < 1.0:
        raise ValueError(f"p must be a probability strictly between 0 and 1, got {p!r}")
    df = _check_df(df)
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


def paired_difference(values: Mapping[Any, float], baseline: Mapping[Any, float],
                      confidence: float = 0.95) -> dict[str, Any]:
    """Seed-paired difference ``values - baseline`` over the keys (seeds) both hold.

    Returns ``{"mean", "std", "n", "low", "high", "t", "seeds"}``: the mean difference, its sample
    standard deviation, the number of pairs, the two-sided ``confidence`` t-interval (``low``/``high``
    None for fewer than 2 pairs) and the quantile ``t`` used.

    Args:
        values: seed -> the method's number.
        baseline: seed -> the baseline's number.
        confidence: the two-sided level of the interval.

    Returns:
        ``{"mean", "std", "n", "low", "high", "t", "seeds"}``.

    Examples:
        >>> from mireg.reproduce import paired_difference
        >>> diff = paired_difference({0: 0.72, 1: 0.70, 2: 0.71}, {0: 0.70, 1: 0.69, 2: 0.70})
        >>> round(diff["mean"], 12), diff["n"], diff["low"] < diff["mean"] < diff["high"]
        (0.013333333333, 3, True)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    seeds = sorted(k for k in values if k in baseline)
    diffs = [float(values[k]) - float(baseline[k]) for k in seeds]
    out = summarize(diffs)
    out.update(low=None, high=None, t=None, seeds=seeds)
    if out["n"] >= 2:
        t = t_quantile(0.5 + confidence / 2.0, out["n"] - 1)
        half = t * out["std"] / math.sqrt(out["n"])
        out.update(low=out["mean"] - half, high=out["mean"] + half, t=t)
    return out
