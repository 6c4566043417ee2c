"""theory.neural_collapse against brute-force minimisation, direct optimisation and constructed geometries."""


import numpy as np
import pytest
import sympy as sp
from scipy.optimize import minimize

from theory import neural_collapse as nc

# ---------------------------------------------------------------- an independent brute-force minimiser


def _unflat(th, K, d, N, M, bias):
    i = d * N
    H = th[:i].reshape(d, N)
    Ws = []
    for m in range(M - 1):
        Ws.append(th[i:i + d * d].reshape(d, d))
        i += d * d
    Ws.append(th[i:i + K * d].reshape(K, d))
    i += K * d
    b = th[i:i + K] if bias else np.zeros(K)
    return H, Ws, b


def _objective(th, sizes, d, M, lw, lh, loss, bias):
    K, N = len(sizes), sum(sizes)
    y = np.repeat(np.arange(K), sizes)
    Y = np.eye(K)[:, y]
    H, Ws, b = _unflat(th, K, d, N, M, bias)
    acts = [H]
    for W in Ws:
        acts.append(W @ acts[-1])
    Z = acts[-1] + b[:, None]
    if loss == "mse":
        R = Z - Y
        f, G = np.sum(R**2) / (2 * N), R / N
    else:
        Zs = Z - Z.max(0)
        P = np.exp(Zs)
        P /= P.sum(0)
        f = np.sum(np.log(np.exp(Zs).sum(0)) - Zs[y, np.arange(N)]) / N
        G = (P - Y) / N
    f += lw / 2 * sum(np.sum(W**2) for W in Ws) + lh / 2 * np.sum(H**2)
    gWs, g = [None] * len(Ws), G
    for m in range(len(Ws) - 1, -1, -1):
        gWs[m] = g @ acts[m].T + lw * Ws[m]
        g = Ws[m].T @ g
    grad = np.concatenate([(g + lh * H).ravel()] + [w.ravel() for w in gWs] + ([G.sum(1)] if bias else []))
    return f, grad


def brute_force(sizes, M, lw, lh, loss="mse", bias=False, d=4, starts=12, seed=0):
    """Best of L-BFGS runs from random starts at three scales; returns (objective, classifier Gram, bias)."""
    K, N = len(sizes), sum(sizes)
    n = d * N + (M - 1) * d * d + K * d + (K if bias else 0)
    rng = np.random.default_rng(seed)
    best = None
    for s in range(starts):
        r = minimize(_objective, rng.normal(0, [1e-2, 0.3, 1.0][s % 3], n), args=(sizes, d, M, lw, lh, loss, bias),
                     jac=True, method="L-BFGS-B", options=dict(maxiter=20000, gtol=1e-13, ftol=1e-16, maxcor=30))
        if best is None or r.fun < best.fun:
            best = r
    H, Ws, b = _unflat(best.x, K, d, N, M, bias)
    P = Ws[-1]
    for W in Ws[-2::-1]:
        P = P @ W
    return best.fun, P @ P.T, b


CASES = [  # sizes, depth, lambda (both decays), loss, bias
    ([6, 6, 6], 1, 1e-2, "mse", False),
    ([6, 6, 6], 2, 5e-3, "mse", False),
    ([6, 6, 6], 3, 5e-3, "mse", True),
    ([12, 6, 3], 1, 2e-2, "mse", False),
    ([12, 6, 3], 2, 2e-3, "mse", False),
    ([12, 6, 3], 2, 0.043, "mse", False),   # minority class in the gap between the two thresholds: collapsed
    ([12, 6, 3], 3, 4e-3, "mse", False),
    ([12, 6, 3], 2, 0.08, "mse", False),    # two classes collapsed
    ([6, 6, 6], 1, 5e-3, "ce", False),
    ([6, 6, 6], 2, 5e-3, "ce", False),
    ([6, 6, 6], 3, 1e-3, "ce", False),
]


@pytest.mark.parametrize("sizes,M,lam,loss,bias", CASES)
def test_closed_form_equals_brute_force_minimisation(sizes, M, lam, loss, bias):
    th = nc.deep_linear_ufm_minimum(sizes, M, lam, lam, loss, bias)
    f, gram, b = brute_force(sizes, M, lam, lam, loss, bias)
    assert abs(f - th.objective) <= 1e-6 * abs(th.objective)
    ev_bf = np.sort(np.linalg.eigvalsh(gram))
    ev_th = np.sort(np.linalg.eigvalsh(th.classifier_gram))
    assert np.all(np.abs(ev_bf - ev_th) <= 1e-6 * np.abs(ev_th).max())
    if bias:
        assert np.allclose(b, 1.0 / len(sizes), atol=1e-6)


def test_gap_case_is_collapsed_although_a_root_exists():
    th = nc.deep_linear_ufm_minimum([12, 6, 3], 2, 0.043, 0.043)
    r = th.beta / 3
    assert nc.collapse_threshold(2) < r < nc.root_threshold(2)
    assert list(th.collapsed) == [False, False, True]
    assert nc.naive_largest_root(r, 2) > 0  # the authors' rule would not collapse it


# ---------------------------------------------------------------- symbolic results


def test_thresholds_symbolic_and_numeric():
    M = nc.depth_sym
    assert sp.simplify(nc.COLLAPSE_THRESHOLD - (M - 1) ** ((M - 1) / M) / M) == 0
    for depth in (2, 3, 5):
        xs = np.linspace(1e-4, 20, 400001)
        assert nc.collapse_threshold(depth) == pytest.approx(np.max(xs ** (depth - 1) / (xs**depth + 1)), rel=1e-8)
        assert nc.root_threshold(depth) == pytest.approx(np.max(depth * xs ** (depth - 1) / (xs**depth + 1) ** 2),
                                                         rel=1e-8)
        assert nc.root_threshold(depth) > nc.collapse_threshold(depth)
    assert nc.collapse_threshold(1) == nc.root_threshold(1) == 1.0


def test_root_equation_is_the_derivative():
    x, n, b, M = nc.x_sym, nc.n_sym, nc.beta_sym, nc.depth_sym
    assert sp.simplify(nc.ROOT_EQUATION - (b - M * n * x ** (M - 1) / (x**M + 1) ** 2)) == 0


@pytest.mark.parametrize("ratio,depth", [(0.1, 1), (0.3, 2), (0.6, 2), (0.05, 3), (0.7, 3)])
def test_largest_root_solves_the_equation(ratio, depth):
    x = nc.largest_root(ratio, depth)
    assert x is not None and x > 0
    assert depth * x ** (depth - 1) / (x**depth + 1) ** 2 == pytest.approx(ratio, rel=1e-12)


def test_no_root_above_threshold_and_collapse_is_global():
    assert nc.largest_root(0.7, 2) is None
    for r in (0.4, 0.55, 0.62):
        x = nc.class_root(r, 2)
        grid = np.linspace(0, 10, 200001)
        best = grid[np.argmin(1 / (grid**2 + 1) + r * grid)]
        assert x == pytest.approx(best, abs=1e-3)


def test_ce_depth1_scale_is_closed_form_and_stationary():
    assert nc.CE_SCALE_DEPTH1 is not None
    rho = nc.ce_scale(1, 5e-3, 5e-3, 18, 3)
    h = 1e-6
    d = (nc.ce_objective(rho + h, 1, 5e-3, 5e-3, 18, 3) - nc.ce_objective(rho - h, 1, 5e-3, 5e-3, 18, 3)) / (2 * h)
    assert abs(d) < 1e-7


# ---------------------------------------------------------------- mixup


def _direct_mixup(K, lam, mix, c2=1):
    W = np.sqrt(K / (K - 1)) * (np.eye(K) - np.ones((K, K)) / K)
    t = np.zeros(K)
    t[0] += mix
    t[c2] += 1 - mix

    def f(h):
        z = W @ h
        m = z.max()
        p = np.exp(z - m)
        lse = m + np.log(p.sum())
        p /= p.sum()
        return lse - t @ z + lam / 2 * h @ h, W.T @ (p - t) + lam * h

    r = minimize(f, np.zeros(K), jac=True, method="BFGS", options=dict(gtol=1e-13))
    return W, r.x


@pytest.mark.parametrize("K,lam,mix", [(3, 0.1, 0.3), (5, 0.05, 0.7), (10, 0.01, 0.5), (10, 1e-3, 0.9)])
def test_mixup_feature_matches_direct_optimisation(K, lam, mix):
    W, h = _direct_mixup(K, lam, mix)
    a, b = nc.mixup_optimal_feature(K, lam, mix)
    assert np.allclose(a * W[0] + b * W[1], h, atol=1e-6 * np.abs(h).max())


def test_same_class_mixup_is_independent_of_mix_and_aligned():
    W, h = _direct_mixup(5, 0.05, 1.0, c2=0)
    a, b = nc.mixup_optimal_feature(5, 0.05, 0.3, same_class=True)
    assert b == 0 and np.allclose(a * W[0], h, atol=1e-6)


def test_mse_mixup_is_the_convex_combination_and_ce_is_not():
    K, lam = 5, 0.05
    a1, b1 = nc.mixup_mse_feature(K, lam, 1.0)
    for mix in (0.2, 0.5, 0.8):
        a, b = nc.mixup_mse_feature(K, lam, mix)
        assert a == pytest.approx(mix * a1, rel=1e-12) and b == pytest.approx((1 - mix) * a1, rel=1e-12)
    a_ce, b_ce = nc.mixup_optimal_feature(K, lam, 0.8)
    s = nc.mixup_same_class_scale(K, lam)
    assert abs(a_ce - 0.8 * s) > 0.1 and abs(b_ce - 0.2 * s) > 0.1


def test_two_classes_return_minimum_norm_pair():
    a, b = nc.mixup_optimal_feature(2, 0.05, 0.3)
    assert a == pytest.approx(-b)


def test_stable_objective_matches_symbolic():
    for args in [(0.3, 1.2, 0.7, 0.05, 5), (2.0, -1.0, 0.2, 0.1, 3)]:
        f, g, H = nc.mixup_objective_gradient_hessian(*args)
        assert f == pytest.approx(nc._mix_obj(*args), rel=1e-13)
        assert np.allclose(g, nc._mix_grad(*args), atol=1e-13)
        assert np.allclose(H, nc._mix_hess(*args), atol=1e-13)


# ---------------------------------------------------------------- NC metrics on constructed geometries


def _collapsed_features(K=4, d=6, n=5, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.normal(size=(d, K)))[0]
    means = U @ (np.eye(K) - np.ones((K, K)) / K)
    y = np.repeat(np.arange(K), n)
    H = means[:, y] + noise * rng.normal(size=(d, K * n))
    return H, y, means


def test_nc1_zero_when_collapsed_and_matches_direct_formula():
    H, y, _ = _collapsed_features()
    Sw = nc.within_class_covariance(H, y)
    M, g = nc.class_means(H, y)
    assert nc.nc1(Sw, M, g) == pytest.approx(0.0, abs=1e-25)
    Hn, y, _ = _collapsed_features(noise=0.3, seed=1)
    Sw = nc.within_class_covariance(Hn, y)
    M, g = nc.class_means(Hn, y)
    # direct: loops over samples and classes
    K, N = 4, Hn.shape[1]
    SW = sum(np.outer(Hn[:, i] - M[:, y[i]], Hn[:, i] - M[:, y[i]]) for i in range(N)) / N
    SB = sum(np.outer(M[:, k] - g, M[:, k] - g) for k in range(K)) / K
    assert nc.nc1(Sw, M, g) == pytest.approx(np.trace(SW @ np.linalg.pinv(SB)) / K, rel=1e-10)
    assert nc.nc1(Sw, M, g) > 0.01


def test_nc2_and_nc3_zero_on_frames_and_positive_off():
    K = 4
    etf = nc.frame_target("etf", K)
    assert nc.nc2(3.0 * etf, etf) == pytest.approx(0.0, abs=1e-15)
    assert nc.nc2(np.eye(K), etf) > 0.1
    assert nc.nc2(np.diag([4.0, 2, 1, 1]), nc.frame_target("general", K, [4, 2, 1, 1])) == pytest.approx(0, abs=1e-15)
    _, _, means = _collapsed_features()
    assert nc.nc3(2.0 * means.T, means) == pytest.approx(0.0, abs=1e-14)
    assert nc.nc3(np.roll(means.T, 1, axis=0), means) > 0.5


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("call,match", [
    (lambda: nc.deep_linear_ufm_minimum([5], 2, 0.1, 0.1), "class_sizes"),
    (lambda: nc.deep_linear_ufm_minimum([5, 0], 2, 0.1, 0.1), "class_sizes"),
    (lambda: nc.deep_linear_ufm_minimum([5, 2.5], 2, 0.1, 0.1), "class_sizes"),
    (lambda: nc.deep_linear_ufm_minimum([5, 5], 0, 0.1, 0.1), "depth"),
    (lambda: nc.deep_linear_ufm_minimum([5, 5], 2, -0.1, 0.1), "weight_decay"),
    (lambda: nc.deep_linear_ufm_minimum([5, 5], 2, 0.1, -1.0), "feature_decay"),
    (lambda: nc.deep_linear_ufm_minimum([5, 5], 2, 0.1, float("nan")), "feature_decay"),
    (lambda: nc.deep_linear_ufm_minimum([5, 5], 2, 0.1, 0.1, loss="hinge"), "loss"),
    (lambda: nc.deep_linear_ufm_minimum([5, 3], 2, 0.1, 0.1, bias=True), "balanced"),
    (lambda: nc.deep_linear_ufm_minimum([5, 3], 2, 0.1, 0.1, loss="ce"), "balanced"),
    (lambda: nc.mixup_optimal_feature(1, 0.1, 0.5), "num_classes"),
    (lambda: nc.mixup_optimal_feature(3, 0.1, 1.5), "mix"),
    (lambda: nc.mixup_optimal_feature(3, 0.1, -0.1), "mix"),
    (lambda: nc.mixup_optimal_feature(3, 0.0, 0.5), "feature_decay"),
    (lambda: nc.nc2(np.eye(3), np.eye(4)), "shape"),
    (lambda: nc.frame_target("star", 3), "kind"),
    (lambda: nc.nc1(np.eye(3), np.ones((2, 3))), "within_cov"),
])
def test_bad_input_raises_naming_the_parameter(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("sizes,depth", [([6, 6, 6], 1), ([6, 6, 6], 2), ([12, 6, 3], 3)])
def test_zero_solution_regularization_is_where_everything_collapses(sizes, depth):
    lam = nc.zero_solution_regularization(sizes, depth)
    assert nc.deep_linear_ufm_minimum(sizes, depth, lam * (1 + 1e-9), lam * (1 + 1e-9)).collapsed.all()
    assert not nc.deep_linear_ufm_minimum(sizes, depth, lam * (1 - 1e-6), lam * (1 - 1e-6)).collapsed.all()
    # brute force just above: the best value found is the zero solution's, 1/2
    f, _, _ = brute_force(sizes, depth, lam * 1.05, lam * 1.05)
    assert f == pytest.approx(0.5, rel=1e-9)
