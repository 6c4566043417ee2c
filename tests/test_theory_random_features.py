"""theory.random_features: the fixed point against independent solves, the KRR limit, power laws, bad input."""

import math
import re

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, optimize

from theory import random_features as rf

LAM, V = rf.power_law(1.5, 1.3, 400)
NOISE = 0.1
#: the acceptance bound of the issue: agreement with an independent solve to 1e-10 relative
REL = 1e-10


def independent_fixed_point(lam, n, N, ridge, start):
    """Equations (1) and (2) as written, in (log kappa, log gamma), by MINPACK's hybrid method."""

    def residual(x):
        kappa, gamma = np.exp(x)
        z = np.sum(lam / (lam + gamma))
        r1 = (z + ridge / kappa) / n - 1.0
        r2 = (z + N * kappa / gamma) / N - 1.0 if math.isfinite(N) else kappa / gamma - 1.0
        return [r1, r2]

    sol = optimize.root(residual, np.log(start), method="hybr", options={"xtol": 1e-15})
    # MINPACK stops with "no further improvement" once the step is below rounding: accept
    # that when both relative residuals are at the rounding level of the sums (M terms)
    assert sol.success or np.max(np.abs(sol.fun)) <= lam.size * np.finfo(float).eps, sol.message
    return np.exp(sol.x)


def paper_form_risk(lam, v, noise, n, N, kappa, gamma):
    """The risk as the authors' code writes it (x and the bias coefficients unrewritten)."""
    L = lam / (lam + gamma)
    z, q = L.sum(), (L**2).sum()
    if math.isinf(N):
        x, B = q / n, (1 - L) ** 2
    else:
        x = (q * (N - 2 * z) + z**2) / (n * (N - q))
        B = (1 - L) - kappa * L / (lam + gamma) * N / (N - q)
    return (B @ v**2 + noise) / (1 - x)


GRID = [(n, N, d) for n in (50, 100, 200) for N in (60, 99, 100, 101, 300, 1e6, 1e9, math.inf)
        for d in (1e-12, 1e-8, 1e-4, 1e-2, 1.0, 100.0)]


@pytest.mark.parametrize("n,N,ridge", GRID)
def test_fixed_point_matches_an_independent_solve(n, N, ridge):
    kappa, gamma = rf.effective_regularization(LAM, n, N, ridge)
    # start the independent solver well away from the answer
    k2, g2 = independent_fixed_point(LAM, n, N, ridge, (kappa * 3.0, gamma / 2.0))
    assert abs(kappa - k2) <= REL * k2 and abs(gamma - g2) <= REL * g2
    ef = rf.eigenframework(LAM, V, NOISE, n, N, ridge)
    # the paper's form computes 1 - x by cancellation: its own rounding is ~ M u / (1 - x)
    # (this module's form has none; see the extended-precision test below)
    cancellation = LAM.size * np.finfo(float).eps * ef.overfitting
    assert abs(ef.test - paper_form_risk(LAM, V, NOISE, n, N, k2, g2)) <= (REL + cancellation) * ef.test


@pytest.mark.parametrize("n,N,ridge", [(100, 100, 1e-12), (100, 99, 1e-12), (100, 101, 1e-10), (100, math.inf, 1e-12)])
def test_risk_near_the_interpolation_peak_against_extended_precision(n, N, ridge):
    """60-digit arithmetic (mpmath): the fixed point by bisection in gamma, the paper's formulas as written."""
    import mpmath as mp

    lam, v = rf.power_law(1.5, 1.3, 120)
    with mp.workdps(60):
        L = [mp.mpf(float(x)) for x in lam]
        v2 = [mp.mpf(float(x)) ** 2 for x in v]
        nn, d, s2 = mp.mpf(n), mp.mpf(ridge), mp.mpf(NOISE)
        NN = mp.inf if math.isinf(N) else mp.mpf(N)
        z = lambda g: mp.fsum(x / (x + g) for x in L)  # noqa: E731
        ridge_of = lambda g: g * (1 - z(g) / NN) * (nn - z(g))  # noqa: E731  (equation (2) into (1))
        g0 = mp.findroot(lambda g: z(g) - min(nn, NN), rf.eigenframework(lam, v, NOISE, n, N, 0.0).gamma,
                         tol=mp.mpf(10) ** -55)
        lo, hi = g0, 2 * g0
        while ridge_of(hi) < d:
            hi *= 2
        for _ in range(220):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if ridge_of(mid) < d else (lo, mid)
        g = (lo + hi) / 2
        k = g * (1 - z(g) / NN)
        Ls = [x / (x + g) for x in L]
        zz, q = mp.fsum(Ls), mp.fsum(a * a for a in Ls)
        x = q / nn if NN == mp.inf else (q * (NN - 2 * zz) + zz**2) / (nn * (NN - q))
        B = [(1 - a) ** 2 if NN == mp.inf else (1 - a) - k * a / (lx + g) * NN / (NN - q) for a, lx in zip(Ls, L)]
        exact = float((mp.fsum(b * w for b, w in zip(B, v2)) + s2) / (1 - x))
        kappa, gamma = float(k), float(g)
    ef = rf.eigenframework(lam, v, NOISE, n, N, ridge)
    rounding = lam.size * np.finfo(float).eps  # the sums' own rounding
    assert abs(ef.gamma - gamma) <= rounding * gamma and abs(ef.kappa - kappa) <= rounding * kappa
    assert abs(ef.test - exact) <= rounding * exact


@pytest.mark.parametrize("n,N", [(50, 60), (60, 50), (100, 101), (101, 100), (100, math.inf), (300, 250), (250, 300)])
def test_ridgeless_branches_are_the_limit_of_small_ridges(n, N):
    """delta = 0 on either side of n = N: gamma_0 solves z = min(n, N); small ridges converge to it."""
    ef = rf.eigenframework(LAM, V, NOISE, n, N, 0.0)
    r = min(n, N)
    g0 = optimize.brentq(lambda g: np.sum(LAM / (LAM + g)) - r, 1e-12, 10.0, xtol=1e-300, rtol=1e-15)
    assert abs(ef.gamma - g0) <= REL * g0
    if n < N:
        assert ef.train == 0.0 and abs(ef.kappa - g0 * (1 - n / N if math.isfinite(N) else 1.0)) <= REL * ef.kappa
    else:
        assert ef.kappa == 0.0 and ef.train > 0
    prev = None
    for d in (1e-4, 1e-6, 1e-8):
        gap = abs(rf.test_risk(LAM, V, NOISE, n, N, d) - ef.test)
        if prev is not None:
            assert gap < prev  # shrinking towards the ridgeless branch
        prev = gap


def test_interpolation_threshold_is_infinite_at_zero_ridge_only():
    assert rf.test_risk(LAM, V, NOISE, 100, 100, 0.0) == math.inf
    assert math.isfinite(rf.test_risk(LAM, V, NOISE, 100, 100, 1e-6))
    # the fixed-ridge peak at N = n: higher than both neighbours
    r = [rf.test_risk(LAM, V, NOISE, 100, N, 1e-3) for N in (50, 100, 200)]
    assert r[1] > r[0] and r[1] > r[2]


def test_full_rank_ridgeless_is_ordinary_least_squares():
    """n, N beyond the number of modes M, delta = 0: gamma = 0 and E = sigma^2 n / (n - M)."""
    lam, v = LAM[:20], V[:20]
    ef = rf.eigenframework(lam, v, NOISE, 50, math.inf, 0.0)
    assert ef.gamma == 0.0 and ef.bias == 0.0
    assert ef.test == pytest.approx(NOISE * 50 / (50 - 20), rel=1e-15)


def test_krr_limit_is_shown_symbolically():
    lim = rf.krr_limit()
    s = rf.KRR_SYMBOLS
    L = s["lambda"] / (s["lambda"] + s["gamma"])
    assert lim["kappa/gamma"] == 1
    assert sp.simplify(lim["x"] - s["q"] / s["n"]) == 0
    assert sp.simplify(lim["B"] - (1 - L) ** 2) == 0
    assert lim["B (rewritten)"] == 0 and lim["x (rewritten)"] == 0


def test_large_feature_counts_converge_to_kernel_eigenlearning():
    """The eigenlearning formulas (kappa by bisection, E_0 = n/(n - q)) computed from scratch."""
    n, d = 100, 1e-3
    kappa = optimize.bisect(lambda k: np.sum(LAM / (LAM + k)) + d / k - n, 1e-12, 1e3, xtol=1e-300, rtol=1e-15)
    L = LAM / (LAM + kappa)
    krr = n / (n - (L**2).sum()) * (((1 - L) ** 2) @ V**2 + NOISE)
    assert abs(rf.test_risk(LAM, V, NOISE, n, math.inf, d) - krr) <= REL * krr
    gaps = [abs(rf.test_risk(LAM, V, NOISE, n, N, d) - krr) for N in (1e3, 1e4, 1e5)]
    ratios = np.array(gaps[:-1]) / np.array(gaps[1:])
    assert np.all(np.abs(ratios - 10) < np.abs(ratios - 1))  # order 1/N, not a constant offset


def test_multiplicities_equal_repeated_eigenvalues():
    lam = np.array([1.0, 0.5, 0.1])
    w = np.array([1, 3, 7])
    v = np.array([1.0, 0.4, 0.2])
    rep_lam = np.repeat(lam, w)
    rep_v = np.repeat(v / np.sqrt(w), w)  # the total v^2 of an entry spread over its modes
    for N, d in ((5, 0.01), (math.inf, 0.01), (20, 0.0), (4, 0.0)):
        a = rf.test_risk(lam, v, 0.05, 6, N, d, multiplicities=w)
        b = rf.test_risk(rep_lam, rep_v, 0.05, 6, N, d)
        assert a == pytest.approx(b, rel=1e-13)


def test_optimal_ridge_beats_a_dense_scan():
    for N, noise in ((80, 0.0), (80, 0.5), (300, 0.2), (math.inf, 0.5)):
        ridge, risk = rf.optimal_ridge(LAM, V, noise, 100, N)
        scan = [rf.test_risk(LAM, V, noise, 100, N, d) for d in np.geomspace(1e-8, 1e3, 400)]
        scan.append(rf.test_risk(LAM, V, noise, 100, N, 0.0))
        assert risk <= min(scan) * (1 + 1e-12)
        assert risk == pytest.approx(rf.test_risk(LAM, V, noise, 100, N, ridge), rel=1e-14)


def test_optimal_ridge_is_exactly_zero_for_smooth_noiseless_power_laws():
    lam, v, w = rf.power_law(2.0, 3.0, 2000, tail=True)
    ridge, risk = rf.optimal_ridge(lam, v, 0.0, 100, math.inf, w)
    assert ridge == 0.0
    assert rf.test_risk(lam, v, 0.0, 100, math.inf, 1e-9, w) > risk
    lam, v, w = rf.power_law(2.0, 1.5, 2000, tail=True)
    assert rf.optimal_ridge(lam, v, 0.0, 100, math.inf, w)[0] > 0


@pytest.mark.parametrize("alpha,beta", [(2.0, 1.5), (1.5, 2.5), (3.0, 1.2)])
def test_power_law_tail_quadrature_matches_the_tail_sums(alpha, beta):
    """sum_{i > M} g(i) for the sums the eigenframework forms, against Hurwitz zeta values.

    The quadrature replaces the sum by the integral from M + 1/2 (midpoint rule), whose
    error is at most |g'(M + 1/2)| / 24 for these convex, decreasing g.
    """
    from scipy.special import zeta

    M = 100
    lam, v, w = rf.power_law(alpha, beta, M, tail=True)
    lam_t, v2_t, w_t = lam[M:], v[M:] ** 2, w[M:]
    for a, got in ((alpha, (w_t * lam_t).sum()), (2 * alpha, (w_t * lam_t**2).sum()), (beta, v2_t.sum())):
        bound = a * (M + 0.5) ** (-a - 1) / 24
        assert abs(got - zeta(a, M + 1)) <= bound
    # and the head is the plain power law
    assert np.array_equal(lam[:M], np.arange(1, M + 1.0) ** -alpha) and np.all(w[:M] == 1)


@pytest.mark.parametrize("a,b", [(1, 1), (1, 2), (2.5, 2)])
def test_beta_integrals_against_quadrature(a, b):
    alpha = 1.7
    expr = rf._beta_integral(a, b).subs(rf.alpha_sym, alpha)
    quad, _ = integrate.quad(lambda u: u ** (a - 1) / (1 + u**alpha) ** b, 0, np.inf, epsabs=0, epsrel=1e-12)
    assert float(expr) == pytest.approx(quad, rel=1e-9)


def test_powerlaw_optimum_is_the_minimiser_of_its_risk():
    d = rf.powerlaw_symbolic()
    a, b = rf.alpha_sym, rf.beta_sym
    assert sp.simplify(d["optimal_s"] - (a - b) / (b * (a - 1))) == 0
    for alpha, beta, noise in ((2.0, 1.5, 0.0), (3.0, 2.0, 0.0), (2.0, 1.5, 0.05), (2.0, 2.5, 0.05)):
        s = np.linspace(0, 0.999, 20001)
        vals = [rf.powerlaw_risk(x, alpha, beta, 100, noise) for x in s]
        brute = s[int(np.argmin(vals))]
        r = rf.powerlaw_optimal_fitting_ratio(alpha, beta, noise, 100)
        assert abs(math.sqrt(r) - brute) <= s[1]


def test_discrete_framework_converges_to_the_continuum_at_order_one_over_n():
    gaps = []
    for n in (100, 200, 400):
        lam, v, w = rf.power_law(2.0, 1.5, 20 * n, tail=True)
        ef = rf.optimal_ridge(lam, v, 0.0, n, math.inf, w, full=True)
        gaps.append(ef.fitting_ratio - rf.powerlaw_optimal_fitting_ratio(2.0, 1.5))
    ratios = np.array(gaps[:-1]) / np.array(gaps[1:])
    assert np.all(np.abs(ratios - 2) < np.abs(ratios - 1))


BAD = [
    (dict(eigenvalues=[1.0, -0.1]), "eigenvalues"),
    (dict(eigenvalues=[1.0, np.nan]), "eigenvalues"),
    (dict(eigenvalues=[]), "eigenvalues"),
    (dict(eigenvalues=[[1.0]]), "eigenvalues"),
    (dict(eigenvalues=[0.0, 0.0]), "eigenvalues"),
    (dict(target_coefficients=[1.0]), "target_coefficients"),
    (dict(target_coefficients=[1.0, np.inf]), "target_coefficients"),
    (dict(noise_variance=-1.0), "noise_variance"),
    (dict(noise_variance=math.inf), "noise_variance"),
    (dict(n=0), "n"),
    (dict(n=0.5), "n"),
    (dict(n=math.nan), "n"),
    (dict(features=0), "features"),
    (dict(features=math.nan), "features"),
    (dict(features="many"), "features"),
    (dict(ridge=-1e-3), "ridge"),
    (dict(ridge=math.inf), "ridge"),
    (dict(multiplicities=[1, 0]), "multiplicities"),
    (dict(multiplicities=[1]), "multiplicities"),
]


@pytest.mark.parametrize("bad,name", BAD)
def test_bad_input_is_one_line_naming_the_parameter(bad, name):
    args = dict(eigenvalues=[1.0, 0.5], target_coefficients=[1.0, 0.3], noise_variance=0.1, n=10, features=20,
                ridge=0.1)
    args.update(bad)
    with pytest.raises((ValueError, TypeError)) as e:
        rf.test_risk(**args)
    msg = str(e.value)
    assert msg.startswith(name) and "\n" not in msg


@pytest.mark.parametrize("call", [
    lambda: rf.power_law(0.0, 1.0, 10),
    lambda: rf.power_law(2.0, 1.0, 0),
    lambda: rf.power_law(2.0, 1.0, 10, tail=True),
    lambda: rf.power_law(1.0, 2.0, 10, tail=True),
    lambda: rf.powerlaw_risk(1.0, 2.0, 1.5, 100),
    lambda: rf.powerlaw_optimal_fitting_ratio(0.9, 1.5),
    lambda: rf.powerlaw_optimal_fitting_ratio(2.0, 5.0),
    lambda: rf.powerlaw_optimal_fitting_ratio(2.0, 1.5, -1.0),
])
def test_bad_power_law_input(call):
    with pytest.raises((ValueError, TypeError)) as e:
        call()
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------------
# mutation follow-up (rfB): optimal_ridge at the ends of its scan, _beta_integral beyond b = 2,
# powerlaw_optimal_fitting_ratio with the optimum next to s = 1
# ---------------------------------------------------------------------------------------------

from paper_checks.stats import fp_tolerance  # noqa: E402


def _isotropic_optimum(lam, w, n, noise, v2):
    """Isotropic KRR (one eigenvalue ``lam`` of multiplicity ``w``, total target mass ``v2``), by hand, 50 digits.

    With ``L = lam/(lam + gamma)``, ``z = w L``, ``q = w L^2`` the risk is
    ``E(L) = n (v2 (1-L)^2 + noise)/(n - w L^2)``;
    ``dE/dL = 0`` reduces to ``v2 (n - w L)(1 - L) = w noise L``, i.e. the quadratic
    ``v2 w L^2 - (v2 w + v2 n + w noise) L + v2 n = 0`` (its smaller root lies in ``(0, n/w)``), and with
    ``kappa = gamma = lam (1 - L)/L`` the ridge ``kappa (n - z)`` is the Bayes ridge ``noise w lam / v2``.
    Returns ``(ridge*, E*, t*, d2E/dt2 at t*)`` with ``t = log gamma``.
    """
    import mpmath as mp

    with mp.workdps(50):
        lam_, w_, n_, s2, V = (mp.mpf(x) for x in (lam, w, n, noise, v2))
        b = V * w_ + V * n_ + w_ * s2
        L = 2 * V * n_ / (b + mp.sqrt(b * b - 4 * V * V * w_ * n_))
        def risk_t(t):
            L_ = lam_ / (lam_ + mp.exp(t))
            return n_ * (V * (1 - L_) ** 2 + s2) / (n_ - w_ * L_**2)

        t = mp.log(lam_ * (1 - L) / L)
        return (float(lam_ * w_ * s2 / V), float(risk_t(t)), float(t), float(mp.diff(risk_t, t, 2)))


def _check_optimum_placed_at(lam, w, n, noise, gamma):
    """Choose v2 from the stationarity condition so that the isotropic optimum lies at ``gamma``; the returned risk
    must be the closed-form minimum, to the risk's own rounding (8 operations) plus the excess of a minimiser located
    to fminbound's resolution ``2 sqrt(eps) |t|``, at most ``0.5 E'' (2 sqrt(eps) t)^2 = 4 u t^2 E''``."""
    L = lam / (lam + gamma)
    v2 = w * noise * L / ((n - w * L) * (1.0 - L))  # puts the optimum at this gamma
    ridge_star, e_star, t_star, e2 = _isotropic_optimum(lam, w, n, noise, v2)
    ridge, risk = rf.optimal_ridge([lam], [math.sqrt(v2)], noise, n, math.inf, [w])
    tol = fp_tolerance(e_star, repetitions=8) + fp_tolerance(4.0 * t_star**2 * abs(e2))
    assert ridge > 0.0
    assert abs(risk - e_star) <= tol, (gamma, ridge, ridge_star, risk, e_star)


@pytest.mark.parametrize("lam,w,log_offsets", [
    (1.0, 1000.0, np.linspace(0.01, 0.8, 24)),      # optimum in the first cells above gamma_0 = lam (w/n - 1)
    (1e40, 1000.0, np.linspace(0.3, 5.0, 6)),       # the same problem scaled by 1e40: the search scales with it
    (1.0, 1e9, -np.linspace(0.001, 0.12, 24)),      # optimum in the last cells below the top, max(lam, gamma_0) 1e8
    (1.0, 1000.0, np.linspace(0.5, 10.0, 12)),      # interior
    (1.0, 1e12, np.linspace(0.01, 0.8, 6)),         # gamma_0 = 1e10 lam above lam * 1e8: the scan starts at gamma_0
])
def test_optimal_ridge_matches_the_isotropic_closed_form_across_its_scan(lam, w, log_offsets):
    """The optimum is placed (by choosing v2 from the stationarity condition) across the scan's first and last
    cells; the returned risk must be the closed-form minimum.  Tolerance: the risk's own rounding (8 operations)
    plus the excess of a minimiser located to fminbound's resolution ``2 sqrt(eps) |t|``, at most
    ``0.5 E'' (2 sqrt(eps) t)^2 = 4 u t^2 E''`` with ``u = eps / 2`` (``fp_tolerance(4 t^2 E'')``)."""
    n, noise = 100.0, 1.0
    g0 = lam * (w / n - 1.0)
    base = max(lam, g0) * 1e8 if log_offsets[0] < 0 else g0  # the scan's top: 1e8 above lambda_max and gamma_0
    for off in log_offsets:
        _check_optimum_placed_at(lam, w, n, noise, base * math.exp(off))


def test_beta_integral_for_b_beyond_two_is_exact():
    """I(1, 3) = int_0^oo (1 + u^2)^-3 du = 3 pi / 16 (the Wallis integral int_0^{pi/2} cos^4, u = tan);
    with alpha = 1, int_0^oo (1 + u)^-3 du = 1/2: the Gamma(b) of the closed form is no longer 1."""
    assert sp.simplify(rf._beta_integral(1, 3).subs(rf.alpha_sym, 2) - 3 * sp.pi / 16) == 0
    assert sp.simplify(rf._beta_integral(1, 3).subs(rf.alpha_sym, 1) - sp.Rational(1, 2)) == 0


def _continuum_optimal_fitting_ratio(alpha, beta, noise, n):
    """``(R*, c)``: the noisy continuum optimum by hand, in 50-digit arithmetic, and the root's condition number.

    Sums as integrals with ``i = kappa^(-1/alpha) u``: ``z = kappa^(-1/alpha) I(1, 1)`` and the bias
    ``kappa^((beta-1)/alpha) I(2 alpha - beta + 1, 2)``, ``I(a, b) = int_0^oo u^(a-1) (1 + u^alpha)^-b du
    = B(a/alpha, b - a/alpha) / alpha`` (Euler's Beta integral after ``v = u^alpha``; mpmath's beta).  ``z = n r``
    with ``r = 1 - s`` gives ``E = alpha / (alpha - (alpha-1) r) (A' r^(1-beta) + sigma^2)``,
    ``A' = I(1,1)^(beta-1) I(2 alpha - beta + 1, 2) n^(1-beta)``, and ``dE/ds = 0`` is ``T1(r) = T2(r)`` with
    ``T1 = (beta-1) A' r^-beta (alpha - (alpha-1) r)``, ``T2 = (alpha-1) (A' r^(1-beta) + sigma^2)``; solved by
    bisection in ``log r``.  ``c = (|T1| + |T2|) / (|F'(r)| s)``: the relative change of ``s*`` per relative
    rounding of the two terms."""
    import mpmath as mp

    with mp.workdps(50):
        a, b, s2 = mp.mpf(alpha), mp.mpf(beta), mp.mpf(noise)
        integral = lambda p, q: mp.beta(p / a, q - p / a) / a  # noqa: E731
        A = integral(1, 1) ** (b - 1) * integral(2 * a - b + 1, 2) * mp.mpf(n) ** (1 - b)
        t1 = lambda r: (b - 1) * A * r**-b * (a - (a - 1) * r)  # noqa: E731
        t2 = lambda r: (a - 1) * (A * r ** (1 - b) + s2)  # noqa: E731
        F = lambda r: t1(r) - t2(r)  # noqa: E731
        lo, hi = mp.mpf(10) ** -40, mp.mpf(1)
        assert F(lo) > 0 > F(hi)  # F is increasing in s (its s-derivative is N'' D > 0): one root
        for _ in range(400):
            mid = mp.sqrt(lo * hi)
            lo, hi = (mid, hi) if F(mid) > 0 else (lo, mid)
        r = mp.sqrt(lo * hi)
        s = 1 - r
        return float(s * s), float((abs(t1(r)) + abs(t2(r))) / (abs(mp.diff(F, r)) * s))


@pytest.mark.parametrize("alpha,beta,noise,n", [
    (2.0, 1.5, 1e-12, 1e60),   # tiny noise, huge n: s* within ~1e-12 of 1, far beyond the first bracket end
    (16 / 15, 1.01, 1.0, 10.0),  # alpha near 1: E's pole 1 + (alpha-1) s = 0 sits at s = -15
])
def test_powerlaw_optimal_fitting_ratio_against_the_continuum_by_hand(alpha, beta, noise, n):
    """brentq stops within rtol |s| = 8u |s| of the root: R = s^2 within 16u, plus the square's and the float
    conversion's roundings (18u), times the root's condition number (at least 1)."""
    exact, cond = _continuum_optimal_fitting_ratio(alpha, beta, noise, n)
    got = rf.powerlaw_optimal_fitting_ratio(alpha, beta, noise, n)
    assert abs(got - exact) <= fp_tolerance(exact, repetitions=18, condition=max(1.0, cond))


@pytest.mark.parametrize("alpha,beta", [(2.0, 3.0), (1.5, 2.5)])
def test_optimal_ridge_never_goes_below_gamma_0(alpha, beta):
    """beta > alpha, no noise: the risk keeps falling into negative ridges (the continuum's s* < 0), i.e. below
    gamma_0, where the formulas still evaluate; over ridge >= 0 the optimum is the ridgeless end, here with
    gamma_0 < 1.  Independent: gamma_0 from z(gamma_0) = n by brentq, E = n/(n - q) sum (1 - L)^2 v^2.
    Tolerance: sums of M positive terms (z, q, the bias) within M u each (Higham), q's amplified by E_0 = n/(n-q)."""
    lam, v = rf.power_law(alpha, beta, 2000)
    n = 100
    g0 = optimize.brentq(lambda g: np.sum(lam / (lam + g)) - n, 1e-12, 10.0, xtol=1e-300,
                         rtol=4 * np.finfo(float).eps)
    L = lam / (lam + g0)
    e0 = n / (n - (L**2).sum())
    exact = e0 * (((1 - L) ** 2) @ v**2)
    ridge, risk = rf.optimal_ridge(lam, v, 0.0, n, math.inf)
    assert g0 < 1.0 and ridge == 0.0
    assert abs(risk - exact) <= fp_tolerance(exact, dimension=lam.size, condition=e0, repetitions=3)


def test_optimal_ridge_with_gamma_0_near_the_top_of_its_scan():
    """gamma_0 = e^-1.5 * 1e8 * lambda_max (optimal_ridge scans up to 1e8 lambda_max): a huge multiplicity of a
    small eigenvalue carries z = n.  The target sits on the top eigenvalue, no noise: the risk rises with gamma
    from gamma_0 (bias slope 2 L_1 beats E_0's 2 q/n) and falls below it, into negative ridges, so the optimum
    over ridge >= 0 is the ridgeless end.  Independent: gamma_0 by brentq, E = n/(n - q) (1 - L_1)^2."""
    n = 10.0
    lam = np.array([1.0, 0.01])
    w = np.array([1.0, n * 1e8 * math.exp(-1.5) / lam[1]])
    v = np.array([1.0, 0.0])
    g0 = optimize.brentq(lambda g: np.sum(w * lam / (lam + g)) - n, 1e7, 1e8, xtol=1e-300,
                         rtol=4 * np.finfo(float).eps)
    L = lam / (lam + g0)
    e0 = n / (n - (w * L**2).sum())
    exact = e0 * (1 - L[0]) ** 2
    ridge, risk = rf.optimal_ridge(lam, v, 0.0, n, math.inf, w)
    assert ridge == 0.0
    assert abs(risk - exact) <= fp_tolerance(exact, dimension=lam.size, condition=e0, repetitions=3)


# ---------------------------------------------------------------------------------------------
# mutation follow-up (rf risk, second run): the trace check's warnings, optimal_ridge's last cell under the
# float-range cap, the fitting ratio's bracket for steep power laws
# ---------------------------------------------------------------------------------------------

import re  # noqa: E402
import warnings  # noqa: E402


@pytest.mark.parametrize("eigenvalues,multiplicities", [
    ([1e308, 1e308], None),  # the sum overflows (numpy: "overflow encountered in reduce")
    ([10.0], [1e308]),       # the product w lam overflows ("overflow encountered in multiply")
])
def test_a_trace_beyond_the_float_range_is_refused_without_a_numpy_warning(eigenvalues, multiplicities):
    """The refusal is the one-line ValueError alone: no numpy RuntimeWarning on the way (warnings are errors here,
    as under ``-W error``). Kills ``_problem`` mutant 70 (``errstate(over=None)`` leaves numpy's default 'warn')."""
    message = ("multiplicities * eigenvalues must sum to at most 8.988e+307 (half the largest double), got inf; "
               "the risks are unchanged when eigenvalues and ridge are divided by a common factor")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
            rf.test_risk(eigenvalues, [1.0] * len(eigenvalues), 0.0, 1, math.inf, 0.0, multiplicities)


@pytest.mark.parametrize("lam,w", [
    (1e304, 1000.0),  # gamma_0 = lam (w/n - 1) = 9e304: the scan runs from gamma_0 to the cap, cells of 0.108
    (1e306, 50.0),    # w < n, gamma_0 = 0: from lam / 1e8 to the cap, cells of 0.358
])
def test_optimal_ridge_in_the_last_cell_below_the_float_range_cap(lam, w):
    """Eigenvalues near the largest double: the scan's top, 1e8 above max(lambda_max, gamma_0), is capped at
    gamma = max/2 (lambda + gamma must stay finite), where L = lam/(lam + gamma) is still 1e-4 to 1e-2 and the risk
    curves (E'' = 2 noise w L^2 / n, 2e-7 to 1e-4). At an uncapped top L <= 1e-8, and a minimum there is flat to
    rounding (the bias rises by ~2 v2 L per unit of log gamma against E_0's fall of ~2 q/n <= 4e-16), so only the
    cap puts a resolvable optimum into the scan's last cell. The optimum is placed within 0.1 (in log gamma)
    below the cap, inside the last cell (checked from the scan's ends as documented); closed form and tolerance as
    in ``test_optimal_ridge_matches_the_isotropic_closed_form_across_its_scan``. Kills ``optimal_ridge`` mutants 84
    (IndexError past the grid when the argmin is the last point) and 85 (the last cell is never searched)."""
    n, noise = 100.0, 1.0
    top = math.log(np.finfo(float).max / 2)
    g0 = lam * (w / n - 1.0) if w > n else 0.0
    bottom = math.log(g0) if g0 > 0 else math.log(lam / 1e8)
    assert math.log(max(lam, g0) * 1e8) > top  # the cap is the top
    offsets = np.linspace(0.0005, 0.1, 6)
    assert offsets.max() < (top - bottom) / 64  # all in the last of the 64 cells
    for off in offsets:
        _check_optimum_placed_at(lam, w, n, noise, math.exp(top - off))


def test_noisy_optimal_fitting_ratio_of_a_steep_power_law():
    """alpha = 12, beta = 22, noise 1e150, n = 1: s* = 1 - 1.7e-7, past the first bracket end 1 - 2^-20. dE/ds carries
    (n (1 - s))^(1 - beta), which leaves the float range within ~2e-15 of s = 1 (21 log(1/(1 - s)) > log max), so the
    bracket must close in on s* (16-fold steps) and not jump to the last double below 1. Reference and tolerance
    as in ``test_powerlaw_optimal_fitting_ratio_against_the_continuum_by_hand``. Kills
    ``powerlaw_optimal_fitting_ratio`` mutants 83 and 84 (their first step puts hi at the last double below 1,
    where dE/ds overflows: OverflowError)."""
    exact, cond = _continuum_optimal_fitting_ratio(12.0, 22.0, 1e150, 1.0)
    got = rf.powerlaw_optimal_fitting_ratio(12.0, 22.0, 1e150, 1.0)
    assert abs(got - exact) <= fp_tolerance(exact, repetitions=18, condition=max(1.0, cond))


@pytest.mark.parametrize("alpha,beta,noise", [(20.0, 40.0, 1e300), (12.0, 22.0, 1.4e306)])
def test_noisy_optimal_fitting_ratio_where_the_slope_overflows_is_a_clear_error(alpha, beta, noise):
    """Steep power laws with a huge noise: on the bracket's way to s = 1 the terms of dE/ds leave the float range
    (OverflowError from Python's power, or NaN from inf - inf, instead of an answer): a one-line ValueError naming
    noise_variance. The rival, a smaller noise with the same exponents, is still solved (by
    test_noisy_optimal_fitting_ratio_of_a_steep_power_law at (12, 22, 1e150))."""
    with pytest.raises(ValueError, match=r"^noise_variance=.* dE/ds overflows double precision at s = 1 - ") as err:
        rf.powerlaw_optimal_fitting_ratio(alpha, beta, noise)
    # the point it names lies in the search interval [0, 1), here on the bracket's way to s = 1 (d(0) < 0 was
    # computed): a gap 1 - s in (0, 1)
    gap = float(re.search(r"at s = 1 - (\S+) ", str(err.value)).group(1))
    assert 0 < gap < 1
