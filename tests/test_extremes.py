"""Numerical robustness of theory/ at extreme parameters, against independent mpmath references.

Every closed form and solver is compared, at extreme parameters, with a reference
re-derived in mpmath at 50 digits from the paper's equations (a recursion iterated,
a root found by ``mp.findroot``, an integral by ``mp.quad``, a linear system by
``mp.lu_solve``) -- never by calling the float code.  The accuracy each comparison
demands is derived, not typed: :func:`bound` is ``paper_checks.stats.fp_tolerance``
(``repetitions x dimension x condition x u x scale``) with the condition number of the
problem (computed here: an analytic condition number of the formula, stated in each
test, or ``condition_number`` of the matrix), plus, for a root or a minimiser located
by a solver, the solver's documented tolerance propagated to the quantity.  Each test
also shows that the comparison has power: the float result moved by ``10`` bounds is
rejected (:func:`assert_accurate`), and where a naive rival form exists it is rejected.

Regimes that cannot be computed in double precision raise ``ValueError`` naming the
parameter.  ``sd``, ``nc``, ``rf`` and ``mt`` are ``theory.self_distillation``,
``theory.neural_collapse``, ``theory.random_features`` and ``theory.martingale_td``.
The table gives the worst relative error observed against mpmath and the bound the
test derives at that point (in brackets the largest share of a bound used anywhere);
docs/robustness.md has the same table and the defects that were fixed.

============================  ============================================  ========  ==============  =====
function                      extreme regime tested                         worst     bound (share)   raise
============================  ============================================  ========  ==============  =====
sd.student_multipliers        d 1..1e-12, ridge 1e-12..1, alpha -0.5..1.7,  1.6e-13   8.2e-13 (0.22)  (a)
                              steps 0..1e4, the pole alpha d + ridge = 0
sd.limit_multipliers          d 1..1e-12, ridge 1e-12..1, alpha 1e-6..1.9   2.6e-16   3.3e-16 (0.79)  (b)
sd.amplified_ridge            ridge 1e-12..1, alpha 1e-6..1.9               1.0e-16   1.1e-16 (0.92)  --
sd.smoother                   8x8 Gram, spectrum 1..1e-12, ridge 1e-12,     1.7e-05   1.3e-03 (0.11)  --
                              1e-6, steps 0..5, train and test points
sd.limit_fit                  the same Gram, ridge/alpha, alpha 0.3, 1.5    1.2e-05   3.1e-03 (0.02)  (b)
sd.constraint_ridge           spectrum 1..1e-12, root c 1e-12..1            4.6e-15   3.3e-13 (0.07)  --
nc.collapse_threshold         depth 2..8                                    1.6e-16   9.4e-16 (0.22)  --
nc.root_threshold             depth 2..8                                    1.6e-16   2.2e-15 (0.07)  --
nc.largest_root               depth 1, 2, 3, 8; ratio 1e-12..psi(1-1e-6);   8.5e-14   3.8e-13 (0.40)  --
                              depth 1 up to 1 - 1e-12
nc.regularization_constant    depth 8, 100 classes, weight decay 1e-300     1.2e-16   6.7e-16 (0.18)  --
nc.zero_solution_regular.     depth 8, 100 classes                          4.3e-16   2.7e-15 (0.16)  --
nc.deep_linear_ufm_minimum    depth 8, 100 classes (sizes 1..100, 50        x 1.8e-16 2.2e-15 (0.08)  --
                              collapse; balanced + bias), decays 1e-40..    obj 2e-16 1.3e-13 (0.00)
nc.ce_scale                   depth 1, 2, 8; 100 classes; decays 1e-300     1.7e-16   9.0e-14 (0.00)  --
nc.ce_objective (CE minimum)  depth 1, 2, 8; 100 classes; decays 1e-12      4.8e-16   8.9e-14 (0.01)  --
nc.simplex_etf_gram           100 classes                                   8.5e-17   3.3e-16 (0.26)  --
nc.mixup_optimal_feature      100 classes, decay 1e-12..1e3, mix 0..1       1.2e-08   4.0e-04 (0.01)  --
nc.mixup_mse_feature          100 classes, decay 1e-12..1e3                 2.6e-15   2.2e-14 (0.12)  --
rf.test_risk                  spectrum 1..1e-12 (25 modes; power law),      2.9e-15   7.1e-14 (0.04)  --
                              ridge 1e-12..1, n < N, n > N, n = N, KRR
rf.train_risk                 the same                                      2.9e-15   6.0e-13 (0.02)  --
rf.effective_regularization   the same: kappa / gamma                       3.0e-15   3.4e-13 (0.03)  --
rf.optimal_ridge              spectrum 1..1e-12, n < N, n > N, KRR: risk    1.6e-16   7.1e-14 (0.00)  --
                              ridge (located by a minimiser)                7.5e-08   2.6e-06 (0.03)
rf.power_law                  alpha 6 x 100 modes, alpha 2 x 1e6 modes      1.0e-16   2.2e-16 (0.46)  --
mt.solve, K steps             dt 1e-4 (T 1, K 1e4); T 1e3 (K 1e4)           5.0e-13   1.6e-10 (0.01)  (c)
mt.solve, continuous          T 1 and 1e3, discounts 1 and 0.01             2.2e-16   8.3e-15 (0.06)  (d)
mt.solve, infinite horizon    dt 1e-2..1e-4, discount 1                     1.8e-14   9.7e-12 (0.00)  (e)
============================  ============================================  ========  ==============  =====

Raises ``ValueError``: (a) when ``|r|^t`` overflows (``|1 - alpha| a > 1``, many steps);
(b) ``alpha`` outside (0, 2); (c) ``steps`` above ``MAX_STEPS = 1e6``; (c, d) ``horizon``
when the discounted moments overflow double precision; (e) a divergent geometric series.
"""

from __future__ import annotations

import inspect
import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from scipy.optimize import brentq

from paper_checks.stats import UNIT_ROUNDOFF, condition_number, fp_tolerance
from theory import martingale_td as mt
from theory import neural_collapse as nc
from theory import random_features as rf
from theory import self_distillation as sd

DPS = 50
U = UNIT_ROUNDOFF
TINY = np.finfo(float).tiny
#: scipy's brentq default relative tolerance (4 eps), which the theory code's brentq calls use
BRENTQ_RTOL = inspect.signature(brentq).parameters["rtol"].default


@pytest.fixture(autouse=True)
def _precision():
    with mp.workdps(DPS):
        yield


# --------------------------------------------------------------------------- the accuracy rule


def bound(reference, *, condition=1.0, dimension=1, repetitions=1, solver=0.0):
    """Allowed absolute error of a float result whose exact value is ``reference``.

    ``fp_tolerance(|reference|, condition, dimension, repetitions)`` (the a-priori forward
    error of a computation with that condition number), plus ``solver`` (an absolute
    error the solver's own stopping rule permits).  Values below the smallest normal
    double are judged on the absolute scale of ``tiny`` (gradual underflow).
    """
    return float(fp_tolerance(float(abs(reference)), condition=max(1.0, float(condition)),
                              dimension=dimension, repetitions=repetitions)) + float(solver)


RESULTS = {}  # name -> (worst relative error, the bound there, largest share of a bound used)


def assert_accurate(name, observed, reference, bounds, *, normwise=False):
    """``|observed - reference| <= bounds`` componentwise (or in the inf-norm), with power.

    Records under ``name`` the worst relative error, the bound at that component and the
    largest share of a bound used, and checks that the same comparison rejects the
    observation moved by ten bounds.
    """
    obs = [mp.mpf(float(v)) for v in np.atleast_1d(np.asarray(observed, dtype=float))]
    ref = [mp.mpf(v) for v in (reference if isinstance(reference, (list, tuple, np.ndarray)) else [reference])]
    bnd = [mp.mpf(float(v)) for v in np.broadcast_to(np.asarray(bounds, dtype=float), (len(ref),))]
    assert len(obs) == len(ref)
    if normwise:  # one bound for the vector, relative to its largest entry
        bnd = [max(bnd)] * len(ref)
        scales = [max(max(abs(r) for r in ref), mp.mpf(TINY))] * len(ref)
    else:
        scales = [max(abs(r), mp.mpf(TINY)) for r in ref]
    errs = [abs(o - r) for o, r in zip(obs, ref)]
    ok = all(e <= b for e, b in zip(errs, bnd))
    rel = [float(e / sc) for e, sc in zip(errs, scales)]
    rb = [float(b / sc) for b, sc in zip(bnd, scales)]
    share = max((float(e / b) if b else (math.inf if e else 0.0)) for e, b in zip(errs, bnd))
    j = max(range(len(rel)), key=rel.__getitem__)
    moved = [o + 10 * b * (1 if o >= r else -1) for o, r, b in zip(obs, ref, bnd)]
    assert any(abs(m - r) > b for m, r, b in zip(moved, ref, bnd)), f"{name}: no power"
    old = RESULTS.get(name, (0.0, 0.0, 0.0))
    RESULTS[name] = max(old[:2], (rel[j], rb[j])) + (max(old[2], share),)
    print(f"EXTREME {name}: worst relative error {rel[j]:.2e} (bound there {rb[j]:.2e}), "
          f"largest share of a bound {share:.3f}")
    assert ok, f"{name}: error {rel[j]:.3e} (bound {rb[j]:.3e}); largest share of a bound {share:.3f} > 1"


def rejects(observed, reference, bounds):
    """True when a rival's value misses the reference by more than the bound somewhere."""
    obs = [mp.mpf(float(v)) for v in np.atleast_1d(np.asarray(observed, dtype=float))]
    ref = [mp.mpf(v) for v in (reference if isinstance(reference, (list, tuple, np.ndarray)) else [reference])]
    bnd = np.broadcast_to(np.asarray(bounds, dtype=float), (len(ref),))
    return any(abs(o - r) > b for o, r, b in zip(obs, ref, bnd))


def test_the_accuracy_rule_rejects_a_perturbed_value():
    ref = mp.mpf(1) / 3
    b = bound(ref, condition=10.0, dimension=3, repetitions=2)
    assert b == pytest.approx(60 * U / 3)
    assert not rejects(1.0 / 3.0, ref, b)
    assert rejects((1.0 / 3.0) * (1 + 10 * 60 * U), ref, b)
    assert bound(mp.mpf("1e-400")) == pytest.approx(U * TINY)  # underflow: judged on tiny's scale


# =========================================================================== self-distillation

SPECTRUM = np.logspace(0, -12, 13)  # eigenvalue spread 1e12


def _affine_power(a, alpha, steps):
    """Compose ``b -> a (alpha + (1 - alpha) b)`` ``steps`` times by repeated squaring: ``(slope, offset)``."""
    slope, offset = mp.mpf(1), mp.mpf(0)
    s, o = a * (1 - alpha), a * alpha
    k = steps
    while k:
        if k & 1:
            slope, offset = s * slope, s * offset + o
        s, o = s * s, s * o + o
        k >>= 1
    return slope, offset


def _student_reference(d, ridge, alpha, step):
    """Borup & Andersen's recursion ``b_0 = a``, ``b_{t+1} = a (alpha + (1 - alpha) b_t)``, in mpmath."""
    a = mp.mpf(d) / (mp.mpf(d) + mp.mpf(ridge))
    slope, offset = _affine_power(a, mp.mpf(alpha), step)
    return slope * a + offset


def _student_condition(d, ridge, alpha, step):
    """Analytic condition of ``b_t(d, ridge, alpha)``: ``1 + |t log|r|| + sum_x |d log b_t / d log x|``.

    The sum runs over the inputs ``x`` in ``(d, ridge, alpha)`` (elasticities of the mpmath
    recursion, by ``mp.diff``): what relative roundings of the inputs and intermediates
    can do to ``b_t``; ``|t log|r||``, ``r = (1 - alpha) a``, is the condition of ``exp`` at
    the exponent that gives ``|r|^t``; the 1 is the rounding of the result.
    """
    d, lam, al = mp.mpf(d), mp.mpf(ridge), mp.mpf(alpha)

    def elasticity(f):
        return abs(mp.diff(lambda e: mp.log(abs(f(mp.exp(e)))), 0))

    total = 1 + elasticity(lambda s: _student_reference(d * s, lam, al, step))
    total += elasticity(lambda s: _student_reference(d, lam * s, al, step))
    if al != 0:
        total += elasticity(lambda s: _student_reference(d, lam, al * s, step))
    r = abs((1 - al) * d / (d + lam))
    if r > 0 and step:
        total += abs(step * mp.log(r))
    return total


@pytest.mark.parametrize("ridge", [1e-12, 1e-6, 1.0])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0 - 1e-9, 1.0, 1.7, -0.5])
def test_student_multipliers_deep_steps(ridge, alpha):
    """Steps 0..1e4 over a spectrum spread 1e12: the closed form against the recursion iterated in mpmath.

    Bound: ``fp_tolerance`` with the analytic condition (:func:`_student_condition`) and
    10 roundings (the longest chain of operations of the evaluation).  The rival is the
    sympy closed form ``L + r^t C`` evaluated as it stands: it is NaN at the pole
    ``alpha d + ridge = 0``, where the multiplier is finite (next test).
    """
    rate = abs(1 - alpha) * SPECTRUM[0] / (SPECTRUM[0] + ridge)
    for step in (0, 1, 10, 1000, 10000):
        if rate > 0 and step * math.log(rate) > math.log(np.finfo(float).max):  # rate^step is not a double
            with pytest.raises(ValueError, match="overflows"):
                sd.student_multipliers(SPECTRUM, ridge, alpha, step)
            continue
        got = sd.student_multipliers(SPECTRUM, ridge, alpha, step)
        refs = [_student_reference(d, ridge, alpha, step) for d in SPECTRUM]
        bounds = [bound(r, condition=_student_condition(d, ridge, alpha, step), repetitions=10)
                  for d, r in zip(SPECTRUM, refs)]
        assert_accurate("sd.student_multipliers", got, refs, bounds)


def test_student_multipliers_at_the_pole_of_the_split_form():
    """``alpha < 0``: at ``alpha d + ridge = 0`` (and near it) the split closed form ``L + r^t C`` is NaN
    (loses ``1/|alpha d + ridge|``); the geometric form evaluated instead is accurate.  At the pole
    ``r = 1`` and ``b_t = a (1 + alpha t)``, zero at ``t = 4``: the steps avoid it."""
    ridge, alpha = 1e-12, -0.25
    d = np.array([4e-12, 4e-12 * (1 + 2.0**-30), 4e-12 * (1 - 2.0**-20), 1.0])  # the pole: d = 4 ridge
    # the rival: the lambdified sympy closed form L + r^t C, as the module once evaluated it
    rival = sp.lambdify((sd.d_sym, sd.ridge_sym, sd.alpha_sym, sd.step_sym), sd.STUDENT_MULTIPLIER, "numpy")
    for step in (1, 2, 5, 50):
        got = sd.student_multipliers(d, ridge, alpha, step)
        refs = [_student_reference(di, ridge, alpha, step) for di in d]
        bounds = [bound(r, condition=_student_condition(di, ridge, alpha, step), repetitions=10)
                  for di, r in zip(d, refs)]
        assert_accurate("sd.student_multipliers", got, refs, bounds)
        with np.errstate(all="ignore"):
            naive = np.asarray(rival(d, ridge, alpha, float(step)), dtype=float)
        assert not np.all(np.isfinite(naive)) or rejects(naive, refs, bounds)


def test_limit_multipliers_and_amplified_ridge():
    """The fixed point of the recursion, solved in mpmath by ``findroot``, at ridge down to 1e-12.

    ``alpha d/(alpha d + ridge)`` has no cancellation for ``alpha > 0``: condition 1, 3 roundings.
    """
    for ridge in (1e-12, 1e-6, 1.0):
        for alpha in (1e-6, 0.3, 1.0, 1.9):
            got = sd.limit_multipliers(SPECTRUM, ridge, alpha)
            refs = []
            for d in SPECTRUM:
                a = mp.mpf(d) / (mp.mpf(d) + mp.mpf(ridge))
                refs.append(mp.findroot(lambda b: a * (alpha + (1 - mp.mpf(alpha)) * b) - b, mp.mpf(1) / 2))
            assert_accurate("sd.limit_multipliers", got, refs, [bound(r, repetitions=3) for r in refs])
            # amplified ridge: the ridge whose KRR multiplier equals the limit's, from the largest eigenvalue
            a_inf = refs[0]
            rho = mp.mpf(SPECTRUM[0]) * (1 - a_inf) / a_inf
            assert_accurate("sd.amplified_ridge", sd.amplified_ridge(ridge, alpha), rho, bound(rho))


def _gram(n, spread):
    """A Gram matrix with eigenvalues from 1 down to ``1/spread`` and a fixed orthogonal eigenbasis."""
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))
    K = (Q * np.logspace(0, -math.log10(spread), n)) @ Q.T
    return (K + K.T) / 2


def _mp_smoother(K, ridge, alpha, step, C=None):
    """``S_t`` from its definition: ``P = K (K + ridge I)^{-1}`` (LU in mpmath),
    ``S_{t+1} = P (alpha I + (1 - alpha) S_t)``.

    At test points ``f_t = C (K + ridge I)^{-1} (targets of step t)``.
    """
    n = K.shape[0]
    Km = mp.matrix(K.tolist())
    A = Km + mp.mpf(ridge) * mp.eye(n)
    Ainv = mp.inverse(A)  # via LU
    P = Km * Ainv
    S, targets = P, mp.eye(n)
    for _ in range(step):
        targets = mp.mpf(alpha) * mp.eye(n) + (1 - mp.mpf(alpha)) * S
        S = P * targets
    if C is None:
        return S
    return mp.matrix(C.tolist()) * Ainv * targets


@pytest.mark.parametrize("ridge", [1e-12, 1e-6])
def test_smoother_at_spread_1e12(ridge):
    """``S = V diag(b_t) V^T`` (eigh) against ``K (K + ridge I)^{-1}`` iterated in mpmath, on the same float Gram.

    The smoother's sensitivity to the Gram matrix is ``dS = ridge (K + ridge)^{-1} dK (K + ridge)^{-1}``:
    a backward-stable eigendecomposition (``|dK| ~ n u |K|``) gives ``n cond(K + ridge I) u``
    per step, so the bound is ``fp_tolerance(max |S|, condition_number(K, ridge), n, t + 1)``.
    """
    K = _gram(8, 1e12)
    cond = condition_number(K, shift=ridge)
    C = K[:3] * 0.5 + K[3:6] * 0.5  # 3 test points: kernel rows of points between training inputs
    for alpha, step in ((0.3, 0), (0.3, 1), (0.3, 5), (0.0, 5), (1.0, 2)):
        for cross in (None, C):
            got = sd.smoother(K, ridge, alpha, step, cross)
            ref = _mp_smoother(K, ridge, alpha, step, cross)
            flat = [ref[i, j] for i in range(ref.rows) for j in range(ref.cols)]
            scale = max(abs(v) for v in flat)
            b = bound(scale, condition=cond, dimension=8, repetitions=step + 1)
            assert_accurate("sd.smoother", got.ravel(), flat, b, normwise=True)
    # infinitely many steps: KRR with the amplified ridge ridge/alpha, solved in mpmath
    y = np.linspace(-1.0, 1.0, 8)
    for alpha in (0.3, 1.5):
        rho = ridge / alpha
        Km = mp.matrix(K.tolist())
        coef = mp.lu_solve(Km + mp.mpf(ridge) / mp.mpf(alpha) * mp.eye(8), mp.matrix(y.tolist()))
        for cross in (None, C):
            ref = (Km if cross is None else mp.matrix(cross.tolist())) * coef
            flat = [ref[i] for i in range(ref.rows)]
            b = bound(max(abs(v) for v in flat) + max(abs(v) for v in y), condition=condition_number(K, shift=rho),
                      dimension=8, repetitions=2)
            assert_accurate("sd.limit_fit", sd.limit_fit(K, y, ridge, alpha, cross), flat, b, normwise=True)


def test_constraint_ridge_tiny_ridges():
    """Mobahi's constraint ridge, root of ``sum (c/(c + d))^2 z^2 = n eps``, against ``mp.findroot``.

    Bound: brentq's stopping rule on ``log c`` (``rtol |log c|``, relative in ``c``) plus the
    rounding of the constraint, ``fp_tolerance`` with condition ``(sum r^2 + n eps) / |f'(log c)|``.
    """
    d = SPECTRUM
    z = np.ones_like(d)
    n = d.size
    for target in (1e-12, 1e-9, 1e-6, 1.0):
        c0 = mp.mpf(target)
        eps = float(sum((c0 / (c0 + mp.mpf(di))) ** 2 for di in d) / n)  # an epsilon whose root is near target
        budget = n * mp.mpf(eps)

        def excess(logc):
            c = mp.exp(logc)
            return mp.fsum((c / (c + mp.mpf(di))) ** 2 for di in d) - budget

        root = mp.exp(mp.findroot(excess, mp.log(c0)))
        got = sd.constraint_ridge(d, z, n, eps)
        logc = mp.log(root)
        rs = [(root / (root + mp.mpf(di))) ** 2 for di in d]
        slope = mp.fsum(2 * r * mp.mpf(di) / (root + mp.mpf(di)) for r, di in zip(rs, d))
        cond = (mp.fsum(rs) + budget) / slope
        b = bound(root, condition=cond, dimension=n, repetitions=4, solver=BRENTQ_RTOL * abs(logc) * root)
        assert_accurate("sd.constraint_ridge", got, root, b)


def test_self_distillation_out_of_range_raises():
    with pytest.raises(ValueError, match="overflows"):
        sd.student_multipliers(SPECTRUM, 1e-12, -1.0, 10000)
    with pytest.raises(ValueError, match="do not converge"):
        sd.limit_multipliers(SPECTRUM, 1e-12, 2.5)


# =========================================================================== neural collapse (Dang et al. 2023)

DEPTHS = (1, 2, 3, 8)


def _mp_sup(fun, stationary, x0):
    """``sup_x fun(x)`` over ``x > 0`` at the root of ``stationary`` (the numerator of ``fun'``) nearest ``x0``."""
    return fun(mp.findroot(stationary, mp.mpf(x0)))


def _mp_phi(M):
    """``phi_M = sup x^(M-1)/(x^M + 1)``: ``d/dx`` vanishes where ``(M-1)(x^M + 1) = M x^M``."""
    return _mp_sup(lambda x: x ** (M - 1) / (x**M + 1), lambda x: (M - 1) * (x**M + 1) - M * x**M, 1)


def _mp_psi(M):
    """``psi_M = sup M x^(M-1)/(x^M + 1)^2``: ``d/dx`` vanishes where ``(M-1)(x^M + 1) = 2M x^M``."""
    return _mp_sup(lambda x: M * x ** (M - 1) / (x**M + 1) ** 2, lambda x: (M - 1) * (x**M + 1) - 2 * M * x**M, 0.9)


@pytest.mark.parametrize("depth", range(2, 9))
def test_thresholds_up_to_depth_8(depth):
    """``phi_M = sup x^(M-1)/(x^M + 1)`` and ``psi_M = sup M x^(M-1)/(x^M + 1)^2``, maximised in mpmath.

    The float code evaluates products of powers ``c^e`` of exact constants: each power's
    relative condition is ``1 + |e ln c|``; the sum over the powers is the stated condition.
    """
    M = mp.mpf(depth)
    phi, psi = _mp_phi(M), _mp_psi(M)
    c_phi = 1 + abs((M - 1) / M * mp.log(M - 1))
    c_psi = 1 + abs((M - 1) / M * mp.log(M - 1)) + abs((M + 1) / M * mp.log(M + 1))
    assert_accurate("nc.collapse_threshold", nc.collapse_threshold(depth), phi,
                    bound(phi, condition=c_phi, repetitions=4))
    assert_accurate("nc.root_threshold", nc.root_threshold(depth), psi, bound(psi, condition=c_psi, repetitions=6))


def _mp_largest_root(ratio, depth):
    """Largest root of ``M x^(M-1) = ratio (x^M + 1)^2`` in mpmath: bracket beyond the peak, then findroot."""
    M, r = mp.mpf(depth), mp.mpf(ratio)
    f = lambda x: mp.log(M * x ** (M - 1) / (x**M + 1) ** 2 / r)  # noqa: E731  (scale-free: ratios down to 1e-12)
    lo = ((M - 1) / (M + 1)) ** (1 / M) if depth > 1 else mp.mpf(0)
    hi = max(2 * lo, mp.mpf(1))
    while f(hi) > 0:
        hi *= 2
    for _ in range(60):  # bisection to a narrow bracket, then the secant-bracketing solver
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return mp.findroot(f, (lo, hi), solver="anderson")


def _root_condition(x, depth):
    """Relative condition of the largest root: ``1 / |d log(rhs)/d log x|`` with rhs = ``M x^(M-1)/(x^M + 1)^2``."""
    M = mp.mpf(depth)
    return 1 / abs((M - 1) - 2 * M * x**M / (x**M + 1))


@pytest.mark.parametrize("depth", DEPTHS)
def test_largest_root_down_to_ratio_1e12(depth):
    """The largest root against mpmath, ratios from 1e-12 to just below ``psi_M``.

    Depth >= 2 (brentq): ``rtol x`` plus the equation's rounding (``M + 4`` operations)
    over its slope, ``fp_tolerance(x, 1/|d log rhs/d log x|, M + 4)``.  Depth 1 is a
    closed form: 5 roundings, condition 1; its rival, ``1/sqrt(r) - 1`` (the previous
    form), is rejected near ``r = 1``.
    """
    psi = nc.root_threshold(depth)
    ratios = [1e-12, 1e-6, 1e-3, 0.1 * psi, 0.5 * psi, 0.99 * psi, psi * (1 - 1e-6)]
    if depth == 1:
        ratios += [1 - 1e-6, 1 - 1e-12]
    for r in ratios:
        x = _mp_largest_root(r, depth)
        got = nc.largest_root(r, depth)
        if depth == 1:
            b = bound(x, repetitions=5)
            assert_accurate("nc.largest_root", got, x, b)
            if r > 0.5:
                assert rejects(math.sqrt(1.0 / r) - 1.0, x, b)
        else:
            b = bound(x, condition=_root_condition(x, depth), repetitions=depth + 4, solver=BRENTQ_RTOL * x)
            assert_accurate("nc.largest_root", got, x, b)


@pytest.mark.parametrize("weight_decay", [1e-3, 1e-12, 1e-40, 1e-100, 1e-300])
def test_regularization_constant_at_depth_8(weight_decay):
    """``beta = M N (N lambda_H lambda_W^M)^(1/M)`` in mpmath at depth 8 (about 6 roundings, condition 1).

    Rival: the formula as written in floats, whose ``lambda_W^8`` underflows below 1e-39.
    """
    sizes, M, lh = list(range(1, 101)), 8, 1e-3
    N = sum(sizes)
    ref = M * N * (N * mp.mpf(lh) * mp.mpf(weight_decay) ** M) ** (mp.mpf(1) / M)
    b = bound(ref, repetitions=6)
    assert_accurate("nc.regularization_constant", nc.regularization_constant(sizes, M, weight_decay, lh), ref, b)
    naive = M * N * (N * lh * weight_decay**M) ** (1.0 / M)
    assert rejects(naive, ref, b) == (weight_decay**M < TINY)
    lam = nc.zero_solution_regularization(sizes, M)  # at this common decay every class just collapses
    ref_lam = (mp.mpf(max(sizes)) * _mp_phi(mp.mpf(M)) / (M * N)) ** (
        mp.mpf(M) / (M + 1)) / mp.mpf(N) ** (mp.mpf(1) / (M + 1))
    assert_accurate("nc.zero_solution_regularization", lam, ref_lam, bound(ref_lam, condition=3, repetitions=8))


def _mp_ufm(sizes, depth, lw, lh):
    """The deep linear UFM minimum from the per-class problem ``g_k(x) = n_k/(x^M + 1) + beta x``, in mpmath.

    Collapse iff ``g_k(x) >= g_k(0)`` at the largest root (or no root): compared directly.
    """
    M = mp.mpf(depth)
    N = mp.mpf(sum(sizes))
    beta = M * N * (N * mp.mpf(lh) * mp.mpf(lw) ** M) ** (1 / M)
    xs, objective = [], mp.mpf(0)
    psi = _mp_psi(M) if depth > 1 else mp.mpf(1)
    for n in sizes:
        g = lambda x, n=n: n / (x**M + 1) + beta * x  # noqa: E731
        x = _mp_largest_root(beta / n, depth) if beta / n < psi else None
        x = x if (x is not None and g(x) < g(0)) else mp.mpf(0)
        xs.append(x)
        objective += g(x)
    return beta, xs, objective / (2 * N)


def test_ufm_minimum_depth_8_with_100_classes():
    """Imbalanced sizes 1..100 at depth 8: which classes collapse, ``x_k``, the classifier lengths, the objective.

    Bounds: ``x_k`` as the largest root (brentq ``rtol`` + equation rounding); the lengths
    ``N lambda_H x^M`` inherit ``M`` times ``x``'s relative error; the objective is a sum of
    ``K`` positive terms stationary in ``x_k``, so its bound is ``fp_tolerance(obj, 1, K, M + 4)``.
    """
    sizes, M = list(range(1, 101)), 8
    N = sum(sizes)
    beta = 50.5 * nc.collapse_threshold(M)  # classes of size <= 50 collapse, none at the boundary
    for lw in (1e-3, 1e-12, 1e-40):
        lh = (beta / (M * N * lw)) ** M / N  # up to 1e288: beta stays put while the decays go extreme
        got = nc.deep_linear_ufm_minimum(sizes, M, lw, lh)
        beta, xs, obj = _mp_ufm(sizes, M, lw, lh)
        assert got.collapsed.tolist() == [x == 0 for x in xs]
        assert got.collapsed.sum() == 50  # minority collapse
        xb = [bound(x, condition=_root_condition(x, M), repetitions=M + 4, solver=BRENTQ_RTOL * x) if x else 0.0
              for x in xs]
        assert_accurate("nc.deep_linear_ufm_minimum x", got.x, xs, xb)
        lengths = [mp.mpf(sum(sizes)) * mp.mpf(lh) * x**M for x in xs]
        lb = [M * xbk / x * L + bound(L, repetitions=M + 2) if x else 0.0 for xbk, x, L in zip(xb, xs, lengths)]
        assert_accurate("nc.deep_linear_ufm_minimum lengths", np.diag(got.classifier_gram), lengths, lb)
        assert_accurate("nc.deep_linear_ufm_minimum objective", got.objective, obj,
                        bound(obj, dimension=len(sizes), repetitions=M + 4))


def test_ufm_minimum_balanced_with_bias_depth_8_100_classes():
    """Balanced sizes with a fitted bias (simplex ETF): ``x`` and the objective ``(K-1) g(x)/(2N)`` against mpmath.

    Bounds as for the imbalanced minimum (the root's, and ``K`` positive terms stationary in ``x``).
    """
    K, M, n = 100, 8, 20
    N = K * n
    for lw, share in ((1e-12, 0.5), (1e-40, 0.99)):
        beta = share * nc.collapse_threshold(M) * n
        lh = (beta / (M * N * lw)) ** M / N
        got = nc.deep_linear_ufm_minimum([n] * K, M, lw, lh, bias=True)
        b_mp = M * N * (N * mp.mpf(lh) * mp.mpf(lw) ** M) ** (mp.mpf(1) / M)
        x = _mp_largest_root(b_mp / n, M)
        assert n / (x**M + 1) + b_mp * x < n and got.frame == "simplex ETF"  # below g(0): not collapsed
        b = bound(x, condition=_root_condition(x, M), repetitions=M + 4, solver=BRENTQ_RTOL * x)
        assert_accurate("nc.deep_linear_ufm_minimum x", got.x, [x] * K, [b] * K)
        g = lambda y: n / (y**M + 1) + b_mp * y  # noqa: E731
        obj = (K - 1) * g(x) / (2 * N)
        assert_accurate("nc.deep_linear_ufm_minimum objective", got.objective, obj,
                        bound(obj, dimension=K, repetitions=M + 4))


def test_mixup_mse_feature_100_classes():
    """The MSE-mixup optimum ``(G + lambda I)^{-1} t`` at 100 classes (Sherman-Morrison in mpmath), decays 1e-12..1e3.

    ``(a, b)`` are differences of ``u``'s entries: the component of ``t`` along ``1`` (``G``'s
    null vector, amplified by ``1/lambda``) cancels in them, and on the complement
    ``G + lambda I`` is ``(K/(K-1) + lambda) I``: condition 1, a dense solve of dimension
    ``K`` (2 roundings).  Rival: the solve with ``t`` itself, whose ``1/lambda`` component
    cancels catastrophically (the previous implementation; 1e-5 relative at ``lambda = 1e-12``).
    """
    K = 100
    G = nc.simplex_etf_gram(K)
    c = mp.mpf(K) / (K - 1)
    for lam in (1e-12, 1e-3, 1e3):
        lam_m = mp.mpf(lam)
        for mix in (0.0, 0.3):
            t = [mp.mpf(mix), 1 - mp.mpf(mix)] + [mp.mpf(0)] * (K - 2)
            # G + lam I = (c + lam) I - (c/K) 1 1^T (c = K/(K-1)); Sherman-Morrison:
            # u = t/(c + lam) + c (1^T t) / (K lam (c + lam)) 1, the second term cancelling in a and b
            common = c * mp.fsum(t) / (K * lam_m * (c + lam_m))
            u = [ti / (c + lam_m) + common for ti in t]
            ref = [u[0] - u[2], u[1] - u[2]]
            got = nc.mixup_mse_feature(K, lam, mix)
            b = bound(max(abs(r) for r in ref), dimension=K, repetitions=2)
            assert_accurate("nc.mixup_mse_feature", got, ref, b, normwise=True)
            tf = np.zeros(K)
            tf[:2] = mix, 1 - mix
            un = np.linalg.solve(G + lam * np.eye(K), tf)
            assert rejects([un[0] - un[2], un[1] - un[2]], ref, b) == (lam < 1e-6)


def _mp_ce(depth, lw, lh, N, K):
    """The balanced CE problem in the logit scale, re-derived: loss plus ``min_s`` of the regularisers.

    ``min_s A s^2 + B rho^2 s^(-2M)`` (``A = M lw (K-1)/2``, ``B = lh N K/(2(K-1))``) is
    ``A (M+1)/M (M B rho^2/A)^(1/(M+1))``.  Returns ``(F, F')`` as functions of ``rho``.
    """
    M, K, N = mp.mpf(depth), mp.mpf(K), mp.mpf(N)
    A, B = M * mp.mpf(lw) * (K - 1) / 2, mp.mpf(lh) * N * K / (2 * (K - 1))
    c = K / (K - 1)
    R1 = A * (M + 1) / M * (M * B / A) ** (1 / (M + 1))
    F = lambda rho: mp.log(1 + (K - 1) * mp.exp(-c * rho)) + R1 * rho ** (2 / (M + 1))  # noqa: E731
    dF = lambda rho: (-c * (K - 1) * mp.exp(-c * rho) / (1 + (K - 1) * mp.exp(-c * rho))  # noqa: E731
                      + 2 / (M + 1) * R1 * rho ** (2 / (M + 1) - 1))
    return F, dF, R1


def _mp_ce_scale(depth, lw, lh, N, K):
    """Global minimiser of the CE problem over ``rho >= 0``: every sign change of ``F'`` on a log grid, refined.

    ``F'`` is a difference of terms as small as 1e-300: the root is found for its scale-free
    form ``log(reg') - log(-loss')`` (bisection, then the bracketing solver).
    """
    F, dF, R1 = _mp_ce(depth, lw, lh, N, K)
    Mm, Km = mp.mpf(depth), mp.mpf(K)
    c = Km / (Km - 1)
    reg1 = 2 / (Mm + 1) * R1  # reg'(1)

    def h(rho):  # log reg'(rho) - log(-loss'(rho)), same sign as F'
        log_reg = mp.log(reg1) + (2 / (Mm + 1) - 1) * mp.log(rho)
        log_loss = mp.log(c * (Km - 1)) - c * rho - mp.log1p((Km - 1) * mp.exp(-c * rho))
        return log_reg - log_loss

    grid = [mp.mpf(10) ** (mp.mpf(e) / 8) for e in range(-12 * 8, 4 * 8)]
    cands = [mp.mpf(0)]
    for a, b in zip(grid, grid[1:]):
        if mp.sign(h(a)) != mp.sign(h(b)):
            for _ in range(40):
                mid = (a + b) / 2
                a, b = (mid, b) if mp.sign(h(mid)) == mp.sign(h(a)) else (a, mid)
            cands.append(mp.findroot(h, (a, b), solver="anderson"))
    values = [mp.log(K) if r == 0 else F(r) for r in cands]
    rho = cands[values.index(min(values))]
    return rho, F, dF


@pytest.mark.parametrize("depth", [1, 2, 8])
def test_ce_scale_100_classes(depth):
    """The CE logit scale at 100 classes, decays 1e-300..1e-3, against the re-derived problem in mpmath.

    Bound: brentq's ``rtol`` plus the rounding of ``F'`` over its slope,
    ``fp_tolerance(rho, (|loss'| + |reg'|)/(rho |F''|), K, 8)`` (depth 1 is a closed form
    with the same conditioning).
    """
    K, N = 100, 100 * 20
    for dec in (1e-3, 1e-12, 1e-100, 1e-300):
        rho, F, dF = _mp_ce_scale(depth, dec, dec, N, K)
        got = nc.ce_scale(depth, dec, dec, N, K)
        assert rho > 0
        c = mp.mpf(K) / (K - 1)
        e = (K - 1) * mp.exp(-c * rho)
        loss_d = c * e / (1 + e)
        reg_d = 2 / mp.mpf(depth + 1) * _mp_ce(depth, dec, dec, N, K)[2] * rho ** (mp.mpf(2) / (depth + 1) - 1)
        cond = (abs(loss_d) + abs(reg_d)) / (rho * abs(mp.diff(dF, rho)))
        b = bound(rho, condition=cond, dimension=K, repetitions=8, solver=BRENTQ_RTOL * rho)
        assert_accurate("nc.ce_scale", got, rho, b)
    m = nc.deep_linear_ufm_minimum([20] * K, depth, 1e-12, 1e-12, loss="ce")
    rho, F, _ = _mp_ce_scale(depth, 1e-12, 1e-12, N, K)
    b = bound(F(rho), dimension=K, repetitions=8)
    assert_accurate("nc.deep_linear_ufm_minimum CE objective", m.objective, F(rho), b)
    # rival: the symbolic objective as lambdified, log(1 + x) for a loss below 1e-8 (the previous evaluation)
    assert rejects(nc._ce_obj(float(rho), depth, 1e-12, 1e-12, N, K), F(rho), b)


def test_simplex_etf_gram_100_classes():
    """``(K/(K-1)) (I - 11^T/K)`` in mpmath: 1 on the diagonal, ``-1/(K-1)`` off it (3 roundings)."""
    K = 100
    G = nc.simplex_etf_gram(K)
    ref = [mp.mpf(1) if i == j else -1 / mp.mpf(K - 1) for i in range(K) for j in range(K)]
    assert_accurate("nc.simplex_etf_gram", G.ravel(), ref, [bound(v, repetitions=3) for v in ref])


def _mp_mixup(K, lam, mix):
    """Optimal ``(a, b)`` of a cross-class mixup sample: damped Newton in mpmath on the objective from the logits."""
    K, lam, mix = mp.mpf(K), mp.mpf(lam), mp.mpf(mix)
    o = -1 / (K - 1)

    def parts(a, b):
        z = [a + o * b, o * a + b, o * (a + b)]
        w = [1, 1, K - 2]
        zmax = max(z)
        e = [wi * mp.exp(zi - zmax) for wi, zi in zip(w, z)]
        s = mp.fsum(e)
        p = [ei / s for ei in e]
        t = [mix, 1 - mix, 0]
        f = zmax + mp.log(s) - mix * z[0] - (1 - mix) * z[1] + lam / 2 * (a * a + b * b + 2 * o * a * b)
        J = [[1, o], [o, 1], [o, o]]
        g = [mp.fsum(J[i][k] * (p[i] - t[i]) for i in range(3)) + lam * (([a, b][k]) + o * ([b, a][k]))
             for k in range(2)]
        H = mp.matrix(2, 2)
        for k in range(2):
            for j in range(2):
                H[k, j] = mp.fsum(J[i][k] * J[i][j] * p[i] for i in range(3)) \
                    - mp.fsum(J[i][k] * p[i] for i in range(3)) * mp.fsum(J[i][j] * p[i] for i in range(3)) \
                    + lam * (1 if k == j else o)
        return f, g, H, J, p, t

    a, b = mp.mpf(0), mp.mpf(0)
    for _ in range(500):
        f, g, H, *_ = parts(a, b)
        step = mp.lu_solve(H, mp.matrix(g))
        t = mp.mpf(1)
        while parts(a - t * step[0], b - t * step[1])[0] > f - t * (g[0] * step[0] + g[1] * step[1]) / 4:
            t /= 2
        a, b = a - t * step[0], b - t * step[1]
        if abs(t * step[0]) + abs(t * step[1]) < mp.mpf(10) ** (-DPS + 5) * (1 + abs(a) + abs(b)):
            break
    f, g, H, J, p, t = parts(a, b)
    # condition: |H^-1| times the sum of the gradient's absolute terms (p carries |z| relative error from exp)
    z_abs = max(abs(a), abs(b)) * 2
    g_abs = mp.fsum(abs(J[i][k]) * (p[i] * (1 + z_abs) + abs(t[i])) for i in range(3) for k in range(2)) \
        + lam * 2 * (abs(a) + abs(b))
    hinv = mp.norm(mp.inverse(H), 1)
    return a, b, hinv * g_abs / max(abs(a), abs(b))


def test_mixup_optimal_features_100_classes():
    """Fisher et al.'s mixup optimum at 100 classes, feature decay 1e-12..1e3, against Newton in mpmath.

    Bound: ``fp_tolerance(max(|a|, |b|), ||H^-1|| g_abs / max(|a|, |b|), 3, 8)`` -- the
    minimiser's sensitivity to the gradient's rounding (``g_abs`` the sum of the gradient's
    absolute terms, ``exp`` contributing ``|z|`` relative), on the three logit groups.
    """
    K = 100
    for lam in (1e-12, 1e-3, 1.0, 1e3):
        for mix in (0.0, 0.3, 0.5, 1.0):
            a, b, cond = _mp_mixup(K, lam, mix)
            got = nc.mixup_optimal_feature(K, lam, mix)
            scale = max(abs(a), abs(b))
            assert_accurate("nc.mixup_optimal_feature", got, [a, b],
                            bound(scale, condition=cond, dimension=3, repetitions=8), normwise=True)
        a, b, cond = _mp_mixup(K, lam, 1.0)  # same class: h = a w_c whatever the mix (b = 0 for mix 1)
        got = nc.mixup_optimal_feature(K, lam, 0.3, same_class=True)
        assert_accurate("nc.mixup_optimal_feature", got, [a, b],
                        bound(max(abs(a), abs(b)), condition=cond, dimension=3, repetitions=8), normwise=True)


@pytest.mark.parametrize("K", [3, 10, 100])
@pytest.mark.parametrize("lam", [1e-8, 1e-3, 1.0])
@pytest.mark.parametrize("mix", [0.01, 0.5, 0.99])
def test_mixup_optimal_features_where_the_objective_is_flat_to_rounding(K, lam, mix):
    """Regression: near the optimum the objective's change falls below its rounding, which is that of its terms
    (log-sum-exp and ``t . z``, each of the logits' size) and not of ``f`` itself; measured against ``|f|`` the
    flat-objective test refused the full Newton step, the step halved to ~6e-8 and the stop read the tiny taken step
    as convergence (``K = 10``, decay 1e-3, mix 0.99: 1.5e-8 relative, 1555 times the bound).  Bound as in
    :func:`test_mixup_optimal_features_100_classes`."""
    a, b, cond = _mp_mixup(K, lam, mix)
    got = nc.mixup_optimal_feature(K, lam, mix)
    assert_accurate("nc.mixup_optimal_feature", got, [a, b],
                    bound(max(abs(a), abs(b)), condition=cond, dimension=3, repetitions=8), normwise=True)


# =========================================================================== random features (Simon et al. 2024)

RF_EIGENVALUES = np.logspace(0, -12, 25)  # spread 1e12
RF_TARGET = np.sqrt(np.logspace(0, -6, 25))


class _MpEigenframework:
    """The eigenframework in mpmath, from the paper's equations as written.

    ``(2)`` gives ``kappa = gamma (1 - z/N)``; ``(1)`` then fixes ``gamma`` by
    ``delta = kappa (n - z)``, solved by bisection in ``log gamma`` (monotone on the domain
    ``z < min(n, N)``) to 1e-57.  ``E_te = E_0 (sum B_i v_i^2 + sigma^2)`` with the paper's
    ``x = (q (N - 2z) + z^2)/(n (N - q))`` and ``B_i = (1 - L_i) - kappa L_i/(lambda_i + gamma) N/(N - q)``.
    """

    def __init__(self, lam, v, noise, n, N):
        self.lam = [mp.mpf(x) for x in lam]
        self.v2 = [mp.mpf(x) ** 2 for x in v]
        self.noise, self.n = mp.mpf(noise), mp.mpf(n)
        self.N = None if math.isinf(N) else mp.mpf(N)

    def with_(self, **kw):
        out = object.__new__(_MpEigenframework)
        out.__dict__.update(self.__dict__, **kw)
        return out

    def parts(self, t):
        g = mp.exp(t)
        L = [x / (x + g) for x in self.lam]
        z = mp.fsum(L)
        kappa = g if self.N is None else g * (1 - z / self.N)
        return g, L, z, kappa

    def log_ridge(self, t):
        g, L, z, kappa = self.parts(t)
        if z >= self.n or kappa <= 0:
            return -mp.inf
        return mp.log(kappa * (self.n - z))

    def test(self, t):
        g, L, z, kappa = self.parts(t)
        q = mp.fsum(x * x for x in L)
        n, N = self.n, self.N
        if N is None:
            x = q / n
            B = [(1 - Li) ** 2 for Li in L]
        else:
            x = (q * (N - 2 * z) + z * z) / (n * (N - q))
            B = [(1 - Li) - kappa * Li / (lm + g) * N / (N - q) for Li, lm in zip(L, self.lam)]
        return (mp.fsum(b * v2 for b, v2 in zip(B, self.v2)) + self.noise) / (1 - x)

    def gamma(self, t):
        return mp.exp(t)

    def kappa(self, t):
        return self.parts(t)[3]

    def train(self, t):
        g, L, z, kappa = self.parts(t)
        return ((self.n - z) / self.n) ** 2 * self.test(t)

    def solve(self, ridge):
        target = mp.log(mp.mpf(ridge))
        lo, hi = mp.mpf(-700), max(target, 0) + 60  # delta(e^60) > e^60 (n - z) exceeds any ridge here
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.log_ridge(mid) < target else (lo, mid)
        return (lo + hi) / 2

    def inputs(self):
        """(name, rebuild(scale)) for every input the float code rounds: the eigenvalues, n, N."""
        out = [(f"lambda_{i}", lambda s, i=i: self.with_(lam=self.lam[:i] + [self.lam[i] * s] + self.lam[i + 1:]))
               for i in range(len(self.lam))]
        out.append(("n", lambda s: self.with_(n=self.n * s)))
        if self.N is not None:
            out.append(("N", lambda s: self.with_(N=self.N * s)))
        return out

    def condition(self, what, t, ridge=None):
        """``2 + sum_x |d log what / d log x|`` over the eigenvalues, n, N (and the ridge when given).

        With the ridge given ``gamma`` moves with the inputs (implicit function theorem on
        ``log delta(t, x) = log ridge``); at an optimum (``ridge=None``) it is stationary.
        The 2 is the result's rounding plus the targets and noise (``E`` is linear and
        positive in ``v^2`` and ``sigma^2``: their elasticities sum to 1).
        """
        f = lambda m, tt: mp.log(getattr(m, what)(tt))  # noqa: E731
        d_t = mp.diff(lambda tt: f(self, tt), t)
        D_t = mp.diff(self.log_ridge, t) if ridge is not None else None
        total = 2 + (abs(d_t / D_t) if ridge is not None else 0)  # elasticity in the ridge
        for _, rebuild in self.inputs():
            e = mp.diff(lambda s: f(rebuild(mp.exp(s)), t), 0)
            if ridge is not None:
                e -= d_t * mp.diff(lambda s: rebuild(mp.exp(s)).log_ridge(t), 0) / D_t
            total += abs(e)
        return total


RF_CASES = [(10, 20.0), (20, 10.0), (10, 10.0), (10, math.inf), (30, 40.0)]  # n < N, n > N, n = N, KRR, n > rank


@pytest.mark.parametrize("n, N", RF_CASES)
def test_rf_risks_at_ridge_1e12(n, N):
    """Test and training risk and ``(kappa, gamma)``, ridges 1e-12..1, spectrum spread 1e12, against mpmath.

    Bound: ``fp_tolerance(E, condition, 25 modes, 8 operations per mode)`` with the
    condition of :meth:`_MpEigenframework.condition` (elasticities of the risk in every
    rounded input, the fixed point moving with them).
    """
    ref = _MpEigenframework(RF_EIGENVALUES, RF_TARGET, 0.1, n, N)
    for ridge in (1e-12, 1e-6, 1.0):
        t = ref.solve(ridge)
        for what, fn in (("test", rf.test_risk), ("train", rf.train_risk)):
            value = getattr(ref, what)(t)
            cond = ref.condition(what, t, ridge)
            got = fn(RF_EIGENVALUES, RF_TARGET, 0.1, n, N, ridge)
            assert_accurate(f"rf.{what}_risk", got, value, bound(value, condition=cond, dimension=25, repetitions=8))
        got = rf.effective_regularization(RF_EIGENVALUES, n, N, ridge)
        for what, value in (("kappa", ref.kappa(t)), ("gamma", ref.gamma(t))):
            cond = ref.condition(what, t, ridge) - 1  # no targets or noise here
            assert_accurate(f"rf.effective_regularization {what}", got[what == "gamma"], value,
                            bound(value, condition=cond, dimension=25, repetitions=8))


def test_rf_power_law_spectrum_spread_1e12():
    """``power_law(6, 2, 100)`` spans 1..1e-12: its entries (one pow each, 2 roundings) and KRR's risk on it."""
    lam, v = rf.power_law(6.0, 2.0, 100)
    ref_lam = [mp.mpf(i) ** -6 for i in range(1, 101)]
    ref_v = [mp.mpf(i) ** -1 for i in range(1, 101)]
    assert_accurate("rf.power_law", lam, ref_lam, [bound(x, repetitions=2) for x in ref_lam])
    assert_accurate("rf.power_law", v, ref_v, [bound(x, repetitions=2) for x in ref_v])
    lam2, _ = rf.power_law(2.0, 2.0, 10**6)  # 1e6 modes: spread 1e12
    idx = [0, 9, 999, 99_999, 999_999]
    assert_accurate("rf.power_law", lam2[idx], [mp.mpf(i + 1) ** -2 for i in idx],
                    [bound(mp.mpf(i + 1) ** -2, repetitions=2) for i in idx])
    ref = _MpEigenframework(lam, v, 0.0, 50, math.inf)
    t = ref.solve(1e-12)
    value = ref.test(t)
    got = rf.test_risk(lam, v, 0.0, 50, math.inf, 1e-12)
    assert_accurate("rf.test_risk", got, value,
                    bound(value, condition=ref.condition("test", t, 1e-12), dimension=100, repetitions=8))


@pytest.mark.parametrize("n, N", [(10, 20.0), (20, 10.0), (10, math.inf)])
def test_rf_optimal_ridge_spread_1e12(n, N):
    """The optimal ridge and its risk against a minimisation in mpmath (grid in log gamma, then golden section).

    The risk at the optimum: ``fp_tolerance`` with the fixed-gamma condition.  The ridge is
    located through a minimiser: ``log gamma`` is known to ``dt = sqrt(2 tol_E / |E''(t)|)``
    (the risk's own bound over its curvature), so the ridge to ``|d log delta/dt| dt``.
    """
    ref = _MpEigenframework(RF_EIGENVALUES, RF_TARGET, 0.1, n, N)
    t_lo = ref.solve(mp.mpf(10) ** -200)  # the ridgeless end, to far below any ridge of interest
    t_hi = mp.log(mp.mpf(1e8))
    grid = [t_lo + (t_hi - t_lo) * k / 200 for k in range(201)]
    vals = [ref.test(t) for t in grid]
    k = vals.index(min(vals))
    assert 0 < k < 200  # an interior optimum
    a, b = grid[k - 1], grid[k + 1]
    golden = (mp.sqrt(5) - 1) / 2
    for _ in range(130):  # golden-section search: t* to 1e-25 (E's 50 digits locate it to about 25)
        c, d = b - golden * (b - a), a + golden * (b - a)
        a, b = (a, d) if ref.test(c) < ref.test(d) else (c, b)
    t_star = (a + b) / 2
    E = ref.test(t_star)
    ridge = mp.exp(ref.log_ridge(t_star))
    got_ridge, got_risk = rf.optimal_ridge(RF_EIGENVALUES, RF_TARGET, 0.1, n, N)
    tol_E = bound(E, condition=ref.condition("test", t_star), dimension=25, repetitions=8)
    assert_accurate("rf.optimal_ridge risk", got_risk, E, tol_E)
    dt = mp.sqrt(2 * tol_E / abs(mp.diff(ref.test, t_star, 2)))
    slope = abs(mp.diff(ref.log_ridge, t_star))
    assert_accurate("rf.optimal_ridge ridge", got_ridge, ridge, bound(ridge, solver=ridge * slope * dt))


# =========================================================================== martingale TD (Jia & Zhou 2022)

# dX = -X dt + 1/2 dW, X_0 = 1, running reward x, no terminal reward; features 1 and x
MT_B1, MT_S0, MT_X0 = -1, mp.mpf(1) / 2, 1
MT_FEATURES = ["1", "x"]


def _mt_problem(discount, horizon):
    return mt.Problem(drift="-x", diffusion="1/2", running_reward="x", discount=discount, horizon=horizon, x0=1.0)


def _mp_discrete(method, discount, horizon, K):
    """The exact ``K``-step scheme re-derived in mpmath for the Euler chain ``X' = (1 - dt) X + sqrt(dt)/2 Z``.

    ``X_k`` is Gaussian: mean ``m_k = (1 - dt)^k``, variance ``v_k = dt/4 (1 - (1 - dt)^(2k))/(1 - (1 - dt)^2)``.
    ml: ``E[G_k | X_k] = e_k X_k`` with ``e_k = dt + e^{-beta dt} (1 - dt) e_{k+1}``, ``e_K = 0``;
    ``A = sum_k e^{-2 beta t_k} dt E[phi phi^T]``, ``b = sum_k e^{-2 beta t_k} dt E[phi e_k X]``.
    td0: ``A_ij = -sum_k E[phi_i(X_k) (e^{-beta t_{k+1}} E[phi_j(X_{k+1}) | X_k] [k < K-1]
    - e^{-beta t_k} phi_j(X_k))]``,
    ``b_i = sum_k e^{-beta t_k} dt E[phi_i(X_k) X_k]``.  Returns ``(A, b)`` as mpmath matrices.
    """
    beta, T = mp.mpf(discount), mp.mpf(horizon)
    dt = T / K
    rho = 1 + MT_B1 * dt
    g = mp.exp(-beta * dt)
    m = [mp.mpf(MT_X0)]
    v = [mp.mpf(0)]
    for _ in range(K):
        m.append(rho * m[-1])
        v.append(rho * rho * v[-1] + MT_S0**2 * dt)
    A = mp.matrix(2, 2)
    b = mp.matrix(2, 1)
    if method == "ml":
        e = mp.mpf(0)
        for k in range(K - 1, -1, -1):
            e = dt + g * rho * e  # e_k
            w = mp.exp(-2 * beta * k * dt) * dt
            mom = [1, m[k], m[k] ** 2 + v[k]]
            for i in range(2):
                for j in range(2):
                    A[i, j] += w * mom[i + j]
                b[i] += w * e * mom[i + 1]
        return A, b
    for k in range(K):
        dk, dk1 = mp.exp(-beta * k * dt), (mp.exp(-beta * (k + 1) * dt) if k < K - 1 else 0)
        mom = [1, m[k], m[k] ** 2 + v[k]]
        coef = [(dk1 - dk, 0), (0, dk1 * rho - dk)]  # E[delta-coefficient of phi_j | X_k] = c0 + c1 X_k
        for i in range(2):
            for j in range(2):
                A[i, j] -= coef[j][0] * mom[i] + coef[j][1] * mom[i + 1]
            b[i] += dk * dt * mom[i + 1]
    return A, b


def _mp_continuous(method, discount, horizon):
    """Continuous-time normal equations by ``mp.quad`` (OU moments in closed form, ``J = gamma(t) x``).

    ``m(t) = e^{-t}``, ``v(t) = (1 - e^{-2t})/8``; ``gamma(t) = (1 - e^{-(beta + 1)(T - t)})/(beta + 1)``.
    ml: ``A = int e^{-2 beta t} E[phi phi^T]``, ``b = int e^{-2 beta t} gamma(t) E[phi X]``.
    td0: ``A_ij = -int e^{-beta t} E[phi_i D phi_j] + e^{-beta T} E[phi_i phi_j](T)`` with ``D 1 = -beta``,
    ``D x = -(1 + beta) x``; ``b_i = int e^{-beta t} E[phi_i X]``.
    """
    beta, T = mp.mpf(discount), mp.mpf(horizon)
    cuts = [mp.mpf(0)] + [mp.mpf(c) for c in (1, 10, 100) if c < T] + [T]

    def mom(t):
        m = mp.exp(MT_B1 * t) * MT_X0
        v = MT_S0**2 * (mp.exp(2 * MT_B1 * t) - 1) / (2 * MT_B1)
        return [mp.mpf(1), m, m * m + v]

    def integral(f):
        return mp.quad(f, cuts)

    A = mp.matrix(2, 2)
    b = mp.matrix(2, 1)
    if method == "ml":
        gam = lambda t: (1 - mp.exp(-(beta - MT_B1) * (T - t))) / (beta - MT_B1)  # noqa: E731
        for i in range(2):
            for j in range(2):
                A[i, j] = integral(lambda t: mp.exp(-2 * beta * t) * mom(t)[i + j])
            b[i] = integral(lambda t: mp.exp(-2 * beta * t) * gam(t) * mom(t)[i + 1])
        return A, b
    d = [(-beta, 0), (0, MT_B1 - beta)]  # D phi_j = c0 + c1 x
    for i in range(2):
        for j in range(2):
            A[i, j] = -integral(lambda t: mp.exp(-beta * t) * (d[j][0] * mom(t)[i] + d[j][1] * mom(t)[i + 1])) \
                + mp.exp(-beta * T) * mom(T)[i + j]
        b[i] = integral(lambda t: mp.exp(-beta * t) * mom(t)[i + 1])
    return A, b


def _theta_and_condition(A, b):
    theta = mp.lu_solve(A, b)
    s = mp.svd_r(A, compute_uv=False)
    return [theta[0], theta[1]], max(s) / min(s), mp.sqrt(theta[0] ** 2 + theta[1] ** 2)


@pytest.mark.parametrize("method", ["ml", "td0"])
def test_martingale_td_k_steps_dt_1e4_and_horizon_1e3(method):
    """The exact K-step solutions: ``dt = 1e-4`` (T = 1, K = 1e4) and ``T = 1e3`` (K = 1e4, dt = 0.1), discount 1.

    Bound: the K accumulation steps of moments and sums (``K`` repetitions, a moment vector
    of ``2 deg + 3 = 5``), through the solve with ``cond(A)`` (2-norm, from mpmath's SVD):
    ``fp_tolerance(|theta|, cond(A), 5, K)``, in the 2-norm.
    """
    for horizon, K in ((1.0, 10), (1.0, 10_000), (1000.0, 10_000)):
        A, b = _mp_discrete(method, 1.0, horizon, K)
        theta, cond, norm = _theta_and_condition(A, b)
        got = mt.solve(_mt_problem(1.0, horizon), MT_FEATURES, method, K)
        assert_accurate(f"mt.solve {K}-step", got, theta, bound(norm, condition=cond, dimension=5, repetitions=K),
                        normwise=True)


@pytest.mark.parametrize("method", ["ml", "td0"])
def test_martingale_td_continuous_horizon_1e3(method):
    """Continuous time at T = 1 and T = 1e3 (discounts 1 and 0.01) against ``mp.quad`` of the re-derived integrands.

    The float code evaluates the closed forms in mpmath and rounds ``A`` and ``b`` to doubles:
    ``fp_tolerance(|theta|, cond(A), 2 features, 2)`` in the 2-norm.
    """
    for discount, horizon in ((1.0, 1.0), (1.0, 1000.0), (0.01, 1000.0)):
        A, b = _mp_continuous(method, discount, horizon)
        theta, cond, norm = _theta_and_condition(A, b)
        got = mt.solve(_mt_problem(discount, horizon), MT_FEATURES, method)
        assert_accurate("mt.solve continuous", got, theta, bound(norm, condition=cond, dimension=2, repetitions=2),
                        normwise=True)


def _mp_infinite(method, discount, dt):
    """The infinite-horizon discrete scheme, summed over all ``k >= 0`` as scalar geometric series in mpmath.

    With ``rho = 1 - dt`` and ``c = dt/4 / (1 - rho^2)`` (the chain's stationary variance),
    ``S_p(a) = sum_k a^k E[X_k^p]`` is ``1/(1 - a)``, ``1/(1 - a rho)`` and
    ``(1 - c)/(1 - a rho^2) + c/(1 - a)`` for ``p = 0, 1, 2``.  ml: ``a = g^2`` (``g = e^{-beta dt}``),
    ``E[G_k | X_k] = e X_k`` with ``e = dt/(1 - g rho)``; td0: ``a = g``, the TD error
    ``g^k (g J(X_{k+1}) - J(X_k) + r dt)``.  Also returns the condition of forming and
    inverting ``I - a P``, ``|a P| |(I - a P)^{-1}|`` (2-norms; ``P`` the moment map,
    ``E[X'^2 | x] = rho^2 x^2 + dt/4``, which the float code inverts): entries ``1 - a P_nn``
    of size ``~ dt`` carry rounding ``~ u``.
    """
    beta, dt = mp.mpf(discount), mp.mpf(dt)
    rho, g = 1 + MT_B1 * dt, mp.exp(-beta * dt)
    c = MT_S0**2 * dt / (1 - rho**2)

    def S(a):
        return [1 / (1 - a), MT_X0 / (1 - a * rho), (1 - c) / (1 - a * rho**2) + c / (1 - a)]

    A = mp.matrix(2, 2)
    b = mp.matrix(2, 1)
    a = g * g if method == "ml" else g
    mom = S(a)
    if method == "ml":
        e = dt / (1 - g * rho)
        for i in range(2):
            for j in range(2):
                A[i, j] = dt * mom[i + j]
            b[i] = dt * e * mom[i + 1]
    else:
        coef = [(g - 1, 0), (0, g * rho - 1)]
        for i in range(2):
            for j in range(2):
                A[i, j] = -(coef[j][0] * mom[i] + coef[j][1] * mom[i + 1])
            b[i] = dt * mom[i + 1]
    P = mp.matrix([[1, 0, 0], [0, rho, 0], [MT_S0**2 * dt, 0, rho**2]])
    inv_norm = 1 / min(mp.svd_r(mp.eye(3) - a * P, compute_uv=False))
    return A, b, max(mp.svd_r(a * P, compute_uv=False)) * inv_norm


@pytest.mark.parametrize("method", ["ml", "td0"])
def test_martingale_td_infinite_horizon_dt_1e4(method):
    """Infinite horizon, ``dt`` down to 1e-4: the float geometric matrix series against scalar series in mpmath.

    Bound: ``fp_tolerance(|theta|, cond(A) |a P| |(I - a P)^{-1}|, 5, 2)``: the inverse of
    ``I - a P`` (condition ~ ``1/(beta dt)``) feeds ``A`` and ``b``, which the solve amplifies
    by ``cond(A)``.
    """
    for dt in (1e-2, 1e-3, 1e-4):
        A, b, cond_series = _mp_infinite(method, 1.0, dt)
        theta, cond, norm = _theta_and_condition(A, b)
        got = mt.solve(_mt_problem(1.0, math.inf), MT_FEATURES, method, dt=dt)
        assert_accurate("mt.solve infinite horizon", got, theta,
                        bound(norm, condition=cond * cond_series, dimension=5, repetitions=2), normwise=True)


def test_martingale_td_out_of_range_raises():
    """Moments that outgrow double precision over T = 1e3, and K beyond the solver's MAX_STEPS, raise ValueError."""
    growing = mt.Problem(drift="x", diffusion="1/2", running_reward="x", discount=0.0, horizon=1000.0, x0=1.0)
    for steps in (None, 10_000):
        with pytest.raises(ValueError, match="horizon=1000: .* overflows double precision"):
            mt.solve(growing, MT_FEATURES, "ml", steps)
    with pytest.raises(ValueError, match="steps: K = 10000000 exceeds the 1000000 steps"):
        mt.solve(_mt_problem(1.0, 1.0), MT_FEATURES, "ml", 10**7)
    assert mt.MAX_STEPS == 10**6
