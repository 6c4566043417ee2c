"""theory.random_features: exact error messages, boundary values, and the fixed point and optimal
ridge against independent computations (a scalar root of the paper's equations, a brute-force scan)."""

import math
import re

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from theory import random_features as rf


def _exact(text):
    return "^" + re.escape(text) + "$"


LAM = [1.0, 0.5, 0.25]
V = [1.0, 0.5, 0.3]

CASES = [
    (lambda: rf.test_risk([1.0, -1.0], [1.0, 1.0], 0.1, 5, 10, 0.1), "eigenvalues must be >= 0, got a minimum of -1.0"),
    (lambda: rf.test_risk([[1.0]], [1.0], 0.1, 5, 10, 0.1), "eigenvalues must be a non-empty 1-D array, got shape (1, 1)"),
    (lambda: rf.test_risk([], [], 0.1, 5, 10, 0.1), "eigenvalues must be a non-empty 1-D array, got shape (0,)"),
    (lambda: rf.test_risk([1.0, np.inf], [1.0, 1.0], 0.1, 5, 10, 0.1), "eigenvalues must be finite"),
    (lambda: rf.test_risk(["a"], [1.0], 0.1, 5, 10, 0.1), "eigenvalues must be a 1-D array of finite numbers, got ['a']"),
    (lambda: rf.test_risk([0.0, 0.0], [1.0, 1.0], 0.1, 5, 10, 0.1), "eigenvalues must include at least one positive value"),
    (lambda: rf.test_risk(LAM, [1.0], 0.1, 5, 10, 0.1), "target_coefficients must have the length of eigenvalues (3), got 1"),
    (lambda: rf.test_risk(LAM, V, 0.1, 5, 10, 0.1, [1.0, 1.0]), "multiplicities must have the length of eigenvalues (3), got 2"),
    (lambda: rf.test_risk(LAM, V, 0.1, 5, 10, 0.1, [1.0, 0.0, 1.0]), "multiplicities must be > 0, got a minimum of 0.0"),
    (lambda: rf.test_risk(LAM, V, -0.1, 5, 10, 0.1), "noise_variance must be >= 0.0, got -0.1"),
    (lambda: rf.test_risk(LAM, V, 0.1, 0.5, 10, 0.1), "n must be a finite number >= 1, got 0.5"),
    (lambda: rf.test_risk(LAM, V, 0.1, True, 10, 0.1), "n must be a finite number >= 1, got True"),
    (lambda: rf.test_risk(LAM, V, 0.1, math.nan, 10, 0.1), "n must be a finite number >= 1, got nan"),
    (lambda: rf.test_risk(LAM, V, 0.1, "5", 10, 0.1), "n must be a finite number >= 1, got '5'"),
    (lambda: rf.test_risk(LAM, V, 0.1, 5, 0.5, 0.1), "features must be a number >= 1 or math.inf, got 0.5"),
    (lambda: rf.test_risk(LAM, V, 0.1, 5, True, 0.1), "features must be a number >= 1 or math.inf, got True"),
    (lambda: rf.test_risk(LAM, V, 0.1, 5, math.nan, 0.1), "features must be a number >= 1 or math.inf, got nan"),
    (lambda: rf.test_risk(LAM, V, 0.1, 5, "10", 0.1), "features must be a number >= 1 or math.inf, got '10'"),
    (lambda: rf.test_risk(LAM, V, 0.1, 5, 10, -0.1), "ridge must be >= 0.0, got -0.1"),
    (lambda: rf.effective_regularization([1.0, -1.0], 5, 10, 0.1), "eigenvalues must be >= 0, got a minimum of -1.0"),
    (lambda: rf.optimal_ridge(LAM, [1.0], 0.1, 5, 10), "target_coefficients must have the length of eigenvalues (3), got 1"),
    (lambda: rf.power_law(0.0, 1.0, 3), "alpha must be > 0.0, got 0.0"),
    (lambda: rf.power_law(1.5, math.inf, 3), "beta must be finite, got inf"),
    (lambda: rf.power_law(1.5, 1.0, 0), "modes must be an integer >= 1, got 0"),
    (lambda: rf.power_law(1.0, 1.5, 3, tail=True), "tail=True needs alpha > 1 and beta > 1, got alpha=1.0, beta=1.5"),
    (lambda: rf.power_law(1.5, 1.0, 3, tail=True), "tail=True needs alpha > 1 and beta > 1, got alpha=1.5, beta=1.0"),
    (lambda: rf.powerlaw_risk(0.5, 1.0, 1.5, 10), "alpha must be > 1.0, got 1.0"),
    (lambda: rf.powerlaw_risk(0.5, 1.5, 1.0, 10), "beta must be > 1.0, got 1.0"),
    (lambda: rf.powerlaw_risk(0.5, 1.5, 4.0, 10), "beta must be < 2 alpha + 1 = 4.0 for the continuum power law, got 4.0"),
    (lambda: rf.powerlaw_risk(1.0, 1.5, 2.0, 10), "s must be < 1.0, got 1.0"),
    (lambda: rf.powerlaw_risk(-0.1, 1.5, 2.0, 10), "s must be >= 0.0, got -0.1"),
    (lambda: rf.powerlaw_risk(0.5, 1.5, 2.0, 0.5), "n must be a finite number >= 1, got 0.5"),
    (lambda: rf.powerlaw_risk(0.5, 1.5, 2.0, 10, -1.0), "noise_variance must be >= 0.0, got -1.0"),
    (lambda: rf.powerlaw_optimal_fitting_ratio(1.5, 2.0, -1.0), "noise_variance must be >= 0.0, got -1.0"),
    (lambda: rf.powerlaw_optimal_fitting_ratio(1.5, 2.0, 0.1, 0.5), "n must be a finite number >= 1, got 0.5"),
    (lambda: rf.powerlaw_optimal_fitting_ratio(1.0, 2.0), "alpha must be > 1.0, got 1.0"),
]


@pytest.mark.parametrize("call,message", CASES, ids=[m[:60] for _, m in CASES])
def test_error_message_names_the_parameter_and_the_allowed_range(call, message):
    with pytest.raises(ValueError, match=_exact(message)):
        call()


def test_boundary_values_are_accepted():
    assert rf.test_risk(LAM, V, 0.0, 1, 1, 0.1) > 0  # n = 1, N = 1, no noise
    assert rf.test_risk(LAM, V, 0.1, 5, math.inf, 0.0) > 0  # KRR, ridgeless
    lam, v = rf.power_law(0.5, -1.0, 1)  # alpha just needs to be positive, beta any real, one mode
    assert lam.tolist() == [1.0] and v.tolist() == [1.0]
    assert rf.powerlaw_risk(0.0, 1.5, 2.0, 1) > 0
    np.testing.assert_array_equal(rf.test_risk([1.0, 0.0], [1.0, 1.0], 0.1, 5, 10, 0.1, [1.0, 2.0]) > 0, True)


# --------------------------------------------------------------------------- the fixed point, independently

def _fixed_point(lam, w, n, N, ridge):
    """gamma from delta = kappa (n - z), kappa = gamma (1 - z/N), z = sum w lam/(lam + gamma): a scalar root."""
    lam, w = np.asarray(lam, float), np.asarray(w, float)

    def z(g):
        return float(np.sum(w * lam / (lam + g)))

    def excess(lg):
        g = math.exp(lg)
        kappa = g * (1 - z(g) / N) if math.isfinite(N) else g
        return kappa * (n - z(g)) - ridge

    r = min(n, N)
    # the domain starts where z(gamma) = min(n, N) (gamma_0; 0 when the rank is smaller): there delta = 0
    lo = brentq(lambda lg: z(math.exp(lg)) - r, -60.0, 60.0, xtol=1e-15) if w[lam > 0].sum() > r else -60.0
    g = math.exp(brentq(excess, lo + 1e-12, 60.0, xtol=1e-14, rtol=1e-15))
    kappa = g * (1 - z(g) / N) if math.isfinite(N) else g
    return kappa, g


@pytest.mark.parametrize("n,N,ridge", [(3.0, 10.0, 0.05), (8.0, 4.0, 0.2), (5.0, math.inf, 0.01), (2.0, 2.5, 1.0)])
def test_effective_regularization_solves_the_fixed_point_equations(n, N, ridge):
    lam = [2.0, 1.0, 0.5, 0.25, 0.1]
    kappa, gamma = rf.effective_regularization(lam, n, N, ridge, multiplicities=[1, 2, 1, 3, 1])
    k_ref, g_ref = _fixed_point(lam, [1, 2, 1, 3, 1], n, N, ridge)
    assert gamma == pytest.approx(g_ref, rel=1e-9)
    assert kappa == pytest.approx(k_ref, rel=1e-9)


def test_test_and_train_risk_from_the_paper_formulas():
    lam = np.array([1.0, 0.4, 0.1])
    v = np.array([0.8, -0.5, 0.3])
    n, N, ridge, noise = 2.0, 6.0, 0.05, 0.1
    kappa, gamma = _fixed_point(lam, np.ones(3), n, N, ridge)
    L = lam / (lam + gamma)
    z, q = L.sum(), (L * L).sum()
    # random features: x = (q/n)... E0 = 1/(1 - x), x from the paper's form; B_i = (1 - L_i)(1 - L_i (N - z)/(N - q))
    ratio = (N - z) / (N - q)
    one_minus_x = (n - z) / n + (z - q) * ratio / n
    B = (1 - L) * (1 - L * ratio)
    test = (B @ (v * v) + noise) / one_minus_x
    assert rf.test_risk(lam, v, noise, n, N, ridge) == pytest.approx(test, rel=1e-9)
    assert rf.train_risk(lam, v, noise, n, N, ridge) == pytest.approx((ridge / (n * kappa)) ** 2 * test, rel=1e-8)


def test_effective_regularization_ignores_the_targets_and_noise():
    a = rf.eigenframework([1.0, 0.3], [0.0, 0.0], 0.0, 3, 5, 0.1)
    b = rf.eigenframework([1.0, 0.3], [2.0, 1.0], 4.0, 3, 5, 0.1)
    assert (a.kappa, a.gamma) == (b.kappa, b.gamma) == rf.effective_regularization([1.0, 0.3], 3, 5, 0.1)


def test_optimal_ridge_against_a_brute_force_scan():
    lam, v = rf.power_law(1.5, 1.8, 40)
    for noise in (0.0, 0.05, 1.0):
        ridge, risk = rf.optimal_ridge(lam, v, noise, 10, 30)
        grid = np.logspace(-8, 2, 401)
        vals = [rf.test_risk(lam, v, noise, 10, 30, r) for r in grid]
        k = int(np.argmin(vals))
        lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
        res = minimize_scalar(lambda lr: rf.test_risk(lam, v, noise, 10, 30, math.exp(lr)),
                              bounds=(math.log(lo), math.log(hi)), method="bounded", options={"xatol": 1e-10})
        best = min(res.fun, min(vals), rf.test_risk(lam, v, noise, 10, 30, 0.0))
        assert risk <= best * (1 + 1e-9)
        assert risk == pytest.approx(rf.test_risk(lam, v, noise, 10, 30, ridge), rel=1e-9)


def test_optimal_ridge_is_exactly_zero_when_the_ridgeless_end_wins():
    # noiseless target on the leading modes only, many samples: interpolation is optimal
    lam = [1.0, 0.5, 0.25, 0.125]
    ridge, risk = rf.optimal_ridge(lam, [1.0, 1.0, 0.0, 0.0], 0.0, 20, math.inf)
    assert ridge == 0.0 and risk == 0.0
    full = rf.optimal_ridge(lam, [1.0, 1.0, 0.0, 0.0], 0.0, 20, math.inf, full=True)
    assert isinstance(full, rf.Eigenframework) and full.ridge == 0.0


def test_optimal_ridge_with_zero_eigenvalues_and_high_rank():
    # a zero eigenvalue in the spectrum and n above the rank: gamma_0 = 0 and the scan starts below lam_min
    lam = [1.0, 0.01, 0.0]
    v = [1.0, 0.5, 0.5]
    ridge, risk = rf.optimal_ridge(lam, v, 0.2, 10, math.inf)
    scan = min(rf.test_risk(lam, v, 0.2, 10, math.inf, r) for r in np.logspace(-12, 3, 301))
    assert risk <= scan * (1 + 1e-9)


def test_power_law_values_and_tail_quadrature():
    lam, v = rf.power_law(2.0, 3.0, 4)
    np.testing.assert_allclose(lam, [1.0, 1 / 4, 1 / 9, 1 / 16], rtol=1e-15)
    np.testing.assert_allclose(v, [1.0, 2**-1.5, 3**-1.5, 4**-1.5], rtol=1e-15)
    lam, v, w = rf.power_law(2.0, 3.0, 4, tail=True)
    assert lam.size == v.size == w.size == 4 + rf.TAIL_NODES
    np.testing.assert_array_equal(w[:4], np.ones(4))
    # the tail stands for i > 4.5: sum of multiplicities over the tail of i^-2 equals int_4.5^inf i^-2 di
    tail = slice(4, None)
    assert np.sum(w[tail] * lam[tail]) == pytest.approx(1 / 4.5, rel=1e-10)
    assert np.sum(v[tail] ** 2) == pytest.approx(1 / (2 * 4.5**2), rel=1e-10)  # int i^-3 = 1/(2 x^2)


def test_train_risk_with_multiplicities_equals_the_repeated_spectrum():
    # an eigenvalue of multiplicity 2 with total target mass v^2 = 0.5 equals two modes of mass 0.25 each
    lam_m, v_m, w = [1.0, 0.3], [1.0, math.sqrt(0.5)], [1.0, 2.0]
    lam_r, v_r = [1.0, 0.3, 0.3], [1.0, 0.5, 0.5]
    for fn in (rf.train_risk, rf.test_risk):
        assert fn(lam_m, v_m, 0.1, 4, 9, 0.05, w) == pytest.approx(fn(lam_r, v_r, 0.1, 4, 9, 0.05), rel=1e-12)


def test_ridgeless_at_n_equal_to_features_equal_to_rank_is_the_interpolation_peak():
    # n = N = rank = 2 at ridge 0: E_0 is infinite (the double-descent peak), not a division by zero
    lam, v = [1.0, 0.5], [1.0, 0.5]
    ef = rf.eigenframework(lam, v, 0.1, 2, 2, 0.0)
    assert ef.overfitting == math.inf and ef.test == math.inf and ef.train == 0.0
    # the limit ridge -> 0+ diverges the same way (independent evidence: the risk grows without bound)
    risks = [rf.test_risk(lam, v, 0.1, 2, 2, r) for r in (1e-4, 1e-8, 1e-12)]
    assert risks[0] < risks[1] < risks[2] and risks[2] > 100 * risks[0]
    # noiseless, the target inside the span: nothing to amplify
    assert rf.test_risk(lam, v, 0.0, 2, 2, 0.0) == 0.0


def test_tail_flag_is_named():
    with pytest.raises(TypeError, match=_exact("tail must be True or False, got 1")):
        rf.power_law(1.5, 2.0, 3, tail=1)
