r"""Self-distillation in kernel ridge regression (Borup & Andersen 2021; Mobahi et al. 2020).

Setting and conventions
-----------------------
Training inputs ``X`` (n points), Gram matrix ``K = V diag(d) V^T`` with
eigenvalues ``d >= 0``, targets ``y``, ridge ``lambda > 0`` added to ``K``
directly (no factor n), as in the authors' public toy example
(Kennethborup/self_distillation).

* step 0 is the teacher, plain KRR on ``y``:  ``f_0(x) = k(x)^T (K + lambda I)^{-1} y``;
* step t >= 1 fits the targets ``alpha * y + (1 - alpha) * f_{t-1}(X)``.

(Borup & Andersen number the teacher ``f^(1)``; our step ``t`` is their ``t+1``.)
``alpha`` weighs the ground truth; ``alpha = 0`` is Mobahi et al.'s pure
self-distillation.  At the training points ``f_t(X) = V diag(b_t) V^T y``: each
eigen-direction of ``y`` is scaled by a *multiplier* ``b_t(d)``.  With
``a = d / (d + lambda)`` the multipliers obey ``b_0 = a`` and
``b_{t+1} = a (alpha + (1 - alpha) b_t)`` (the recursion of Borup & Andersen,
"B^(t)" in their public code).  Everything below is derived from that
recursion with sympy:

* :data:`STUDENT_MULTIPLIER` -- ``rsolve`` of the recursion: the closed form for any t
  (the paper's statement that every distilled model is a function of the first fit);
* :data:`LIMIT_MULTIPLIER` -- the fixed point, reached geometrically at rate
  ``(1 - alpha) a`` when ``|1 - alpha| a < 1``;
* :data:`AMPLIFIED_RIDGE` -- the ridge ``rho`` for which plain KRR has the limit's
  multipliers, ``d / (d + rho)``: ``rho = lambda / alpha`` (infinitely many steps
  amplify the ridge by ``1/alpha``; Borup & Andersen's main theorem);
* :data:`NO_GROUND_TRUTH_MULTIPLIER` -- ``alpha = 0``: ``a^(t+1)``, which tends to 0 for
  every eigen-direction: Mobahi et al.'s progressive sparsification and collapse;
* :data:`OPTIMAL_ALPHA` -- the minimizer over real ``alpha`` of the squared distance
  of a step's fit to a reference (the noiseless target): a ratio of inner products.

``alpha`` is any real number here.  Borup & Andersen state their results for
``alpha`` in [0, 1]; the optimal ``alpha`` of a step is unconstrained and does
leave [0, 1] (above 1 when the ridge over-smooths).  Finite steps are defined
for every real ``alpha``; the limit exists only when ``|1 - alpha| * max(a) < 1``,
i.e. for ``0 < alpha < 2`` whatever the spectrum, and :func:`limit_multipliers`
raises otherwise.

Mobahi et al.'s constraint form
-------------------------------
Each round ``t`` fits the previous round's predictions ``y_t`` (``y_0 = y``) by
KRR whose ridge ``c_t`` makes the training error exactly
``(1/n) ||f(X) - y_t||^2 = epsilon``; in the eigenbasis (``z = V^T y_t``)
``sum_k (c/(c + d_k))^2 z_k^2 = n epsilon``, whose left side increases in ``c``,
so the root is unique (solved by ``brentq`` in ``log c``).  When
``||y_t||^2 <= n epsilon`` the zero function is feasible and optimal: the solution
has collapsed.  With ``r_t = ||y_t|| / sqrt(n epsilon)``, each round removes a
residual of norm exactly ``sqrt(n epsilon)`` that is componentwise of the same
sign as and no larger than ``z``, so ``r_t - 1 <= r_{t+1}`` and
``r_{t+1}^2 <= r_t^2 - 1``: collapse happens at a round ``T`` with
``r_0 - 1 <= T <= r_0^2``.  (Mobahi et al. bound the rounds in terms of ``r_0`` and
the Gram matrix's condition number; those exact expressions could not be read
from the sources available to this project, so the checks use the derived
bounds above, which are the sharper statement and imply the paper's qualitative
one: finitely many rounds, more of them when ``epsilon`` is small.)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy.optimize import brentq

from . import _checks
from ._checks import real as _real

# --------------------------------------------------------------------------- the papers' toy example

#: inputs of the toy example of Mobahi et al. (2020), reused by Borup & Andersen (2021): 11 points on [0, 1]
TOY_INPUTS = np.linspace(0.0, 1.0, 11)
#: its noisy targets, a noisy sin(2 pi x), as published in Kennethborup/self_distillation (toy_example.ipynb)
TOY_TARGETS = np.array([0.38476636465198066, 1.2333967683416893, 1.33232242218057, 0.69201594888895180,
                        -0.29756145531871736, -0.24189291901377769, -0.7964485769175675, -0.9616480167034174,
                        -0.49672509509916934, -0.3469066003991437, 0.5589512650600734])
#: the authors' RBF width and ridge for the toy example
TOY_GAMMA = 80.0
TOY_RIDGE = 0.2
#: their evaluation grid: numpy.arange(0, 1.01, 0.01), 101 points
TOY_EVAL_GRID = np.arange(0, 1.01, 0.01)

# --------------------------------------------------------------------------- symbolic derivation

d_sym, ridge_sym = sp.symbols("d lambda", positive=True)
alpha_sym = sp.Symbol("alpha", real=True)
step_sym = sp.Symbol("t", integer=True, nonnegative=True)
_b = sp.Function("b")

#: KRR shrinkage of one eigen-direction: the teacher's multiplier
TEACHER_MULTIPLIER = d_sym / (d_sym + ridge_sym)

#: b_{t+1} = a (alpha + (1 - alpha) b_t): the distillation recursion per eigen-direction
RECURSION = sp.Eq(_b(step_sym + 1), TEACHER_MULTIPLIER * (alpha_sym + (1 - alpha_sym) * _b(step_sym)))

#: closed form of the step-t multiplier, from sympy's rsolve of RECURSION with b_0 = a
STUDENT_MULTIPLIER = sp.rsolve(RECURSION.lhs - RECURSION.rhs, _b(step_sym), {_b(0): TEACHER_MULTIPLIER})

_fixed = sp.Symbol("b_inf")
#: t -> infinity: the fixed point of RECURSION
LIMIT_MULTIPLIER = sp.simplify(sp.solve(sp.Eq(_fixed, RECURSION.rhs.subs(_b(step_sym), _fixed)), _fixed)[0])

_rho = sp.Symbol("rho", positive=True)
#: the ridge of plain KRR whose multipliers equal LIMIT_MULTIPLIER: lambda / alpha
AMPLIFIED_RIDGE = sp.solve(sp.Eq(LIMIT_MULTIPLIER, d_sym / (d_sym + _rho)), _rho)[0]

#: alpha = 0 (no ground truth, Mobahi et al.): a^(t+1)
NO_GROUND_TRUTH_MULTIPLIER = sp.simplify(STUDENT_MULTIPLIER.subs(alpha_sym, 0))

#: geometric rate at which STUDENT_MULTIPLIER approaches LIMIT_MULTIPLIER
#: (the ratio of consecutive gaps, taken at t = 0; tests check it is the same at every t)
CONVERGENCE_RATE = sp.factor(sp.simplify((STUDENT_MULTIPLIER - LIMIT_MULTIPLIER).subs(step_sym, 1)
                                         / (STUDENT_MULTIPLIER - LIMIT_MULTIPLIER).subs(step_sym, 0)))

# optimal alpha of one step: fit(alpha) = u + alpha * v  (u = P f_{t-1}(X), v = P (y - f_{t-1}(X)));
# risk(alpha) = ||r - u - alpha v||^2 = rr - 2 ru + uu - 2 alpha (rv - uv) + alpha^2 vv
_rr, _ru, _uu, _rv, _uv, _vv = sp.symbols("rr ru uu rv uv vv", real=True)
STEP_RISK = _rr - 2 * _ru + _uu - 2 * alpha_sym * (_rv - _uv) + alpha_sym**2 * _vv
#: argmin over real alpha of STEP_RISK (its second derivative 2 vv is >= 0)
OPTIMAL_ALPHA = sp.solve(sp.diff(STEP_RISK, alpha_sym), alpha_sym)[0]

_limit = sp.lambdify((d_sym, ridge_sym, alpha_sym), LIMIT_MULTIPLIER, "numpy")
_amplified = sp.lambdify((ridge_sym, alpha_sym), AMPLIFIED_RIDGE, "numpy")
_optimal_alpha = sp.lambdify((_rv, _uv, _vv), OPTIMAL_ALPHA, "numpy")


# --------------------------------------------------------------------------- validation helpers

def _step(step, name="step"):
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {_checks._short(step)}")
    return int(step)


def _eigenvalues(eigenvalues, ridge):
    d = _checks.array("eigenvalues", eigenvalues, ndim=1, empty=True)
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"eigenvalues must be a non-empty 1-D array, got shape {d.shape}")
    if np.any(d < 0):
        raise ValueError(f"eigenvalues must be >= 0 (a Gram matrix is positive semi-definite), got min {float(d.min())!r}")
    if ridge == 0 and np.any(d == 0):
        raise ValueError("ridge must be > 0 when an eigenvalue is 0 (the kernel system is singular)")
    with np.errstate(over="ignore"):
        top = float(d.max()) + float(ridge)
    if math.isinf(top):  # d + ridge, the spectrum of K + ridge I, would overflow (d/(d + ridge) read as 0)
        raise ValueError(f"eigenvalues + ridge must stay below the float maximum {np.finfo(float).max:.4g}, "
                         f"got largest eigenvalue {float(d.max())!r} and ridge {float(ridge)!r}")
    return d


# --------------------------------------------------------------------------- multipliers

def student_multipliers(eigenvalues, ridge, alpha, step):
    """Per-eigenvalue factor by which the step-``step`` model scales ``y``'s eigen-coordinates.

    Step 0 is the teacher (plain KRR): ``d / (d + ridge)``.  Closed form
    :data:`STUDENT_MULTIPLIER` (Borup & Andersen 2021: every distilled
    model is a function of the first fit).  ``ridge = 0`` is the interpolating
    limit (multiplier 1 for every positive eigenvalue).

    Evaluated as the geometric sum it is, ``b_t = a (alpha G_t + r^t)`` with
    ``a = d/(d + ridge)``, ``r = (1 - alpha) a`` and ``G_t = sum_{j<t} r^j``, where ``|r|^t``
    is ``exp(t log|r|)`` with ``log|r|`` from ``log1p(|r| - 1)`` near ``|r| = 1`` and
    ``G_t = expm1(t log r)/(r - 1)``.  The sympy form ``L + r^t C`` splits ``b_t`` into two
    terms with a pole at ``alpha d + ridge = 0`` (``alpha < 0``): their difference is NaN
    there and loses ``1/|alpha d + ridge|`` relative accuracy nearby, and a plain power
    ``a^t`` multiplies ``a``'s rounding by ``t``.  Accuracy (tests/test_extremes.py, against
    the recursion in mpmath, eigenvalues 1..1e-12, ridge 1e-12..1, steps up to 1e4):
    ``10 u (1 + |t log|r|| + sum of |d log b_t / d log(d, ridge, alpha)|)`` relative.
    Raises ``ValueError`` when ``|r|^t`` overflows (``|1 - alpha| a > 1``, many steps).
    """
    ridge = _real("ridge", ridge, low=0.0)
    alpha = _real("alpha", alpha)
    step = _step(step)
    d = _eigenvalues(eigenvalues, ridge)
    if ridge == 0.0:
        return np.ones_like(d)
    a = d / (d + ridge)
    if step == 0:
        return a
    # m = |r| - 1 without cancellation: ((|1 - alpha| - 1) d - ridge) / (d + ridge)
    with np.errstate(over="ignore"):
        m = ((-alpha if alpha < 1.0 else alpha - 2.0) * d - ridge) / (d + ridge)
    if not np.all(np.isfinite(m)):  # |alpha| d beyond the float range (|r| itself is below it): the same, a factored
        m = np.where(np.isfinite(m), m, (-alpha if alpha < 1.0 else alpha - 2.0) * a - ridge / (d + ridge))
    with np.errstate(divide="ignore"):
        # log|r|: log1p(m) near |r| = 1, log(|1 - alpha| a) away from it (where m has lost a's digits)
        ell = np.where(m > -0.5, np.log1p(m), np.log(abs(1.0 - alpha) * a))
    if np.any(step * ell > math.log(np.finfo(float).max)):
        raise ValueError(f"alpha={alpha} with step={step} overflows: |1 - alpha| * d/(d + ridge) "
                         f"grows like its step-th power")
    power = np.exp(step * ell)  # |r|^t
    if alpha <= 1.0:  # r >= 0: G_t = (1 - r^t) / (1 - r) = expm1(t log r) / m
        with np.errstate(divide="ignore", invalid="ignore"):
            G = np.where(m == 0.0, float(step), np.expm1(step * ell) / np.where(m == 0.0, 1.0, m))
        rt = power
    else:  # r < 0: 1 - r = 2 + m >= 1
        rt = power if step % 2 == 0 else -power
        G = (1.0 - rt) / (2.0 + m)
    with np.errstate(over="ignore"):  # |alpha| near the float maximum: alpha G may overflow, the split form is then taken
        geometric = a * (alpha * G + rt)
    if 0.0 <= alpha <= 1.0:  # every term is >= 0: no cancellation in the geometric form
        return geometric
    # alpha outside [0, 1]: alpha G and r^t can cancel (|r| > 1, where b_t tends to the limit L);
    # there L + r^t C is the accurate split, except near its pole alpha d + ridge = 0: take the form
    # whose terms cancel least, component by component
    with np.errstate(all="ignore"):
        # L = alpha d/(alpha d + ridge) and STUDENT_MULTIPLIER's C = (1 - alpha) d ridge / ((alpha d + ridge)(d + ridge)),
        # factor by factor with the pole factor divided by d (alpha d overflows for |alpha| near the float maximum):
        # expanded (as lambdified) C's numerator overflows against r^t for |alpha| ~ 1e200, and a - L (the same
        # value) cancels every digit when ridge/d is below u (tests check both against the sympy form)
        q = alpha + ridge / d
        lim = alpha / q
        split = lim + rt * (a * ((1.0 - alpha) / q) * (ridge / d))
        pole = (np.abs(alpha) + ridge / d) / np.abs(q)
        loss_split = pole * (np.abs(lim) + np.abs(split - lim)) / np.abs(split)
        loss_geometric = (np.abs(alpha * G) + np.abs(rt)) / np.abs(alpha * G + rt)
    better = np.isfinite(split) & (loss_split < np.where(np.isnan(loss_geometric), np.inf, loss_geometric))
    return np.where(better, split, geometric)


def limit_multipliers(eigenvalues, ridge, alpha):
    """Multipliers as ``step -> infinity``: those of KRR with ridge ``ridge / alpha``.

    Exists when ``|1 - alpha| * d/(d + ridge) < 1`` for every eigenvalue; for
    ``alpha = 0`` it is 0 (collapse, Mobahi et al.); raises ``ValueError`` when the
    iteration diverges.
    """
    ridge = _real("ridge", ridge, low=0.0)
    alpha = _real("alpha", alpha)
    d = _eigenvalues(eigenvalues, ridge)
    if ridge == 0.0:
        return np.ones_like(d)
    rate = abs(1.0 - alpha) * d / (d + ridge)
    if np.any(rate >= 1.0):
        raise ValueError(f"alpha={alpha}: the distillation steps do not converge (need |1 - alpha| * d/(d + ridge) < 1, "
                         f"i.e. 0 < alpha < 2 for any spectrum)")
    if alpha == 0.0:
        return np.zeros_like(d)
    return np.asarray(_limit(d, ridge, alpha), dtype=float) * np.ones_like(d)


def amplified_ridge(ridge, alpha):
    """Ridge of plain KRR equal to infinitely many distillation steps: ``ridge / alpha`` (alpha in (0, 2))."""
    ridge = _real("ridge", ridge, low=0.0)
    alpha = _real("alpha", alpha, low=0.0, low_open=True, high=2.0, high_open=True)
    return float(_amplified(ridge, alpha))


def target_multipliers(eigenvalues, ridge, alpha, step):
    """Multipliers of the targets the step-``step`` model is fitted to (1 for the teacher)."""
    step = _step(step)
    if step == 0:
        d = _eigenvalues(eigenvalues, _real("ridge", ridge, low=0.0))
        return np.ones_like(d)
    prev = student_multipliers(eigenvalues, ridge, alpha, step - 1)
    alpha = float(alpha)
    return alpha + (1.0 - alpha) * prev


# --------------------------------------------------------------------------- kernels and smoothers

def rbf_kernel(x, z, gamma):
    """``exp(-gamma |x - z|^2)`` between the rows of ``x`` (n, p) and ``z`` (m, p); 1-D inputs are columns."""
    gamma = _real("gamma", gamma, low=0.0, low_open=True)
    xa, za = _points("x", x), _points("z", z)
    if xa.shape[1] != za.shape[1]:
        raise ValueError(f"x and z must be 1-D or 2-D with the same number of columns, got {xa.shape} and {za.shape}")
    _checks.memory("x and z", 3 * 8.0 * xa.shape[0] * za.shape[0] * xa.shape[1],
                   f"{xa.shape[0]} x {za.shape[0]} points in {xa.shape[1]} dimensions")
    sq = ((xa[:, None, :] - za[None, :, :]) ** 2).sum(-1)
    return np.exp(-gamma * sq)


def _points(name, x):
    """Points as the rows of a non-empty finite 2-D array (a 1-D array is a column)."""
    try:
        a = None if x is None or isinstance(x, (str, bytes, dict)) else np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        a = None
    if a is None:
        raise TypeError(f"{name} must be a 1-D or 2-D array of finite numbers, got {_checks._short(x)}")
    return _checks.array(name, a[:, None] if a.ndim == 1 else a, ndim=2)


def gram_eigh(gram):
    """Eigen-decomposition ``(d, V)`` of a symmetric positive semi-definite Gram matrix, ``d`` descending."""
    K = _checks.array("gram", gram, ndim=2, empty=True)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"gram must be a non-empty square matrix, got shape {K.shape}")
    scale = max(np.abs(K).max(), np.finfo(float).tiny)
    if np.abs(K - K.T).max() > 8 * K.shape[0] * np.finfo(float).eps * scale:
        raise ValueError("gram must be symmetric")
    d, V = np.linalg.eigh((K + K.T) / 2)
    # eigenvalues that rounding made slightly negative are zero
    floor = K.shape[0] * np.finfo(float).eps * scale
    if d.min() < -floor:
        raise ValueError(f"gram must be positive semi-definite, smallest eigenvalue {float(d.min())!r}")
    d = np.clip(d, 0.0, None)
    order = np.argsort(d)[::-1]
    return d[order], V[:, order]


def _check_targets(name, y, n):
    ya = _checks.array(name, y, ndim=1, empty=True)
    if ya.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) like the Gram matrix gram, got {ya.shape}")
    return ya


def smoother(gram, ridge, alpha, step, cross_gram=None):
    """Linear map ``S`` with ``f_step(points) = S y`` (closed form through the eigenbasis).

    Without ``cross_gram`` the points are the training inputs; with
    ``cross_gram`` (m, n) = k(test points, training inputs) they are the test points.
    """
    d, V = gram_eigh(gram)
    ridge = _real("ridge", ridge, low=0.0)
    if cross_gram is None:
        return (V * student_multipliers(d, ridge, alpha, step)) @ V.T
    C = _cross_gram(cross_gram, d.size)
    coef = target_multipliers(d, ridge, alpha, step) / (d + ridge)
    return (C @ V) * coef @ V.T


def _cross_gram(cross_gram, n):
    """``cross_gram``: a finite (m, n) array, ``n`` the side of ``gram``."""
    C = _checks.array("cross_gram", cross_gram, ndim=2)
    if C.shape[1] != n:
        raise ValueError(f"cross_gram must have shape (m, {n}), one column per row of gram, got {C.shape}")
    return C


def _test_values(f_test, m):
    """``f_test``: ``m`` finite values, one per row of ``cross_gram``."""
    fs = _checks.array("f_test", f_test, ndim=1, empty=True)
    if fs.shape != (m,):
        raise ValueError(f"f_test must have shape ({m},), one value per row of cross_gram, got {fs.shape}")
    return fs


def distilled_fit(gram, y, ridge, alpha, step, cross_gram=None):
    """Predictions of the step-``step`` model, at the training inputs or at test points."""
    S = smoother(gram, ridge, alpha, step, cross_gram)
    return S @ _check_targets("y", y, S.shape[1])


def limit_fit(gram, y, ridge, alpha, cross_gram=None):
    """Predictions of the ``step -> infinity`` model: KRR with the amplified ridge ``ridge / alpha``."""
    d, V = gram_eigh(gram)
    ya = _check_targets("y", y, d.size)
    mult = limit_multipliers(d, ridge, alpha)
    if cross_gram is None:
        return (V * mult) @ (V.T @ ya)
    C = _cross_gram(cross_gram, d.size)
    # (K + (ridge/alpha) I)^{-1} = V diag(alpha / (alpha d + ridge)) V^T (= mult / d), also where d = 0: test points
    # can see that direction (gram_eigh clips the eigenvalues of near-duplicate inputs to 0)
    coef = mult / d if ridge == 0 else float(alpha) / (float(alpha) * d + float(ridge))
    return (C @ V) @ (coef * (V.T @ ya))


def expected_risk(gram, cross_gram, f_train, f_test, noise_variance, ridge, alpha, step):
    """Expected test risk over label noise, ``E mean_j (f_step(x_j) - f*(x_j))^2``, for a fixed design.

    ``y = f_train + noise`` with independent noise of variance ``noise_variance``;
    the risk is bias^2 + variance: ``|S f_train - f_test|^2 / m + sigma^2 ||S||_F^2 / m``.
    """
    var = _real("noise_variance", noise_variance, low=0.0)
    S = smoother(gram, ridge, alpha, step, cross_gram)
    ft = _check_targets("f_train", f_train, S.shape[1])
    fs = _test_values(f_test, S.shape[0])
    m = S.shape[0]
    bias = S @ ft - fs
    return float(bias @ bias / m + var * np.sum(S * S) / m)


def expected_risks(gram, cross_gram, f_train, f_test, noise_variance, ridge, alphas, steps):
    """:func:`expected_risk` for every ``alpha`` in ``alphas`` and step ``0..steps``: shape (len(alphas), steps+1).

    One eigen-decomposition for the whole grid: ``S = (C V) diag(coef) V^T`` so the
    bias is ``(C V)(coef * V^T f) - f*`` and ``||S||_F^2 = sum_k coef_k^2 ||(C V)_k||^2``.
    """
    d, V = gram_eigh(gram)
    ridge = _real("ridge", ridge, low=0.0, low_open=True)
    var = _real("noise_variance", noise_variance, low=0.0)
    C = _cross_gram(cross_gram, d.size)
    w = V.T @ _check_targets("f_train", f_train, d.size)
    fs = _test_values(f_test, C.shape[0])
    al = _checks.array("alphas", [alphas] if isinstance(alphas, numbers.Real) else alphas, ndim=1)
    steps = _step(steps, "steps")
    _checks.memory("steps", 8.0 * al.size * (steps + 1), f"steps={steps} ({al.size} x (steps + 1) risks)")
    CV = C @ V
    col = np.sum(CV * CV, axis=0)
    m = C.shape[0]
    out = np.empty((al.size, steps + 1))
    for i, a_ in enumerate(al):
        for s in range(steps + 1):
            coef = target_multipliers(d, ridge, float(a_), s) / (d + ridge)
            bias = CV @ (coef * w) - fs
            out[i, s] = (bias @ bias + var * np.sum(coef**2 * col)) / m
    return out


# --------------------------------------------------------------------------- optimal alpha

def optimal_alpha(gram, y, reference, ridge, previous_fit=None):
    """The real ``alpha`` minimizing ``||reference - f_t(X)||^2`` for one step (:data:`OPTIMAL_ALPHA`).

    ``f_t(X) = P (alpha y + (1 - alpha) previous_fit)`` with ``P = K (K + ridge I)^{-1}``;
    ``previous_fit`` defaults to the teacher's ``P y`` (the first student step).
    ``reference`` is what the fit should match, e.g. the noiseless targets
    ``f*(X)``.  The result may lie outside [0, 1]: above 1 when the ridge
    over-smooths (more ground truth than the teacher helps), below 0 when it
    under-smooths.
    """
    d, V = gram_eigh(gram)
    ridge = _real("ridge", ridge, low=0.0, low_open=True)
    ya = _check_targets("y", y, d.size)
    ref = _check_targets("reference", reference, d.size)
    a = d / (d + ridge)
    zy, zr = V.T @ ya, V.T @ ref
    zp = a * zy if previous_fit is None else V.T @ _check_targets("previous_fit", previous_fit, d.size)
    u, v = a * zp, a * (zy - zp)
    vv = float(v @ v)
    if vv == 0.0:
        raise ValueError("optimal alpha is undefined: the step's fit does not depend on alpha (y equals the previous fit)")
    return float(_optimal_alpha(float(zr @ v), float(u @ v), vv))


def expected_optimal_alpha(gram, f_train, noise_variance, ridge, cross_gram=None, f_test=None):
    """Optimal ``alpha`` of the first student step in expectation over label noise.

    Minimizes ``E ||f* - f_1||^2`` over real alpha with ``y = f* + noise``, at the
    training points (default) or, with ``cross_gram`` and ``f_test``, on test
    points.  The risk is quadratic in alpha, ``E[vv] alpha^2 - 2 E[rv - uv] alpha + const``,
    so the minimizer is the ratio of the expected coefficients (:data:`OPTIMAL_ALPHA`
    applied to expectations; not the expectation of the per-sample optimum).
    With ``f_1 = u + alpha v``, ``u = G diag(a) z``, ``v = G diag(1 - a) z``,
    ``z = V^T y``, ``G = C V diag(1/(d + ridge))`` (``G = V diag(a)`` at training points):
    ``E[z z^T] = w w^T + sigma^2 I`` with ``w = V^T f*``.
    """
    d, V = gram_eigh(gram)
    ridge = _real("ridge", ridge, low=0.0, low_open=True)
    var = _real("noise_variance", noise_variance, low=0.0)
    w = V.T @ _check_targets("f_train", f_train, d.size)
    a = d / (d + ridge)
    if cross_gram is None:
        G = V * a
        ref = V @ w
    else:
        C = _cross_gram(cross_gram, d.size)
        if f_test is None:
            raise ValueError("f_test is required with cross_gram")
        ref = _test_values(f_test, C.shape[0])
        G = (C @ V) / (d + ridge)
    Gu, Gv = G * a, G * (1 - a)
    M = np.outer(w, w) + var * np.eye(d.size)
    rv = float(ref @ (Gv @ w))
    uv = float(np.sum((Gu.T @ Gv) * M))
    vv = float(np.sum((Gv.T @ Gv) * M))
    if vv == 0.0:
        raise ValueError("expected optimal alpha is undefined: the first student equals the teacher for every alpha")
    return float(_optimal_alpha(rv, uv, vv))


# --------------------------------------------------------------------------- Mobahi's constraint form

def constraint_ridge(eigenvalues, coordinates, n_points, epsilon):
    """Ridge ``c`` with training error ``(1/n) sum_k (c/(c+d_k))^2 z_k^2 = epsilon`` (inf when collapsed).

    Solved by ``brentq`` on ``log c`` (the error increases with ``c``) to its relative
    tolerance ``4 eps |log c|``, the error compared with ``n epsilon`` in exact powers of two
    (subnormal budgets and squares beyond the float range keep every digit); ``math.inf`` when
    ``||z||^2 <= n epsilon`` (the zero function meets the constraint); ``ValueError`` when the
    root lies above the float range.
    """
    eps = _real("epsilon", epsilon, low=0.0, low_open=True)
    if isinstance(n_points, bool) or not isinstance(n_points, numbers.Integral) or n_points < 1:
        raise ValueError(f"n_points must be an integer >= 1, got {n_points!r}")
    d = _eigenvalues(eigenvalues, 1.0)
    z = _coordinates(coordinates, d)
    # ||r||^2 - n epsilon is compared divided by 2^k, 2^k the larger of the two's powers of two, with r scaled by
    # 2^-e (max |r| in [1/2, 1)) and epsilon held as mantissa x 2^exponent: every scaling is exact, so neither a
    # subnormal budget (it kept a few bits: 1.6e-5 relative) nor squares beyond the float range (|z| ~ 1e200,
    # or ~ 1e-160) lose digits, and the sign of the difference is exact
    bm, be = math.frexp(eps)
    bm *= float(n_points)  # n epsilon = bm 2^be, bm a normal number
    be_top = be + math.frexp(bm)[1]

    def excess_of(r):
        _, e = math.frexp(float(np.abs(r).max()))  # (eigenvalues, so r, are never empty)
        s = np.ldexp(r, -e)
        k = max(2 * e, be_top)
        return math.ldexp(float(s @ s), 2 * e - k) - math.ldexp(bm, be - k)

    if excess_of(z) <= 0:
        return math.inf

    def excess(logc):
        with np.errstate(over="ignore"):  # c/(c + d) as 1/(1 + d/c), c + d would overflow; d/c = inf gives 0
            r = z / (1.0 + d / math.exp(logc))
        return excess_of(r)

    lo, hi = -50.0, 50.0
    if excess(lo) >= 0:
        # directions of eigenvalue 0 (which the kernel cannot represent) stay in the residual at c = e^-745
        return 0.0 if excess(-745.0) >= 0 else math.exp(brentq(excess, -745.0, lo, xtol=1e-300))
    top = math.log(np.finfo(float).max)  # e^top: the largest ridge a float holds
    while excess(hi) < 0:  # (an error exactly at the budget at the top ridge is the root itself)
        if hi == top:
            raise ValueError(f"epsilon={eps!r} needs a ridge above the float range "
                             f"(largest eigenvalue {float(d.max())!r})")
        hi = min(2 * hi, top)
    return math.exp(brentq(excess, lo, hi, xtol=1e-300))


def _coordinates(coordinates, d):
    z = _checks.array("coordinates", coordinates, ndim=1, empty=True)
    if z.shape != d.shape:
        raise ValueError(f"coordinates must have the shape of eigenvalues {d.shape}, got {z.shape}")
    return z


@dataclass(frozen=True)
class ConstrainedRounds:
    """Mobahi et al.'s constraint-form self-distillation, round by round."""

    ridges: np.ndarray          # c_t for t = 0 .. collapse_round - 1 (inf at the collapse round)
    norms: np.ndarray           # ||y_t|| for t = 0 .. len(ridges)
    diagonals: np.ndarray       # B_t diagonals: prod_{i<t} d/(c_i + d), rows t = 1 .. len(ridges)
    collapse_round: int | None  # first t whose constraint is met by f = 0 (None if not within max_rounds)


def constrained_rounds(eigenvalues, coordinates, n_points, epsilon, max_rounds=1000):
    """Run the constraint form in the eigenbasis until collapse (or ``max_rounds``)."""
    d = _eigenvalues(eigenvalues, 1.0)
    z = _coordinates(coordinates, d).copy()
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, numbers.Integral) or max_rounds < 1:
        raise ValueError(f"max_rounds must be an integer >= 1, got {max_rounds!r}")
    ridges, norms, diags = [], [float(np.linalg.norm(z))], []
    B = np.ones_like(d)
    collapse = None
    for t in range(int(max_rounds)):
        c = constraint_ridge(d, z, n_points, epsilon)
        ridges.append(c)
        if math.isinf(c):
            collapse = t
            break
        step = d / (c + d)
        B = B * step
        z = step * z
        diags.append(B.copy())
        norms.append(float(np.linalg.norm(z)))
    return ConstrainedRounds(np.array(ridges), np.array(norms),
                             np.array(diags) if diags else np.zeros((0, d.size)), collapse)


def collapse_round_bounds(initial_norm, n_points, epsilon):
    """Bounds ``(lower, upper)`` on the collapse round from ``r_0 = ||y_0|| / sqrt(n epsilon)``.

    ``r_{t+1} >= r_t - 1`` gives no collapse before ``ceil(r_0) - 1``; ``r_{t+1}^2 <= r_t^2 - 1``
    gives collapse by ``ceil(r_0^2) - 1`` (see the module docstring for the proof).
    """
    norm0 = _real("initial_norm", initial_norm, low=0.0)
    eps = _real("epsilon", epsilon, low=0.0, low_open=True)
    if isinstance(n_points, bool) or not isinstance(n_points, numbers.Integral) or n_points < 1:
        raise ValueError(f"n_points must be an integer >= 1, got {n_points!r}")
    r0 = norm0 / math.sqrt(n_points * eps)
    if r0 <= 1:
        return 0, 0
    return max(0, math.ceil(r0) - 1), math.ceil(r0 * r0) - 1
