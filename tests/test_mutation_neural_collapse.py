"""theory.neural_collapse: exact error messages, boundaries, and the NC metrics and mixup optima
against independent computations (loops over samples, brute-force minimisation, dense solves)."""

import math
import re

import numpy as np
import pytest
from scipy.optimize import minimize

from paper_checks.stats import fp_tolerance
from theory import neural_collapse as nc


def _exact(text):
    return "^" + re.escape(text) + "$"


CASES = [
    (lambda: nc.collapse_threshold(0), "depth must be an integer >= 1, got 0"),
    (lambda: nc.root_threshold(0), "depth must be an integer >= 1, got 0"),
    (lambda: nc.regularization_constant([2, 3], 0, 0.1, 0.1), "depth must be an integer >= 1, got 0"),
    (lambda: nc.regularization_constant([2, 3], 1, -0.1, 0.1), "weight_decay must be >= 0.0, got -0.1"),
    (lambda: nc.regularization_constant([2, 3], 1, 0.1, -0.1), "feature_decay must be >= 0.0, got -0.1"),
    (lambda: nc.regularization_constant(5, 1, 0.1, 0.1), "class_sizes must be a sequence of class sizes, got 5"),
    (lambda: nc.regularization_constant([5], 1, 0.1, 0.1), "class_sizes must list at least 2 classes, got 1"),
    (lambda: nc.regularization_constant([5, 0], 1, 0.1, 0.1), "class_sizes must be integers >= 1, got [5, 0]"),
    (lambda: nc.regularization_constant([5, True], 1, 0.1, 0.1), "class_sizes must be integers >= 1, got [5, True]"),
    (lambda: nc.regularization_constant([5, 2.0], 1, 0.1, 0.1), "class_sizes must be integers >= 1, got [5, 2.0]"),
    (lambda: nc.zero_solution_regularization([2, 3], 0), "depth must be an integer >= 1, got 0"),
    (lambda: nc.largest_root(0.5, 0), "depth must be an integer >= 1, got 0"),
    (lambda: nc.largest_root(0.0, 2), "ratio must be > 0.0, got 0.0"),
    (lambda: nc.class_root(0.5, 0), "depth must be an integer >= 1, got 0"),
    (lambda: nc.deep_linear_ufm_minimum([2, 3], 0, 0.1, 0.1), "depth must be an integer >= 1, got 0"),
    (lambda: nc.deep_linear_ufm_minimum([2, 3], 1, 0.0, 0.1), "weight_decay must be > 0.0, got 0.0"),
    (lambda: nc.deep_linear_ufm_minimum([2, 3], 1, 0.1, 0.0), "feature_decay must be > 0.0, got 0.0"),
    (lambda: nc.deep_linear_ufm_minimum([2, 3], 1, 0.1, 0.1, loss="l1"), "loss must be 'mse' or 'ce', got 'l1'"),
    (lambda: nc.deep_linear_ufm_minimum([2, 3], 1, 0.1, 0.1, bias=1), "bias must be True or False, got 1"),
    (lambda: nc.deep_linear_ufm_minimum([2, 3], 1, 0.1, 0.1, loss="ce"),
     "loss='ce' is derived for balanced class_sizes only (the paper's CE theorem)"),
    (lambda: nc.deep_linear_ufm_minimum([2, 3], 1, 0.1, 0.1, bias=True),
     "bias=True is derived for balanced class_sizes only; use bias=False for imbalanced data"),
    (lambda: nc.simplex_etf_gram(1), "num_classes must be an integer >= 2, got 1"),
    (lambda: nc.mixup_same_class_scale(1, 0.1), "num_classes must be an integer >= 2, got 1"),
    (lambda: nc.mixup_same_class_scale(3, 0.0), "feature_decay must be > 0.0, got 0.0"),
    (lambda: nc.mixup_optimal_feature(1, 0.1, 0.5), "num_classes must be an integer >= 2, got 1"),
    (lambda: nc.mixup_optimal_feature(3, 0.0, 0.5), "feature_decay must be > 0.0, got 0.0"),
    (lambda: nc.mixup_optimal_feature(3, 0.1, 1.5), "mix must be <= 1.0, got 1.5"),
    (lambda: nc.mixup_optimal_feature(3, 0.1, -0.5), "mix must be >= 0.0, got -0.5"),
    (lambda: nc.mixup_mse_feature(1, 0.1, 0.5), "num_classes must be an integer >= 2, got 1"),
    (lambda: nc.mixup_mse_feature(3, 0.0, 0.5), "feature_decay must be > 0.0, got 0.0"),
    (lambda: nc.mixup_mse_feature(3, 0.1, 1.5), "mix must be <= 1.0, got 1.5"),
    (lambda: nc.mixup_mse_feature(3, 0.1, -0.5), "mix must be >= 0.0, got -0.5"),
    (lambda: nc.mixup_logit_margin(1, 1.0, 0.0), "num_classes must be an integer >= 2, got 1"),
    (lambda: nc.class_means(np.ones((2, 3)), [0, 1]), "labels must be a 1-D array with one label per column of features (3), got shape (2,)"),
    (lambda: nc.class_means(np.ones(3), [0, 1, 1]), "features must be a 2-D array, got shape (3,)"),
    (lambda: nc.class_means(np.ones((2, 3)), [[0, 1, 1]]),
     "labels must be a 1-D array with one label per column of features (3), got shape (1, 3)"),
    (lambda: nc.class_means(np.ones((2, 3)), [0, 1, 1], num_classes=1), "num_classes must be an integer >= 2, got 1"),
    (lambda: nc.nc1(np.eye(2), np.ones((3, 2))), "within_cov must be d x d and means d x K with one d, got (2, 2) and (3, 2)"),
    (lambda: nc.nc1(np.ones((2, 3)), np.ones((2, 2))), "within_cov must be a square matrix, got shape (2, 3)"),
    (lambda: nc.nc1(np.ones(2), np.ones((2, 2))), "within_cov must be a 2-D array, got shape (2,)"),
    (lambda: nc.nc1(np.eye(2), np.ones(2)), "means must be a 2-D array, got shape (2,)"),
    (lambda: nc.nc1(np.eye(2), np.ones((2, 1))), "means must have at least 2 classes"),
    (lambda: nc.nc2(np.eye(2), np.eye(3)), "gram and target must be square matrices of one shape, got (2, 2) and (3, 3)"),
    (lambda: nc.nc2(np.ones((2, 3)), np.ones((2, 3))),
     "gram must be a square matrix, got shape (2, 3)"),
    (lambda: nc.nc2(np.ones(2), np.ones(2)), "gram must be a 2-D array, got shape (2,)"),
    (lambda: nc.nc2(np.zeros((2, 2)), np.eye(2)), "nc2 is undefined for a zero Gram matrix or target"),
    (lambda: nc.nc2(np.eye(2), np.zeros((2, 2))), "nc2 is undefined for a zero Gram matrix or target"),
    (lambda: nc.frame_target("etf", 1), "num_classes must be an integer >= 2, got 1"),
    (lambda: nc.frame_target("general", 3, [1.0, 2.0]),
     "lengths must have shape (3,), got (2,)"),
    (lambda: nc.frame_target("general", 2, [1.0, -2.0]),
     "lengths must be >= 0, got a minimum of -2.0"),
    (lambda: nc.frame_target("simplex", 3), "kind must be one of 'etf', 'orthogonal', 'general', got 'simplex'"),
    (lambda: nc.nc3(np.ones((2, 3)), np.ones((2, 3))), "product must be K x d and means d x K, got (2, 3) and (2, 3)"),
    (lambda: nc.nc3(np.ones(3), np.ones((3, 1))), "product must be a 2-D array, got shape (3,)"),
    (lambda: nc.nc3(np.ones((1, 3)), np.ones(3)), "means must be a 2-D array, got shape (3,)"),
    (lambda: nc.nc3(np.zeros((2, 3)), np.ones((3, 2))), "nc3 is undefined for a zero classifier or zero means"),
    (lambda: nc.nc3(np.ones((2, 3)), np.zeros((3, 2))), "nc3 is undefined for a zero classifier or zero means"),
]


@pytest.mark.parametrize("call,message", CASES, ids=[m[:60] for _, m in CASES])
def test_error_message_names_the_parameter_and_the_allowed_range(call, message):
    with pytest.raises(ValueError, match=_exact(message)):
        call()


def test_boundary_values_are_accepted():
    assert nc.collapse_threshold(1) == 1.0 and nc.root_threshold(1) == 1.0
    assert nc.regularization_constant([2, 3], 1, 0.0, 0.1) == 0.0  # decays of 0 are allowed
    assert nc.regularization_constant([2, 3], 1, 0.1, 0.0) == 0.0
    # beta = M N (N lh lw^M)^(1/M): M = 2, N = 5, lh = 0.2, lw = 0.1 -> 10 * sqrt(5 * 0.2 * 0.01) = 1
    assert nc.regularization_constant([2, 3], 2, 0.1, 0.2) == pytest.approx(1.0, rel=1e-14)
    assert nc.mixup_optimal_feature(2, 0.1, 1.0)[0] > 0 and nc.mixup_optimal_feature(2, 0.1, 0.0)[0] < 0
    np.testing.assert_array_equal(nc.frame_target("general", 2, [0.0, 2.0]), np.diag([0.0, 2.0]))
    np.testing.assert_array_equal(nc.frame_target("orthogonal", 2), np.eye(2))
    np.testing.assert_allclose(nc.frame_target("etf", 2), [[0.5, -0.5], [-0.5, 0.5]], rtol=1e-15)


# --------------------------------------------------------------------------- roots

def test_naive_largest_root_clips_and_returns_zero_without_a_root():
    # depth 1 has the closed form 1/sqrt(r) - 1; it is >= 0 for r <= 1, absent above
    assert nc.naive_largest_root(0.25, 1) == pytest.approx(1.0, rel=1e-15)
    assert nc.naive_largest_root(1.0, 1) == 0.0  # root exactly 0 at r = 1 is returned as is
    assert nc.naive_largest_root(4.0, 1) == 0.0  # no root: 0, not None
    assert isinstance(nc.naive_largest_root(4.0, 1), float)
    big = nc.root_threshold(3) * 1.01
    assert nc.naive_largest_root(big, 3) == 0.0
    r = nc.naive_largest_root(0.1, 3)
    assert 3 * r**2 / (r**3 + 1) ** 2 == pytest.approx(0.1, rel=1e-12)


def test_largest_root_at_the_root_threshold_is_the_peak():
    for M in (2, 3, 5):
        psi = nc.root_threshold(M)
        peak = ((M - 1.0) / (M + 1.0)) ** (1.0 / M)
        assert psi == pytest.approx(M * peak ** (M - 1) / (peak**M + 1) ** 2, rel=1e-12)
        x = nc.largest_root(psi, M)
        assert x == pytest.approx(peak, rel=1e-6)
        assert nc.largest_root(psi * (1 + 1e-9), M) is None


# --------------------------------------------------------------------------- NC metrics by loops

def _data(seed=0, d=3, K=3, per=4):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(K), per)
    H = rng.standard_normal((d, K * per)) + 2 * rng.standard_normal((d, K))[:, labels]
    return H, labels


def test_class_means_and_within_covariance_by_loops():
    H, y = _data()
    means, g = nc.class_means(H, y)
    for k in range(3):
        cols = [H[:, i] for i in range(H.shape[1]) if y[i] == k]
        np.testing.assert_allclose(means[:, k], sum(cols) / len(cols), rtol=1e-14)
    np.testing.assert_allclose(g, H.sum(axis=1) / H.shape[1], rtol=1e-14)
    Sw = nc.within_class_covariance(H, y)
    ref = sum(np.outer(H[:, i] - means[:, y[i]], H[:, i] - means[:, y[i]]) for i in range(H.shape[1])) / H.shape[1]
    np.testing.assert_allclose(Sw, ref, rtol=1e-12)
    # an empty class (num_classes larger than any label) has a zero mean column
    means4, _ = nc.class_means(H, y, num_classes=4)
    np.testing.assert_array_equal(means4[:, 3], np.zeros(3))
    np.testing.assert_allclose(means4[:, :3], means, rtol=1e-15)
    Sw4 = nc.within_class_covariance(H, y, num_classes=4)
    np.testing.assert_allclose(Sw4, ref, rtol=1e-12)
    # integer features give the same means
    Hi = np.array([[1, 3, 5, 6], [0, 2, 2, 4]])
    mi, gi = nc.class_means(Hi, [0, 0, 1, 1])
    np.testing.assert_array_equal(mi, [[2.0, 5.5], [1.0, 3.0]])
    np.testing.assert_array_equal(gi, [3.75, 2.0])


def test_nc1_against_the_definition_with_an_explicit_inverse():
    H, y = _data(1, d=2, K=3)
    means, g = nc.class_means(H, y)
    Sw = nc.within_class_covariance(H, y)
    C = means - g[:, None]
    Sb = sum(np.outer(C[:, k], C[:, k]) for k in range(3)) / 3  # full rank in d = 2
    ref = np.trace(Sw @ np.linalg.inv(Sb)) / 3
    assert nc.nc1(Sw, means) == pytest.approx(ref, rel=1e-10)
    assert nc.nc1(Sw, means, g) == pytest.approx(ref, rel=1e-10)
    # an explicit global mean other than the means' average changes Sigma_B
    shifted = g + np.array([1.0, -0.5])
    Cs = means - shifted[:, None]
    Sbs = sum(np.outer(Cs[:, k], Cs[:, k]) for k in range(3)) / 3
    assert nc.nc1(Sw, means, list(shifted)) == pytest.approx(np.trace(Sw @ np.linalg.inv(Sbs)) / 3, rel=1e-10)


def test_nc1_pseudo_inverse_drops_the_null_direction():
    # two classes in d = 2: Sigma_B has rank 1 along e_1; within-class spread along e_2 is invisible to the pinv
    means = np.array([[1.0, -1.0], [0.0, 0.0]])
    Sw = np.diag([0.5, 7.0])
    # Sigma_B = diag(1, 0): pinv = diag(1, 0); tr(Sw pinv) / K = 0.5 / 2
    assert nc.nc1(Sw, means) == pytest.approx(0.25, rel=1e-14)
    # three classes spanning both directions: Sigma_B = diag(2/3, 2 s^2), off-diagonal exactly 0
    for s, kept in ((1e-4, True), (math.sqrt(1e-13 / 3), False)):
        means3 = np.array([[1.0, -1.0, 0.0], [s, s, -2 * s]])
        # a second direction at relative size 3 s^2: resolved above rcond = 1e-12, dropped below it
        expected = (0.5 / (2 / 3) + (7.0 / (2 * s * s) if kept else 0.0)) / 3
        assert nc.nc1(Sw, means3) == pytest.approx(expected, rel=1e-6)


def test_nc2_and_nc3_against_hand_values():
    # G = diag(1, 3) vs I: G/|G| - I/|I| with |G| = sqrt(10), |I| = sqrt(2)
    G = np.diag([1.0, 3.0])
    ref = math.hypot(1 / math.sqrt(10) - 1 / math.sqrt(2), 3 / math.sqrt(10) - 1 / math.sqrt(2))
    assert nc.nc2(G, np.eye(2)) == pytest.approx(ref, rel=1e-14)
    assert nc.nc2(5 * np.eye(2), np.eye(2)) == 0.0
    # nc3: W (K x d) against (M D)^T
    W = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    Mu = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # d x K
    T = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    ref = np.linalg.norm(W / np.linalg.norm(W) - T / np.linalg.norm(T))
    assert nc.nc3(W, Mu) == pytest.approx(ref, rel=1e-14)
    # scaling D = diag(1, 2) turns the means into W's shape exactly
    assert nc.nc3(W, Mu, [1.0, 2.0]) == pytest.approx(0.0, abs=1e-15)
    assert nc.nc3(W, Mu, np.array([1, 2])) == pytest.approx(0.0, abs=1e-15)
    assert nc.nc3(np.array([[1, 0, 0], [0, 2, 0]]), Mu.astype(int), [1, 2]) == pytest.approx(0.0, abs=1e-15)


# --------------------------------------------------------------------------- mixup optima by brute force

def _objective(a, b, mix, lam, K):
    """Cross-entropy of a mixup sample against the simplex ETF classifier, written out from logits."""
    o = -1.0 / (K - 1.0)
    z = np.array([a + o * b, o * a + b] + [o * (a + b)] * (K - 2))
    t = np.zeros(K)
    t[0], t[1] = mix, 1 - mix
    lse = z.max() + math.log(np.exp(z - z.max()).sum())
    # |a w_c + b w_c'|^2 with unit ETF vectors: a^2 + b^2 + 2ab * (-1/(K-1))
    return lse - t @ z + lam / 2 * (a * a + b * b + 2 * a * b * o)


@pytest.mark.parametrize("K,lam,mix", [(3, 0.05, 0.7), (5, 0.2, 0.3), (4, 0.01, 1.0), (3, 0.1, 0.0)])
def test_mixup_optimal_feature_is_the_brute_force_minimiser(K, lam, mix):
    a, b = nc.mixup_optimal_feature(K, lam, mix)
    res = minimize(lambda v: _objective(v[0], v[1], mix, lam, K), [1.0, 0.5], method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000})
    assert _objective(a, b, mix, lam, K) <= res.fun + 1e-12
    np.testing.assert_allclose([a, b], res.x, atol=1e-4)
    f, g, Hm = nc.mixup_objective_gradient_hessian(a, b, mix, lam, K)
    assert f == pytest.approx(_objective(a, b, mix, lam, K), rel=1e-13)
    assert np.abs(g).max() <= 1e-9


def test_mixup_optimal_feature_two_classes_minimum_norm_pair():
    for mix, lam in ((0.8, 0.1), (0.2, 0.3), (0.5, 0.1)):
        a, b = nc.mixup_optimal_feature(2, lam, mix)
        assert a == -b
        gm = a - b
        # 1-D objective in gamma: logits (gamma, -gamma), target (mix, 1 - mix), norm gamma^2
        res = minimize(lambda v: math.log(math.exp(v[0]) + math.exp(-v[0])) - (2 * mix - 1) * v[0]
                       + lam / 2 * v[0] ** 2, [0.1], method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-15})
        assert gm == pytest.approx(res.x[0], abs=1e-6)


def test_mixup_optimal_feature_brackets_large_optima():
    # a tiny decay puts the optimum far from the initial bracket [-1, 1]: the doubling must find it
    a, b = nc.mixup_optimal_feature(2, 1e-4, 0.99)
    gm = a - b
    assert gm > 2.0
    # stationarity of log(e^g + e^-g) - (2 mix - 1) g + lam g^2 / 2
    assert math.tanh(gm) - 0.98 + 1e-4 * gm == pytest.approx(0.0, abs=1e-12)
    a, b = nc.mixup_optimal_feature(2, 1e-4, 0.01)
    assert a - b < -2.0


def test_mixup_same_class_scale_is_the_one_dimensional_minimiser():
    for K, lam in ((3, 0.1), (4, 0.001)):
        a = nc.mixup_same_class_scale(K, lam)
        res = minimize(lambda v: _objective(v[0], 0.0, 1.0, lam, K), [1.0], method="Nelder-Mead",
                       options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 20000})
        assert a == pytest.approx(res.x[0], rel=1e-6)
        assert nc.mixup_optimal_feature(K, lam, 0.3, same_class=True) == (a, 0.0)


def test_mixup_mse_feature_against_a_dense_solve_in_feature_space():
    for K, lam, mix in ((3, 0.2, 0.7), (2, 0.1, 0.4), (5, 1.0, 1.0)):
        # explicit ETF vectors: rows of the centred identity, normalised
        Wt = np.eye(K) - np.ones((K, K)) / K
        Wt /= np.linalg.norm(Wt, axis=1, keepdims=True)  # K x K, rows w_j
        t = np.zeros(K)
        t[0], t[1] = mix, 1 - mix
        h = np.linalg.solve(Wt.T @ Wt + lam * np.eye(K), Wt.T @ t)  # ridge regression of t on W h
        a, b = nc.mixup_mse_feature(K, lam, mix)
        np.testing.assert_allclose(a * Wt[0] + b * Wt[1], h, atol=1e-12)


def test_mixup_logit_margin_hand_value():
    assert nc.mixup_logit_margin(3, 2.0, 0.5) == pytest.approx(1.5 * 3 / 2, rel=1e-15)
    assert nc.mixup_logit_margin(2, 1.0, -1.0) == pytest.approx(4.0, rel=1e-15)


def test_mixup_objective_with_two_classes_has_no_other_logits():
    f, g, Hm = nc.mixup_objective_gradient_hessian(0.7, -0.2, 0.6, 0.1, 2)
    assert f == pytest.approx(_objective(0.7, -0.2, 0.6, 0.1, 2), rel=1e-14)
    # numerical gradient and Hessian
    h = 1e-6
    for i, e in enumerate(np.eye(2)):
        fp = nc.mixup_objective_gradient_hessian(0.7 + h * e[0], -0.2 + h * e[1], 0.6, 0.1, 2)
        fm = nc.mixup_objective_gradient_hessian(0.7 - h * e[0], -0.2 - h * e[1], 0.6, 0.1, 2)
        assert g[i] == pytest.approx((fp[0] - fm[0]) / (2 * h), abs=1e-8)
        np.testing.assert_allclose(Hm[:, i], (fp[1] - fm[1]) / (2 * h), atol=1e-7)


def test_two_class_mixup_validates_the_decay_itself():
    with pytest.raises(ValueError, match=_exact("feature_decay must be > 0.0, got 0.0")):
        nc.mixup_optimal_feature(2, 0.0, 0.5)
    with pytest.raises(ValueError, match=_exact("feature_decay must be > 0.0, got -1.0")):
        nc.mixup_optimal_feature(2, -1.0, 0.5)


def test_mixup_roots_to_full_precision_against_mpmath():
    import mpmath

    mpmath.mp.dps = 40
    # two classes: tanh(g) - (2 mix - 1) + lam g = 0 for g = a - b
    for mix, lam in ((0.8, 0.1), (0.3, 0.02)):
        g = mpmath.findroot(lambda v: mpmath.tanh(v) - (2 * mpmath.mpf(mix) - 1) + lam * v, 0.5)
        a, b = nc.mixup_optimal_feature(2, lam, mix)
        assert a - b == pytest.approx(float(g), rel=8 * np.finfo(float).eps, abs=0)
    # same class: d/da [log(e^a + (K-1) e^{o a}) - a + lam a^2 / 2] = 0 with o = -1/(K-1)
    for K, lam in ((3, 0.1), (5, 0.01)):
        o = mpmath.mpf(-1) / (K - 1)

        def eq(v):
            num = mpmath.exp(v) + (K - 1) * o * mpmath.exp(o * v)
            return num / (mpmath.exp(v) + (K - 1) * mpmath.exp(o * v)) - 1 + lam * v
        root = mpmath.findroot(eq, 1.0)
        assert nc.mixup_same_class_scale(K, lam) == pytest.approx(float(root), rel=8 * np.finfo(float).eps, abs=0)


# --------------------------------------------------------------------------- the CE minimum

def test_ce_scale_is_the_global_minimiser_of_the_ce_objective_by_a_scan():
    for M, lw, lh, N, K in ((1, 5e-3, 5e-3, 30, 3), (2, 1e-3, 1e-3, 40, 4), (3, 2e-3, 1e-3, 20, 2)):
        rho = nc.ce_scale(M, lw, lh, N, K)
        grid = np.concatenate([[0.0], np.logspace(-6, 3, 20001)])
        vals = np.array([nc.ce_objective(r, M, lw, lh, N, K) for r in grid])
        best = vals.min()
        # the scan's best is within its own resolution of the minimum: never below the solver's value by more
        # than rounding, and the solver's value is never worse than the scan
        assert nc.ce_objective(rho, M, lw, lh, N, K) <= best * (1 + 1e-12)


def test_ce_minimum_fields_match_the_simplex_etf_at_the_derived_scale():
    M, lw, lh, sizes = 2, 1e-3, 1e-3, [10, 10, 10]
    K, N = 3, 30.0
    res = nc.deep_linear_ufm_minimum(sizes, M, lw, lh, loss="ce", bias=True)
    rho = nc.ce_scale(M, lw, lh, N, K)
    assert rho > 0
    G = nc.simplex_etf_gram(K)
    alpha2 = res.classifier_gram[0, 0]  # the ETF Gram has unit diagonal
    # classifier and means are both simplex ETF Grams; the product of their lengths is the logit scale rho
    np.testing.assert_allclose(res.classifier_gram, alpha2 * G, rtol=1e-13)
    beta2 = res.feature_mean_gram[0, 0]
    np.testing.assert_allclose(res.feature_mean_gram, beta2 * G, rtol=1e-13)
    assert math.sqrt(alpha2 * beta2) == pytest.approx(rho, rel=1e-12)
    # every layer's singular value s with s^M = alpha sqrt(K/(K-1)), the product's singular value
    np.testing.assert_allclose(res.layer_singular_values ** (2 * M), np.full(K, alpha2 * K / (K - 1)), rtol=1e-12)
    np.testing.assert_allclose(res.x, np.full(K, rho), rtol=1e-15)
    assert res.objective == pytest.approx(nc.ce_objective(rho, M, lw, lh, N, K), rel=1e-14)
    assert res.frame == "simplex ETF" and not res.collapsed.any() and res.collapsed.dtype == bool
    np.testing.assert_array_equal(res.bias, np.zeros(K))
    assert res.beta == nc.regularization_constant(sizes, M, lw, lh)
    assert res.params == dict(class_sizes=sizes, depth=M, weight_decay=lw, feature_decay=lh, loss="ce", bias=True)
    assert nc.deep_linear_ufm_minimum(sizes, M, lw, lh, loss="ce").bias is None


def test_ce_minimum_collapses_to_zero_under_heavy_regularisation():
    sizes = [5, 5, 5, 5]
    res = nc.deep_linear_ufm_minimum(sizes, 2, 5.0, 5.0, loss="ce", bias=True)
    assert nc.ce_scale(2, 5.0, 5.0, 20, 4) == 0.0
    np.testing.assert_array_equal(res.classifier_gram, np.zeros((4, 4)))
    np.testing.assert_array_equal(res.feature_mean_gram, np.zeros((4, 4)))
    assert res.collapsed.dtype == bool and res.collapsed.all() and res.collapsed.shape == (4,)
    assert res.objective == math.log(4)  # every logit equal: cross-entropy log K
    np.testing.assert_array_equal(res.layer_singular_values, np.zeros(4))
    np.testing.assert_array_equal(res.x, np.zeros(4))
    np.testing.assert_array_equal(res.bias, np.zeros(4))
    assert res.frame == "zero" and res.beta == nc.regularization_constant(sizes, 2, 5.0, 5.0)
    assert res.params["loss"] == "ce"
    assert nc.deep_linear_ufm_minimum(sizes, 2, 5.0, 5.0, loss="ce").bias is None


def test_mse_minimum_frame_names():
    # balanced, nothing collapsed: equal lengths -> orthogonal frame
    assert nc.deep_linear_ufm_minimum([5, 5, 5], 1, 1e-3, 1e-3).frame == "orthogonal"
    # imbalanced: unequal lengths -> general orthogonal; a collapsed minority -> general orthogonal
    assert nc.deep_linear_ufm_minimum([50, 5, 5], 1, 1e-3, 1e-3).frame == "general orthogonal"
    beta_ratio = nc.collapse_threshold(2)
    # choose decays so that the minority (n = 1) collapses and the majority (n = 100) does not
    lam = nc.zero_solution_regularization([1, 100], 2) * 0.5
    res = nc.deep_linear_ufm_minimum([1, 100], 2, lam, lam)
    assert res.collapsed.tolist() == [True, False] and res.frame == "general orthogonal"
    assert beta_ratio > 0
    # everything collapsed: zero
    lam = nc.zero_solution_regularization([3, 3], 2) * 2
    assert nc.deep_linear_ufm_minimum([3, 3], 2, lam, lam).frame == "zero"


def test_thresholds_and_roots_at_depth_one_and_their_boundaries():
    assert nc.collapse_threshold(1) == 1.0 and nc.root_threshold(1) == 1.0
    # depth 1: the closed form 1/sqrt(r) - 1; no root at r >= 1
    assert nc.largest_root(1.0, 1) is None
    assert nc.largest_root(1.5, 1) is None
    assert nc.largest_root(0.25, 1) == pytest.approx(1.0, rel=1e-15)
    # class_root: collapsed exactly at the threshold
    assert nc.class_root(nc.collapse_threshold(2), 2) == 0.0
    below = nc.class_root(nc.collapse_threshold(2) * (1 - 1e-9), 2)
    assert below > 0
    # depth >= 2 at a ratio just below psi_M: the root sits just above the peak (bracket [peak, ...])
    M = 4
    peak = ((M - 1.0) / (M + 1.0)) ** (1.0 / M)
    r = nc.root_threshold(M) * (1 - 1e-6)
    x = nc.largest_root(r, M)
    assert x > peak and M * x ** (M - 1) / (x**M + 1) ** 2 == pytest.approx(r, rel=1e-13)
    # a small ratio: the root is large, found by doubling the upper bracket
    x = nc.largest_root(1e-6, 3)
    assert x > 10 and 3 * x**2 / (x**3 + 1) ** 2 == pytest.approx(1e-6, rel=1e-13)


@pytest.mark.parametrize("decay,frame", [(1e-3, "simplex ETF"), (None, "zero")])
def test_mse_minimum_with_bias_is_the_centred_bias_free_minimum(decay, frame):
    """Balanced MSE with a bias: the bias absorbs the mean target 1/K, leaving the bias-free problem
    projected on the centred subspace P = I - 11^T/K: Grams P G P, objective (K-1)/K of the bias-free one."""
    sizes, M, K = [4, 4, 4], 2, 3
    if decay is None:
        decay = nc.zero_solution_regularization(sizes, M) * 2
    with_b = nc.deep_linear_ufm_minimum(sizes, M, decay, decay, bias=True)
    free = nc.deep_linear_ufm_minimum(sizes, M, decay, decay)
    P = np.eye(K) - np.ones((K, K)) / K
    np.testing.assert_allclose(with_b.classifier_gram, P @ free.classifier_gram @ P, atol=1e-15, rtol=1e-13)
    np.testing.assert_allclose(with_b.feature_mean_gram, P @ free.feature_mean_gram @ P, atol=1e-15, rtol=1e-13)
    assert with_b.objective == pytest.approx((K - 1) / K * free.objective, rel=1e-13)
    np.testing.assert_allclose(with_b.layer_singular_values, free.layer_singular_values, rtol=1e-13)
    np.testing.assert_array_equal(with_b.x, free.x)
    assert with_b.x.shape == (K,) and with_b.collapsed.shape == (K,) and with_b.collapsed.dtype == bool
    np.testing.assert_array_equal(with_b.collapsed, free.collapsed)
    np.testing.assert_allclose(with_b.bias, np.full(K, 1 / K), rtol=1e-15)
    assert with_b.frame == frame and free.bias is None
    assert with_b.params["bias"] is True and with_b.beta == free.beta


MORE_CASES = [
    (lambda: nc.class_objective(-1.0, 1.0, 1.0, 1), ValueError, "x must be >= 0.0, got -1.0"),
    (lambda: nc.class_objective(1.0, 0.0, 1.0, 1), ValueError, "n_k must be > 0.0, got 0.0"),
    (lambda: nc.class_objective(1.0, 1.0, -1.0, 1), ValueError, "beta must be >= 0.0, got -1.0"),
    (lambda: nc.class_objective(1.0, 1.0, 1.0, 0), ValueError, "depth must be an integer >= 1, got 0"),
    (lambda: nc.class_root(0.0, 2), ValueError, "ratio must be > 0.0, got 0.0"),
    (lambda: nc.ce_objective(1.0, 0, 1e-3, 1e-3, 10, 2), ValueError, "depth must be an integer >= 1, got 0"),
    (lambda: nc.ce_objective(1.0, 1, 0.0, 1e-3, 10, 2), ValueError, "weight_decay must be > 0.0, got 0.0"),
    (lambda: nc.ce_objective(1.0, 1, 1e-3, 1e-3, 0.0, 2), ValueError, "n_samples must be > 0.0, got 0.0"),
    (lambda: nc.mixup_objective_gradient_hessian(math.nan, 0.0, 0.5, 0.1, 3), ValueError, "a must be finite, got nan"),
    (lambda: nc.mixup_objective_gradient_hessian(0.0, math.nan, 0.5, 0.1, 3), ValueError, "b must be finite, got nan"),
    (lambda: nc.mixup_objective_gradient_hessian(0.0, 0.0, 1.5, 0.1, 3), ValueError, "mix must be <= 1.0, got 1.5"),
    (lambda: nc.mixup_logit_margin(3, math.nan, 0.0), ValueError, "a must be finite, got nan"),
    (lambda: nc.mixup_logit_margin(3, 0.0, math.nan), ValueError, "b must be finite, got nan"),
    (lambda: nc.class_means(np.ones((2, 3)), [0, 1, 5], num_classes=3), ValueError,
     "labels must lie in [0, num_classes - 1] = [0, 2], got a label 5"),
    (lambda: nc.class_means(np.ones((2, 1)), [2**64]), ValueError,
     "labels must be class labels in [0, num_classes - 1], got a label beyond 2**63"),
    (lambda: nc.nc2(np.eye(2), np.ones((2, 3))), ValueError, "target must be a square matrix, got shape (2, 3)"),
    (lambda: nc.nc3(np.ones((2, 3)), np.ones((3, 2)), scaling=[1.0]), ValueError, "scaling must have shape (2,), got (1,)"),
]


@pytest.mark.parametrize("call,kind,message", MORE_CASES, ids=[m[:60] for _, _, m in MORE_CASES])
def test_more_error_messages_in_full(call, kind, message):
    with pytest.raises(kind, match=_exact(message)):
        call()


# --------------------------------------------------------------------------- further argument checks, full messages

U = np.finfo(float).eps / 2  # unit roundoff


CHECK_CASES = [
    # class_root's own check: an int ratio is reported as given (largest_root would see the float)
    (lambda: nc.class_root(0, 2), ValueError, "ratio must be > 0.0, got 0"),
    (lambda: nc.class_root(-1, 2), ValueError, "ratio must be > 0.0, got -1"),
    (lambda: nc.ce_objective(-1.0, 1, 1e-3, 1e-3, 10, 2), ValueError, "rho must be >= 0.0, got -1.0"),
    (lambda: nc.ce_objective(1.0, 1, 1e-3, 0.0, 10, 2), ValueError, "feature_decay must be > 0.0, got 0.0"),
    (lambda: nc.ce_objective(1.0, 1, 1e-3, 1e-3, 10, 1), ValueError, "num_classes must be an integer >= 2, got 1"),
    (lambda: nc.mixup_objective_gradient_hessian(0.0, 0.0, -0.5, 0.1, 3), ValueError, "mix must be >= 0.0, got -0.5"),
    (lambda: nc.mixup_objective_gradient_hessian(0.0, 0.0, 0.5, -1.0, 3), ValueError, "lam must be >= 0.0, got -1.0"),
    (lambda: nc.mixup_objective_gradient_hessian(0.0, 0.0, 0.5, 0.1, 1), ValueError, "K must be an integer >= 2, got 1"),
    # mixup_optimal_feature checks mix itself: an int mix is reported as given (the objective would see the float)
    (lambda: nc.mixup_optimal_feature(3, 0.1, -1), ValueError, "mix must be >= 0.0, got -1"),
    (lambda: nc.mixup_optimal_feature(3, 0.1, 2), ValueError, "mix must be <= 1.0, got 2"),
    (lambda: nc.mixup_optimal_feature(3, 0.1, 0.5, same_class=1), TypeError, "same_class must be True or False, got 1"),
    (lambda: nc.class_means(np.ones((2, 3)), [0, 1, 3], num_classes=3), ValueError,
     "labels must lie in [0, num_classes - 1] = [0, 2], got a label 3"),
    (lambda: nc.class_means(np.ones((2, 3)), None), TypeError,
     "labels must be a 1-D array of integer class labels, got None"),
    (lambda: nc.class_means(np.ones((2, 3)), "abc"), TypeError,
     "labels must be a 1-D array of integer class labels, got 'abc'"),
    (lambda: nc.class_means(np.ones((2, 3)), [[0, 1], [1]]), ValueError,
     "labels must be a 1-D array of integer class labels, got [[0, 1], [1]]"),
    (lambda: nc.class_means(np.ones((2, 3)), np.array([0, 1, 2.5], dtype=object)), ValueError,
     "labels must be integer class labels, got dtype object"),
    (lambda: nc.class_means(np.ones((2, 3)), np.array([0, True, 1], dtype=object)), ValueError,
     "labels must be integer class labels, got dtype object"),
    (lambda: nc.class_means(np.ones((2, 3)), [0, 1, 2.5]), ValueError,
     "labels must be integer class labels, got dtype float64"),
    (lambda: nc.class_means(np.ones((2, 3)), [0, -1, 1]), ValueError, "labels must be >= 0, got -1"),
    (lambda: nc.within_class_covariance(np.ones((2, 3)), [0, 1, 5], num_classes=3), ValueError,
     "labels must lie in [0, num_classes - 1] = [0, 2], got a label 5"),
    (lambda: nc.within_class_covariance(np.ones((2, 3)), [0, 1, 1], num_classes=1), ValueError,
     "num_classes must be an integer >= 2, got 1"),
    (lambda: nc.nc1(np.eye(2), np.ones((2, 2)), global_mean=[1.0, 2.0, 3.0]), ValueError,
     "global_mean must have shape (2,), got (3,)"),
]


@pytest.mark.parametrize("call,kind,message", CHECK_CASES, ids=[m[:60] for _, _, m in CHECK_CASES])
def test_argument_checks_in_full(call, kind, message):
    with pytest.raises(kind, match=_exact(message)):
        call()


def _memory_message(names, values, n_bytes, limit):
    """theory._checks.memory's one-line refusal (tests/test_mutation_checks.py pins its format)."""
    return (f"{names} too large: {values} needs about {n_bytes / 2**30:.3g} GiB of arrays, more "
            f"than the {limit / 2**30:.3g} GiB of memory of this machine")


@pytest.mark.parametrize("call,n_bytes,values", [
    # three K x K float64 matrices (eye, ones, the Gram) at K = 100
    (lambda: nc.simplex_etf_gram(100), 3 * 8 * 100 * 100, "num_classes=100 (K x K matrices)"),
    # two K x K float64 matrices at K = 7
    (lambda: nc.frame_target("etf", 7), 2 * 8 * 7 * 7, "num_classes=7 (a K x K matrix)"),
    # the d x K float64 class means, d = 3 features, K = 5 classes (N = 4 samples, a different number)
    (lambda: nc.class_means(np.ones((3, 4)), [0, 1, 1, 0], num_classes=5), 8 * 3 * 5,
     "num_classes=5 (d x K class means)"),
])
def test_memory_guards_size_their_arrays_exactly(monkeypatch, call, n_bytes, values):
    # a machine with exactly the memory the arrays need runs the call; one byte less refuses it, naming the size
    monkeypatch.setattr(nc._checks, "physical_memory", lambda: n_bytes)
    call()
    monkeypatch.setattr(nc._checks, "physical_memory", lambda: n_bytes - 1)
    with pytest.raises(ValueError, match=_exact(_memory_message("num_classes", values, n_bytes, n_bytes - 1))):
        call()


# --------------------------------------------------------------------------- integer and object inputs

def test_class_sizes_are_summed_without_integer_overflow():
    # N = 2**63 does not fit an int64: beta = M N (N lh lw^M)^(1/M) at M = 2, lh = 1/2, lw = 1 is 2 * 2**63 * 2**31
    assert nc.regularization_constant([2**62, 2**62], 2, 1.0, 0.5) == 2.0**95


def test_within_class_covariance_is_float_for_integer_and_object_inputs():
    # features beyond int64 and labels in an object array: the definition by loops, in floats
    H = [[2**64, 0, 2**63], [1, 2, 4]]
    y = np.array([0, 0, 1], dtype=object)
    Hf = np.array([[2.0**64, 0.0, 2.0**63], [1.0, 2.0, 4.0]])
    mu = {0: Hf[:, :2].mean(axis=1), 1: Hf[:, 2]}
    ref = sum(np.outer(Hf[:, i] - mu[y[i]], Hf[:, i] - mu[y[i]]) for i in range(3)) / 3
    Sw = nc.within_class_covariance(H, y)
    assert Sw.dtype == np.float64
    np.testing.assert_allclose(Sw, ref, rtol=8 * U)


def test_minimum_records_the_class_sizes_as_given():
    for kw in (dict(), dict(bias=False), dict(loss="ce")):
        sizes = [3, 5] if kw.get("loss") != "ce" else [4, 4]
        res = nc.deep_linear_ufm_minimum(sizes, 2, 1e-3, 1e-3, **kw)
        assert res.params == dict(class_sizes=sizes, depth=2, weight_decay=1e-3, feature_decay=1e-3,
                                  loss=kw.get("loss", "mse"), bias=False)
        assert [type(s) for s in res.params["class_sizes"]] == [int, int]


def test_frame_name_compares_lengths_relatively():
    # imbalanced, nothing collapsed: every class has its own length, however small the lengths are
    # (M = 1: x_k = 1/sqrt(beta/n_k) - 1 differs for n = 1, 2; lengths N lh x_k are about 1e-10 here)
    res = nc.deep_linear_ufm_minimum([1, 2], 1, 1.0, 1e-20)
    d = np.diag(res.classifier_gram)
    assert not res.collapsed.any() and d.max() < 1e-8 and d[1] > d[0]
    assert res.frame == "general orthogonal"
    # and however close the sizes are: n = 10^6 and 10^6 + 1 give lengths about 1e-6 apart relatively
    res = nc.deep_linear_ufm_minimum([10**6, 10**6 + 1], 1, 1e-6, 1e-6)
    d = np.diag(res.classifier_gram)
    assert not res.collapsed.any() and 0 < (d[1] - d[0]) / d[0] < 1e-5
    assert res.frame == "general orthogonal"
    assert nc.deep_linear_ufm_minimum([7, 7], 1, 1.0, 1e-20).frame == "orthogonal"


def test_mixup_objective_with_two_classes_ignores_the_absent_third_logit():
    # K = 2, a = b: h = a (w_c + w_c') = 0, both logits 0, loss log 2, norm 0; the absent "other" logit
    # -(a + b)/(K - 1) = 2000 must not enter the log-sum-exp
    f, g, Hm = nc.mixup_objective_gradient_hessian(-1000.0, -1000.0, 0.6, 0.1, 2)
    assert f == pytest.approx(_objective(-1000.0, -1000.0, 0.6, 0.1, 2), rel=8 * U, abs=0)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(Hm))


# --------------------------------------------------------------------------- roots to full precision (mpmath)

@pytest.mark.parametrize("M,r", [(2, 0.45), (3, 0.3), (5, 0.1)])
def test_largest_root_to_its_documented_accuracy(M, r):
    import mpmath

    mpmath.mp.dps = 40
    x = nc.largest_root(r, M)
    ref = mpmath.findroot(lambda v: M * v ** (M - 1) / (v**M + 1) ** 2 - r, x)
    # the docstring's bound: brentq's rtol 4 eps plus (M + 4) u / |d log rhs / d log x|
    slope = abs((M - 1) - 2 * M * ref**M / (ref**M + 1))
    tol = 8 * U + (M + 4) * U / float(slope)
    assert abs(x - float(ref)) <= tol * float(ref)


def test_mixup_scales_with_small_optima_to_full_precision():
    import mpmath

    mpmath.mp.dps = 40
    # large decays put the optima well below 1: an absolute bracket tolerance would show
    for mix, lam in ((0.7, 3.0), (0.3, 50.0)):
        g = mpmath.findroot(lambda v: mpmath.tanh(v) - (2 * mpmath.mpf(mix) - 1) + lam * v, 0.01)
        a, b = nc.mixup_optimal_feature(2, lam, mix)
        assert a - b == pytest.approx(float(g), rel=8 * np.finfo(float).eps, abs=0)  # no default abs 1e-12
    for K, lam in ((3, 10.0), (3, 1000.0)):
        o = mpmath.mpf(-1) / (K - 1)

        def eq(v):
            num = mpmath.exp(v) + (K - 1) * o * mpmath.exp(o * v)
            return num / (mpmath.exp(v) + (K - 1) * mpmath.exp(o * v)) - 1 + lam * v
        root = mpmath.findroot(eq, 0.01)
        assert root < 1
        assert nc.mixup_same_class_scale(K, lam) == pytest.approx(float(root), rel=8 * np.finfo(float).eps, abs=0)


def _ce_reference(M, lw, lh, N, K, x0):
    """The CE scale by mpmath: loss log(1 + (K-1) e^{-c rho}) plus the regularisers minimised over the layers'
    common singular value s by hand (A s^2 + B s^{-2M} is least at s^{2M+2} = M B / A, value (M+1)/M A s^2)."""
    import mpmath

    mpmath.mp.dps = 40
    M, lw, lh, N, K = (mpmath.mpf(v) for v in (M, lw, lh, N, K))
    c = K / (K - 1)

    def parts(r):
        A = M * lw * (K - 1) / 2
        B = lh * N * K * r**2 / (2 * (K - 1))
        return mpmath.log(1 + (K - 1) * mpmath.exp(-c * r)), (M + 1) / M * A * (M * B / A) ** (1 / (M + 1))

    r = mpmath.findroot(lambda v: mpmath.diff(lambda w: sum(parts(w)), v), x0)
    # rounding of the derivative (a dozen operations on terms of size S) moves the root by ~ u S / |F''|
    S = sum(abs(mpmath.diff(lambda w: parts(w)[i], r)) for i in (0, 1))
    curvature = abs(mpmath.diff(lambda w: sum(parts(w)), r, 2))
    return float(r), float(16 * U * S / curvature), float(sum(parts(r))), float(mpmath.log(K))


@pytest.mark.parametrize("args", [(1, 0.1, 0.1, 18, 3), (2, 0.03, 0.03, 10, 10), (2, 1e-6, 1e-6, 40, 4)])
def test_ce_scale_to_full_precision_against_mpmath(args):
    # (1, ...): depth 1 with a scale below 1; (2, 0.03, ...): a scale near 3; (2, 1e-6, ...): tiny decays,
    # where the derivative is already negative at rho = 1e-12 (the local maximum lies below the grid)
    rho = nc.ce_scale(*args)
    ref, tol, obj, obj0 = _ce_reference(*args, rho if rho > 0 else 1.0)
    assert obj < obj0  # the positive stationary point beats rho = 0
    assert abs(rho - ref) <= 8 * np.finfo(float).eps * ref + tol


@pytest.mark.parametrize("K", [2, 3, 6])
def test_mixup_mse_feature_to_a_few_ulps_at_tiny_decays(K):
    import mpmath

    mpmath.mp.dps = 50
    for lam, mix in ((1e-12, 0.7), (1e-6, 0.2), (1.0, 1.0)):
        # ridge regression of t on W h in 50 digits, W's rows the unit simplex ETF vectors
        W = mpmath.matrix(K, K)
        for i in range(K):
            for j in range(K):
                W[i, j] = (1 if i == j else 0) - mpmath.mpf(1) / K
        W = W / mpmath.sqrt(mpmath.mpf(K - 1) / K)
        t = mpmath.matrix([mpmath.mpf(mix), 1 - mpmath.mpf(mix)] + [0] * (K - 2))
        h = mpmath.lu_solve(W.T * W + lam * mpmath.eye(K), W.T * t)
        w0, w1 = W[0, :].T, W[1, :].T
        if K == 2:  # w1 = -w0: only a - b = <h, w0> is determined; the minimum-norm pair a = -b
            ref = [(h.T * w0)[0] / 2, -(h.T * w0)[0] / 2]
        else:  # h = a w0 + b w1 exactly: the 2 x 2 normal equations
            B = mpmath.matrix([[(w0.T * w0)[0], (w0.T * w1)[0]], [(w1.T * w0)[0], (w1.T * w1)[0]]])
            ref = list(mpmath.lu_solve(B, mpmath.matrix([(w0.T * h)[0], (w1.T * h)[0]])))
        a, b = nc.mixup_mse_feature(K, lam, mix)
        # a K x K solve on the ETF Gram's range (eigenvalue K/(K-1) + lam, condition <= 1 + lam (K-1)/K):
        # K u per entry, of the feature's size
        size = float(max(abs(ref[0]), abs(ref[1])))
        assert abs(a - float(ref[0])) <= 8 * K * U * size and abs(b - float(ref[1])) <= 8 * K * U * size


def _cross_class_tolerance(grad, ra, rb, lam):
    """16 u |H^{-1}|_1 times the size of the gradient's terms, O(1 + lam |(a, b)|), with the Hessian H of the written-out
    2-D cross-class objective at its mpmath optimum (ra, rb) by central differences of the exact gradient."""
    import mpmath

    eps = mpmath.mpf(10) ** -15
    H = mpmath.matrix(2, 2)
    for j, (da, db) in enumerate(((eps, 0), (0, eps))):
        gp, gm = grad(ra + da, rb + db), grad(ra - da, rb - db)
        H[0, j], H[1, j] = (gp[0] - gm[0]) / (2 * eps), (gp[1] - gm[1]) / (2 * eps)
    Hinv = float(mpmath.mnorm(mpmath.inverse(H), 1))
    return 16 * U * Hinv * (4 + lam * float(abs(ra) + abs(rb)))


@pytest.mark.parametrize("K,lam,mix", [(3, 0.05, 0.7), (5, 1e-4, 0.3), (10, 1e-8, 0.9), (4, 30.0, 0.55)])
def test_cross_class_mixup_optimum_to_its_conditioning_against_mpmath(K, lam, mix):
    import mpmath

    mpmath.mp.dps = 40
    o = mpmath.mpf(-1) / (K - 1)

    def grad(a, b):  # gradient of the written-out objective (logits a + o b, o a + b, o (a + b) K-2 times)
        e = [mpmath.exp(a + o * b), mpmath.exp(o * a + b), (K - 2) * mpmath.exp(o * (a + b))]
        s = sum(e)
        p = [v / s for v in e]
        return [p[0] + o * p[1] + o * p[2] - mix - o * (1 - mix) + lam * (a + o * b),
                o * p[0] + p[1] + o * p[2] - o * mix - (1 - mix) + lam * (b + o * a)]

    a, b = nc.mixup_optimal_feature(K, lam, mix)
    ra, rb = mpmath.findroot(grad, (mpmath.mpf(a), mpmath.mpf(b)))
    # Hessian by differences of the exact gradient; the gradient's terms are O(1 + lam |(a, b)|), each rounded
    tol = _cross_class_tolerance(grad, ra, rb, lam)
    assert abs(a - float(ra)) <= tol and abs(b - float(rb)) <= tol


# --------------------------------------------------------------------------- full-run survivors: branches and stops

def test_class_root_names_a_missing_root_below_the_collapse_threshold(monkeypatch):
    # phi_2 = 1/2 < psi_2 = 3^(3/2)/8 (hand values), so below phi_2 the largest root exists ...
    assert nc.collapse_threshold(2) == pytest.approx(0.5, rel=8 * U)
    assert nc.root_threshold(2) == pytest.approx(3**1.5 / 8, rel=8 * U)
    assert nc.class_root(0.1, 2) > 0
    # ... and were it ever missing (the invariant phi_M <= psi_M broken), class_root says so instead of returning None
    monkeypatch.setattr(nc, "largest_root", lambda ratio, depth: None)
    with pytest.raises(ArithmeticError, match=_exact("no positive root below the collapse threshold")):
        nc.class_root(0.1, 2)


@pytest.mark.parametrize("M,doublings", [(2, 0), (5, 1)])
def test_largest_root_returns_an_exact_zero_of_the_equation_at_the_bracket_end(M, doublings):
    # the bracket's upper end is 2 peak, doubled while the right side is still above the ratio; choose the ratio as
    # the right side's value there, in the same floating-point operations, so that the rounded equation vanishes
    # exactly at that end: the root is that end to the last bit (the loop must stop at f = 0, not step past it)
    peak = ((M - 1.0) / (M + 1.0)) ** (1.0 / M)
    hi = 2.0 * peak * 2.0**doublings
    r = M * hi ** (M - 1) / (hi**M + 1.0) ** 2
    assert M * hi ** (M - 1) / (hi**M + 1.0) ** 2 - r == 0.0
    assert nc.largest_root(r, M) == hi


def _k2_gradient(gamma, mix, lam):
    """d/d gamma at (a, b) = (gamma/2, -gamma/2) of the K = 2 mixup objective, from the public gradient."""
    _, g, _ = nc.mixup_objective_gradient_hessian(gamma / 2, -gamma / 2, mix, lam, 2)
    return float(g[0] - g[1]) / 2


@pytest.mark.parametrize("gamma", [-1.0, 1.0])
def test_two_class_mixup_returns_an_exact_zero_of_the_gradient_at_the_bracket_end(gamma):
    # the K = 2 bracket starts at [-1, 1]; tanh(g) - (2 mix - 1) + lam g = 0 at g = gamma for
    # mix = (1 + tanh(gamma) + lam gamma)/2; walking mix by ulps finds mixes where the rounded gradient is exactly 0
    # at gamma: the optimum is then gamma to the last bit (the bracket search must stop at 0, not move past it)
    ties = []
    for lam in np.linspace(0.01, 0.23, 45):
        lam = float(lam)
        mix = (1 + math.tanh(gamma) + lam * gamma) / 2
        for _ in range(20):
            v = _k2_gradient(gamma, mix, lam)
            if v == 0.0:
                ties.append((lam, mix))
                break
            mix = float(np.nextafter(mix, 2.0 if v > 0 else -1.0))
    assert ties
    for lam, mix in ties:
        assert nc.mixup_optimal_feature(2, lam, mix) == (gamma / 2, -gamma / 2)


@pytest.mark.parametrize("mix", [0.7, 0.2])
def test_two_class_mixup_with_a_subnormal_decay_against_mpmath(mix):
    import mpmath

    mpmath.mp.dps = 40
    # lam = 1e-310 (valid: > 0): the optimum of log(2 cosh g) - (2 mix - 1) g + lam g^2/2 is atanh(2 mix - 1) to
    # 1e-310; the bracket search must not grow its ends towards 1/lam (which overflows)
    lam = 1e-310
    g = mpmath.findroot(lambda v: mpmath.tanh(v) - (2 * mpmath.mpf(mix) - 1) + lam * v, 0.3)
    a, b = nc.mixup_optimal_feature(2, lam, mix)
    assert a == -b
    assert a - b == pytest.approx(float(g), rel=8 * np.finfo(float).eps, abs=0)


def _mixup_with_solve_count(monkeypatch, K, lam, mix):
    """``mixup_optimal_feature(K, lam, mix)`` and the number of linear solves (Newton steps) it made."""
    real_solve = np.linalg.solve
    solves = []

    def counting_solve(A, b):
        solves.append(1)
        return real_solve(A, b)

    monkeypatch.setattr(np.linalg, "solve", counting_solve)
    got = nc.mixup_optimal_feature(K, lam, mix)
    monkeypatch.undo()
    return got, len(solves)


@pytest.mark.parametrize("K,lam,mix", [(3, 0.1, 0.0), (3, 0.1, 0.5), (3, 1.0, 0.3), (3, 10.0, 0.1),
                                       (5, 0.1, 0.0), (5, 0.1, 1.0), (4, 100.0, 0.9)])
def test_cross_class_newton_stops_by_its_step_test_before_the_iteration_cap(monkeypatch, K, lam, mix):
    # decays >= 0.1: the Hessian is bounded below by about lam, Newton converges quadratically and the step falls
    # below its stopping test (4 eps relative) well inside the cap of 200 iterations, one linear solve each; a loop
    # that ran to the cap means the stopping test never fired
    (a, b), solves = _mixup_with_solve_count(monkeypatch, K, lam, mix)
    assert 1 <= solves < 200
    _, g, _ = nc.mixup_objective_gradient_hessian(a, b, mix, lam, K)
    # at the optimum the gradient is rounding: its terms are O(1 + lam |(a, b)|), a few roundings each
    assert np.abs(g).max() <= fp_tolerance(1 + lam * (abs(a) + abs(b)), repetitions=16)


def _ce_parts_mp(M, lw, lh, N, K):
    """Loss and regulariser of the balanced CE problem in mpmath, the regulariser minimised over the layers' common
    singular value s by hand: A s^2 + B s^{-2M} is least at s^{2M+2} = M B/A, value (M+1)/M A^{M/(M+1)} (M B)^{1/(M+1)}
    with A = M lw (K-1)/2, B = lh N K rho^2/(2(K-1))."""
    import mpmath

    M, lw, lh, N, K = (mpmath.mpf(v) for v in (M, lw, lh, N, K))
    c = K / (K - 1)
    A = M * lw * (K - 1) / 2

    def loss(r):
        return mpmath.log1p((K - 1) * mpmath.exp(-c * r))

    def reg(r):
        B = lh * N * K * r**2 / (2 * (K - 1))
        return (M + 1) / M * A ** (M / (M + 1)) * (M * B) ** (1 / (M + 1))

    return loss, reg, c


def test_ce_scale_where_the_derivative_changes_sign_twice_in_neighbouring_grid_cells():
    import mpmath

    mpmath.mp.dps = 30
    # lw = lh = 0.1481388 (M = 2, K = 3, N = 10) sits just below the decay at which the local maximum and the local
    # minimum of the objective merge: they are 1 % apart (two neighbouring cells of a 4000-point grid over 18 decades),
    # each refined in its own cell; the local minimum is worse than rho = 0 (loss log K), so the scale is 0
    M, lam, N, K = 2, 0.1481388, 10, 3
    loss, reg, c = _ce_parts_mp(M, lam, lam, N, K)

    def dF(r):
        return mpmath.diff(lambda w: loss(w) + reg(w), r)

    lo_root, hi_root = mpmath.findroot(dF, 0.4467), mpmath.findroot(dF, 0.4511)
    assert 1 < hi_root / lo_root < 10 ** (2 * 18 / 3999)  # within two grid steps
    # rho = 0 is the global minimum: the objective exceeds log K everywhere on a fine scan and at both stationary points
    scan = [loss(r) + reg(r) - mpmath.log(K) for r in (mpmath.mpf(10) ** (e / 200) for e in range(-1200, 601))]
    assert min(scan) > 0 and loss(hi_root) + reg(hi_root) > mpmath.log(K)
    assert nc.ce_scale(M, lam, lam, N, K) == 0.0


# --------------------------------------------------------------------------- the CE problem with one decay far below the other

def test_ce_regulariser_factor_form_is_the_symbolic_minimum():
    import sympy as sp

    M, lw, lh, N, rho = nc.depth_sym, nc._lw, nc._lh, nc._N, nc._rho
    k = sp.Symbol("k", positive=True)  # K - 1 > 0: sympy needs the sign to combine the powers
    K = k + 1
    e = 1 / (M + 1)
    factored = ((M + 1) / M * (M * (K - 1) / 2) ** (M * e) * (M * N * K / (2 * (K - 1))) ** e
                * lw ** (M * e) * lh**e * rho ** (2 * e))
    # every base is positive, so the logarithm of the ratio may be expanded term by term (force=True)
    ratio = nc.CE_REGULARISER.subs(nc._K, K) / factored
    assert sp.simplify(sp.expand_log(sp.log(ratio), force=True)) == 0


@pytest.mark.parametrize("M,lw,lh,N,K", [(1, 0.1, 0.1, 18, 3), (2, 1e-3, 2e-3, 40, 4), (3, 1e-300, 1.0, 10, 2),
                                         (8, 1.0, 1e-300, 2000, 100), (2, 5e-324, 1.0, 10, 3)])
def test_ce_regulariser_and_derivative_against_mpmath(M, lw, lh, N, K):
    import mpmath

    mpmath.mp.dps = 40
    loss, reg, c = _ce_parts_mp(M, lw, lh, N, K)
    for r in (1e-9, 0.3, 7.0, 400.0):
        ref = reg(mpmath.mpf(r))
        # each factor a power x^y with y rounded: relative error |ln x| u each, a dozen roundings besides
        cond = 1 + abs(math.log(lw)) + abs(math.log(lh)) + abs(math.log(r))
        assert abs(nc._ce_regulariser(r, M, lw, lh, N, K) - float(ref)) <= fp_tolerance(float(ref), condition=cond,
                                                                                         repetitions=16)
        d_loss = mpmath.diff(loss, r)
        d_reg = 2 * ref / ((M + 1) * r)
        # the derivative is a sum of terms of opposite sign: its error is that of the terms, of their size
        assert abs(nc._ce_derivative(r, M, lw, lh, N, K) - float(d_loss + d_reg)) <= \
            fp_tolerance(float(abs(d_loss) + abs(d_reg)), condition=cond, repetitions=16)
        obj = loss(r) + ref
        assert abs(nc.ce_objective(r, M, lw, lh, N, K) - float(obj)) <= \
            fp_tolerance(float(obj), condition=cond, repetitions=16)


@pytest.mark.parametrize("args", [(2, 1e-300, 1.0, 10, 2), (8, 1e-300, 1.0, 10, 3), (2, 1.0, 1e-302, 10, 3),
                                  (1, 1e-300, 1.0, 10, 2)])
def test_ce_scale_with_one_decay_far_below_the_other_against_mpmath(args):
    import mpmath

    mpmath.mp.dps = 40
    # (2, 1e-300, 1.0, 10, 2) returned 3015.6 for the minimiser 231.0 when lh N rho^2 / lw overflowed inside one power,
    # (2, 1.0, 1e-302, ...) raised ZeroDivisionError when it underflowed
    M, lw, lh, N, K = args
    loss, reg, c = _ce_parts_mp(*args)

    def h(r):  # log reg'(r) - log(-loss'(r)): the sign of the derivative, scale-free (both are about 1e-200 here)
        d_reg = 2 * reg(r) / ((M + 1) * r)
        return mpmath.log(d_reg) - (mpmath.log(c * (K - 1)) - c * r - mpmath.log1p((K - 1) * mpmath.exp(-c * r)))

    ref = mpmath.findroot(h, (mpmath.mpf(10), mpmath.mpf(2000)), solver="anderson")
    assert loss(ref) + reg(ref) < mpmath.log(K)  # the stationary point beats rho = 0
    rho = nc.ce_scale(*args)
    # brentq's rtol 4 eps, plus the derivative's rounding (|ln lw| + |ln lh| u relative in reg', a dozen roundings)
    # over its slope: at the root reg' = -loss' and F'' = -c loss' + O(reg'/rho), so the shift is cond u / c absolute
    cond = (1 + abs(math.log(lw)) + abs(math.log(lh))) / (c * float(ref))
    tol = 8 * np.finfo(float).eps * float(ref) + fp_tolerance(float(ref), condition=max(cond, 1.0), repetitions=16)
    assert abs(rho - float(ref)) <= tol


# --------------------------------------------------------------------------- slice nc: rho = 1 and the mix endpoints

@pytest.mark.parametrize("M,lw,lh,N,K", [(1, 0.1, 0.1, 18, 3), (2, 1e-3, 2e-3, 40, 4), (5, 0.05, 0.02, 30, 10)])
def test_ce_objective_at_unit_scale_against_mpmath(M, lw, lh, N, K):
    import mpmath

    mpmath.mp.dps = 40
    # rho = 1 is an ordinary point of the reduced problem (only rho = 0 is special: loss log K, no regulariser);
    # reference: log1p((K-1) e^{-c}) + (M+1)/M A^{M/(M+1)} (M B)^{1/(M+1)} written out in mpmath (_ce_parts_mp)
    loss, reg, c = _ce_parts_mp(M, lw, lh, N, K)
    ref = loss(mpmath.mpf(1)) + reg(mpmath.mpf(1))
    cond = 1 + abs(math.log(lw)) + abs(math.log(lh))
    assert abs(nc.ce_objective(1.0, M, lw, lh, N, K) - float(ref)) <= fp_tolerance(float(ref), condition=cond,
                                                                                  repetitions=16)
    assert abs(nc.ce_objective(1, M, lw, lh, N, K) - float(ref)) <= fp_tolerance(float(ref), condition=cond,
                                                                                repetitions=16)


@pytest.mark.parametrize("K,lam,mix", [(10, 1e-4, 1.0), (10, 1e-4, 0.0), (4, 1e-4, 1.0), (3, 1e-4, 1.0),
                                       (3, 1e-4, 0.0)])
def test_cross_class_mixup_at_the_mix_endpoints_to_its_conditioning_against_mpmath(K, lam, mix):
    import mpmath

    mpmath.mp.dps = 40
    # mix = 1 (or 0): the target is e_c (or e_c'); the optimum of the written-out 2-D problem by mpmath (findroot
    # on its gradient, the Hessian by central differences), tolerance as in
    # test_cross_class_mixup_optimum_to_its_conditioning_against_mpmath: u |H^{-1}| times the gradient terms' size
    o = mpmath.mpf(-1) / (K - 1)

    def grad(a, b):
        e = [mpmath.exp(a + o * b), mpmath.exp(o * a + b), (K - 2) * mpmath.exp(o * (a + b))]
        s = sum(e)
        p = [v / s for v in e]
        return [p[0] + o * p[1] + o * p[2] - mix - o * (1 - mix) + lam * (a + o * b),
                o * p[0] + p[1] + o * p[2] - o * mix - (1 - mix) + lam * (b + o * a)]

    # start: the 1-D same-class root (h along the target's class direction) from mpmath itself
    def eq(v):
        num = mpmath.exp(v) + (K - 1) * o * mpmath.exp(o * v)
        return num / (mpmath.exp(v) + (K - 1) * mpmath.exp(o * v)) - 1 + lam * v
    g = mpmath.findroot(eq, 5)
    ra, rb = mpmath.findroot(grad, (g, mpmath.mpf(0)) if mix == 1.0 else (mpmath.mpf(0), g))
    tol = _cross_class_tolerance(grad, ra, rb, lam)
    a, b = nc.mixup_optimal_feature(K, lam, mix)
    assert abs(a - float(ra)) <= tol and abs(b - float(rb)) <= tol


# --------------------------------------------------------------------------- slice nc: the mixup Newton's rounding floor

def _mixup_reference(K, lam, mix):
    """The cross-class optimum by damped Newton in 50-digit mpmath from (0, 0) (tests/test_extremes.py's
    ``_mp_mixup``) and its derived bound there: fp_tolerance of the feature's size with the condition
    ``|H^{-1}|_1 g_abs / |(a, b)|`` (the minimiser's sensitivity to the gradient's rounding), 3 logit groups,
    8 roundings per term (tests/test_extremes.py's ``bound``)."""
    import mpmath
    from test_extremes import DPS, _mp_mixup, bound

    with mpmath.workdps(DPS):
        a, b, cond = _mp_mixup(K, lam, mix)
        tol = bound(max(abs(a), abs(b)), condition=cond, dimension=3, repetitions=8)
        return a, b, tol


def _mixup_error(got, ref):
    import mpmath

    a, b, _ = ref
    with mpmath.workdps(50):
        return float(max(abs(mpmath.mpf(float(got[0])) - a), abs(mpmath.mpf(float(got[1])) - b)))


@pytest.mark.parametrize("K,lam,mix", [(3, 1e3, 0.7), (4, 3e3, 0.3), (30, 1e3, 0.9), (3, 0.1, 0.1), (30, 1e-3, 0.1),
                                       (100, 0.01, 0.3), (4, 1e-9, 0.367), (3, 1.58e-12, 0.4)])
def test_cross_class_mixup_newton_neither_stalls_nor_wanders_against_mpmath(K, lam, mix):
    """The flat-objective test accepts a step whose objective change is below the rounding of the objective's terms
    (log-sum-exp and ``t . z``, each ~ |a| + |b|, and ``log K``), and only when it also shrinks the gradient.

    A threshold below that rounding refuses the full Newton step near the optimum: the step is halved (to 1/4 ..
    7.5e-9 here) and a stop reads the short step as convergence.  Large decays (1e3, 3e3): the features are
    ~ 1/decay and f -> log K, so a scale of |f| + 2 |(a, b)| without the log K, or one divided into eps, is far
    below the rounding of log K; decays 1e-3..0.1 with the mix below 1/2 (b > a): a scale that lets |b| cancel |a|
    or divides eps by it.  Accepting a gradient-shrinking step whatever the objective does: at decays 1e-9 and
    1.6e-12 a Newton step jumps to a far point with saturated logits and a smaller gradient, and Newton wanders from
    there to the iteration cap (~1e8..1e9 for an optimum ~15).  Each of these ends thousands of bounds or more away
    from the mpmath optimum; the bound is that of test_mixup_optimal_features_where_the_objective_is_flat_to_rounding
    (tests/test_extremes.py), which the code meets at every point of a grid over K 3..100, decays 1e-12..1e8 and
    mixes 0..1 (at most 0.013 of it)."""
    ref = _mixup_reference(K, lam, mix)
    assert _mixup_error(nc.mixup_optimal_feature(K, lam, mix), ref) <= ref[2]


@pytest.mark.parametrize("K,lam,mix", [(3, 1.0, 0.5), (4, 1e-12, 0.0), (5, 1e-10, 0.5), (100, 1e-10, 0.0)])
def test_cross_class_mixup_newton_stops_before_the_iteration_cap_at_small_and_unit_decays(monkeypatch, K, lam, mix):
    """Newton ends either by the step test (a step below 4 eps of the feature) or at the rounding floor (the objective
    flat to its terms' rounding while the gradient no longer halves: keep the smaller gradient); the 200 iterations
    are a cap that only a broken stop reaches.  At decay 1, mix 1/2 (K = 3) the step test stops it after 4
    iterations.  At mix 0 (K = 4, decay 1e-12; K = 100, decay 1e-10) Newton starts at the optimum (the same-class
    root on class c', the mix-0 target) and its first step only moves about in the gradient's rounding noise, by more
    than 4 eps: the rounding floor ends it, once by keeping the start, once by taking the step (the smaller
    gradient); at K = 5, decay 1e-10, mix 1/2 the rounding floor ends it after 15 iterations.  The original stops
    within 40 iterations at every point of a grid over K 3..100, decays 1e-12..1e3 and mixes 0..1; the answer is
    also checked against the mpmath optimum with its derived bound (_mixup_reference)."""
    got, solves = _mixup_with_solve_count(monkeypatch, K, lam, mix)
    assert 1 <= solves < 200
    ref = _mixup_reference(K, lam, mix)
    assert _mixup_error(got, ref) <= ref[2]


# --------------------------------------------------------------------------- decays below the supported range

@pytest.mark.parametrize("K,lam,mix,why", [
    (3, 1e-18, 0.5, "singular to double precision; "),      # np.linalg.solve raised LinAlgError
    (10, 1e-18, 0.3, "singular to double precision; "),
    (100, 1e-16, 0.01, "Newton does not converge; "),        # ran to the cap: (50.0, -4.4) for mpmath's (32.3, 36.8)
    (3, 1e-30, 0.9, "Newton does not converge; "),          # (8.2e17, -8.2e17) for (43.7, 42.3)
    (3, 1e-300, 0.0, "the same-class scale's equation overflows double precision"),  # OverflowError from exp
])
def test_mixup_decays_below_the_supported_range_are_a_clear_error(K, lam, mix, why):
    # regressions: a traceback of numpy or math, or a wrong answer from the iteration cap; now one line naming the
    # parameter (the supported range's lower end 1e-12 is solved to its bound by the tests of test_extremes.py)
    with pytest.raises(ValueError, match=rf"^feature_decay={re.escape(repr(lam))} is too small: .*{re.escape(why)}"
                                         r".*supported: decays from about 1e-12 up$"):
        nc.mixup_optimal_feature(K, lam, mix)
