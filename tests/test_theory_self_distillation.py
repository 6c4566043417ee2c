"""theory.self_distillation against independent computations (recursions, dense solves, brute force)."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as hst
from scipy.optimize import minimize_scalar

from paper_checks import stats
from theory import self_distillation as th

d, lam, al, t = th.d_sym, th.ridge_sym, th.alpha_sym, th.step_sym


def toy():
    X = th.TOY_INPUTS
    K = th.rbf_kernel(X, X, th.TOY_GAMMA)
    return X, K, th.TOY_TARGETS.copy()


# ---------------------------------------------------------------- symbolic derivation


def test_closed_form_satisfies_recursion_and_start_symbolically():
    b = th.STUDENT_MULTIPLIER
    rhs = th.TEACHER_MULTIPLIER * (al + (1 - al) * b)
    assert sp.simplify(b.subs(t, t + 1) - rhs) == 0
    assert sp.simplify(b.subs(t, 0) - d / (d + lam)) == 0


def test_limit_is_fixed_point_and_equals_amplified_krr():
    L = th.LIMIT_MULTIPLIER
    assert sp.simplify(L - th.TEACHER_MULTIPLIER * (al + (1 - al) * L)) == 0
    assert sp.simplify(th.AMPLIFIED_RIDGE - lam / al) == 0
    assert sp.simplify(L - d / (d + lam / al)) == 0


def test_no_ground_truth_is_power_of_teacher_multiplier():
    assert sp.simplify(th.NO_GROUND_TRUTH_MULTIPLIER - (d / (d + lam)) ** (t + 1)) == 0


def test_convergence_rate_is_constant_ratio_of_gaps():
    gap = th.STUDENT_MULTIPLIER - th.LIMIT_MULTIPLIER
    for k in range(4):
        assert sp.simplify(gap.subs(t, k + 1) - th.CONVERGENCE_RATE * gap.subs(t, k)) == 0
    assert sp.simplify(th.CONVERGENCE_RATE - (1 - al) * d / (d + lam)) == 0


def test_optimal_alpha_is_stationary_point_of_a_convex_quadratic():
    dR = sp.diff(th.STEP_RISK, al)
    assert sp.simplify(dR.subs(al, th.OPTIMAL_ALPHA)) == 0
    assert sp.simplify(sp.diff(th.STEP_RISK, al, 2) - 2 * sp.Symbol("vv", real=True)) == 0


# ---------------------------------------------------------------- numeric multipliers


def recursion(dv, ridge, alpha, steps):
    a = dv / (dv + ridge)
    b = a.copy()
    out = [b.copy()]
    for _ in range(steps):
        b = a * (alpha + (1 - alpha) * b)
        out.append(b.copy())
    return np.array(out)


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 1.0, 1.5, -0.5])
def test_student_multipliers_match_plain_recursion(alpha):
    dv = np.array([3.0, 1.0, 0.2, 1e-3, 0.0])
    ref = recursion(dv, 0.3, alpha, 25)
    got = np.array([th.student_multipliers(dv, 0.3, alpha, s) for s in range(26)])
    tol = stats.fp_tolerance(np.abs(ref).max(), repetitions=4 * 26)
    assert np.all(np.abs(got - ref) <= tol)


@settings(max_examples=200, deadline=None)
@given(dv=hst.lists(hst.floats(1e-6, 1e3), min_size=1, max_size=6),
       ridge=hst.floats(1e-4, 1e2), alpha=hst.floats(0.0, 2.0), step=hst.integers(0, 40))
def test_property_closed_form_equals_recursion(dv, ridge, alpha, step):
    """For every spectrum, ridge, alpha in [0, 2] and step: the closed form is the recursion."""
    dv = np.array(dv)
    ref = recursion(dv, ridge, alpha, step)[-1]
    got = th.student_multipliers(dv, ridge, alpha, step)
    # |1 - alpha| a < 1 here, so rounding errors do not grow: a few operations per step
    tol = stats.fp_tolerance(max(1.0, np.abs(ref).max()), repetitions=8 * (step + 2))
    assert np.all(np.abs(got - ref) <= tol)
    assert np.all(got >= -tol) and np.all(got <= 1 + tol)


def test_limit_multipliers_match_long_recursion_and_ridge():
    dv = np.array([2.0, 0.5, 0.01])
    for alpha in (0.1, 0.35, 1.0, 1.7):
        ref = recursion(dv, 0.2, alpha, 5000)[-1]
        assert np.allclose(th.limit_multipliers(dv, 0.2, alpha), ref, rtol=0, atol=1e-13)
        assert th.amplified_ridge(0.2, alpha) == pytest.approx(0.2 / alpha, rel=1e-15)
    assert not np.any(th.limit_multipliers(dv, 0.2, 0.0))


def test_limit_raises_where_iteration_diverges():
    with pytest.raises(ValueError, match="do not converge"):
        th.limit_multipliers([1.0, 100.0], 0.1, 2.5)
    with pytest.raises(ValueError, match="do not converge"):
        th.limit_multipliers([1.0, 100.0], 0.1, -0.5)


def test_ridgeless_interpolates():
    assert np.all(th.student_multipliers([1.0, 2.0], 0.0, 0.0, 7) == 1.0)


# ---------------------------------------------------------------- fits, smoothers, risks


def target_maps(K, ridge, alpha, steps):
    """Dense target maps M_t (targets = M_t y) built with explicit solves."""
    n = K.shape[0]
    P = K @ np.linalg.inv(K + ridge * np.eye(n))
    M = [np.eye(n)]
    for _ in range(steps):
        M.append(alpha * np.eye(n) + (1 - alpha) * P @ M[-1])
    return M


def test_rbf_kernel_matches_loops():
    x = np.array([0.0, 0.3, 1.0])
    z = np.array([0.1, 0.9])
    K = th.rbf_kernel(x, z, 2.0)
    for i in range(3):
        for j in range(2):
            assert K[i, j] == pytest.approx(math.exp(-2.0 * (x[i] - z[j]) ** 2), rel=1e-15)


def test_gram_eigh_reconstructs_and_orders():
    _, K, _ = toy()
    dv, V = th.gram_eigh(K)
    assert np.all(np.diff(dv) <= 0)
    assert np.allclose((V * dv) @ V.T, K, atol=1e-13)


def test_distilled_fit_at_test_points_matches_dense_solves():
    X, K, y = toy()
    x = np.linspace(0, 1, 17)
    C = th.rbf_kernel(x, X, th.TOY_GAMMA)
    for alpha in (0.0, 0.35, 1.3):
        M = target_maps(K, 0.2, alpha, 5)
        for s in range(6):
            ref = C @ np.linalg.solve(K + 0.2 * np.eye(11), M[s] @ y)
            got = th.distilled_fit(K, y, 0.2, alpha, s, C)
            assert np.allclose(got, ref, rtol=0, atol=1e-12)


def test_limit_fit_matches_amplified_krr():
    X, K, y = toy()
    C = th.rbf_kernel(np.linspace(0, 1, 9), X, th.TOY_GAMMA)
    ref = C @ np.linalg.solve(K + (0.2 / 0.35) * np.eye(11), y)
    assert np.allclose(th.limit_fit(K, y, 0.2, 0.35, C), ref, atol=1e-12)


def test_expected_risk_matches_dense_bias_variance_and_monte_carlo():
    X, K, _ = toy()
    x = np.linspace(0, 1, 31)
    C = th.rbf_kernel(x, X, th.TOY_GAMMA)
    f, fs = np.sin(2 * np.pi * X), np.sin(2 * np.pi * x)
    M = target_maps(K, 0.2, 0.25, 3)
    S = C @ np.linalg.solve(K + 0.2 * np.eye(11), M[3])
    dense = np.mean((S @ f - fs) ** 2) + 0.25 * np.sum(S**2) / x.size
    assert th.expected_risk(K, C, f, fs, 0.25, 0.2, 0.25, 3) == pytest.approx(dense, rel=1e-12)
    grid = th.expected_risks(K, C, f, fs, 0.25, 0.2, [0.0, 0.25], 3)
    assert grid[1, 3] == pytest.approx(dense, rel=1e-12)
    assert grid[0, 2] == pytest.approx(th.expected_risk(K, C, f, fs, 0.25, 0.2, 0.0, 2), rel=1e-12)


def test_optimal_alpha_matches_brute_force_minimization():
    X, K, y = toy()
    f = np.sin(2 * np.pi * X)
    for ridge in (0.01, 0.2, 5.0):
        P = K @ np.linalg.inv(K + ridge * np.eye(11))

        def err(a):
            return np.sum((P @ (a * y + (1 - a) * (P @ y)) - f) ** 2)

        brute = minimize_scalar(err, bracket=(-50, 50), tol=1e-12).x
        assert th.optimal_alpha(K, y, f, ridge) == pytest.approx(brute, rel=1e-6, abs=1e-6)


def test_expected_optimal_alpha_matches_dense_expectation():
    X, K, _ = toy()
    x = np.linspace(0, 1, 21)
    C = th.rbf_kernel(x, X, th.TOY_GAMMA)
    f, fs = np.sin(2 * np.pi * X), np.sin(2 * np.pi * x)
    Ainv = np.linalg.inv(K + 0.2 * np.eye(11))
    P = K @ Ainv

    def expected(a):  # E ||C Ainv (a y + (1-a) P y) - fs||^2 with y = f + noise (sigma^2 = 0.25)
        S = C @ Ainv @ (a * np.eye(11) + (1 - a) * P)
        return np.sum((S @ f - fs) ** 2) + 0.25 * np.sum(S**2)

    brute = minimize_scalar(expected, bracket=(-10, 10), tol=1e-12).x
    got = th.expected_optimal_alpha(K, f, 0.25, 0.2, C, fs)
    assert got == pytest.approx(brute, rel=1e-6, abs=1e-6)
    train = th.expected_optimal_alpha(K, f, 0.25, 0.2)
    assert train != pytest.approx(got, rel=1e-3)  # training-point and test-point optima differ


# ---------------------------------------------------------------- constraint form


def test_constraint_ridge_meets_the_training_error():
    X, K, y = toy()
    dv, V = th.gram_eigh(K)
    c = th.constraint_ridge(dv, V.T @ y, 11, 0.01)
    resid = y - K @ np.linalg.solve(K + c * np.eye(11), y)
    assert resid @ resid / 11 == pytest.approx(0.01, rel=1e-10)
    assert th.constraint_ridge(dv, V.T @ y, 11, 10.0) == math.inf


def test_constrained_rounds_match_input_space_training():
    from simulations.self_distillation import constrained_distillation

    X, K, y = toy()
    dv, V = th.gram_eigh(K)
    for eps in (0.05, 0.002):
        ridges, norms, _ = constrained_distillation(K, y, eps)
        res = th.constrained_rounds(dv, V.T @ y, 11, eps)
        assert res.collapse_round == ridges.size - 1
        assert np.allclose(res.ridges[:-1], ridges[:-1], rtol=1e-9)
        assert np.allclose(res.norms, norms, rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(seed=hst.integers(0, 10**6), eps=hst.floats(1e-3, 0.5))
def test_property_collapse_round_within_bounds(seed, eps):
    g = np.random.default_rng(seed)
    dv = np.sort(g.uniform(0.01, 3.0, 6))[::-1]
    z = g.normal(size=6)
    res = th.constrained_rounds(dv, z, 6, eps, max_rounds=100000)
    lo, hi = th.collapse_round_bounds(np.linalg.norm(z), 6, eps)
    assert res.collapse_round is not None and lo <= res.collapse_round <= hi
    finite = res.ridges[np.isfinite(res.ridges)]
    assert np.all(np.diff(finite) >= 0)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("call,match", [
    (lambda: th.student_multipliers([1.0], -1.0, 0.5, 1), "ridge"),
    (lambda: th.student_multipliers([1.0], 0.1, float("nan"), 1), "alpha"),
    (lambda: th.student_multipliers([1.0], 0.1, 0.5, -1), "step"),
    (lambda: th.student_multipliers([1.0], 0.1, 0.5, 1.5), "step"),
    (lambda: th.student_multipliers([-1.0], 0.1, 0.5, 1), "eigenvalues"),
    (lambda: th.student_multipliers([], 0.1, 0.5, 1), "eigenvalues"),
    (lambda: th.student_multipliers([[1.0]], 0.1, 0.5, 1), "eigenvalues"),
    (lambda: th.student_multipliers([0.0], 0.0, 0.5, 1), "ridge"),
    (lambda: th.student_multipliers([1.0], 0.1, 60.0, 400), "overflows"),
    (lambda: th.student_multipliers([1.0], "a", 0.5, 1), "ridge"),
    (lambda: th.limit_multipliers([1.0], 0.1, 3.0), "converge"),
    (lambda: th.amplified_ridge(0.1, 0.0), "alpha"),
    (lambda: th.amplified_ridge(-0.1, 0.5), "ridge"),
    (lambda: th.rbf_kernel([0.0], [0.0], 0.0), "gamma"),
    (lambda: th.rbf_kernel(np.zeros((2, 2)), np.zeros((2, 3)), 1.0), "columns"),
    (lambda: th.gram_eigh(np.zeros((2, 3))), "square"),
    (lambda: th.gram_eigh(np.array([[1.0, 2.0], [0.0, 1.0]])), "symmetric"),
    (lambda: th.gram_eigh(np.array([[1.0, 2.0], [2.0, 1.0]])), "semi-definite"),
    (lambda: th.distilled_fit(np.eye(2), [1.0], 0.1, 0.5, 1), "y must have shape"),
    (lambda: th.smoother(np.eye(2), 0.1, 0.5, 1, np.ones((3, 3))), "cross_gram"),
    (lambda: th.expected_risk(np.eye(2), np.ones((3, 2)), [1, 1], [1, 1], 0.1, 0.1, 0.5, 1), "f_test"),
    (lambda: th.expected_risk(np.eye(2), np.ones((3, 2)), [1, 1], [1, 1, 1], -0.1, 0.1, 0.5, 1), "noise_variance"),
    (lambda: th.optimal_alpha(np.eye(2), [1.0, 1.0], [1.0, 1.0], 0.0), "ridge"),
    (lambda: th.expected_optimal_alpha(np.eye(2), [1.0, 1.0], 0.1, 0.1, np.ones((3, 2))), "f_test"),
    (lambda: th.constraint_ridge([1.0], [1.0], 1, 0.0), "epsilon"),
    (lambda: th.constraint_ridge([1.0], [1.0], 0, 0.1), "n_points"),
    (lambda: th.constraint_ridge([1.0], [1.0, 2.0], 1, 0.1), "coordinates"),
    (lambda: th.constrained_rounds([1.0], [1.0], 1, 0.1, max_rounds=0), "max_rounds"),
    (lambda: th.collapse_round_bounds(-1.0, 1, 0.1), "initial_norm"),
])
def test_bad_input_raises_naming_the_parameter(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
