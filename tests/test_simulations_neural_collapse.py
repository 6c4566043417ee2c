"""simulations.neural_collapse: UFM gradient against finite differences and a per-sample objective,
GD and L-BFGS behaviour, seeding, the mixup solver against the exact ridge solution and numba
against numpy, the ReLU network's collapse, and bad input."""

import math

import ast
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from simulations import neural_collapse as nc

SIZES = [3, 2, 2]          # K = 3, N = 7: a small problem for finite differences
WIDTH = 4
LW, LH = 0.03, 0.02
NC_ARGS = dict(class_sizes=[20, 10, 5, 5], depth=3, width=8, weight_decay=1e-2, feature_decay=1e-2)


def _random_params(depth, bias, seed=0, sizes=SIZES, width=WIDTH, scale=0.7):
    g = np.random.default_rng(seed)
    K, N = len(sizes), sum(sizes)
    H = scale * g.standard_normal((width, N))
    Ws = tuple(scale * g.standard_normal(s) for s in [(width, width)] * (depth - 1) + [(K, width)])
    b = scale * g.standard_normal(K) if bias else None
    return nc.UFMParams(H, Ws, b)


def _objective_per_sample(p, sizes, lw, lh, loss):
    """Independent evaluation: loop over samples, scipy's logsumexp, the product built left to right."""
    labels = np.repeat(np.arange(len(sizes)), sizes)
    N = labels.size
    P = np.eye(p.weights[-1].shape[0])
    for W in reversed(p.weights):
        P = P @ W
    total = 0.0
    for i in range(N):
        z = P @ p.features[:, i] + (0 if p.bias is None else p.bias)
        if loss == "ce":
            total += logsumexp(z) - z[labels[i]]
        else:
            y = np.eye(len(sizes))[labels[i]]
            total += 0.5 * np.sum((z - y) ** 2)
    reg = lw / 2 * sum(np.sum(W**2) for W in p.weights) + lh / 2 * np.sum(p.features**2)
    return total / N + reg


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_objective_matches_a_per_sample_evaluation(loss, bias, depth):
    p = _random_params(depth, bias)
    got = nc.ufm_objective(p, SIZES, LW, LH, loss, bias)
    assert got == pytest.approx(_objective_per_sample(p, SIZES, LW, LH, loss), rel=1e-13)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_gradient_matches_central_finite_differences(loss, bias, depth):
    """Central differences with step eps = 1e-6: truncation error ~ eps^2 |f'''| ~ 1e-12 and rounding
    error ~ u |f| / eps ~ 2e-16 * O(1) / 1e-6 ~ 1e-10 per entry, so over ~100 entries the difference
    vector has norm ~1e-9, against a gradient of norm O(0.1-1): a relative error of 1e-6 leaves a
    margin of ~100 while any wrong term (a transpose, a missing 1/N or factor) gives O(1)."""
    p = _random_params(depth, bias, seed=depth + 10 * bias)
    theta = nc.flatten_ufm(p)
    g = nc.flatten_ufm(nc.ufm_gradient(p, SIZES, LW, LH, loss, bias))

    def f(t):
        return nc.ufm_objective(nc.unflatten_ufm(t, SIZES, depth, WIDTH, bias), SIZES, LW, LH, loss, bias)

    eps = 1e-6
    fd = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        fd[i] = (f(theta + e) - f(theta - e)) / (2 * eps)
    assert np.linalg.norm(fd - g) <= 1e-6 * np.linalg.norm(g)


def test_flatten_unflatten_round_trip_and_shapes():
    p = _random_params(3, True)
    theta = nc.flatten_ufm(p)
    assert theta.size == WIDTH * 7 + 2 * WIDTH * WIDTH + 3 * WIDTH + 3
    q = nc.unflatten_ufm(theta, SIZES, 3, WIDTH, True)
    assert np.array_equal(q.features, p.features) and np.array_equal(q.bias, p.bias)
    assert all(np.array_equal(a, b) for a, b in zip(q.weights, p.weights))
    with pytest.raises(ValueError, match="theta"):
        nc.unflatten_ufm(theta[:-1], SIZES, 3, WIDTH, True)


def test_gd_objective_never_increases_and_polish_lowers_it():
    r = nc.train_ufm.uncached(**NC_ARGS, seeds=2, steps=300, record_every=20, loss="ce", bias=True)
    h = r.history_objective
    assert h.shape == (2, len(r.history_steps)) and r.history_steps[0] == 0 and r.history_steps[-1] == 300
    assert np.all(np.diff(h, axis=1) <= 0)
    assert np.all(h[:, -1] < h[:, 0])
    assert np.all(r.objective <= h[:, -1])
    S, T, d, K = 2, len(r.history_steps), 8, 4
    assert r.history_class_means.shape == (S, T, d, K)
    assert r.history_within_cov.shape == (S, T, d, d)
    assert r.history_product.shape == (S, T, K, d)
    assert r.classifier_gram.shape == (S, K, K) and r.feature_mean_gram.shape == (S, K, K)
    assert r.product.shape == (S, K, d) and r.bias.shape == (S, K) and r.n_samples == 2


def test_end_state_summaries_are_consistent():
    r = nc.train_ufm.uncached(**NC_ARGS, seeds=2, steps=200)
    for s in range(2):
        P, M = r.product[s], r.class_means[s]
        assert np.allclose(r.classifier_gram[s], P @ P.T, rtol=1e-12, atol=1e-15)
        assert np.allclose(r.feature_mean_gram[s], M.T @ M, rtol=1e-12, atol=1e-15)
        assert np.allclose(r.within_cov[s], r.within_cov[s].T)
    assert np.all(r.bias == 0)


def test_same_seed_same_numbers_other_seed_other_numbers():
    args = dict(NC_ARGS, seeds=2, steps=200, loss="ce")
    a = nc.train_ufm.uncached(**args)
    b = nc.train_ufm.uncached(**args)
    c = nc.train_ufm.uncached(**{**args, "seed": 1})
    assert np.array_equal(a.history_objective, b.history_objective)
    assert np.array_equal(a.product, b.product)
    assert not np.array_equal(a.history_objective, c.history_objective)
    # the seeds of one call are independent runs
    assert not np.array_equal(a.history_objective[0], a.history_objective[1])


def test_cache_round_trip_gives_the_same_result():
    args = dict(NC_ARGS, seeds=1, steps=50)
    a = nc.train_ufm(**args)
    b = nc.train_ufm(**args)
    assert type(b) is nc.UFMRun and b.n_samples == 1 and b.params == a.params
    assert np.array_equal(a.history_within_cov, b.history_within_cov)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_polish_reaches_a_stationary_point(loss):
    r = nc.train_ufm.uncached(**NC_ARGS, loss=loss, seeds=2)
    assert np.all(r.grad_norm < 1e-9), r.grad_norm
    # the trajectory goes somewhere: not the trivial critical point at 0 (objective 1/2 or log K)
    trivial = 0.5 if loss == "mse" else math.log(4)
    assert np.all(r.objective < trivial - 0.1)


def test_minimize_from_zero_stays_at_the_trivial_critical_point():
    p = _random_params(2, False, scale=0.0)
    pt = nc.minimize_ufm_from(p, SIZES, LW, LH, "mse")
    assert pt.objective == pytest.approx(0.5, rel=1e-14) and pt.grad_norm == 0


def test_brute_force_reports_every_start():
    r = nc.brute_force_ufm.uncached(**NC_ARGS, starts=4, init_scales=(1e-3, 0.35))
    assert r.objectives.shape == (4,) and r.n_samples == 4
    assert list(r.init_scales) == [1e-3, 0.35, 1e-3, 0.35]
    assert r.best == int(np.argmin(r.objectives)) and r.best_objective == r.objectives.min()
    assert np.all(r.grad_norms < 1e-7)
    # tiny starts stay at the trivial local minimum (depth 3: zero is a strict local minimum), larger ones leave it
    assert np.allclose(r.objectives[[0, 2]], 0.5, rtol=1e-12)
    assert r.best_objective < 0.4
    assert r.classifier_gram.shape == (4, 4, 4)


def test_default_learning_rate_is_positive_and_shrinks_with_bias():
    a = nc.default_learning_rate([20, 10, 5, 5], 3, 1e-2, 1e-2)
    b = nc.default_learning_rate([20, 10, 5, 5], 3, 1e-2, 1e-2, bias=True)
    assert 0 < b < a


# --- mixup -----------------------------------------------------------------------------------


def test_simplex_etf_has_unit_rows_and_equal_angles():
    for K in (2, 3, 5):
        W = nc.simplex_etf(K)
        G = W @ W.T
        assert np.allclose(np.diag(G), 1)
        assert np.allclose(G[~np.eye(K, dtype=bool)], -1 / (K - 1))


@pytest.mark.parametrize("pairs", ["cross", "same"])
def test_mixup_mse_features_equal_the_ridge_solution(pairs):
    K, lam = 5, 0.05
    mixes = np.linspace(0, 1, 7)
    r = nc.train_mixup_features.uncached(K, lam, mixes, pairs=pairs, loss="mse")
    W = nc.simplex_etf(K)
    for i, m in enumerate(mixes):
        t = np.zeros(K)
        if pairs == "cross":
            t[0], t[1] = m, 1 - m
        else:
            t[0] = 1
        h = np.linalg.solve(W.T @ W + lam * np.eye(K), W.T @ t)
        assert np.allclose(r.features[i], h, rtol=1e-12, atol=1e-14)
    assert r.coefficients.shape == (7, 2 if pairs == "cross" else 1)


@settings(max_examples=25, deadline=None)
@given(K=st.integers(2, 6), lam=st.floats(1e-3, 1.0), mix=st.floats(0.0, 1.0), loss_steps=st.integers(0, 50))
def test_mixup_mse_is_the_ridge_solution_for_all_parameters(K, lam, mix, loss_steps):
    r = nc.train_mixup_features.uncached(K, lam, [mix], pairs="cross", loss="mse", steps=loss_steps)
    W = nc.simplex_etf(K)
    t = np.zeros(K)
    t[0], t[1] = mix, 1 - mix
    h = np.linalg.solve(W.T @ W + lam * np.eye(K), W.T @ t)
    assert np.allclose(r.features[0], h, rtol=1e-10, atol=1e-12)
    # ridge coefficients in the basis (w_0, w_1): the feature is a combination of its two classes
    assert r.residual_norm[0] < 1e-10


def test_mixup_ce_is_stationary_symmetric_and_in_the_span_of_its_classes():
    mixes = np.linspace(0, 1, 9)
    r = nc.train_mixup_features.uncached(4, 1e-2, mixes, pairs="cross", loss="ce")
    assert np.all(r.grad_norm < 1e-12)
    assert np.all(r.residual_norm < 1e-10)
    # swapping the classes: the coefficient of w_0 at mix equals that of w_1 at 1 - mix
    assert np.allclose(r.coefficients[:, 0], r.coefficients[::-1, 1], rtol=1e-10, atol=1e-12)
    h = r.features
    assert np.allclose(h, r.coefficients @ r.classifier[[0, 1]], atol=1e-10)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_mixup_numba_equals_numpy(loss):
    g = np.random.default_rng(3)
    h0 = g.standard_normal((13, 4))
    T = nc.mixup_targets(4, g.random(13), "cross")
    a = nc.mixup_gd(h0, T, 1e-2, 0.9, 300, loss, backend="numba")
    b = nc.mixup_gd(h0, T, 1e-2, 0.9, 300, loss, backend="numpy")
    assert np.allclose(a, b, rtol=1e-12, atol=1e-13)
    ra = nc.train_mixup_features.uncached(4, 1e-2, [0.1, 0.5, 0.8], loss=loss, backend="numba")
    rb = nc.train_mixup_features.uncached(4, 1e-2, [0.1, 0.5, 0.8], loss=loss, backend="numpy")
    assert np.allclose(ra.features, rb.features, rtol=1e-12, atol=1e-13)


# --- the ReLU network ------------------------------------------------------------------------


def test_mlp_loss_falls_and_features_collapse():
    r = nc.train_mlp_mixture.uncached([60, 60, 40, 40], steps=800, record_every=100)
    T = len(r.history_steps)
    assert r.history_class_means.shape == (T, 32, 4) and r.history_within_cov.shape == (T, 32, 32)
    assert r.history_product.shape == (T, 4, 32)
    assert r.history_loss[-1] < r.history_loss[0] / 10
    tr = np.trace(r.history_within_cov, axis1=1, axis2=2)
    assert tr[-1] < tr[0] / 3
    assert r.history_accuracy[-1] == 1.0
    again = nc.train_mlp_mixture.uncached([60, 60, 40, 40], steps=800, record_every=100)
    assert np.array_equal(r.history_loss, again.history_loss)


def test_simulations_module_does_not_import_theory():
    tree = ast.parse(inspect.getsource(nc))
    names = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not any(n == "theory" or n.startswith("theory.") for n in names)


# --- bad input -------------------------------------------------------------------------------

P0 = _random_params(2, False)
BAD = [
    (lambda: nc.train_ufm.uncached([5], 2, 4, 0.1, 0.1), "class_sizes"),
    (lambda: nc.train_ufm.uncached([5, 0], 2, 4, 0.1, 0.1), "class_sizes"),
    (lambda: nc.train_ufm.uncached([5, 2.5], 2, 4, 0.1, 0.1), "class_sizes"),
    (lambda: nc.train_ufm.uncached([5, 5], 0, 4, 0.1, 0.1), "depth"),
    (lambda: nc.train_ufm.uncached([5, 5, 5], 2, 2, 0.1, 0.1), "width"),
    (lambda: nc.train_ufm.uncached([5, 5], 2, 4, -0.1, 0.1), "weight_decay"),
    (lambda: nc.train_ufm.uncached([5, 5], 2, 4, 0.1, -1e-3), "feature_decay"),
    (lambda: nc.train_ufm.uncached([5, 5], 2, 4, 0.1, 0.1, loss="hinge"), "loss"),
    (lambda: nc.train_ufm.uncached([5, 5], 2, 4, 0.1, 0.1, seeds=0), "seeds"),
    (lambda: nc.train_ufm.uncached([5, 5], 2, 4, 0.1, 0.1, steps=0), "steps"),
    (lambda: nc.train_ufm.uncached([5, 5], 2, 4, 0.1, 0.1, lr=0.0), "lr"),
    (lambda: nc.train_ufm.uncached([5, 5], 2, 4, 0.1, 0.1, init_scale=-1.0), "init_scale"),
    (lambda: nc.train_ufm.uncached([5, 5], 2, 4, 0.1, 0.1, record_every=0), "record_every"),
    (lambda: nc.train_ufm.uncached([5, 5], 2, 4, 0.1, 0.1, bias="yes"), "bias"),
    (lambda: nc.brute_force_ufm.uncached([5, 5], 2, 4, 0.1, 0.1, starts=0), "starts"),
    (lambda: nc.brute_force_ufm.uncached([5, 5], 2, 4, 0.1, 0.1, init_scales=()), "init_scales"),
    (lambda: nc.ufm_objective(P0, SIZES, -1.0, 0.1), "weight_decay"),
    (lambda: nc.ufm_objective(P0, SIZES, 0.1, 0.1, loss="l1"), "loss"),
    (lambda: nc.ufm_objective(P0, [3, 2, 1], 0.1, 0.1), "features"),
    (lambda: nc.ufm_gradient(P0, SIZES, 0.1, 0.1, bias=True), "bias"),
    (lambda: nc.minimize_ufm_from(P0, [3, 0, 4], 0.1, 0.1), "class_sizes"),
    (lambda: nc.train_mixup_features.uncached(1, 0.1, [0.5]), "num_classes"),
    (lambda: nc.train_mixup_features.uncached(4, 0.0, [0.5]), "feature_decay"),
    (lambda: nc.train_mixup_features.uncached(4, 0.1, [0.5, 1.2]), "mixes"),
    (lambda: nc.train_mixup_features.uncached(4, 0.1, [-0.1]), "mixes"),
    (lambda: nc.train_mixup_features.uncached(4, 0.1, []), "mixes"),
    (lambda: nc.train_mixup_features.uncached(4, 0.1, [0.5], pairs="both"), "pairs"),
    (lambda: nc.train_mixup_features.uncached(4, 0.1, [0.5], loss="hinge"), "loss"),
    (lambda: nc.train_mixup_features.uncached(4, 0.1, [0.5], backend="cuda"), "backend"),
    (lambda: nc.train_mlp_mixture.uncached([10]), "class_sizes"),
    (lambda: nc.train_mlp_mixture.uncached([10, 10], relu_depth=0), "relu_depth"),
    (lambda: nc.train_mlp_mixture.uncached([10, 10], linear_depth=0), "linear_depth"),
    (lambda: nc.train_mlp_mixture.uncached([10, 10, 10], width=2), "width"),
    (lambda: nc.train_mlp_mixture.uncached([10, 10], weight_decay=-1.0), "weight_decay"),
    (lambda: nc.train_mlp_mixture.uncached([10, 10], loss="hinge"), "loss"),
    (lambda: nc.train_mlp_mixture.uncached([10, 10], optimizer="sgd"), "optimizer"),
    (lambda: nc.train_mlp_mixture.uncached([10, 10], separation=float("nan")), "separation"),
]


@pytest.mark.parametrize("call,name", BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(BAD)])
def test_bad_input_raises_one_line_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert name in msg and "\n" not in msg
