"""Random features (:mod:`theory.random_features`, :mod:`simulations.random_features`): speed ratios.

1. the eigenframework fixed point (one monotone equation in ``log gamma``, safeguarded
   Newton) against the nested bisection of the authors' public code (an inner bisection
   for ``gamma`` given ``kappa`` on equation (1), an outer bisection in ``log kappa`` on
   equation (2)), both to full double precision, over a grid of ``(n, N, ridge)`` that
   includes ridges down to 1e-12 on both sides of ``n = N`` and ``N = inf``; the two
   answers are checked to agree to 1e-10 relative;
2. the Monte Carlo (:func:`simulations.random_features.rf_risk`) against its plain-numpy
   baseline, when the simulation module provides both.
"""

from __future__ import annotations

import math

import numpy as np

from . import _timing

REPEAT = 3


def nested_bisection(lam, n, N, ridge):
    """``(kappa, gamma)`` by nested bisections, iterated until the bracket stops shrinking.

    Inner: ``sum_i lambda_i/(lambda_i + gamma) + ridge/kappa = n`` for ``gamma`` given ``kappa``
    (bisection in ``log gamma``); outer: ``sum_i L_i + N kappa/gamma = N`` for ``log kappa``.
    """

    def bisect(f, lo, hi):
        flo = f(lo)
        while True:
            mid = 0.5 * (lo + hi)
            if mid <= lo or mid >= hi:
                return mid
            fm = f(mid)
            if (fm > 0) == (flo > 0):
                lo, flo = mid, fm
            else:
                hi = mid

    def z(gamma):
        return float(np.sum(lam / (lam + gamma)))

    def inner(kappa):  # decreasing in log gamma; n - ridge/kappa must be reachable
        return math.exp(bisect(lambda t: z(math.exp(t)) + ridge / kappa - n, -60.0, 60.0))

    def outer(logk):
        kappa = math.exp(logk)
        gamma = inner(kappa)
        if not math.isfinite(N):
            return kappa / gamma - 1.0
        return z(gamma) + N * kappa / gamma - N

    logk = bisect(outer, -60.0, 60.0)
    kappa = math.exp(logk)
    return kappa, inner(kappa)


def _grid():
    from theory.random_features import power_law

    lam, _ = power_law(1.5, 1.3, 400)
    pts = [(n, N, d) for n in (50, 100) for N in (60, 99, 101, 300, math.inf) for d in (1e-12, 1e-6, 1e-2, 1.0)]
    return lam, pts


def solver_vs_nested_bisection(quick: bool) -> dict:
    from theory.random_features import effective_regularization

    lam, pts = _grid()
    if quick:
        pts = pts[::4]

    def ours():
        return [effective_regularization(lam, n, N, d) for n, N, d in pts]

    def nested():
        return [nested_bisection(lam, n, N, d) for n, N, d in pts]

    t_ours, a = _timing.best_of(ours, repeat=REPEAT)
    t_nested, b = _timing.best_of(nested, repeat=1, warmup=0)
    worst = max(max(abs(k1 - k2) / k2, abs(g1 - g2) / g2) for (k1, g1), (k2, g2) in zip(a, b))
    if not worst <= 1e-10:
        raise RuntimeError(f"the fixed-point solvers disagree: worst relative difference {worst:.3g}")
    return dict(
        id="random_features/solver-vs-nested-bisection",
        benchmark=f"eigenframework fixed point, {len(pts)} (n, N, ridge) points, M = {lam.size}",
        baseline=f"nested bisection {_timing.duration(t_nested)}", candidate=f"monotone Newton {_timing.duration(t_ours)}",
        ratio=t_nested / t_ours,
        note=f"speedup; both to full precision; agree to {worst:.1e} relative (kappa, gamma)",
        baseline_s=t_nested, candidate_s=t_ours,
    )


def rows(quick: bool) -> list[dict]:
    _timing.say("random_features: fixed-point solver vs nested bisection")
    return [solver_vs_nested_bisection(quick)]
