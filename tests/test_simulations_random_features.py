"""simulations.random_features: numba kernels against the numpy baseline and dense solves, seeding, threads,
exact identities, the ReLU spectrum against a closed form, bad input."""

import math
import textwrap

import numpy as np
import pytest
from _threads import outputs_by_thread_count
from scipy import stats
from scipy.special import eval_gegenbauer, gammaln, roots_jacobi

from simulations import random_features as sim
from simulations import rng

Z_CRIT = stats.norm.isf(1e-6 / 2)  # two-sided false-alarm rate 1e-6 per z-test

M = 40
LAM = np.arange(1, M + 1) ** -1.5
V = np.arange(1, M + 1) ** -0.5
RIDGES = [0.0, 1e-2, 0.3, 3.0]
BASE = dict(eigenvalues=LAM, target_coefficients=V, noise_variance=0.2, n=12, features=30, ridges=RIDGES,
            draws=32, seed=11)
RANK_DEFICIENT = np.where(np.arange(M) < 8, LAM, 0.0)  # 8 positive modes < min(n, N)

CASES = {
    "n<N": dict(n=12, features=30),
    "n>N": dict(n=30, features=12),
    "krr n<M": dict(n=15, features=math.inf),
    "krr n>M": dict(n=60, features=math.inf),
    "rank-deficient": dict(n=20, features=25, eigenvalues=RANK_DEFICIENT),
    "krr rank-deficient": dict(n=20, features=math.inf, eigenvalues=RANK_DEFICIENT),
}


# ---------------------------------------------------------------------------------------------
# linear-Gaussian model
# ---------------------------------------------------------------------------------------------


def _reference_linear(eigenvalues, target_coefficients, noise_variance, n, features, ridges, draws, seed,
                      n_chunks=16):
    """Dense solves, draw by draw: ``F`` (finite ``N``), ``Z``, ``eps`` from each chunk's generator in order."""
    lam, v = np.asarray(eigenvalues, float), np.asarray(target_coefficients, float)
    sigma = math.sqrt(noise_variance)
    test, train = [], []
    for g, count in zip(rng.generators(seed, n_chunks), rng.chunk_sizes(draws, n_chunks)):
        for _ in range(count):
            F = g.standard_normal((features, lam.size)) if math.isfinite(features) else None
            Z = g.standard_normal((n, lam.size))
            eps = g.standard_normal(n)
            y = Z @ v + sigma * eps
            G = np.sqrt(lam)[:, None] * F.T / math.sqrt(features) if F is not None else np.diag(np.sqrt(lam))
            Phi = Z @ G  # = Z Lambda^{1/2} F^T / sqrt(N); the model's function has coefficients w = G a
            P = Phi.shape[1]
            t_row, tr_row = [], []
            for d in ridges:
                if d > 0:
                    a = np.linalg.solve(Phi.T @ Phi + d * np.eye(P), Phi.T @ y)
                else:
                    a = np.linalg.lstsq(Phi, y, rcond=None)[0]  # minimum-norm least squares
                t_row.append(np.sum((G @ a - v) ** 2) + noise_variance)
                tr_row.append(np.mean((y - Phi @ a) ** 2))
            test.append(t_row)
            train.append(tr_row)
    return np.array(test), np.array(train)


@pytest.mark.parametrize("case", list(CASES))
def test_numba_kernel_equals_numpy_baseline(case):
    args = {**BASE, **CASES[case]}
    a = sim.rf_risk.uncached(**args)
    b = sim.rf_risk_numpy(**args)
    assert a.test.shape == (args["draws"], len(RIDGES))
    # same draws and algorithm, different BLAS/LAPACK builds: agreement to rounding
    assert np.allclose(a.test, b.test, rtol=1e-10, atol=0)
    # interpolating fits (ridge 0, n below the rank) train to rounding level, so an absolute floor
    assert np.allclose(a.train, b.train, rtol=1e-10, atol=1e-12)
    assert np.allclose(a.test_mean, b.test_mean, rtol=1e-10, atol=0)


def test_numpy_baseline_blocks_do_not_change_the_numbers(monkeypatch):
    args = {**BASE, "draws": 64}
    whole = sim.rf_risk_numpy(**args)
    monkeypatch.setattr(sim, "_BLOCK_BYTES", 1)  # one draw per block
    split = sim.rf_risk_numpy(**args)
    assert np.allclose(whole.test, split.test, rtol=1e-12, atol=0)
    assert np.allclose(whole.train, split.train, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", list(CASES))
def test_matches_dense_solve_draw_by_draw(case):
    args = {**BASE, **CASES[case], "draws": 4, "n_chunks": 2}
    res = sim.rf_risk.uncached(**args)
    test, train = _reference_linear(**args)
    assert np.allclose(res.test, test, rtol=1e-8, atol=0)
    assert np.allclose(res.train, train, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("m,n,span", [(60, 120, 1e12), (6, 30, 1e20)])
def test_ill_conditioned_draws_are_solved_by_svd(monkeypatch, m, n, span):
    """Ridgeless KRR with ``n > M`` is ordinary least squares in ``Z`` whatever ``Lambda``: ``w = (Z^T Z)^+ Z^T y``.

    Eigenvalues spanning ``1e12`` cost the Gram route digits (its condition guard sends the draws
    to the SVD); spanning ``1e20`` puts true directions below the Gram's cutoff (its rank guard).
    """
    noise = 0.3
    lam = np.logspace(0, -math.log10(span), m)
    v = np.ones(m)
    args = dict(eigenvalues=lam, target_coefficients=v, noise_variance=noise, n=n, features=math.inf,
                ridges=[0.0], draws=16, seed=2)
    exact = []
    for g in rng.generators(2, 16):
        Z = g.standard_normal((n, m))
        y = Z @ v + math.sqrt(noise) * g.standard_normal(n)
        exact.append(np.sum((np.linalg.lstsq(Z, y, rcond=None)[0] - v) ** 2) + noise)
    exact = np.array(exact)
    for res in (sim.rf_risk.uncached(**args), sim.rf_risk_numpy(**args)):
        assert np.allclose(res.test[:, 0], exact, rtol=1e-10, atol=0)
    # the rival: the Gram route with both guards off
    monkeypatch.setattr(sim, "_SQRT_EPS", 0.0)
    monkeypatch.setattr(sim, "_rank", lambda *args: 0)
    gram_only = sim.rf_risk_numpy(**args)
    assert not np.allclose(gram_only.test[:, 0], exact, rtol=1e-10, atol=0)


def test_tiny_ridge_on_rank_deficient_features(monkeypatch):
    """A ridge far below the Gram's scale with fewer positive modes than ``min(n, N)``.

    Stable reference: with ``G = Lambda_+^{1/2} F_+^T / sqrt(N)`` (positive modes) and ``S = G G^T``
    (full rank), the push-through identity turns ``w = G Phi^T (Phi Phi^T + delta)^{-1} y`` into
    ``w_+ = (Z_+^T Z_+ + delta S^{-1})^{-1} Z_+^T y``, a well-conditioned ``M_+ x M_+`` system.
    """
    ridges = [1e-9, 1e-6, 1e-3]
    args = {**BASE, "eigenvalues": RANK_DEFICIENT, "n": 20, "features": 25, "ridges": ridges, "draws": 16}
    pos = RANK_DEFICIENT > 0
    ref = []
    for g in rng.generators(BASE["seed"], 16):
        F = g.standard_normal((25, M))
        Z = g.standard_normal((20, M))
        y = Z @ V + math.sqrt(BASE["noise_variance"]) * g.standard_normal(20)
        G = (np.sqrt(RANK_DEFICIENT)[:, None] * F.T / math.sqrt(25))[pos]
        S_inv = np.linalg.inv(G @ G.T)
        row = []
        for d in ridges:
            w = np.zeros(M)
            w[pos] = np.linalg.solve(Z[:, pos].T @ Z[:, pos] + d * S_inv, Z[:, pos].T @ y)
            row.append(np.sum((w - V) ** 2) + BASE["noise_variance"])
        ref.append(row)
    for res in (sim.rf_risk.uncached(**args), sim.rf_risk_numpy(**args)):
        assert np.allclose(res.test, ref, rtol=1e-10, atol=0)
    monkeypatch.setattr(sim, "_SQRT_EPS", 0.0)  # the rival: the unguarded Gram route
    assert not np.allclose(sim.rf_risk_numpy(**args).test[:, 0], np.array(ref)[:, 0], rtol=1e-10, atol=0)


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = sim.rf_risk.uncached(**BASE)
    b = sim.rf_risk.uncached(**BASE)
    c = sim.rf_risk.uncached(**{**BASE, "seed": 12})
    assert np.array_equal(a.test, b.test) and np.array_equal(a.train, b.train)
    assert not np.array_equal(a.test, c.test)


def test_noise_level_keeps_the_draws():
    """``eps`` is drawn even without noise, so runs differing only in ``sigma`` share ``F``, ``Z`` and ``eps``.

    Per draw ``w = w_signal + sigma w_noise``, so ``test - sigma^2`` is a quadratic in ``sigma``
    with draw-wise coefficients: its third difference over ``sigma = 0, s, 2s, 3s`` vanishes.
    """
    s = 0.25
    g = [sim.rf_risk.uncached(**{**BASE, "noise_variance": (i * s) ** 2}).test - (i * s) ** 2 for i in range(4)]
    third = g[0] - 3 * g[1] + 3 * g[2] - g[3]
    assert np.allclose(third, 0.0, rtol=0, atol=1e-12 * np.max(np.abs(g)))
    assert not np.allclose(g[0] - 2 * g[1] + g[2], 0.0, rtol=0, atol=1e-6)  # the noise does enter


def test_one_and_two_threads_give_identical_numbers():
    code = textwrap.dedent(f"""
        import hashlib, json, math
        import numpy as np
        from simulations import random_features as sim
        lam = np.arange(1, 41) ** -1.5
        v = np.arange(1, 41) ** -0.5
        parts = []
        for n, N in [(12, 30), (30, 12), (15, math.inf)]:
            r = sim.rf_risk.uncached(lam, v, 0.2, n, N, {RIDGES!r}, 32, 11)
            parts += [r.test.tobytes(), r.train.tobytes()]
        for N in [20, math.inf]:
            r = sim.relu_rf_risk.uncached(4, 15, N, {RIDGES!r}, 16, 3, n_test=50, noise_variance=0.1)
            parts += [r.test.tobytes(), r.train.tobytes()]
        print(json.dumps(hashlib.sha256(b"".join(parts)).hexdigest()))
    """)
    out = outputs_by_thread_count(code)
    assert out[0] == out[1]


def test_summaries_and_cache_round_trip():
    args = {**BASE, "features": math.inf}
    first = sim.rf_risk(**args)
    again = sim.rf_risk(**args)  # served from the test session's cache folder
    for r in (first, again):
        assert r.n_samples == BASE["draws"]
        assert np.allclose(r.test_stderr, r.test.std(axis=0, ddof=1) / math.sqrt(BASE["draws"]))
        assert np.allclose(r.train_mean, r.train.mean(axis=0))
        assert np.array_equal(r.ridges, RIDGES)
    assert np.array_equal(first.test, again.test) and np.array_equal(first.train_stderr, again.train_stderr)
    assert again.params == first.params and again.params["features"] == math.inf


@pytest.mark.parametrize("features", [25, math.inf])
def test_huge_ridge_fits_nothing(features):
    """``delta -> inf``: ``a -> 0``; each draw's test risk is ``||v||^2 + sigma^2``, its training error ``|y|^2/n``."""
    args = {**BASE, "features": features, "ridges": [1e300], "draws": 16}
    res = sim.rf_risk.uncached(**args)
    sq = []
    for g in rng.generators(BASE["seed"], 16):
        if math.isfinite(features):
            g.standard_normal((features, M))
        Z = g.standard_normal((BASE["n"], M))
        y = Z @ V + math.sqrt(BASE["noise_variance"]) * g.standard_normal(BASE["n"])
        sq.append(np.mean(y**2))
    assert np.allclose(res.test, np.sum(V**2) + BASE["noise_variance"], rtol=1e-14, atol=0)
    assert np.allclose(res.train[:, 0], sq, rtol=1e-14, atol=0)


def test_ridgeless_krr_with_more_samples_than_modes_has_the_inverse_wishart_risk():
    """``N = inf``, ``delta = 0``, ``n > M + 1``: ``w - v = sigma (Z^T Z)^{-1} Z^T eps``, so
    ``E ||w - v||^2 = sigma^2 E tr (Z^T Z)^{-1} = sigma^2 M / (n - M - 1)`` (inverse-Wishart mean)."""
    m, n, noise = 6, 24, 0.5
    lam = np.arange(1, m + 1) ** -2.0
    res = sim.rf_risk.uncached(lam, np.ones(m), noise, n, math.inf, [0.0], 20000, 7)
    exact = noise * m / (n - m - 1) + noise
    z = (res.test_mean[0] - exact) / res.test_stderr[0]
    assert abs(z) < Z_CRIT
    rival = noise * m / (n - m) + noise  # the naive "sigma^2 M / (n - M)"
    assert abs((res.test_mean[0] - rival) / res.test_stderr[0]) > Z_CRIT
    assert np.all(res.train[:, 0] > 0)  # n > M: least squares does not interpolate


BAD_LINEAR = [
    ({"eigenvalues": [-1.0] + [1.0] * (M - 1)}, "eigenvalues"),
    ({"eigenvalues": [np.nan] * M}, "eigenvalues"),
    ({"eigenvalues": []}, "eigenvalues"),
    ({"eigenvalues": np.ones((2, M))}, "eigenvalues"),
    ({"eigenvalues": "big"}, "eigenvalues"),
    ({"target_coefficients": np.ones(M - 1)}, "target_coefficients"),
    ({"target_coefficients": [np.inf] * M}, "target_coefficients"),
    ({"noise_variance": -0.1}, "noise_variance"),
    ({"noise_variance": np.nan}, "noise_variance"),
    ({"noise_variance": "x"}, "noise_variance"),
    ({"n": 0}, "n must"),
    ({"n": 2.5}, "n must"),
    ({"n": True}, "n must"),
    ({"features": 0}, "features"),
    ({"features": 2.5}, "features"),
    ({"features": -math.inf}, "features"),
    ({"features": math.nan}, "features"),
    ({"features": True}, "features"),
    ({"ridges": [-1.0]}, "ridges"),
    ({"ridges": [np.nan]}, "ridges"),
    ({"ridges": []}, "ridges"),
    ({"ridges": [[0.1]]}, "ridges"),
    ({"draws": 1}, "draws"),
    ({"draws": 8, "n_chunks": 16}, "draws"),
    ({"n_chunks": 0}, "n_chunks"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
]


@pytest.mark.parametrize("change,match", BAD_LINEAR)
def test_bad_input_raises_naming_the_parameter(change, match):
    for func in (sim.rf_risk, sim.rf_risk_numpy):
        with pytest.raises((ValueError, TypeError), match=match):
            func(**{**BASE, **change})


def test_a_single_ridge_may_be_a_number():
    res = sim.rf_risk.uncached(**{**BASE, "ridges": 0.3})
    ref = sim.rf_risk.uncached(**BASE)
    # the same draw and solve; only the rounding of the batched products over ridges differs
    assert np.allclose(res.test[:, 0], ref.test[:, RIDGES.index(0.3)], rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------------------------
# ReLU random features on the sphere
# ---------------------------------------------------------------------------------------------


def _reference_relu(d, n, features, ridges, draws, seed, target=(1.0, 0.5), noise_variance=0.0, n_test=2000,
                    n_chunks=16):
    """Dense solves: ``W`` (finite ``N``), training inputs, ``eps``, test inputs, from each chunk's generator."""
    sigma = math.sqrt(noise_variance)
    test, train = [], []
    for g, count in zip(rng.generators(seed, n_chunks), rng.chunk_sizes(draws, n_chunks)):
        for _ in range(count):
            W = g.standard_normal((features, d)) if math.isfinite(features) else None
            X = g.standard_normal((n, d))
            X /= np.linalg.norm(X, axis=1, keepdims=True)
            y = sim.relu_target(X, target) + sigma * g.standard_normal(n)
            Xt = g.standard_normal((n_test, d))
            Xt /= np.linalg.norm(Xt, axis=1, keepdims=True)
            if W is not None:
                Phi = np.maximum(X @ W.T, 0) / math.sqrt(features)
                Phit = np.maximum(Xt @ W.T, 0) / math.sqrt(features)
                K, Kt = Phi @ Phi.T, Phit @ Phi.T
            else:
                K, Kt = sim.arccos_kernel(X @ X.T), sim.arccos_kernel(Xt @ X.T)
            t_row, tr_row = [], []
            for dl in ridges:  # dual form: fhat = k(x, X) (K + delta I)^{-1} y, the pseudo-inverse at 0
                alpha = np.linalg.solve(K + dl * np.eye(n), y) if dl > 0 else np.linalg.lstsq(K, y, rcond=None)[0]
                t_row.append(np.mean((Kt @ alpha - sim.relu_target(Xt, target)) ** 2) + noise_variance)
                tr_row.append(np.mean((y - K @ alpha) ** 2))
            test.append(t_row)
            train.append(tr_row)
    return np.array(test), np.array(train)


RELU = dict(d=4, n=15, features=20, ridges=[1e-2, 0.3, 3.0], draws=4, seed=5, noise_variance=0.1, n_test=60,
            n_chunks=2)


@pytest.mark.parametrize("features,n", [(20, 15), (10, 25), (math.inf, 15)])
def test_relu_matches_dense_solve_draw_by_draw(features, n):
    args = {**RELU, "features": features, "n": n}
    res = sim.relu_rf_risk.uncached(**args)
    test, train = _reference_relu(**args)
    assert np.allclose(res.test, test, rtol=1e-8, atol=0)
    assert np.allclose(res.train, train, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("features", [20, math.inf])
def test_relu_seeded_structure_and_limits(features):
    args = dict(d=4, n=15, features=features, ridges=[0.0, 0.1, 1e300], draws=16, seed=5, noise_variance=0.1,
                n_test=60)
    a = sim.relu_rf_risk.uncached(**args)
    b = sim.relu_rf_risk.uncached(**args)
    c = sim.relu_rf_risk.uncached(**{**args, "seed": 6})
    assert np.array_equal(a.test, b.test) and np.array_equal(a.train, b.train)
    assert not np.array_equal(a.test, c.test)
    assert a.test.shape == (16, 3) and a.n_samples == 16 and a.params["features"] == features
    assert np.all(a.test >= 0.1) and np.all(a.train >= 0)
    # ridge 0 with n below the rank interpolates: training error at rounding level
    y_scale = np.max(a.train[:, 2])
    assert np.all(a.train[:, 0] <= 1e-12 * y_scale)
    # huge ridge: fhat = 0, so the test risk is mean f*^2 over the test points plus sigma^2
    mean_sq = []
    for g in rng.generators(5, 16):
        if math.isfinite(features):
            g.standard_normal((features, 4))
        g.standard_normal((15, 4))
        g.standard_normal(15)
        Xt = g.standard_normal((60, 4))
        Xt /= np.linalg.norm(Xt, axis=1, keepdims=True)
        mean_sq.append(np.mean(sim.relu_target(Xt) ** 2))
    assert np.allclose(a.test[:, 2], np.array(mean_sq) + 0.1, rtol=1e-12, atol=0)


def test_relu_target_terms_are_orthonormal_harmonics():
    d, m = 5, 400_000
    x = np.random.default_rng(0).standard_normal((m, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    h1 = sim.relu_target(x, (1.0, 0.0))
    h2 = sim.relu_target(x, (0.0, 1.0))
    for values, expected in [(h1**2, 1.0), (h2**2, 1.0), (h1 * h2, 0.0), (h2, 0.0)]:
        z = (values.mean() - expected) / (values.std(ddof=1) / math.sqrt(m))
        assert abs(z) < Z_CRIT


def test_funk_hecke_on_the_degree_two_target_by_monte_carlo():
    """``E_{x'}[k(x . x') h2(x')] = mu_2 h2(x)``: the kernel's integral operator scales ``h2`` by ``mu_2``."""
    d, m = 4, 1_000_000
    x0 = np.array([1.0, 1.0, 0.0, 0.0]) / math.sqrt(2)
    xs = np.random.default_rng(1).standard_normal((m, d))
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    values = sim.arccos_kernel(xs @ x0) * sim.relu_target(xs, (0.0, 1.0))
    mu = sim.relu_spectrum(d, 4)[0]
    h2_x0 = sim.relu_target(x0, (0.0, 1.0))
    se = values.std(ddof=1) / math.sqrt(m)
    assert abs(values.mean() - mu[2] * h2_x0) / se < Z_CRIT
    assert abs(values.mean() - mu[4] * h2_x0) / se > Z_CRIT  # the rival: the wrong degree's eigenvalue


def _closed_form_spectrum(d, degrees):
    """``mu_k = d beta_k^2`` (independent derivation).

    ``k(x . x') = E_w[relu(w.x) relu(w.x')] = E|w|^2 E_u[relu(u.x) relu(u.x')] = d E_u[...]`` over unit ``u``;
    Funk-Hecke on ``relu(u.x) = sum_k beta_k N(d, k) P_k(u.x)`` and the addition theorem give
    ``mu_k = d beta_k^2`` with ``beta_k = E_t[relu(t) P_k(t)]``.  Rodrigues' formula and two
    integrations by parts: ``beta_0 = Gamma(d/2) / (2 sqrt(pi) Gamma((d+1)/2))``, ``beta_1 = 1/(2d)``,
    ``beta_k = 0`` for odd ``k >= 3`` and, for even ``k >= 2``,
    ``|beta_k| = Gamma(d/2) Gamma(k-1) / (sqrt(pi) 2^k Gamma(k/2) Gamma((k+d+1)/2))``.
    """
    k = np.asarray(degrees, dtype=float)
    mu = np.zeros(k.shape)
    mu[k == 0] = d * math.exp(2 * (gammaln(d / 2) - gammaln((d + 1) / 2))) / (4 * math.pi)
    mu[k == 1] = 1.0 / (4 * d)
    even = (k >= 2) & (k % 2 == 0)
    ke = k[even]
    log_beta = gammaln(d / 2) + gammaln(ke - 1) - 0.5 * math.log(math.pi) - ke * math.log(2) - gammaln(ke / 2) \
        - gammaln((ke + d + 1) / 2)
    mu[even] = d * np.exp(2 * log_beta)
    return mu


def _log_multiplicity(d, k):
    k = np.asarray(k, dtype=float)
    return np.log(2 * k + d - 2) - np.log(k) + gammaln(k + d - 2) - gammaln(k) - gammaln(d - 1)


@pytest.mark.parametrize("d", [3, 4, 7, 12])
def test_relu_spectrum_against_closed_form(d):
    K = 60
    mu, mult, tail = sim.relu_spectrum(d, K)
    exact = _closed_form_spectrum(d, np.arange(K + 1))
    assert mult.dtype == np.int64 and mult[0] == 1 and mult[1] == d
    assert np.allclose(mu, exact, rtol=0, atol=1e-15)  # the quadrature's rounding floor, absolute
    big = exact > 1e-6
    assert np.allclose(mu[big], exact[big], rtol=1e-9, atol=0)
    assert mu[1] == pytest.approx(1 / (4 * d), rel=1e-13)
    assert np.all(np.abs(mu[3::2]) <= 1e-15)  # odd degrees >= 3 vanish: k(t) - t/4 is even
    # the trace: sum over all degrees of mu_k N(d, k) is k(1) = 1/2; the tail is what lies above K
    ks = np.arange(K + 1, 400_001)
    ks = ks[ks % 2 == 0]
    above = float(np.sum(np.exp(np.log(_closed_form_spectrum(d, ks)) + _log_multiplicity(d, ks))))
    assert float(np.sum(exact * mult)) + above == pytest.approx(0.5, abs=1e-13)
    # the numerical tail carries the eigenvalues' absolute floor times the multiplicities
    assert tail == pytest.approx(above, rel=0, abs=1e-13 + 1e-15 * float(mult.sum()))
    assert 0 < tail < sim.relu_spectrum(d, K // 2)[2]


def test_relu_spectrum_against_gauss_jacobi_in_t():
    """At low degrees Gauss-Jacobi in ``t`` with weight ``(1 - t^2)^{(d-3)/2}`` is accurate enough to cross-check."""
    d, K = 5, 6
    t, w = roots_jacobi(2000, (d - 3) / 2, (d - 3) / 2)
    w = w / w.sum()
    alpha = (d - 2) / 2
    gj = [np.sum(w * sim.arccos_kernel(t) * eval_gegenbauer(k, alpha, t)) / eval_gegenbauer(k, alpha, 1.0)
          for k in range(K + 1)]
    assert np.allclose(sim.relu_spectrum(d, K)[0], gj, rtol=0, atol=1e-12)


def test_harmonic_dimension():
    assert [sim.harmonic_dimension(3, k) for k in range(6)] == [2 * k + 1 for k in range(6)]
    for d in (4, 7):
        for K in (0, 3, 9):
            total = sum(sim.harmonic_dimension(d, k) for k in range(K + 1))
            assert total == math.comb(K + d - 1, d - 1) + math.comb(K + d - 2, d - 1)  # polynomials of degree <= K


def test_relu_eigensystem_for_the_theory():
    mu, mult, coef = sim.relu_eigensystem(5, 8, target=(-2.0, 0.5))
    raw, raw_mult, _ = sim.relu_spectrum(5, 8)
    assert np.array_equal(mult, raw_mult)
    assert np.all(mu >= 0) and np.all(mu[3::2] == 0.0)
    assert np.allclose(mu[[0, 1, 2, 4, 6, 8]], raw[[0, 1, 2, 4, 6, 8]], rtol=1e-14)
    assert np.array_equal(coef, [0.0, 2.0, 0.5, 0, 0, 0, 0, 0, 0])  # sqrt of total v^2 per degree


def test_arccos_kernel_is_the_relu_feature_kernel():
    """``E_w[relu(w.x) relu(w.x')]`` by Monte Carlo over ``w`` against :func:`arccos_kernel`."""
    w = np.random.default_rng(3).standard_normal((1_000_000, 3))
    x = np.array([1.0, 0.0, 0.0])
    for t in (-0.9, 0.0, 0.4, 1.0):
        xp = np.array([t, math.sqrt(1 - t * t), 0.0])
        values = np.maximum(w @ x, 0) * np.maximum(w @ xp, 0)
        se = values.std(ddof=1) / math.sqrt(values.size)
        assert abs(values.mean() - sim.arccos_kernel(t)) / se < Z_CRIT
    assert sim.arccos_kernel(1.0) == 0.5 and sim.arccos_kernel(-1.0) == 0.0


RELU_OK = dict(d=4, n=10, features=12, ridges=[0.1], draws=16, seed=0)
BAD_RELU = [
    ({"d": 2}, "d must"), ({"d": 3.0}, "d must"), ({"n": 0}, "n must"), ({"features": 0}, "features"),
    ({"features": 1.5}, "features"), ({"ridges": [-1.0]}, "ridges"), ({"draws": 1}, "draws"),
    ({"draws": 8, "n_chunks": 16}, "draws"), ({"seed": -2}, "seed"), ({"target": (1.0,)}, "target"),
    ({"target": (1.0, np.nan)}, "target"), ({"noise_variance": -1.0}, "noise_variance"), ({"n_test": 0}, "n_test"),
]


@pytest.mark.parametrize("change,match", BAD_RELU)
def test_relu_bad_input_raises_naming_the_parameter(change, match):
    with pytest.raises((ValueError, TypeError), match=match):
        sim.relu_rf_risk(**{**RELU_OK, **change})


@pytest.mark.parametrize("func,args,match", [
    (sim.relu_spectrum, (2, 5), "d must"), (sim.relu_spectrum, (3, -1), "max_degree"),
    (sim.relu_spectrum, (40, 400), "max_degree"), (sim.relu_eigensystem, (3, 1), "max_degree"),
    (sim.harmonic_dimension, (3, -1), "k must"),
])
def test_spectrum_bad_input(func, args, match):
    with pytest.raises((ValueError, TypeError), match=match):
        func(*args)
