"""Monte Carlo of policy evaluation by the martingale approach (Jia & Zhou 2022).

The model (stated, shared with the claims and figures):

* state: the 1-D SDE ``dX = (a0 + a1 X) dt + (s0 + s1 X) dW`` with ``X_0 = x0``
  (``drift = (a0, a1)``, ``diffusion = (s0, s1)``), on ``[0, T]`` (``horizon = T``)
  or on ``[0, inf)`` (``horizon = math.inf``, discount ``beta > 0``), the latter
  simulated to a truncation horizon ``T_trunc`` (``truncation``; default
  ``54 ln 2 / beta``, so ``e^{-beta T_trunc} = 2^-54``, below the unit roundoff);
* rewards: running ``r(x)`` and terminal ``h(x)``, polynomials given by their
  coefficients in ascending powers of ``x`` (for an infinite horizon ``h`` is the
  value put on the truncation time, default zero); discount ``beta >= 0``;
* features ``phi_i(t, x) = sum_{a,b} C[i, a, b] t^a x^b`` (``features = C``, shape
  ``(n_features, deg_t + 1, deg_x + 1)``); test functions ``psi`` likewise;
  ``J^theta = sum_i theta_i phi_i``;
* grid ``t_k = k dt``, ``dt = T / K`` (``K = steps``); transition
  ``"euler"`` (Euler-Maruyama) or ``"exact"`` (the Gaussian OU transition, ``s1 = 0``:
  mean ``x e^{a1 dt} + (a0/a1)(e^{a1 dt} - 1)``, variance ``s0^2 (e^{2 a1 dt} - 1)/(2 a1)``,
  ``a0 dt`` and ``s0^2 dt`` when ``a1 = 0``).  Both are ``X_{k+1} = X_k (p + q Z) + u + v Z``
  (:func:`transition_coefficients`).

TD errors, with ``e_k = e^{-beta t_k}``::

    delta_k = e_{k+1} J^theta(t_{k+1}, X_{k+1}) - e_k J^theta(t_k, X_k) + e_k r(X_k) dt     (k < K-1)
    delta_{K-1} = e_K h(X_K) - e_{K-1} J^theta(t_{K-1}, X_{K-1}) + e_{K-1} r(X_{K-1}) dt

so ``delta_k = theta . d_k + b_k`` with ``d_k = e_{k+1} phi_{k+1} - e_k phi_k`` (the
``phi_K`` term dropped at the last step) and ``b_k = e_k r(X_k) dt`` (plus ``e_K h(X_K)``
at the last step).  Every algorithm is linear in ``theta``; per replicate it solves:

* ``"ml"`` (martingale loss, gradient Monte Carlo, Jia & Zhou Sec. 3): minimise
  ``sum_k e_k^2 dt (G_k - J^theta(t_k, X_k))^2`` with the left-Riemann return
  ``G_k = sum_{j>=k} e^{-beta(t_j - t_k)} r(X_j) dt + e^{-beta(T - t_k)} h(X_K)``:
  ``A = sum e_k^2 dt phi_k phi_k^T``, ``c = sum e_k^2 dt phi_k G_k``.  The kernel does
  not store paths: ``e_k^2 G_k = e_k (Total - R_k)`` with ``R_k = sum_{j<k} e_j r_j dt``
  and ``Total = R_K + e_K h(X_K)``, so ``c = Total u - v`` per path with
  ``u = sum e_k dt phi_k`` and ``v = sum e_k dt R_k phi_k`` (the numpy baseline
  computes ``G_k`` backwards instead: an independent route);
* ``"mstd"`` (mean-square TD error, Sec. 4.1): minimise ``sum delta_k^2``:
  ``(sum d d^T) theta = -sum d b``;
* ``"lstd"`` (Sec. 4.2, test functions = features): ``sum phi_k delta_k = 0``:
  ``A = -sum phi_k d_k^T``, ``c = sum phi_k b_k``;
* ``"td0"``: the online semi-gradient TD(0) iteration ``theta <- theta + alpha_n phi_k delta_k``
  run along the replicate's paths, path after path, step after step, from
  ``theta = 0``, with ``alpha_n = alpha0 / (1 + n / n0)`` (``n`` = updates so far,
  ``td_step = (alpha0, n0)``, default ``(0.1, 50 K)``); the final ``theta`` is the
  replicate's estimate.  Semi-gradient TD(0) with polynomial features is fragile:
  too large an ``alpha0 n0`` diverges on paths with large ``|x|``, too small a one converges slowly;
* ``"td_lambda"``: trace ``xi_k = lam^{dt} xi_{k-1} + phi_k dt`` (``lam`` per unit time,
  ``xi_{-1} = 0`` on each path), ``sum xi_k delta_k = 0``;
* ``"gtd"``: test functions ``psi`` (default: the features): least squares
  ``min || sum psi_k delta_k ||^2`` through the normal equations ``A^T A theta = A^T c``
  with ``A = -sum psi_k d_k^T``, ``c = sum psi_k b_k``.  With ``psi = phi`` it is LSTD.

With a ``reference`` value function (coefficients ``(deg_t + 1, deg_x + 1)``) the run
also reports the sample mean of ``M_k = e_k J_ref(t_k, X_k) + sum_{j<k} e_j r(X_j) dt``,
``k = 0..K``: constant for the true value function, drifting for a wrong one.

Seeding and draw order: a replicate is one chunk of paths (``rng.chunk_sizes(paths,
replicates)``); chunk ``c`` owns generator ``rng.generators(seed, replicates)[c]`` and
draws its normals **path-major**: exactly ``standard_normal((paths_in_chunk, K))`` in C
order, i.e. path after path, ``K`` normals each.  (Path-major, not step-major, because
online TD(0) processes whole episodes one after another and a path's state then stays
in registers.)  Replicates are independent, so the standard errors are the sample
standard deviation over replicates divided by ``sqrt(replicates)``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from . import _checks, rng
from .cache import cached

METHODS = ("ml", "mstd", "td0", "lstd", "td_lambda", "gtd")
TRANSITIONS = ("euler", "exact")
TRUNCATION_BITS = 54  # default T_trunc: e^{-beta T_trunc} = 2^-54 < unit roundoff 2^-53


@dataclass(frozen=True)
class TDRun:
    """Per-method parameter estimates of the value function, and the martingale check."""

    estimates: np.ndarray               # (n_methods, n_features) mean theta over replicates
    stderr: np.ndarray                  # (n_methods, n_features)
    per_replicate: np.ndarray           # (n_methods, replicates, n_features)
    mean_martingale: np.ndarray         # (K + 1,) mean of M_{t_k}; shape (0,) without a reference
    martingale_stderr: np.ndarray       # (K + 1,) or (0,)
    martingale_per_replicate: np.ndarray  # (replicates, K + 1) or (replicates, 0)
    times: np.ndarray                   # (K + 1,) the grid t_k
    methods: tuple                      # method names, the row order of estimates
    n_samples: int                      # number of paths
    params: dict

    def __post_init__(self):
        # the cache stores non-array fields as JSON (a tuple comes back as a list)
        object.__setattr__(self, "methods", tuple(str(m) for m in self.methods))

    def estimate(self, method: str) -> np.ndarray:
        """The mean ``theta`` of one method."""
        return self.estimates[self._row(method)]

    def standard_error(self, method: str) -> np.ndarray:
        return self.stderr[self._row(method)]

    def _row(self, method):
        if method not in self.methods:
            raise ValueError(f"method must be one of {', '.join(self.methods)} (those run), got {method!r}")
        return self.methods.index(method)


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------

def _real(name, v, low=None, open_low=False, high=None, open_high=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {_checks._short(v)}")
    v = float(v)
    if low is not None and (v < low or (open_low and v == low)):
        raise ValueError(f"{name} must be {'>' if open_low else '>='} {low}, got {v!r}")
    if high is not None and (v > high or (open_high and v == high)):
        raise ValueError(f"{name} must be {'<' if open_high else '<='} {high}, got {v!r}")
    return v


def _integer(name, v, low):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {_checks._short(v)}")
    return int(v)


def _pair(name, v):
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of finite numbers, got {_checks._short(v)}") from None
    if a.shape != (2,) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a pair of finite numbers, got {_checks._short(v)}")
    return float(a[0]), float(a[1])


def _coefficients(name, v, ndim, what):
    try:
        a = np.array(v, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a {ndim}-D array of finite coefficients ({what}), "
                         f"got {_checks._short(v)}") from None
    if a.ndim != ndim or a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a non-empty {ndim}-D array of finite coefficients ({what}), "
                         f"got shape {a.shape}")
    return np.ascontiguousarray(a)


def transition_coefficients(drift, diffusion, dt, transition="euler"):
    """``(p, q, u, v)`` with ``X_{k+1} = X_k (p + q Z) + u + v Z``, ``Z ~ N(0, 1)``.

    ``"euler"``: ``p = 1 + a1 dt``, ``q = s1 sqrt(dt)``, ``u = a0 dt``, ``v = s0 sqrt(dt)``.
    ``"exact"`` (OU, ``s1 = 0``): ``p = e^{a1 dt}``, ``q = 0``, ``u = a0 (e^{a1 dt} - 1)/a1``,
    ``v = s0 sqrt((e^{2 a1 dt} - 1)/(2 a1))`` (``a0 dt`` and ``s0 sqrt(dt)`` when ``a1 = 0``).
    """
    a0, a1 = _pair("drift", drift)
    s0, s1 = _pair("diffusion", diffusion)
    dt = _real("dt", dt, 0.0, open_low=True)
    if transition not in TRANSITIONS:
        raise ValueError(f"transition must be one of {', '.join(TRANSITIONS)}, got {transition!r}")
    if transition == "euler":
        sq = math.sqrt(dt)
        return 1.0 + a1 * dt, s1 * sq, a0 * dt, s0 * sq
    if s1 != 0.0:
        raise ValueError(f"transition='exact' needs an OU diffusion (s1 = 0), got diffusion={diffusion!r}")
    if a1 == 0.0:
        return 1.0, 0.0, a0 * dt, s0 * math.sqrt(dt)
    m1 = math.expm1(a1 * dt)
    return math.exp(a1 * dt), 0.0, a0 * m1 / a1, s0 * math.sqrt(math.expm1(2.0 * a1 * dt) / (2.0 * a1))


def _validate(drift, diffusion, running_reward, terminal_reward, discount, horizon, x0, features, steps,
              paths, seed, methods, lam, test_functions, transition, replicates, td_step, reference,
              truncation):
    drift = _pair("drift", drift)
    diffusion = _pair("diffusion", diffusion)
    r = _coefficients("running_reward", running_reward, 1, "ascending powers of x")
    h = _coefficients("terminal_reward", [0.0] if terminal_reward is None else terminal_reward, 1,
                      "ascending powers of x")
    beta = _real("discount", discount, 0.0)
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Real) or math.isnan(horizon) or horizon <= 0:
        raise ValueError(f"horizon must be a number > 0 (math.inf for an infinite horizon), got {horizon!r}")
    if math.isinf(horizon):
        if beta <= 0.0:
            raise ValueError(f"discount must be > 0 for an infinite horizon, got {discount!r}")
        T = TRUNCATION_BITS * math.log(2.0) / beta if truncation is None else \
            _real("truncation", truncation, 0.0, open_low=True)
    else:
        if truncation is not None:
            raise ValueError(f"truncation applies to an infinite horizon only, got truncation={truncation!r} "
                             f"with horizon={horizon!r}")
        T = float(horizon)
    x0 = _real("x0", x0)
    C = _coefficients("features", features, 3, "(n_features, deg_t + 1, deg_x + 1)")
    steps = _integer("steps", steps, 1)
    replicates = _integer("replicates", replicates, 2)
    paths = _integer("paths", paths, 1)
    if paths < replicates:
        raise ValueError(f"paths must be >= replicates={replicates} (one path per replicate at least), got {paths}")
    _checks.work("paths and steps", float(paths) * steps, f"paths={paths} x steps={steps}")
    rng.check_seed(seed)
    if isinstance(methods, str):
        methods = (methods,)
    try:
        methods = tuple(methods)
    except TypeError:
        raise ValueError(f"methods must be a sequence of {', '.join(METHODS)}, got {methods!r}") from None
    if not methods:
        raise ValueError(f"methods must name at least one of {', '.join(METHODS)}, got none")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"methods must be drawn from {', '.join(METHODS)}, got {m!r}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods must not repeat a method, got {methods!r}")
    lam = _check_lam(lam)
    if test_functions is None:
        P = None
    else:
        P = _coefficients("test_functions", test_functions, 3, "(n_test, deg_t + 1, deg_x + 1)")
    if transition not in TRANSITIONS:
        raise ValueError(f"transition must be one of {', '.join(TRANSITIONS)}, got {transition!r}")
    if transition == "exact" and diffusion[1] != 0.0:
        raise ValueError(f"transition='exact' needs an OU diffusion (s1 = 0), got diffusion={diffusion!r}")
    if isinstance(td_step, (tuple, list)) and len(td_step) == 2 and td_step[1] is None:
        td_step = (td_step[0], 50.0 * steps)
    alpha0, n0 = _pair("td_step", td_step)
    if alpha0 <= 0 or n0 <= 0:
        raise ValueError(f"td_step must be (alpha0 > 0, n0 > 0), got {td_step!r}")
    J = None if reference is None else _coefficients("reference", reference, 2, "(deg_t + 1, deg_x + 1)")
    # per replicate: the (K + 1) martingale sums and the methods' p x p systems; per step: the features' tables
    p, q = C.shape[0], 0 if P is None else P.shape[0]
    _checks.memory("steps and replicates", 8.0 * (replicates * (steps + 1) + 6 * replicates * (p + q) * (p + 1)
                                                   + 2 * (steps + 1) * (C.size + (0 if P is None else P.size))),
                   f"steps={steps}, replicates={replicates}")
    return dict(drift=drift, diffusion=diffusion, r=r, h=h, beta=beta, T=T, infinite=math.isinf(horizon),
                x0=x0, C=C, K=steps, paths=paths, methods=methods, lam=lam, P=P, transition=transition,
                R=replicates, alpha0=alpha0, n0=n0, J=J)


def _check_lam(lam):
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not 0.0 < lam < 1.0:
        raise ValueError(f"lam must be a number in (0, 1), got {lam!r}")
    return float(lam)


# ----------------------------------------------------------------------------------------------
# shared set-up
# ----------------------------------------------------------------------------------------------

def _time_tables(coef, times):
    """``coef (n, deg_t + 1, deg_x + 1)`` -> ``(K + 1, n, deg_x + 1)``: the x-coefficients at each t_k."""
    powers = times[:, None] ** np.arange(coef.shape[1])[None, :]          # (K + 1, deg_t + 1)
    return np.ascontiguousarray(np.einsum("ka,iab->kib", powers, coef))


def _setup(v):
    K, T = v["K"], v["T"]
    dt = T / K
    times = np.arange(K + 1) * dt
    times[-1] = T
    disc = np.exp(-v["beta"] * times)
    F = _time_tables(v["C"], times)
    P = _time_tables(v["P"], times) if v["P"] is not None else np.zeros((K + 1, 1, 1))
    Jt = _time_tables(v["J"][None], times)[:, 0, :] if v["J"] is not None else np.zeros((K + 1, 1))
    trans = transition_coefficients(v["drift"], v["diffusion"], dt, v["transition"])
    return dt, times, disc, F, P, Jt, trans


def _flags(methods, has_psi, has_ref):
    need_lstd = "lstd" in methods or ("gtd" in methods and not has_psi)
    return ("ml" in methods, "mstd" in methods, need_lstd, "td_lambda" in methods,
            "gtd" in methods and has_psi, "td0" in methods, has_ref)


# ----------------------------------------------------------------------------------------------
# numba kernel
# ----------------------------------------------------------------------------------------------

def _horner(c, x):
    acc = c[c.shape[0] - 1]
    for b in range(c.shape[0] - 2, -1, -1):
        acc = acc * x + c[b]
    return acc


def _eval_features(F, k, x, out):
    nb = F.shape[2]
    for i in range(F.shape[1]):
        acc = F[k, i, nb - 1]
        for b in range(nb - 2, -1, -1):
            acc = acc * x + F[k, i, b]
        out[i] = acc


def _td_kernel(gens, counts, K, dt, x0, tp, tq, tu, tv, disc, F, P, Jt, rc, hc, lam_dt, alpha0, n0,
               do_ml, do_ms, do_ls, do_tl, do_gt, do_td0, do_mart,
               ml_A, ml_c, ms_A, ms_c, ls_A, ls_c, tl_A, tl_c, gt_A, gt_c, td0_theta, mart):
    """Numba kernel: ``prange`` over replicates (chunks); one generator each, path-major draws.

    Accumulates each replicate's sufficient statistics (module docstring) in small local
    arrays and writes them to row ``c`` of the outputs at the end; nothing per path is stored.
    """
    p = F.shape[1]
    q = P.shape[1]
    for c in prange(len(gens)):
        g = gens[c]
        phi = np.empty(p)
        phin = np.empty(p)
        phi0 = np.empty(p)
        d = np.empty(p)
        u = np.empty(p)
        v = np.empty(p)
        xi = np.empty(p)
        psi = np.empty(q)
        psin = np.empty(q)
        psi0 = np.empty(q)
        theta = np.zeros(p)
        aml = np.zeros((p, p))
        cml = np.zeros(p)
        ams = np.zeros((p, p))
        cms = np.zeros(p)
        als = np.zeros((p, p))
        cls_ = np.zeros(p)
        atl = np.zeros((p, p))
        ctl = np.zeros(p)
        agt = np.zeros((q, p))
        cgt = np.zeros(q)
        msum = np.zeros(K + 1)
        _eval_features(F, 0, x0, phi0)
        if do_gt:
            _eval_features(P, 0, x0, psi0)
        m0 = disc[0] * _horner(Jt[0], x0) if do_mart else 0.0
        n_upd = 0.0
        for path in range(counts[c]):
            x = x0
            run = 0.0  # R_k = sum_{j<k} e_j r(X_j) dt
            for i in range(p):
                phi[i] = phi0[i]
                u[i] = 0.0
                v[i] = 0.0
                xi[i] = 0.0
            if do_gt:
                for i in range(q):
                    psi[i] = psi0[i]
            if do_mart:
                msum[0] += m0
            for k in range(K):
                z = g.standard_normal()
                xn = x * (tp + tq * z) + (tu + tv * z)
                ek = disc[k]
                rk = ek * _horner(rc, x) * dt
                bk = rk
                if k < K - 1:
                    _eval_features(F, k + 1, xn, phin)
                    en = disc[k + 1]
                    for i in range(p):
                        d[i] = en * phin[i] - ek * phi[i]
                else:
                    for i in range(p):
                        d[i] = -ek * phi[i]
                    bk += disc[K] * _horner(hc, xn)
                if do_ml:
                    w = ek * dt
                    ww = ek * w
                    for i in range(p):
                        wi = w * phi[i]
                        u[i] += wi
                        v[i] += wi * run
                        a = ww * phi[i]
                        for j in range(i, p):
                            aml[i, j] += a * phi[j]
                if do_ms:
                    for i in range(p):
                        di = d[i]
                        cms[i] -= di * bk
                        for j in range(i, p):
                            ams[i, j] += di * d[j]
                if do_ls:
                    for i in range(p):
                        fi = phi[i]
                        cls_[i] += fi * bk
                        for j in range(p):
                            als[i, j] -= fi * d[j]
                if do_tl:
                    for i in range(p):
                        xii = lam_dt * xi[i] + phi[i] * dt
                        xi[i] = xii
                        ctl[i] += xii * bk
                        for j in range(p):
                            atl[i, j] -= xii * d[j]
                if do_gt:
                    for i in range(q):
                        si = psi[i]
                        cgt[i] += si * bk
                        for j in range(p):
                            agt[i, j] -= si * d[j]
                    if k < K - 1:
                        _eval_features(P, k + 1, xn, psin)
                        for i in range(q):
                            psi[i] = psin[i]
                if do_td0:
                    delta = bk
                    for i in range(p):
                        delta += theta[i] * d[i]
                    step = alpha0 / (1.0 + n_upd / n0) * delta
                    for i in range(p):
                        theta[i] += step * phi[i]
                    n_upd += 1.0
                run += rk
                if do_mart:
                    msum[k + 1] += disc[k + 1] * _horner(Jt[k + 1], xn) + run
                x = xn
                if k < K - 1:
                    for i in range(p):
                        phi[i] = phin[i]
            if do_ml:
                total = run + disc[K] * _horner(hc, x)
                for i in range(p):
                    cml[i] += total * u[i] - v[i]
        for i in range(p):
            ml_c[c, i] = cml[i]
            ms_c[c, i] = cms[i]
            ls_c[c, i] = cls_[i]
            tl_c[c, i] = ctl[i]
            td0_theta[c, i] = theta[i]
            for j in range(p):
                ml_A[c, i, j] = aml[i, j] if j >= i else aml[j, i]
                ms_A[c, i, j] = ams[i, j] if j >= i else ams[j, i]
                ls_A[c, i, j] = als[i, j]
                tl_A[c, i, j] = atl[i, j]
        for i in range(q):
            gt_c[c, i] = cgt[i]
            for j in range(p):
                gt_A[c, i, j] = agt[i, j]
        for k in range(K + 1):
            mart[c, k] = msum[k]


def _draw_kernel(gens, counts, K, out):
    """The draw floor: the same generators drawing the same counts, in the same order, nothing else."""
    for c in prange(len(gens)):
        g = gens[c]
        s = 0.0
        for path in range(counts[c]):
            for k in range(K):
                s += g.standard_normal()
        out[c] = s


_horner = njit(cache=True)(_horner)
_eval_features = njit(cache=True)(_eval_features)
_td_kernel_jit = njit(cache=True, parallel=True)(_td_kernel)
_draw_kernel_jit = njit(cache=True, parallel=True)(_draw_kernel)


def draw_floor(paths, steps, seed, replicates=32):
    """Draw exactly the normals :func:`run_algorithms` draws (same generators, counts, order); sum per chunk."""
    paths, steps = _integer("paths", paths, 1), _integer("steps", steps, 1)
    replicates = _integer("replicates", replicates, 1)
    if paths < replicates:
        raise ValueError(f"paths must be >= replicates={replicates} (one path per replicate at least), got {paths}")
    _checks.work("paths and steps", float(paths) * steps, f"paths={paths} x steps={steps}")
    gens = rng.generators(seed, replicates)
    counts = rng.chunk_sizes(paths, replicates)
    out = np.zeros(replicates)
    _draw_kernel_jit(gens, counts, int(steps), out)
    return out


# ----------------------------------------------------------------------------------------------
# solving and summarising (shared by the kernel and the numpy baseline)
# ----------------------------------------------------------------------------------------------

def _solve(stats, methods, lam):
    """Per-replicate thetas ``(n_methods, R, p)`` from the sufficient statistics."""
    rows = []
    for m in methods:
        if m == "td0":
            rows.append(stats["td0"])
            continue
        if m == "gtd" and stats["gt"] is not None:
            A, c = stats["gt"]
            rows.append(np.linalg.solve(np.swapaxes(A, 1, 2) @ A, (np.swapaxes(A, 1, 2) @ c[..., None]))[..., 0])
            continue
        key = {"ml": "ml", "mstd": "ms", "lstd": "ls", "gtd": "ls", "td_lambda": "tl"}[m]
        A, c = stats[key]
        rows.append(np.linalg.solve(A, c[..., None])[..., 0])
    return np.stack(rows)


def _summarize(per_rep, mart, counts, has_ref, times, methods, paths, params):
    R = per_rep.shape[1]
    est = per_rep.mean(axis=1)
    se = per_rep.std(axis=1, ddof=1) / math.sqrt(R)
    if has_ref:
        mrep = mart / counts[:, None]
        mmean = mrep.mean(axis=0)
        mse = mrep.std(axis=0, ddof=1) / math.sqrt(R)
    else:
        mrep = np.zeros((R, 0))
        mmean = np.zeros(0)
        mse = np.zeros(0)
    return TDRun(estimates=est, stderr=se, per_replicate=per_rep, mean_martingale=mmean, martingale_stderr=mse,
                 martingale_per_replicate=mrep, times=times, methods=tuple(methods), n_samples=int(paths),
                 params=params)


def _params(v, seed, horizon):
    return dict(drift=list(v["drift"]), diffusion=list(v["diffusion"]), running_reward=v["r"].tolist(),
                terminal_reward=v["h"].tolist(), discount=v["beta"], horizon=float(horizon), simulated_horizon=v["T"],
                x0=v["x0"], features=v["C"].tolist(), steps=v["K"], paths=v["paths"], seed=int(seed),
                methods=list(v["methods"]), lam=v["lam"],
                test_functions=None if v["P"] is None else v["P"].tolist(), transition=v["transition"],
                replicates=v["R"], td_step=[v["alpha0"], v["n0"]],
                reference=None if v["J"] is None else v["J"].tolist())


DEFAULT_TD_STEP = (0.1, None)  # n0 = None: 50 * steps (fifty paths of constant step)


@cached
def run_algorithms(drift, diffusion, running_reward, terminal_reward, discount, horizon, x0, features, steps,
                   paths, seed, methods=METHODS, lam=0.5, test_functions=None, transition="euler",
                   replicates=32, td_step=DEFAULT_TD_STEP, reference=None, truncation=None) -> TDRun:
    """Estimate ``theta`` by each policy-evaluation algorithm of Jia & Zhou (2022) (module docstring).

    Simulates ``paths`` paths of ``steps`` steps in ``replicates`` independent chunks (a
    numba kernel, ``prange`` over chunks, paths never stored), solves each replicate's
    linear system and returns the mean ``theta`` per method with its standard error
    across replicates (:class:`TDRun`), plus the martingale check of ``reference``.
    """
    v = _validate(drift, diffusion, running_reward, terminal_reward, discount, horizon, x0, features, steps,
                  paths, seed, methods, lam, test_functions, transition, replicates, td_step, reference,
                  truncation)
    dt, times, disc, F, P, Jt, (tp, tq, tu, tv) = _setup(v)
    K, R, p = v["K"], v["R"], F.shape[1]
    q = P.shape[1]
    gens = rng.generators(seed, R)
    counts = rng.chunk_sizes(v["paths"], R)
    flags = _flags(v["methods"], v["P"] is not None, v["J"] is not None)
    out = dict(ml_A=np.zeros((R, p, p)), ml_c=np.zeros((R, p)), ms_A=np.zeros((R, p, p)), ms_c=np.zeros((R, p)),
               ls_A=np.zeros((R, p, p)), ls_c=np.zeros((R, p)), tl_A=np.zeros((R, p, p)), tl_c=np.zeros((R, p)),
               gt_A=np.zeros((R, q, p)), gt_c=np.zeros((R, q)), td0=np.zeros((R, p)), mart=np.zeros((R, K + 1)))
    _td_kernel_jit(gens, counts, K, dt, v["x0"], tp, tq, tu, tv, disc, F, P, Jt, v["r"], v["h"],
                   v["lam"] ** dt, v["alpha0"], v["n0"], *flags,
                   out["ml_A"], out["ml_c"], out["ms_A"], out["ms_c"], out["ls_A"], out["ls_c"], out["tl_A"],
                   out["tl_c"], out["gt_A"], out["gt_c"], out["td0"], out["mart"])
    stats = dict(ml=(out["ml_A"], out["ml_c"]), ms=(out["ms_A"], out["ms_c"]), ls=(out["ls_A"], out["ls_c"]),
                 tl=(out["tl_A"], out["tl_c"]), gt=(out["gt_A"], out["gt_c"]) if flags[4] else None,
                 td0=out["td0"])
    per_rep = _solve(stats, v["methods"], v["lam"])
    return _summarize(per_rep, out["mart"], counts, v["J"] is not None, times, v["methods"], v["paths"],
                      _params(v, seed, horizon))


# ----------------------------------------------------------------------------------------------
# plain numpy baseline
# ----------------------------------------------------------------------------------------------

def _np_eval(table, k, x):
    """Features at ``t_k`` for an array of states: ``(len(x), n)``."""
    coef = table[k]                                   # (n, nb)
    acc = np.broadcast_to(coef[:, -1], x.shape + coef[:, -1].shape).copy()
    for b in range(coef.shape[1] - 2, -1, -1):
        acc = acc * x[..., None] + coef[:, b]
    return acc


def run_algorithms_numpy(drift, diffusion, running_reward, terminal_reward, discount, horizon, x0, features,
                         steps, paths, seed, methods=METHODS, lam=0.5, test_functions=None, transition="euler",
                         replicates=32, td_step=DEFAULT_TD_STEP, reference=None, truncation=None) -> TDRun:
    """Plain vectorized-numpy baseline of :func:`run_algorithms`: same draws, same outputs.

    Per replicate it draws ``standard_normal((paths_in_chunk, K))`` at once, simulates all
    its paths step by step (stored), builds every method's system with ``einsum`` (ML's
    returns by a backward recursion, not the kernel's running sums) and solves it; the
    online TD(0) iteration, sequential by nature, is vectorized across replicates.
    """
    v = _validate(drift, diffusion, running_reward, terminal_reward, discount, horizon, x0, features, steps,
                  paths, seed, methods, lam, test_functions, transition, replicates, td_step, reference,
                  truncation)
    dt, times, disc, F, P, Jt, (tp, tq, tu, tv) = _setup(v)
    K, R, p = v["K"], v["R"], F.shape[1]
    ms = v["methods"]
    gens = rng.generators(seed, R)
    counts = rng.chunk_sizes(v["paths"], R)
    has_psi, has_ref = v["P"] is not None, v["J"] is not None
    lam_dt = v["lam"] ** dt
    keys = ("ml", "ms", "ls", "tl", "gt")
    acc = {k: [] for k in keys}
    mart = np.zeros((R, K + 1))
    Xall = np.zeros((R, int(counts.max()), K + 1))
    for c, (g, cnt) in enumerate(zip(gens, counts)):
        Z = g.standard_normal((cnt, K))
        X = np.empty((cnt, K + 1))
        X[:, 0] = v["x0"]
        for k in range(K):
            X[:, k + 1] = X[:, k] * (tp + tq * Z[:, k]) + (tu + tv * Z[:, k])
        Xall[c, :cnt] = X
        phi = np.stack([_np_eval(F, k, X[:, k]) for k in range(K + 1)], axis=1)        # (cnt, K + 1, p)
        rew = disc[:K] * np.polynomial.polynomial.polyval(X[:, :K], v["r"]) * dt         # (cnt, K)
        term = disc[K] * np.polynomial.polynomial.polyval(X[:, K], v["h"])             # (cnt,)
        b = rew.copy()
        b[:, -1] += term
        ephi = disc[:, None] * phi                                                      # e_k phi_k
        d = np.empty((cnt, K, p))
        d[:, :-1] = ephi[:, 1:K] - ephi[:, :K - 1]
        d[:, -1] = -ephi[:, K - 1]
        ph = phi[:, :K]
        # ML: G_k backwards, G_{K} = h(X_K), G_k = r_k dt + e^{-beta dt} G_{k+1} (left Riemann)
        G = np.empty((cnt, K + 1))
        G[:, K] = np.polynomial.polynomial.polyval(X[:, K], v["h"])
        rr = np.polynomial.polynomial.polyval(X[:, :K], v["r"]) * dt
        step_disc = disc[1:] / disc[:-1] if v["beta"] > 0 else np.ones(K)
        for k in range(K - 1, -1, -1):
            G[:, k] = rr[:, k] + step_disc[k] * G[:, k + 1]
        w = disc[:K] ** 2 * dt
        acc["ml"].append((np.einsum("k,nki,nkj->ij", w, ph, ph), np.einsum("k,nki,nk->i", w, ph, G[:, :K])))
        acc["ms"].append((np.einsum("nki,nkj->ij", d, d), -np.einsum("nki,nk->i", d, b)))
        acc["ls"].append((-np.einsum("nki,nkj->ij", ph, d), np.einsum("nki,nk->i", ph, b)))
        xi = np.empty_like(ph)
        prev = np.zeros((cnt, p))
        for k in range(K):
            prev = lam_dt * prev + ph[:, k] * dt
            xi[:, k] = prev
        acc["tl"].append((-np.einsum("nki,nkj->ij", xi, d), np.einsum("nki,nk->i", xi, b)))
        if has_psi:
            psi = np.stack([_np_eval(P, k, X[:, k]) for k in range(K)], axis=1)
            acc["gt"].append((-np.einsum("nki,nkj->ij", psi, d), np.einsum("nki,nk->i", psi, b)))
        if has_ref:
            Jv = np.stack([np.polynomial.polynomial.polyval(X[:, k], Jt[k]) for k in range(K + 1)], axis=1)
            run = np.concatenate([np.zeros((cnt, 1)), np.cumsum(rew, axis=1)], axis=1)
            mart[c] = (disc * Jv + run).sum(axis=0)
    stats = {k: (np.stack([a for a, _ in acc[k]]), np.stack([c for _, c in acc[k]])) if acc[k] else None
             for k in keys}
    stats["td0"] = _td0_numpy(Xall, counts, F, disc, v, dt) if "td0" in ms else None
    per_rep = _solve(stats, ms, v["lam"])
    return _summarize(per_rep, mart, counts, has_ref, times, ms, v["paths"], _params(v, seed, horizon))


def _td0_numpy(Xall, counts, F, disc, v, dt):
    """Online TD(0), path after path and step after step, vectorized across replicates."""
    R, _, K1 = Xall.shape
    K = K1 - 1
    p = F.shape[1]
    theta = np.zeros((R, p))
    n_upd = np.zeros(R)
    for i in range(int(counts.max())):
        active = i < counts
        x = Xall[:, i]
        phi = _np_eval(F, 0, x[:, 0])
        for k in range(K):
            ek = disc[k]
            bk = ek * np.polynomial.polynomial.polyval(x[:, k], v["r"]) * dt
            if k < K - 1:
                phin = _np_eval(F, k + 1, x[:, k + 1])
                d = disc[k + 1] * phin - ek * phi
            else:
                d = -ek * phi
                bk = bk + disc[K] * np.polynomial.polynomial.polyval(x[:, K], v["h"])
            delta = bk + np.einsum("ri,ri->r", theta, d)
            step = np.where(active, v["alpha0"] / (1.0 + n_upd / v["n0"]) * delta, 0.0)
            theta = theta + step[:, None] * phi
            n_upd = n_upd + active
            if k < K - 1:
                phi = phin
    return theta
