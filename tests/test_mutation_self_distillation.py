"""theory.self_distillation: exact error messages (parameter and allowed range), boundaries and
edge branches, each against an independent computation (dense solves, plain recursions)."""

import math
import re

import numpy as np
import pytest
import sympy as sp

from theory import self_distillation as th

E2 = np.eye(2)
Y2 = [1.0, 2.0]
C32 = np.ones((3, 2))


def _exact(text):
    return "^" + re.escape(text) + "$"


CASES = [
    # _real: name, bound and openness appear in the message
    (lambda: th.student_multipliers([1.0], -1.0, 0.5, 1), "ridge must be >= 0.0, got -1.0"),
    (lambda: th.student_multipliers([1.0], 0.1, math.inf, 1), "alpha must be finite, got inf"),
    (lambda: th.student_multipliers([1.0], 0.1, 0.5, -1), "step must be an integer >= 0, got -1"),
    (lambda: th.student_multipliers([1.0], 0.1, 0.5, True), "step must be an integer >= 0, got True"),
    (lambda: th.student_multipliers([1.0], 0.1, 0.5, 1.0), "step must be an integer >= 0, got 1.0"),
    (lambda: th.student_multipliers([[1.0]], 0.1, 0.5, 1), "eigenvalues must be a 1-D array, got shape (1, 1)"),
    (lambda: th.student_multipliers([], 0.1, 0.5, 1), "eigenvalues must be a non-empty 1-D array, got shape (0,)"),
    (lambda: th.student_multipliers([1.0, np.nan], 0.1, 0.5, 1), "eigenvalues must be finite, got a non-finite entry"),
    (lambda: th.student_multipliers([1.0, -2.0], 0.1, 0.5, 1),
     "eigenvalues must be >= 0 (a Gram matrix is positive semi-definite), got min -2.0"),
    (lambda: th.student_multipliers([1.0, 0.0], 0.0, 0.5, 1),
     "ridge must be > 0 when an eigenvalue is 0 (the kernel system is singular)"),
    (lambda: th.student_multipliers([1.0], 0.1, 60.0, 400),
     "alpha=60.0 with step=400 overflows: |1 - alpha| * d/(d + ridge) grows like its step-th power"),
    (lambda: th.limit_multipliers([1.0], -1.0, 0.5), "ridge must be >= 0.0, got -1.0"),
    (lambda: th.limit_multipliers([1.0], 0.1, math.nan), "alpha must be finite, got nan"),
    (lambda: th.limit_multipliers([1.0], 0.1, 3.0),
     "alpha=3.0: the distillation steps do not converge (need |1 - alpha| * d/(d + ridge) < 1, "
     "i.e. 0 < alpha < 2 for any spectrum)"),
    (lambda: th.amplified_ridge(-0.1, 0.5), "ridge must be >= 0.0, got -0.1"),
    (lambda: th.amplified_ridge(0.1, 0.0), "alpha must be > 0.0, got 0.0"),
    (lambda: th.amplified_ridge(0.1, 2.0), "alpha must be < 2.0, got 2.0"),
    (lambda: th.amplified_ridge(0.1, 2.5), "alpha must be < 2.0, got 2.5"),
    (lambda: th.target_multipliers([1.0], -1.0, 0.5, 0), "ridge must be >= 0.0, got -1.0"),
    (lambda: th.target_multipliers([1.0], 0.1, 0.5, -2), "step must be an integer >= 0, got -2"),
    (lambda: th.rbf_kernel([0.0], [0.0], 0.0), "gamma must be > 0.0, got 0.0"),
    (lambda: th.rbf_kernel(np.zeros((2, 2)), np.zeros((2, 3)), 1.0),
     "x and z must be 1-D or 2-D with the same number of columns, got (2, 2) and (2, 3)"),
    (lambda: th.rbf_kernel(np.zeros((2, 2, 1)), np.zeros((2, 1)), 1.0),
     "x must be a 2-D array, got shape (2, 2, 1)"),
    (lambda: th.rbf_kernel(np.zeros((2, 1)), np.zeros((2, 1, 1)), 1.0),
     "z must be a 2-D array, got shape (2, 1, 1)"),
    (lambda: th.rbf_kernel([0.0, np.inf], [0.0], 1.0), "x must be finite, got a non-finite entry"),
    (lambda: th.rbf_kernel([0.0], [np.nan], 1.0), "z must be finite, got a non-finite entry"),
    (lambda: th.gram_eigh(np.zeros((2, 3))), "gram must be a non-empty square matrix, got shape (2, 3)"),
    (lambda: th.gram_eigh(np.zeros((0, 0))), "gram must be a non-empty square matrix, got shape (0, 0)"),
    (lambda: th.gram_eigh(np.zeros(3)), "gram must be a 2-D array, got shape (3,)"),
    (lambda: th.gram_eigh(np.array([[1.0, np.nan], [np.nan, 1.0]])), "gram must be finite, got a non-finite entry"),
    (lambda: th.gram_eigh(np.array([[1.0, 0.5], [0.0, 1.0]])), "gram must be symmetric"),
    (lambda: th.gram_eigh(np.array([[1.0, 2.0], [2.0, 1.0]])),
     "gram must be positive semi-definite, smallest eigenvalue -1.0"),
    (lambda: th.smoother(E2, -0.1, 0.5, 1), "ridge must be >= 0.0, got -0.1"),
    (lambda: th.smoother(E2, 0.1, 0.5, 1, np.ones((3, 3))), "cross_gram must have shape (m, 2), one column per row of gram, got (3, 3)"),
    (lambda: th.smoother(E2, 0.1, 0.5, 1, np.ones(2)), "cross_gram must be a 2-D array, got shape (2,)"),
    (lambda: th.distilled_fit(E2, [1.0], 0.1, 0.5, 1), "y must have shape (2,) like the Gram matrix gram, got (1,)"),
    (lambda: th.distilled_fit(E2, [1.0, np.nan], 0.1, 0.5, 1), "y must be finite, got a non-finite entry"),
    (lambda: th.limit_fit(E2, [1.0], 0.1, 0.5), "y must have shape (2,) like the Gram matrix gram, got (1,)"),
    (lambda: th.expected_risk(E2, C32, Y2, [1, 1], 0.1, 0.1, 0.5, 1), "f_test must have shape (3,), one value per row of cross_gram, got (2,)"),
    (lambda: th.expected_risk(E2, C32, Y2, [1, 1, 1], -0.1, 0.1, 0.5, 1), "noise_variance must be >= 0.0, got -0.1"),
    (lambda: th.expected_risk(E2, C32, [1.0], [1, 1, 1], 0.1, 0.1, 0.5, 1),
     "f_train must have shape (2,) like the Gram matrix gram, got (1,)"),
    (lambda: th.expected_risks(E2, C32, Y2, [1, 1, 1], 0.1, 0.0, [0.5], 1), "ridge must be > 0.0, got 0.0"),
    (lambda: th.expected_risks(E2, C32, Y2, [1, 1, 1], -0.1, 0.1, [0.5], 1), "noise_variance must be >= 0.0, got -0.1"),
    (lambda: th.expected_risks(E2, np.ones((3, 3)), Y2, [1, 1, 1], 0.1, 0.1, [0.5], 1),
     "cross_gram must have shape (m, 2), one column per row of gram, got (3, 3)"),
    (lambda: th.expected_risks(E2, np.ones(2), Y2, [1, 1, 1], 0.1, 0.1, [0.5], 1),
     "cross_gram must be a 2-D array, got shape (2,)"),
    (lambda: th.expected_risks(E2, C32, [1.0], [1, 1, 1], 0.1, 0.1, [0.5], 1),
     "f_train must have shape (2,) like the Gram matrix gram, got (1,)"),
    (lambda: th.expected_risks(E2, C32, Y2, [1, 1], 0.1, 0.1, [0.5], 1), "f_test must have shape (3,), one value per row of cross_gram, got (2,)"),
    (lambda: th.expected_risks(E2, C32, Y2, [1, 1, 1], 0.1, 0.1, [0.5], -1), "steps must be an integer >= 0, got -1"),
    (lambda: th.optimal_alpha(E2, Y2, Y2, 0.0), "ridge must be > 0.0, got 0.0"),
    (lambda: th.optimal_alpha(E2, [1.0], Y2, 0.1), "y must have shape (2,) like the Gram matrix gram, got (1,)"),
    (lambda: th.optimal_alpha(E2, Y2, [1.0], 0.1), "reference must have shape (2,) like the Gram matrix gram, got (1,)"),
    (lambda: th.optimal_alpha(E2, Y2, Y2, 0.1, previous_fit=[1.0]),
     "previous_fit must have shape (2,) like the Gram matrix gram, got (1,)"),
    (lambda: th.optimal_alpha(E2, Y2, Y2, 0.1, previous_fit=Y2),
     "optimal alpha is undefined: the step's fit does not depend on alpha (y equals the previous fit)"),
    (lambda: th.expected_optimal_alpha(E2, Y2, 0.1, 0.0), "ridge must be > 0.0, got 0.0"),
    (lambda: th.expected_optimal_alpha(E2, Y2, -0.1, 0.1), "noise_variance must be >= 0.0, got -0.1"),
    (lambda: th.expected_optimal_alpha(E2, [1.0], 0.1, 0.1), "f_train must have shape (2,) like the Gram matrix gram, got (1,)"),
    (lambda: th.expected_optimal_alpha(E2, Y2, 0.1, 0.1, C32), "f_test is required with cross_gram"),
    (lambda: th.expected_optimal_alpha(E2, Y2, 0.1, 0.1, np.ones((3, 3)), [1, 1, 1]),
     "cross_gram must have shape (m, 2), one column per row of gram, got (3, 3)"),
    (lambda: th.expected_optimal_alpha(E2, Y2, 0.1, 0.1, np.ones(2), [1, 1]),
     "cross_gram must be a 2-D array, got shape (2,)"),
    (lambda: th.expected_optimal_alpha(E2, Y2, 0.1, 0.1, C32, [1, 1]), "f_test must have shape (3,), one value per row of cross_gram, got (2,)"),
    (lambda: th.expected_optimal_alpha(np.zeros((2, 2)), [0.0, 0.0], 0.0, 0.1),
     "expected optimal alpha is undefined: the first student equals the teacher for every alpha"),
    (lambda: th.constraint_ridge([1.0], [1.0], 1, 0.0), "epsilon must be > 0.0, got 0.0"),
    (lambda: th.constraint_ridge([1.0], [1.0], 0, 0.1), "n_points must be an integer >= 1, got 0"),
    (lambda: th.constraint_ridge([1.0], [1.0], True, 0.1), "n_points must be an integer >= 1, got True"),
    (lambda: th.constraint_ridge([1.0], [1.0], 2.0, 0.1), "n_points must be an integer >= 1, got 2.0"),
    (lambda: th.constraint_ridge([1.0], [1.0, 2.0], 1, 0.1), "coordinates must have the shape of eigenvalues (1,), got (2,)"),
    (lambda: th.constraint_ridge([1.0], [np.nan], 1, 0.1), "coordinates must be finite, got a non-finite entry"),
    (lambda: th.constrained_rounds([1.0], [1.0], 1, 0.1, max_rounds=0), "max_rounds must be an integer >= 1, got 0"),
    (lambda: th.constrained_rounds([1.0], [1.0], 1, 0.1, max_rounds=True), "max_rounds must be an integer >= 1, got True"),
    (lambda: th.constrained_rounds([1.0], [1.0], 1, 0.1, max_rounds=2.0), "max_rounds must be an integer >= 1, got 2.0"),
    (lambda: th.collapse_round_bounds(-1.0, 1, 0.1), "initial_norm must be >= 0.0, got -1.0"),
    (lambda: th.collapse_round_bounds(1.0, 1, 0.0), "epsilon must be > 0.0, got 0.0"),
    (lambda: th.collapse_round_bounds(1.0, 0, 0.1), "n_points must be an integer >= 1, got 0"),
    (lambda: th.collapse_round_bounds(1.0, True, 0.1), "n_points must be an integer >= 1, got True"),
    (lambda: th.collapse_round_bounds(1.0, 1.0, 0.1), "n_points must be an integer >= 1, got 1.0"),
]


@pytest.mark.parametrize("call,message", CASES, ids=[m[:60] for _, m in CASES])
def test_error_message_names_the_parameter_and_the_allowed_range(call, message):
    with pytest.raises(ValueError, match=_exact(message)):
        call()


def test_names_of_non_numbers_appear_in_type_errors():
    with pytest.raises(TypeError, match=_exact("alpha must be a real number, got str")):
        th.limit_multipliers([1.0], 0.1, "a")
    with pytest.raises(TypeError, match=_exact("ridge must be a real number, got str")):
        th.smoother(E2, "a", 0.5, 1)
    with pytest.raises(TypeError, match=_exact("ridge must be a real number, got str")):
        th.limit_multipliers([1.0], "a", 0.5)


# --------------------------------------------------------------------------- boundaries, with dense references

def _krr(K, lam):
    return K @ np.linalg.inv(K + lam * np.eye(K.shape[0]))


def test_boundary_values_are_accepted():
    assert th.amplified_ridge(0.0, 1.0) == 0.0  # ridge 0 is allowed (>=)
    assert th.amplified_ridge(0.3, 1.5) == pytest.approx(0.2, rel=1e-15)
    assert th.collapse_round_bounds(0.0, 1, 0.1) == (0, 0)  # initial norm 0 is allowed
    assert th.constraint_ridge([1.0], [1.0], 1, 2.0) == math.inf  # ||z||^2 = 1 <= n eps = 2
    assert th.constrained_rounds([1.0], [1.0], 1, 2.0, max_rounds=1).collapse_round == 0
    # ridge exactly 0 with positive eigenvalues: the interpolating limit, multiplier 1
    np.testing.assert_array_equal(th.limit_multipliers([2.0, 1.0], 0.0, 0.5), [1.0, 1.0])
    np.testing.assert_array_equal(th.target_multipliers([2.0, 1.0], 0.0, 0.5, 0), [1.0, 1.0])
    np.testing.assert_array_equal(th.target_multipliers([2.0, 1.0], 0.5, 0.5, 0), [1.0, 1.0])


def test_limit_multipliers_diverge_exactly_at_rate_one():
    # alpha = -1, d = ridge: rate |1 - alpha| d/(d + ridge) = 2 * 1/2 = 1 exactly -> no limit
    with pytest.raises(ValueError, match="do not converge"):
        th.limit_multipliers([1.0], 1.0, -1.0)
    # just inside: KRR with ridge ridge/alpha, d/(d + ridge/alpha)
    np.testing.assert_allclose(th.limit_multipliers([1.0, 3.0], 1.0, 1.5), [1.0 / (1.0 + 1 / 1.5), 3.0 / (3.0 + 1 / 1.5)],
                               rtol=1e-14)


def test_limit_multipliers_collapse_and_shape():
    out = th.limit_multipliers([2.0, 1.0, 0.5], 0.3, 0.0)  # alpha 0: every step refits the previous fit -> 0
    np.testing.assert_array_equal(out, np.zeros(3))
    out = th.limit_multipliers([2.0, 1.0, 0.5], 0.3, 1.0)  # alpha 1: plain KRR
    np.testing.assert_allclose(out, np.array([2.0, 1.0, 0.5]) / (np.array([2.0, 1.0, 0.5]) + 0.3), rtol=1e-14)
    assert out.dtype == np.float64 and out.shape == (3,)


def test_gram_eigh_tolerates_rounding_sized_asymmetry_and_negativity():
    n = 3
    K = np.eye(n)
    # asymmetry of exactly 8 n eps * scale is tolerated, twice as much is not
    tol = 8 * n * np.finfo(float).eps
    Ka = K.copy()
    Ka[0, 1] += tol
    d, _ = th.gram_eigh(Ka)
    assert d.shape == (3,)
    Kb = K.copy()
    Kb[0, 1] += 2 * tol
    with pytest.raises(ValueError, match="symmetric"):
        th.gram_eigh(Kb)
    # the tolerance scales with the matrix: the same relative asymmetry of a 1e6-scaled matrix passes
    d, _ = th.gram_eigh(1e6 * Ka)
    assert d.max() == pytest.approx(1e6, rel=1e-9)


def test_gram_eigh_clips_rounding_negative_eigenvalues_and_sorts_descending():
    # rank-one Gram matrix v v^T: eigenvalues |v|^2 and (numerically) zero
    v = np.array([1.0, 1.0 / 3.0, 2.0 / 7.0])
    K = np.outer(v, v)
    d, V = th.gram_eigh(K)
    assert np.all(d >= 0.0)
    assert d[0] == pytest.approx(v @ v, rel=1e-14)
    assert np.all(np.diff(d) <= 0)
    np.testing.assert_allclose((V * d) @ V.T, K, atol=1e-15)
    # an eigenvalue below -n eps scale is an error, one just above is clipped to zero
    n = 2
    floor = n * np.finfo(float).eps
    d, _ = th.gram_eigh(np.diag([1.0, -0.5 * floor]))
    assert d[-1] == 0.0 and d[0] == 1.0
    with pytest.raises(ValueError, match="semi-definite"):
        th.gram_eigh(np.diag([1.0, -2 * floor]))
    # one-by-one matrices are fine
    d, V = th.gram_eigh([[4.0]])
    assert d[0] == 4.0 and abs(V[0, 0]) == 1.0


def test_rbf_kernel_of_integer_and_two_dimensional_inputs_against_loops():
    x = [[0, 1], [2, 3], [1, 1]]
    z = [[1, 0], [0, 0]]
    K = th.rbf_kernel(x, z, 0.25)
    ref = np.array([[math.exp(-0.25 * ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2)) for b in z] for a in x])
    np.testing.assert_allclose(K, ref, rtol=1e-15)
    assert K.dtype == np.float64
    K1 = th.rbf_kernel([0, 1, 3], [2], 0.5)  # 1-D inputs are columns
    np.testing.assert_allclose(K1[:, 0], [math.exp(-2.0), math.exp(-0.5), math.exp(-0.5)], rtol=1e-15)
    assert K1.shape == (3, 1)
    K2 = th.rbf_kernel(np.array([[0.0], [1.0]]), [0.0, 2.0], 1.0)  # 2-D x with 1-D z
    np.testing.assert_allclose(K2, [[1.0, math.exp(-4.0)], [math.exp(-1.0), math.exp(-1.0)]], rtol=1e-15)


def _gram(n=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    Z = rng.standard_normal((3, 2))
    return th.rbf_kernel(X, X, 0.7), th.rbf_kernel(Z, X, 0.7), rng.standard_normal(n), rng.standard_normal(3)


def _dense_students(K, C, lam, alpha, steps):
    """Train-point and test-point smoothers of every step by the plain recursion (dense solves)."""
    n = K.shape[0]
    A = np.linalg.inv(K + lam * np.eye(n))
    targets = np.eye(n)  # step 0 fits y itself
    out = []
    for _ in range(steps + 1):
        out.append((K @ A @ targets, C @ A @ targets))
        targets = alpha * np.eye(n) + (1 - alpha) * out[-1][0]
    return out


@pytest.mark.parametrize("alpha", [0.3, 1.4, -0.2])
def test_smoother_and_fits_equal_the_dense_recursion(alpha):
    K, C, y, _ = _gram()
    lam = 0.2
    dense = _dense_students(K, C, lam, alpha, 3)
    for step, (S_train, S_test) in enumerate(dense):
        np.testing.assert_allclose(th.smoother(K, lam, alpha, step), S_train, atol=1e-12)
        np.testing.assert_allclose(th.smoother(K, lam, alpha, step, C), S_test, atol=1e-12)
        np.testing.assert_allclose(th.distilled_fit(K, y, lam, alpha, step), S_train @ y, atol=1e-12)
        np.testing.assert_allclose(th.distilled_fit(K, y, lam, alpha, step, C), S_test @ y, atol=1e-12)


def test_limit_fit_equals_krr_with_the_amplified_ridge_also_for_integer_gram():
    K, C, y, _ = _gram()
    alpha, lam = 0.6, 0.25
    A = np.linalg.inv(K + lam / alpha * np.eye(4))
    np.testing.assert_allclose(th.limit_fit(K, y, lam, alpha), K @ A @ y, atol=1e-12)
    out = th.limit_fit(K, y, lam, alpha, C)
    np.testing.assert_allclose(out, C @ A @ y, atol=1e-12)
    assert out.dtype == np.float64
    # an integer Gram matrix (exact identity) and integer targets
    Ki = np.eye(3, dtype=int) * 2
    np.testing.assert_allclose(th.limit_fit(Ki, [1, 2, 3], 1, 1), np.array([1, 2, 3]) * 2 / 3, rtol=1e-15)
    np.testing.assert_allclose(th.limit_fit(Ki, [1, 2, 3], 1, 1, np.ones((2, 3), dtype=int)),
                               np.full(2, 6 / 3), rtol=1e-15)


def test_limit_fit_at_test_points_with_a_singular_gram():
    # duplicated training input: K has a zero eigenvalue; k(test, .) is then equal on both copies
    X = np.array([[0.0], [0.0], [1.0]])
    Z = np.array([[0.5], [2.0]])
    K = th.rbf_kernel(X, X, 1.0)
    C = th.rbf_kernel(Z, X, 1.0)
    y = np.array([1.0, 3.0, -1.0])
    alpha, lam = 0.5, 0.3
    ref = C @ np.linalg.solve(K + lam / alpha * np.eye(3), y)
    np.testing.assert_allclose(th.limit_fit(K, y, lam, alpha, C), ref, atol=1e-12)


def test_expected_risk_and_risks_against_dense_bias_and_variance():
    K, C, f, fs = _gram()
    lam, var = 0.2, 0.3
    alphas = [0.3, 1.2]
    grid = th.expected_risks(K, C, f, fs, var, lam, alphas, 2)
    assert grid.shape == (2, 3)
    for i, a in enumerate(alphas):
        for step, (_, S) in enumerate(_dense_students(K, C, lam, a, 2)):
            bias = S @ f - fs
            ref = (bias @ bias + var * np.sum(S * S)) / 3
            assert grid[i, step] == pytest.approx(ref, rel=1e-10)
            assert th.expected_risk(K, C, f, fs, var, lam, a, step) == pytest.approx(ref, rel=1e-10)
    # integer inputs and a scalar alpha give the same numbers
    one = th.expected_risks(K, C, f, fs, var, lam, 0.3, 2)
    np.testing.assert_allclose(one, grid[:1], rtol=1e-14)
    risks_int = th.expected_risks(np.eye(2, dtype=int), np.ones((1, 2), dtype=int), [1, 2], [3], 1, 1, [1], 0)
    # step 0, alpha irrelevant: S = C (K + I)^{-1} = [1/2, 1/2]; bias = 3/2 - 3; variance 1 * 1/2
    assert risks_int[0, 0] == pytest.approx((1.5 - 3) ** 2 + 0.5, rel=1e-15)


def test_optimal_alpha_with_a_previous_fit_against_brute_force():
    K, _, y, _ = _gram()
    lam = 0.4
    rng = np.random.default_rng(5)
    ref = rng.standard_normal(4)
    prev = rng.standard_normal(4)
    P = _krr(K, lam)
    # f(alpha) = P (alpha y + (1 - alpha) prev): quadratic, minimiser from the normal equation
    u, v = P @ prev, P @ (y - prev)
    expected = (ref - u) @ v / (v @ v)
    assert th.optimal_alpha(K, y, ref, lam, previous_fit=prev) == pytest.approx(expected, rel=1e-10)
    u, v = P @ (P @ y), P @ (y - P @ y)
    assert th.optimal_alpha(K, y, ref, lam) == pytest.approx((ref - u) @ v / (v @ v), rel=1e-10)


def test_expected_optimal_alpha_at_test_points_against_dense_expectation():
    K, C, f, fs = _gram()
    lam, var = 0.3, 0.2
    P, Q = _krr(K, lam), C @ np.linalg.inv(K + lam * np.eye(4))
    # f_1 = Q (alpha y + (1 - alpha) P y) = Q P y + alpha Q (I - P) y;  E over y = f + noise
    U, Vm = Q @ P, Q @ (np.eye(4) - P)
    M = np.outer(f, f) + var * np.eye(4)
    num = fs @ Vm @ f - np.trace(U.T @ Vm @ M)
    den = np.trace(Vm.T @ Vm @ M)
    assert th.expected_optimal_alpha(K, f, var, lam, C, fs) == pytest.approx(num / den, rel=1e-9)
    U, Vm = P @ P, P @ (np.eye(4) - P)
    num = f @ Vm @ f - np.trace(U.T @ Vm @ M)
    den = np.trace(Vm.T @ Vm @ M)
    assert th.expected_optimal_alpha(K, f, var, lam) == pytest.approx(num / den, rel=1e-9)


def test_collapse_round_bounds_hand_values():
    # r0 = ||y|| / sqrt(n eps)
    assert th.collapse_round_bounds(3.0, 1, 1.0) == (2, 8)  # r0 = 3: ceil(3) - 1, ceil(9) - 1
    assert th.collapse_round_bounds(1.0, 1, 1.0) == (0, 0)  # r0 = 1: no round needed
    assert th.collapse_round_bounds(2.5, 1, 1.0) == (2, 6)  # ceil(2.5) - 1 = 2, ceil(6.25) - 1 = 6
    assert th.collapse_round_bounds(4.0, 4, 1.0) == (1, 3)  # r0 = 2
    assert th.collapse_round_bounds(1.5, 1, 1.0) == (1, 2)


def test_constraint_ridge_solves_the_training_error_equation():
    d = np.array([2.0, 0.5, 0.0])
    z = np.array([1.0, 2.0, 0.5])
    for n, eps in ((2, 0.5), (1, 1.0)):
        c = th.constraint_ridge(d, z, n, eps)
        err = np.sum((c / (c + d) * z) ** 2) / n
        assert err == pytest.approx(eps, rel=1e-9)
    # a constraint below the unrepresentable part's error forces c = 0: interpolation is not enough
    assert th.constraint_ridge(d, z, 1, 0.2) == 0.0  # 0.5^2 = 0.25 > 0.2 in the null direction
    # large budgets need large ridges (the doubling search for the upper bracket)
    c = th.constraint_ridge([1.0], [1.0], 1, 1 - 1e-30)
    assert c > math.exp(50)


def test_limit_multipliers_ridgeless_with_a_zero_eigenvalue_and_shapes():
    with pytest.raises(ValueError, match=_exact("ridge must be > 0 when an eigenvalue is 0 (the kernel system is singular)")):
        th.limit_multipliers([1.0, 0.0], 0.0, 0.5)
    assert th.limit_multipliers([2.0, 1.0], 0.0, 0.5).shape == (2,)
    assert th.limit_multipliers([2.0, 1.0, 0.5], 0.3, 0.0).shape == (3,)


def _mp_student(d, ridge, alpha, step):
    """b_t by the defining recursion b_0 = a, b_{t+1} = a (alpha + (1 - alpha) b_t), a = d/(d + ridge), in mpmath."""
    import mpmath

    with mpmath.workdps(60):
        a = mpmath.mpf(d) / (mpmath.mpf(d) + mpmath.mpf(ridge))
        b = a
        for _ in range(step):
            b = a * (alpha + (1 - mpmath.mpf(alpha)) * b)
        return b


def _documented_student_error(d, ridge, alpha, step, ref, student=None, dps=60, h_exponent=-25):
    """student_multipliers' documented relative accuracy 10 u (1 + |t log|r|| + sum |d log b / d log p|), the
    log-derivatives by central differences (relative step 10^h_exponent) of the mpmath recursion ``student``
    (default :func:`_mp_student`) at ``dps`` digits."""
    import mpmath

    student = student or _mp_student
    with mpmath.workdps(dps):
        cond = 0
        h = mpmath.mpf(10) ** h_exponent
        for k in range(3):
            p = [mpmath.mpf(d), mpmath.mpf(ridge), mpmath.mpf(alpha)]
            if p[k] == 0:
                continue
            up, dn = list(p), list(p)
            up[k], dn[k] = p[k] * (1 + h), p[k] * (1 - h)
            cond += abs((student(*up, step) - student(*dn, step)) / (2 * h * ref))
        r = abs((1 - mpmath.mpf(alpha)) * mpmath.mpf(d) / (mpmath.mpf(d) + mpmath.mpf(ridge)))
        tlogr = abs(step * mpmath.log(r)) if r > 0 else 0
    return 10 * np.finfo(float).eps / 2 * (1 + float(tlogr) + float(cond))


@pytest.mark.parametrize("alpha", [-0.3, 0.0, 0.4, 1.0, 1.5, 2.2])
def test_student_multipliers_against_the_recursion_in_mpmath(alpha):
    ridge = 0.7
    ds = [3.0, 1.0, 0.2, 0.01]
    for step in (1, 2, 3, 6, 15):
        got = th.student_multipliers(ds, ridge, alpha, step)
        assert got.shape == (4,) and got.dtype == np.float64
        for d, g in zip(ds, got):
            ref = _mp_student(d, ridge, alpha, step)
            tol = _documented_student_error(d, ridge, alpha, step, ref)
            assert abs(g - float(ref)) <= tol * abs(float(ref)), (d, step, g, float(ref))


@pytest.mark.parametrize("alpha", [-1e30, -1e200, -1.7976931348623157e308, 1e300, 1.7976931348623157e308])
@pytest.mark.parametrize("ridge", [1e-20, 1e-3])
def test_student_multipliers_at_huge_alpha_against_the_recursion_in_mpmath(alpha, ridge):
    # regression: the split form L + r^t C was the lambdified sympy expression, whose expanded numerator of C times r^t
    # overflowed (|alpha| ~ 1e200), and the geometric form's alpha G + r^t cancels every digit when ridge/d < u
    # (a = 1 in doubles): alpha = -1.8e308, ridge 1e-20 gave 0 for -1.8e288, alpha = -1e200 was 17000x off
    ds = [1.0, 3.0]
    with np.errstate(all="raise"):  # and no numpy warning on the way
        got = th.student_multipliers(ds, ridge, alpha, 1)
    for d, g in zip(ds, got):
        ref = _mp_student(d, ridge, alpha, 1)
        assert abs(g - float(ref)) <= _documented_student_error(d, ridge, alpha, 1, ref) * abs(float(ref)), (d, g, ref)


def test_the_split_form_factor_by_factor_is_the_sympy_closed_form():
    # student_multipliers writes L + r^t C with q = alpha + ridge/d as L = alpha/q, C = a ((1 - alpha)/q) (ridge/d)
    a = th.d_sym / (th.d_sym + th.ridge_sym)
    q = th.alpha_sym + th.ridge_sym / th.d_sym
    L = th.alpha_sym / q
    assert sp.simplify(L - th.LIMIT_MULTIPLIER) == 0
    r = (1 - th.alpha_sym) * a
    C = a * ((1 - th.alpha_sym) / q) * (th.ridge_sym / th.d_sym)
    assert sp.simplify(L + r**th.step_sym * C - th.STUDENT_MULTIPLIER) == 0
    # the rival, C = a - L retyped with the wrong sign, is not the closed form
    assert sp.simplify(L + r**th.step_sym * (L - a) - th.STUDENT_MULTIPLIER) != 0


def test_student_multipliers_ridgeless_and_teacher_shapes():
    out = th.student_multipliers([2.0, 1.0], 0.0, 0.3, 4)
    np.testing.assert_array_equal(out, [1.0, 1.0])
    assert out.shape == (2,)
    # ridge 1 is an ordinary ridge: the teacher's d/(d + 1)
    np.testing.assert_allclose(th.student_multipliers([1.0, 3.0], 1.0, 0.3, 0), [0.5, 0.75], rtol=1e-15)
    np.testing.assert_allclose(th.student_multipliers([1.0, 3.0], 1.0, 0.3, 2),
                               [float(_mp_student(1.0, 1.0, 0.3, 2)), float(_mp_student(3.0, 1.0, 0.3, 2))], rtol=1e-14)


def test_constraint_ridge_below_the_first_bracket():
    # the error at c = e^-50 already exceeds the budget by a hair: the root lies below e^-50
    d = np.array([1.0])
    z = np.array([1.0])
    c_true = 1e-30  # error (c/(c + 1))^2 = eps  ->  c = sqrt(eps) / (1 - sqrt(eps))
    eps = (c_true / (c_true + 1.0)) ** 2
    c = th.constraint_ridge(d, z, 1, eps)
    assert c == pytest.approx(c_true, rel=1e-9)
    # a direction the kernel cannot represent with more mass than the budget: interpolation never suffices
    assert th.constraint_ridge([1.0, 0.0], [1.0, 2.0], 1, 3.0) == 0.0
    # ... and with less mass, a positive ridge meets the constraint exactly
    c = th.constraint_ridge([1.0, 0.0], [1.0, 1.0], 1, 1.25)
    assert (c / (c + 1.0)) ** 2 + 1.0 == pytest.approx(1.25, rel=1e-12)
    # a huge ridge: the doubling of the upper bracket (error -> ||z||^2 as c -> inf)
    c = th.constraint_ridge([1.0], [1.0], 1, 1.0 - 1e-40)
    assert c > math.exp(100)


def test_constrained_rounds_against_the_plain_iteration():
    d = np.array([2.0, 0.5, 0.1])
    z0 = np.array([1.0, -2.0, 0.5])
    res = th.constrained_rounds(d, z0, 3, 0.05)
    z, B = z0.copy(), np.ones(3)
    for t, c in enumerate(res.ridges):
        if math.isinf(c):
            assert res.collapse_round == t
            break
        assert np.sum((c / (c + d) * z) ** 2) / 3 == pytest.approx(0.05, rel=1e-9)
        B = B * d / (c + d)
        z = d / (c + d) * z
        np.testing.assert_allclose(res.diagonals[t], B, rtol=1e-14)
        assert res.norms[t + 1] == pytest.approx(np.linalg.norm(z), rel=1e-14)
    assert res.collapse_round is not None and res.diagonals.shape == (res.collapse_round, 3)
    assert res.norms[0] == pytest.approx(np.linalg.norm(z0), rel=1e-15)
    # collapsed at once: no diagonal rows, but the right width
    first = th.constrained_rounds(d, z0, 3, 10.0)
    assert first.collapse_round == 0 and first.diagonals.shape == (0, 3) and first.ridges.tolist() == [math.inf]
    # max_rounds stops before collapse: collapse_round None
    capped = th.constrained_rounds(d, z0, 3, 0.05, max_rounds=1)
    assert capped.collapse_round is None and len(capped.ridges) == 1


@pytest.mark.parametrize("call,kind,message", [
    (lambda: th.rbf_kernel("ab", [1.0], 1.0), TypeError, "x must be a 1-D or 2-D array of finite numbers, got 'ab'"),
    (lambda: th.expected_risk(E2, C32, Y2, [[1.0, 1.0, 1.0]], 0.1, 0.1, 0.5, 1), ValueError,
     "f_test must be a 1-D array, got shape (1, 3)"),
    (lambda: th.expected_risks(E2, C32, Y2, [1.0, 1.0, 1.0], 0.1, 0.1, [[0.5]], 1), ValueError,
     "alphas must be a 1-D array, got shape (1, 1)"),
])
def test_more_error_messages_in_full(call, kind, message):
    with pytest.raises(kind, match=_exact(message)):
        call()


# --------------------------------------------------------------------------- student multipliers where the evaluation matters

def _mp_affine_student(d, ridge, alpha, step):
    """b_step of the recursion b_0 = a, b_{t+1} = p + q b_t (p = a alpha, q = a (1 - alpha)), in mpmath.

    The recursion is an affine map; its step-fold composition is built by repeated squaring
    ((p, q) after (P, Q) is (p + q P, q Q)), exact algebra, so large steps cost log2(step) products.
    """
    import mpmath

    d, ridge, alpha = mpmath.mpf(d), mpmath.mpf(ridge), mpmath.mpf(alpha)
    a = d / (d + ridge)
    P, Q = mpmath.mpf(0), mpmath.mpf(1)  # the identity map
    p, q = a * alpha, a * (1 - alpha)
    while step:
        if step & 1:
            P, Q = p + q * P, q * Q
        p, q = p + q * p, q * q
        step >>= 1
    return P + Q * a


@pytest.mark.parametrize("d,ridge,alpha,step", [
    (0.5, 0.5, -1.0, 3),          # |r| = |1 - alpha| a = 1 exactly: G_t = t, b_t = 1/2 - t/2
    (1e-12, 1.0, 0.0, 7),         # r = a ~ 1e-12: log|r| from log(a), not log1p(m) with m ~ -1
    (0.1, 0.3, -3.0, 1),          # next to the split's pole alpha d + ridge = 0: the geometric form
    (1e-4, 1e-12, 100.0, 3),      # |r| >> 1: the geometric form cancels, the split L + r^t C does not
    (1.0, 1e-12, -1000.0, 7),
    (1.0, 1e-6, -1000.0, 2),
    (1e12, 1e-12, -1000.0, 7),
    (4e-8, 6e-12, -3e-9, 5000),   # |r| just above 1 over many steps
    (1e-300, 1.0, 1e308, 2),      # alpha G overflows: only the split is finite
])
def test_student_multipliers_choose_the_accurate_form_against_the_recursion(d, ridge, alpha, step):
    """Documented accuracy 10 u (1 + |t log|r|| + sum |d log b / d log p|) against the recursion in mpmath,
    at points where one of the two evaluations (geometric sum, split L + r^t C) loses many digits."""
    import mpmath

    with mpmath.workdps(90):
        ref = _mp_affine_student(d, ridge, alpha, step)
    tol = _documented_student_error(d, ridge, alpha, step, ref, student=_mp_affine_student, dps=90, h_exponent=-30)
    with np.errstate(over="ignore"):  # alpha = 1e308: the discarded geometric form overflows
        got = th.student_multipliers([d], ridge, alpha, step)
    assert got.shape == (1,) and np.isfinite(got[0])
    assert abs(got[0] - float(ref)) <= tol * abs(float(ref)), (got[0], float(ref), tol)


# --------------------------------------------------------------------------- memory guards (their size estimates and messages)

def _guard_message(names, n_bytes, values, limit):
    return (f"{names} too large: {values} needs about {float(n_bytes) / 2**30:.3g} GiB of arrays, more than the "
            f"{limit / 2**30:.3g} GiB of memory of this machine")


def test_rbf_kernel_memory_guard_counts_three_point_difference_arrays(monkeypatch):
    # x: 2 points, z: 5 points, 3 dimensions: the broadcast difference, its square and the kernel
    # are budgeted as three 2 x 5 x 3 float64 arrays (8 bytes each)
    x, z = np.zeros((2, 3)), np.ones((5, 3))
    need = 3 * 8 * 2 * 5 * 3
    monkeypatch.setattr(th._checks, "physical_memory", lambda: need)
    np.testing.assert_array_equal(th.rbf_kernel(x, z, 1.0), np.full((2, 5), math.exp(-3.0)))
    monkeypatch.setattr(th._checks, "physical_memory", lambda: need - 1)
    with pytest.raises(ValueError, match=_exact(_guard_message("x and z", need, "2 x 5 points in 3 dimensions", need - 1))):
        th.rbf_kernel(x, z, 1.0)


def test_expected_risks_memory_guard_counts_the_risk_grid(monkeypatch):
    # 2 alphas x (3 + 1) steps of float64 risks
    need = 8 * 2 * (3 + 1)
    args = (E2, C32, Y2, [1.0, 1.0, 1.0], 0.1, 0.1, [0.5, 1.5])
    monkeypatch.setattr(th._checks, "physical_memory", lambda: need)
    assert th.expected_risks(*args, 3).shape == (2, 4)
    monkeypatch.setattr(th._checks, "physical_memory", lambda: need - 1)
    with pytest.raises(ValueError, match=_exact(_guard_message("steps", need, "steps=3 (2 x (steps + 1) risks)", need - 1))):
        th.expected_risks(*args, 3)


# --------------------------------------------------------------------------- more exact messages and boundaries

@pytest.mark.parametrize("call,kind,message", [
    (lambda: th.rbf_kernel(None, [1.0], 1.0), TypeError, "x must be a 1-D or 2-D array of finite numbers, got None"),
    (lambda: th.rbf_kernel([[1.0, 2.0], [3.0]], [1.0], 1.0), TypeError,
     "x must be a 1-D or 2-D array of finite numbers, got [[1.0, 2.0], [3.0]]"),
    (lambda: th.rbf_kernel([1.0], ["a"], 1.0), TypeError, "z must be a 1-D or 2-D array of finite numbers, got ['a']"),
    # empty arrays are reported by their shape, like any other wrong shape
    (lambda: th.distilled_fit(E2, [], 0.1, 0.5, 1), ValueError, "y must have shape (2,) like the Gram matrix gram, got (0,)"),
    (lambda: th.expected_risk(E2, C32, Y2, [], 0.1, 0.1, 0.5, 1), ValueError,
     "f_test must have shape (3,), one value per row of cross_gram, got (0,)"),
    (lambda: th.constraint_ridge([1.0], [], 1, 0.1), ValueError, "coordinates must have the shape of eigenvalues (1,), got (0,)"),
    # the ridge is checked before the cross-Gram matrix
    (lambda: th.smoother(E2, -0.1, 0.5, 1, np.ones((3, 3))), ValueError, "ridge must be >= 0.0, got -0.1"),
    (lambda: th.smoother(E2, -0.1, 0.5, 0, np.ones((3, 3))), ValueError, "ridge must be >= 0.0, got -0.1"),
])
def test_even_more_error_messages_in_full(call, kind, message):
    with pytest.raises(kind, match=_exact(message)):
        call()


def test_gram_eigh_tolerances_at_their_exact_boundaries():
    eps = np.finfo(float).eps
    # asymmetry 8.5 n eps (n = 3, scale 1) is above the 8 n eps allowance
    K = np.eye(3)
    K[0, 1] = 8.5 * 3 * eps
    with pytest.raises(ValueError, match=_exact("gram must be symmetric")):
        th.gram_eigh(K)
    # an eigenvalue of exactly -n eps scale is still rounding: clipped to 0
    d, _ = th.gram_eigh(np.diag([1.0, -2 * eps]))
    np.testing.assert_array_equal(d, [1.0, 0.0])
    # the negativity floor grows with the matrix's scale: -n eps * 4 / 2 passes when the largest entry is 4
    d, _ = th.gram_eigh(np.diag([4.0, -4 * eps]))
    np.testing.assert_array_equal(d, [4.0, 0.0])


# --------------------------------------------------------------------------- constraint form: brackets and accuracy

def _one_direction_ridge(d, z, n, eps):
    """Root of (c/(c + d))^2 z^2 = n eps: c = d s / (|z| - s), s = sqrt(n eps), in mpmath."""
    import mpmath

    with mpmath.workdps(50):
        s = mpmath.sqrt(n * mpmath.mpf(eps))
        return d * s / (abs(mpmath.mpf(z)) - s)


@pytest.mark.parametrize("d,z,n,eps", [
    (1.0, 1.0, 1, 1e-60),    # roots far below the first bracket [e^-50, e^50]
    (1.0, 1.0, 1, 1e-150),
    (1.0, 1.0, 1, 1e-200),
    (0.25, -3.0, 1, 2.0),    # roots inside it
    (1.0, 2.0, 1, 1.5),
    (1e30, 1.0, 1, 0.5),     # a root above it: the upper end doubles
])
def test_constraint_ridge_to_brentq_accuracy(d, z, n, eps):
    """brentq on log c stops within 4 eps |log c| (its rtol); evaluating the training error adds a few eps
    (1 + c/d) to log c, the final exp one more: c is found to 4 eps (|log c| + 2 + c/d) relative."""
    import mpmath

    ref = _one_direction_ridge(d, z, n, eps)
    c = th.constraint_ridge([d], [z], n, eps)
    tol = 4 * np.finfo(float).eps * (abs(float(mpmath.log(ref))) + 2 + float(ref) / d)
    assert abs(c - float(ref)) <= tol * float(ref), (c, float(ref), tol)


def test_constrained_rounds_stop_after_a_thousand_rounds_by_default():
    # one direction: each round removes a residual of norm exactly sqrt(n eps) = 1, so ||y_t|| = 1000.5 - t
    # and the constraint is first met by f = 0 at round 1000, one past the default cap (rounds 0 .. 999)
    capped = th.constrained_rounds([1.0], [1000.5], 1, 1.0)
    assert capped.collapse_round is None and len(capped.ridges) == 1000
    assert th.constrained_rounds([1.0], [1000.5], 1, 1.0, max_rounds=1001).collapse_round == 1000


# --------------------------------------------------------------------------- full-run survivors: constraint form at its edges

@pytest.mark.parametrize("d,z,n,eps", [
    ([1.0, 0.0], [1.0, 1.0], 1, 1.0),     # the eigenvalue-0 direction holds exactly n eps = 1 of ||z||^2 = 2
    ([2.0, 0.0], [3.0, 0.5], 1, 0.25),    # 0.5^2 = 0.25 = n eps
    ([1.0, 0.0, 0.0], [1.0, 1.0, 1.0], 2, 1.0),
])
def test_constraint_ridge_is_exactly_zero_when_the_unrepresentable_part_meets_the_budget(d, z, n, eps):
    """Training error sum_k (c/(c + d_k))^2 z_k^2 = n eps with the d = 0 part alone equal to n eps (all binary
    fractions, exact): the other terms must vanish, so c = 0 exactly (c = e^-745 would be a wrong root)."""
    assert th.constraint_ridge(d, z, n, eps) == 0.0


def _clean(fn):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn()


@pytest.mark.parametrize("eps", [2.0**-180, 1e-60])
def test_constraint_ridge_below_the_first_bracket_with_a_zero_eigenvalue(eps):
    """Root below e^-50 (the lower bracket [e^-745, e^-50]) with an eigenvalue-0 direction of coordinate 0: the
    root is the one-direction root c = s/(1 - s), s = sqrt(eps) (mpmath), to brentq's accuracy as in
    test_constraint_ridge_to_brentq_accuracy; no warning (c/(c + d) must never be 0/0)."""
    import mpmath

    ref = _one_direction_ridge(1.0, 1.0, 1, eps)
    c = _clean(lambda: th.constraint_ridge([1.0, 0.0], [1.0, 0.0], 1, eps))
    tol = 4 * np.finfo(float).eps * (abs(float(mpmath.log(ref))) + 2 + float(ref))
    assert abs(c - float(ref)) <= tol * float(ref), (c, float(ref), tol)


@pytest.mark.parametrize("d,z,n,eps", [
    (1e200, 1.0, 1, 0.5),    # root 2.4e200 = e^461.7: the upper bracket grows past e^400
    (1e308, 1.0, 1, 0.01),   # root 1.1e307, near the top of the float range (c + d would overflow there)
    (1e300, -2.0, 3, 1.0),
])
def test_constraint_ridge_roots_high_in_the_float_range(d, z, n, eps):
    """Roots above e^400 (the upper end doubles 50, 100, 200, 400, then stops at log(max float)), against
    the one-direction root d s/(|z| - s) in mpmath, to the brentq accuracy of test_constraint_ridge_to_brentq_accuracy."""
    import mpmath

    ref = _one_direction_ridge(d, z, n, eps)
    c = _clean(lambda: th.constraint_ridge([d], [z], n, eps))
    tol = 4 * np.finfo(float).eps * (abs(float(mpmath.log(ref))) + 2 + float(ref) / d)
    assert abs(c - float(ref)) <= tol * float(ref), (c, float(ref), tol)


@pytest.mark.parametrize("d,z,n,eps", [
    (1.7976931348622732e308, 2.0, 1, 1.0),  # root c = d = e^log(max float), the top of the search, exactly at the budget
    (1.0, 1e-10, 1, 1e-320),                # a subnormal budget (it kept a few bits: 1.6e-5 relative)
    (1.0, 1.0, 1, 1e-320),                  # the same with |z| ~ 1 (a budget scaled by z's power of two underflowed)
    (1.0, 1.0, 3, 1e-320),                  # n epsilon itself subnormal: held as mantissa x power of two
    (1.0, 1.0, 1, 5e-324),                  # the smallest subnormal budget (0 was returned for 2.2e-162)
    (1.0, 1e150, 1, 3.792998807e-314),      # budget 2^-1050 z^2 (0 was returned for 1.9e-307)
    (1.0, 1e100, 2**600, 2.0**-600),        # n = 2^600: its power of two is part of the budget's (n epsilon = 1)
    (1.0, 5e-160, 1, 1e-320),               # coordinates whose squares underflow
    (2.0, 1e200, 1, 1e300),                 # coordinates whose squares overflow (z.z = inf)
])
def test_constraint_ridge_at_the_ends_of_the_float_range(d, z, n, eps):
    """Regressions, against the one-direction root in mpmath to the brentq accuracy of
    test_constraint_ridge_to_brentq_accuracy: the residual and budget are compared scaled by a power of two (exact),
    and a training error exactly at the budget at the top ridge is the root, not "a ridge above the float range"."""
    import mpmath

    ref = _one_direction_ridge(d, z, n, eps)
    c = _clean(lambda: th.constraint_ridge([d], [z], n, eps))
    tol = 4 * np.finfo(float).eps * (abs(float(mpmath.log(ref))) + 2 + float(ref) / d)
    assert abs(c - float(ref)) <= tol * float(ref), (c, float(ref), tol)


def test_constraint_ridge_above_the_float_range_is_an_error():
    # d = 1e308, z = 1, eps = 0.9: c = d s/(1 - s), s = sqrt(0.9) = 0.9487, is 1.8e309 > max float 1.8e308
    with pytest.raises(ValueError, match=_exact("epsilon=0.9 needs a ridge above the float range "
                                                "(largest eigenvalue 1e+308)")):
        th.constraint_ridge([1e308], [1.0], 1, 0.9)


# --------------------------------------------------------------------------- full-run survivors: limit_fit's zero eigenvalues

def _limit_fit_tolerance(C, K, y, rho, n):
    """Forward-error bound of C (K + rho I)^{-1} y by an eigendecomposition and three products, each backward
    stable to n u of its operands' norms, amplified by cond(K + rho I): fp_tolerance at scale
    ||C|| ||y|| / rho (||(K + rho I)^{-1}|| = 1/(d_min + rho) <= 1/rho), four repetitions."""
    from paper_checks.stats import condition_number, fp_tolerance

    scale = np.linalg.norm(C, 2) * np.linalg.norm(y) / rho
    return fp_tolerance(scale, condition=condition_number(K, rho), dimension=n, repetitions=4)


def test_limit_fit_at_test_points_keeps_the_zero_eigenvalue_direction():
    """KRR with the amplified ridge rho = ridge/alpha at test points is C (K + rho I)^{-1} y for any cross_gram,
    also along K's null space. By hand: K = [[1, 1], [1, 1]] (eigenvalues 2, 0), ridge 1/4, alpha 1/2, rho 1/2:
    (K + I/2)^{-1} = [[1.2, -0.8], [-0.8, 1.2]], times y = (1, 3): (-1.2, 2.8); C = [[1, 0], [1/2, 2]]: (-1.2, 5)."""
    K = np.array([[1.0, 1.0], [1.0, 1.0]])
    C = np.array([[1.0, 0.0], [0.5, 2.0]])
    y = np.array([1.0, 3.0])
    got = th.limit_fit(K, y, 0.25, 0.5, C)
    assert np.all(np.abs(got - [-1.2, 5.0]) <= _limit_fit_tolerance(C, K, y, 0.5, 2)), got
    # alpha 0: rho = inf, the collapsed limit is 0 in every direction
    np.testing.assert_array_equal(th.limit_fit(K, y, 0.25, 0.0, C), [0.0, 0.0])


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.7])
def test_limit_fit_with_near_duplicate_inputs_against_the_dense_solve(alpha):
    """Two training inputs 1e-9 apart: gram_eigh clips the smallest eigenvalue (~1e-18) to 0, but test points
    still see that direction (k(z, x_0) - k(z, x_1) ~ 1e-9): the dense solve C (K + (ridge/alpha) I)^{-1} y."""
    X = np.array([0.0, 1e-9, 1.0])
    K = th.rbf_kernel(X, X, 1.0)
    C = th.rbf_kernel(np.array([0.3, 0.7]), X, 1.0)
    y = np.array([1.0, -1.0, 0.5])
    rho = 0.3 / alpha
    ref = C @ np.linalg.solve(K + rho * np.eye(3), y)
    got = th.limit_fit(K, y, 0.3, alpha, C)
    assert np.all(np.abs(got - ref) <= _limit_fit_tolerance(C, K, y, rho, 3)), (got - ref)


def test_limit_fit_ridgeless_at_test_points():
    """ridge 0: the interpolant C K^{-1} y; K = diag(2, 4) by hand: C (1/2, 3/4) with y = (1, 3)."""
    C = np.array([[1.0, 2.0], [-1.0, 0.5]])
    got = th.limit_fit(np.diag([2.0, 4.0]), [1.0, 3.0], 0.0, 0.7, C)
    from paper_checks.stats import fp_tolerance

    assert np.all(np.abs(got - [2.0, -0.125]) <= fp_tolerance(np.abs(C) @ [0.5, 0.75], dimension=2, repetitions=4))


def test_eigenvalues_plus_ridge_beyond_the_float_range_is_a_clear_error():
    """d + ridge overflowed to inf and d/(d + ridge) read as 0 (true 1/2) with a warning; the largest sum a float
    holds is accepted: 1e308 + 7e307 = 1.7e308 gives 1e308/1.7e308 = 10/17 to rounding."""
    with pytest.raises(ValueError, match="^" + re.escape(
            "eigenvalues + ridge must stay below the float maximum 1.798e+308, got largest eigenvalue 1.5e+308 "
            "and ridge 1.5e+308") + "$"):
        th.student_multipliers([1.5e308], 1.5e308, 0.5, 0)
    got = float(th.student_multipliers([1e308], 7e307, 0.5, 0)[0])
    assert abs(got - 10 / 17) <= 2 * np.finfo(float).eps


# --------------------------------------------------------------------------- mutation survivors (sd slice): guards on their exact bounds

def test_overflow_message_of_eigenvalues_plus_ridge_emits_no_warning():
    """The float maximum in the message is that of float64 (1.798e+308, IEEE 754), formatted without any
    deprecation warning (numpy's finfo(None) warns and will raise)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=_exact(
                "eigenvalues + ridge must stay below the float maximum 1.798e+308, got largest eigenvalue 1e+308 "
                "and ridge 1e+308")):
            th.limit_multipliers([1e308], 1e308, 0.5)


def test_student_multipliers_overflow_guard_admits_its_exact_bound():
    """The guard raises only when |r|^t = exp(t log|r|) overflows, i.e. t log|r| > log(max float). On the bound:
    d = 1, ridge = 1e-160 (d + ridge = 1 in floats, so m = |r| - 1 = -alpha exactly) and alpha = -1.3407807929942066e154,
    a value next to -sqrt(max float) picked so that 2 log1p(-alpha) rounds to log(max float) exactly (asserted below):
    step 2 sits exactly on the bound, |r|^2 = 0.99999999999992 max float is finite, and so is b_2 ~ -1.8e148.
    Reference: the recursion b_0 = a, b_{t+1} = a (alpha + (1 - alpha) b_t) in mpmath; accuracy as documented,
    10 u (1 + t |log|r|| + sum |d log b / d log p|), the log-derivatives by central differences in mpmath."""
    import mpmath
    from paper_checks.stats import fp_tolerance

    d, ridge, alpha, step = 1.0, 1e-160, -1.3407807929942066e154, 2
    assert step * math.log1p(-alpha) == math.log(np.finfo(float).max)  # exactly on the guard's bound
    with mpmath.workdps(300):  # alpha G and r^t (~1e308) cancel to b_2 ~ 1e148: 160 digits go, 140 remain
        ref = _mp_affine_student(d, ridge, alpha, step)
        h = mpmath.mpf(10) ** -60
        cond = 0
        for k in range(3):
            p = [mpmath.mpf(d), mpmath.mpf(ridge), mpmath.mpf(alpha)]
            up, dn = list(p), list(p)
            up[k], dn[k] = p[k] * (1 + h), p[k] * (1 - h)
            cond += abs((_mp_affine_student(*up, step) - _mp_affine_student(*dn, step)) / (2 * h * ref))
        r = abs((1 - mpmath.mpf(alpha)) * d / (d + mpmath.mpf(ridge)))
        tlogr = abs(step * mpmath.log(r))
    got = th.student_multipliers([d], ridge, alpha, step)
    tol = fp_tolerance(float(ref), condition=1 + float(tlogr) + float(cond), repetitions=10)
    assert got.shape == (1,) and abs(got[0] - float(ref)) <= tol, (got[0], float(ref), tol)


def test_limit_fit_ridgeless_with_alpha_zero_at_test_points():
    """ridge 0 is the interpolating limit for every alpha (each step interpolates its targets), alpha = 0 included,
    where ridge/alpha is 0/0: the interpolant C K^{-1} y. By hand with K = diag(2, 4), y = (1, 3):
    K^{-1} y = (1/2, 3/4), C = [[1, 2], [-1, 1/2]] gives (2, -1/8)."""
    from paper_checks.stats import fp_tolerance

    C = np.array([[1.0, 2.0], [-1.0, 0.5]])
    got = th.limit_fit(np.diag([2.0, 4.0]), [1.0, 3.0], 0.0, 0.0, C)
    assert np.all(np.abs(got - [2.0, -0.125]) <= fp_tolerance(np.abs(C) @ [0.5, 0.75], dimension=2, repetitions=4)), got


# --------------------------------------------------------------------------- survivors of the factor-by-factor split form (student_multipliers)

@pytest.mark.parametrize("ridge,alpha,step", [
    (1e307, -3.0, 2),   # m = (3 d - ridge)/(d + ridge): 3 d = 3e308 overflows; the factored 3 a - ridge/(d + ridge) = 29/11
    (1e307, 4.0, 3),    # m = (2 d - ridge)/(d + ridge): 2 d = 2e308 overflows; m = 19/11, r = -3 a < 0 (alpha > 1)
])
def test_student_multipliers_where_alpha_times_d_overflows_against_the_recursion(ridge, alpha, step):
    """|r| - 1 = ((|1 - alpha| - 1) d - ridge)/(d + ridge) with (|1 - alpha| - 1) d beyond the float range for
    d = 1e308, although |r| = |1 - alpha| d/(d + ridge) = 40/11 (alpha -3) or 30/11 (alpha 4) is not: the factored
    (|1 - alpha| - 1) a - ridge/(d + ridge) must be taken there. ridge is a tenth of d, so its term ridge/(d + ridge)
    = 1/11 weighs in |r| - 1; the eigenvalue 1 next to it keeps the plain form. Against the recursion in mpmath, to the
    documented accuracy (_documented_student_error). Kills the factored form's mutants (sign of the ridge term, its
    quotient, the alpha - 2 shift for alpha > 1)."""
    ds = [1e308, 1.0]
    got = th.student_multipliers(ds, ridge, alpha, step)
    assert got.shape == (2,)
    for d, g in zip(ds, got):
        ref = _mp_student(d, ridge, alpha, step)
        assert abs(g - float(ref)) <= _documented_student_error(d, ridge, alpha, step, ref) * abs(float(ref)), (d, g, ref)


@pytest.mark.parametrize("d,ridge,alpha,step", [
    (2.0, 1.0 + 2.0**-30, -0.5, 2),    # alpha d + ridge = 2^-30 > 0, just above the split's pole: b_2 ~ -3e-10
    (1.0, 0.5 + 2.0**-40, -0.5, 1),    # alpha d + ridge = 2^-40 > 0: L = alpha/q ~ -5.5e11 against b_1 = 1/3
    (1.0, 0.5, -0.5 - 2.0**-40, 2),    # alpha d + ridge = -2^-40 < 0, just below the pole: b_2 ~ -6e-13
    (1e9, 1.0, -10.0, 5),              # far from the pole, |r| = 11: alpha G and r^t cancel 1.6e5 to b ~ 1
])
def test_student_multipliers_pick_the_accurate_form_by_the_loss_estimates(d, ridge, alpha, step):
    """Where one form loses many digits the choice between the geometric sum a (alpha G + r^t) and the split
    L + r^t C must pick the other: near the pole alpha d + ridge = 0 (q = alpha + ridge/d ~ 0) L and r^t C are
    ~1/|q| and cancel to b, and the pole factor (|alpha| + ridge/d)/|q| measures q's own rounding (on both sides of
    the pole); far from it at large d the geometric terms cancel while the split, with pole factor ~1, does not.
    Against the recursion in mpmath, to the documented accuracy (_documented_student_error); a wrong estimate picks
    the cancelling form, 1e4..1e11 times the bound off. Kills the pole factor's and the split loss's mutants."""
    got = th.student_multipliers([d], ridge, alpha, step)
    ref = _mp_student(d, ridge, alpha, step)
    assert got.shape == (1,)
    assert abs(got[0] - float(ref)) <= _documented_student_error(d, ridge, alpha, step, ref) * abs(float(ref)), (got[0], ref)


@pytest.mark.parametrize("z,collapsed", [(1e-200, True), (1e-10, False)])
def test_constraint_ridge_collapse_compares_across_the_float_range(z, collapsed):
    # n = 2^1000 and epsilon = 5e-324 = 2^-1074: n epsilon = 2^-74 exactly, held as 2^999 x 2^-1073. ||z||^2 = 1e-400
    # (below the float range) meets it, so the zero function is the answer (inf); 1e-20 does not, and the root is the
    # one-direction root in mpmath. Both terms are compared divided by the larger one's power of two (a scale taken
    # from the residual alone overflowed 2^999 x 2^-1073 x 2^1328)
    n, eps = 2**1000, 5e-324
    c = _clean(lambda: th.constraint_ridge([1.0], [z], n, eps))
    if collapsed:
        assert c == math.inf
    else:
        import mpmath

        ref = _one_direction_ridge(1.0, z, n, eps)
        tol = 4 * np.finfo(float).eps * (abs(float(mpmath.log(ref))) + 2 + float(ref))
        assert abs(c - float(ref)) <= tol * float(ref), (c, float(ref), tol)
