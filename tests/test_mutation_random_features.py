"""theory.random_features: exact error messages, boundary values, and the fixed point and optimal
ridge against independent computations (a scalar root of the paper's equations, a brute-force scan)."""

import math
import re

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from paper_checks import stats
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


# --------------------------------------------------------------------------- added for the surviving mutants

U = np.finfo(float).eps / 2  # unit roundoff


def _ridgeless_reference(lam, v, noise, n, w=None):
    """KRR at zero ridge with min(n, N) >= rank: gamma_0 = 0, every positive mode learned (L = 1), the
    others not (L = 0); z = q = rank, E_0 = n / (n - rank), bias = target mass on the zero eigenvalues."""
    lam, v = np.asarray(lam, float), np.asarray(v, float)
    w = np.ones_like(lam) if w is None else np.asarray(w, float)
    rank = float(w[lam > 0].sum())
    e0 = n / (n - rank)
    bias = float((v[lam == 0] ** 2).sum())
    test = e0 * (bias + noise)
    return rank, e0, bias, test, ((n - rank) / n) ** 2 * test


def test_optimal_ridge_full_flag_is_named():
    with pytest.raises(TypeError, match=_exact("full must be True or False, got 1")):
        rf.optimal_ridge(LAM, V, 0.1, 5, 10, full=1)


def test_zero_eigenvalues_are_outside_the_rank_at_zero_ridge():
    # rank 1 (the zero eigenvalue does not count), 1 < n = 1.5 < 2 entries: not interpolating
    rank, e0, bias, test, train = _ridgeless_reference([1.0, 0.0], [1.0, 1.0], 0.1, 1.5)
    ef = rf.eigenframework([1.0, 0.0], [1.0, 1.0], 0.1, 1.5, math.inf, 0.0)
    np.testing.assert_array_equal(ef.learnabilities, [1.0, 0.0])
    tol = 8 * U  # a few roundings of the explicit formulas
    assert ef.overfitting == pytest.approx(e0, rel=tol) and ef.bias == bias
    assert ef.test == pytest.approx(test, rel=tol) and ef.train == pytest.approx(train, rel=tol)
    assert train > 0


def test_ridgeless_above_the_rank_is_least_squares_with_training_error():
    # n = 3 > rank = 2, N = inf, zero ridge: E_te = sigma^2 n / (n - rank), E_tr = sigma^2 (n - rank) / n
    lam, v, noise = [1.0, 0.5], [1.0, 0.5], 0.1
    rank, e0, bias, test, train = _ridgeless_reference(lam, v, noise, 3.0)
    ef = rf.eigenframework(lam, v, noise, 3, math.inf, 0.0)
    tol = 8 * U
    assert ef.test == pytest.approx(test, rel=tol)
    assert ef.train == pytest.approx(train, rel=tol) and train == pytest.approx(noise * (3 - rank) / 3, rel=tol)
    # an overflowing risk: E_te = 2 * 1e308 is inf, and E_tr = ((n - z)/n)^2 E_te = inf too (not 0, not nan)
    big = rf.eigenframework([1.0], [1.0], 1e308, 2, math.inf, 0.0)
    assert big.test == math.inf and big.train == math.inf


def test_learnabilities_are_returned_at_the_fixed_point():
    lam, w = [2.0, 1.0, 0.5, 0.25, 0.1], [1, 2, 1, 3, 1]
    ef = rf.eigenframework(lam, [1.0] * 5, 0.1, 3.0, 10.0, 0.05, w)
    _, g_ref = _fixed_point(lam, w, 3.0, 10.0, 0.05)
    lam = np.asarray(lam)
    np.testing.assert_allclose(ef.learnabilities, lam / (lam + g_ref), rtol=1e-9)


def test_nothing_to_learn_gives_zero_risk_and_a_zero_optimal_ridge():
    # zero target, zero noise: every ridge has risk 0 (even at n = N, where E_0 is infinite); ties go to ridge 0
    lam = [1.0, 0.5, 0.25, 0.125, 0.0625]
    assert rf.optimal_ridge(lam, [0.0] * 5, 0.0, 2, 2) == (0.0, 0.0)
    assert rf.optimal_ridge(lam, [0.0] * 5, 0.0, 2, 7) == (0.0, 0.0)
    assert rf.optimal_ridge(lam, [0.0] * 5, 0.0, 7, math.inf) == (0.0, 0.0)  # n above the rank: gamma_0 = 0


def test_pure_noise_is_best_fitted_by_an_infinite_ridge():
    # zero target with noise: E_te = sigma^2 E_0, and E_0 = 1/(1 - x) decreases to 1 as the ridge grows;
    # the optimum is at the top of the scan, with a risk at most that of any ridge of a scan
    lam, noise = [1.0, 0.5, 0.25, 0.125, 0.0625], 0.3
    ridge, risk = rf.optimal_ridge(lam, [0.0] * 5, noise, 3, 10)
    scan = [rf.test_risk(lam, [0.0] * 5, noise, 3, 10, r) for r in np.logspace(-4, 8, 25)]
    # E_0 >= 1 exactly; the computed risk may fall below sigma^2 by the rounding of the sums over the modes
    tol = stats.fp_tolerance(noise, dimension=len(lam), repetitions=4)
    assert noise - tol <= risk <= min(scan) + tol and ridge > 1e6


@pytest.mark.parametrize("lam,n", [([1.0, 0.6, 0.3], 2), ([2.0, 1.0, 0.5, 0.25], 1)])
def test_ridgeless_at_n_equal_to_features_below_the_rank(lam, n):
    # n = N < rank, zero ridge: the interpolation peak (E_0 infinite) with kappa = gamma_0 (1 - n/N) = 0 and ridge 0
    ef = rf.eigenframework(lam, [1.0] * len(lam), 0.1, n, n, 0.0)
    lam = np.asarray(lam)
    g0 = math.exp(brentq(lambda lg: float(np.sum(lam / (lam + math.exp(lg)))) - n, -30.0, 30.0, xtol=1e-15))
    assert ef.gamma == pytest.approx(g0, rel=1e-9)
    assert ef.kappa == 0.0 and ef.ridge == 0.0 and ef.train == 0.0
    assert ef.overfitting == math.inf and ef.test == math.inf


def test_power_law_refuses_more_modes_than_memory_holds():
    # four float64 arrays of `modes` entries: 32 bytes per mode, against the machine's physical memory
    import os

    modes = 10**15
    limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 32 * modes > limit  # far beyond any machine this runs on
    message = (f"modes too large: modes={modes} (arrays of modes entries) needs about {32 * modes / 2**30:.3g} GiB "
               f"of arrays, more than the {limit / 2**30:.3g} GiB of memory of this machine")
    with pytest.raises(ValueError, match=_exact(message)):
        rf.power_law(1.5, 2.0, modes)


def test_power_law_tail_masses_are_gauss_legendre_weights_when_beta_is_the_smaller_exponent():
    # with p = 1/(beta - 1) the substitution i = (M + 1/2) u^-p makes the integrand of the target mass
    # constant in u: each tail node then carries its Gauss-Legendre weight (on [0, 1]) times the exact
    # integral int_{M+1/2}^inf i^-beta di = (M + 1/2)^(1 - beta) / (beta - 1)
    alpha, beta, modes = 2.5, 1.7, 6
    _, v, _ = rf.power_law(alpha, beta, modes, tail=True)
    x, wq = np.polynomial.legendre.leggauss(rf.TAIL_NODES)
    expected = 0.5 * wq * (modes + 0.5) ** (1 - beta) / (beta - 1)
    # rounding: powers u^-p, u^(-p-1), i^-beta amplify relative errors by their exponent times |log base|
    u, p = 0.5 * (x + 1.0), 1.0 / (beta - 1.0)
    condition = float(np.max((2 * p + 2) * np.abs(np.log(u)) + beta * np.log(modes + 0.5)))
    np.testing.assert_allclose(v[modes:] ** 2, expected, rtol=stats.fp_tolerance(1.0, condition=condition, repetitions=4))


def test_powerlaw_defaults_are_no_noise_and_one_sample():
    assert rf.powerlaw_risk(0.3, 2.0, 1.5, 10) == rf.powerlaw_risk(0.3, 2.0, 1.5, 10, noise_variance=0.0)
    assert rf.powerlaw_optimal_fitting_ratio(3.0, 2.0, 1.0) == rf.powerlaw_optimal_fitting_ratio(3.0, 2.0, 1.0, n=1.0)


def _continuum_log_risk_slope(alpha, beta, noise, n):
    """d log E / ds of E(s) = alpha/(1 + (alpha - 1) s) (A n^(1-beta) (1-s)^(1-beta) + sigma^2), with
    A = I(2 alpha - beta + 1, 2) / I(1, 1)^(1 - beta) from quadrature (I(a, b) = int_0^inf u^(a-1) (1+u^alpha)^-b du)."""
    from scipy import integrate

    def I(a, b):
        return integrate.quad(lambda u: u ** (a - 1) / (1 + u**alpha) ** b, 0, np.inf, epsabs=0, epsrel=1e-13)[0]

    A = I(2 * alpha - beta + 1, 2) / I(1, 1) ** (1 - beta)
    c = A * n ** (1 - beta)
    return lambda s: -(alpha - 1) / (1 + (alpha - 1) * s) + (beta - 1) * c * (1 - s) ** -beta / (c * (1 - s) ** (1 - beta) + noise)


@pytest.mark.parametrize("alpha,beta,noise,n", [(3.0, 2.0, 1.0, 1.0), (2.0, 1.5, 1e9, 10.0), (1.5, 2.0, 10.0, 10.0)])
def test_noisy_optimal_fitting_ratio_is_the_root_of_the_risk_slope(alpha, beta, noise, n):
    slope = _continuum_log_risk_slope(alpha, beta, noise, n)
    assert slope(0.0) < 0  # the risk falls at s = 0: an interior optimum
    s = brentq(slope, 0.0, 1.0 - 1e-15, xtol=1e-300, rtol=4 * np.finfo(float).eps)
    R = rf.powerlaw_optimal_fitting_ratio(alpha, beta, noise, n)
    # a minimiser-derived quantity of degree 2 (R = s^2)
    assert abs(R - s * s) <= stats.argmin_tolerance(s * s, parameters=1, degree=2)


def test_noisy_optimal_fitting_ratio_is_zero_when_the_risk_rises_at_zero_ridge():
    # beta > alpha, little noise: dE/ds(0) > 0 (but below 1), the optimum is the ridgeless end s = 0
    slope = _continuum_log_risk_slope(1.5, 2.0, 1e-6, 10.0)
    assert slope(0.0) > 0
    assert rf.powerlaw_optimal_fitting_ratio(1.5, 2.0, 1e-6, 10.0) == 0.0


def test_ridgeless_gamma_of_spectra_spanning_hundreds_of_decades():
    # z(gamma) = 1.5 with lambda = (1e-10, 1e-298): the first mode is learned (L = 1 to 1e-288), so the
    # second has L = 1/2, i.e. gamma_0 = 1e-298 (far below 1e-300 lambda_max, but above 1e-300 of the
    # largest eigenvalue scale that the search uses as its floor)
    kappa, gamma = rf.effective_regularization([1e-10, 1e-298], 1.5, math.inf, 0.0)
    # the root is located in log gamma to 4 eps relative (brentq's rtol): |log gamma| ~ 686 ulps of log gamma
    assert gamma == pytest.approx(1e-298, rel=stats.fp_tolerance(1.0, condition=-math.log(1e-298), repetitions=8), abs=0)
    # lambda = (1, 1e-305): the root (near 1e-305) is below the floor 1e-300 lambda_max, where gamma_0 is taken
    # as 0 (learnabilities 0 or 1): never above the root
    kappa, gamma = rf.effective_regularization([1.0, 1e-305], 1.5, math.inf, 0.0)
    assert 0.0 <= gamma <= 1e-305


def test_solvers_run_without_numpy_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rf.eigenframework([1.0, 0.5, 0.25], [1.0, 0.5, 0.3], 0.1, 2, 10, 0.01)  # gamma_0 > 0 and a ridge
        rf.eigenframework([1.0, 0.5, 0.0], [1.0, 0.5, 0.3], 0.1, 1.5, math.inf, 0.0)  # a zero eigenvalue, r < rank
        rf.powerlaw_optimal_fitting_ratio(3.0, 2.0, 1.0, 1.0)


LAM5 = np.array([1.0, 0.5, 0.25, 0.125, 0.0625])
V5 = np.array([1.0, 0.5, 0.3, 0.2, 0.1])


def _risk_at(gamma, n, N, noise=0.1):
    """The paper's test risk at gamma for LAM5/V5, with kappa from (2) (n > N at gamma_0: kappa = 0 and
    (N - z)/(N - q) = 0)."""
    L = LAM5 / (LAM5 + gamma)
    z, q = L.sum(), (L * L).sum()
    ratio = 1.0 if math.isinf(N) else max(N - z, 0.0) / (N - q)
    one_minus_x = max(n - z, 0.0) / n + (z - q) * ratio / n
    return float(((1 - L) * (1 - L * ratio)) @ (V5 * V5) + noise) / one_minus_x


@pytest.mark.parametrize("n,N", [(3.0, math.inf), (4.0, 2.0), (10.0, 2.0), (7.0, math.inf)])
@pytest.mark.parametrize("ridge", [1e-300, 1e-200, 1e-100, 1e-30])
def test_tiny_ridges_reach_the_ridgeless_limit(n, N, ridge):
    ef = rf.eigenframework(LAM5, V5, 0.1, n, N, ridge)
    r = min(n, N)
    if r < LAM5.size:  # gamma_0 > 0: the ridge moves gamma from gamma_0 by a relative ~ ridge / gamma_0
        g0 = math.exp(brentq(lambda lg: float(np.sum(LAM5 / (LAM5 + math.exp(lg)))) - r, -30.0, 30.0,
                             xtol=1e-300, rtol=4 * np.finfo(float).eps))
        # root located to the rounding of z (5 terms) over its slope dz/dlog gamma = -(z - q)
        L = LAM5 / (LAM5 + g0)
        cond = float(L.sum() / (L.sum() - (L * L).sum()))
        assert ef.gamma == pytest.approx(g0, rel=stats.fp_tolerance(1.0, condition=cond, dimension=5, repetitions=4),
                                         abs=0)
        ref = _risk_at(g0, n, N)
    else:  # gamma_0 = 0: delta = gamma (n - z) to first order, z = rank
        g = ridge / (n - LAM5.size)
        assert ef.gamma == pytest.approx(g, rel=stats.fp_tolerance(1.0, condition=math.log(1 / ridge), repetitions=8),
                                         abs=0)
        ref = _risk_at(0.0, n, N)
        cond = 1.0
    assert ef.test == pytest.approx(ref, rel=stats.fp_tolerance(1.0, condition=10 * cond, dimension=5, repetitions=4))


@pytest.mark.parametrize("scale", [1.0, 100.0])  # gamma_0 below and above 1
@pytest.mark.parametrize("ridge", [1e3, 1e10, 1e100])
def test_huge_ridges_solve_the_fixed_point(scale, ridge):
    # KRR (kappa = gamma), n = 3 < rank: delta = gamma (n - z(gamma)); for these ridges z < n/2, so the root of
    # log gamma + log(n - z) = log delta lies in [log(delta/n), log(delta/n) + log 2]
    lam, n = scale * LAM5, 3.0
    ridge = ridge * scale
    h = lambda lg: lg + math.log(n - float(np.sum(lam / (lam + math.exp(lg))))) - math.log(ridge)  # noqa: E731
    lo = math.log(ridge / n)
    g = math.exp(brentq(h, lo, lo + math.log(2.0), xtol=1e-300, rtol=4 * np.finfo(float).eps))
    kappa, gamma = rf.effective_regularization(lam, n, math.inf, ridge)
    # slope of h in log gamma is >= 1: the root is as accurate as h; both solvers stop within 4 eps |log gamma|
    # (8 u each) and h rounds a few numbers of size |log gamma| (4 u)
    tol = stats.fp_tolerance(1.0, condition=abs(math.log(g)), repetitions=20)
    assert gamma == pytest.approx(g, rel=tol, abs=0) and kappa == gamma


def _gamma0(r):
    """gamma_0 of LAM5: the root of z(gamma) = r, in log gamma."""
    return math.exp(brentq(lambda lg: float(np.sum(LAM5 / (LAM5 + math.exp(lg)))) - r, -30.0, 30.0,
                           xtol=1e-300, rtol=4 * np.finfo(float).eps))


def _gamma0_condition(g0):
    # the root is located to the rounding of z (5 terms) over its slope |dz/dlog gamma| = z - q
    L = LAM5 / (LAM5 + g0)
    return float(L.sum() / (L.sum() - (L * L).sum()))


@pytest.mark.parametrize("n,N", [(2.0, 10.0), (3.0, 4.0)])
@pytest.mark.parametrize("ridge", [1e-20, 1e-100, 1e-300])
def test_tiny_ridges_below_the_feature_count_reach_the_ridgeless_limit(n, N, ridge):
    # regression: with n < N < rank, ridges below ~1e-17 put gamma onto gamma_0 in floating point (z = n to the
    # last bit); kappa then came from ridge / (n - z) = ridge / 0 (ZeroDivisionError) or a negative kappa
    g0 = _gamma0(n)
    cond = _gamma0_condition(g0)
    tol = stats.fp_tolerance(1.0, condition=cond, dimension=5, repetitions=8)
    ef = rf.eigenframework(LAM5, V5, 0.1, n, N, ridge)
    assert ef.gamma == pytest.approx(g0, rel=tol, abs=0)
    assert ef.kappa == pytest.approx(g0 * (1 - n / N), rel=tol, abs=0)  # equation (2) at z = n
    # the risk at gamma_0: E_0 and the bias are smooth in gamma, their relative change ~ cond * |dgamma| / gamma
    assert ef.test == pytest.approx(_risk_at(g0, n, N), rel=stats.fp_tolerance(1.0, condition=cond, dimension=5,
                                                                                repetitions=32))


@pytest.mark.parametrize("n", [1.0, 2.0])
@pytest.mark.parametrize("ridge", [1e-100, 1e-300])
def test_tiny_ridges_at_the_interpolation_peak_diverge_as_one_over_root_ridge(n, ridge):
    # n = N < rank, delta -> 0: (2) and (1) give kappa = sqrt(gamma_0 delta / N) and n - z = N - z = sqrt(delta N /
    # gamma_0) =: s, so 1 - x = (s/n) (1 + (z - q)/(N - q)) = 2 s / n and E_te = (bias_0 + sigma^2) n / (2 s),
    # up to relative corrections O(s)
    g0 = _gamma0(n)
    L = LAM5 / (LAM5 + g0)
    s = math.sqrt(ridge * n / g0)
    expected = (float((1 - L) @ (V5 * V5)) + 0.1) * n / (2 * s)
    ef = rf.eigenframework(LAM5, V5, 0.1, n, n, ridge)
    assert ef.kappa == pytest.approx(math.sqrt(g0 * ridge / n), rel=stats.fp_tolerance(1.0, condition=_gamma0_condition(g0), dimension=5, repetitions=8), abs=0)
    assert ef.test == pytest.approx(expected, rel=stats.fp_tolerance(1.0, condition=_gamma0_condition(g0), dimension=5,
                                                                      repetitions=32))


# --------------------------------------------------------------------------- extreme ridges against mpmath

def _mp_eigenframework(lam, v, noise, n, N, ridge, dps=360):
    """``(kappa, gamma, E_te)`` of the paper's equations at ``dps`` digits (mpmath): ``gamma_0`` the root of
    ``z = min(n, N)`` in log gamma, then ``delta(gamma) = gamma (1 - z/N)(n - z) = ridge`` in
    ``u = log(gamma - gamma_0)`` (bisection, polished by Anderson's method), and the risk in the paper's own
    forms of ``x`` and ``B_i``. 360 digits resolve ``n - z`` and ``N - z`` down to ridges of 1e-300."""
    import mpmath as mp

    with mp.workdps(dps):
        lm, v2 = [mp.mpf(float(x)) for x in lam], [mp.mpf(float(x)) ** 2 for x in v]
        nn, d = mp.mpf(n), mp.mpf(ridge)
        NN = mp.inf if math.isinf(N) else mp.mpf(N)
        z = lambda g: mp.fsum(x / (x + g) for x in lm)  # noqa: E731

        def root(f, lo, hi):  # f increasing, f(lo) < 0 < f(hi)
            for _ in range(80):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
            return mp.findroot(f, (lo, hi), solver="anderson")

        r = min(nn, NN)
        g0 = mp.exp(root(lambda lg: r - z(mp.exp(lg)), mp.mpf(-1600), mp.mpf(1600))) if r < sum(x > 0 for x in lm) else 0
        delta = lambda g: g * (1 - z(g) / NN) * (nn - z(g))  # noqa: E731
        g = g0 + mp.exp(root(lambda u: mp.log(delta(g0 + mp.exp(u))) - mp.log(d), mp.mpf(-1600), mp.mpf(1600)))
        kappa = g * (1 - z(g) / NN)
        L = [x / (x + g) for x in lm]
        zz, q = mp.fsum(L), mp.fsum(a * a for a in L)
        if NN == mp.inf:
            x, B = q / nn, [(1 - a) ** 2 for a in L]
        else:
            x = (q * (NN - 2 * zz) + zz**2) / (nn * (NN - q))
            B = [(1 - a) - kappa * a / (lv + g) * NN / (NN - q) for a, lv in zip(L, lm)]
        return float(kappa), float(g), float((mp.fsum(b * w for b, w in zip(B, v2)) + noise) / (1 - x))


EXTREME = [
    # n = rank (the zero eigenvalue is outside it) < N: gamma_0 = 0 and n - z = sum (1 - L) ~ gamma, lost in n - z
    ([1.0, 0.3, 0.0], 2, 10.0, 1e-40),
    ([1.0, 0.3, 0.0], 2, 10.0, 1e-150),
    ([1.0, 0.5], 2, math.inf, 1e-40),
    ([1.0, 0.5], 5, 2.0, 1e-40),  # N = rank < n: N - z lost the same way
    (LAM5, 7, 9.0, 1e-300),  # n, N above the rank: gamma ~ 1e-300
    # n = N = rank: also N - q = sum (1 - L^2) ~ gamma, lost in N - q (E_te was 25 % off)
    ([1.0, 0.3, 0.0], 2, 2.0, 1e-40),
    ([1.0, 0.3, 0.0], 2, 2.0, 1e-150),
    # n close to N below the rank: n - z and N - z both tiny, kappa from either form loses ~ u z / gap
    (LAM5, 2, 2 + 1e-9, 1e-20),
    (LAM5, 2, 2 + 1e-6, 1e-16),
    (LAM5, 2, 2 - 1e-6, 1e-20),
    # n = N below the rank with small eigenvalues: gamma * ridge (~1e-321) underflows
    ([1e-20, 5e-21, 2.5e-21], 2, 2.0, 1e-300),
]


@pytest.mark.parametrize("lam,n,N,ridge", EXTREME)
def test_extreme_ridges_against_extended_precision(lam, n, N, ridge):
    v = [1.0] * len(lam)
    k_ref, g_ref, e_ref = _mp_eigenframework(lam, v, 0.1, n, N, ridge)
    ef = rf.eigenframework(lam, v, 0.1, n, N, ridge)
    # the Newton iteration stops once its step in t = log gamma is below 4 eps |t| (8 u |t|; the slope of
    # log delta in t is >= 1, so that bounds the error), and exp(t) adds u |t|; kappa depends on gamma no more
    # steeply than gamma itself (the root of a quadratic homogeneous in gamma), and E_te through kappa alone
    # (slack = ridge / kappa, N - z = N kappa / gamma) with its own few roundings per mode
    cond = max(1.0, abs(math.log(g_ref)))
    assert ef.gamma == pytest.approx(g_ref, rel=stats.fp_tolerance(1.0, condition=cond, repetitions=9), abs=0)
    assert ef.kappa == pytest.approx(k_ref, rel=stats.fp_tolerance(1.0, condition=cond, repetitions=12), abs=0)
    assert ef.test == pytest.approx(e_ref, rel=stats.fp_tolerance(1.0, condition=cond, dimension=len(lam),
                                                                   repetitions=24), abs=0)


def test_ridgeless_gamma_below_the_smallest_subnormal():
    # lambda = (1e-30, 5e-324), n = 1.9: the root of z = 1.9 has L_2 = 0.9, gamma_0 ~ 5e-324 / 9, whose nearest
    # double is 0 (the search floor 1e-300 lambda_max is itself 0 here: it used to reach log(0))
    import mpmath as mp

    # a/(a + g) + b/(b + g) = r is the quadratic r g^2 + (r - 1)(a + b) g + (r - 2) a b = 0: its positive root,
    # written without cancellation (C < 0 < B)
    with mp.workdps(60):
        a, b, r = mp.mpf(1e-30), mp.mpf(5e-324), mp.mpf(1.9)
        B, C = (r - 1) * (a + b), (r - 2) * a * b
        g0 = -2 * C / (B + mp.sqrt(B * B - 4 * r * C))
    assert 0 < g0 < mp.mpf(5e-324) / 2  # below half the smallest subnormal
    assert float(g0) == 0.0
    assert rf.effective_regularization([1e-30, 5e-324], 1.9, math.inf, 0.0) == (0.0, 0.0)


def test_the_smallest_subnormal_ridge():
    # KRR, n = 3 > rank 2: delta = gamma (n - z) = gamma (1 + 3 gamma + ...), so gamma = 5e-324 (the ridge) to
    # the last bit: the spacing of doubles there is 5e-324 (ridge / n used to round to 0 before its logarithm)
    k_ref, g_ref, _ = _mp_eigenframework([1.0, 0.5], [1.0, 1.0], 0.0, 3, math.inf, 5e-324)
    assert g_ref == 5e-324
    assert rf.effective_regularization([1.0, 0.5], 3, math.inf, 5e-324) == (k_ref, g_ref)


# --------------------------------------------------------------------------- rfA: solver edge cases (survivors)

def _mp_weighted(lam, w, v2, noise, n, N, ridge, dps=80):
    """``(gamma, kappa, E_te, |dlogE/dlog gamma|)`` of the paper's equations with multiplicities ``w``, at ``dps``
    digits: ``gamma_0`` the root of ``z = min(n, N)`` with ``z = sum w lam/(lam + gamma)`` (its upper end, inside the
    domain), then ``delta(gamma) = gamma (1 - z/N) (n - z) = ridge`` by bisection in ``u = log(gamma - gamma_0)``, the
    risk in the paper's forms ``x = (q (N - 2z) + z^2)/(n (N - q))`` and ``B_i = (1 - L_i) - kappa L_i/(lam_i + gamma)
    N/(N - q)`` (``v2`` the total target mass of each entry); the last entry is the risk's sensitivity to gamma along
    ``kappa = gamma (1 - z/N)`` (a central difference at these digits)."""
    import mpmath as mp

    with mp.workdps(dps):
        lm, wm, vm = ([mp.mpf(float(x)) for x in a] for a in (lam, w, v2))
        nn, NN, d = mp.mpf(n), mp.mpf(N), mp.mpf(ridge)
        z = lambda g: mp.fsum(c * x / (x + g) for c, x in zip(wm, lm))  # noqa: E731

        def bisect(f, lo, hi):  # f increasing, f(lo) < 0 < f(hi): the end where f > 0
            for _ in range(4 * dps):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
            return hi

        r = min(nn, NN)
        g0 = mp.exp(bisect(lambda lg: r - z(mp.exp(lg)), mp.mpf(-700), mp.mpf(700)))
        delta = lambda g: g * (1 - z(g) / NN) * (nn - z(g))  # noqa: E731
        g = g0 + mp.exp(bisect(lambda u: mp.log(delta(g0 + mp.exp(u))) - mp.log(d), mp.mpf(-700), mp.mpf(700)))

        def risk(g):
            kappa = g * (1 - z(g) / NN)
            L = [x / (x + g) for x in lm]
            zz, q = mp.fsum(c * a for c, a in zip(wm, L)), mp.fsum(c * a * a for c, a in zip(wm, L))
            x = (q * (NN - 2 * zz) + zz**2) / (nn * (NN - q))
            B = [(1 - a) - kappa * a / (x_ + g) * NN / (NN - q) for a, x_ in zip(L, lm)]
            return (mp.fsum(b * s for b, s in zip(B, vm)) + noise) / (1 - x)

        h = mp.mpf(10) ** (-dps // 3)
        sens = (mp.log(risk(g * mp.exp(h))) - mp.log(risk(g * mp.exp(-h)))) / (2 * h)
        return float(g), float(g * (1 - z(g) / NN)), float(risk(g)), float(abs(sens))


def test_huge_multiplicity_on_a_negligible_eigenvalue_leaves_the_gaps_accurate():
    # rank = 2 + 1e18 (the eigenvalue 1e-30 with multiplicity 1e18 counts, though it contributes only ~4e-12 to z),
    # n = 1.5 and N = 3 far below it: the gaps n - z, N - z and N - q must come from z and q themselves, not from
    # (m - rank) + sum w (1 - L) (which cancels 1e18 against 1e18 and keeps nothing of n or N)
    lam, w, v = [1.0, 0.5, 1e-30], [1.0, 1.0, 1e18], [1.0, 1.0, 1.0]
    n, N, ridge, noise = 1.5, 3.0, 0.01, 0.1
    g_ref, k_ref, e_ref, sens = _mp_weighted(lam, w, [1.0, 1.0, 1.0], noise, n, N, ridge)
    ef = rf.eigenframework(lam, v, noise, n, N, ridge, w)
    # the root of log delta = log ridge (slope >= 1 in log gamma) is located to 4 eps max(1, |log gamma|) and to the
    # rounding of log(n - z) and log(N - z) (each gap cancels z against n or N: condition z/(gap))
    L = np.asarray(lam) / (np.asarray(lam) + g_ref)
    z = float(np.dot(w, L))
    cond = max(1.0, abs(math.log(g_ref))) + z / (n - z) + z / (N - z)
    tol = stats.fp_tolerance(1.0, condition=cond, dimension=3, repetitions=9)
    assert ef.gamma == pytest.approx(g_ref, rel=tol, abs=0)
    assert ef.kappa == pytest.approx(k_ref, rel=tol, abs=0)
    # E_te moves with gamma by its sensitivity d log E / d log gamma, plus its own roundings per mode
    assert ef.test == pytest.approx(e_ref, rel=stats.fp_tolerance(1.0, condition=(1.0 + sens) * cond, dimension=3,
                                                                   repetitions=24), abs=0)


def test_a_subnormal_ridge_whose_gamma_rounds_to_zero():
    # KRR, n = 1000 > rank 1: delta = gamma (n - z) with 0 < z <= 1, so gamma lies in [ridge/1000, ridge/999], below
    # half the smallest subnormal: gamma = 0 exactly, the mode fully learned (L = 1), kappa = gamma = 0; then
    # E_0 = 1/(1 - q/n) = n/(n - 1), no bias, E_te = sigma^2 n/(n - 1), E_tr = ((n - z)/n)^2 E_te with z = 1
    ef = rf.eigenframework([1.0], [1.0], 0.1, 1000, math.inf, 5e-324)
    import mpmath as mp

    assert mp.mpf(5e-324) / 999 < mp.mpf(5e-324) / 2
    assert ef.gamma == 0.0 and ef.kappa == 0.0 and ef.ridge == 5e-324 and ef.bias == 0.0
    tol = stats.fp_tolerance(1.0, repetitions=4)
    assert ef.test == pytest.approx(0.1 * 1000 / 999, rel=tol, abs=0)
    assert ef.train == pytest.approx((999 / 1000) ** 2 * 0.1 * 1000 / 999, rel=tol, abs=0)


def test_an_overflowing_test_risk_with_an_underflowing_training_slack():
    # lambda = (1e300, 1e300), n = 1, KRR: gamma_0 = 1e300 (2 lam/(lam + gamma) = 1) and at ridge 1e-300 gamma stays
    # there: L = 1/2, z - q = 1/2, n - z = ridge/kappa ~ 1e-600 (0 in doubles), so E_0 = 1/((n - z) + (z - q)) = 2 and
    # E_te = 2 (bias + 1e308) overflows; E_tr = ((n - z)/n)^2 E_te ~ 1e-1200 * 2e308 is 0, not inf, nan or 1
    ef = rf.eigenframework([1e300, 1e300], [1.0, 1.0], 1e308, 1, math.inf, 1e-300)
    # E_0 depends on gamma only at second order at L = 1/2 (L (1 - L) is stationary there)
    assert ef.overfitting == pytest.approx(2.0, rel=stats.fp_tolerance(1.0, repetitions=4), abs=0)
    assert ef.test == math.inf
    assert ef.train == 0.0


def _terminates(f, seconds=2.0):
    """Run ``f()``, failing (instead of hanging) if it has not returned after ``seconds``."""
    import signal

    def alarm(signum, frame):
        raise AssertionError(f"did not return within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return f()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_ridgeless_gamma_of_eigenvalues_near_the_largest_double():
    # lambda = 2.5e307 (three times), n = 2: z = 3 lam/(lam + gamma) = 2 gives gamma_0 = lam/2 exactly. The trace
    # 7.5e307 and 2 trace / n are finite; the bracket of the root search must not overflow to inf (an infinite start
    # halves to inf forever)
    kappa, gamma = _terminates(lambda: rf.effective_regularization([2.5e307] * 3, 2, math.inf, 0.0))
    # brentq locates log gamma to 4 eps |log gamma| (8 u |t|), exp adds u |t|
    tol = stats.fp_tolerance(1.0, condition=math.log(1.25e307), repetitions=9)
    assert gamma == pytest.approx(1.25e307, rel=tol, abs=0) and kappa == gamma


def _mp_gamma0(lam, r):
    """gamma_0 (z = sum lam/(lam + gamma) = r) and z/(z - q) there, at 50 digits (mpmath)."""
    import mpmath as mp

    with mp.workdps(50):
        L = [mp.mpf(x) for x in lam]
        g = mp.exp(mp.findroot(lambda t: mp.fsum(x / (x + mp.exp(t)) for x in L) - r, 0.0))
        Ls = [x / (x + g) for x in L]
        z, q = mp.fsum(Ls), mp.fsum(a * a for a in Ls)
        return float(g), float(z / (z - q))


@pytest.mark.parametrize("n", [1.6, 3.4, 3.8, 4.2])
def test_ridgeless_gamma_near_one_is_located_to_rounding(n):
    # |log gamma_0| < 3 here: an absolute tolerance on log gamma of 2e-12 (brentq's default xtol) would show as a
    # relative error ~1e-13 in gamma; the root is determined to the rounding of z (5 terms, over its slope z - q:
    # condition z/(z - q)) and brentq's relative tolerance 4 eps |log gamma| (8 u), and exp adds u |log gamma|
    g0, cond = _mp_gamma0(LAM5, n)
    _, gamma = rf.effective_regularization(LAM5, n, math.inf, 0.0)
    tol = (stats.fp_tolerance(1.0, condition=cond, dimension=5, repetitions=2)
           + stats.fp_tolerance(1.0, condition=max(1.0, abs(math.log(g0))), repetitions=9))
    assert gamma == pytest.approx(g0, rel=tol, abs=0)


@pytest.mark.parametrize("n,ridge", [(1e308, 10.0), (1e20, 1.37), (1e30, 1.74)])
def test_ridges_with_a_sample_count_near_the_largest_double(n, ridge):
    # KRR with rank 2 << n: delta = gamma (n - z), 0 < z <= 2, and n - 2 = n in doubles, so gamma = ridge / n to
    # rounding. (The first iterate log(ridge) - log(n) is then the root itself, and its rounding can put log delta
    # an ulp above the target; a start at log(ridge) + log(n) would overflow exp at n = 1e308.)
    kappa, gamma = rf.effective_regularization([1.0, 0.5], n, math.inf, ridge)
    # the Newton iteration stops within 4 eps |log gamma| (8 u |t|), exp adds u |t|
    tol = stats.fp_tolerance(1.0, condition=abs(math.log(ridge / n)), repetitions=9)
    assert gamma == pytest.approx(ridge / n, rel=tol, abs=0) and kappa == gamma


def test_a_ridge_one_e_fold_below_the_first_newton_iterate():
    # lambda = (1, 1), n = 1, KRR: z = 2/(1 + gamma), gamma_0 = 1 and delta(gamma) = gamma (gamma - 1)/(gamma + 1), so
    # delta = r is the quadratic gamma^2 - (1 + r) gamma - r = 0. The solver's first iterate is gamma = e (one unit
    # above log gamma_0 = 0); with r the double nearest delta(e)/e = 1 - 2/(1 + e), log delta(e) - log r is 1 there
    import mpmath as mp

    r = 1.0 - 2.0 / (1.0 + math.exp(1.0))
    with mp.workdps(50):
        R = mp.mpf(r)
        g_ref = float(((1 + R) + mp.sqrt((1 + R) ** 2 + 4 * R)) / 2)
    kappa, gamma = rf.effective_regularization([1.0, 1.0], 1, math.inf, r)
    # the Newton iteration stops within 4 eps max(1, |log gamma|) (8 u), exp adds u
    assert gamma == pytest.approx(g_ref, rel=stats.fp_tolerance(1.0, repetitions=9), abs=0) and kappa == gamma


def test_ridgeless_gamma_is_zero_when_n_equals_a_fractional_rank():
    # multiplicities 0.7 k on eigenvalue 1 (k = 2..9) and a zero eigenvalue first: rank = sum of the multiplicities of
    # the positive eigenvalues. For gamma > 0 every L < 1, so z(gamma) < rank: z = n = rank is reached only at
    # gamma = 0 (however the terms of z round, e.g. summed with the zero entry among them)
    lam = np.array([0.0] + [1.0] * 8)
    w = 0.7 * np.arange(1, 10)
    rank = float(w[lam > 0].sum())
    assert rf.effective_regularization(lam, rank, math.inf, 0.0, w) == (0.0, 0.0)
    assert rf.effective_regularization(lam, 2 * rank, rank, 0.0, w) == (0.0, 0.0)


# --------------------------------------------------------------------------- defects found by the survivor analysis

@pytest.mark.parametrize("call", [
    lambda: rf.effective_regularization([1e308, 1e308], 1, math.inf, 0.0),
    lambda: rf.eigenframework([1e308, 1e308], [1.0, 1.0], 0.0, 1, math.inf, 1.0),
    lambda: rf.optimal_ridge([1e308, 1e308], [1.0, 1.0], 0.0, 1, math.inf),
    lambda: rf.test_risk([1.0], [1.0], 0.0, 1, math.inf, 0.0, [1e308 * 1.5]),
])
def test_an_eigenvalue_trace_beyond_the_float_range_is_a_clear_error(call):
    # regression: the trace overflowed to inf, the ridgeless search's bracket started at inf and halving inf never
    # ended (all three public solvers hung)
    with pytest.raises(ValueError, match=r"^multiplicities \* eigenvalues must sum to at most 8\.988e\+307 "):
        _terminates(call)


def test_the_largest_supported_trace_is_accepted():
    # trace = max/2 exactly: gamma_0 = trace / 2 (two equal modes, n = 1) and lambda + gamma stay finite
    lam = np.finfo(float).max / 4
    kappa, gamma = _terminates(lambda: rf.effective_regularization([lam, lam], 1, math.inf, 0.0))
    # z = 2 lam/(lam + gamma) = 1 at gamma = lam; brentq in log gamma (8 u |t|), exp adds u |t|
    assert gamma == pytest.approx(lam, rel=stats.fp_tolerance(1.0, condition=math.log(lam), repetitions=9), abs=0)


def test_a_subnormal_ridge_whose_kappa_underflows_at_n_equal_to_features():
    # regression: n = N = 9 above the rank 6 and ridge 5e-324: kappa = gamma (N - z)/N ~ 1.7e-324 rounds to 0 and
    # slack = ridge / kappa divided by zero. gamma_0 = 0, so delta = gamma (n - z)(N - z)/N = gamma to first order
    k_ref, g_ref, e_ref = _mp_eigenframework([1.0] * 6, [1.0] * 6, 0.1, 9, 9.0, 5e-324)
    ef = rf.eigenframework([1.0] * 6, [1.0] * 6, 0.1, 9, 9, 5e-324)
    assert ef.gamma == g_ref and ef.kappa == k_ref == 0.0
    # E_te = sigma^2 n / (n - rank) at gamma -> 0: a few roundings
    assert ef.test == pytest.approx(e_ref, rel=stats.fp_tolerance(1.0, repetitions=8), abs=0)


def test_newton_returns_once_its_step_no_longer_moves_the_iterate():
    # regression: a Newton step below the spacing of x was rejected as outside the bracket; bisection then wandered
    # 40-55 more steps and stopped up to 15 u |log gamma| from the root (3.6e-13 relative here). The documented
    # bound is the stop rule's 4 eps |t| (8 u |t|) plus u |t| for exp
    k_ref, g_ref, _ = _mp_eigenframework(LAM5, V5, 0.1, 3, math.inf, 1e100)
    kappa, gamma = rf.effective_regularization(LAM5, 3, math.inf, 1e100)
    tol = stats.fp_tolerance(1.0, condition=abs(math.log(g_ref)), repetitions=9)
    assert gamma == pytest.approx(g_ref, rel=tol, abs=0) and kappa == gamma


@pytest.mark.parametrize("lam,ridge", [([1.0, 0.5], 8e307), ([1.0, 0.5], 1e308), ([1e300, 0.5], 1.7e308)])
def test_ridges_whose_gamma_leaves_the_float_range(lam, ridge):
    # KRR, n = 1: delta = gamma (1 - z) and z <= trace / gamma, so gamma ~ ridge (1 + trace / ridge). Up to max/2
    # it is solved; beyond it the search would overflow lambda + gamma and says so
    fits = ridge * (1 + sum(lam) / ridge) <= np.finfo(float).max / 2
    if fits:
        kappa, gamma = rf.effective_regularization(lam, 1, math.inf, ridge)
        _, g_ref, _ = _mp_eigenframework(lam, [1.0] * len(lam), 0.0, 1, math.inf, ridge)
        assert gamma == pytest.approx(g_ref, rel=stats.fp_tolerance(1.0, condition=math.log(g_ref), repetitions=9),
                                      abs=0)
    else:
        with pytest.raises(ValueError, match=rf"^ridge {re.escape(repr(ridge))} needs an effective regularization gamma "
                                             r"above 8\.988e\+307, beyond the float range; "):
            _terminates(lambda: rf.effective_regularization(lam, 1, math.inf, ridge))


def test_noisy_optimal_fitting_ratio_within_rounding_of_one():
    # regression: with noise 1e30 the optimum s* lies within 2^-53 of s = 1; the bracket end reached 1.0 and
    # (1 - s)^(-beta) divided by zero. The root in 60-digit arithmetic lies above the largest double below 1, so
    # s* rounds to that double (or to 1): R = s*^2 is its square
    import mpmath as mp

    slope = _continuum_log_risk_slope(2.0, 1.5, 1e30, 1.0)
    top = math.nextafter(1.0, 0.0)
    assert slope(top) < 0  # still falling at the last double below 1: the root lies in (top, 1)
    R = rf.powerlaw_optimal_fitting_ratio(2.0, 1.5, 1e30)
    assert R == top * top
    with mp.workdps(60):  # the smaller-noise rival: its root is an ordinary interior point (not the s = 1 end)
        assert rf.powerlaw_optimal_fitting_ratio(2.0, 1.5, 1e9) < top * top


# --------------------------------------------------------------------------- solver survivors after the float-range change

def _newton_tolerance(gamma, ridge):
    """Relative accuracy of ``gamma`` from the Newton iteration on ``g = log gamma + log(1 - z/N) + log(n - z) - log
    ridge`` (slope >= 1 in ``t = log gamma``, so an error in ``g`` is at most as large in ``t``): the stop rule leaves
    4 eps |t| (8 u |t|), ``exp`` adds u |t|, and ``g`` is a sum of terms as large as ``|t| + |log ridge|`` (near the root
    ``log(n - z) = log ridge - t - log(1 - z/N)``), rounded twice (the logarithms and the sum) with one more rounding
    for the gaps themselves: 12 roundings of size ``max(1, |t|) + |log ridge|``."""
    return stats.fp_tolerance(1.0, condition=max(1.0, abs(math.log(gamma))) + abs(math.log(ridge)), repetitions=12)


@pytest.mark.parametrize("ridge", [1e300, 1e306])
def test_ridges_at_a_gamma_0_within_one_e_fold_of_the_largest_gamma(ridge):
    # lambda = 2.5e307 (three times), n = 2, KRR: z = 3 lam/(lam + gamma), delta = gamma (n - z) = gamma (2 gamma - lam)/
    # (lam + gamma), so delta = r is 2 gamma^2 - (lam + r) gamma - r lam = 0. gamma_0 = lam/2 = 1.25e307 lies within one
    # e-fold of the top of the range (log gamma_0 + e > log of the largest double): the search must start inside it
    import mpmath as mp

    lam = 2.5e307
    with mp.workdps(50):
        L, R = mp.mpf(lam), mp.mpf(ridge)
        g_ref = float(((L + R) + mp.sqrt((L + R) ** 2 + 8 * R * L)) / 4)
    kappa, gamma = rf.effective_regularization([lam] * 3, 2, math.inf, ridge)
    assert gamma == pytest.approx(g_ref, rel=_newton_tolerance(g_ref, ridge), abs=0) and kappa == gamma


@pytest.mark.parametrize("ridge", [0.045, 0.05])
def test_a_ridge_whose_newton_start_lies_far_below_a_steep_root(ridge):
    # lambda = 1, n = N = 1 (the rank, gamma_0 = 0): kappa = gamma (1 - L) and delta = gamma (1 - L)^2 = gamma^3/(1 +
    # gamma)^2 with L = 1/(1 + gamma), so gamma is the positive root of gamma^3 - r (1 + gamma)^2 (one sign change: unique).
    # The first iterate log r lies 2.4 below log gamma, where log delta has slope 3: Newton's first step must not be
    # capped as if the root were nearer (a capped step overshoots and the iteration oscillates)
    import mpmath as mp

    with mp.workdps(50):
        R = mp.mpf(ridge)
        g = mp.findroot(lambda x: x**3 - R * (1 + x) ** 2, 0.5)
        g_ref, k_ref = float(g), float(g * g / (1 + g))
    kappa, gamma = rf.effective_regularization([1.0], 1, 1, ridge)
    tol = _newton_tolerance(g_ref, ridge)
    assert gamma == pytest.approx(g_ref, rel=tol, abs=0)
    # kappa = gamma^2/(1 + gamma): no more steeply than gamma^2, plus its own few roundings
    assert kappa == pytest.approx(k_ref, rel=2 * tol + stats.fp_tolerance(1.0, repetitions=4), abs=0)


def test_a_subnormal_ridge_below_the_rounding_of_gamma_0_returns_gamma_0():
    # lambda = (1e272, 1e272), n = 1, KRR: z = 2 lam/(lam + gamma) = 1 at gamma_0 = lam, and near it delta = gamma (1 - z)
    # ~ (lam/2) (log gamma - log gamma_0), so the ridge 5e-324 moves log gamma by ~1e-595: gamma = gamma_0 to every digit.
    # The Newton step from the first iterate lands where t0 + e^x rounds to t0 and n - z is rounding noise (positive
    # here, with a slope ~1e13): the next step overflows and the one-sided fallback must still return gamma_0
    kappa, gamma = rf.effective_regularization([1e272, 1e272], 1, math.inf, 5e-324)
    # gamma_0 from brentq in log gamma: 4 eps |t0| (8 u |t0|), exp adds u |t0|
    assert gamma == pytest.approx(1e272, rel=stats.fp_tolerance(1.0, condition=math.log(1e272), repetitions=9), abs=0)
    assert kappa == gamma


@pytest.mark.parametrize("N", [math.inf, 1.0])
def test_a_tiny_ridge_at_n_equal_to_the_rank_with_a_huge_eigenvalue(N):
    # lambda = 1e300, n = 1 (the rank, gamma_0 = 0), ridge 1e-100. KRR: delta = gamma (1 - L) = gamma^2/(lam + gamma), the
    # root of gamma^2 - r gamma - r lam = 0 (gamma = 1e100); N = 1: delta = gamma^3/(lam + gamma)^2, the root of gamma^3 =
    # r (lam + gamma)^2. The first iterate log(r/n) = -230 lies far below where n - z = gamma/(lam + gamma) is
    # representable (gamma > 5e-324 lam, log gamma > -53.6): the iteration walks up in unit steps (177 of its 200) and
    # must then converge within a few Newton steps
    import mpmath as mp

    lam, ridge = 1e300, 1e-100
    with mp.workdps(50):
        L, R = mp.mpf(lam), mp.mpf(ridge)
        if math.isinf(N):
            g = (R + mp.sqrt(R * R + 4 * R * L)) / 2
        else:
            g = mp.exp(mp.findroot(lambda lg: 3 * lg - 2 * mp.log(L + mp.exp(lg)) - mp.log(R), 167))
        g_ref = float(g)
    kappa, gamma = rf.effective_regularization([lam], 1, N, ridge)
    assert gamma == pytest.approx(g_ref, rel=_newton_tolerance(g_ref, ridge), abs=0)


@pytest.mark.parametrize("lam", [100.0, 1e307, 1e-300])
def test_ridgeless_gamma_of_two_equal_eigenvalues_at_n_one_is_the_eigenvalue(lam):
    # z = 2 lam/(lam + gamma) = 1 at gamma_0 = lam. The bracket search starts at 2 trace / n = 4 lam and halves it onto
    # lam itself, where z rounds to 1 = n exactly: that end is not yet below the root (z(lo) > n is needed), so the search
    # must halve once more before handing brentq a bracket whose ends have opposite signs
    kappa, gamma = rf.effective_regularization([lam, lam], 1, math.inf, 0.0)
    # brentq in log gamma: 4 eps |t0| (8 u |t0|), exp adds u |t0|
    tol = stats.fp_tolerance(1.0, condition=max(1.0, abs(math.log(lam))), repetitions=9)
    assert gamma == pytest.approx(lam, rel=tol, abs=0) and kappa == gamma


# --------------------------------------------------------------------------- solver defects at the ends of the float range

def _gamma0_tolerance(g0):
    """The extra error of ``gamma`` when ``gamma_0 > 0``: the iterate is ``log gamma = log gamma_0 + e^x``, whose terms
    carry ``log gamma_0``'s own error (brentq's 8 u |log gamma_0| and the logarithm's u) and the rounding of ``e^x``
    (as large as ``|log gamma_0|`` when ``gamma`` is far from ``gamma_0``): 10 roundings of ``|log gamma_0|``."""
    return stats.fp_tolerance(1.0, condition=max(1.0, abs(math.log(g0))), repetitions=10)


@pytest.mark.parametrize("lam,n,N,ridge", [
    ([1e-300, 1e-300], 1, math.inf, 1e300),  # the Newton step's cap test evaluated exp at x ~ 920 (OverflowError)
    ([1e-300, 1e-300], 1, math.inf, 1.0),    # gamma_0 = 1e-300 far below gamma: the e^x form's rounding
    ([1e300], 1, math.inf, 1e-300),          # n - z underflows below gamma ~ 1e-24 lambda: ~640 inward steps of 1
    ([1e300], 2, 1.0, 1e-300),               # the same with N - z (N = rank < n)
])
def test_solver_at_the_ends_of_the_float_range_against_extended_precision(lam, n, N, ridge):
    # regressions (OverflowError, and RuntimeError after 200 steps); gamma_0 = 1e-300 for the first two (z = 2 lam/(lam +
    # gamma) = 1), 0 for the others (n or N at the rank)
    _, g_ref, _ = _mp_eigenframework(lam, [1.0] * len(lam), 0.1, n, N, ridge)
    _, gamma = _terminates(lambda: rf.effective_regularization(lam, n, N, ridge))
    g0 = lam[0] if len(lam) == 2 else 1.0
    assert gamma == pytest.approx(g_ref, rel=_newton_tolerance(g_ref, ridge) + _gamma0_tolerance(g0), abs=0)


def _exact_gamma0(lam, r):
    """gamma_0 where ``z = r`` in closed form, 60 digits: ``m`` equal eigenvalues ``a`` give ``m a/(a + g) = r``, ``g =
    a (m - r)/r``; two eigenvalues ``a, b`` at ``r = 1`` give ``a b = g^2``."""
    import mpmath as mp

    with mp.workdps(60):
        if len(set(lam)) == 1:
            return mp.mpf(lam[0]) * (len(lam) - r) / r
        a, b = (mp.mpf(v) for v in lam)
        return mp.sqrt(a * b)


_M = np.finfo(float).max


@pytest.mark.parametrize("lam,ridge", [
    ([1e300, 5e299], 5e-324),  # a Newton step to x < -745: e^x = 0 and g / (slope * 0) divided by zero
    ([_M / 8] * 4, 1.0),       # gamma_0 = 3 max/8 = 6.7e307: the start log gamma_0 + 1 lay above the float range
    ([_M / 4] * 2, 1.0),       # gamma_0 = max/4
])
def test_ridges_far_below_gamma_0_return_gamma_0(lam, ridge):
    # KRR, n = 1: delta = gamma (1 - z) and ridge / gamma_0 is below 1e-300 here, so gamma = gamma_0 to rounding
    g0 = _exact_gamma0(lam, 1)
    _, gamma = _terminates(lambda: rf.effective_regularization(lam, 1, math.inf, ridge))
    assert gamma == pytest.approx(float(g0), rel=_newton_tolerance(float(g0), ridge) + _gamma0_tolerance(float(g0)),
                                  abs=0)


# --------------------------------------------------------------------------- solver survivors after the x-space cap change

def test_a_gamma_0_at_the_top_of_the_float_range_refuses_a_positive_ridge():
    # one eigenvalue 1 with multiplicity m = max/2 (the largest supported trace), n = 1, KRR: z = m/(1 + gamma) = 1 at
    # gamma_0 = m - 1, which rounds to max/2 = e^_LOG_GAMMA_MAX (log gamma_0 rounds to _LOG_GAMMA_MAX itself). delta =
    # gamma (1 - z) = gamma (gamma + 1 - m)/(gamma + 1) = r gives gamma > m - 1 + r: with r = 1e300 it lies beyond the
    # largest gamma searched, so the solver must say so (not fail on the logarithm of its empty search range)
    m = np.finfo(float).max / 2
    ridge = 1e300
    with pytest.raises(ValueError, match=_exact("ridge 1e+300 needs an effective regularization gamma above 8.988e+307, "
                                                "beyond the float range; the risks are unchanged when eigenvalues and "
                                                "ridge are divided by a common factor")):
        _terminates(lambda: rf.effective_regularization([1.0], 1, math.inf, ridge, [m]))
