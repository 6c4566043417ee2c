"""Monte Carlo of kernel-ridge self-distillation, trained for real, step by step.

The data model (stated, shared with the claims and figures):

* inputs: ``n`` points drawn i.i.d. uniform on [0, 1] (``design="uniform"``), or
  the fixed grid ``0, 1/(n-1), ..., 1`` (``design="grid"``, the papers' toy design);
* targets: ``y = sin(2 pi x) + noise * N(0, 1)``, independent across points;
* kernel: RBF ``exp(-gamma (x - x')^2)``;
* each replicate trains the teacher (KRR with ridge ``ridge``) and ``steps``
  distillation steps per ``alpha`` by actually solving ``(K + ridge I) c = target``
  (one Cholesky factorisation per design, triangular solves per step), never
  through the eigen closed form the theory derives;
* test risk: ``mean_j (f_t(x_j) - sin(2 pi x_j))^2`` over a fixed grid of
  ``n_test`` points on [0, 1].

Replicates are split into a fixed number of chunks (``n_chunks``, independent
of the thread count); chunk ``i`` draws from its own generator spawned from
the seed (:mod:`simulations.rng`): first all its designs, then all its noise.
Replicates are independent, so the standard errors are the sample standard
deviation over replicates divided by sqrt(replicates).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from . import _checks, rng
from .cache import cached

DESIGNS = ("uniform", "grid")


@dataclass(frozen=True)
class DistillationRisk:
    """Monte Carlo test risk of the teacher (step 0) and its distilled students."""

    estimate: np.ndarray      # (n_alpha, steps + 1) mean test risk
    stderr: np.ndarray        # (n_alpha, steps + 1)
    risks: np.ndarray         # (replicates, n_alpha, steps + 1) per-replicate test risk
    designs: np.ndarray       # (replicates, n) training inputs of each replicate
    fit_mean: np.ndarray      # (n_alpha, steps + 1, n_test) mean fitted function on the test grid
    fit_stderr: np.ndarray    # (n_alpha, steps + 1, n_test)
    alphas: np.ndarray
    x_test: np.ndarray
    n_samples: int
    params: dict


def target_function(x):
    """The regression function of the data model: ``sin(2 pi x)``."""
    return np.sin(2.0 * np.pi * _checks.finite("x", x))


def _cholesky_solve(L, b, out):
    n = L.shape[0]
    tmp = np.empty(n)
    for i in range(n):
        s = b[i]
        for k in range(i):
            s -= L[i, k] * tmp[k]
        tmp[i] = s / L[i, i]
    for i in range(n - 1, -1, -1):
        s = tmp[i]
        for k in range(i + 1, n):
            s -= L[k, i] * out[k]
        out[i] = s / L[i, i]


def _risk_kernel(gens, counts, offsets, n, grid_design, x_test, alphas, steps, ridge, gamma, noise,
                 risks, designs, fit_sum, fit_sq):
    """Numba kernel: ``prange`` over chunks, one generator each (see module docstring)."""
    m = x_test.shape[0]
    n_alpha = alphas.shape[0]
    two_pi = 2.0 * np.pi
    f_test = np.sin(two_pi * x_test)
    for c in prange(len(gens)):
        g = gens[c]
        cnt = counts[c]
        if grid_design:
            xs = np.empty((cnt, n))
            for r in range(cnt):
                for i in range(n):
                    xs[r, i] = i / (n - 1.0)
        else:
            xs = g.random((cnt, n))
        eps = g.standard_normal((cnt, n))
        K = np.empty((n, n))
        A = np.empty((n, n))
        Kt = np.empty((m, n))
        y = np.empty(n)
        yhat = np.empty(n)
        target = np.empty(n)
        coef = np.empty(n)
        pred = np.empty(m)
        for r in range(cnt):
            row = offsets[c] + r
            x = xs[r]
            for i in range(n):
                designs[row, i] = x[i]
                y[i] = np.sin(two_pi * x[i]) + noise * eps[r, i]
                for j in range(n):
                    dx = x[i] - x[j]
                    K[i, j] = np.exp(-gamma * dx * dx)
                    A[i, j] = K[i, j]
                A[i, i] += ridge
            for j in range(m):
                for i in range(n):
                    dx = x_test[j] - x[i]
                    Kt[j, i] = np.exp(-gamma * dx * dx)
            L = np.linalg.cholesky(A)
            for a in range(n_alpha):
                al = alphas[a]
                for s in range(steps + 1):
                    if s == 0:
                        for i in range(n):
                            target[i] = y[i]
                    else:
                        for i in range(n):
                            target[i] = al * y[i] + (1.0 - al) * yhat[i]
                    _cholesky_solve(L, target, coef)
                    for i in range(n):
                        acc = 0.0
                        for k in range(n):
                            acc += K[i, k] * coef[k]
                        yhat[i] = acc
                    risk = 0.0
                    for j in range(m):
                        acc = 0.0
                        for k in range(n):
                            acc += Kt[j, k] * coef[k]
                        pred[j] = acc
                        diff = acc - f_test[j]
                        risk += diff * diff
                        fit_sum[c, a, s, j] += acc
                        fit_sq[c, a, s, j] += acc * acc
                    risks[row, a, s] = risk / m


_cholesky_solve = njit(cache=True)(_cholesky_solve)
_risk_kernel_jit = njit(cache=True, parallel=True)(_risk_kernel)


def _validate(n, alphas, steps, ridge, gamma, noise, replicates, seed, design, n_test, n_chunks):
    def integer(name, v, low):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {_checks._short(v)}")
        return int(v)

    def real(name, v, low, open_=False):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < low or (open_ and v == low):
            raise ValueError(f"{name} must be a finite number {'>' if open_ else '>='} {low}, "
                             f"got {_checks._short(v)}")
        return float(v)

    n = integer("n", n, 2)
    steps = integer("steps", steps, 0)
    replicates = integer("replicates", replicates, 2)
    n_test = integer("n_test", n_test, 1)
    n_chunks = integer("n_chunks", n_chunks, 1)
    if replicates < n_chunks:
        raise ValueError(f"replicates must be >= n_chunks={n_chunks}, got {replicates}")
    ridge = real("ridge", ridge, 0.0, open_=True)
    gamma = real("gamma", gamma, 0.0, open_=True)
    noise = real("noise", noise, 0.0)
    a = _checks.array("alphas", [alphas] if isinstance(alphas, numbers.Real) else alphas, ndim=1)
    if not isinstance(design, str) or design not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(DESIGNS)}, got {_checks._short(design)}")
    rng.check_seed(seed)
    # per replicate: its risks and design; the mean fits on the test grid; per chunk: an n x n system
    grid = a.size * (steps + 1)
    _checks.memory("n, steps, replicates and n_test",
                   8.0 * (replicates * (grid + n) + 3 * grid * n_test + 4 * n_chunks * n * (n + n_test)),
                   f"n={n}, steps={steps}, replicates={replicates}, n_test={n_test}")
    _checks.work("replicates and steps", float(replicates) * grid, f"replicates={replicates} x steps={steps}")
    return n, a, steps, ridge, gamma, noise, replicates, design, n_test, n_chunks


def _summarize(risks, designs, fit_sum, fit_sq, alphas, x_test, params):
    R = risks.shape[0]
    est = risks.mean(axis=0)
    se = risks.std(axis=0, ddof=1) / math.sqrt(R)
    fs = fit_sum.sum(axis=0)
    fq = fit_sq.sum(axis=0)
    fit_mean = fs / R
    fit_var = np.maximum(fq / R - fit_mean**2, 0.0) * R / (R - 1)
    return DistillationRisk(estimate=est, stderr=se, risks=risks, designs=designs, fit_mean=fit_mean,
                            fit_stderr=np.sqrt(fit_var / R), alphas=alphas, x_test=x_test,
                            n_samples=int(R), params=params)


@cached
def distillation_risk(n, alphas, steps, ridge, gamma, noise, replicates, seed, design="uniform",
                      n_test=101, n_chunks=16) -> DistillationRisk:
    """Monte Carlo test risk of self-distillation over ``replicates`` draws of data and noise.

    Returns the mean risk per ``(alpha, step)`` with its standard error, the
    per-replicate risks and designs (so a claim can pair each replicate with the
    exact conditional expectation of its design), and the mean fitted functions.
    """
    n, a, steps, ridge, gamma, noise, replicates, design, n_test, n_chunks = _validate(
        n, alphas, steps, ridge, gamma, noise, replicates, seed, design, n_test, n_chunks)
    gens = rng.generators(seed, n_chunks)
    counts = rng.chunk_sizes(replicates, n_chunks)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    x_test = np.linspace(0.0, 1.0, n_test)
    risks = np.zeros((replicates, a.size, steps + 1))
    designs = np.zeros((replicates, n))
    fit_sum = np.zeros((n_chunks, a.size, steps + 1, n_test))
    fit_sq = np.zeros_like(fit_sum)
    _risk_kernel_jit(gens, counts, offsets, n, design == "grid", x_test, a, steps, ridge, gamma, noise,
                     risks, designs, fit_sum, fit_sq)
    params = dict(n=n, alphas=a.tolist(), steps=steps, ridge=ridge, gamma=gamma, noise=noise,
                  replicates=replicates, seed=int(seed), design=design, n_test=n_test, n_chunks=n_chunks)
    return _summarize(risks, designs, fit_sum, fit_sq, a, x_test, params)


def distillation_risk_numpy(n, alphas, steps, ridge, gamma, noise, replicates, seed, design="uniform",
                            n_test=101, n_chunks=16) -> DistillationRisk:
    """Plain vectorized-numpy baseline of :func:`distillation_risk`: same draws, same outputs.

    Batched over the replicates of a chunk with ``np.linalg.solve``; used by the
    benchmarks (speed ratio) and the tests (an independent implementation).
    """
    n, a, steps, ridge, gamma, noise, replicates, design, n_test, n_chunks = _validate(
        n, alphas, steps, ridge, gamma, noise, replicates, seed, design, n_test, n_chunks)
    gens = rng.generators(seed, n_chunks)
    counts = rng.chunk_sizes(replicates, n_chunks)
    x_test = np.linspace(0.0, 1.0, n_test)
    f_test = np.sin(2 * np.pi * x_test)
    all_risks, all_designs = [], []
    fit_sum = np.zeros((n_chunks, a.size, steps + 1, n_test))
    fit_sq = np.zeros_like(fit_sum)
    for c, (g, cnt) in enumerate(zip(gens, counts)):
        if design == "grid":
            xs = np.tile(np.arange(n) / (n - 1.0), (cnt, 1))
        else:
            xs = g.random((cnt, n))
        eps = g.standard_normal((cnt, n))
        y = np.sin(2 * np.pi * xs) + noise * eps
        K = np.exp(-gamma * (xs[:, :, None] - xs[:, None, :]) ** 2)
        Kt = np.exp(-gamma * (x_test[None, :, None] - xs[:, None, :]) ** 2)
        A = K + ridge * np.eye(n)
        risks = np.empty((cnt, a.size, steps + 1))
        for ai, al in enumerate(a):
            yhat = None
            for s in range(steps + 1):
                target = y if s == 0 else al * y + (1 - al) * yhat
                coef = np.linalg.solve(A, target[:, :, None])[:, :, 0]
                yhat = np.einsum("rij,rj->ri", K, coef)
                pred = np.einsum("rij,rj->ri", Kt, coef)
                risks[:, ai, s] = np.mean((pred - f_test) ** 2, axis=1)
                fit_sum[c, ai, s] = pred.sum(axis=0)
                fit_sq[c, ai, s] = (pred**2).sum(axis=0)
        all_risks.append(risks)
        all_designs.append(xs)
    params = dict(n=n, alphas=a.tolist(), steps=steps, ridge=ridge, gamma=gamma, noise=noise,
                  replicates=replicates, seed=int(seed), design=design, n_test=n_test, n_chunks=n_chunks)
    return _summarize(np.concatenate(all_risks), np.concatenate(all_designs), fit_sum, fit_sq, a, x_test, params)


def _gram(gram):
    """A non-empty, square, finite, symmetric positive semi-definite Gram matrix."""
    K = _checks.array("gram", gram, ndim=2, square=True)
    scale = max(float(np.abs(K).max()), np.finfo(float).tiny)
    if np.abs(K - K.T).max() > 8 * K.shape[0] * np.finfo(float).eps * scale:
        raise ValueError("gram must be symmetric")
    smallest = float(np.linalg.eigvalsh((K + K.T) / 2)[0])
    if smallest < -K.shape[0] * np.finfo(float).eps * scale:
        raise ValueError(f"gram must be positive semi-definite, got an eigenvalue {smallest:.3g}")
    return K


def _targets(y, n):
    ya = _checks.array("y", y, ndim=1)
    if ya.size != n:
        raise ValueError(f"y must have one entry per row of gram ({n}), got {ya.size}")
    return ya


def _ridge(ridge):
    if isinstance(ridge, bool) or not isinstance(ridge, numbers.Real) or not math.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be a finite number >= 0, got {_checks._short(ridge)}")
    return float(ridge)


def iterate_distillation(gram, y, ridge, alphas, steps):
    """Deterministic reference: train step by step with dense solves (no eigenbasis).

    Returns the training-point predictions ``(len(alphas), steps + 1, n)``.
    ``alphas`` may be one number or a sequence of per-step values (length ``steps``)
    when given as a 2-D array ``(n_runs, steps)``.
    """
    K = _gram(gram)
    y = _targets(y, K.shape[0])
    ridge = _ridge(ridge)
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {_checks._short(steps)}")
    try:
        per_step = np.ndim(alphas) == 2
    except ValueError:  # ragged
        per_step = False
    al = _checks.array("alphas", [alphas] if isinstance(alphas, numbers.Real) else alphas, ndim=2 if per_step else 1)
    if al.ndim == 2 and al.shape[1] != steps:
        raise ValueError(f"alphas given per step must have shape (n_runs, steps) = (n_runs, {steps}), got {al.shape}")
    _checks.memory("steps", 8.0 * (al.shape[0] * (steps + 1) * K.shape[0] + al.size * max(steps, 1)),
                   f"steps={steps} ({al.shape[0]} runs x (steps + 1) x {K.shape[0]} predictions)")
    _checks.work("steps", float(al.shape[0]) * steps * K.shape[0] ** 2, f"steps={steps} dense solves")
    steps = int(steps)
    A = K + ridge * np.eye(K.shape[0])
    al = al.reshape(-1, 1) * np.ones((1, max(steps, 1))) if al.ndim <= 1 else al
    out = np.empty((al.shape[0], steps + 1, K.shape[0]))
    for r in range(al.shape[0]):
        yhat = K @ np.linalg.solve(A, y)
        out[r, 0] = yhat
        for s in range(1, steps + 1):
            target = al[r, s - 1] * y + (1 - al[r, s - 1]) * yhat
            yhat = K @ np.linalg.solve(A, target)
            out[r, s] = yhat
    return out


def constrained_distillation(gram, y, epsilon, max_rounds=1000):
    """Mobahi et al.'s constraint form trained for real in input space.

    Each round's ridge is found by bisection-free root finding on the training
    error computed with dense solves, ``(1/n) ||K (K + cI)^{-1} y_t - y_t||^2 = epsilon``,
    and the round's predictions become the next targets.  Returns
    ``(ridges, norms, predictions)`` up to and including the collapse round
    (ridge ``inf``, predictions zero).
    """
    from scipy.optimize import brentq

    K = _gram(gram)
    n = K.shape[0]
    yt = _targets(y, n).copy()
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not math.isfinite(epsilon) \
            or epsilon <= 0:
        raise ValueError(f"epsilon must be a finite number > 0, got {_checks._short(epsilon)}")
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, numbers.Integral) or max_rounds < 1:
        raise ValueError(f"max_rounds must be an integer >= 1, got {_checks._short(max_rounds)}")
    _checks.work("max_rounds", float(max_rounds) * n**3, f"max_rounds={max_rounds} rounds of dense solves")
    I = np.eye(n)
    ridges, norms, preds = [], [float(np.linalg.norm(yt))], []

    def err(logc, target):
        c = math.exp(logc)
        r = target - K @ np.linalg.solve(K + c * I, target)
        return float(r @ r) / n - epsilon

    for _ in range(int(max_rounds)):
        if float(yt @ yt) / n <= epsilon:
            ridges.append(math.inf)
            preds.append(np.zeros(n))
            break
        lo, hi = -50.0, 50.0
        while err(hi, yt) <= 0:
            hi *= 2
        c = math.exp(brentq(err, lo, hi, args=(yt,), xtol=1e-300))
        ridges.append(c)
        yt = K @ np.linalg.solve(K + c * I, yt)
        preds.append(yt.copy())
        norms.append(float(np.linalg.norm(yt)))
    return np.array(ridges), np.array(norms), np.array(preds)
