"""Neural collapse by training for real: the deep linear UFM, mixup features, a small ReLU network.

Three simulations, each seeded through :mod:`simulations.rng` and memoized by
:mod:`simulations.cache`; none of them uses a closed form of the theory.

1. **Deep linear unconstrained-features model** (Dang, Tran, Osher, Tran-The,
   Ho, Nguyen 2023, "Neural collapse in deep linear networks: from balanced to
   imbalanced data", eq. (2)-(3); Tirer & Bruna 2022 for depth 2).  ``K``
   classes of sizes ``n_1..n_K`` (``N = sum n_k``), samples in class order (the
   first ``n_1`` are class 0, ...), one-hot targets ``Y`` (``K x N``).  Free
   features ``H`` (``d x N``), layers ``W_1..W_{M-1}`` (``d x d``) and ``W_M``
   (``K x d``) (depth ``M >= 1``; ``M = 1`` is one ``K x d`` classifier), an
   optional unregularized last-layer bias ``b`` (``K``).  The objective is exactly ::

       MSE: ||W_M...W_1 H + b 1^T - Y||_F^2 / (2N) + lambda_W/2 sum_m ||W_m||_F^2 + lambda_H/2 ||H||_F^2
       CE:  (1/N) sum_i [logsumexp(z_i) - z_{i, y_i}]  + the same two regularizers,
            z_i = W_M...W_1 h_i + b.

   Paper symbols -> arguments: ``lambda_W`` = ``weight_decay``, ``lambda_H`` =
   ``feature_decay``, ``M`` = ``depth``, ``d`` = ``width``, ``n_k`` =
   ``class_sizes``.  :func:`train_ufm` runs full-batch gradient descent (the
   record of the trajectory) and then polishes with L-BFGS to a stationary point
   to high precision; :func:`brute_force_ufm` runs L-BFGS alone from many random
   starts of several scales, so a caller can see whether starts reach different
   local minima.

2. **Mixup features with a fixed simplex-ETF classifier** (Fisher, Meng, Papyan
   2024, "Pushing boundaries: mixup's influence on neural collapse", Section 5's
   UFM).  ``W = sqrt(K/(K-1)) (I - 1 1^T / K)`` (``K x K``, unit-norm rows
   ``w_c``).  A mixed sample of classes ``(c, c')`` with weight ``mix`` on ``c``
   has the soft target ``t = mix e_c + (1 - mix) e_c'``; its feature minimizes
   ``-sum_j t_j log softmax(W h)_j + lambda_H/2 ||h||^2`` (``loss="ce"``) or
   ``||W h - t||^2 / 2 + lambda_H/2 ||h||^2`` (``loss="mse"``).  The mixes are
   independent strongly convex problems, solved together by gradient descent
   (a numba kernel with ``prange`` over mixes, or the vectorized-numpy baseline)
   and a Newton polish.

3. **A small real network** (:func:`train_mlp_mixture`): a Gaussian mixture
   (class means ``N(0, separation^2 / input_dim I)``, so ``||mu_k|| ~ separation``;
   isotropic unit-variance noise), ``relu_depth`` ReLU layers with biases making
   the features, then ``linear_depth`` bias-free linear layers, weight decay on
   all weights, no feature decay (features are not free), trained full batch
   with Adam (or plain GD) and manual backpropagation in numpy.

The small dense products here are BLAS-bound: numpy with BLAS pinned to one
thread (``threadpoolctl``) per run, runs independent across seeds
(``benchmarks/neural_collapse.py`` measures 1 against 2 BLAS threads and
serial against process-parallel seeds).
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit, prange
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from . import _checks, rng
from .cache import cached

LOSSES = ("mse", "ce")
PAIRS = ("cross", "same")
BACKENDS = ("numba", "numpy")
OPTIMIZERS = ("adam", "gd")

LBFGS_OPTIONS = dict(gtol=1e-12, ftol=1e-15, maxiter=100_000, maxfun=200_000, maxcor=30)
_LBFGS_RESTARTS = 4


# ---------------------------------------------------------------------------------------------
# validation


def _integer(name, v, low, high=None):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < low or (
            high is not None and v > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {allowed}, got {_checks._short(v)}")
    return int(v)


def _real(name, v, low=0.0, open_=False):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < low or (
            open_ and v == low):
        raise ValueError(f"{name} must be a finite number {'>' if open_ else '>='} {low}, got {_checks._short(v)}")
    return float(v)


def _flag(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {_checks._short(v)}")
    return bool(v)


def _choice(name, v, allowed):
    if not isinstance(v, str) or v not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {_checks._short(v)}")
    return v


def _class_sizes(v) -> np.ndarray:
    try:
        a = np.asarray(v)
    except Exception:  # ragged or otherwise not array-like
        raise ValueError(f"class_sizes must be a 1-D sequence of integers >= 1, got {v!r}") from None
    if a.ndim != 1:
        raise ValueError(f"class_sizes must be a 1-D sequence of integers >= 1, got {v!r}")
    if a.size < 2:
        raise ValueError(f"class_sizes must list at least 2 classes (class count >= 2), got {a.size}")
    if not (a.dtype.kind in "iu" or (a.dtype == object and all(
            isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in a.tolist()))):
        raise ValueError(f"class_sizes must be integers >= 1, got {_checks._short(v)}")
    sizes = [int(x) for x in a.tolist()]
    if min(sizes) < 1:
        raise ValueError(f"class_sizes must be integers >= 1 (every class needs a sample), got {_checks._short(sizes)}")
    # the labels (N) and the one-hot targets (K x N), a few copies each
    _checks.memory("class_sizes", 8.0 * 4 * (len(sizes) + 1) * sum(sizes), f"N = {sum(sizes)} samples")
    return np.asarray(sizes, dtype=np.int64)


def _lr(v):
    if v is None:
        return None
    return _real("lr", v, 0.0, open_=True)


# ---------------------------------------------------------------------------------------------
# the deep linear UFM: parameters, objective, gradient


class UFMParams(NamedTuple):
    """Parameters of the deep linear UFM.

    ``features`` is ``H`` (``d x N``); ``weights`` is ``(W_1, ..., W_M)`` with
    ``W_m`` (``d x d``) for ``m < M`` and ``W_M`` (``K x d``); ``bias`` is ``b``
    (``K``) or ``None`` for the bias-free model.
    """

    features: np.ndarray
    weights: tuple
    bias: np.ndarray | None


class _Problem(NamedTuple):
    sizes: np.ndarray      # (K,)
    labels: np.ndarray     # (N,)
    targets: np.ndarray    # (K, N) one-hot
    num_classes: int
    num_samples: int


@functools.lru_cache(maxsize=64)
def _problem_cached(sizes: tuple) -> _Problem:
    s = np.asarray(sizes, dtype=np.int64)
    labels = np.repeat(np.arange(s.size), s)
    Y = np.zeros((s.size, labels.size))
    Y[labels, np.arange(labels.size)] = 1.0
    for a in (s, labels, Y):
        a.setflags(write=False)
    return _Problem(s, labels, Y, int(s.size), int(labels.size))


def _problem(class_sizes) -> _Problem:
    return _problem_cached(tuple(int(x) for x in _class_sizes(class_sizes)))


def _shapes(K: int, N: int, depth: int, width: int, bias: bool) -> list:
    shapes = [(width, N)] + [(width, width)] * (depth - 1) + [(K, width)]
    if bias:
        shapes.append((K,))
    return shapes


def flatten_ufm(params: UFMParams) -> np.ndarray:
    """The parameters as one vector: ``H``, ``W_1``, ..., ``W_M``, then ``b`` (each row-major)."""
    return _flatten(UFMParams(*_structure(params)))


def _flatten(params: UFMParams) -> np.ndarray:
    """:func:`flatten_ufm` without the checks (the optimizer's inner loop)."""
    parts = [np.ravel(params.features)] + [np.ravel(W) for W in params.weights]
    if params.bias is not None:
        parts.append(np.ravel(params.bias))
    return np.concatenate(parts).astype(float)


def unflatten_ufm(theta, class_sizes, depth: int, width: int, bias: bool) -> UFMParams:
    """Inverse of :func:`flatten_ufm` for the given problem shape."""
    prob = _problem(class_sizes)
    depth = _integer("depth", depth, 1)
    width = _integer("width", width, prob.num_classes)
    bias = _flag("bias", bias)
    _ufm_memory(prob, depth, width, 2)
    return _unflatten(_checks.array("theta", theta, ndim=1), prob.num_classes, prob.num_samples, depth, width, bias)


def _ufm_memory(prob, depth, width, copies, more=""):
    """Refuse a UFM whose ``copies`` parameter vectors would not fit in memory."""
    count = width * prob.num_samples + (depth - 1) * width * width + prob.num_classes * (width + 1)
    _checks.memory("class_sizes, depth and width" + more, 8.0 * copies * count,
                   f"N={prob.num_samples}, depth={depth}, width={width} ({count} parameters)")


def _unflatten(theta, K, N, depth, width, bias) -> UFMParams:
    shapes = _shapes(K, N, depth, width, bias)
    total = sum(int(np.prod(s)) for s in shapes)
    if theta.ndim != 1 or theta.size != total:
        raise ValueError(f"theta must be a 1-D vector of length {total} for this problem, got shape {theta.shape}")
    out, i = [], 0
    for s in shapes:
        k = int(np.prod(s))
        out.append(theta[i:i + k].reshape(s))
        i += k
    ws = tuple(out[1:1 + depth])
    return UFMParams(out[0], ws, out[-1] if bias else None)


def _structure(params, name="params"):
    """``(H, Ws, b)`` of a UFMParams: finite 2-D arrays chained ``W_1 (. x d)``, ``W_{m+1} (. x rows of W_m)``."""
    if not (isinstance(params, tuple) and len(params) == 3):
        raise ValueError(f"{name} must be a UFMParams (features, weights, bias) triple, got {_checks._short(params)}")
    H = _checks.array(f"{name}.features", params[0], ndim=2)
    if isinstance(params[1], (str, bytes)) or not hasattr(params[1], "__iter__"):
        raise ValueError(f"{name}.weights must be a tuple of 2-D arrays, got {_checks._short(params[1])}")
    Ws = tuple(_checks.array(f"{name}.weights[{m}]", W, ndim=2) for m, W in enumerate(params[1]))
    if not Ws:
        raise ValueError(f"{name}.weights must hold at least one layer (depth >= 1), got none")
    cols = H.shape[0]
    for m, W in enumerate(Ws):
        if W.shape[1] != cols:
            raise ValueError(f"{name}.weights[{m}] (W_{m + 1}) must have {cols} columns, got shape {W.shape}")
        cols = W.shape[0]
    b = None if params[2] is None else _checks.array(f"{name}.bias", params[2], ndim=1, shape=(cols,))
    return H, Ws, b


def _check_params(params, prob: _Problem, bias, name="params") -> tuple[UFMParams, int, int]:
    H, Ws, b = _structure(params, name)
    K, N = prob.num_classes, prob.num_samples
    if H.shape[1] != N:
        raise ValueError(f"{name}.features must be a (width, {N}) array for class_sizes, got shape {H.shape}")
    d = H.shape[0]
    if d < K:
        raise ValueError(f"{name}.features must have width >= {K} (the class count) rows, got {d}")
    M = len(Ws)
    for m, W in enumerate(Ws):
        want = (K, d) if m == M - 1 else (d, d)
        if W.shape != want:
            raise ValueError(f"{name}.weights[{m}] (W_{m + 1}) must have shape {want}, got {W.shape}")
    if bias is not None:
        bias = _flag("bias", bias)
        if bias != (b is not None):
            raise ValueError(f"bias={bias} but {name}.bias is {'None' if b is None else 'an array'}")
    return UFMParams(H, Ws, b), d, M


def _value_and_grad(H, Ws, b, Y, lw, lh, ce):
    """Objective and gradient of the UFM (the module docstring's formula); the one place it is computed."""
    N = H.shape[1]
    xs = [H]
    for W in Ws:
        xs.append(W @ xs[-1])
    Z = xs[-1] if b is None else xs[-1] + b[:, None]
    data, G = _data_term(Z, Y, N, ce)
    reg = 0.5 * lw * sum(float(np.vdot(W, W)) for W in Ws) + 0.5 * lh * float(np.vdot(H, H))
    db = None if b is None else G.sum(axis=1)
    dWs = [None] * len(Ws)
    for m in range(len(Ws) - 1, -1, -1):
        dWs[m] = G @ xs[m].T + lw * Ws[m]
        G = Ws[m].T @ G
    dH = G + lh * H
    return data + reg, dH, dWs, db


def _ufm_common(params, class_sizes, weight_decay, feature_decay, loss, bias, name="params"):
    prob = _problem(class_sizes)
    lw = _real("weight_decay", weight_decay)
    lh = _real("feature_decay", feature_decay)
    ce = _choice("loss", loss, LOSSES) == "ce"
    p, _, _ = _check_params(params, prob, bias, name)
    return p, prob, lw, lh, ce


def ufm_objective(params, class_sizes, weight_decay, feature_decay, loss="mse", bias=None) -> float:
    """The UFM objective (module docstring, Dang et al. 2023 eq. (2)/(3)) at ``params`` (a :class:`UFMParams`).

    ``bias=None`` takes the model from ``params.bias`` (``None`` = no bias); a
    boolean must agree with it.
    """
    p, prob, lw, lh, ce = _ufm_common(params, class_sizes, weight_decay, feature_decay, loss, bias)
    return _value_and_grad(p.features, p.weights, p.bias, prob.targets, lw, lh, ce)[0]


def ufm_gradient(params, class_sizes, weight_decay, feature_decay, loss="mse", bias=None) -> UFMParams:
    """The analytic gradient of :func:`ufm_objective`, as a :class:`UFMParams` of the same shapes."""
    p, prob, lw, lh, ce = _ufm_common(params, class_sizes, weight_decay, feature_decay, loss, bias)
    _, dH, dWs, db = _value_and_grad(p.features, p.weights, p.bias, prob.targets, lw, lh, ce)
    return UFMParams(dH, tuple(dWs), db)


def _product(Ws) -> np.ndarray:
    P = Ws[0]
    for W in Ws[1:]:
        P = W @ P
    return P


def _class_means(H, prob: _Problem) -> np.ndarray:
    return (H @ prob.targets.T) / prob.sizes


def _within_cov(H, means, prob: _Problem) -> np.ndarray:
    C = H - means[:, prob.labels]
    return (C @ C.T) / prob.num_samples


def default_learning_rate(class_sizes, depth, weight_decay, feature_decay, loss="mse", bias=False) -> float:
    """The step size :func:`train_ufm` uses when ``lr=None``: ``1 / L`` for a crude Lipschitz bound ``L``.

    The bound is taken at the scale a minimizer has: balancedness at critical
    points (``lambda_W W_1^T W_1 = lambda_H H H^T``, equal layer norms) with a
    fitted product ``s^M h ~ 1`` gives layer singular values ``s`` and
    per-sample feature norms ``h`` with ``s^(2(M+1)) = lambda_H n_mean / lambda_W``
    (``s = h = 1`` when a decay is 0).  The Gauss-Newton part of the Hessian is
    ``J^T J`` with ``||J^T J|| = ||sum_i J_i J_i^T|| <= sum_i ||J_i||^2`` over the
    parameter blocks, so ``L = c (s^(2M)/N + M s^(2(M-1)) h^2 n_max/N + [bias] 1) + max(lambda_W, lambda_H)``
    with ``c = 1`` (MSE) or ``1/2`` (CE, the softmax Hessian's norm); the residual
    part is ignored.  It is crude: :func:`train_ufm` halves a run's step whenever
    the objective would increase.
    """
    prob = _problem(class_sizes)
    M = _integer("depth", depth, 1)
    lw = _real("weight_decay", weight_decay)
    lh = _real("feature_decay", feature_decay)
    c = 0.5 if _choice("loss", loss, LOSSES) == "ce" else 1.0
    bias = _flag("bias", bias)
    N = prob.num_samples
    n_mean, n_max = N / prob.num_classes, float(prob.sizes.max())
    s2 = (lh * n_mean / lw) ** (1.0 / (M + 1)) if lw > 0 and lh > 0 else 1.0
    h2 = s2 ** (-M)
    L = c * (s2**M / N + M * s2 ** (M - 1) * h2 * n_max / N + (1.0 if bias else 0.0)) + max(lw, lh)
    return 1.0 / L


# ---------------------------------------------------------------------------------------------
# the deep linear UFM: training


@dataclass(frozen=True)
class UFMRun:
    """Per-seed end states and trajectories of :func:`train_ufm` (``S`` seeds, ``T`` records)."""

    classifier_gram: np.ndarray      # (S, K, K) P P^T, P = W_M...W_1, at the end
    feature_mean_gram: np.ndarray    # (S, K, K) Mbar^T Mbar of the uncentred class means, at the end
    class_means: np.ndarray          # (S, d, K)
    within_cov: np.ndarray           # (S, d, d) Sigma_W at the end
    product: np.ndarray              # (S, K, d) P at the end
    bias: np.ndarray                 # (S, K) (zeros without a bias)
    objective: np.ndarray            # (S,) at the end
    grad_norm: np.ndarray            # (S,) Euclidean norm of the full gradient at the end
    learning_rate: np.ndarray        # (S,) the GD step after any halvings
    history_steps: np.ndarray        # (T,) GD steps at which the history was recorded (0 = the start)
    history_objective: np.ndarray    # (S, T)
    history_class_means: np.ndarray  # (S, T, d, K)
    history_within_cov: np.ndarray   # (S, T, d, d)
    history_product: np.ndarray      # (S, T, K, d)
    history_bias: np.ndarray         # (S, T, K)
    n_samples: int                   # S, the number of independent runs
    params: dict


def _record_steps(steps: int, record_every: int) -> np.ndarray:
    t = list(range(0, steps + 1, record_every))
    if t[-1] != steps:
        t.append(steps)
    return np.asarray(t, dtype=np.int64)


def _init_params(gen, K, N, depth, width, bias, scale) -> UFMParams:
    H = scale * gen.standard_normal((width, N))
    Ws = tuple(scale * gen.standard_normal(s) for s in [(width, width)] * (depth - 1) + [(K, width)])
    b = scale * gen.standard_normal(K) if bias else None
    return UFMParams(H, Ws, b)


def _gd(p0: UFMParams, prob: _Problem, lw, lh, ce, steps, lr, record_at):
    """Full-batch GD from ``p0``; a step that would raise the objective is rejected and halves ``lr``."""
    H, Ws, b = p0.features.copy(), [W.copy() for W in p0.weights], None if p0.bias is None else p0.bias.copy()
    Y = prob.targets
    f, dH, dWs, db = _value_and_grad(H, Ws, b, Y, lw, lh, ce)
    T = record_at.size
    d, K = H.shape[0], prob.num_classes
    rec_f = np.empty(T)
    rec_m = np.empty((T, d, K))
    rec_c = np.empty((T, d, d))
    rec_p = np.empty((T, K, d))
    rec_b = np.zeros((T, K))
    r = 0

    def record():
        mu = _class_means(H, prob)
        rec_f[r] = f
        rec_m[r] = mu
        rec_c[r] = _within_cov(H, mu, prob)
        rec_p[r] = _product(Ws)
        if b is not None:
            rec_b[r] = b

    record()
    r += 1
    for t in range(1, steps + 1):
        H1 = H - lr * dH
        Ws1 = [W - lr * g for W, g in zip(Ws, dWs)]
        b1 = None if b is None else b - lr * db
        out = _value_and_grad(H1, Ws1, b1, Y, lw, lh, ce)
        if out[0] <= f:  # also rejects nan
            H, Ws, b = H1, Ws1, b1
            f, dH, dWs, db = out
        else:
            lr *= 0.5
        if r < T and record_at[r] == t:
            record()
            r += 1
    return UFMParams(H, tuple(Ws), b), f, lr, (rec_f, rec_m, rec_c, rec_p, rec_b)


@dataclass(frozen=True)
class UFMPoint:
    """The end of an L-BFGS minimization (:func:`minimize_ufm_from`)."""

    params: UFMParams
    objective: float
    grad_norm: float
    iterations: int
    message: str


def _lbfgs(p0: UFMParams, prob: _Problem, lw, lh, ce, options=None, newton=True) -> UFMPoint:
    K, N = prob.num_classes, prob.num_samples
    d, M, bias = p0.features.shape[0], len(p0.weights), p0.bias is not None
    Y = prob.targets

    def fun(theta):
        p = _unflatten(theta, K, N, M, d, bias)
        f, dH, dWs, db = _value_and_grad(p.features, p.weights, p.bias, Y, lw, lh, ce)
        return f, _flatten(UFMParams(dH, dWs, db))

    opts = {**LBFGS_OPTIONS, **(options or {})}
    x = _flatten(p0)
    f, g = fun(x)
    gn, nit, message = float(np.linalg.norm(g)), 0, "no iteration"
    # L-BFGS-B often stops on ftol (a relative decrease below ~1e-15) with a gradient still ~1e-9;
    # a restart with fresh curvature pairs usually takes it to ~1e-13.  Restart while that helps.
    for _ in range(_LBFGS_RESTARTS):
        res = minimize(fun, x, jac=True, method="L-BFGS-B", options=opts)
        f1, g1 = fun(res.x)
        gn1 = float(np.linalg.norm(g1))
        nit += int(res.nit)
        if not (f1 <= f + 1e-13 * abs(f)) or not (gn1 < gn or f1 < f):
            break  # no progress (a descent method rises only by rounding)
        x, f, gn, message = res.x, f1, gn1, str(res.message)
        if np.max(np.abs(g1)) <= opts["gtol"] or res.nit == 0:
            break
    if newton:
        x, f, gn = _newton_polish(fun, np.array(x, dtype=float), f, gn)
    return UFMPoint(_unflatten(np.array(x, dtype=float), K, N, M, d, bias), float(f), gn, nit, message)


#: above this many parameters the dense finite-difference Hessian (2P gradients, a P^3 solve) costs
#: more than the polish buys; the L-BFGS end point is returned as it is
NEWTON_MAX_PARAMETERS = 1000


def _newton_polish(fun, x, f, gn, steps=3):
    """A few Newton steps from an L-BFGS end point, to a gradient at the rounding level.

    The Hessian is the central difference of the analytic gradient (step ``u^(1/3)``
    per coordinate scale); its null directions (the layers' rotation symmetry) are
    handled by a least-squares solve.  A step is kept only if it shrinks the gradient:
    near the minimum the gradient, not the objective, still resolves progress.
    """
    P = x.size
    if P > NEWTON_MAX_PARAMETERS:
        return x, f, gn
    for _ in range(steps):
        h = np.finfo(float).eps ** (1 / 3) * np.maximum(1.0, np.abs(x))
        Hm = np.empty((P, P))
        for i in range(P):
            e = np.zeros(P)
            e[i] = h[i]
            Hm[:, i] = (fun(x + e)[1] - fun(x - e)[1]) / (2 * h[i])
        Hm = (Hm + Hm.T) / 2
        g = fun(x)[1]
        step = np.linalg.lstsq(Hm, g, rcond=1e-10)[0]
        x1 = x - step
        f1, g1 = fun(x1)
        gn1 = float(np.linalg.norm(g1))
        if not (gn1 < gn and f1 <= f + 8 * np.finfo(float).eps * abs(f)):
            break
        x, f, gn = x1, f1, gn1
    return x, f, gn


def minimize_ufm_from(params0, class_sizes, weight_decay, feature_decay, loss="mse", bias=None,
                      options=None) -> UFMPoint:
    """L-BFGS (scipy ``L-BFGS-B``, ``jac=True``) from ``params0`` to a stationary point of the UFM objective.

    Default options: ``gtol=1e-12`` (on the largest gradient entry), ``ftol=1e-15``,
    ``maxiter=100000``; ``options`` overrides them.  L-BFGS is restarted (fresh
    curvature memory, up to 4 rounds) while a round lowers the gradient norm.
    Runs with BLAS pinned to one thread.
    """
    p, prob, lw, lh, ce = _ufm_common(params0, class_sizes, weight_decay, feature_decay, loss, bias, "params0")
    options = _options(options)
    with threadpool_limits(1):
        return _lbfgs(p, prob, lw, lh, ce, options)


#: the L-BFGS-B options :func:`minimize_ufm_from` accepts (scipy's names), each a number > 0
_OPTION_NAMES = ("gtol", "ftol", "maxiter", "maxfun", "maxcor", "maxls", "eps")


def _options(options):
    if options is None:
        return None
    if not isinstance(options, dict):
        raise ValueError(f"options must be a dict of L-BFGS-B options or None, got {_checks._short(options)}")
    for key, value in options.items():
        if key not in _OPTION_NAMES:
            raise ValueError(f"options may hold only {', '.join(_OPTION_NAMES)}; got {key!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
            raise ValueError(f"options[{key!r}] must be a finite number > 0, got {_checks._short(value)}")
    return options


def _ufm_one_seed(gen, prob, depth, width, lw, lh, ce, bias, steps, lr, init_scale, polish, record_at):
    """One independent run of :func:`train_ufm` (BLAS not pinned here; picklable for worker processes)."""
    p0 = _init_params(gen, prob.num_classes, prob.num_samples, depth, width, bias, init_scale)
    p, f, lr_end, hist = _gd(p0, prob, lw, lh, ce, steps, lr, record_at)
    if polish:
        pt = _lbfgs(p, prob, lw, lh, ce)  # never above f beyond rounding (it keeps its start otherwise)
        p = pt.params
    f, dH, dWs, db = _value_and_grad(p.features, p.weights, p.bias, prob.targets, lw, lh, ce)
    g = math.sqrt(float(np.vdot(dH, dH)) + sum(float(np.vdot(x, x)) for x in dWs)
                  + (0.0 if db is None else float(np.vdot(db, db))))
    return p, f, g, lr_end, hist


def _end_state(p: UFMParams, prob: _Problem):
    mu = _class_means(p.features, prob)
    P = _product(p.weights)
    b = np.zeros(prob.num_classes) if p.bias is None else p.bias
    return P @ P.T, mu.T @ mu, mu, _within_cov(p.features, mu, prob), P, b


def _validate_ufm(class_sizes, depth, width, weight_decay, feature_decay, loss, bias):
    prob = _problem(class_sizes)
    depth = _integer("depth", depth, 1)
    width = _integer("width", width, prob.num_classes)
    lw = _real("weight_decay", weight_decay)
    lh = _real("feature_decay", feature_decay)
    loss = _choice("loss", loss, LOSSES)
    bias = _flag("bias", bias)
    return prob, depth, width, lw, lh, loss, bias


@cached
def train_ufm(class_sizes, depth, width, weight_decay, feature_decay, loss="mse", bias=False, seeds=8, seed=0,
              steps=2000, lr=None, init_scale=None, polish=True, record_every=100) -> UFMRun:
    """Train the deep linear UFM (module docstring) from ``seeds`` independent random starts.

    Each run draws every parameter entry ``N(0, init_scale^2)`` from its own
    generator (``rng.generators(seed, seeds)``, in the order ``H, W_1..W_M, b``);
    ``init_scale=None`` means ``1/sqrt(width)``, layers of operator norm about 2:
    much smaller starts stall in the trivial local minimum at 0 (a strict local
    minimum for depth >= 2 whatever the decays), much larger ones take many halvings;
    takes ``steps`` full-batch gradient-descent steps with step ``lr``
    (``None``: :func:`default_learning_rate`; a step that would increase the
    objective is rejected and halves that run's step), recording the state every
    ``record_every`` steps, and then (``polish``) refines with L-BFGS
    (:func:`minimize_ufm_from`'s options) to a stationary point.  BLAS is pinned
    to one thread around the per-seed work.
    """
    prob, depth, width, lw, lh, loss, bias = _validate_ufm(class_sizes, depth, width, weight_decay, feature_decay,
                                                           loss, bias)
    seeds = _integer("seeds", seeds, 1)
    steps = _integer("steps", steps, 1)
    lr = _lr(lr)
    init_scale = 1.0 / math.sqrt(width) if init_scale is None else _real("init_scale", init_scale, 0.0, open_=True)
    polish = _flag("polish", polish)
    record_every = _integer("record_every", record_every, 1)
    _checks.work("seeds and steps", float(seeds) * steps, f"seeds={seeds} x steps={steps}")
    records = min(steps, steps // record_every + 2)
    K, d = prob.num_classes, width
    _ufm_memory(prob, depth, width, 8 * seeds, more=", seeds")
    _checks.memory("steps and record_every", 8.0 * seeds * records * (2 * d * d + 2 * d * K + K + 1),
                   f"{records} records of steps={steps} every {record_every} for {seeds} seeds")
    gens = rng.generators(seed, seeds)
    lr0 = default_learning_rate(prob.sizes, depth, lw, lh, loss, bias) if lr is None else lr
    record_at = _record_steps(steps, record_every)
    runs = []
    with threadpool_limits(1):
        for g in gens:
            runs.append(_ufm_one_seed(g, prob, depth, width, lw, lh, loss == "ce", bias, steps, lr0, init_scale,
                                      polish, record_at))
    params = dict(class_sizes=prob.sizes.tolist(), depth=depth, width=width, weight_decay=lw, feature_decay=lh,
                  loss=loss, bias=bias, seeds=seeds, seed=int(seed), steps=steps, lr=lr, learning_rate=lr0,
                  init_scale=init_scale, polish=polish, record_every=record_every)
    return _collect_ufm(runs, prob, record_at, params)


def _collect_ufm(runs, prob, record_at, params) -> UFMRun:
    ends = [_end_state(p, prob) for p, *_ in runs]
    def stack(i):
        return np.stack([e[i] for e in ends])

    def hist(i):
        return np.stack([r[4][i] for r in runs])

    return UFMRun(
        classifier_gram=stack(0), feature_mean_gram=stack(1), class_means=stack(2), within_cov=stack(3),
        product=stack(4), bias=stack(5),
        objective=np.array([r[1] for r in runs]), grad_norm=np.array([r[2] for r in runs]),
        learning_rate=np.array([r[3] for r in runs]), history_steps=record_at.copy(),
        history_objective=hist(0), history_class_means=hist(1), history_within_cov=hist(2),
        history_product=hist(3), history_bias=hist(4), n_samples=len(runs), params=params)


@dataclass(frozen=True)
class UFMBruteForce:
    """L-BFGS from many random starts (:func:`brute_force_ufm`); per-start end states and the best."""

    objectives: np.ndarray        # (starts,) objective reached from each start
    grad_norms: np.ndarray        # (starts,)
    init_scales: np.ndarray       # (starts,) the scale of each start
    classifier_gram: np.ndarray   # (starts, K, K)
    feature_mean_gram: np.ndarray  # (starts, K, K)
    class_means: np.ndarray       # (starts, d, K)
    within_cov: np.ndarray        # (starts, d, d)
    product: np.ndarray           # (starts, K, d)
    bias: np.ndarray              # (starts, K)
    best: int                     # index of the lowest objective
    best_objective: float
    n_samples: int                # the number of starts
    params: dict


@cached
def brute_force_ufm(class_sizes, depth, width, weight_decay, feature_decay, loss="mse", bias=False, starts=32,
                    seed=0, init_scales=(1e-3, 1e-1, 1.0)) -> UFMBruteForce:
    """Minimize the UFM objective by L-BFGS from ``starts`` random initializations.

    Start ``i`` draws every entry ``N(0, s_i^2)`` with ``s_i = init_scales[i % len(init_scales)]``
    from generator ``i`` of ``rng.generators(seed, starts, stream=1)`` (a stream
    separate from :func:`train_ufm`'s).  All per-start objectives are returned,
    so a caller sees whether starts reach different local minima.
    """
    prob, depth, width, lw, lh, loss, bias = _validate_ufm(class_sizes, depth, width, weight_decay, feature_decay,
                                                           loss, bias)
    starts = _integer("starts", starts, 1)
    _checks.work("starts", starts, f"starts={starts}")
    _ufm_memory(prob, depth, width, 8 * starts, more=", starts")
    try:
        scales = [float(s) for s in np.atleast_1d(np.asarray(init_scales, dtype=float))]
    except (TypeError, ValueError):
        raise ValueError(
            f"init_scales must be a non-empty sequence of finite numbers > 0, got {init_scales!r}") from None
    if not scales or not all(math.isfinite(s) and s > 0 for s in scales):
        raise ValueError(f"init_scales must be a non-empty sequence of finite numbers > 0, got {init_scales!r}")
    gens = rng.generators(seed, starts, stream=1)
    pts, used = [], []
    with threadpool_limits(1):
        for i, g in enumerate(gens):
            s = scales[i % len(scales)]
            p0 = _init_params(g, prob.num_classes, prob.num_samples, depth, width, bias, s)
            pts.append(_lbfgs(p0, prob, lw, lh, loss == "ce", newton=False))
            used.append(s)
        # the Newton polish (costly: a finite-difference Hessian) only for the best start
        first = int(np.argmin([pt.objective for pt in pts]))
        pts[first] = _lbfgs(pts[first].params, prob, lw, lh, loss == "ce")
    ends = [_end_state(pt.params, prob) for pt in pts]

    def stack(i):
        return np.stack([e[i] for e in ends])

    objs = np.array([pt.objective for pt in pts])
    best = int(np.argmin(objs))
    params = dict(class_sizes=prob.sizes.tolist(), depth=depth, width=width, weight_decay=lw, feature_decay=lh,
                  loss=loss, bias=bias, starts=starts, seed=int(seed), init_scales=scales)
    return UFMBruteForce(objectives=objs, grad_norms=np.array([pt.grad_norm for pt in pts]),
                         init_scales=np.array(used), classifier_gram=stack(0), feature_mean_gram=stack(1),
                         class_means=stack(2), within_cov=stack(3), product=stack(4), bias=stack(5), best=best,
                         best_objective=float(objs[best]), n_samples=starts, params=params)


# ---------------------------------------------------------------------------------------------
# mixup features with a fixed simplex-ETF classifier


def simplex_etf(num_classes: int) -> np.ndarray:
    """``W = sqrt(K/(K-1)) (I - 1 1^T / K)``: the simplex ETF with unit-norm rows (symmetric, ``K x K``)."""
    K = _integer("num_classes", num_classes, 2)
    _checks.memory("num_classes", 3 * 8.0 * K * K, f"num_classes={K} (K x K matrices)")
    return math.sqrt(K / (K - 1.0)) * (np.eye(K) - np.full((K, K), 1.0 / K))


def mixup_targets(num_classes: int, mixes, pairs="cross") -> np.ndarray:
    """Soft targets ``mix e_c + (1 - mix) e_c'`` for ``(c, c') = (0, 1)`` (cross) or ``(0, 0)`` (same)."""
    K = _integer("num_classes", num_classes, 2)
    m = _mixes(mixes)
    pairs = _choice("pairs", pairs, PAIRS)
    _checks.memory("num_classes", 8.0 * m.size * K, f"num_classes={K} ({m.size} x K targets)")
    T = np.zeros((m.size, K))
    if pairs == "cross":
        T[:, 0] = m
        T[:, 1] = 1.0 - m
    else:
        T[:, 0] = 1.0
    return T


def _mixes(mixes) -> np.ndarray:
    try:
        m = np.atleast_1d(np.asarray(mixes, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"mixes must be a non-empty 1-D array of numbers in [0, 1], got {mixes!r}") from None
    if m.ndim != 1 or m.size == 0 or not np.all(np.isfinite(m)):
        raise ValueError(f"mixes must be a non-empty 1-D array of numbers in [0, 1], got {mixes!r}")
    if np.any((m < 0) | (m > 1)):
        raise ValueError(f"mixes must lie in [0, 1], got values from {m.min()} to {m.max()}")
    return m


def _mixup_grad_numpy(Hf, W, T, lam, ce):
    Z = Hf @ W.T
    if ce:
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        R = E / E.sum(axis=1, keepdims=True) - T
    else:
        R = Z - T
    return R @ W + lam * Hf


def _mixup_objective_numpy(Hf, W, T, lam, ce):
    Z = Hf @ W.T
    if ce:
        zmax = Z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(Z - zmax).sum(axis=1))
        data = lse * T.sum(axis=1) - (T * Z).sum(axis=1)
    else:
        data = 0.5 * ((Z - T) ** 2).sum(axis=1)
    return data + 0.5 * lam * (Hf * Hf).sum(axis=1)


def _mixup_gd_numpy(h0, W, T, lam, lr, steps, ce):
    """Vectorized-numpy baseline: ``steps`` GD steps on every mix at once."""
    Hf = np.array(h0, dtype=float, copy=True)
    for _ in range(steps):
        Hf -= lr * _mixup_grad_numpy(Hf, W, T, lam, ce)
    return Hf


def _mixup_gd_kernel(h0, W, T, lam, lr, steps, ce, out):
    """Numba kernel: ``prange`` over mixes, each an independent ``K``-dimensional GD (same steps as numpy)."""
    n, K = h0.shape
    for i in prange(n):
        h = h0[i].copy()
        z = np.empty(K)
        r = np.empty(K)
        g = np.empty(K)
        for _ in range(steps):
            for j in range(K):
                acc = 0.0
                for k in range(K):
                    acc += h[k] * W[j, k]
                z[j] = acc
            if ce:
                zmax = z[0]
                for j in range(1, K):
                    if z[j] > zmax:
                        zmax = z[j]
                s = 0.0
                for j in range(K):
                    r[j] = math.exp(z[j] - zmax)
                    s += r[j]
                for j in range(K):
                    r[j] = r[j] / s - T[i, j]
            else:
                for j in range(K):
                    r[j] = z[j] - T[i, j]
            for k in range(K):
                acc = 0.0
                for j in range(K):
                    acc += r[j] * W[j, k]
                g[k] = acc + lam * h[k]
            for k in range(K):
                h[k] -= lr * g[k]
        for k in range(K):
            out[i, k] = h[k]


_mixup_gd_kernel_jit = njit(cache=True, parallel=True)(_mixup_gd_kernel)


def mixup_gd(h0, targets, feature_decay, lr, steps, loss="ce", backend="numba") -> np.ndarray:
    """``steps`` gradient-descent steps on each row of ``h0`` (``n x K``) for its row of ``targets``.

    The classifier is :func:`simplex_etf`; ``backend="numba"`` runs the
    ``prange`` kernel, ``"numpy"`` the vectorized baseline (same arithmetic,
    agreeing to rounding).
    """
    h0 = np.ascontiguousarray(_checks.array("h0", h0, ndim=2))
    T = np.ascontiguousarray(_checks.array("targets", targets, ndim=2))
    if T.shape != h0.shape:
        raise ValueError(f"h0 and targets must be (n, K) arrays of one shape, got {h0.shape} and {T.shape}")
    if h0.shape[1] < 2:
        raise ValueError(f"h0 and targets must have K >= 2 columns (classes), got {h0.shape[1]}")
    W = simplex_etf(h0.shape[1])
    lam = _real("feature_decay", feature_decay)
    lr = _real("lr", lr, 0.0, open_=True)
    steps = _integer("steps", steps, 0)
    _checks.work("steps", float(steps) * h0.size, f"steps={steps} on {h0.shape[0]} features")
    ce = _choice("loss", loss, LOSSES) == "ce"
    if _choice("backend", backend, BACKENDS) == "numpy":
        return _mixup_gd_numpy(h0, W, T, lam, lr, steps, ce)
    out = np.empty_like(h0)
    _mixup_gd_kernel_jit(h0, W, T, lam, lr, steps, ce, out)
    return out


def _mixup_newton(Hf, W, T, lam, ce, iterations=50, tol=1e-14):
    """Damped Newton polish of every mix (vectorized); each step halves until the objective does not rise."""
    n, K = Hf.shape
    eye = np.eye(K)
    f = _mixup_objective_numpy(Hf, W, T, lam, ce)
    for _ in range(iterations):
        g = _mixup_grad_numpy(Hf, W, T, lam, ce)
        if np.max(np.linalg.norm(g, axis=1)) <= tol:
            break
        if ce:
            Z = Hf @ W.T
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            p = E / E.sum(axis=1, keepdims=True)
            D = p[:, :, None] * eye - p[:, :, None] * p[:, None, :]
            Hess = np.einsum("ja,njk,kb->nab", W, D, W) + lam * eye
        else:
            Hess = np.broadcast_to(W.T @ W + lam * eye, (n, K, K))
        step = np.linalg.solve(Hess, g[:, :, None])[:, :, 0]
        gn = np.linalg.norm(g, axis=1)
        t = np.ones(n)
        for _ in range(40):
            Hn = Hf - t[:, None] * step
            fn = _mixup_objective_numpy(Hn, W, T, lam, ce)
            # near the minimum objective differences drown in rounding (|f| u) while the gradient is
            # still accurate: there a step counts as progress when it shrinks the gradient
            flat = fn <= f + 8 * np.finfo(float).eps * np.abs(f)
            gnew = np.linalg.norm(_mixup_grad_numpy(Hn, W, T, lam, ce), axis=1)
            ok = (fn < f) | (flat & (gnew < gn))
            if ok.all():
                break
            t[~ok] *= 0.5
        Hf = np.where(ok[:, None], Hn, Hf)
        f = np.where(ok, fn, f)
        if not ok.any():
            break
    return Hf


@dataclass(frozen=True)
class MixupRun:
    """Optimal features of mixed samples under a fixed simplex-ETF classifier (:func:`train_mixup_features`)."""

    features: np.ndarray       # (n_mix, K) the minimizing h for each mix
    coefficients: np.ndarray   # (n_mix, 2) (a, b) in h = a w_c + b w_c' + r (cross), (n_mix, 1) a (same);
    #                            least squares (pinv): for K = 2 cross (w_1 = -w_0) the minimum-norm pair
    residual_norm: np.ndarray  # (n_mix,) ||r||, r orthogonal to the classifier rows used
    objective: np.ndarray      # (n_mix,)
    grad_norm: np.ndarray      # (n_mix,)
    mixes: np.ndarray          # (n_mix,)
    targets: np.ndarray        # (n_mix, K)
    classifier: np.ndarray     # (K, K) the simplex ETF W
    n_samples: int             # n_mix, the number of independent problems
    params: dict


def mixup_learning_rate(num_classes, feature_decay, loss="ce") -> float:
    """``1 / L``, ``L = c ||W||_2^2 + lambda_H = c K/(K-1) + lambda_H`` (``c`` = 1/2 CE, 1 MSE): exact smoothness."""
    K = _integer("num_classes", num_classes, 2)
    lam = _real("feature_decay", feature_decay)
    c = 0.5 if _choice("loss", loss, LOSSES) == "ce" else 1.0
    return 1.0 / (c * K / (K - 1.0) + lam)


@cached
def train_mixup_features(num_classes, feature_decay, mixes, pairs="cross", loss="ce", seed=0, steps=2000, lr=None,
                         backend="numba") -> MixupRun:
    """Minimize each mixed sample's regularized loss over its feature ``h`` (module docstring, Fisher et al. 2024).

    Every mix starts from ``h ~ N(0, I)`` (one generator for the seed, rows in
    the order of ``mixes``), takes ``steps`` gradient steps of size ``lr``
    (``None``: :func:`mixup_learning_rate`, ``1/L`` for the exact smoothness
    constant ``L``), then a damped Newton polish.  ``feature_decay`` must be
    positive: without it the pure-class targets (``mix`` 0 or 1, or ``pairs="same"``)
    have no minimizer under CE.
    """
    K = _integer("num_classes", num_classes, 2)
    lam = _real("feature_decay", feature_decay, 0.0, open_=True)
    m = _mixes(mixes)
    pairs = _choice("pairs", pairs, PAIRS)
    loss = _choice("loss", loss, LOSSES)
    steps = _integer("steps", steps, 0)
    lr = _lr(lr)
    backend = _choice("backend", backend, BACKENDS)
    _checks.memory("num_classes", 8.0 * (3 * K * K + 8 * m.size * K), f"num_classes={K} ({m.size} mixes)")
    _checks.work("steps", float(steps) * m.size * K, f"steps={steps} on {m.size} mixes")
    ce = loss == "ce"
    step = mixup_learning_rate(K, lam, loss) if lr is None else lr
    W = simplex_etf(K)
    T = mixup_targets(K, m, pairs)
    h0 = rng.generators(seed, 1)[0].standard_normal((m.size, K))
    Hf = mixup_gd(h0, T, lam, step, steps, loss, backend)
    Hf = _mixup_newton(Hf, W, T, lam, ce)
    B = W[[0, 1]].T if pairs == "cross" else W[[0]].T
    coef = (np.linalg.pinv(B) @ Hf.T).T  # K = 2, cross: w_1 = -w_0, the minimum-norm split (a = -b)
    resid = Hf - coef @ B.T
    g = _mixup_grad_numpy(Hf, W, T, lam, ce)
    params = dict(num_classes=K, feature_decay=lam, mixes=m.tolist(), pairs=pairs, loss=loss, seed=int(seed),
                  steps=steps, lr=lr, learning_rate=step, backend=backend)
    return MixupRun(features=Hf, coefficients=coef, residual_norm=np.linalg.norm(resid, axis=1),
                    objective=_mixup_objective_numpy(Hf, W, T, lam, ce), grad_norm=np.linalg.norm(g, axis=1),
                    mixes=m, targets=T, classifier=W, n_samples=int(m.size), params=params)


# ---------------------------------------------------------------------------------------------
# a small ReLU network on a Gaussian mixture


@dataclass(frozen=True)
class MLPRun:
    """Trajectory of :func:`train_mlp_mixture` (``T`` records; ``p = relu_width`` feature dimensions)."""

    history_steps: np.ndarray        # (T,)
    history_loss: np.ndarray         # (T,) data-fit term (MSE or CE) on the training set
    history_objective: np.ndarray    # (T,) loss + weight decay
    history_accuracy: np.ndarray     # (T,) training accuracy
    history_class_means: np.ndarray  # (T, p, K) class means of the features (last ReLU layer's output)
    history_within_cov: np.ndarray   # (T, p, p) within-class covariance of the features
    history_product: np.ndarray      # (T, K, p) product of the linear head W_L...W_1
    history_bias: np.ndarray         # (T, K) last-layer bias (zeros without one)
    labels: np.ndarray               # (N,) class of each training sample (class order)
    input_means: np.ndarray          # (K, input_dim) the mixture's class means
    n_samples: int                   # 1: one training run
    params: dict


def _mlp_forward(X, Vs, cs, Ws, b):
    acts, pre = [X], []
    for V, c in zip(Vs, cs):
        u = V @ acts[-1] + c[:, None]
        pre.append(u)
        acts.append(np.maximum(u, 0.0))
    xs = [acts[-1]]
    for W in Ws:
        xs.append(W @ xs[-1])
    Z = xs[-1] if b is None else xs[-1] + b[:, None]
    return acts, pre, xs, Z


def _data_term(Z, Y, N, ce):
    """Mean loss of the outputs ``Z`` (K x N) on one-hot ``Y`` and its gradient in ``Z``."""
    if ce:
        zmax = Z.max(axis=0)
        E = np.exp(Z - zmax)
        S = E.sum(axis=0)
        return (float(np.sum(zmax + np.log(S))) - float(np.vdot(Z, Y))) / N, (E / S - Y) / N
    R = Z - Y
    return 0.5 * float(np.vdot(R, R)) / N, R / N


def _mlp_loss_grad(X, Y, Vs, cs, Ws, b, lw, ce):
    N = X.shape[1]
    acts, pre, xs, Z = _mlp_forward(X, Vs, cs, Ws, b)
    data, G = _data_term(Z, Y, N, ce)
    reg = 0.5 * lw * (sum(float(np.vdot(W, W)) for W in Ws) + sum(float(np.vdot(V, V)) for V in Vs))
    db = None if b is None else G.sum(axis=1)
    dWs = [None] * len(Ws)
    for m in range(len(Ws) - 1, -1, -1):
        dWs[m] = G @ xs[m].T + lw * Ws[m]
        G = Ws[m].T @ G
    dVs, dcs = [None] * len(Vs), [None] * len(Vs)
    for k in range(len(Vs) - 1, -1, -1):
        G = G * (pre[k] > 0)
        dVs[k] = G @ acts[k].T + lw * Vs[k]
        dcs[k] = G.sum(axis=1)
        G = Vs[k].T @ G
    acc = float(np.mean(np.argmax(Z, axis=0) == np.argmax(Y, axis=0)))
    return data, data + reg, acc, acts[-1], (dVs, dcs, dWs, db)


@cached
def train_mlp_mixture(class_sizes, input_dim=16, relu_width=32, relu_depth=2, linear_depth=3, width=32,
                      weight_decay=1e-3, loss="mse", bias=False, steps=3000, lr=3e-3, seed=0, record_every=100,
                      separation=4.0, optimizer="adam") -> MLPRun:
    """Train a ReLU backbone + deep linear head on a Gaussian mixture (module docstring, item 3).

    Data: class ``k`` has ``class_sizes[k]`` points ``x = mu_k + N(0, I)`` with
    ``mu_k ~ N(0, separation^2 / input_dim I)`` (so ``||mu_k|| ~ separation``),
    in class order.  Model: ``relu_depth`` layers ``a <- relu(V a + c)`` of width
    ``relu_width`` make the features ``h``; the head is ``linear_depth`` bias-free
    layers ``W_1`` (``width x relu_width``), ..., ``W_L`` (``K x width``) (one
    ``K x relu_width`` layer when ``linear_depth = 1``), plus an optional
    unregularized bias.  Objective: the UFM's loss on the outputs plus
    ``weight_decay/2`` times the squared norms of all weights (not biases).
    Initialization: He (``N(0, 2/fan_in)``) for the ReLU layers, ``N(0, 1/fan_in)``
    for the head, zero biases.  ``optimizer="adam"`` (betas 0.9, 0.999, eps 1e-8)
    or ``"gd"``, full batch, step ``lr``.  Generators: ``rng.generators(seed, 2)``,
    the first draws the data, the second the initialization.
    """
    prob = _problem(class_sizes)
    input_dim = _integer("input_dim", input_dim, 1)
    relu_width = _integer("relu_width", relu_width, 1)
    relu_depth = _integer("relu_depth", relu_depth, 1)
    linear_depth = _integer("linear_depth", linear_depth, 1)
    width = _integer("width", width, prob.num_classes)
    lw = _real("weight_decay", weight_decay)
    loss = _choice("loss", loss, LOSSES)
    bias = _flag("bias", bias)
    steps = _integer("steps", steps, 1)
    lr = _real("lr", lr, 0.0, open_=True)
    record_every = _integer("record_every", record_every, 1)
    separation = _real("separation", separation)
    optimizer = _choice("optimizer", optimizer, OPTIMIZERS)
    N, K = prob.num_samples, prob.num_classes
    # the data, every layer's weights and activations, Adam's two moments of each weight: a few copies
    layer = relu_width * (input_dim + 1) + (relu_depth - 1) * relu_width * (relu_width + 1) \
        + width * relu_width + (linear_depth - 2) * width * width + K * width + K
    activations = N * (input_dim + relu_depth * relu_width + linear_depth * width + K)
    _checks.memory("input_dim, relu_width, relu_depth, linear_depth and width", 8.0 * 4 * (layer + activations),
                   f"input_dim={input_dim}, relu_width={relu_width}, relu_depth={relu_depth}, "
                   f"linear_depth={linear_depth}, width={width} for N={N}")
    records = min(steps, steps // record_every + 2)
    _checks.memory("steps and record_every", 8.0 * records * (2 * relu_width * (relu_width + K) + 2 * K + 3),
                   f"{records} records of steps={steps} every {record_every}")
    _checks.work("steps", float(steps) * (linear_depth + relu_depth), f"steps={steps} of a "
                 f"{relu_depth + linear_depth}-layer network")
    g_data, g_init = rng.generators(seed, 2)
    K, N = prob.num_classes, prob.num_samples
    mus = g_data.standard_normal((K, input_dim)) * (separation / math.sqrt(input_dim))
    X = (mus[prob.labels] + g_data.standard_normal((N, input_dim))).T
    Y = prob.targets
    Vs, cs = [], []
    fan = input_dim
    for _ in range(relu_depth):
        Vs.append(g_init.standard_normal((relu_width, fan)) * math.sqrt(2.0 / fan))
        cs.append(np.zeros(relu_width))
        fan = relu_width
    Ws = []
    for m in range(linear_depth):
        rows = K if m == linear_depth - 1 else width
        Ws.append(g_init.standard_normal((rows, fan)) * math.sqrt(1.0 / fan))
        fan = rows
    b = np.zeros(K) if bias else None
    params_list = Vs + cs + Ws + ([b] if bias else [])
    m1 = [np.zeros_like(p) for p in params_list]
    m2 = [np.zeros_like(p) for p in params_list]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    record_at = _record_steps(steps, record_every)
    T = record_at.size
    p = relu_width
    h_loss, h_obj, h_acc = np.empty(T), np.empty(T), np.empty(T)
    h_mean, h_cov = np.empty((T, p, K)), np.empty((T, p, p))
    h_prod, h_bias = np.empty((T, K, p)), np.zeros((T, K))
    r = 0
    nV = relu_depth
    with threadpool_limits(1):
        for t in range(steps + 1):
            data, obj, acc, H, (dVs, dcs, dWs, db) = _mlp_loss_grad(X, Y, Vs, cs, Ws, b, lw, loss == "ce")
            if r < T and record_at[r] == t:
                mu = _class_means(H, prob)
                h_loss[r], h_obj[r], h_acc[r] = data, obj, acc
                h_mean[r], h_cov[r] = mu, _within_cov(H, mu, prob)
                h_prod[r] = _product(Ws)
                if b is not None:
                    h_bias[r] = b
                r += 1
            if t == steps:
                break
            grads = dVs + dcs + dWs + ([db] if bias else [])
            for i, (q, gq) in enumerate(zip(params_list, grads)):
                if optimizer == "adam":
                    m1[i] = beta1 * m1[i] + (1 - beta1) * gq
                    m2[i] = beta2 * m2[i] + (1 - beta2) * gq * gq
                    mh = m1[i] / (1 - beta1 ** (t + 1))
                    vh = m2[i] / (1 - beta2 ** (t + 1))
                    q -= lr * mh / (np.sqrt(vh) + eps)
                else:
                    q -= lr * gq
            # params_list holds the same array objects as Vs, cs, Ws, b (updated in place)
    params = dict(class_sizes=prob.sizes.tolist(), input_dim=input_dim, relu_width=relu_width, relu_depth=nV,
                  linear_depth=linear_depth, width=width, weight_decay=lw, loss=loss, bias=bias, steps=steps, lr=lr,
                  seed=int(seed), record_every=record_every, separation=separation, optimizer=optimizer)
    return MLPRun(history_steps=record_at, history_loss=h_loss, history_objective=h_obj, history_accuracy=h_acc,
                  history_class_means=h_mean, history_within_cov=h_cov, history_product=h_prod,
                  history_bias=h_bias, labels=prob.labels.copy(), input_means=mus, n_samples=1, params=params)
