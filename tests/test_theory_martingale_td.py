"""theory.martingale_td against independent computations (textbook moments, quadrature, brute-force Monte Carlo)."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as hst
from scipy import integrate
from scipy.stats import norm

from theory import martingale_td as mt

t, x = mt.t, mt.x
KAPPA, SIGMA, BETA, X0 = 2.0, 1.0, 0.5, 1.0
Z = norm.isf(1e-6)


def ou_infinite():  # (a)
    return mt.Problem(f"-{KAPPA}*x", f"{SIGMA}", "x**2", 0, BETA, math.inf, X0)


def bm_terminal():  # (b)
    return mt.Problem("0", "1", 0, "x**2", 0.0, 1.0, 0.5)


def bm_running():  # (c)
    return mt.Problem("0", "1", "x", 0, 0.0, 1.0, 0.5)


def rich():  # every coefficient of the exact class in use
    return mt.Problem("1/2 - x", "3/10 + x/5", "x**2 + t*x", "x", 0.3, 1.0, 0.5)


# ---------------------------------------------------------------- textbook moments


def ou_m(n, s):
    """E[X_s^n] for OU from the Gaussian law N(x0 e^{-k s}, sigma^2 (1 - e^{-2 k s}) / (2 k))."""
    mu = X0 * math.exp(-KAPPA * s)
    v = SIGMA**2 * (1 - math.exp(-2 * KAPPA * s)) / (2 * KAPPA)
    return [1.0, mu, mu**2 + v, mu**3 + 3 * mu * v, mu**4 + 6 * mu**2 * v + 3 * v**2][n]


def bm_m(n, s, x0=0.5):
    return [1.0, x0, x0**2 + s, x0**3 + 3 * x0 * s, x0**4 + 6 * x0**2 * s + 3 * s**2][n]


def quad(f, a, b):
    return integrate.quad(f, a, b, epsabs=1e-14, epsrel=1e-13, limit=200)[0]


# ---------------------------------------------------------------- value function


def test_ml_identity_simplifies_to_zero():
    assert sp.simplify(mt.ML_IDENTITY) == 0


def test_value_functions_match_textbook_formulas_and_feynman_kac():
    J = mt.value_function(ou_infinite())
    # J = int_0^inf e^{-beta s} E[X_s^2] ds with E[X_s^2] = x^2 e^{-2ks} + sigma^2 (1 - e^{-2ks}) / (2k)
    expected = x**2 / (BETA + 2 * KAPPA) + SIGMA**2 / (BETA * (BETA + 2 * KAPPA))
    assert sp.simplify(J - sp.nsimplify(expected)) == 0
    num = quad(lambda s: math.exp(-BETA * s) * ou_m(2, s), 0, np.inf)
    assert float(J.subs(x, X0)) == pytest.approx(num, rel=1e-12)
    assert sp.simplify(mt.value_function(bm_terminal()) - (x**2 + 1 - t)) == 0  # E[X_1^2 | X_t = x]
    assert sp.simplify(mt.value_function(bm_running()) - x * (1 - t)) == 0     # E int_t^1 X_s ds
    for P in (ou_infinite(), bm_terminal(), bm_running(), rich()):
        J = mt.value_function(P)
        assert mt.feynman_kac_residual(P, J) == 0
        if not P.infinite:
            assert sp.simplify(J.subs(t, sp.nsimplify(P.horizon)) - P.terminal_reward) == 0
    assert mt.feynman_kac_residual(bm_running(), x) != 0


def test_value_at_start_is_expected_discounted_return():
    """E[G_0] = int e^{-beta s} E r(s, X_s) ds + e^{-beta T} E h(X_T) = J(0, x0), moments by quadrature."""
    P = rich()
    m = [sp.lambdify(t, e) for e in mt.moments(P, 2)]
    Er = lambda s: m[2](s) + s * m[1](s)
    ret = quad(lambda s: math.exp(-0.3 * s) * Er(s), 0, 1) + math.exp(-0.3) * m[1](1.0)
    J0 = float(mt.value_function(P).subs({t: 0, x: 0.5}))
    assert J0 == pytest.approx(ret, rel=1e-12)
    # the moments themselves: Euler-Maruyama-free check through their ODE at a few times
    for n in range(3):
        lhs = sp.diff(mt.moments(P, 2)[n], t)
        L = sp.expand(P.generator(x**n))
        rhs = sum(L.coeff(x, k) * mt.moments(P, 2)[k] for k in range(3))
        assert sp.simplify(lhs - rhs) == 0


@settings(max_examples=6, deadline=None)
@given(b0=hst.integers(-3, 3), s0=hst.integers(1, 3), c1=hst.integers(-2, 2), c2=hst.integers(-2, 2),
       d=hst.integers(-2, 2), x0=hst.integers(-2, 2))
def test_ml_recovers_polynomial_value_function(b0, s0, c1, c2, d, x0):
    """Brownian motion with drift, polynomial rewards: J is a polynomial in (t, x) and ML/td0 return it."""
    P = mt.Problem(f"{b0}/2", f"{s0}/2", f"{c1}*x + {c2}*x**2", f"{d}*x**2", 0.0, 1.0, x0 / 2)
    J = mt.value_function(P)
    assert mt.feynman_kac_residual(P, J) == 0
    feats = [t**p * x**n for n in range(3) for p in range(4)]
    truth = np.array([float(sp.Poly(J, t, x).coeff_monomial(t**p * x**n)) for n in range(3) for p in range(4)])
    for method in ("ml", "td0"):
        np.testing.assert_allclose(mt.solve(P, feats, method), truth, atol=1e-8)


# ---------------------------------------------------------------- continuous-time solutions


@pytest.mark.parametrize("P,feats,truth", [
    (ou_infinite(), ["1", "x", "x**2"], [SIGMA**2 / (BETA * (BETA + 2 * KAPPA)), 0, 1 / (BETA + 2 * KAPPA)]),
    (bm_terminal(), ["1", "t", "x", "x**2"], [1, -1, 0, 1]),
    (bm_running(), ["x", "t*x", "1"], [1, -1, 0]),
])
def test_ml_td0_lstd_td_lambda_gtd_recover_j_in_family(P, feats, truth):
    for method in ("ml", "td0", "lstd", "gtd"):
        np.testing.assert_allclose(mt.solve(P, feats, method), truth, atol=1e-10)
    np.testing.assert_allclose(mt.solve(P, feats, "td_lambda", lam=0.3), truth, atol=1e-10)


def test_ml_and_td0_match_quadrature_on_family_without_j():
    """BM, h = x^2, features (1, x^2): normal equations by quad with textbook Gaussian moments."""
    P = bm_terminal()
    A = np.array([[quad(lambda s, a=a, b=b: bm_m(a + b, s), 0, 1) for b in (0, 2)] for a in (0, 2)])
    # E[phi J], J = x^2 + 1 - t
    c = np.array([quad(lambda s, a=a: bm_m(a + 2, s) + (1 - s) * bm_m(a, s), 0, 1) for a in (0, 2)])
    np.testing.assert_allclose(mt.solve(P, ["1", "x**2"], "ml"), np.linalg.solve(A, c), rtol=1e-11)
    # td0: D phi = (d/dt + 1/2 d_xx) phi: D 1 = 0, D x^2 = 1; terminal term at T = 1
    B = np.array([[-quad(lambda s, a=a, j=j: [0.0, bm_m(a, s)][j], 0, 1) + bm_m(a + 2 * j, 1.0)
                   for j in (0, 1)] for a in (0, 2)])
    d = np.array([bm_m(a + 2, 1.0) for a in (0, 2)])
    np.testing.assert_allclose(mt.solve(P, ["1", "x**2"], "td0"), np.linalg.solve(B, d), rtol=1e-11)


def test_ou_infinite_horizon_ml_matches_quadrature():
    P = ou_infinite()
    a2, a0 = 1 / (BETA + 2 * KAPPA), SIGMA**2 / (BETA * (BETA + 2 * KAPPA))
    w = lambda s: math.exp(-2 * BETA * s)
    A = np.array([[quad(lambda s, i=i, j=j: w(s) * ou_m(i + j, s), 0, np.inf) for j in (0, 1)] for i in (0, 1)])
    c = np.array([quad(lambda s, i=i: w(s) * (a2 * ou_m(i + 2, s) + a0 * ou_m(i, s)), 0, np.inf) for i in (0, 1)])
    np.testing.assert_allclose(mt.solve(P, ["1", "x"], "ml"), np.linalg.solve(A, c), rtol=1e-10)


@pytest.mark.parametrize("P,feats", [(bm_terminal(), ["1", "x**2"]), (ou_infinite(), ["1", "x"]),
                                     (rich(), ["1", "x"])])
def test_methods_differ_when_j_not_in_family(P, feats):
    th = {m: mt.solve(P, feats, m, lam=0.5 if m == "td_lambda" else None) for m in ("ml", "td0", "td_lambda")}
    # the solutions are deterministic to ~1e-13: a gap of 1e-3 is a real difference
    assert np.linalg.norm(th["ml"] - th["td0"]) > 1e-3
    assert np.linalg.norm(th["ml"] - th["td_lambda"]) > 1e-3
    assert np.linalg.norm(th["td0"] - th["td_lambda"]) > 1e-3
    np.testing.assert_allclose(mt.solve(P, feats, "lstd"), th["td0"], rtol=1e-13)


def test_mstd_continuous_limit_by_hand_and_biased():
    # BM, h = x^2, features (1, x^2): 3 theta2^2 + E[((1 - theta2) X_1^2 - theta1)^2] -> (5/8, 1/2)
    np.testing.assert_allclose(mt.solve(bm_terminal(), ["1", "x**2"], "mstd"), [0.625, 0.5], rtol=1e-12)
    # BM, r = x, J = x - t x in the family (x, t x): the running reward drops out, MSTD gives 0
    np.testing.assert_allclose(mt.solve(bm_running(), ["x", "t*x"], "mstd"), [0, 0], atol=1e-13)


def test_mstd_bias_persists_as_steps_grow():
    P, feats, J = bm_running(), ["x", "t*x"], np.array([1.0, -1.0])
    gaps = [np.linalg.norm(mt.solve(P, feats, "mstd", steps=k)) for k in (16, 64, 256)]
    assert gaps[0] > gaps[1] > gaps[2]  # theta_K -> the biased limit 0
    dist = [np.linalg.norm(mt.solve(P, feats, "mstd", steps=k) - J) for k in (16, 64, 256)]
    assert dist[0] < dist[1] < dist[2] and dist[2] > 1.3  # ... and away from J


def test_mstd_singular_cases_raise():
    with pytest.raises(ValueError, match="singular"):
        mt.solve(ou_infinite(), ["1", "x**2"], "mstd")
    with pytest.raises(ValueError, match="singular"):
        mt.solve(bm_terminal(), ["1", "t", "x**2"], "mstd")


def test_gtd_with_features_is_td0_and_least_squares_otherwise():
    P, feats = rich(), ["1", "x"]
    np.testing.assert_allclose(mt.solve(P, feats, "gtd"), mt.solve(P, feats, "td0"), rtol=1e-13)
    tests = ["1", "x", "x**2", "t"]
    A, b = mt.linear_system(P, feats, "gtd", test_functions=tests)
    A0, b0 = mt.linear_system(P, feats, "td0")
    np.testing.assert_allclose(A[:2], A0, rtol=1e-13)
    np.testing.assert_allclose(b[:2], b0, rtol=1e-13)
    th = mt.solve(P, feats, "gtd", test_functions=tests)
    np.testing.assert_allclose(A.T @ (A @ th - b), 0, atol=1e-12)
    assert np.linalg.norm(th - mt.solve(P, feats, "td0")) > 1e-3
    np.testing.assert_allclose(mt.solve(P, feats, "gtd", steps=8),
                               mt.solve(P, feats, "td0", steps=8), rtol=1e-12)


# ---------------------------------------------------------------- discrete schemes


@pytest.mark.parametrize("method", ["ml", "td0", "td_lambda", "mstd"])
@pytest.mark.parametrize("P,feats", [(bm_terminal(), ["1", "x**2"]), (rich(), ["1", "x"])])
def test_discrete_converges_at_first_order(P, feats, method):
    fit = mt.convergence_rate(P, feats, method, ks=(16, 32, 64, 128), lam=0.5 if method == "td_lambda" else None)
    assert fit.order == pytest.approx(1.0, abs=0.05)
    # Richardson extrapolation of the discrete solutions (a separate code path) hits the closed-form limit
    th = [mt.solve(P, feats, method, steps=k, lam=0.5 if method == "td_lambda" else None) for k in (256, 512)]
    np.testing.assert_allclose(2 * th[1] - th[0], fit.theta_limit, atol=2e-4)


def test_exact_transition_converges_to_the_same_limit():
    P = mt.Problem("1 - 2*x", "1/2", "x**2", "x", 0.2, 1.0, 0.3)
    euler = mt.convergence_rate(P, ["1", "x"], "td0", ks=(16, 32, 64, 128))
    exact = mt.convergence_rate(P, ["1", "x"], "td0", ks=(16, 32, 64, 128), transition="exact")
    np.testing.assert_allclose(exact.theta_limit, euler.theta_limit)
    assert exact.order == pytest.approx(1.0, abs=0.1)
    assert not np.allclose(mt.solve(P, ["1", "x"], "td0", steps=4),
                           mt.solve(P, ["1", "x"], "td0", steps=4, transition="exact"))


def _mc_systems(P, feats, K, lam, n_paths, seed, transition="euler"):
    """Sample versions of every method's (A, b) from simulated paths of the same discrete scheme: per-path sums."""
    b0, b1, s0, s1 = (float(v) for v in mt._dynamics(P))
    T, beta = P.horizon, P.discount
    dt = T / K
    rng = np.random.default_rng(seed)
    X = np.empty((K + 1, n_paths))
    X[0] = P.x0
    for k in range(K):
        zk = rng.standard_normal(n_paths)
        if transition == "euler":
            X[k + 1] = X[k] + (b0 + b1 * X[k]) * dt + (s0 + s1 * X[k]) * math.sqrt(dt) * zk
        else:
            mean = X[k] * math.exp(b1 * dt) + b0 * math.expm1(b1 * dt) / b1
            X[k + 1] = mean + s0 * math.sqrt(math.expm1(2 * b1 * dt) / (2 * b1)) * zk
    tk = np.arange(K + 1) * dt
    disc = np.exp(-beta * tk)
    def fn(e):  # numpy function of (t, x) with the paths' shape even when e is constant
        g = sp.lambdify((t, x), sp.sympify(e, locals={"t": t, "x": x}))
        return lambda tt, xx: np.broadcast_to(g(tt, xx), np.shape(xx)).astype(float)
    f = [fn(e) for e in feats]
    r = fn(P.running_reward)
    hh = fn(P.terminal_reward)
    h = lambda xx: hh(T, xx)
    phi = np.array([[fi(tk[k], X[k]) for k in range(K + 1)] for fi in f])  # (n, K+1, paths)
    rk = np.array([r(tk[k], X[k]) for k in range(K + 1)])
    n = len(feats)
    psi = np.empty((n, K, n_paths))
    rho = np.empty((K, n_paths))
    for k in range(K):
        last = k == K - 1
        nxt = 0.0 if last else disc[k + 1] * phi[:, k + 1]
        psi[:, k] = nxt - disc[k] * phi[:, k]
        rho[k] = disc[k] * rk[k] * dt + (disc[K] * h(X[K]) if last else 0.0)
    # returns G_k (left Riemann) and traces xi_k
    G = np.empty((K, n_paths))
    acc = h(X[K])
    for k in range(K - 1, -1, -1):
        acc = rk[k] * dt + math.exp(-beta * dt) * acc
        G[k] = acc
    xi = np.empty((n, K, n_paths))
    tr = np.zeros((n, n_paths))
    for k in range(K):
        tr = (lam**dt) * tr + phi[:, k] * dt
        xi[:, k] = tr
    w = disc[:K] ** 2 * dt
    per_path = {
        "ml": (np.einsum("k,ikp,jkp->ijp", w, phi[:, :K], phi[:, :K]), np.einsum("k,ikp,kp->ip", w, phi[:, :K], G)),
        "mstd": (np.einsum("ikp,jkp->ijp", psi, psi), -np.einsum("ikp,kp->ip", psi, rho)),
        "td0": (-np.einsum("ikp,jkp->ijp", phi[:, :K], psi), np.einsum("ikp,kp->ip", phi[:, :K], rho)),
        "td_lambda": (-np.einsum("ikp,jkp->ijp", xi, psi), np.einsum("ikp,kp->ip", xi, rho)),
    }
    return {m: tuple((v.mean(-1), v.std(-1, ddof=1) / math.sqrt(n_paths)) for v in ab)
            for m, ab in per_path.items()}


@pytest.mark.parametrize("P,feats,K,transition", [
    (rich(), ["1", "x", "t*x**2"], 3, "euler"),
    (mt.Problem("1 - 2*x", "1/2", "x**2", "x", 0.2, 1.0, 0.3), ["1", "x"], 4, "exact"),
])
def test_discrete_exact_moments_match_brute_force_monte_carlo(P, feats, K, transition):
    lam = 0.4
    mc = _mc_systems(P, feats, K, lam, 1_000_000, seed=20220, transition=transition)
    for method, ((Am, Ase), (bm, bse)) in mc.items():
        A, b = mt.linear_system(P, feats, method, steps=K, lam=lam if method == "td_lambda" else None,
                                transition=transition)
        assert np.all(np.abs(A - Am) <= Z * Ase + 1e-12), method
        assert np.all(np.abs(b - bm) <= Z * bse + 1e-12), method
        # the Monte Carlo has power: its standard errors are small against the entries
        assert np.max(Ase) < 0.02 * np.max(np.abs(A))


def ou_brief():  # dX = -X dt + 0.5 dW, r = x^2, beta = 0.5, infinite horizon
    return mt.Problem("-x", "1/2", "x**2", 0, 0.5, math.inf, 1.0)


def _mc_systems_infinite(P, feats, dt, lam, n_paths, seed, transition="euler", horizon=60.0):
    """Per-path sums of the infinite-horizon discrete scheme, streamed over k and truncated at ``horizon``
    (``e^{-beta horizon}`` times the moments is far below the standard errors)."""
    b0, b1, s0, s1 = (float(v) for v in mt._dynamics(P))
    beta = P.discount
    K = math.ceil(horizon / dt)
    rng = np.random.default_rng(seed)
    fn = [sp.lambdify(x, sp.sympify(e, locals={"x": x})) for e in feats]
    rf = sp.lambdify(x, P.running_reward)
    phi_of = lambda xx: np.array([np.broadcast_to(f(xx), xx.shape).astype(float) for f in fn])
    r_of = lambda xx: np.broadcast_to(rf(xx), xx.shape).astype(float)
    n = len(feats)
    acc = {m: [np.zeros((n, n, n_paths)), np.zeros((n, n_paths))] for m in ("ml", "mstd", "td0", "td_lambda")}
    X = np.full(n_paths, P.x0)
    phi = phi_of(X)
    xi = np.zeros((n, n_paths))
    run = np.zeros(n_paths)           # R_k = sum_{j<k} e_j r_j dt
    u = np.zeros((n, n_paths))        # sum e_k dt phi_k
    v = np.zeros((n, n_paths))        # sum e_k dt R_k phi_k
    for k in range(K):
        ek, ek1 = math.exp(-beta * k * dt), math.exp(-beta * (k + 1) * dt)
        z = rng.standard_normal(n_paths)
        if transition == "euler":
            Xn = X + (b0 + b1 * X) * dt + (s0 + s1 * X) * math.sqrt(dt) * z
        else:
            Xn = X * math.exp(b1 * dt) + b0 * math.expm1(b1 * dt) / b1 + \
                s0 * math.sqrt(math.expm1(2 * b1 * dt) / (2 * b1)) * z
        phin = phi_of(Xn)
        rho = ek * r_of(X) * dt
        psi = ek1 * phin - ek * phi
        acc["ml"][0] += ek * ek * dt * phi[:, None] * phi[None]
        u += ek * dt * phi
        v += ek * dt * run * phi
        run = run + rho
        acc["mstd"][0] += psi[:, None] * psi[None]
        acc["mstd"][1] -= psi * rho
        acc["td0"][0] -= phi[:, None] * psi[None]
        acc["td0"][1] += phi * rho
        xi = lam**dt * xi + phi * dt
        acc["td_lambda"][0] -= xi[:, None] * psi[None]
        acc["td_lambda"][1] += xi * rho
        X, phi = Xn, phin
    acc["ml"][1] = run * u - v  # sum_k e_k^2 dt phi_k G_k with e_k G_k = Total - R_k
    return {m: tuple((a.mean(-1), a.std(-1, ddof=1) / math.sqrt(n_paths)) for a in ab) for m, ab in acc.items()}


@pytest.mark.parametrize("P,feats,dt,transition", [
    (ou_brief(), ["1", "x", "x**2"], 0.25, "euler"),
    (ou_infinite(), ["1", "x"], 0.2, "exact"),
])
def test_infinite_horizon_discrete_matches_brute_force_monte_carlo(P, feats, dt, transition):
    lam = 0.4
    mc = _mc_systems_infinite(P, feats, dt, lam, 200_000, seed=20221, transition=transition)
    for method, ((Am, Ase), (bm, bse)) in mc.items():
        A, b = mt.linear_system(P, feats, method, dt=dt, lam=lam if method == "td_lambda" else None,
                                transition=transition)
        assert np.all(np.abs(A - Am) <= Z * Ase + 1e-12), method
        assert np.all(np.abs(b - bm) <= Z * bse + 1e-12), method
        assert np.max(Ase) < 0.02 * np.max(np.abs(A)), method
    # lstd and gtd (test functions = features) are td0
    for m in ("lstd", "gtd"):
        for got, want in zip(mt.linear_system(P, feats, m, dt=dt, transition=transition),
                             mt.linear_system(P, feats, "td0", dt=dt, transition=transition)):
            np.testing.assert_allclose(got, want, rtol=1e-13)


def test_infinite_horizon_steps_is_the_simulation_grid():
    from simulations import martingale_td as sim
    assert mt.TRUNCATION_BITS == sim.TRUNCATION_BITS
    P, feats = ou_brief(), ["1", "x**2"]
    T = 54 * math.log(2) / 0.5
    np.testing.assert_array_equal(mt.solve(P, feats, "ml", steps=300), mt.solve(P, feats, "ml", dt=T / 300))
    np.testing.assert_array_equal(mt.solve(P, feats, "td0", steps=30, truncation=12.0),
                                  mt.solve(P, feats, "td0", dt=12.0 / 30))


def test_infinite_horizon_theory_matches_the_simulation():
    """simulations.martingale_td on horizon=inf (truncated at 54 ln2/beta, steps=K) against solve(steps=K)."""
    from simulations import martingale_td as sim
    P, feats, K = ou_brief(), ["1", "x"], 300
    C = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    methods = ("ml", "mstd", "lstd", "td_lambda")
    run = sim.run_algorithms_numpy((0.0, -1.0), (0.5, 0.0), [0.0, 0.0, 1.0], None, 0.5, math.inf, 1.0, C, K,
                                   64_000, 7, methods=methods, lam=0.4, transition="euler")
    for m in methods:
        th = mt.solve(P, feats, m, steps=K,
                      lam=0.4 if m == "td_lambda" else None)
        assert np.all(np.abs(run.estimate(m) - th) <= Z * run.standard_error(m)), m


@pytest.mark.parametrize("method", ["ml", "td0", "td_lambda", "mstd"])
@pytest.mark.parametrize("P", [ou_brief(), ou_infinite()])
def test_infinite_horizon_discrete_converges_to_continuous_limit(P, method):
    feats = ["x", "x**2"] if method == "mstd" else ["1", "x"]
    lam = 0.5 if method == "td_lambda" else None
    limit = mt.solve(P, feats, method, lam=lam)
    th = {h: mt.solve(P, feats, method, dt=h, lam=lam) for h in (0.02, 0.01, 0.005)}
    err = [np.linalg.norm(th[h] - limit) for h in (0.02, 0.01, 0.005)]
    assert err[0] > err[1] > err[2] > 0
    assert err[0] / err[1] == pytest.approx(2.0, rel=0.05)
    # Richardson extrapolation (first-order error cancelled) lands much closer to the closed-form limit
    assert np.linalg.norm(2 * th[0.005] - th[0.01] - limit) < 0.1 * err[2]
    T = mt.default_truncation(P.discount)
    fit = mt.convergence_rate(P, feats, method, ks=(2000, 4000, 8000, 16000), lam=lam)
    assert fit.order == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(fit.dts, T / np.array([2000, 4000, 8000, 16000]))


# ---------------------------------------------------------------- bad input


def test_bad_problems():
    with pytest.raises(ValueError, match="discount"):
        mt.Problem("0", "1", "x", 0, -0.1, 1.0, 0.0)
    with pytest.raises(ValueError, match="horizon"):
        mt.Problem("0", "1", "x", 0, 0.1, 0.0, 0.0)
    with pytest.raises(ValueError, match="drift"):
        mt.Problem("x**", "1", "x", 0, 0.1, 1.0, 0.0)
    with pytest.raises(ValueError, match="running_reward"):
        mt.Problem("0", "1", "x*y", 0, 0.1, 1.0, 0.0)
    with pytest.raises(ValueError, match="drift"):
        mt.Problem("-t*x", "1", "x", 0, 0.1, math.inf, 0.0)
    with pytest.raises(ValueError, match="terminal_reward"):
        mt.Problem("-x", "1", "x", "x", 0.1, math.inf, 0.0)
    with pytest.raises(ValueError, match="discount"):
        mt.Problem("-x", "1", "x", 0, 0.0, math.inf, 0.0)
    with pytest.raises(ValueError, match="drift"):
        mt.value_function(mt.Problem("-x**3", "1", "x", 0, 0.1, 1.0, 0.0))
    with pytest.raises(ValueError, match="running_reward"):
        mt.value_function(mt.Problem("0", "1", "sin(x)", 0, 0.1, 1.0, 0.0))
    with pytest.raises(ValueError, match="discount"):  # E[X^2] grows faster than the discount
        mt.value_function(mt.Problem("x", "1", "x**2", 0, 0.5, math.inf, 0.0))
    with pytest.raises(TypeError, match="problem"):
        mt.value_function("not a problem")
    with pytest.raises(TypeError, match="drift"):
        mt.Problem(True, "1", "x", 0, 0.1, 1.0, 0.0)


def test_bad_solver_arguments():
    P = bm_running()
    with pytest.raises(ValueError, match="ml, mstd, td0, lstd, td_lambda, gtd"):
        mt.solve(P, ["x"], "sarsa")
    with pytest.raises(ValueError, match="steps"):
        mt.solve(P, ["x"], "ml", steps=0)
    with pytest.raises(ValueError, match="lam"):
        mt.solve(P, ["x"], "td_lambda")
    with pytest.raises(ValueError, match="lam"):
        mt.solve(P, ["x"], "td_lambda", lam=1.5)
    with pytest.raises(ValueError, match="features"):
        mt.solve(P, [], "ml")
    with pytest.raises(ValueError, match="features"):
        mt.solve(P, ["exp(x)"], "ml")
    with pytest.raises(ValueError, match="transition"):
        mt.solve(P, ["x"], "ml", steps=4, transition="milstein")
    with pytest.raises(ValueError, match="additive noise"):
        mt.solve(rich(), ["x"], "ml", steps=4, transition="exact")
    with pytest.raises(ValueError, match="infinite horizon only"):
        mt.solve(P, ["x"], "ml", dt=0.1)
    with pytest.raises(ValueError, match="infinite horizon only"):
        mt.solve(P, ["x"], "ml", steps=4, truncation=2.0)
    with pytest.raises(ValueError, match="not both"):
        mt.solve(ou_infinite(), ["x"], "ml", steps=4, dt=0.1)
    with pytest.raises(ValueError, match="truncation needs steps"):
        mt.solve(ou_infinite(), ["x"], "ml", truncation=10.0)
    with pytest.raises(ValueError, match="dt"):
        mt.solve(ou_infinite(), ["x"], "ml", dt=0.0)
    # unstable Euler chain: e^{-2 beta dt} (1 - kappa dt)^2 = 9 e^{-2} > 1, e^{-beta dt} (1 - kappa dt)^2 = 4 e^{-3/4} > 1
    with pytest.raises(ValueError, match="spectral radius"):
        mt.solve(ou_infinite(), ["x"], "ml", dt=2.0)
    with pytest.raises(ValueError, match="spectral radius"):
        mt.solve(ou_infinite(), ["1", "x"], "td0", dt=1.5)
    assert np.all(np.isfinite(mt.solve(ou_infinite(), ["x"], "ml", steps=4)))  # dt = 18.7: the discount wins
    with pytest.raises(ValueError, match="test_functions"):
        mt.solve(P, ["x", "t*x"], "gtd", test_functions=["x"])
    with pytest.raises(ValueError, match="linearly dependent"):
        mt.solve(P, ["x", "2*x"], "ml")
    with pytest.raises(ValueError, match="ks"):
        mt.convergence_rate(P, ["x"], "ml", ks=(4,))
    with pytest.raises(ValueError, match="rounding"):  # discrete ML is exact for this martingale problem
        mt.convergence_rate(P, ["x", "t*x"], "ml")


@pytest.mark.parametrize("diffusion", ["1 + y", "sin(", "1 + s*x", "exp(t*x)"])
def test_diffusion_that_is_not_an_affine_expression_in_t_and_x_is_rejected(diffusion):
    with pytest.raises((ValueError, TypeError), match="diffusion"):
        mt.solve(mt.Problem("0", diffusion, "x", "0", 0.0, 1.0, 1.0), ["x"], "ml")
