r"""Neural collapse in the deep linear unconstrained-features model (Dang et al. 2023) and under mixup
(Fisher, Meng & Papyan 2024).

Model and normalisation
-----------------------
K classes with sizes ``n_1..n_K`` (``N = sum n_k``), one-hot targets ``Y`` (K x N),
free features ``H`` (d x N, ``d >= K``), linear layers ``W_1..W_M`` (the last K x d),
optional unregularised last-layer bias ``b``:

    MSE:  ||W_M...W_1 H + b 1^T - Y||_F^2 / (2N) + lambda_W/2 sum_m ||W_m||_F^2 + lambda_H/2 ||H||_F^2
    CE:   (1/N) sum_i CE(W_M...W_1 h_i + b, y_i) + the same regularisers

(the normalisation of the authors' code, Fsoft-AIC/Neural-Collapse-in-Deep-Linear-Networks).

The MSE minimum, derived here
-----------------------------
At a global minimum the features of a class equal their mean, the layers are
balanced (equal singular values ``s_k`` per class direction, ``lambda_W`` shared)
and the class directions are orthogonal.  Minimising over the class-mean length
for fixed ``s_k`` leaves, with the substitution ``s_k^{2M} = N lambda_H x_k^M``,
one scalar problem per class (the paper's equation, as in the authors' code):

    g_k(x) = ( n_k / (x^M + 1) + beta x ) / (2N),   x >= 0,
    beta = M N (N lambda_H lambda_W^M)^{1/M}

(:data:`CLASS_OBJECTIVE`).  Its stationarity equation (:data:`ROOT_EQUATION`) is
``beta / n_k = M x^{M-1} / (x^M + 1)^2``.  For ``M >= 2`` the objective is not convex:
``x = 0`` is always a local minimum and a positive root may be a worse local
minimum.  **The class collapses** (classifier row and feature mean exactly zero)
iff ``g_k(x) >= g_k(0)`` for every ``x > 0``, i.e.

    beta / n_k >= phi_M = sup_x x^{M-1} / (x^M + 1) = (M - 1)^{(M-1)/M} / M

(:data:`COLLAPSE_THRESHOLD`, derived with sympy; ``phi_1 = 1``).  A positive root of
the stationarity equation exists iff ``beta / n_k <= psi_M``
(:data:`ROOT_THRESHOLD` ``= (M-1)^{(M-1)/M} (M+1)^{(M+1)/M} / (4M)``), and
``psi_M > phi_M`` for ``M >= 2`` (0.650 vs 0.500 at ``M = 2``): in between, the larger
root is a *local* minimum above the zero solution.  A boundary read off the
existence of a root (or a root-finder that takes the largest root and clips
negatives, as the authors' code does) misplaces minority collapse there.

Geometry at the minimum (``x_k`` the global minimiser): classifier Gram
``(W_M...W_1)(W_M...W_1)^T = diag(N lambda_H x_k^M)``, uncentred class-mean Gram
``diag(x_k^M / (N lambda_H (x_k^M + 1)^2))`` -- the *general orthogonal frame*;
balanced data gives the orthogonal frame.  With an unregularised bias and
balanced data the bias fits the mean target ``1/K``, the centred target has
``K - 1`` equal singular values, and the same scalar problem gives the simplex
ETF ``diag -> (I - 11^T/K)`` scaling.

CE (balanced)
-------------
At the minimum the product classifier rows and class means form a simplex ETF.
Writing ``rho`` for the logit scale (each sample's correct-minus-other margin is
``rho K/(K-1)``), the loss is ``log(1 + (K-1) exp(-rho K/(K-1)))`` and the
regularisers, minimised over the balanced factorisation for fixed ``rho``, are
``C_M rho^{2/(M+1)}`` (:data:`CE_REGULARISER`, derived).  The scale solves the 1-D
problem ``min_rho >= 0`` of their sum: closed form for ``M = 1``
(:data:`CE_SCALE_DEPTH1`), a bracketed ``brentq`` over all sign changes of the
derivative for ``M >= 2``, the zero solution compared explicitly.

Mixup (Fisher, Meng & Papyan 2024)
----------------------------------
Classifier fixed to a simplex ETF with unit-norm rows ``w_j`` (Gram ``1`` on the
diagonal, ``-1/(K-1)`` off it).  A sample mixed with weight ``mix`` on class ``c``
and ``1 - mix`` on ``c'`` has target ``t = mix e_c + (1-mix) e_c'``; its feature
minimises ``CE_soft(W h, t) + lambda_H/2 ||h||^2``.  The gradient condition puts
``h`` in the row space of ``W``; since ``sum_j w_j = 0`` and the other classes enter
symmetrically, ``h = a w_c + b w_c'``.  Same-class (``c = c'``): ``h = a w_c`` with ``a``
the root of a 1-D equation, independent of ``mix``.  Cross-class: ``(a, b)`` solve the
2-D gradient system (Newton on the sympy gradient and Hessian; the problem is
strictly convex).  With the MSE loss the feature is linear in the target, so it
is exactly ``mix h_c + (1 - mix) h_c'`` -- under CE it is not.  For ``K = 2``,
``w_c' = -w_c`` and only ``a - b`` is determined; the minimum-norm pair is returned.

NC metrics (Papyan, Han & Donoho 2020)
--------------------------------------
* NC1 = ``tr(Sigma_W Sigma_B^+) / K`` with ``Sigma_W`` the within-class covariance
  averaged over all N samples and ``Sigma_B`` the covariance of the class means
  about the global mean, averaged over classes (Papyan et al.'s definition; the
  authors' code uses the same, with the global mean weighted by class sizes).
* NC2 = ``|| G/||G||_F - T/||T||_F ||_F``: distance of a normalised Gram matrix to the
  normalised target frame (simplex ETF ``I - 11^T/K``, orthogonal ``I``, or the general
  orthogonal frame ``diag(lengths)``).  Scale-free, so it compares shapes only;
  this is the authors' code's form, chosen because the papers' frames differ in
  scale and the metric must be comparable across depths.
* NC3 = ``|| W/||W||_F - (D M)^T/||D M||_F ||_F``: self-duality of the product
  classifier ``W`` (K x d) and the class means ``M`` (d x K, centred when a bias is
  fitted), with an optional per-class scaling ``D`` (the imbalanced frame's
  ``w_k = (s_k^{2M} + N lambda_H) mu_k``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy.optimize import brentq

from . import _checks
from ._checks import integer as _int
from ._checks import real as _real

# --------------------------------------------------------------------------- symbolic derivations

x_sym, n_sym, beta_sym = sp.symbols("x n beta", positive=True)
depth_sym = sp.Symbol("M", positive=True, integer=True)

#: per-class objective (times 2N) of the deep linear UFM with MSE, in the paper's variable x
CLASS_OBJECTIVE = n_sym / (x_sym**depth_sym + 1) + beta_sym * x_sym
#: stationarity: d/dx CLASS_OBJECTIVE = 0  <=>  beta/n = M x^(M-1) / (x^M + 1)^2
ROOT_EQUATION = sp.simplify(sp.diff(CLASS_OBJECTIVE, x_sym))
_root_rhs = depth_sym * x_sym ** (depth_sym - 1) / (x_sym**depth_sym + 1) ** 2
_gain = x_sym ** (depth_sym - 1) / (x_sym**depth_sym + 1)  # (g(0) - g(x) + beta x) / (n x)
_gain_arg = sp.solve(sp.diff(_gain, x_sym), x_sym)[0]
#: beta/n at and above which the zero solution is the global minimum (sup of x^(M-1)/(x^M+1))
COLLAPSE_THRESHOLD = sp.simplify(_gain.subs(x_sym, _gain_arg))
_root_arg = sp.solve(sp.diff(_root_rhs, x_sym), x_sym)[0]
#: beta/n below which the stationarity equation has a positive root (max of its right side)
ROOT_THRESHOLD = sp.simplify(_root_rhs.subs(x_sym, _root_arg))
#: where the right side of the root equation peaks: x^M = (M-1)/(M+1); the larger root lies beyond
ROOT_PEAK = _root_arg

_collapse_threshold = sp.lambdify(depth_sym, COLLAPSE_THRESHOLD, "math")
_root_threshold = sp.lambdify(depth_sym, ROOT_THRESHOLD, "math")

# CE: regulariser minimised over the balanced factorisation for a fixed logit scale rho
_s, _rho, _lw, _lh, _N, _K = sp.symbols("s rho lambda_W lambda_H N K", positive=True)
_reg_of_s = depth_sym * _lw * (_K - 1) * _s**2 / 2 + _lh * _N * _rho**2 * _K / (2 * (_K - 1)) * _s ** (-2 * depth_sym)
_s_opt = sp.solve(sp.diff(_reg_of_s, _s), _s)[0]
#: min over the layers' common singular value s of the regularisers, as a function of rho
CE_REGULARISER = sp.simplify(_reg_of_s.subs(_s, _s_opt))
#: the layers' singular value that attains it
CE_LAYER_SINGULAR_VALUE = sp.simplify(_s_opt)
_c = _K / (_K - 1)
#: CE of every sample at logit scale rho on a simplex ETF
CE_LOSS = sp.log(1 + (_K - 1) * sp.exp(-_c * _rho))
CE_OBJECTIVE = CE_LOSS + CE_REGULARISER
_ce_obj = sp.lambdify((_rho, depth_sym, _lw, _lh, _N, _K), CE_OBJECTIVE, "math")
_ce_s = sp.lambdify((_rho, depth_sym, _lw, _lh, _N, _K), CE_LAYER_SINGULAR_VALUE, "math")
_ce_sol1 = sp.solve(sp.diff(CE_OBJECTIVE.subs(depth_sym, 1), _rho), _rho)
#: depth 1: the positive stationary logit scale in closed form (sympy solve)
CE_SCALE_DEPTH1 = _ce_sol1[0] if _ce_sol1 else None
_ce_scale1 = sp.lambdify((_lw, _lh, _N, _K), CE_SCALE_DEPTH1, "math") if CE_SCALE_DEPTH1 is not None else None

# mixup: h = a w_c + b w_c' with the ETF Gram (1 on the diagonal, -1/(K-1) off it)
_a, _b, _mix, _lam = sp.symbols("a b mix lambda_H", real=True)
_Kc = sp.Symbol("K", positive=True)
_zc = _a - _b / (_Kc - 1)
_zc2 = _b - _a / (_Kc - 1)
_zo = -(_a + _b) / (_Kc - 1)
_lse = sp.log(sp.exp(_zc) + sp.exp(_zc2) + (_Kc - 2) * sp.exp(_zo))
#: mixup objective of a cross-class sample (CE on the soft target + feature decay)
MIXUP_OBJECTIVE = _lse - _mix * _zc - (1 - _mix) * _zc2 + _lam / 2 * (_a**2 + _b**2 - 2 * _a * _b / (_Kc - 1))
MIXUP_GRADIENT = [sp.diff(MIXUP_OBJECTIVE, v) for v in (_a, _b)]
MIXUP_HESSIAN = [[sp.diff(g, v) for v in (_a, _b)] for g in MIXUP_GRADIENT]
_same = MIXUP_OBJECTIVE.subs({_b: 0, _mix: 1})
#: same-class mixup (target e_c whatever the mix): stationarity in a, 1-D
MIXUP_SAME_CLASS_EQUATION = sp.simplify(sp.diff(_same, _a))
_mix_grad = sp.lambdify((_a, _b, _mix, _lam, _Kc), MIXUP_GRADIENT, "math")
_mix_hess = sp.lambdify((_a, _b, _mix, _lam, _Kc), MIXUP_HESSIAN, "math")
_mix_obj = sp.lambdify((_a, _b, _mix, _lam, _Kc), MIXUP_OBJECTIVE, "math")
_same_eq = sp.lambdify((_a, _lam, _Kc), MIXUP_SAME_CLASS_EQUATION, "math")


# --------------------------------------------------------------------------- validation

def _class_sizes(class_sizes):
    try:
        sizes = list(class_sizes)
    except TypeError:
        raise ValueError(f"class_sizes must be a sequence of class sizes, got {class_sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"class_sizes must list at least 2 classes, got {len(sizes)}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"class_sizes must be integers >= 1, got {class_sizes!r}")
    return np.array([int(s) for s in sizes], dtype=float)


# --------------------------------------------------------------------------- thresholds and roots

def collapse_threshold(depth) -> float:
    """``phi_M``: a class collapses iff ``beta / n_k >= phi_M`` (:data:`COLLAPSE_THRESHOLD`)."""
    M = _int("depth", depth, 1)
    return 1.0 if M == 1 else float(_collapse_threshold(M))


def root_threshold(depth) -> float:
    """``psi_M``: the stationarity equation has a positive root iff ``beta / n_k <= psi_M``."""
    M = _int("depth", depth, 1)
    return 1.0 if M == 1 else float(_root_threshold(M))


def regularization_constant(class_sizes, depth, weight_decay, feature_decay) -> float:
    """``beta = M N (N lambda_H lambda_W^M)^{1/M}``, the paper's ``b``.

    Evaluated as ``M N (N lambda_H)^{1/M} lambda_W``: a few ulps for any decays and depth
    (``lambda_W^M`` itself would underflow, e.g. ``lambda_W = 1e-40`` at depth 8).
    """
    n = _class_sizes(class_sizes)
    M = _int("depth", depth, 1)
    lw = _real("weight_decay", weight_decay, low=0.0)
    lh = _real("feature_decay", feature_decay, low=0.0)
    N = n.sum()
    # (N lh lw^M)^(1/M) = (N lh)^(1/M) lw: no lw^M, which underflows (lw = 1e-40, M = 8) or overflows
    return float(M * N * (N * lh) ** (1.0 / M) * lw)


def zero_solution_regularization(class_sizes, depth) -> float:
    """The common decay ``lambda = lambda_W = lambda_H`` at and above which the only global minimum is zero.

    Every class collapses once ``beta >= n_max phi_M``; with equal decays
    ``beta = M N (N lambda^{M+1})^{1/M}``, so ``lambda* = ((n_max phi_M / (M N))^M / N)^{1/(M+1)}``.
    """
    n = _class_sizes(class_sizes)
    M = _int("depth", depth, 1)
    N = n.sum()
    beta = n.max() * collapse_threshold(M)
    # the same power taken factor by factor, so neither (beta/(M N))^M nor its quotient by N can underflow
    return float((beta / (M * N)) ** (M / (M + 1.0)) * N ** (-1.0 / (M + 1)))


def class_objective(x, n_k, beta, depth) -> float:
    """``n_k/(x^M + 1) + beta x`` (the class's share of the objective, times 2N)."""
    x = _real("x", x, low=0.0)
    n_k = _real("n_k", n_k, low=0.0, low_open=True)
    beta = _real("beta", beta, low=0.0)
    depth = _int("depth", depth, 1)
    return float(n_k / (x**depth + 1.0) + beta * x)


def largest_root(ratio, depth) -> float | None:
    """Largest positive root of ``ratio = M x^{M-1}/(x^M + 1)^2``; ``None`` when there is none.

    The right side increases up to ``x^M = (M-1)/(M+1)`` and then decreases to 0, so
    the largest root lies in ``(peak, inf)`` and is bracketed there (``brentq``,
    default tolerances).

    Accuracy (tests/test_extremes.py, against mpmath for depth <= 8 and ratios down to
    1e-12): depth 1 is a cancellation-free closed form, a few ulps for every ratio in
    ``(0, 1)``; depth >= 2 is brentq's ``rtol = 4 eps`` plus the rounding of the equation,
    ``(M + 4) u / |d log rhs / d log x|`` relative, which grows near ``psi_M`` (a double root).
    """
    M = _int("depth", depth, 1)
    r = _real("ratio", ratio, low=0.0, low_open=True)
    if M == 1:
        # 1/sqrt(r) - 1 without its cancellation near r = 1 (1 - r is exact there): full accuracy for every r
        return (1.0 - r) / (math.sqrt(r) * (1.0 + math.sqrt(r))) if r < 1.0 else None
    if r > root_threshold(M):
        return None
    peak = ((M - 1.0) / (M + 1.0)) ** (1.0 / M)

    def f(x):
        return M * x ** (M - 1) / (x**M + 1.0) ** 2 - r

    if f(peak) <= 0:
        return peak
    hi = max(2.0 * peak, 1.0)
    while f(hi) > 0:
        hi *= 2.0
    return brentq(f, peak, hi, xtol=1e-300)


def naive_largest_root(ratio, depth) -> float:
    """The authors' code's rule: the largest real root, clipped at 0 (0 when no root exists).

    Kept as the rival of the collapse boundary: it ignores that the root can be a
    local minimum above the zero solution.
    """
    root = largest_root(ratio, depth)
    return 0.0 if root is None or root < 0 else root


def class_root(ratio, depth) -> float:
    """Global minimiser ``x`` of the class objective: 0 when collapsed, else the largest root."""
    M = _int("depth", depth, 1)
    ratio = _real("ratio", ratio, low=0.0, low_open=True)
    if ratio >= collapse_threshold(M):
        return 0.0
    root = largest_root(ratio, M)
    if root is None:  # cannot happen below the collapse threshold (phi_M <= psi_M)
        raise ArithmeticError("no positive root below the collapse threshold")
    return root


# --------------------------------------------------------------------------- the deep linear UFM minimum

@dataclass(frozen=True)
class UFMMinimum:
    """Global minimum of the deep linear UFM (rows/columns in the order of ``class_sizes``)."""

    classifier_gram: np.ndarray     # (K, K) (W_M...W_1)(W_M...W_1)^T
    feature_mean_gram: np.ndarray   # (K, K) uncentred class means' Gram
    collapsed: np.ndarray           # (K,) bool
    objective: float                # the minimum value of the full objective
    layer_singular_values: np.ndarray  # (K,) s_k, each layer's singular value along class k
    x: np.ndarray                   # (K,) the paper's variable at the minimum
    bias: np.ndarray | None         # (K,) when a bias is fitted
    frame: str                      # "orthogonal", "general orthogonal", "simplex ETF" or "zero"
    beta: float
    params: dict


def _frame_name(lengths, collapsed):
    if np.all(collapsed):
        return "zero"
    live = lengths[~collapsed]
    # relative only: numpy's default atol = 1e-8 called unequal lengths below 1e-8 (tiny decays) "orthogonal"
    same = np.allclose(live, live[0], rtol=1e-12, atol=0.0)
    return "orthogonal" if same and not np.any(collapsed) else "general orthogonal"


def deep_linear_ufm_minimum(class_sizes, depth, weight_decay, feature_decay, loss="mse", bias=False) -> UFMMinimum:
    """Global minimum of the deep linear UFM (Dang et al. 2023), derived in the module docstring.

    ``loss="mse"``: any class sizes bias-free (general orthogonal frame, minority
    collapse); with ``bias=True`` balanced sizes only (simplex ETF, bias ``1/K``).
    ``loss="ce"``: balanced sizes (simplex ETF with the derived scale).
    """
    n = _class_sizes(class_sizes)
    M = _int("depth", depth, 1)
    lw = _real("weight_decay", weight_decay, low=0.0, low_open=True)
    lh = _real("feature_decay", feature_decay, low=0.0, low_open=True)
    if loss not in ("mse", "ce"):
        raise ValueError(f"loss must be 'mse' or 'ce', got {loss!r}")
    if not isinstance(bias, bool):
        raise ValueError(f"bias must be True or False, got {bias!r}")
    K, N = n.size, float(n.sum())
    balanced = bool(np.all(n == n[0]))
    params = dict(class_sizes=n.astype(int).tolist(), depth=M, weight_decay=lw, feature_decay=lh, loss=loss, bias=bias)
    beta = regularization_constant(n.astype(int).tolist(), M, lw, lh)
    if loss == "ce":
        if not balanced:
            raise ValueError("loss='ce' is derived for balanced class_sizes only (the paper's CE theorem)")
        return _ce_minimum(n, M, lw, lh, bias, beta, params)
    if bias and not balanced:
        raise ValueError("bias=True is derived for balanced class_sizes only; use bias=False for imbalanced data")
    if bias:
        xk = class_root(beta / n[0], M)
        x = np.full(K, xk)
        collapsed = np.full(K, xk == 0.0)
        P = np.eye(K) - np.ones((K, K)) / K
        cls = N * lh * xk**M * P
        feat = (xk**M / (N * lh * (xk**M + 1.0) ** 2)) * P
        obj = (K - 1) * class_objective(xk, n[0], beta, M) / (2 * N)
        s = np.full(K, (N * lh * xk**M) ** (1.0 / (2 * M)))
        frame = "zero" if xk == 0.0 else "simplex ETF"
        return UFMMinimum(cls, feat, collapsed, float(obj), s, x, np.full(K, 1.0 / K), frame, beta, params)
    x = np.array([class_root(beta / nk, M) for nk in n])
    collapsed = x == 0.0
    lengths = N * lh * x**M
    cls = np.diag(lengths)
    feat = np.diag(x**M / (N * lh * (x**M + 1.0) ** 2))
    obj = sum(class_objective(xk, nk, beta, M) for xk, nk in zip(x, n)) / (2 * N)
    s = lengths ** (1.0 / (2 * M))
    return UFMMinimum(cls, feat, collapsed, float(obj), s, x, None, _frame_name(lengths, collapsed), beta, params)


def ce_objective(rho, depth, weight_decay, feature_decay, n_samples, num_classes) -> float:
    """The balanced CE problem reduced to the logit scale ``rho`` (:data:`CE_OBJECTIVE`).

    The loss is evaluated as ``log1p((K-1) e^{-rho K/(K-1)})``: the symbolic ``log(1 + ...)``
    lost all but ``u / loss`` of its relative accuracy once the loss fell below ``u``
    (small decays: at 1e-12 the minimum is about 1e-9 and was wrong from the 8th digit).
    """
    rho = _real("rho", rho, low=0.0)
    depth, weight_decay, feature_decay, n_samples, num_classes = _ce_args(depth, weight_decay, feature_decay,
                                                                          n_samples, num_classes)
    if rho == 0:
        return math.log(num_classes)
    K = num_classes
    loss = math.log1p((K - 1) * math.exp(-rho * K / (K - 1)))
    return float(loss + _ce_regulariser(rho, depth, weight_decay, feature_decay, n_samples, num_classes))


def _ce_regulariser(rho, M, lw, lh, N, K):
    """:data:`CE_REGULARISER` factor by factor (tests check the form against the symbolic one).

    ``min_s A s^2 + B s^{-2M} = (M+1)/M A^{M/(M+1)} (M B)^{1/(M+1)}`` with ``A = M lw (K-1)/2``,
    ``B = lh N K rho^2/(2(K-1))``, each power taken separately: the lambdified form divides
    ``lh N rho^2`` by ``lw`` inside one power, which overflowed for ``lw`` far below ``lh``
    (``ce_scale(2, 1e-300, 1.0, 10, 2)`` returned 3015.6 for the minimiser 231.0) and underflowed
    to ``0.0 ** (-2/3)`` for ``lh`` far below ``lw`` (a ``ZeroDivisionError``).
    """
    e = 1.0 / (M + 1.0)
    return ((M + 1.0) / M * (M * (K - 1) / 2.0) ** (M / (M + 1.0)) * (M * N * K / (2.0 * (K - 1))) ** e
            * lw ** (M / (M + 1.0)) * lh**e * rho ** (2.0 / (M + 1.0)))


def _ce_derivative(rho, M, lw, lh, N, K):
    """``d/d rho`` of :func:`ce_objective` at ``rho > 0``: ``-c (K-1) e^{-c rho}/(1 + (K-1) e^{-c rho}) + reg'``.

    The regulariser is ``C rho^{2/(M+1)}``, so ``reg' = 2 reg / ((M+1) rho)``.
    """
    q = (K - 1) * math.exp(-rho * K / (K - 1))
    return -K / (K - 1) * q / (1.0 + q) + 2.0 / (M + 1.0) * _ce_regulariser(rho, M, lw, lh, N, K) / rho


def _ce_args(depth, weight_decay, feature_decay, n_samples, num_classes):
    return (_int("depth", depth, 1), _real("weight_decay", weight_decay, low=0.0, low_open=True),
            _real("feature_decay", feature_decay, low=0.0, low_open=True),
            _real("n_samples", n_samples, low=0.0, low_open=True), _int("num_classes", num_classes, 2))


def ce_scale(depth, weight_decay, feature_decay, n_samples, num_classes) -> float:
    """Global minimiser ``rho >= 0`` of :func:`ce_objective` (0: everything collapses).

    Depth 1: :data:`CE_SCALE_DEPTH1` (when positive and better than 0).  Depth >= 2:
    every sign change of the derivative on a log grid from ``1e-12`` to ``1e6`` is
    refined by ``brentq`` and the best stationary point is compared with ``rho = 0``.
    """
    depth, weight_decay, feature_decay, n_samples, num_classes = _ce_args(depth, weight_decay, feature_decay,
                                                                          n_samples, num_classes)
    M, K, N = depth, num_classes, n_samples
    args = (M, weight_decay, feature_decay, N, K)
    candidates = [0.0]
    if M == 1 and _ce_scale1 is not None:
        try:
            r = float(_ce_scale1(weight_decay, feature_decay, N, K))
            if r > 0:
                candidates.append(r)
        except (ValueError, ZeroDivisionError):
            pass
    else:
        # beyond rho ~ 750 e^{-c rho} underflows and the derivative is reg' >= 0: every stationary point is inside
        grid = np.logspace(-12, 6, 4000)
        vals = np.array([_ce_derivative(r, *args) for r in grid])
        for i in np.nonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))[0]:
            candidates.append(brentq(lambda r: _ce_derivative(r, *args), grid[i], grid[i + 1], xtol=1e-300))
    objs = [ce_objective(r, *args) for r in candidates]
    return float(candidates[int(np.argmin(objs))])


def simplex_etf_gram(num_classes) -> np.ndarray:
    """``(K/(K-1)) (I - 11^T/K)``: Gram of K unit vectors with pairwise cosine ``-1/(K-1)``."""
    K = _int("num_classes", num_classes, 2)
    _checks.memory("num_classes", 3 * 8.0 * K * K, f"num_classes={K} (K x K matrices)")
    return (K / (K - 1.0)) * (np.eye(K) - np.ones((K, K)) / K)


def _ce_minimum(n, M, lw, lh, bias, beta, params):
    K, N = n.size, float(n.sum())
    rho = ce_scale(M, lw, lh, N, K)
    G = simplex_etf_gram(K)
    if rho == 0.0:
        Z = np.zeros((K, K))
        return UFMMinimum(Z, Z, np.ones(K, bool), math.log(K), np.zeros(K), np.zeros(K),
                          np.zeros(K) if bias else None, "zero", beta, params)
    s = float(_ce_s(rho, M, lw, lh, N, K))
    # product rows p_j = alpha u_j (unit ETF u), singular value alpha sqrt(K/(K-1)) = s^M
    alpha2 = s ** (2 * M) * (K - 1) / K
    beta2 = rho**2 / alpha2  # class-mean length^2 so that alpha * beta = rho
    return UFMMinimum(alpha2 * G, beta2 * G, np.zeros(K, bool), ce_objective(rho, M, lw, lh, N, K),
                      np.full(K, s), np.full(K, rho), np.zeros(K) if bias else None, "simplex ETF", beta, params)


# --------------------------------------------------------------------------- mixup

def _mixup_logits_jac(K):
    """d(z_c, z_c', z_other) / d(a, b): the linear map from coefficients to logits."""
    o = -1.0 / (K - 1.0)
    return np.array([[1.0, o], [o, 1.0], [o, o]])


def mixup_objective_gradient_hessian(a, b, mix, lam, K):
    """Value, gradient and Hessian of :data:`MIXUP_OBJECTIVE`, evaluated stably (log-sum-exp).

    The symbolic expressions overflow for large coefficients; this evaluates the same
    function through the logits (tests compare the two where both are finite).
    """
    a, b = _real("a", a), _real("b", b)
    mix = _real("mix", mix, low=0.0, high=1.0)
    lam = _real("lam", lam, low=0.0)
    K = _int("K", K, 2)
    J = _mixup_logits_jac(K)
    z = J @ np.array([a, b])
    counts = np.array([1.0, 1.0, K - 2.0])
    live = counts > 0
    zmax = z[live].max()
    e = np.zeros(3)  # the absent group (K = 2) is not exponentiated: its logit can exceed zmax by > 709
    e[live] = counts[live] * np.exp(z[live] - zmax)
    lse = zmax + math.log(e.sum())
    p = e / e.sum()  # total probability on each logit group
    t = np.array([mix, 1.0 - mix, 0.0])
    R = np.array([[1.0, -1.0 / (K - 1.0)], [-1.0 / (K - 1.0), 1.0]])
    f = lse - t @ z + lam / 2 * (a * a + b * b - 2 * a * b / (K - 1.0))
    g = J.T @ (p - t) + lam * R @ np.array([a, b])
    # Hessian of log-sum-exp over the groups: J^T (diag(p) - p p^T) J with group multiplicities folded in
    Hz = np.diag(p) - np.outer(p, p)
    Hm = J.T @ Hz @ J + lam * R
    return f, g, Hm


def _newton_mixup(mix, lam, K, a0, b0):
    a, b = a0, b0
    f, g, Hm = mixup_objective_gradient_hessian(a, b, mix, lam, K)
    for _ in range(200):
        step = np.linalg.solve(Hm, g)
        fscale = abs(f) + 2.0 * (abs(a) + abs(b)) + math.log(K)
        t = 1.0
        while True:  # backtracking: the objective is strictly convex
            na, nb = a - t * step[0], b - t * step[1]
            nf, ng, nH = mixup_objective_gradient_hessian(na, nb, mix, lam, K)
            if nf <= f - 1e-4 * t * (g @ step) or t < 1e-12:
                break
            # near the minimum the decrease is below the objective's rounding and Armijo's test
            # cannot see it (it stalled at ~sqrt(u)): take the step if it shrinks the gradient
            # (the objective's rounding is that of its terms, log-sum-exp and t.z ~ the logits |a| + |b| each, not of
            # f itself: they cancel to f)
            if abs(nf - f) <= 16 * np.finfo(float).eps * fscale and np.abs(ng).sum() < np.abs(g).sum():
                break
            t /= 2
        # relative to the feature's size (an absolute floor of 1 stopped early for small features)
        size = max(abs(na), abs(nb))
        done = abs(na - a) + abs(nb - b) <= 4 * np.finfo(float).eps * size
        # at the rounding floor: the objective is flat to rounding and Newton no longer halves the gradient (its
        # steps then only move about in the gradient's rounding noise); keep the smaller gradient
        if abs(nf - f) <= 16 * np.finfo(float).eps * fscale and np.abs(ng).sum() > 0.5 * np.abs(g).sum():
            if np.abs(ng).sum() >= np.abs(g).sum():
                break
            done = True
        a, b, f, g, Hm = na, nb, nf, ng, nH
        if done:
            break
    else:  # never within the suite's grid (decays 1e-12..1e20 stop within 39 steps); decays near 1e-16 and below
        raise ValueError(f"feature_decay={lam!r} is too small: the mixup Hessian (smallest eigenvalue ~ the decay) is "
                         f"singular to double precision and Newton does not converge; supported: decays from about "
                         f"1e-12 up")
    return a, b


def mixup_same_class_scale(num_classes, feature_decay) -> float:
    """``a`` of the same-class optimum ``h = a w_c``: root of :data:`MIXUP_SAME_CLASS_EQUATION`."""
    K = _int("num_classes", num_classes, 2)
    lam = _real("feature_decay", feature_decay, low=0.0, low_open=True)
    hi = 1.0
    try:
        while _same_eq(hi, lam, K) < 0:
            hi *= 2.0
    except OverflowError:  # the bracket doubles past exp's range before the root: decays below ~1e-169
        raise ValueError(f"feature_decay={lam!r} is too small: the same-class scale's equation overflows double "
                         f"precision on the way to its root; supported: decays from about 1e-12 up") from None
    return brentq(lambda a: _same_eq(a, lam, K), 0.0, hi, xtol=1e-300)


def mixup_optimal_feature(num_classes, feature_decay, mix, same_class=False):
    """Coefficients ``(a, b)`` of the optimal feature ``a w_c + b w_c'`` of a mixup sample (CE).

    ``mix`` in [0, 1] is the weight on class ``c``.  ``same_class=True``: both
    endpoints are class ``c``, the target is ``e_c`` whatever ``mix``, ``b = 0``.
    For ``num_classes = 2`` only ``a - b`` is determined; the minimum-norm pair is returned.

    Accuracy (tests/test_extremes.py, 100 classes, decays 1e-12..1e3): Newton runs to
    rounding, so the error is the minimiser's sensitivity to the gradient's rounding,
    ``~ u |H^{-1}| |gradient terms|``: a few ulps at moderate decays, ``~1e-8`` relative at
    ``1e-12`` where the Hessian's smallest eigenvalue is of the decay's order.
    """
    K = _int("num_classes", num_classes, 2)
    lam = _real("feature_decay", feature_decay, low=0.0, low_open=True)
    m = _real("mix", mix, low=0.0, high=1.0)
    if _checks.flag("same_class", same_class):
        return mixup_same_class_scale(K, lam), 0.0
    if K == 2:
        # w_c' = -w_c: h = gamma w_c with gamma = a - b; 1-D problem in gamma
        def grad(gm):  # d/d gamma of the objective at (a, b) = (gamma/2, -gamma/2)
            _, g, _ = mixup_objective_gradient_hessian(gm / 2, -gm / 2, m, lam, 2)
            return float(g[0] - g[1]) / 2

        lo, hi = -1.0, 1.0
        while grad(lo) > 0:
            lo *= 2
        while grad(hi) < 0:
            hi *= 2
        gm = brentq(grad, lo, hi, xtol=1e-300)
        return gm / 2, -gm / 2
    a_same = mixup_same_class_scale(K, lam)
    try:
        return _newton_mixup(m, lam, K, m * a_same, (1 - m) * a_same)
    except np.linalg.LinAlgError:  # the Hessian singular to working precision (decays below ~1e-18)
        raise ValueError(f"feature_decay={lam!r} is too small: the mixup Hessian (smallest eigenvalue ~ the decay) is "
                         f"singular to double precision; supported: decays from about 1e-12 up") from None


def mixup_mse_feature(num_classes, feature_decay, mix):
    """MSE-mixup optimum ``(W^T W + lambda I)^{-1} W^T t`` in the ``(a, b)`` basis: the convex combination.

    Accurate to a few ulps for any ``feature_decay`` (tests/test_extremes.py: 100 classes,
    decays 1e-12..1e3): the component of ``t`` along the ETF Gram's null vector, which
    ``(a, b)`` do not depend on, is removed before the solve.  For ``num_classes = 2`` only
    ``a - b`` is determined; the minimum-norm pair ``a = -b`` is returned (as by :func:`mixup_optimal_feature`).
    """
    K = _int("num_classes", num_classes, 2)
    lam = _real("feature_decay", feature_decay, low=0.0, low_open=True)
    m = _real("mix", mix, low=0.0, high=1.0)
    G = simplex_etf_gram(K)
    # h = W^T u with (G + lam I) u = t; on the span, h = sum_j u_j w_j = a w_c + b w_c' (+ others)
    t = np.zeros(K)
    t[0] += m
    t[1] += 1 - m
    # G 1 = 0: t's component along 1 adds (1^T t/(K lam)) 1 to u, which cancels in a and b;
    # solving with it left 1/lam-sized entries to cancel (1e-5 relative at lam = 1e-12, K = 2 included)
    t -= t.mean()
    u = np.linalg.solve(G + lam * np.eye(K), t)
    # express sum_j u_j w_j with sum_j w_j = 0: others' common coefficient u_o moves onto -(w_c + w_c');
    # K = 2 (w_c' = -w_c): any common shift is free, the mean gives the minimum-norm pair a = -b
    uo = u[2] if K > 2 else (u[0] + u[1]) / 2
    return float(u[0] - uo), float(u[1] - uo)


def mixup_logit_margin(num_classes, a, b) -> float:
    """``z_c - z_c'`` of the feature ``a w_c + b w_c'``: ``(a - b) K/(K-1)``."""
    K = _int("num_classes", num_classes, 2)
    a, b = _real("a", a), _real("b", b)
    return float((a - b) * K / (K - 1.0))


# --------------------------------------------------------------------------- NC metrics

def class_means(features, labels, num_classes=None):
    """Class means (d x K) and global mean (d,) of features (d x N) with integer labels (N,)."""
    H = _checks.array("features", features, ndim=2)
    y = _labels(labels, H.shape[1])
    K = max(int(y.max()) + 1, 2) if num_classes is None else _int("num_classes", num_classes, 2)
    _checks.memory("num_classes", 8.0 * H.shape[0] * K, f"num_classes={K} (d x K class means)")
    if y.max() >= K:
        raise ValueError(f"labels must lie in [0, num_classes - 1] = [0, {K - 1}], got a label {int(y.max())}")
    means = np.stack([H[:, y == k].mean(axis=1) if np.any(y == k) else np.zeros(H.shape[0]) for k in range(K)], 1)
    return means, H.mean(axis=1)


def _labels(labels, n):
    """``n`` integer class labels >= 0, as an int64 array."""
    if labels is None or isinstance(labels, (str, bytes, dict)):
        raise TypeError(f"labels must be a 1-D array of integer class labels, got {_checks._short(labels)}")
    try:
        y = np.asarray(labels)
    except ValueError:
        raise ValueError(f"labels must be a 1-D array of integer class labels, got {_checks._short(labels)}") from None
    if y.ndim != 1 or y.size != n:
        raise ValueError(f"labels must be a 1-D array with one label per column of features ({n}), got shape {y.shape}")
    if y.dtype.kind not in "iu" and not (y.dtype == object and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in y.tolist())):
        raise ValueError(f"labels must be integer class labels, got dtype {y.dtype}")
    try:
        y = y.astype(np.int64)
    except OverflowError:
        raise ValueError("labels must be class labels in [0, num_classes - 1], got a label beyond 2**63") from None
    if y.min() < 0:
        raise ValueError(f"labels must be >= 0, got {int(y.min())}")
    return y


def within_class_covariance(features, labels, num_classes=None):
    """``Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T``."""
    means, _ = class_means(features, labels, num_classes)
    H = np.asarray(features, dtype=float)
    R = H - means[:, np.asarray(labels, dtype=np.int64)]
    return R @ R.T / H.shape[1]


def nc1(within_cov, means, global_mean=None) -> float:
    """``tr(Sigma_W Sigma_B^+) / K`` with ``Sigma_B`` the class means' covariance about the global mean."""
    Sw = _checks.array("within_cov", within_cov, ndim=2, square=True)
    Mu = _checks.array("means", means, ndim=2)
    if Mu.shape[0] != Sw.shape[0]:
        raise ValueError(f"within_cov must be d x d and means d x K with one d, got {Sw.shape} and {Mu.shape}")
    K = Mu.shape[1]
    if K < 2:
        raise ValueError("means must have at least 2 classes")
    g = Mu.mean(axis=1) if global_mean is None else \
        _checks.array("global_mean", global_mean, ndim=1, shape=(Mu.shape[0],))
    C = Mu - g[:, None]
    Sb = C @ C.T / K
    return float(np.trace(Sw @ np.linalg.pinv(Sb, rcond=1e-12, hermitian=True)) / K)


def nc2(gram, target) -> float:
    """``|| G/||G||_F - T/||T||_F ||_F`` (0 when the Gram matrix has the target frame's shape)."""
    G = _checks.array("gram", gram, ndim=2, square=True)
    T = _checks.array("target", target, ndim=2, square=True)
    if G.shape != T.shape:
        raise ValueError(f"gram and target must be square matrices of one shape, got {G.shape} and {T.shape}")
    ng, nt = np.linalg.norm(G), np.linalg.norm(T)
    if ng == 0 or nt == 0:
        raise ValueError("nc2 is undefined for a zero Gram matrix or target")
    return float(np.linalg.norm(G / ng - T / nt))


def frame_target(kind, num_classes, lengths=None) -> np.ndarray:
    """Target Gram: ``"etf"`` (I - 11^T/K), ``"orthogonal"`` (I) or ``"general"`` (diag(lengths))."""
    _checks.choice("kind", kind, ("etf", "orthogonal", "general"))
    K = _int("num_classes", num_classes, 2)
    _checks.memory("num_classes", 2 * 8.0 * K * K, f"num_classes={K} (a K x K matrix)")
    if kind == "etf":
        return np.eye(K) - np.ones((K, K)) / K
    if kind == "orthogonal":
        return np.eye(K)
    # kind == "general" (_checks.choice above admits only the three)
    L = _checks.array("lengths", lengths, ndim=1, shape=(K,), nonneg=True)
    return np.diag(L)


def nc3(product, means, scaling=None) -> float:
    """``|| W/||W|| - (M D)^T/||M D|| ||_F`` for the product classifier W (K x d), means M (d x K)."""
    W = _checks.array("product", product, ndim=2)
    Mu = _checks.array("means", means, ndim=2)
    if W.shape != Mu.T.shape:
        raise ValueError(f"product must be K x d and means d x K, got {W.shape} and {Mu.shape}")
    D = np.ones(W.shape[0]) if scaling is None else _checks.array("scaling", scaling, ndim=1, shape=(W.shape[0],))
    T = (Mu * D).T
    nw, nt = np.linalg.norm(W), np.linalg.norm(T)
    if nw == 0 or nt == 0:
        raise ValueError("nc3 is undefined for a zero classifier or zero means")
    return float(np.linalg.norm(W / nw - T / nt))
