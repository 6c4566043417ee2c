"""Random features (:mod:`theory.random_features`, :mod:`simulations.random_features`): speed ratios.

1. the eigenframework fixed point (one monotone equation in ``log gamma``, safeguarded
   Newton) against the nested bisection of the authors' public code (an inner bisection
   for ``gamma`` given ``kappa`` on equation (1), an outer bisection in ``log kappa`` on
   equation (2)), both to full double precision, over a grid of ``(n, N, ridge)`` that
   includes ridges down to 1e-12 on both sides of ``n = N`` and ``N = inf``; the two
   answers are checked to agree to 1e-10 relative;
2. the Monte Carlo (:func:`simulations.random_features.rf_risk`, numba, ``prange`` over
   chunks) against its plain-numpy baseline (same draws, same outputs, checked to agree);
3. the Monte Carlo with 1 against 2 numba threads (fresh processes; per-draw risks hashed);
4. its first call with a cold numba cache against a warm one;
5. the Monte Carlo against drawing its random numbers alone (``F``, ``Z``, ``eps`` per draw,
   same generators, counts and order): its floor.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from . import _timing

#: the Monte Carlo problem: eigenvalues i^-1.5, 200 modes, n = 64, N = 128, 8 ridges (the claims' sizes)
MC = dict(n=64, features=128, modes=200, ridges=(0.0, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0), noise=0.05, seed=0)
DRAWS = {False: 2000, True: 200}
COLD_DRAWS = 16


def _mc_args(quick: bool, draws: int | None = None) -> tuple:
    from theory.random_features import power_law

    lam, v = power_law(1.5, 1.5, MC["modes"])
    return (lam, v, MC["noise"], MC["n"], MC["features"], np.array(MC["ridges"]),
            DRAWS[quick] if draws is None else draws, MC["seed"])


def _sha256(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _child(mode: str, quick: bool) -> None:
    """In a subprocess: one JSON line, the warm best-of time and hash, or the first call's time."""
    import time

    import numba

    from simulations.random_features import rf_risk

    if mode == "first":
        t0 = time.perf_counter()
        rf_risk.uncached(*_mc_args(quick, COLD_DRAWS))
        print(json.dumps({"seconds": time.perf_counter() - t0, "threads": numba.get_num_threads()}))
        return
    seconds, res = _timing.best_of(lambda: rf_risk.uncached(*_mc_args(quick)), repeat=REPEAT)
    print(json.dumps({"seconds": seconds, "sha256": _sha256(res.test), "threads": numba.get_num_threads()}))


def _spawn(mode: str, quick: bool, env: dict) -> dict:
    code = f"from benchmarks.random_features import _child; _child({mode!r}, {bool(quick)!r})"
    return _timing.run_json(code, env=env)


def mc_numba_vs_numpy(quick: bool) -> tuple[dict, float]:
    import numba

    from simulations.random_features import rf_risk, rf_risk_numpy

    args = _mc_args(quick)
    t_numba, fast = _timing.best_of(lambda: rf_risk.uncached(*args), repeat=REPEAT)
    t_numpy, slow = _timing.best_of(lambda: rf_risk_numpy(*args), repeat=REPEAT)
    np.testing.assert_allclose(fast.test, slow.test, rtol=1e-10)
    # ridge 0 with n < N interpolates: its training error is rounding, of order (max(n, N) eps)^2 |y|^2
    floor = (max(MC["n"], MC["features"]) * np.finfo(float).eps) ** 2 * float(fast.test.max())
    np.testing.assert_allclose(fast.train, slow.train, rtol=1e-10, atol=floor)
    threads = numba.get_num_threads()
    return dict(
        id="random_features/numba-vs-numpy",
        benchmark=f"RF ridge MC, {args[6]} draws, n={MC['n']} N={MC['features']} M={MC['modes']}, 8 ridges",
        baseline=f"numpy {_timing.duration(t_numpy)}", candidate=f"numba {_timing.duration(t_numba)}",
        ratio=t_numpy / t_numba,
        note=f"speedup; warm, best of {REPEAT}; {threads} numba threads; BLAS 1 thread; risks agree (rtol 1e-10)",
        baseline_s=t_numpy, candidate_s=t_numba, threads=threads, risks_sha256=_sha256(fast.test),
    ), t_numba


def mc_threads(quick: bool) -> dict:
    return _timing.threads_row("random_features/threads-1-vs-2", f"RF ridge MC, {DRAWS[quick]} draws", "risks",
                               lambda env: _spawn("warm", quick, env))


def mc_cold_vs_warm(quick: bool) -> dict:
    return _timing.cold_warm_row("random_features/cold-vs-warm-cache", f"RF MC first call, {COLD_DRAWS} draws", lambda env: _spawn("first", quick, env))


def mc_draw_floor(quick: bool, t_kernel: float) -> dict:
    from simulations import rng

    lam, v, noise, n, N, ridges, draws, seed = _mc_args(quick)
    M = lam.size

    def only_draws():
        for g, cnt in zip(rng.generators(seed, 16), rng.chunk_sizes(draws, 16)):
            for _ in range(cnt):
                g.standard_normal((N, M))
                g.standard_normal((n, M))
                g.standard_normal(n)

    t_draw, _ = _timing.best_of(only_draws, repeat=REPEAT)
    return dict(
        id="random_features/kernel-vs-draws", benchmark=f"draw floor, {draws} draws of F, Z, eps",
        baseline=f"numba MC {_timing.duration(t_kernel)}", candidate=f"draws only {_timing.duration(t_draw)}",
        ratio=t_kernel / t_draw,
        note="the MC (as above, 2 threads) in units of drawing its normals alone (numpy, 1 thread): "
             "drawing the N x M and n x M normals is most of the MC's time",
        baseline_s=t_kernel, candidate_s=t_draw,
    )

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
    solver = solver_vs_nested_bisection(quick)
    _timing.say("random_features: MC numba vs numpy")
    mc, t_kernel = mc_numba_vs_numpy(quick)
    _timing.say("random_features: MC draw-only floor")
    floor = mc_draw_floor(quick, t_kernel)
    _timing.say("random_features: MC 1 vs 2 numba threads (subprocesses)")
    threads = mc_threads(quick)
    _timing.say("random_features: MC cold vs warm numba cache (subprocesses)")
    cache = mc_cold_vs_warm(quick)
    return [solver, mc, threads, cache, floor]
