r"""Monte Carlo of random-feature ridge regression (Simon, Karkada, Ghosh & Belkin, ICLR 2024, "More is better").

Every draw fits the model for real -- data, features, labels and test points drawn,
the ridge problem solved by linear algebra -- and never uses the eigenframework
the theory derives.  Two settings.

Linear-Gaussian (the theory's exact setting): :func:`rf_risk`
------------------------------------------------------------------
A truncated eigenbasis of ``M`` modes: eigenvalues ``lambda`` (``Lambda = diag(lambda)``),
target coefficients ``v``, label-noise variance ``sigma^2``.  One draw is

* ``F`` (``N x M``, i.i.d. ``N(0, 1)``; only for finite ``N = features``),
* ``Z`` (``n x M``, i.i.d. ``N(0, 1)``): the eigenfunctions at the ``n`` training inputs,
* ``eps`` (``n``, i.i.d. ``N(0, 1)``), drawn even when ``sigma = 0`` so that runs that
  differ only in the noise level see the same ``F`` and ``Z``,

drawn in exactly that order from the chunk's generator.  Labels ``y = Z v + sigma eps``;
features ``phi(z) = F Lambda^{1/2} z / sqrt(N)``, so ``Phi = Z Lambda^{1/2} F^T / sqrt(N)``
(``n x N``); ``features=math.inf`` is kernel ridge regression with ``Phi = Z Lambda^{1/2}``
(``n x M``) and no ``F``.  The model ``yhat = a^T phi(x)`` minimises
``||y - Phi a||^2 + delta ||a||^2`` (``delta`` is *not* scaled by ``n``; ``delta = 0`` is
the minimum-norm least-squares solution, the limit ``delta -> 0+``).  Its function has
eigen-coefficients ``w = Lambda^{1/2} F^T a / sqrt(N)`` (``w = Lambda^{1/2} a`` for KRR), so
each draw's test risk is exact, ``||w - v||^2 + sigma^2``; the training error is
``||y - Phi a||^2 / n``.  All ridges are evaluated on the same draw (paired).

How a draw is solved.  With ``P`` the number of columns of ``Phi`` (``N``, or ``M`` for
KRR), the cheaper of the dual and primal Gram matrices is formed -- ``Phi Phi^T``
(``n x n``) when ``n <= P``, else ``Phi^T Phi`` (``P x P``) -- and diagonalised once
(``eigh``); every ridge is then a diagonal filter ``1 / (e + delta)`` on its eigenvalues
``e``.  For ``delta = 0`` the filter is ``1 / e`` on the eigenvalues above
``max(n, P) eps max(e)`` and 0 below (a pseudo-inverse).  The Gram matrix squares the
condition number, so a draw is redone from one SVD of ``Phi`` (filters ``s / (s^2 + delta)``,
and for ``delta = 0`` the usual pseudo-inverse cutoff ``s > max(n, P) eps s_max``) when

* a positive ridge has ``delta + max(e_min, 0) < sqrt(eps) max(e)``: its filter would carry a
  relative error above ``sqrt(eps)`` (this includes a tiny ridge on a rank-deficient ``Phi``,
  whose null directions the Gram route amplifies by ``1/delta``), or
* a ridge is 0 and either the smallest kept eigenvalue is below ``sqrt(eps) max(e)`` or fewer
  eigenvalues are kept than the rank ``Phi`` has almost surely, ``min(n, P, #{lambda > 0})``
  (a true direction fell below the Gram's cutoff),

so the result is the SVD's wherever the two could differ by more than ``sqrt(eps)``.
Well-conditioned draws never need the SVD.  Measured: ridgeless KRR with ``n > M`` and
eigenvalues spanning ``1e12`` (condition guard) or ``1e20`` (rank guard) agrees with a
least-squares solve in ``Z`` to ``1e-12``, where the unguarded Gram route is off by ``5e-8``
and ``O(1)``; a ridge ``1e-9`` on a rank-deficient ``Phi``, ``1e-12`` against ``1.6e-6``.

Nonlinear: ReLU random features on the sphere, :func:`relu_rf_risk`
-------------------------------------------------------------------------
Inputs ``x`` uniform on ``S^{d-1}``; features ``phi(x) = relu(W x) / sqrt(N)``,
``W`` (``N x d``) i.i.d. ``N(0, 1)``, so ``E phi(x)^T phi(x') = k(x . x')`` with the degree-1
arc-cosine kernel ``k(t) = (sin theta + (pi - theta) cos theta) / (2 pi)``, ``t = cos theta``
(:func:`arccos_kernel`); ``features=math.inf`` is KRR with ``k`` itself.  The target
(:func:`relu_target`) ``f*(x) = a_1 sqrt(d) x_1 + a_2 sqrt(d (d + 2)) x_1 x_2`` has
coefficient ``a_1`` on one unit-norm degree-1 spherical harmonic and ``a_2`` on one
degree-2 harmonic.  A draw is ``W`` (finite ``N`` only), the training inputs (``n x d``
normals, rows normalised), ``eps`` (``n``), the test inputs (``n_test x d``, normalised), in
that order; labels ``f*(x) + sigma eps``; the test risk is the mean of
``(fhat - f*)^2`` over the draw's ``n_test`` fresh points plus ``sigma^2`` (noise only on
training labels).  The same ridge problem as above; finite ``N`` is solved the same way (Gram
matrix, SVD guard, rank ``min(n, N)``), KRR from one ``eigh`` of the kernel matrix
(``fhat = k(x, X) (K + delta I)^{-1} y``, pseudo-inverse cutoff ``n eps max(e)`` for
``delta = 0``; no SVD guard, there being no feature matrix).

The kernel's Mercer decomposition: ``k(x . x') = sum_k mu_k sum_{j <= N(d, k)} Y_kj(x) Y_kj(x')``
with ``mu_k`` by the Funk-Hecke formula, computed numerically by quadrature in the angle
(:func:`relu_spectrum`, :func:`relu_eigensystem`).  Since ``k(t) - t/4`` is even, the odd
degrees ``k >= 3`` vanish exactly; ``mu_1 = 1 / (4 d)``.  (Writing ``k = d E_u[relu(u.x) relu(u.x')]``
over unit ``u`` gives the closed form ``mu_k = d beta_k^2`` with ``beta_k`` the Funk-Hecke
coefficient of ``relu`` itself; the tests check the quadrature against it.)

Seeding and parallelism
-----------------------
Draws are split into ``n_chunks`` chunks (independent of the thread count); chunk ``i``
draws from its own generator (:mod:`simulations.rng`), its draws one after another in the
order above.  The numba kernels ``prange`` over chunks with BLAS pinned to one thread
(``threadpoolctl``) around the call, so a seed gives bit-identical numbers whatever the
numba or BLAS thread count.  Standard errors are the sample standard deviation over the
independent draws divided by ``sqrt(draws)``.

Speed (2-core development machine, ms per draw, 8 ridges, ``lambda_i = i^-1.5``, best of 3
at low machine load; numba with 2 threads; numpy with BLAS pinned to 1 thread, chunks run
serially (the baseline, :func:`rf_risk_numpy`) or on 2 threads; "SVD": the numba kernel with
one SVD per draw in place of the Gram matrix):

=========  ====  ====  ==============  ==============  ==============  ======
M          n     N     numba (Gram)    numpy serial    numpy 2 thr.    SVD
=========  ====  ====  ==============  ==============  ==============  ======
200        16    16    0.064           0.198           0.109           0.068
200        64    256   1.03            2.12            1.32            1.55
200        512   128   2.70            5.72            3.01            5.49
200        512   512   26.3            53.0            23.1            44.3
200        512   inf   2.85            5.60            4.39            10.2
2000       16    16    0.39            1.31            0.74            0.47
2000       64    256   4.52            11.0            5.66            6.16
2000       512   128   11.6            31.6            16.0            17.2
2000       512   512   50.1            113             56.3            76.6
2000       64    inf   1.75            3.76            1.71            5.41
2000       512   inf   42.8            81.3            43.1            175
=========  ====  ====  ==============  ==============  ==============  ======

The numba kernel is 2-3x faster than the serial numpy baseline everywhere and faster than
numpy on two threads at small and medium sizes (per-draw dispatch; interleaved medians:
1.2-1.3x at ``(M, n, N) = (2000, 64, 256), (2000, 512, 128), (200, 512, inf)``); where the
GEMMs and ``eigh`` dominate (``n = 512`` with ``N = 512`` or ``M = 2000``) the two are level
(ratios 1.00-1.03 interleaved; single timings differ either way by 10 % from run to run).
Default multi-threaded BLAS made the serial numpy path no faster, and oversubscribes inside
the numba threads.  The Gram matrix beats the SVD by up to 4x (``gesdd`` on a wide ``n x M``
matrix builds ``V`` explicitly).  So :func:`rf_risk` always runs the numba kernel;
:func:`rf_risk_numpy` is the baseline: the same draws, the same algorithm batched over
draws, agreeing to ``~1e-13`` relative (``~1e-10`` next to ``n = P``, where the ridgeless
solve is ill-conditioned).
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from scipy.special import eval_gegenbauer, roots_legendre
from threadpoolctl import threadpool_limits

from . import _checks, rng
from .cache import cached

_EPS = float(np.finfo(float).eps)
_SQRT_EPS = math.sqrt(_EPS)
_BLOCK_BYTES = 1 << 25  # the numpy baseline batches draws in blocks of about 32 MiB of draws


@dataclass(frozen=True)
class RFRisk:
    """Per-draw test and training risks for each ridge, with their means and standard errors."""

    test: np.ndarray          # (draws, n_ridges) test risk of each draw, sigma^2 included
    train: np.ndarray         # (draws, n_ridges) training mean squared error of each draw
    test_mean: np.ndarray     # (n_ridges,)
    test_stderr: np.ndarray   # (n_ridges,)
    train_mean: np.ndarray    # (n_ridges,)
    train_stderr: np.ndarray  # (n_ridges,)
    ridges: np.ndarray        # (n_ridges,)
    n_samples: int
    params: dict


# ---------------------------------------------------------------------------------------------
# validation: one-line errors naming the parameter and what is allowed
# ---------------------------------------------------------------------------------------------


def _integer(name, v, low):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {low}, got {_checks._short(v)}")
    if v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def _real(name, v, low):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a finite number >= {low}, got {_checks._short(v)}")
    if not math.isfinite(v) or v < low:
        raise ValueError(f"{name} must be a finite number >= {low}, got {v!r}")
    return float(v)


def _features(v):
    """``features``: an integer >= 1 or ``math.inf``; returns ``(features, N)`` with ``N = 0`` for ``math.inf``."""
    if isinstance(v, numbers.Real) and not isinstance(v, (bool, numbers.Integral)) and v == math.inf:
        return math.inf, 0
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"features must be an integer >= 1 or math.inf, got {_checks._short(v)}")
    return int(v), int(v)


def _vector(name, values, nonneg=False):
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of finite real numbers, got {type(values).__name__}") from None
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    if nonneg and np.any(a < 0):
        raise ValueError(f"{name} must be >= 0, got a minimum of {a.min()!r}")
    return a.copy()


def _ridges(ridges):
    """``ridges``: a number or a non-empty 1-D array of finite numbers >= 0."""
    if isinstance(ridges, numbers.Number) and not isinstance(ridges, bool):
        ridges = [ridges]
    return _vector("ridges", ridges, nonneg=True)


def _cores() -> int:
    return os.cpu_count() or 1


def _draw_counts(draws, n_chunks, seed):
    draws = _integer("draws", draws, 2)
    n_chunks = _integer("n_chunks", n_chunks, 1)
    if draws < n_chunks:
        raise ValueError(f"draws must be >= n_chunks={n_chunks}, got {draws}")
    _checks.work("draws", draws, f"draws={draws}")
    seed = rng.check_seed(seed)
    return draws, n_chunks, seed


def _validate_linear(eigenvalues, target_coefficients, noise_variance, n, features, ridges, draws, seed, n_chunks):
    lam = _vector("eigenvalues", eigenvalues, nonneg=True)
    v = _vector("target_coefficients", target_coefficients)
    if v.size != lam.size:
        raise ValueError(f"target_coefficients must have the length of eigenvalues ({lam.size}), got {v.size}")
    noise = _real("noise_variance", noise_variance, 0.0)
    n = _integer("n", n, 1)
    features, N = _features(features)
    r = _ridges(ridges)
    draws, n_chunks, seed = _draw_counts(draws, n_chunks, seed)
    P = lam.size
    # one draw: F (N x P), Z (n x P), Phi (n x N), the solve's square matrices; n_chunks at once at most
    per_draw = (N * P if N else 0) + n * P + n * (N or P) + 3 * min(n, N or P) ** 2 + 3 * n * (r.size + 1)
    _checks.memory("n, features and draws", 8.0 * (2 * draws * r.size + min(n_chunks, _cores()) * per_draw),
                   f"n={n}, features={features}, {P} eigenvalues, draws={draws}")
    params = dict(eigenvalues=lam.tolist(), target_coefficients=v.tolist(), noise_variance=noise, n=n,
                  features=features, ridges=r.tolist(), draws=draws, seed=seed, n_chunks=n_chunks)
    return lam, v, noise, n, N, r, draws, seed, n_chunks, params


def _summarize(test, train, ridges, params) -> RFRisk:
    R = test.shape[0]
    root = math.sqrt(R)
    return RFRisk(test=test, train=train, test_mean=test.mean(axis=0), test_stderr=test.std(axis=0, ddof=1) / root,
                  train_mean=train.mean(axis=0), train_stderr=train.std(axis=0, ddof=1) / root, ridges=ridges,
                  n_samples=int(R), params=params)


def _offsets(counts):
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# the ridge solve shared by the kernels: one Gram eigendecomposition, SVD where it is needed
# ---------------------------------------------------------------------------------------------


def _needs_svd(e, ridges, n, P, rank):
    """The Gram route's guard (module docstring): ``True`` when the draw must be solved by SVD.

    ``e`` ascending.  A positive ridge ``delta`` filters every eigen-direction, the null ones
    included, by ``1 / (e + delta)``: it needs ``delta + max(e_min, 0) >= sqrt(eps) e_max``.
    A zero ridge filters the kept directions only: it needs the smallest kept eigenvalue
    ``>= sqrt(eps) e_max`` and as many kept as the rank ``Phi`` has almost surely.
    """
    r = e.shape[0]
    e_max = max(e[r - 1], 0.0)
    if e_max == 0.0:
        return False
    floor = 1.4901161193847656e-08 * e_max
    tol = max(n, P) * 2.220446049250313e-16 * e_max
    has_zero = False
    d_pos = np.inf
    for j in range(ridges.shape[0]):
        if ridges[j] == 0.0:
            has_zero = True
        elif ridges[j] < d_pos:
            d_pos = ridges[j]
    if d_pos + max(e[0], 0.0) < floor:
        return True
    if has_zero:
        kept = 0
        e_lo = e_max
        for i in range(r):
            if e[i] > tol:
                kept += 1
                e_lo = min(e_lo, e[i])
        if e_lo < floor or kept < rank:
            return True
    return False


def _gram_filter(e, c, ridges, n, P):
    """``H[i, j] = c_i / (e_i + delta_j)``; for ``delta_j = 0`` the pseudo-inverse ``c_i / e_i`` above the cutoff."""
    r = e.shape[0]
    nr = ridges.shape[0]
    tol = max(n, P) * 2.220446049250313e-16 * max(e[r - 1], 0.0)
    H = np.zeros((r, nr))
    for j in range(nr):
        d = ridges[j]
        for i in range(r):
            ei = max(e[i], 0.0)
            if d > 0.0:
                H[i, j] = c[i] / (ei + d)
            elif e[i] > tol:
                H[i, j] = c[i] / ei
    return H


def _solve_svd(Phi, y, ridges):
    n, P = Phi.shape
    nr = ridges.shape[0]
    U, s, Vt = np.linalg.svd(Phi, full_matrices=False)
    r = s.shape[0]
    tol = max(n, P) * 2.220446049250313e-16 * (s[0] if r > 0 else 0.0)
    c = U.T @ y
    C = np.zeros((r, nr))
    for j in range(nr):
        d = ridges[j]
        for i in range(r):
            if d > 0.0:
                C[i, j] = c[i] * s[i] / (s[i] * s[i] + d)
            elif s[i] > tol:
                C[i, j] = c[i] / s[i]
    A = Vt.T @ C
    for j in range(nr):
        for i in range(r):
            C[i, j] *= s[i]
    fit = U @ C
    return A, fit


def _solve(Phi, y, ridges, rank):
    """Ridge coefficients ``A`` (``P x n_ridges``) and fitted training values ``Phi A`` (``n x n_ridges``)."""
    n, P = Phi.shape
    nr = ridges.shape[0]
    dual = n <= P
    # eigh reads the lower triangle only (numba and numpy alike): no symmetrising pass needed
    e, U = np.linalg.eigh(Phi @ Phi.T if dual else Phi.T @ Phi)
    if _needs_svd(e, ridges, n, P, rank):
        return _solve_svd(Phi, y, ridges)
    if dual:
        c = U.T @ y
    else:
        c = U.T @ (Phi.T @ y)
    H = _gram_filter(e, c, ridges, n, P)
    B = U @ H
    if dual:
        A = Phi.T @ B
        for j in range(nr):
            for i in range(e.shape[0]):
                H[i, j] *= max(e[i], 0.0)
        fit = U @ H
    else:
        A = B
        fit = Phi @ A
    return A, fit


def _solve_kernel_matrix(K, y, ridges):
    """Kernel ridge regression from the kernel matrix: dual coefficients and fitted values (``n x n_ridges``)."""
    n = K.shape[0]
    nr = ridges.shape[0]
    e, U = np.linalg.eigh(K)
    c = U.T @ y
    H = _gram_filter(e, c, ridges, n, n)
    alpha = U @ H
    for j in range(nr):
        for i in range(n):
            H[i, j] *= max(e[i], 0.0)
    fit = U @ H
    return alpha, fit


# ---------------------------------------------------------------------------------------------
# linear-Gaussian model: numba kernel
# ---------------------------------------------------------------------------------------------


def _linear_draw(g, sqrt_lam, v, sigma, n, N, rank, ridges, test_row, train_row):
    """One draw (``N = 0``: KRR): ``F`` (finite ``N``), ``Z``, ``eps`` in that order, then every ridge."""
    M = sqrt_lam.shape[0]
    nr = ridges.shape[0]
    if N > 0:
        F = g.standard_normal((N, M))
    else:
        F = np.empty((0, M))
    Z = g.standard_normal((n, M))
    eps = g.standard_normal(n)
    y = Z @ v
    for i in range(n):
        y[i] += sigma * eps[i]
    for i in range(n):
        for m in range(M):
            Z[i, m] *= sqrt_lam[m]
    scale = 1.0
    if N > 0:
        scale = 1.0 / math.sqrt(N)
        Phi = Z @ F.T
        for i in range(n):
            for m in range(N):
                Phi[i, m] *= scale
    else:
        Phi = Z
    A, fit = _solve(Phi, y, ridges, rank)
    if N > 0:
        W = F.T @ A
    else:
        W = A
    noise = sigma * sigma
    for j in range(nr):
        acc = 0.0
        for m in range(M):
            diff = sqrt_lam[m] * scale * W[m, j] - v[m]
            acc += diff * diff
        test_row[j] = acc + noise
        acc = 0.0
        for i in range(n):
            diff = y[i] - fit[i, j]
            acc += diff * diff
        train_row[j] = acc / n


def _linear_kernel(gens, counts, offsets, sqrt_lam, v, sigma, n, N, rank, ridges, test, train):
    """Numba kernel: ``prange`` over chunks, one generator each, draws in order within a chunk."""
    for c in prange(len(gens)):
        g = gens[c]
        for k in range(counts[c]):
            row = offsets[c] + k
            _linear_draw(g, sqrt_lam, v, sigma, n, N, rank, ridges, test[row], train[row])


_needs_svd = njit(cache=True)(_needs_svd)
_gram_filter = njit(cache=True)(_gram_filter)
_solve_svd = njit(cache=True)(_solve_svd)
_solve = njit(cache=True)(_solve)
_solve_kernel_matrix = njit(cache=True)(_solve_kernel_matrix)
_linear_draw = njit(cache=True)(_linear_draw)
_linear_kernel_jit = njit(cache=True, parallel=True)(_linear_kernel)


def _rank(lam, n, N):
    """The rank ``Phi`` has almost surely: ``min(n, P, #{lambda > 0})``."""
    positive = int(np.count_nonzero(lam > 0))
    return min(n, N if N > 0 else lam.size, positive)


@cached
def rf_risk(eigenvalues, target_coefficients, noise_variance, n, features, ridges, draws, seed,
            n_chunks=16) -> RFRisk:
    """Test and training risk of random-feature ridge regression in the linear-Gaussian model.

    ``features`` is ``N`` (an integer) or ``math.inf`` (kernel ridge regression); ``ridges``
    are the ``delta >= 0`` evaluated on every draw (``delta = 0``: minimum-norm least
    squares).  Each draw's test risk is exact, ``||w - v||^2 + sigma^2`` (module docstring).
    """
    lam, v, noise, n, N, r, draws, seed, n_chunks, params = _validate_linear(
        eigenvalues, target_coefficients, noise_variance, n, features, ridges, draws, seed, n_chunks)
    gens = rng.generators(seed, n_chunks)
    counts = rng.chunk_sizes(draws, n_chunks)
    test = np.zeros((draws, r.size))
    train = np.zeros((draws, r.size))
    with threadpool_limits(1):
        _linear_kernel_jit(gens, counts, _offsets(counts), np.sqrt(lam), v, math.sqrt(noise), n, N,
                           _rank(lam, n, N), r, test, train)
    return _summarize(test, train, r, params)


# ---------------------------------------------------------------------------------------------
# linear-Gaussian model: plain vectorized-numpy baseline (same draws, same algorithm, batched)
# ---------------------------------------------------------------------------------------------


def _solve_numpy(Phi, y, ridges, rank):
    """Batched :func:`_solve`: ``Phi`` (``b x n x P``), ``y`` (``b x n``)."""
    n, P = Phi.shape[1:]
    dual = n <= P
    PhiT = Phi.transpose(0, 2, 1)
    e, U = np.linalg.eigh(Phi @ PhiT if dual else PhiT @ Phi)
    rhs = y if dual else np.einsum("bnp,bn->bp", Phi, y)
    c = np.einsum("bri,br->bi", U, rhs)
    e_max = np.maximum(e[:, -1], 0.0)
    tol = (max(n, P) * _EPS * e_max)[:, None, None]
    ep = np.maximum(e, 0.0)[:, :, None]
    d = ridges[None, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(d > 0, 1.0 / (ep + d), np.where(e[:, :, None] > tol, 1.0 / ep, 0.0))
    H = h * c[:, :, None]
    B = U @ H
    if dual:
        A = PhiT @ B
        fit = U @ (H * ep)
    else:
        A = B
        fit = Phi @ A
    floor = _SQRT_EPS * e_max
    positive = ridges[ridges > 0]
    redo = positive.min(initial=np.inf) + np.maximum(e[:, 0], 0.0) < floor
    if np.any(ridges == 0):
        kept = e > tol[:, :, 0]
        e_lo = np.where(kept, e, np.inf).min(axis=1)
        redo |= (e_lo < floor) | (kept.sum(axis=1) < rank)
    redo &= e_max > 0
    for i in np.flatnonzero(redo):
        U1, s, Vt = np.linalg.svd(Phi[i], full_matrices=False)
        tol_s = max(n, P) * _EPS * (s[0] if s.size else 0.0)
        s_ = s[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(d[0] > 0, s_ / (s_ * s_ + d[0]), np.where(s_ > tol_s, 1.0 / s_, 0.0))
        C = f * (U1.T @ y[i])[:, None]
        A[i] = Vt.T @ C
        fit[i] = U1 @ (C * s_)
    return A, fit


def _linear_chunk_numpy(g, count, sqrt_lam, v, sigma, n, N, rank, ridges):
    """One chunk of the baseline: its draws in order, solved in blocks; returns ``(test, train)``."""
    M = sqrt_lam.size
    per_draw = 8 * (N * M + n * M + n + n * max(n, N or M))
    block = max(1, min(count, _BLOCK_BYTES // per_draw))
    tests, trains = [], []
    done = 0
    while done < count:
        b = min(block, count - done)
        F = np.empty((b, N, M))
        Z = np.empty((b, n, M))
        eps = np.empty((b, n))
        for k in range(b):
            if N:
                F[k] = g.standard_normal((N, M))
            Z[k] = g.standard_normal((n, M))
            eps[k] = g.standard_normal(n)
        y = Z @ v + sigma * eps
        Zl = Z * sqrt_lam
        Phi = (Zl @ F.transpose(0, 2, 1)) / math.sqrt(N) if N else Zl
        A, fit = _solve_numpy(Phi, y, ridges, rank)
        W = (F.transpose(0, 2, 1) @ A) / math.sqrt(N) if N else A
        tests.append(((W * sqrt_lam[None, :, None] - v[None, :, None]) ** 2).sum(axis=1) + sigma * sigma)
        trains.append(((y[:, :, None] - fit) ** 2).mean(axis=1))
        done += b
    return np.concatenate(tests), np.concatenate(trains)


def rf_risk_numpy(eigenvalues, target_coefficients, noise_variance, n, features, ridges, draws, seed,
                  n_chunks=16) -> RFRisk:
    """Plain vectorized-numpy baseline of :func:`rf_risk`: same draws, same algorithm, same outputs.

    Chunks run one after another, each batching its draws in blocks through stacked
    ``matmul``/``eigh``, with BLAS pinned to one thread; used by the benchmarks (speed
    ratio) and the tests (an independent implementation of the kernel).
    """
    lam, v, noise, n, N, r, draws, seed, n_chunks, params = _validate_linear(
        eigenvalues, target_coefficients, noise_variance, n, features, ridges, draws, seed, n_chunks)
    gens = rng.generators(seed, n_chunks)
    P = lam.size  # the baseline batches a chunk's draws: a chunk's worth of per-draw arrays at once
    per_draw = (N * P if N else 0) + n * P + n * (N or P) + 3 * min(n, N or P) ** 2
    _checks.memory("n, features and draws", 8.0 * -(-draws // n_chunks) * per_draw,
                   f"n={n}, features={N or 'inf'}, {P} eigenvalues, draws={draws} in {n_chunks} batches")
    counts = rng.chunk_sizes(draws, n_chunks)
    sl, sigma, rank = np.sqrt(lam), math.sqrt(noise), _rank(lam, n, N)
    with threadpool_limits(1):
        parts = [_linear_chunk_numpy(g, int(c), sl, v, sigma, n, N, rank, r) for g, c in zip(gens, counts)]
    return _summarize(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), r, params)


# ---------------------------------------------------------------------------------------------
# ReLU random features on the sphere: kernel, target, spectrum
# ---------------------------------------------------------------------------------------------


def arccos_kernel(t):
    """The degree-1 arc-cosine kernel ``E_w[relu(w.x) relu(w.x')] = (sin theta + (pi - theta) cos theta) / (2 pi)``.

    ``t = x . x' = cos theta`` for unit vectors (clipped to [-1, 1]); ``k(1) = 1/2``.
    """
    t = np.clip(_finite("t", t), -1.0, 1.0)
    return (np.sqrt(1.0 - t * t) + (math.pi - np.arccos(t)) * t) / (2.0 * math.pi)


_finite = _checks.finite


def _target_pair(target):
    try:
        a1, a2 = target
    except (TypeError, ValueError):
        raise ValueError(f"target must be a pair (a1, a2) of finite numbers, got {target!r}") from None
    for a in (a1, a2):
        if isinstance(a, bool) or not isinstance(a, numbers.Real) or not math.isfinite(a):
            raise ValueError(f"target must be a pair (a1, a2) of finite numbers, got {target!r}")
    return float(a1), float(a2)


def relu_target(x, target=(1.0, 0.5)):
    """``f*(x) = a1 sqrt(d) x_1 + a2 sqrt(d (d + 2)) x_1 x_2`` for points ``x`` (rows) on ``S^{d-1}``.

    Both terms are unit-norm in ``L^2`` of the uniform measure on the sphere: a degree-1 and
    a degree-2 spherical harmonic.
    """
    a1, a2 = _target_pair(target)
    x = _finite("x", x)
    d = x.shape[-1] if x.ndim else 1
    if d < 3:
        raise ValueError(f"x must have at least 3 coordinates (d >= 3), got {d}")
    return a1 * math.sqrt(d) * x[..., 0] + a2 * math.sqrt(d * (d + 2.0)) * x[..., 0] * x[..., 1]


def harmonic_dimension(d, k):
    """``N(d, k)``, the number of linearly independent degree-``k`` spherical harmonics on ``S^{d-1}`` (exact int)."""
    d = _integer("d", d, 2)
    k = _integer("k", k, 0)
    if k == 0:
        return 1
    return math.comb(k + d - 1, d - 1) - math.comb(k + d - 3, d - 1)


def _quadrature_nodes(d, max_degree):
    return 2 * (max_degree + d) + 100


def relu_spectrum(d, max_degree):
    r"""``(mu, multiplicities, tail)``: the arc-cosine kernel's eigenvalue per degree ``k = 0..max_degree``.

    Funk-Hecke: ``mu_k = (|S^{d-2}| / |S^{d-1}|) int_{-1}^{1} k(t) P_k(t) (1 - t^2)^{(d-3)/2} dt`` with
    ``P_k = C_k^{((d-2)/2)} / C_k^{((d-2)/2)}(1)`` (scipy's Gegenbauer polynomial, so ``P_k(1) = 1``),
    computed numerically in ``theta = arccos t``: ``mu_k = int_0^pi k(cos theta) P_k(cos theta)
    sin^{d-2} theta d theta / int_0^pi sin^{d-2} theta d theta`` by Gauss-Legendre quadrature with
    ``2 (max_degree + d) + 100`` nodes.  In ``theta`` the integrand is entire, so the rule
    converges geometrically; in ``t`` the kernel has ``(1 -+ t)^{3/2}`` endpoint singularities and
    Gauss-Jacobi with weight ``(1 - t^2)^{(d-3)/2}`` converges only algebraically (measured:
    relative error 6e-4 at degree 150 for ``d = 3`` with 1264 nodes, 0.14 at degree 136 for
    ``d = 10``).  The result is accurate to about ``1e-16`` absolute (the rounding floor of an
    ``O(1)`` integrand), so eigenvalues far below that carry no relative accuracy; odd degrees
    ``>= 3`` come out at that level (they vanish exactly).

    ``multiplicities[k] = N(d, k)`` (:func:`harmonic_dimension`, int64);
    ``tail = k(1) - sum_k mu_k N(d, k)`` is the trace of the degrees above ``max_degree``.
    """
    d = _integer("d", d, 3)
    max_degree = _integer("max_degree", max_degree, 0)
    nodes = _quadrature_nodes(d, max_degree)
    _checks.memory("d and max_degree", 8.0 * 8 * nodes, f"d={d}, max_degree={max_degree} ({nodes} quadrature nodes)")
    _checks.work("max_degree", float(max_degree + 1) * nodes, f"max_degree={max_degree} degrees x {nodes} nodes")
    mult = [harmonic_dimension(d, k) for k in range(max_degree + 1)]
    if max(mult) > np.iinfo(np.int64).max:
        raise ValueError(f"max_degree must keep N(d, k) below 2**63 for d={d}, got {max_degree}")
    x, w = roots_legendre(_quadrature_nodes(d, max_degree))
    theta = 0.5 * math.pi * (x + 1.0)
    t = np.cos(theta)
    density = w * np.sin(theta) ** (d - 2)
    kw = arccos_kernel(t) * (density / density.sum())
    alpha = (d - 2) / 2.0
    mu = np.array([float(kw @ eval_gegenbauer(k, alpha, t)) / float(eval_gegenbauer(k, alpha, 1.0))
                   for k in range(max_degree + 1)])
    mult = np.array(mult, dtype=np.int64)
    tail = 0.5 - float(np.sum(mu * mult.astype(float)))
    return mu, mult, tail


def relu_eigensystem(d, max_degree, target=(1.0, 0.5)):
    """``(eigenvalues, multiplicities, target_coefficients)`` per degree ``k = 0..max_degree`` for the theory.

    ``eigenvalues[k] = mu_k`` (odd degrees ``>= 3`` set to their exact value 0, negative
    rounding clipped to 0), ``multiplicities[k] = N(d, k)``, and the target coefficient of a
    degree is ``sqrt`` of the total ``v^2`` over its modes: ``|a1|`` at ``k = 1``, ``|a2|`` at
    ``k = 2``, 0 elsewhere.  The degrees above ``max_degree`` are left out (their trace is
    :func:`relu_spectrum`'s ``tail``).
    """
    d = _integer("d", d, 3)
    max_degree = _integer("max_degree", max_degree, 2)
    a1, a2 = _target_pair(target)
    mu, mult, _ = relu_spectrum(d, max_degree)
    mu = np.maximum(mu, 0.0)
    mu[3::2] = 0.0
    coef = np.zeros(max_degree + 1)
    coef[1], coef[2] = abs(a1), abs(a2)
    return mu, mult, coef


# ---------------------------------------------------------------------------------------------
# ReLU random features on the sphere: numba kernel
# ---------------------------------------------------------------------------------------------


def _sphere(g, m, d):
    X = g.standard_normal((m, d))
    for i in range(m):
        s = 0.0
        for k in range(d):
            s += X[i, k] * X[i, k]
        s = 1.0 / math.sqrt(s)
        for k in range(d):
            X[i, k] *= s
    return X


def _relu_features(X, W, scale):
    H = X @ W.T
    for i in range(H.shape[0]):
        for j in range(H.shape[1]):
            H[i, j] = max(H[i, j], 0.0) * scale
    return H


def _arccos_gram(X, Y):
    G = X @ Y.T
    inv = 1.0 / (2.0 * math.pi)
    for i in range(G.shape[0]):
        for j in range(G.shape[1]):
            t = min(max(G[i, j], -1.0), 1.0)
            G[i, j] = (math.sqrt(1.0 - t * t) + (math.pi - math.acos(t)) * t) * inv
    return G


def _relu_draw(g, d, n, N, n_test, a1, a2, sigma, ridges, test_row, train_row):
    """One draw (``N = 0``: KRR): ``W`` (finite ``N``), training inputs, ``eps``, test inputs, in that order."""
    nr = ridges.shape[0]
    if N > 0:
        W = g.standard_normal((N, d))
    else:
        W = np.empty((0, d))
    X = _sphere(g, n, d)
    eps = g.standard_normal(n)
    Xt = _sphere(g, n_test, d)
    c1 = a1 * math.sqrt(d)
    c2 = a2 * math.sqrt(d * (d + 2.0))
    y = np.empty(n)
    for i in range(n):
        y[i] = c1 * X[i, 0] + c2 * X[i, 0] * X[i, 1] + sigma * eps[i]
    ft = np.empty(n_test)
    for i in range(n_test):
        ft[i] = c1 * Xt[i, 0] + c2 * Xt[i, 0] * Xt[i, 1]
    if N > 0:
        scale = 1.0 / math.sqrt(N)
        Phi = _relu_features(X, W, scale)
        A, fit = _solve(Phi, y, ridges, min(n, N))
        pred = _relu_features(Xt, W, scale) @ A
    else:
        alpha, fit = _solve_kernel_matrix(_arccos_gram(X, X), y, ridges)
        pred = _arccos_gram(Xt, X) @ alpha
    noise = sigma * sigma
    for j in range(nr):
        acc = 0.0
        for i in range(n_test):
            diff = pred[i, j] - ft[i]
            acc += diff * diff
        test_row[j] = acc / n_test + noise
        acc = 0.0
        for i in range(n):
            diff = y[i] - fit[i, j]
            acc += diff * diff
        train_row[j] = acc / n


def _relu_kernel(gens, counts, offsets, d, n, N, n_test, a1, a2, sigma, ridges, test, train):
    """Numba kernel: ``prange`` over chunks, one generator each, draws in order within a chunk."""
    for c in prange(len(gens)):
        g = gens[c]
        for k in range(counts[c]):
            row = offsets[c] + k
            _relu_draw(g, d, n, N, n_test, a1, a2, sigma, ridges, test[row], train[row])


_sphere = njit(cache=True)(_sphere)
_relu_features = njit(cache=True)(_relu_features)
_arccos_gram = njit(cache=True)(_arccos_gram)
_relu_draw = njit(cache=True)(_relu_draw)
_relu_kernel_jit = njit(cache=True, parallel=True)(_relu_kernel)


@cached
def relu_rf_risk(d, n, features, ridges, draws, seed, *, target=(1.0, 0.5), noise_variance=0.0, n_test=2000,
                 n_chunks=16) -> RFRisk:
    """Test and training risk of ReLU random-feature ridge regression on ``S^{d-1}`` (module docstring).

    ``features=math.inf`` is kernel ridge regression with the arc-cosine kernel.  The test
    risk of a draw is measured on ``n_test`` fresh points (plus ``sigma^2``), so its
    standard error includes the test-set sampling.
    """
    d = _integer("d", d, 3)
    n = _integer("n", n, 1)
    features, N = _features(features)
    r = _ridges(ridges)
    draws, n_chunks, seed = _draw_counts(draws, n_chunks, seed)
    a1, a2 = _target_pair(target)
    noise = _real("noise_variance", noise_variance, 0.0)
    n_test = _integer("n_test", n_test, 1)
    width = N or n  # kernel ridge regression: an n x n Gram
    per_draw = (n + n_test) * (d + width) + N * d + 3 * min(n, width) ** 2 + 3 * n * (r.size + 1)
    _checks.memory("d, n, features, n_test and draws",
                   8.0 * (2 * draws * r.size + min(n_chunks, _cores()) * per_draw),
                   f"d={d}, n={n}, features={features}, n_test={n_test}, draws={draws}")
    gens = rng.generators(seed, n_chunks)
    counts = rng.chunk_sizes(draws, n_chunks)
    test = np.zeros((draws, r.size))
    train = np.zeros((draws, r.size))
    with threadpool_limits(1):
        _relu_kernel_jit(gens, counts, _offsets(counts), d, n, N, n_test, a1, a2, math.sqrt(noise), r, test, train)
    params = dict(d=d, n=n, features=features, ridges=r.tolist(), draws=draws, seed=seed, target=[a1, a2],
                  noise_variance=noise, n_test=n_test, n_chunks=n_chunks)
    return _summarize(test, train, r, params)
