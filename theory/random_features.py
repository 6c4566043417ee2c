r"""Random-feature ridge regression: the eigenframework of Simon, Karkada, Ghosh & Belkin (ICLR 2024).

Setting and conventions
-----------------------
A kernel with eigenvalues ``lambda_i >= 0`` and orthonormal eigenfunctions
``phi_i``; the target ``f* = sum_i v_i phi_i`` with label noise of variance
``sigma^2``; ``n`` training samples; ``N`` random features (``N = inf`` is kernel
ridge regression).  The model ``yhat = a^T phi(x)`` is fitted by
``min_a ||y - Phi a||^2 + delta ||a||^2``; the ridge ``delta`` is *not* scaled by
``n`` (the paper's convention and its authors' code, dkarkada/more-is-better).
For Gaussian features ``phi(x) = F Lambda^{1/2} x / sqrt(N)``, ``F_ij ~ N(0, 1)``.

The eigenframework (the paper's deterministic equivalent) defines ``kappa, gamma >= 0`` by

    (1)  n = sum_i L_i + delta / kappa,        L_i = lambda_i / (lambda_i + gamma),
    (2)  N = sum_i L_i + N kappa / gamma,

and with ``z = sum L_i``, ``q = sum L_i^2`` predicts the test risk

    E_te = E_0 (sum_i B_i v_i^2 + sigma^2),
    E_0  = 1 / (1 - x),   x = (q (N - 2z) + z^2) / (n (N - q)) = q/n + (z - q)^2 / (n (N - q)),
    B_i  = (1 - L_i) - kappa L_i / (lambda_i + gamma) * N / (N - q)
         = (1 - L_i) (1 - L_i (N - z) / (N - q))        (using (2)),

and the training risk ``E_tr = (delta / (n kappa))^2 E_te = ((n - z) / n)^2 E_te``.

How it is solved (one monotone equation, no nesting)
----------------------------------------------------
Equation (2) gives ``kappa = gamma (1 - z/N)`` and then (1) gives the ridge as an
explicit function of ``gamma`` alone:

    delta(gamma) = gamma (1 - z(gamma)/N) (n - z(gamma)),

a product of two positive increasing functions on ``{gamma : z(gamma) < min(n, N)}``.
Every risk above depends on ``gamma`` only (``kappa`` enters through ``(N-z)/(N-q)``
and ``delta/kappa = n - z``).  So

* for ``delta > 0``, ``g(t) = log delta(e^t) - log delta`` is strictly increasing in
  ``t = log gamma`` with slope ``1 + (z-q)/(N-z) + (z-q)/(n-z) >= 1`` (``dz/dt = -(z-q)``):
  a safeguarded Newton iteration on a bracket that the slope bound gives in one step
  (:func:`effective_regularization`); the slope bound also makes ``|g|`` a bound on the
  error in ``log gamma``;
* ``delta = 0`` is the boundary ``z(gamma_0) = min(n, N)`` of that domain -- the ridgeless
  limits on either side of ``n = N`` are its two branches: ``n < N`` gives
  ``kappa = gamma_0 (1 - n/N)``, ``n > N`` gives ``kappa = 0`` with ``delta/kappa = n - N``;
  at ``n = N`` the overfitting coefficient ``E_0`` is infinite (the interpolation peak);
  when ``min(n, N)`` reaches the number of positive eigenvalues, ``gamma_0 = 0``;
* the optimal ridge minimises the explicit risk over ``gamma >= gamma_0``
  (:func:`optimal_ridge`); ``gamma_0`` itself is the ridgeless end.

Range: the trace ``sum w lambda`` may reach half the largest double and ``gamma`` may reach the same (so
``lambda + gamma`` stays finite in every search); beyond either, ``ValueError`` (dividing eigenvalues and ridge by
a common factor leaves every risk unchanged).  Near the ridgeless end ``gamma`` is located to the rounding of
``z`` over its slope, a relative ``~ u z/(z - q)``: the sensitivity of ``gamma_0`` to ``n`` itself.

``N -> inf`` (:func:`krr_limit`, checked with sympy) turns (2) into ``kappa = gamma``, ``x``
into ``q/n`` and ``B_i`` into ``(1 - L_i)^2``: the kernel eigenlearning formulas.

Power-law tasks
---------------
``lambda_i = i^-alpha``, ``v_i^2 = i^-beta`` (:func:`power_law`, truncated at ``M`` modes).
In the continuum limit (sums as integrals, ``1 < beta < 2 alpha + 1``, ``N = inf``) sympy
derives the test risk as a function of ``s = delta / (n kappa)``, the square root of the
fitting ratio ``R = E_tr / E_te`` (:func:`powerlaw_symbolic`):

    E(s) = alpha / (1 + (alpha - 1) s) * (A n^(1-beta) (1 - s)^(1-beta) + sigma^2),

and without noise its minimiser
``s* = (alpha - beta) / (beta (alpha - 1))`` for ``beta < alpha`` and ``s* = 0`` (zero ridge,
negative if it were allowed) for ``beta >= alpha``: the optimal fitting ratio
``R* = s*^2`` is well below 1 -- overfitting is obligatory.  With noise the optimum
depends on the noise relative to ``A n^(1-beta)`` (:func:`powerlaw_optimal_fitting_ratio`).
"""

from __future__ import annotations

import math
import numbers
import sys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
from scipy.optimize import brentq, minimize_scalar

from . import _checks

# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------


#: the largest supported trace ``sum w lambda``: ``gamma_0 <= trace / min(n, N)`` and ``lambda + gamma`` then stay finite
_TRACE_MAX = sys.float_info.max / 2
#: ``log`` of the largest ``gamma`` any search visits (``lambda + gamma`` finite for every ``lambda <= _TRACE_MAX``)
_LOG_GAMMA_MAX = math.log(sys.float_info.max / 2)


def _vector(name, values, *, nonneg=False, positive=False):
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of finite numbers, got {_checks._short(values)}") from None
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    if nonneg and np.any(a < 0):
        raise ValueError(f"{name} must be >= 0, got a minimum of {float(a.min())!r}")
    if positive and np.any(a <= 0):
        raise ValueError(f"{name} must be > 0, got a minimum of {float(a.min())!r}")
    return a


def _count(name, value):
    """A sample count: a finite real number >= 1 (features, which may be ``math.inf``, are checked apart)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 1:
        raise ValueError(f"{name} must be a finite number >= 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class _Problem:
    lam: np.ndarray
    v2: np.ndarray
    w: np.ndarray
    noise: float
    n: float
    N: float  # math.inf for kernel ridge regression
    rank: float  # sum of multiplicities of the positive eigenvalues


def _problem(eigenvalues, target_coefficients, noise_variance, n, features, multiplicities=None) -> _Problem:
    lam = _vector("eigenvalues", eigenvalues, nonneg=True)
    if not np.any(lam > 0):
        raise ValueError("eigenvalues must include at least one positive value")
    v = _vector("target_coefficients", target_coefficients)
    if v.size != lam.size:
        raise ValueError(f"target_coefficients must have the length of eigenvalues ({lam.size}), got {v.size}")
    w = np.ones_like(lam) if multiplicities is None else _vector("multiplicities", multiplicities, positive=True)
    if w.size != lam.size:
        raise ValueError(f"multiplicities must have the length of eigenvalues ({lam.size}), got {w.size}")
    noise = _checks.real("noise_variance", noise_variance, low=0.0)
    n = _count("n", n)
    if isinstance(features, bool) or not isinstance(features, numbers.Real) or math.isnan(features) or features < 1:
        raise ValueError(f"features must be a number >= 1 or math.inf, got {features!r}")
    N = float(features)
    with np.errstate(over="ignore"):
        trace = float((w * lam).sum())
    if not trace <= _TRACE_MAX:
        raise ValueError(f"multiplicities * eigenvalues must sum to at most {_TRACE_MAX:.4g} (half the largest "
                         f"double), got {trace!r}; the risks are unchanged when eigenvalues and ridge are divided "
                         f"by a common factor")
    return _Problem(lam, v * v, w, noise, n, N, float(w[lam > 0].sum()))


# ---------------------------------------------------------------------------------------------
# the risk as an explicit function of gamma
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Eigenframework:
    """The eigenframework's quantities at one point ``(n, N, delta)``."""

    kappa: float
    gamma: float
    ridge: float
    learnabilities: np.ndarray  # L_i
    overfitting: float  # E_0
    bias: float  # sum_i B_i v_i^2
    test: float  # E_te, sigma^2 included
    train: float  # E_tr

    @property
    def fitting_ratio(self) -> float:
        return self.train / self.test if self.test > 0 else math.nan


def _learnabilities(lam, gamma):
    if gamma == 0.0:
        L = (lam > 0).astype(float)
        return L, 1.0 - L
    d = lam + gamma
    return lam / d, gamma / d


def _sums(p: _Problem, gamma):
    L, one_minus = _learnabilities(p.lam, gamma)
    wl = p.w * L
    z = float(wl.sum())
    q = float((wl * L).sum())
    # z - q = sum w L (1 - L), computed without cancellation
    zq = float((wl * one_minus).sum())
    return L, one_minus, z, q, zq


def _at_gamma(p: _Problem, gamma: float, ridge: float | None = None) -> Eigenframework:
    """Everything at a given ``gamma`` (``z(gamma) <= min(n, N)``); ``ridge`` if known.

    Cancellation-free forms: ``1 - x = (n - z)/n + (z - q)(N - z)/(n (N - q))`` (two
    positive terms), ``z - q = sum L (1 - L)``, and with a known ridge the gaps from
    the fixed point itself, ``n - z = delta/kappa`` and ``N - z = N kappa/gamma``.
    """
    L, one_minus, z, q, zq = _sums(p, gamma)
    n, N = p.n, p.N
    finite = math.isfinite(N)
    kappa = 0.0
    if ridge is not None and ridge > 0 and gamma > 0:
        kappa = _accurate_kappa(gamma, ridge, n, N) if finite else gamma
    if kappa > 0:  # (0 when gamma ridge / N underflows: a subnormal ridge; the gaps below are then exact enough)
        feat_gap = N * kappa / gamma if finite else math.inf  # N - z
        slack = ridge / kappa  # n - z
    else:
        slack = n - z
        feat_gap = N - z if finite else math.inf
        kappa = gamma * feat_gap / N if finite else gamma
    if finite:
        # (N - z) / (N - q), with N - q = (N - rank) + sum_{lam > 0} w (1 - L)(1 + L) when N >= rank: non-negative
        # terms (gamma_0 = 0 there, so L -> 1 with the ridge, and N - q would lose the sum to cancellation);
        # N = q only when every learnability is 0 or 1 (ridgeless, N = rank), where ratio multiplies zeros only:
        # any finite value, 1
        gap_q = N - p.rank + float((p.w * one_minus * (1.0 + L))[p.lam > 0].sum()) if N >= p.rank else N - q
        ratio = feat_gap / gap_q if gap_q > 0 else 1.0
        one_minus_x = slack / n + zq * ratio / n
    else:
        ratio = 1.0
        one_minus_x = slack / n + zq / n
    delta = kappa * slack if ridge is None else ridge
    B = one_minus * (1.0 - L * ratio)
    bias = float((B * p.v2).sum())  # v2 of a repeated entry is the total over its modes
    e0 = math.inf if one_minus_x <= 0.0 else 1.0 / one_minus_x
    inner = bias + p.noise
    test = e0 * inner if inner > 0 else 0.0
    train = (slack / n) ** 2 * test if math.isfinite(test) else (0.0 if slack == 0 else math.inf)
    return Eigenframework(kappa=kappa, gamma=gamma, ridge=max(delta, 0.0), learnabilities=L, overfitting=e0,
                          bias=bias, test=test, train=train)


def _accurate_kappa(gamma, ridge, n, N):
    """``kappa`` from the fixed point with ``z`` eliminated: no cancellation, whatever the gaps.

    (1) and (2) give ``n - z = ridge/kappa`` and ``N - z = N kappa/gamma``, so
    ``N kappa/gamma = (N - n) + ridge/kappa``: ``kappa^2 - 2 c kappa - s^2 = 0`` with
    ``c = gamma (N - n)/(2N)`` and ``s^2 = gamma ridge/N``, whose positive root is
    ``c + hypot(c, s)`` (written ``s^2/(hypot(c, s) - c)`` when ``c < 0``, i.e. ``n > N``).
    The forms (2) ``gamma (N - z)/N`` and (1) ``ridge/(n - z)`` lose ~ u z/(N - z) and
    ~ u z/(n - z) to cancellation, both large when the two gaps are small (``n`` near ``N``,
    a tiny ridge); this root depends on ``gamma`` alone, and no more steeply than ``gamma``.
    """
    c = 0.5 * gamma * ((N - n) / N)
    s = math.sqrt(gamma) * math.sqrt(ridge) / math.sqrt(N)  # each factor under its own root: no underflow
    h = math.hypot(c, s)
    return c + h if c >= 0 else s * (s / (h - c))


def _z(p: _Problem, gamma):
    return float((p.w * (p.lam / (p.lam + gamma))).sum())


def _ridgeless_gamma(p: _Problem) -> float:
    """``gamma_0``: the root of ``z(gamma) = min(n, N)``, or 0 when that is at least the rank."""
    r = min(p.n, p.N)
    if r >= p.rank:
        return 0.0
    lmax = float(p.lam.max())
    # z(gamma) <= trace / gamma, so gamma = 2 trace / r has z <= r / 2; and gamma = max/2 >= trace has z <= 1 <= r
    # (capped there: lambda + gamma stays finite for every lambda <= trace <= _TRACE_MAX)
    hi = min(2.0 * float((p.w * p.lam).sum()) / r, math.exp(_LOG_GAMMA_MAX))
    lo = hi
    while _z(p, lo) <= r:
        lo *= 0.5
        if lo <= 1e-300 * lmax:  # (<=: the floor is 0 when lmax < ~2.5e-24; lo = 0 has no logarithm)
            return 0.0
    f = lambda t: math.log(_z(p, math.exp(t))) - math.log(r)  # noqa: E731
    t = brentq(f, math.log(lo), math.log(hi), xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=400)
    return math.exp(t)


def _log_ridge(p: _Problem, t):
    """``(g, g')`` with ``g = log delta(e^t)`` and ``g' = dg/dt``; ``(-inf, inf)`` outside the domain."""
    gamma = math.exp(t)
    _, one_minus, z, _, zq = _sums(p, gamma)
    # m - z = (m - rank) + sum_{lam > 0} w (1 - L) for m = n, N: a sum of non-negative terms when m >= rank
    # (gamma_0 = 0 there, so gamma itself goes to 0 with the ridge; m - z would lose it to cancellation)
    unlearned = float((p.w * one_minus)[p.lam > 0].sum())
    slack = p.n - p.rank + unlearned if p.n >= p.rank else p.n - z
    feat_gap = math.inf if math.isinf(p.N) else (p.N - p.rank + unlearned if p.N >= p.rank else p.N - z)
    feat = 1.0 if math.isinf(p.N) else feat_gap / p.N
    if slack <= 0 or feat <= 0:
        return -math.inf, math.inf
    slope = 1.0 + zq / slack + (0.0 if math.isinf(p.N) else zq / feat_gap)
    return t + math.log(feat) + math.log(slack), slope


def _beyond_float_range(ridge):
    return (f"ridge {ridge!r} needs an effective regularization gamma above {math.exp(_LOG_GAMMA_MAX):.4g}, beyond "
            f"the float range; the risks are unchanged when eigenvalues and ridge are divided by a common factor")


def _solve_gamma(p: _Problem, ridge: float) -> float:
    """The unique ``gamma`` with ``delta(gamma) = ridge > 0``: safeguarded Newton.

    The unknown is ``x`` with ``log gamma = log gamma_0 + e^x`` (``x = log gamma`` when
    ``gamma_0 = 0``): every real ``x`` lies inside the domain, and near the ridgeless end,
    where ``delta`` vanishes linearly in ``log gamma - log gamma_0``, ``log delta`` is
    linear in ``x``, so tiny ridges converge as fast as large ones.
    """
    eps = np.finfo(float).eps
    target = math.log(ridge)
    g0 = _ridgeless_gamma(p)
    if g0 > 0:
        t0 = math.log(g0)
        to_t = lambda x: t0 + math.exp(x)  # noqa: E731
        dt_dx = math.exp
        x = 0.0  # (or top, below: gamma_0 within an e-fold of the largest gamma)
    else:
        to_t = lambda x: x  # noqa: E731
        dt_dx = lambda x: 1.0  # noqa: E731
        x = math.log(ridge) - math.log(p.n)  # (not log(ridge / n): a subnormal ridge / n can round to 0)
    lo, hi = -math.inf, math.inf  # g(lo) < 0 < g(hi)
    # the largest x searched: gamma = e^_LOG_GAMMA_MAX (gamma_0 <= trace / min(n, N) lies at or below it)
    if g0 > 0:
        if t0 >= _LOG_GAMMA_MAX:
            raise ValueError(_beyond_float_range(ridge))
        top = math.log(_LOG_GAMMA_MAX - t0)
        x = min(x, top)
    else:
        top = _LOG_GAMMA_MAX
    walk = 1.0  # the step inwards from outside the rounded domain, doubled while it stays outside
    for _ in range(200):
        t = to_t(x)
        g, slope = _log_ridge(p, t)
        g -= target
        if g == 0.0:
            return math.exp(t)
        if g < 0:
            lo = x
        else:
            hi = x
        if not math.isfinite(g):
            # rounding put t outside the domain (n - z or N - z underflowed): move inwards, by steps that double
            # (a gap that underflows below gamma ~ 1e-24 lambda lies hundreds of units below the root)
            new = x + walk
            walk *= 2.0
        else:
            walk = 1.0
            step = slope * dt_dx(x)
            if step == 0.0:  # e^x underflowed: t is log gamma_0 itself, as close to the root as doubles get
                return math.exp(t)
            new = x - g / step
            # slope >= 1 in t: the root lies below t + |g|, so cap the step there (compared in x: no overflow)
            if g < 0:
                cap = t - g + 1.0
                cap = math.log(cap - t0) if g0 > 0 else cap
                new = min(new, cap)
            if new == x:  # the Newton step is below the spacing of x: converged (x is at a bracket end now)
                return math.exp(t)
        if not (lo < new < hi):
            if math.isfinite(lo) and math.isfinite(hi):
                new = 0.5 * (lo + hi)
            else:  # one side only: move towards the other by a bounded step
                new = x + (1.0 if g < 0 else -1.0)
        if new >= top:
            if x >= top:
                raise ValueError(_beyond_float_range(ridge))
            new = top
        if abs(to_t(new) - t) <= 4 * eps * max(1.0, abs(t)):
            return math.exp(to_t(new))
        x = new
    raise RuntimeError("the eigenframework fixed point did not converge in 200 Newton steps")  # pragma: no cover


def eigenframework(eigenvalues, target_coefficients, noise_variance, n, features, ridge,
                   multiplicities=None) -> Eigenframework:
    """All of the eigenframework's quantities at ``(n, N = features, delta = ridge)``.

    ``multiplicities`` (optional) repeats each eigenvalue that many times; the
    target coefficient of a repeated entry is then the square root of the total
    ``v^2`` over its modes.
    """
    p = _problem(eigenvalues, target_coefficients, noise_variance, n, features, multiplicities)
    ridge = _checks.real("ridge", ridge, low=0.0)
    if ridge > 0.0:
        return Eigenframework(**{**_at_gamma(p, _solve_gamma(p, ridge), ridge).__dict__, "ridge": ridge})
    return _ridgeless(p)


def _ridgeless(p: _Problem) -> Eigenframework:
    """``delta = 0``: the two branches either side of ``n = N``, with their exact values.

    ``n < N``: ``z = n``, no training error, ``kappa = gamma_0 (1 - n/N)``;
    ``n > N``: ``z = N``, ``kappa = 0`` and ``delta/kappa = n - N``;
    ``n = N`` (or ``n`` equal to the rank): ``E_0`` infinite.
    """
    gamma = _ridgeless_gamma(p)
    out = _at_gamma(p, gamma)
    fields = dict(out.__dict__, ridge=0.0)
    r = min(p.n, p.N, p.rank)
    if p.n <= r:  # interpolation: z = n exactly
        fields["train"] = 0.0
    if not math.isinf(p.N) and p.N <= min(p.n, p.rank):
        fields["kappa"] = 0.0
    if p.n == p.N or p.n == p.rank:
        fields["overfitting"] = math.inf
        fields["test"] = math.inf if fields["bias"] + p.noise > 0 else 0.0
    return Eigenframework(**fields)


def effective_regularization(eigenvalues, n, features, ridge, multiplicities=None) -> tuple[float, float]:
    """``(kappa, gamma)``, the solution of the fixed-point equations (1)-(2)."""
    lam = _vector("eigenvalues", eigenvalues, nonneg=True)
    ef = eigenframework(lam, np.zeros_like(lam), 0.0, n, features, ridge, multiplicities)
    return ef.kappa, ef.gamma


def test_risk(eigenvalues, target_coefficients, noise_variance, n, features, ridge, multiplicities=None) -> float:
    """The eigenframework's omniscient test risk (``sigma^2`` included); ``features=math.inf`` is KRR."""
    return eigenframework(eigenvalues, target_coefficients, noise_variance, n, features, ridge,
                          multiplicities).test


test_risk.__test__ = False  # not a pytest test


def train_risk(eigenvalues, target_coefficients, noise_variance, n, features, ridge, multiplicities=None) -> float:
    """The eigenframework's training-risk estimate ``(delta / (n kappa))^2 E_te``."""
    return eigenframework(eigenvalues, target_coefficients, noise_variance, n, features, ridge,
                          multiplicities).train


def optimal_ridge(eigenvalues, target_coefficients, noise_variance, n, features, multiplicities=None,
                  *, full=False):
    """``(ridge, risk)``: the test risk minimised over ``ridge >= 0``.

    The search runs over ``gamma >= gamma_0`` (the ridge is explicit in ``gamma``):
    a scan of 65 points in ``log gamma`` from ``gamma_0`` to where the model has
    learned nothing, then Brent's method on the best bracket; the ridgeless end
    is compared explicitly, so a zero optimal ridge is returned as exactly 0.
    ``full=True`` returns the :class:`Eigenframework` at the optimum instead.
    """
    full = _checks.flag("full", full)
    p = _problem(eigenvalues, target_coefficients, noise_variance, n, features, multiplicities)
    g0 = _ridgeless_gamma(p)
    lam_pos = p.lam[p.lam > 0]
    decades = math.log(1e8)  # the scan's reach beyond the eigenvalues (in log gamma)
    lo = math.log(g0) if g0 > 0 else math.log(float(lam_pos.min())) - decades
    # the top: far above every eigenvalue and above gamma_0 (which a huge multiplicity can put beyond lambda_max),
    # but no further than the largest gamma for which lambda + gamma is finite (gamma_0 itself lies below it)
    hi = min(max(math.log(float(lam_pos.max())), lo) + decades, _LOG_GAMMA_MAX)

    def risk(t):
        return _at_gamma(p, math.exp(t)).test

    grid = np.linspace(lo, hi, 65)
    vals = np.array([risk(t) for t in grid])
    k = int(np.argmin(vals))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    best_t, best = grid[k], vals[k]
    if b > a:
        res = minimize_scalar(risk, bounds=(a, b), method="bounded",
                              options={"xatol": 4 * np.finfo(float).eps * max(1.0, abs(grid[k]))})
        if res.fun < best:
            best_t, best = float(res.x), float(res.fun)
    end = _ridgeless(p)
    if end.test <= best:
        at = end
    else:
        at = _at_gamma(p, math.exp(best_t))
    return at if full else (at.ridge, at.test)


# ---------------------------------------------------------------------------------------------
# power-law tasks
# ---------------------------------------------------------------------------------------------


#: Gauss-Legendre nodes of the power-law tail quadrature (:func:`power_law`)
TAIL_NODES = 32


def power_law(alpha, beta, modes, *, tail=False):
    """``(lambda, v)`` with ``lambda_i = i^-alpha`` and ``v_i = i^(-beta/2)``, ``i = 1..modes``.

    ``tail=True`` returns ``(lambda, v, multiplicities)`` with :data:`TAIL_NODES` more
    entries standing for all the modes ``i > modes``: the sum over the tail of any
    smooth function of ``(lambda_i, v_i^2)`` is replaced by the integral over
    ``i > modes + 1/2`` (midpoint rule, error ``O(f'')``, relative ``modes^-2``), computed by
    Gauss-Legendre quadrature in ``u`` with ``i = (modes + 1/2) u^-p``,
    ``p = 1/(min(alpha, beta) - 1)``, which makes the integrands of ``z``, ``q`` and the
    bias smooth in ``u``.  Node ``k`` becomes an entry with eigenvalue ``i_k^-alpha``,
    multiplicity ``w_k`` (the quadrature weight times ``di/du``) and target mass
    ``v^2 = w_k i_k^-beta``.  Requires ``alpha > 1`` and ``beta > 1`` (finite tail sums).
    """
    alpha = _checks.real("alpha", alpha, low=0.0, low_open=True)
    beta = _checks.real("beta", beta)
    modes = _checks.integer("modes", modes, 1)
    tail = _checks.flag("tail", tail)
    _checks.memory("modes", 4 * 8.0 * modes, f"modes={modes} (arrays of modes entries)")
    i = np.arange(1, modes + 1, dtype=float)
    lam, v = i ** -alpha, i ** (-beta / 2.0)
    if not tail:
        return lam, v
    if alpha <= 1 or beta <= 1:
        raise ValueError(f"tail=True needs alpha > 1 and beta > 1, got alpha={alpha}, beta={beta}")
    x, wq = np.polynomial.legendre.leggauss(TAIL_NODES)
    u, wu = 0.5 * (x + 1.0), 0.5 * wq
    p = 1.0 / (min(alpha, beta) - 1.0)
    start = modes + 0.5
    it = start * u**-p
    w = wu * p * start * u ** (-p - 1.0)  # di = p start u^(-p-1) du
    return (np.append(lam, it**-alpha), np.append(v, np.sqrt(w * it**-beta)),
            np.append(np.ones(modes), w))


# The continuum power law, symbolically.  I(a, b) = int_0^inf u^(a-1) (1 + u^alpha)^-b du
# = Gamma(a/alpha) Gamma(b - a/alpha) / (alpha Gamma(b)) (the Beta integral after v = u^alpha).
alpha_sym, beta_sym = sp.symbols("alpha beta", positive=True)
s_sym, n_sym, noise_sym, kappa_sym = sp.symbols("s n sigma2 kappa", positive=True)
_slack = sp.Symbol("r", positive=True)  # 1 - s


def _beta_integral(a, b):
    return sp.gamma(a / alpha_sym) * sp.gamma(b - a / alpha_sym) / (alpha_sym * sp.gamma(b))


#: z = sum_i L_i, q = sum_i L_i^2 and the bias sum_i (1 - L_i)^2 v_i^2 in the continuum, at kappa
CONTINUUM_Z = kappa_sym ** (-1 / alpha_sym) * _beta_integral(1, 1)
CONTINUUM_Q = kappa_sym ** (-1 / alpha_sym) * _beta_integral(1, 2)
CONTINUUM_BIAS = kappa_sym ** ((beta_sym - 1) / alpha_sym) * _beta_integral(2 * alpha_sym - beta_sym + 1, 2)


@lru_cache(maxsize=1)
def powerlaw_symbolic() -> dict:
    """The continuum power-law derivation (sympy; a few seconds, cached).

    ``kappa(s)`` from ``n = z + delta/kappa`` with ``s = delta/(n kappa)`` (so ``z = n (1 - s)``),
    the risk ``E(s)`` and the noiseless critical point ``s*`` of ``log E``.
    """
    (k,) = sp.solve(sp.Eq(CONTINUUM_Z, n_sym * _slack), kappa_sym)
    # alpha > 1: every Gamma factor is positive, so (x^alpha)^(1/alpha) = x (powdenest with force)
    e0 = sp.simplify(sp.powdenest(sp.gammasimp(1 / (1 - CONTINUUM_Q.subs(kappa_sym, k) / n_sym)), force=True))
    bias = sp.powdenest(sp.expand_power_base(CONTINUUM_BIAS.subs(kappa_sym, k), force=True), force=True)
    risk = e0 * (bias + noise_sym)
    (crit,) = sp.solve(sp.simplify(sp.diff(sp.log(risk.subs(noise_sym, 0)), _slack)), _slack)
    to_s = {_slack: 1 - s_sym}
    return {"kappa": k.subs(to_s), "risk": risk.subs(to_s), "optimal_s": sp.factor(sp.simplify(1 - crit)),
            "overfitting": e0.subs(to_s)}


@lru_cache(maxsize=1)
def _powerlaw_functions():
    d = powerlaw_symbolic()
    args = (s_sym, alpha_sym, beta_sym, n_sym, noise_sym)
    return (sp.lambdify(args, d["risk"], "math"), sp.lambdify(args, sp.diff(d["risk"], s_sym), "math"),
            sp.lambdify((alpha_sym, beta_sym), d["optimal_s"], "math"))


def _powerlaw_args(alpha, beta):
    alpha = _checks.real("alpha", alpha, low=1.0, low_open=True)
    beta = _checks.real("beta", beta, low=1.0, low_open=True)
    if beta >= 2 * alpha + 1:
        raise ValueError(f"beta must be < 2 alpha + 1 = {2 * alpha + 1} for the continuum power law, got {beta}")
    return alpha, beta


def powerlaw_risk(s, alpha, beta, n, noise_variance=0.0) -> float:
    """Continuum test risk of a power-law task at ``s = sqrt(fitting ratio)``, ``0 <= s < 1`` (KRR)."""
    alpha, beta = _powerlaw_args(alpha, beta)
    s = _checks.real("s", s, low=0.0, high=1.0, high_open=True)
    n = _count("n", n)
    noise = _checks.real("noise_variance", noise_variance, low=0.0)
    return float(_powerlaw_functions()[0](s, alpha, beta, n, noise))


def powerlaw_optimal_fitting_ratio(alpha, beta, noise_variance=0.0, n=1.0) -> float:
    """The fitting ratio ``R* = s*^2`` at the optimal ridge, continuum power law, KRR.

    Noiseless: ``s* = max(0, (alpha - beta) / (beta (alpha - 1)))`` (sympy); with noise the
    root of ``dE/ds`` on ``[0, 1)`` (which depends on ``noise_variance`` and ``n``).
    """
    alpha, beta = _powerlaw_args(alpha, beta)
    noise = _checks.real("noise_variance", noise_variance, low=0.0)
    n = _count("n", n)
    if noise == 0.0:
        return max(0.0, float(_powerlaw_functions()[2](alpha, beta))) ** 2
    drisk = _powerlaw_functions()[1]

    def d(s):
        # steep power laws with a huge noise: dE/ds's terms (A n^(1-beta) (1 - s)^(1-beta) and its derivative, times
        # the noise) can leave the float range near s = 1 (Python's power raises, or inf - inf gives NaN)
        try:
            v = drisk(s, alpha, beta, n, noise)
        except OverflowError:
            v = math.nan
        if math.isnan(v):
            raise ValueError(f"noise_variance={noise!r}: dE/ds overflows double precision at s = 1 - {1.0 - s:.3g} "
                             f"(alpha={alpha!r}, beta={beta!r}, n={n!r}); supported: noise and n for which the "
                             f"slope's terms stay below 1e308 on the way to the optimum")
        return v

    if d(0.0) >= 0:
        return 0.0
    hi = 1.0 - 2.0 ** -20
    top = math.nextafter(1.0, 0.0)
    while d(hi) < 0:  # the bias term (1 - s)^(1 - beta) always wins near s = 1
        if hi == top:  # the root lies in (1 - 2^-53, 1): s* is 1 to rounding
            return top * top
        hi = min(1.0 - (1.0 - hi) / 16.0, top)
    return brentq(d, 0.0, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps) ** 2


# ---------------------------------------------------------------------------------------------
# the N -> infinity reduction, symbolically
# ---------------------------------------------------------------------------------------------

_N, _n, _zs, _qs, _lam, _g = sp.symbols("N n z q lambda gamma", positive=True)
#: the symbols of :func:`krr_limit`'s expressions
KRR_SYMBOLS = {"N": _N, "n": _n, "z": _zs, "q": _qs, "lambda": _lam, "gamma": _g}


@lru_cache(maxsize=1)
def krr_limit() -> dict:
    """sympy limits ``N -> oo``: ``kappa/gamma -> 1``, ``x -> q/n``, ``B_i -> (1 - L_i)^2``.

    Also the differences between the paper's forms of ``x`` and ``B_i`` and the
    rewritten forms this module evaluates (both simplify to 0).
    """
    L = _lam / (_lam + _g)
    kappa = _g * (1 - _zs / _N)  # equation (2)
    x = (_qs * (_N - 2 * _zs) + _zs**2) / (_n * (_N - _qs))
    B = (1 - L) - kappa * L / (_lam + _g) * _N / (_N - _qs)
    return {
        "kappa/gamma": sp.limit(kappa / _g, _N, sp.oo),
        "x": sp.limit(x, _N, sp.oo),
        "B": sp.factor(sp.limit(B, _N, sp.oo)),
        "B (rewritten)": sp.simplify(B - (1 - L) * (1 - L * (_N - _zs) / (_N - _qs))),
        "x (rewritten)": sp.simplify(x - (_qs / _n + (_zs - _qs) ** 2 / (_n * (_N - _qs)))),
    }
