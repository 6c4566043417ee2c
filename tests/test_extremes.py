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
parameter (tested at the end of each section).

=============================  ========================================================  ==========  ===========  ======
function                       extreme regime                                            worst err   bound        raises
=============================  ========================================================  ==========  ===========  ======
sd.student_multipliers         d 1..1e-12, ridge 1e-12..1, alpha -0.5..1.7, t <= 1e4       5.3e-14    8.0e-12      --
sd.limit_multipliers           d 1..1e-12, ridge 1e-12..1, alpha 1e-6..1.9                 2.2e-16    1.1e-15      --
sd.amplified_ridge             ridge 1e-12, alpha 1e-6..1.9                                0          1.1e-16      --
sd.smoother (train, test)      8x8 Gram, spectrum 1..1e-12, ridge 1e-12/1e-6, t <= 5      see run     cond 5e11   --
sd.constraint_ridge            spectrum 1..1e-12, ridge found 1e-12..1                     see run     brentq+fp   --
nc.collapse/root_threshold     depth 1..8                                                  see run     --           --
nc.largest_root                depth 1..8, ratio 1e-12..(1-1e-12)                          see run     --           --
nc.regularization_constant     depth 8, weight decay 1e-300..1e-12                         see run     --           --
nc.deep_linear_ufm_minimum     depth 8, 100 classes (imbalanced; balanced + bias; CE)      see run     --           --
nc.ce_scale                    depth 1/2/8, 100 classes, decays 1e-300..1e-3               see run     --           --
nc.simplex_etf_gram            100 classes                                                 see run     --           --
nc.mixup_optimal_feature       100 classes, feature decay 1e-12..1e3, mix 0..1             see run     --           --
rf.test_risk / train_risk      spectrum 1..1e-12, ridge 1e-12..1, n = N and n <> N, KRR    see run     --           --
rf.optimal_ridge               spectrum 1..1e-12, N finite and infinite                    see run     --           --
rf.power_law                   alpha 2, 1e6 modes (spread 1e12)                            see run     --           --
mt.solve K-step                dt = 1e-4 (K = 1e4, T = 1); T = 1e3 with K = 1e4           see run     --           --
mt.solve continuous            T = 1 and T = 1e3, discount 1                               see run     --           --
mt.solve                       growing moments over T = 1e3; K = 1e7                       --          --           yes
=============================  ========================================================  ==========  ===========  ======
"""

from __future__ import annotations

import inspect
import math

import mpmath as mp
import numpy as np
import pytest
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


RESULTS = {}  # name -> (worst relative error, bound relative to the value), for the table


def assert_accurate(name, observed, reference, bounds, *, normwise=False):
    """``|observed - reference| <= bounds`` componentwise (or in the inf-norm), with power.

    Records the worst relative error and its bound under ``name`` and checks that the
    same comparison rejects the observation moved by ten bounds.
    """
    obs = [mp.mpf(float(v)) for v in np.atleast_1d(np.asarray(observed, dtype=float))]
    ref = [mp.mpf(v) for v in (reference if isinstance(reference, (list, tuple, np.ndarray)) else [reference])]
    bnd = np.broadcast_to(np.asarray(bounds, dtype=float), (len(ref),))
    assert len(obs) == len(ref)
    if normwise:
        err = max(abs(o - r) for o, r in zip(obs, ref))
        scale = max(max(abs(r) for r in ref), mp.mpf(TINY))
        ok = err <= max(bnd)
        worst, rel_bound = float(err / scale), float(max(bnd) / scale)
        moved = [o + 10 * max(bnd) * (1 if o >= r else -1) for o, r in zip(obs, ref)]
        assert max(abs(m - r) for m, r in zip(moved, ref)) > max(bnd), name
    else:
        errs = [abs(o - r) for o, r in zip(obs, ref)]
        ok = all(e <= b for e, b in zip(errs, bnd))
        rel = [float(e / max(abs(r), mp.mpf(TINY))) for e, r in zip(errs, ref)]
        rb = [float(b / max(abs(r), mp.mpf(TINY))) for b, r in zip(bnd, ref)]
        i = int(np.argmax(np.array(rel) / np.array(rb)))
        worst, rel_bound = max(rel), rb[i]
        moved = [o + 10 * mp.mpf(b) * (1 if o >= r else -1) for o, r, b in zip(obs, ref, bnd)]
        assert any(abs(m - r) > b for m, r, b in zip(moved, ref, bnd)), f"{name}: no power"
    old = RESULTS.get(name, (0.0, 0.0))
    RESULTS[name] = (max(old[0], worst), max(old[1], rel_bound))
    print(f"EXTREME {name}: worst relative error {worst:.2e}, bound {rel_bound:.2e}")
    assert ok, f"{name}: error {worst:.3e} exceeds the bound {rel_bound:.3e}"


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
    rival = sd._student
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
    """``S_t`` from its definition: ``P = K (K + ridge I)^{-1}`` by ``mp.lu_solve``, ``S_{t+1} = P (alpha I + (1 - alpha) S_t)``.

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
