"""theory.martingale_td: every error message in full (parameter, allowed range or class), and the
boundaries of the argument checks; fast cases only (no simulation)."""

import math
import re
import warnings

import mpmath
import numpy as np
import pytest
import sympy as sp

from theory import martingale_td as mt

P = mt.Problem("0", "1", "x", 0, 0.0, 1.0, 0.5)  # Brownian motion, running reward x
OU = mt.Problem("-2*x", "1", "x**2", 0, 0.5, math.inf, 1.0)  # Ornstein-Uhlenbeck, infinite horizon
R = mt.Problem("1/2 - x", "3/10 + x/5", "x**2 + t*x", "x", 0.3, 1.0, 0.5)  # multiplicative noise


def _exact(text):
    return "^" + re.escape(text) + "$"


CASES = [
    (lambda: mt.Problem("0", "1", "x", 0, -0.1, 1.0, 0.0), "discount must be >= 0.0, got -0.1"),
    (lambda: mt.Problem("0", "1", "x", 0, 0.1, 0.0, 0.0), "horizon must be > 0 or math.inf, got 0.0"),
    (lambda: mt.Problem("0", "1", "x", 0, 0.1, math.nan, 0.0), "horizon must be a real number > 0 or math.inf, got nan"),
    (lambda: mt.Problem("0", "1", "x", 0, 0.1, "1", 0.0), "horizon must be a real number > 0 or math.inf, got '1'"),
    (lambda: mt.Problem("0", "1", "x", 0, 0.1, True, 0.0), "horizon must be a real number > 0 or math.inf, got True"),
    (lambda: mt.Problem("0", "1", "x", 0, 0.1, 1.0, math.inf), "x0 must be finite, got inf"),
    (lambda: mt.Problem("x**", "1", "x", 0, 0.1, 1.0, 0.0), "drift must be an expression in t and x, could not parse 'x**'"),
    (lambda: mt.Problem("0", "1", "x*y", 0, 0.1, 1.0, 0.0), "running_reward may use only the symbols t and x, got ['y']"),
    (lambda: mt.Problem("-t*x", "1", "x", 0, 0.1, math.inf, 0.0),
     "drift must not depend on t for an infinite horizon, got -t*x"),
    (lambda: mt.Problem("-x", "1", "x", "x", 0.1, math.inf, 0.0), "terminal_reward must be 0 for an infinite horizon"),
    (lambda: mt.Problem("-x", "1", "x", 0, 0.0, math.inf, 0.0), "discount must be > 0 for an infinite horizon, got 0.0"),
    (lambda: mt.Problem("zoo", "1", "x", 0, 0.1, 1.0, 0.0), "drift must be finite, got zoo"),
    (lambda: mt.value_function(mt.Problem("-x**3", "1", "x", 0, 0.1, 1.0, 0.0)),
     "drift must be affine in x with constant coefficients for the exact solvers, got -x**3"),
    (lambda: mt.value_function(mt.Problem("t", "1", "x", 0, 0.1, 1.0, 0.0)),
     "drift must be affine in x with constant coefficients for the exact solvers, got t"),
    (lambda: mt.value_function(mt.Problem("0", "x**2", "x", 0, 0.1, 1.0, 0.0)),
     "diffusion must be affine in x with constant coefficients for the exact solvers, got x**2"),
    (lambda: mt.value_function(mt.Problem("0", "1", "sin(x)", 0, 0.1, 1.0, 0.0)),
     "running_reward must be a polynomial in x with coefficients polynomial in t for the exact solvers, got sin(x)"),
    (lambda: mt.value_function(mt.Problem("x", "1", "x**2", 0, 0.5, math.inf, 0.0)),
     "discount must exceed the growth rate 2.0 of E[X^2] for the infinite-horizon value to be finite"),
    (lambda: mt.value_function(mt.Problem("x", "1", "x**2", 0, 2.0, math.inf, 0.0)),
     "discount must exceed the growth rate 2.0 of E[X^2] for the infinite-horizon value to be finite"),
    (lambda: mt.moments(P, -1), "degree must be an integer >= 0, got -1"),
    (lambda: mt.feynman_kac_residual(P, "x*y"), "J may use only the symbols t and x, got ['y']"),
    (lambda: mt.solve(P, ["x"], "sarsa"), "method must be one of ml, mstd, td0, lstd, td_lambda, gtd; got 'sarsa'"),
    (lambda: mt.solve(P, ["x"], "ml", steps=0), "steps must be an integer >= 1, got 0"),
    (lambda: mt.solve(P, ["x"], "ml", steps=2 * 10**6),
     "steps: K = 2000000 exceeds the 1000000 steps the exact K-step solver supports (one pass per step; "
     "dt = T/K must be >= T/1000000 = 1e-06)"),
    (lambda: mt.solve(P, ["x"], "ml", steps=10**6 + 1),
     "steps: K = 1000001 exceeds the 1000000 steps the exact K-step solver supports (one pass per step; "
     "dt = T/K must be >= T/1000000 = 1e-06)"),
    (lambda: mt.solve(P, ["x"], "td_lambda"), "lam is required for td_lambda: the trace decay per unit time, in (0, 1)"),
    (lambda: mt.solve(P, ["x"], "td_lambda", lam=1.0), "lam must be < 1.0, got 1.0"),
    (lambda: mt.solve(P, ["x"], "td_lambda", lam=0.0), "lam must be > 0.0, got 0.0"),
    (lambda: mt.solve(P, ["x"], "ml", lam=1.0), "lam must be < 1.0, got 1.0"),
    (lambda: mt.solve(P, ["x"], "ml", lam=0.0), "lam must be > 0.0, got 0.0"),
    (lambda: mt.solve(P, [], "ml"), "features must be a non-empty list of expressions in t and x"),
    (lambda: mt.solve(P, "x", "ml"), "features must be a non-empty list of expressions in t and x, got 'x'"),
    (lambda: mt.solve(P, 3, "ml"), "features must be a non-empty list of expressions in t and x, got 3"),
    (lambda: mt.solve(P, ["x", "exp(x)"], "ml"),
     "features[1] must be a polynomial in x with coefficients polynomial in t for the exact solvers, got exp(x)"),
    (lambda: mt.solve(OU, ["x", "t*x"], "ml"), "features[1] must not depend on t for an infinite horizon, got t*x"),
    (lambda: mt.solve(P, ["x"], "gtd", test_functions=["x", "exp(x)"]),
     "test_functions[1] must be a polynomial in x with coefficients polynomial in t for the exact solvers, got exp(x)"),
    (lambda: mt.solve(P, ["x"], "ml", steps=4, transition="milstein"),
     "transition must be one of euler, exact; got 'milstein'"),
    (lambda: mt.solve(R, ["x"], "ml", steps=4, transition="exact"),
     "transition='exact' needs additive noise (diffusion not depending on x)"),
    (lambda: mt.solve(P, ["x"], "ml", dt=0.1),
     "dt and truncation apply to an infinite horizon only; a finite horizon T uses steps=K (dt = T/K)"),
    (lambda: mt.solve(P, ["x"], "ml", truncation=2.0),
     "dt and truncation apply to an infinite horizon only; a finite horizon T uses steps=K (dt = T/K)"),
    (lambda: mt.solve(OU, ["x"], "ml", steps=4, dt=0.1),
     "give either dt or steps (with an optional truncation) for an infinite horizon, not both"),
    (lambda: mt.solve(OU, ["x"], "ml", dt=0.1, truncation=3.0),
     "give either dt or steps (with an optional truncation) for an infinite horizon, not both"),
    (lambda: mt.solve(OU, ["x"], "ml", truncation=10.0), "truncation needs steps: dt = truncation / steps"),
    (lambda: mt.solve(OU, ["x"], "ml", dt=0.0), "dt must be > 0.0, got 0.0"),
    (lambda: mt.solve(OU, ["x"], "ml", steps=4, truncation=0.0), "truncation must be > 0.0, got 0.0"),
    (lambda: mt.solve(P, ["x", "t*x"], "gtd", test_functions=["x"]),
     "test_functions must number at least the features (2), got 1"),
    (lambda: mt.solve(P, ["x"], "td0", test_functions=["x"]), "test_functions is only used by method 'gtd'"),
    (lambda: mt.convergence_rate(P, ["x"], "ml", ks=(4,)), "ks must hold at least 2 distinct integers >= 1, got [4]"),
    (lambda: mt.convergence_rate(P, ["x"], "ml", ks=(4, 4)), "ks must hold at least 2 distinct integers >= 1, got [4, 4]"),
    (lambda: mt.convergence_rate(P, ["x"], "ml", ks="48"),
     "ks must be a sequence of at least 2 distinct integers >= 1, got '48'"),
    (lambda: mt.convergence_rate(P, ["x"], "ml", ks=8),
     "ks must be a sequence of at least 2 distinct integers >= 1, got 8"),
    (lambda: mt.convergence_rate(P, ["x"], "ml", ks=(0, 4)), "ks[i] must be an integer >= 1, got 0"),
    (lambda: mt.convergence_rate(P, ["x", "t*x"], "ml"),
     "theta_K equals the limit to rounding for some K in ks: there is no rate to fit"),
    (lambda: mt.linear_system(mt.Problem("5*x", "1", "x**4", 0, 0.0, 40.0, 1.0), ["x**4"], "ml", steps=50),
     "horizon=40: the 'ml' linear system overflows double precision (the discounted moments e^(-beta t) E[X_t^n] "
     "of the features' degree exceed 1e308 within the horizon); supported: horizons and discounts for which they "
     "stay below 1e308 (a shorter horizon, a larger discount or lower-degree features)"),
]


@pytest.mark.parametrize("call,message", CASES, ids=[m[:60] for _, m in CASES])
def test_error_message_names_the_parameter_and_the_allowed_range(call, message):
    with pytest.raises(ValueError, match=_exact(message)):
        call()


def test_type_errors_name_the_argument():
    with pytest.raises(TypeError, match=_exact("problem must be a theory.martingale_td.Problem, got str")):
        mt.value_function("not a problem")
    with pytest.raises(TypeError, match=_exact("drift must be an expression in t and x, got True")):
        mt.Problem(True, "1", "x", 0, 0.1, 1.0, 0.0)
    with pytest.raises(TypeError, match=_exact("terminal_reward must be an expression in t and x, got (1, 2)")):
        mt.Problem("0", "1", "x", (1, 2), 0.1, 1.0, 0.0)


@pytest.mark.parametrize("call,prefix", [
    (lambda: mt.solve(P, ["x", "2*x"], "ml"),
     "method 'ml' (continuous-time): the features are linearly dependent under the weighted L2 norm; "
     "condition number "),
    (lambda: mt.solve(OU, ["1", "x"], "mstd"),
     "method 'mstd' (continuous-time): the MSTD objective is singular for these features (a feature without "
     "x-dependence is not identified by the quadratic variation; only its value at T is, and nothing in infinite "
     "horizon); condition number "),
    (lambda: mt.solve(P, ["x", "2*x"], "td0", steps=3),
     "method 'td0' (3-step): the conditions do not determine theta (singular linear system); condition number "),
    (lambda: mt.solve(OU, ["x", "2*x"], "td0", dt=0.25),
     "method 'td0' (dt=0.25): the conditions do not determine theta (singular linear system); condition number "),
    (lambda: mt.solve(OU, ["x", "2*x"], "td0", steps=512),
     "method 'td0' (512-step): the conditions do not determine theta (singular linear system); condition number "),
])
def test_singular_systems_say_which_limit_and_why(call, prefix):
    with pytest.raises(ValueError, match="^" + re.escape(prefix) + r"[0-9.]+e\+[0-9]+$"):
        call()


def test_spectral_radius_message():
    with pytest.raises(ValueError, match="^" + re.escape(
            "the infinite-horizon discrete scheme diverges: e^{-2 beta dt} P has spectral radius ")
            + r"[0-9.]+" + re.escape(
            " >= 1 (the discounted moments of the discrete chain grow; take a smaller dt, a larger discount "
            "or lower-degree features)") + "$"):
        mt.solve(mt.Problem("-2*x", "1", "x**2", 0, 0.5, math.inf, 1.0), ["x"], "ml", dt=2.0)


def test_boundary_values_are_accepted():
    assert mt.Problem("0", "1", "x", 0, 0.0, 1.0, 0.0).discount == 0.0  # discount 0 with a finite horizon
    assert mt.moments(P, 0) == [1]
    assert len(mt.solve(P, ["x"], "ml", steps=1)) == 1
    assert np.all(np.isfinite(mt.solve(P, ["x"], "td_lambda", lam=0.5)))
    th = mt.solve(P, ["x"], "ml", steps=mt.MAX_STEPS // 10**5)
    assert np.all(np.isfinite(th))
    # ks with exactly two distinct values fit a line through two points (no standard error)
    fit = mt.convergence_rate(R, ["x", "t"], "ml", ks=(8, 16))
    assert math.isnan(fit.order_stderr) and fit.dts.tolist() == [1 / 8, 1 / 16]


def test_default_truncation_is_54_bits_over_the_discount():
    assert mt.TRUNCATION_BITS == 54
    assert mt.default_truncation(0.5) == pytest.approx(54 * math.log(2) / 0.5, rel=1e-15)
    assert mt.default_truncation(2) == pytest.approx(27 * math.log(2), rel=1e-15)
    # e^{-beta T} = 2^-54 at the default truncation
    assert math.exp(-0.7 * mt.default_truncation(0.7)) == pytest.approx(2.0**-54, rel=1e-12)


def test_problem_fields_are_normalised():
    p = mt.Problem(0.5, "1", "x", 0, 1, 2, 3)
    assert p.drift == mt.sp.Rational(1, 2) and isinstance(p.discount, float) and p.horizon == 2.0
    assert p.x0 == 3.0 and isinstance(p.x0, float) and not p.infinite
    assert OU.infinite and OU.horizon == math.inf
    s = mt.sp.Symbol("x")  # a different sympy symbol named x is identified with the module's x
    q = mt.Problem(s, "1", s**2, 0, 0.0, 1.0, 0.0)
    assert q.drift == mt.x and q.running_reward == mt.x**2
    assert q.generator(mt.x**3) == mt.x * 3 * mt.x**2 + 3 * mt.x


def test_moment_degree_limit_message():
    with pytest.raises(ValueError, match=_exact(
            "degree must be an integer in [0, 100] (exact moments of higher degree are too large to build), got 101")):
        mt.moments(P, 101)


# ---------------------------------------------------------------- further messages, conversions and boundaries

_SPECTRAL = ("the infinite-horizon discrete scheme diverges: {what} has spectral radius {rho:.6g} >= 1 (the discounted "
             "moments of the discrete chain grow; take a smaller dt, a larger discount or lower-degree features)")
_DIVERGES = "the infinite-horizon integral diverges: the moments grow at rate {rate} >= the discount rate"


def _euler_radius(a, b1, dt, degree):
    """max_{n <= degree} |a E[X_1^n | X_0 = y]'s y^n coefficient| for additive noise: a |1 + b1 dt|^n."""
    return max(abs(a) * abs(1.0 + b1 * dt) ** n for n in range(degree + 1))


MORE_CASES = [
    # the rewards are checked (and named) before any solver runs
    (lambda: mt.solve(mt.Problem("0", "1", "sin(x)", 0, 0.1, 1.0, 0.0), ["x"], "ml"),
     "running_reward must be a polynomial in x with coefficients polynomial in t for the exact solvers, got sin(x)"),
    (lambda: mt.solve(mt.Problem("0", "1", "x*exp(t)", 0, 0.1, 1.0, 0.0), ["x"], "ml"),
     "running_reward must be a polynomial in x with coefficients polynomial in t for the exact solvers, got x*exp(t)"),
    (lambda: mt.value_function(mt.Problem("0", "1", "x", "exp(x)", 0.1, 1.0, 0.0)),
     "terminal_reward must be a polynomial in x with coefficients polynomial in t for the exact solvers, got exp(x)"),
    (lambda: mt.value_function(mt.Problem("exp(x)", "1", "x", 0, 0.1, 1.0, 0.0)),
     "drift must be affine in x with constant coefficients for the exact solvers, got exp(x)"),
    (lambda: mt.Problem("oo", "1", "x", 0, 0.1, 1.0, 0.0), "drift must be finite, got oo"),
    (lambda: mt.Problem("-oo", "1", "x", 0, 0.1, 1.0, 0.0), "drift must be finite, got -oo"),
    (lambda: mt.Problem("0", "nan", "x", 0, 0.1, 1.0, 0.0), "diffusion must be finite, got nan"),
    (lambda: mt.default_truncation(0.0), "discount must be > 0.0, got 0.0"),
    (lambda: mt.default_truncation(-1.0), "discount must be > 0.0, got -1.0"),
    (lambda: mt.convergence_rate(P, ["x"], "ml", ks=()), "ks must hold at least 2 distinct integers >= 1, got []"),
    (lambda: mt.convergence_rate(P, ["x"], "ml", ks=(10**6, 10**6)),
     "ks must hold at least 2 distinct integers >= 1, got [1000000, 1000000]"),
    # theta ~ 1e6: rounding errors ~1e-9 of theta_K are "equal to the limit" relative to |theta| (1e-13 * 1e6)
    (lambda: mt.convergence_rate(P, ["x/10**6", "t*x/10**6"], "ml"),
     "theta_K equals the limit to rounding for some K in ks: there is no rate to fit"),
    (lambda: mt.convergence_rate(P, ["x"], "ml", ks=(4, 2 * 10**6)),
     "ks must hold step counts in [1, 1e+06] (the exact K-step solver's limit), got 2000000"),
    # spectral radii: e^{-a beta dt} (1 + b1 dt)^n over the moments each series uses (Euler, additive noise)
    (lambda: mt.solve(OU, ["1", "x"], "td0", dt=1.5),  # S1: test degree + feature degree = 2... reward 2: 1 + 2
     _SPECTRAL.format(what="e^{-beta dt} P", rho=_euler_radius(math.exp(-0.5 * 1.5), -2.0, 1.5, 3))),
    (lambda: mt.solve(OU, ["x"], "mstd", dt=2.0),  # S2: max(2 * 1, 1 + 2) = 3
     _SPECTRAL.format(what="e^{-2 beta dt} P", rho=_euler_radius(math.exp(-2 * 0.5 * 2.0), -2.0, 2.0, 3))),
    (lambda: mt.solve(OU, ["x"], "ml", dt=1.3),  # a radius in [1, 2)
     _SPECTRAL.format(what="e^{-2 beta dt} P", rho=_euler_radius(math.exp(-2 * 0.5 * 1.3), -2.0, 1.3, 3))),
    (lambda: mt.solve(OU, ["x"], "ml", dt=1e-20),  # e^{-beta dt} rounds to 1: radius exactly 1
     _SPECTRAL.format(what="e^{-2 beta dt} P", rho=1.0)),
    # ml's discrete value v = r dt + e^{-beta dt} v P diverges while the e^{-2 beta dt} series converges
    (lambda: mt.solve(mt.Problem("x", "0", "x**2", 0, 1.0, math.inf, 1.0), ["1"], "ml", dt=1.0),
     _SPECTRAL.format(what="e^{-beta dt} P (the discrete value)", rho=_euler_radius(math.exp(-1.0), 1.0, 1.0, 2))),
    # continuous time: E[X_t^2] = x0^2 e^{2t} (no noise) against e^{-2 beta t}: rates 2 - 2 beta
    (lambda: mt.solve(mt.Problem("x", "0", "1", 0, 1.0, math.inf, 1.0), ["x"], "ml"), _DIVERGES.format(rate=0.0)),
    (lambda: mt.solve(mt.Problem("x", "0", "1", 0, 0.75, math.inf, 1.0), ["x"], "ml"), _DIVERGES.format(rate=0.5)),
]


@pytest.mark.parametrize("call,message", MORE_CASES, ids=[m[:60] for _, m in MORE_CASES])
def test_more_error_messages(call, message):
    with pytest.raises(ValueError, match=_exact(message)):
        call()


def test_overflow_is_one_clear_error_without_numpy_warnings():
    """The running sums overflow (A finite, b infinite; or both NaN): a ValueError and no RuntimeWarning."""
    msg = ("horizon={T:g}: the 'ml' linear system overflows double precision (the discounted moments e^(-beta t) "
           "E[X_t^n] of the features' degree exceed 1e308 within the horizon); supported: horizons and discounts for "
           "which they stay below 1e308 (a shorter horizon, a larger discount or lower-degree features)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # r = 1e308: the discrete value v = sum r dt overflows, A = sum dt = 4 does not
        with pytest.raises(ValueError, match=_exact(msg.format(T=4.0))):
            mt.linear_system(mt.Problem("0", "1", "10**308", 0, 0.0, 4.0, 0.0), ["1"], "ml", steps=4)
        with pytest.raises(ValueError, match=_exact(msg.format(T=40.0))):
            mt.linear_system(mt.Problem("5*x", "1", "x**4", 0, 0.0, 40.0, 1.0), ["x**4"], "ml", steps=50)


def test_parsing_keeps_exact_constants_and_identifies_foreign_symbols():
    # a string is parsed with rational=True: 2**0.5 is sqrt(2), not a 15-digit float
    assert mt.Problem("2**0.5*x", "1", "x", 0, 0.0, 1.0, 0.0).drift == sp.sqrt(2) * mt.x
    # a plain sympy symbol named t (not real) is the module's t, one named x the module's x
    ft, fx = sp.Symbol("t"), sp.Symbol("x")
    q = mt.Problem("0", "1", ft * fx, 0, 0.0, 1.0, 0.0)
    assert q.running_reward == mt.t * mt.x
    # a float becomes an exact rational (not a recognised constant such as sqrt(2))
    d = mt.Problem(math.sqrt(2), "1", "x", 0, 0.0, 1.0, 0.0).drift
    assert d.is_Rational and abs(float(d) - math.sqrt(2)) <= 1e-13  # 15 significant digits kept
    # an integer horizon is stored as a float
    assert type(mt.Problem("0", "1", "x", 0, 0.0, 2, 0.0).horizon) is float


def test_value_function_closed_forms_beyond_the_theory_tests():
    s = sp.Symbol("s", positive=True)
    # infinite horizon with b0 != 0: J = int_0^inf e^{-s} E[X_s | X_0 = x] ds, E[X_s] = 1 + (x - 1) e^{-s}
    J = mt.value_function(mt.Problem("1 - x", "1/2", "x", 0, 1.0, math.inf, 0.0))
    assert sp.simplify(J - sp.integrate(sp.exp(-s) * (1 + (mt.x - 1) * sp.exp(-s)), (s, 0, sp.oo))) == 0
    # T = 2, beta = 1/2, h = x^2, Brownian motion: J = e^{-beta (T - t)} (x^2 + T - t)
    J = mt.value_function(mt.Problem("0", "1", 0, "x**2", 0.5, 2.0, 0.0))
    half = sp.Rational(1, 2)
    assert sp.simplify(J - sp.exp(-half * (2 - mt.t)) * (mt.x**2 + 2 - mt.t)) == 0
    # float horizon and discount (not binary fractions) enter as the rationals sympy makes of them
    # (nsimplify(..., rational=True), the module's documented conversion), consistently everywhere
    Pf = mt.Problem("0", "1", "x", "x", math.sqrt(2) / 2, math.sqrt(2), math.sqrt(2))
    J = mt.value_function(Pf)
    assert mt.feynman_kac_residual(Pf, J) == 0
    assert sp.simplify(J.subs(mt.t, sp.nsimplify(Pf.horizon, rational=True)) - mt.x) == 0
    m1 = mt.moments(Pf, 1)[1]  # E[X_t] = x0 for Brownian motion
    assert m1.is_Rational and m1 == sp.nsimplify(Pf.x0, rational=True)


def test_moments_accepts_the_largest_degree():
    m = mt.moments(mt.Problem("0", "0", 0, 0, 0.0, 1.0, 1.0), mt.MAX_DEGREE)  # no motion: E[X^n] = 1
    assert m == [1] * (mt.MAX_DEGREE + 1)


def test_solve_edge_cases_of_the_singularity_check():
    # A = int_0^1 1 dt = 1.0 exactly (largest singular value 1 is not singular): theta = int_0^1 E J(t, X_t) dt
    # with J = x (1 - t), E X_t = 1/2: 1/4
    th = mt.solve(P, ["1"], "ml")
    assert abs(th[0] - 0.25) <= 4 * np.finfo(float).eps
    # nearly dependent features with a large Gram matrix: Brownian motion, E[X_t^2] = 1/4 + t, so
    # A_ij = int_0^1 c_i(t) c_j(t) (1/4 + t) dt for features c(t) x; its condition number (exact, mpmath) is
    # beyond 1e12 although the smallest singular value is far above 1e-12 (relative, not absolute, threshold)
    eps = sp.Rational(1, 10**4)
    cs = [100 + 0 * mt.t, 100 + eps * mt.t]
    G = sp.Matrix(2, 2, lambda i, j: sp.integrate(cs[i] * cs[j] * (sp.Rational(1, 4) + mt.t), (mt.t, 0, 1)))
    with mpmath.workdps(40):
        ev = sorted(abs(v) for v in mpmath.eig(mpmath.matrix(G.evalf(40).tolist()))[0])
    assert ev[1] / ev[0] > 1e12 and ev[0] > 1e-12
    with pytest.raises(ValueError, match="^" + re.escape(
            "method 'ml' (continuous-time): the features are linearly dependent under the weighted L2 norm; "
            "condition number ")):
        mt.solve(P, ["100*x", "100*x + t*x/10**4"], "ml")
    # three features, one repeated: the reported condition number is sv_max / sv_min (>= the 1e12 threshold)
    with pytest.raises(ValueError) as err:
        mt.solve(P, ["x", "2*x", "t*x"], "ml")
    assert float(str(err.value).rsplit(" ", 1)[1]) >= 1e12


def test_convergence_fit_statistics_and_arguments():
    """theta_K, errors and the slope's standard error against solve() and scipy's linregress."""
    from scipy.stats import linregress
    cases = [(R, ["1", "x"], "gtd", ["1", "x", "x**2", "t"], "euler"),
             (mt.Problem("1 - 2*x", "1/2", "x**2", "x", 0.2, 1.0, 0.3), ["1", "x"], "td0", None, "exact")]
    for (prob, feats, method, tests, tr), ks in zip(cases, [(8, 16, 32), (8, 16, 32, 64)]):  # 1 and 2 dof
        fit = mt.convergence_rate(prob, feats, method, ks=ks, test_functions=tests, transition=tr)
        limit = mt.solve(prob, feats, method, test_functions=tests, transition=tr)
        thetas = np.array([mt.solve(prob, feats, method, k, test_functions=tests, transition=tr) for k in ks])
        np.testing.assert_array_equal(fit.theta_limit, limit)
        np.testing.assert_array_equal(fit.thetas, thetas)
        errors = np.array([math.sqrt(sum((a - b) ** 2 for a, b in zip(th, limit))) for th in thetas])
        np.testing.assert_allclose(fit.errors, errors, rtol=4 * np.finfo(float).eps)
        lx, ly = np.log(prob.horizon / np.array(ks)), np.log(errors)
        reg = linregress(lx, ly)
        # both are a 3-point least-squares fit: the slope agrees to a few ulps; the standard error comes from
        # residuals that cancel |log error| down to |resid|, so its rounding is amplified by that ratio
        u = np.finfo(float).eps
        resid = ly - (reg.intercept + reg.slope * lx)
        cancel = np.max(np.abs(ly)) / math.sqrt(np.mean(resid**2))
        assert abs(fit.order - reg.slope) <= 64 * u * abs(reg.slope)
        assert abs(fit.order_stderr - reg.stderr) <= 64 * u * cancel * reg.stderr


# ---------------------------------------------------------------- linear systems against deterministic paths
# Without noise (diffusion 0) X_t solves an ODE and every expectation is a plain function of t: the normal
# equations and conditions of the module docstring become integrals along the path, done here by composite
# Gauss-Legendre quadrature (exact to rounding for these analytic integrands), independently of the module's
# exponential-polynomial machinery.


def _gl_nodes(a, b, panels, order=20):
    z, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(a, b, panels + 1)
    h = np.diff(edges)[:, None] / 2
    return ((edges[:-1, None] + h * (z + 1)).ravel(), (h * w).ravel())


def _path_reference(b0, b1, x0, beta, T, r, h, feats, tests, method, lam=None):
    """(A, b) of ``method`` for dX = (b0 + b1 X) dt, X_0 = x0, and an error scale (sums of |terms|)."""
    finite = T != math.inf
    L = T if finite else 60.0 / beta  # e^{-beta L} = e^{-60}: the neglected tail is below rounding
    panels = 4 if finite else 60
    X = lambda s: (x0 + b0 / b1) * np.exp(b1 * s) - b0 / b1
    fn = lambda e: sp.lambdify((mt.t, mt.x), sp.sympify(e, locals={"t": mt.t, "x": mt.x}), "numpy")
    ev = lambda f, s: np.broadcast_to(f(s, X(s)), np.shape(s)).astype(float)
    F, S, rf, hf = [fn(e) for e in feats], [fn(e) for e in tests], fn(r), fn(h)
    s, w = _gl_nodes(0.0, L, panels)
    z, wz = _gl_nodes(0.0, 1.0, panels)
    # inner integrals at every outer node: J(s) = int_s^L e^{-beta (u - s)} r + e^{-beta (T - s)} h(X_T),
    # xi(s) = int_0^s lam^{s - u} psi(u) du (substitution u = s + (L - s) z, resp. u = s z)
    U = s[:, None] + (L - s)[:, None] * z[None]
    J = ((L - s)[:, None] * wz * np.exp(-beta * (U - s[:, None])) * ev(rf, U)).sum(1)
    hT = float(ev(hf, np.array(T))) if finite else 0.0
    if finite:
        J = J + np.exp(-beta * (T - s)) * hT
    V = s[:, None] * z[None]
    ph = [ev(f, s) for f in F]
    # d/ds phi(s, X_s) = phi_t + (b0 + b1 X) phi_x
    dF = [fn(sp.diff(sp.sympify(e, locals={"t": mt.t, "x": mt.x}), mt.t)
             + (b0 + b1 * mt.x) * sp.diff(sp.sympify(e, locals={"t": mt.t, "x": mt.x}), mt.x)) for e in feats]
    dph = [ev(f, s) for f in dF]
    if method == "td_lambda":
        W = [(s[:, None] * wz * lam ** (s[:, None] - V) * ev(g, V)).sum(1) for g in S]
        WT = [float((T * wz * lam ** (T - T * z) * ev(g, T * z)).sum()) if finite else 0.0 for g in S]
    else:
        W = [ev(g, s) for g in S]
        WT = [float(ev(g, np.array(T))) if finite else 0.0 for g in S]
    phT = [float(ev(f, np.array(T))) if finite else 0.0 for f in F]
    n, m = len(F), len(S)
    A, b, scA, scb = np.zeros((m, n)), np.zeros(m), np.zeros((m, n)), np.zeros(m)
    eT, e2T = (math.exp(-beta * T), math.exp(-2 * beta * T)) if finite else (0.0, 0.0)
    for i in range(m):
        for j in range(n):
            if method == "ml":
                terms, end = w * np.exp(-2 * beta * s) * ph[i] * ph[j], 0.0
            elif method == "mstd":  # no quadratic variation: only the terminal mismatch
                terms, end = np.zeros(1), e2T * phT[i] * phT[j]
            else:  # -(int xi d(e^{-beta s} phi_j) - e^{-beta T} xi_T phi_j(T))
                terms, end = -w * W[i] * np.exp(-beta * s) * (dph[j] - beta * ph[j]), eT * WT[i] * phT[j]
            A[i, j], scA[i, j] = terms.sum() + end, np.abs(terms).sum() + abs(end)
        if method == "ml":
            terms, end = w * np.exp(-2 * beta * s) * ph[i] * J, 0.0
        elif method == "mstd":
            terms, end = np.zeros(1), e2T * phT[i] * hT
        else:
            terms, end = w * W[i] * np.exp(-beta * s) * ev(rf, s), eT * WT[i] * hT
        b[i], scb[i] = terms.sum() + end, np.abs(terms).sum() + abs(end)
    return A, b, scA, scb


@pytest.mark.parametrize("finite", [True, False])
def test_continuous_linear_systems_along_a_deterministic_path(finite):
    """Every method's (A, b) itself (not only theta: a common factor or sign would cancel in theta)."""
    from paper_checks.stats import fp_tolerance
    if finite:  # T != 1 and beta T != beta / T; float beta, T enter as the rationals sympy makes of them
        b0, b1, x0, beta, T, r, h = 0.5, -1.0, 1.5, math.sqrt(2) / 4, math.sqrt(2), "x**2 + t*x", "x"
        feats, tests = ["1", "x", "t*x"], ["1", "x", "x**2", "t"]
    else:
        b0, b1, x0, beta, T, r, h = 0.0, -1.0, 1.5, 0.5, math.inf, "x**2 + x", "0"
        feats, tests = ["1", "x"], ["1", "x", "x**2"]
    prob = mt.Problem(f"{b0} + {b1}*x", "0", r, h, beta, T, x0)
    beta_r = float(sp.nsimplify(beta, rational=True))
    T_r = float(sp.nsimplify(T, rational=True)) if finite else T
    nodes = 4 * 20 * (1 + 20) if finite else 60 * 20 * (1 + 20)  # terms summed (outer nodes times inner ones)
    for method in ("ml", "mstd", "td0", "td_lambda", "gtd"):
        if method == "mstd" and not finite:
            continue  # no noise and no terminal term: A = 0
        te = tests if method == "gtd" else feats
        A, b, scA, scb = _path_reference(b0, b1, x0, beta_r, T_r, r, h, feats, te, method, lam=0.4)
        A2, b2 = mt.linear_system(prob, feats, method, lam=0.4 if method == "td_lambda" else None,
                                  test_functions=tests if method == "gtd" else None)
        assert np.all(np.abs(A2 - A) <= fp_tolerance(scA, dimension=nodes)), method
        assert np.all(np.abs(b2 - b) <= fp_tolerance(scb, dimension=nodes)), method


def test_float_discount_and_horizon_enter_as_rationals_in_continuous_time():
    """mstd without noise: A = e^{-2 beta T} X_T^{i+j}, b = e^{-2 beta T} X_T^i h(X_T), X_T = 1/2 + e^{-T}, in
    mpmath with beta and T the rationals nsimplify(., rational=True) makes of the floats: the 40-digit closed
    forms round to the same doubles (one rounding each)."""
    from paper_checks.stats import fp_tolerance
    beta, T = math.sqrt(2) / 4, math.sqrt(2)
    prob = mt.Problem("1/2 - x", "0", 0, "x", beta, T, 1.5)
    A, b = mt.linear_system(prob, ["1", "x"], "mstd")
    with mpmath.workdps(50):
        bt, Tt = (mpmath.mpf(sp.Rational(sp.nsimplify(v, rational=True)).p) / sp.Rational(sp.nsimplify(
            v, rational=True)).q for v in (beta, T))
        XT = mpmath.mpf(1) / 2 + mpmath.exp(-Tt)
        e = mpmath.exp(-2 * bt * Tt)
        refA = np.array([[float(e * XT ** (i + j)) for j in range(2)] for i in range(2)])
        refb = np.array([float(e * XT ** (i + 1)) for i in range(2)])
    assert np.all(np.abs(A - refA) <= fp_tolerance(refA))
    assert np.all(np.abs(b - refb) <= fp_tolerance(refb))


# ---------------------------------------------------------------- finite-horizon discrete systems, exact quadrature
# The K-step chain is a polynomial in K independent standard normals (linear in each); tensor Gauss-Hermite
# quadrature with 6 nodes per step integrates every polynomial of degree <= 11 in each normal exactly, so these
# are the exact expectations of the per-path sums (the brute-force Monte Carlo of the theory tests, without noise).


def _gh_systems(prob, feats, K, lam, transition, tests=None):
    b0, b1, s0, s1 = (float(v) for v in mt._dynamics(prob))
    T, beta = prob.horizon, prob.discount
    dt = T / K
    z1, w1 = np.polynomial.hermite_e.hermegauss(6)
    w1 = w1 / w1.sum()
    Zs = np.array(np.meshgrid(*[z1] * K, indexing="ij")).reshape(K, -1)
    wt = np.prod(np.array(np.meshgrid(*[w1] * K, indexing="ij")).reshape(K, -1), axis=0)
    X = np.empty((K + 1, wt.size))
    X[0] = prob.x0
    for k in range(K):
        if transition == "euler":
            X[k + 1] = X[k] + (b0 + b1 * X[k]) * dt + (s0 + s1 * X[k]) * math.sqrt(dt) * Zs[k]
        elif b1 == 0.0:
            X[k + 1] = X[k] + b0 * dt + s0 * math.sqrt(dt) * Zs[k]
        else:
            X[k + 1] = X[k] * math.exp(b1 * dt) + b0 * math.expm1(b1 * dt) / b1 + \
                s0 * math.sqrt(math.expm1(2 * b1 * dt) / (2 * b1)) * Zs[k]
    tk = np.arange(K + 1) * dt
    disc = np.exp(-beta * tk)
    fn = lambda e: (lambda g: lambda tt, xx: np.broadcast_to(g(tt, xx), np.shape(xx)).astype(float))(
        sp.lambdify((mt.t, mt.x), sp.sympify(e, locals={"t": mt.t, "x": mt.x})))
    tests = feats if tests is None else tests
    phi = np.array([[fn(e)(tk[k], X[k]) for k in range(K + 1)] for e in feats])  # (n, K+1, nodes)
    psi_t = np.array([[fn(e)(tk[k], X[k]) for k in range(K + 1)] for e in tests])
    rk = np.array([fn(prob.running_reward)(tk[k], X[k]) for k in range(K + 1)])
    hK = fn(prob.terminal_reward)(T, X[K])
    n = len(feats)
    dlt = np.empty((n, K, wt.size))  # d delta_k / d theta
    rho = np.empty((K, wt.size))
    for k in range(K):
        last = k == K - 1
        dlt[:, k] = (0.0 if last else disc[k + 1] * phi[:, k + 1]) - disc[k] * phi[:, k]
        rho[k] = disc[k] * rk[k] * dt + (disc[K] * hK if last else 0.0)
    G = np.empty((K, wt.size))
    acc = hK
    for k in range(K - 1, -1, -1):
        acc = rk[k] * dt + math.exp(-beta * dt) * acc
        G[k] = acc
    xi = np.empty((len(tests), K, wt.size))
    tr = np.zeros((len(tests), wt.size))
    for k in range(K):
        tr = (lam**dt if lam else 0.0) * tr + psi_t[:, k] * dt
        xi[:, k] = tr
    w = disc[:K] ** 2 * dt
    E = lambda a: a @ wt
    return {
        "ml": (E(np.einsum("k,ikp,jkp->ijp", w, phi[:, :K], phi[:, :K])), E(np.einsum("k,ikp,kp->ip", w, phi[:, :K], G))),
        "mstd": (E(np.einsum("ikp,jkp->ijp", dlt, dlt)), -E(np.einsum("ikp,kp->ip", dlt, rho))),
        "td0": (-E(np.einsum("ikp,jkp->ijp", psi_t[:, :K], dlt)), E(np.einsum("ikp,kp->ip", psi_t[:, :K], rho))),
        "td_lambda": (-E(np.einsum("ikp,jkp->ijp", xi, dlt)), E(np.einsum("ikp,kp->ip", xi, rho))),
    }


@pytest.mark.parametrize("prob,feats,tests,transition", [
    # multiplicative noise, cubic and time-dependent features: moments up to degree 6 (E[Z^6] = 15)
    (R, ["1", "x", "t*x**2", "x**3"], ["1", "x", "t*x", "x**2", "x**3"], "euler"),
    # terminal reward of higher degree than features and running reward
    (mt.Problem("1 - 2*x", "1/2", "t", "x**4", 0.2, 1.5, 0.3), ["1", "t*x"], ["1", "x", "x**2"], "exact"),
    # exact transition of Brownian motion with drift (b1 = 0)
    (mt.Problem("3/4", "1/2", "x**2", "x", 0.2, 1.5, 0.3), ["1", "x", "t"], ["1", "x", "t", "x**2"], "exact"),
])
def test_discrete_linear_systems_match_gauss_hermite_expectations(prob, feats, tests, transition):
    from paper_checks.stats import fp_tolerance
    K, lam = 3, 0.4
    ref = _gh_systems(prob, feats, K, lam, transition)
    gtd = _gh_systems(prob, feats, K, lam, transition, tests=tests)["td0"]
    for method in ("ml", "mstd", "td0", "td_lambda", "gtd"):
        A, b = mt.linear_system(prob, feats, method, steps=K, lam=lam if method == "td_lambda" else None,
                                transition=transition, test_functions=tests if method == "gtd" else None)
        Ar, br = gtd if method == "gtd" else ref[method]
        # sums over 6^K nodes of terms of the size of the largest entry (products of K + 1 factors)
        scale = max(np.abs(Ar).max(), np.abs(br).max())
        tol = fp_tolerance(scale, dimension=6**K, repetitions=K + 1)
        assert np.all(np.abs(A - Ar) <= tol), method
        assert np.all(np.abs(b - br) <= tol), method


# ---------------------------------------------------------------- infinite-horizon discrete systems without noise


def _path_sums_infinite(prob, feats, tests, dt, lam):
    """The infinite sums of every method along the deterministic Euler path X_{k+1} = X_k + b(X_k) dt (no
    noise), truncated where e^{-beta k dt} < e^{-60}; returns (A, b) and the sums of |terms| per entry."""
    b0, b1, s0, s1 = (float(v) for v in mt._dynamics(prob))
    assert s0 == s1 == 0.0
    beta = prob.discount
    K = math.ceil(60.0 / (beta * dt))
    X = np.empty(K + 2)
    X[0] = prob.x0
    for k in range(K + 1):
        X[k + 1] = X[k] + (b0 + b1 * X[k]) * dt
    fn = lambda e: (lambda g: lambda xx: np.broadcast_to(g(xx), np.shape(xx)).astype(float))(
        sp.lambdify(mt.x, sp.sympify(e, locals={"x": mt.x})))
    e = np.exp(-beta * dt * np.arange(K + 2))
    ph = np.array([fn(f)(X) for f in feats])
    ps = np.array([fn(f)(X) for f in tests])
    r = fn(prob.running_reward)(X)
    dlt = e[1:] * ph[:, 1:] - e[:-1] * ph[:, :-1]  # (n, K + 1): d delta_k / d theta
    rho = e[:-1] * r[:-1] * dt
    G = np.empty(K + 1)  # G_k = sum_{j >= k} e^{-beta (j - k) dt} r_j dt (the tail beyond K is below e^{-60})
    acc = 0.0
    for k in range(K, -1, -1):
        acc = r[k] * dt + math.exp(-beta * dt) * acc
        G[k] = acc
    xi = np.empty((len(tests), K + 1))
    tr = np.zeros(len(tests))
    for k in range(K + 1):
        tr = lam**dt * tr + ps[:, k] * dt
        xi[:, k] = tr
    w = e[:-1] ** 2 * dt
    terms = {
        "ml": (w * ph[:, None, :-1] * ph[None, :, :-1], w * ph[:, :-1] * G),
        "mstd": (dlt[:, None] * dlt[None], -dlt * rho),
        "td0": (-ps[:, None, :-1] * dlt[None], ps[:, :-1] * rho),
        "td_lambda": (-xi[:, None] * dlt[None], xi * rho),
    }
    return {m: (a.sum(-1), c.sum(-1), np.abs(a).sum(-1), np.abs(c).sum(-1)) for m, (a, c) in terms.items()}, K


@pytest.mark.parametrize("reward,feats,tests", [
    ("1", ["x"], ["x"]),                        # feature degree 1, reward degree 0
    ("x**3", ["x"], ["x"]),                     # reward degree above the features'
    ("x**3", ["1"], ["1"]),                     # ... and above twice the features' plus 2
    ("1", ["x**3"], ["1"]),                     # gtd: features of higher degree than the test functions
    ("1", ["1"], ["1", "x**3"]),                # gtd: test functions of higher degree than features
])
def test_infinite_discrete_linear_systems_along_a_deterministic_path(reward, feats, tests):
    from paper_checks.stats import fp_tolerance
    prob = mt.Problem("1/2 - x", "0", reward, 0, 0.5, math.inf, 1.5)
    dt, lam = 0.25, 0.4
    same = tests == feats
    ref, K = _path_sums_infinite(prob, feats, tests if not same else feats, dt, lam)
    methods = ("ml", "mstd", "td0", "td_lambda") if same else ("gtd",)
    for method in methods:
        A, b = mt.linear_system(prob, feats, method, dt=dt, lam=lam if method == "td_lambda" else None,
                                test_functions=None if same else tests)
        Ar, br, sa, sb = ref["td0" if method == "gtd" else method]
        assert np.all(np.abs(A - Ar) <= fp_tolerance(sa, dimension=K)), method
        assert np.all(np.abs(b - br) <= fp_tolerance(sb, dimension=K)), method


def test_large_but_representable_inputs_and_irrational_constants():
    """Inputs whose needed moments stay far below 1e308 give finite systems (no spurious overflow error)."""
    # drift 1e104, feature 1, r = 1, beta = 0, K = 2 (dt = 1/2): delta_0 = r dt, delta_1 = -theta + r dt, so
    # sum_k E[delta_k] = 1 - theta: A = 1, b = 1 (E[X^2] ~ 1e207 is representable, E[X^3] would not be)
    A, b = mt.linear_system(mt.Problem("10**104", "1", "1", 0, 0.0, 1.0, 0.0), ["1"], "td0", steps=2)
    assert A.tolist() == [[1.0]] and b.tolist() == [1.0]
    # x0 = 1e70: features of degree 1 need E[X^n] up to n = 4 (1e280); the system matches exact quadrature
    from paper_checks.stats import fp_tolerance
    prob = mt.Problem("-x", "1", "x", 0, 0.0, 1.0, 1e70)
    A, b = mt.linear_system(prob, ["1", "x"], "td0", steps=2)
    Ar, br = _gh_systems(prob, ["1", "x"], 2, None, "euler")["td0"]
    scale = max(np.abs(Ar).max(), np.abs(br).max())
    assert np.all(np.abs(A - Ar) <= fp_tolerance(scale, dimension=6**2, repetitions=3))
    assert np.all(np.abs(b - br) <= fp_tolerance(scale, dimension=6**2, repetitions=3))
    # a constant drift pi^2 (a sympy polynomial of degree 2 in the generator pi, degree 0 in x) is affine:
    # J = E int_t^1 X_s ds = x (1 - t) + pi^2 (1 - t)^2 / 2 for Brownian motion with that drift
    J = mt.value_function(mt.Problem("pi**2", "1", "x", 0, 0.0, 1.0, 0.0))
    assert sp.simplify(J - (mt.x * (1 - mt.t) + sp.pi**2 * (1 - mt.t) ** 2 / 2)) == 0


# ---------------------------------------------------------------- full-run survivors of the solver functions
# value_function is memoized (lru_cache): mutmut forks each mutant's process after its clean run has filled the
# memo with the unmutated values, so every test of _value_coeffs through value_function clears the memo first.


def test_value_function_recomputed_closed_forms():
    """Float discount and horizon enter as nsimplify(., rational=True) rationals (not as sqrt(2)/2, sqrt(2)), and
    the infinite-horizon back substitution uses the G[k][k+1] (drift b0) coupling; hand-derived closed forms."""
    mt._value_function.cache_clear()
    # Brownian motion, r = h = x: E[X_s | X_t = x] = x, so J = x ((1 - e^{-beta (T - t)}) / beta + e^{-beta (T - t)})
    beta_f, T_f = math.sqrt(2) / 2, math.sqrt(2)
    beta, T = sp.nsimplify(beta_f, rational=True), sp.nsimplify(T_f, rational=True)
    assert beta.is_Rational and T.is_Rational
    J = mt.value_function(mt.Problem("0", "1", "x", "x", beta_f, T_f, 0.0))
    e = sp.exp(-beta * (T - mt.t))
    assert sp.simplify(J - mt.x * ((1 - e) / beta + e)) == 0
    # infinite horizon, dX = (1 - X) dt + dW/2, r = x, beta = 1: E[X_s] = 1 + (x - 1) e^{-s}, so
    # J = int_0^inf e^{-s} (1 + (x - 1) e^{-s}) ds = 1 + (x - 1) / 2
    J = mt.value_function(mt.Problem("1 - x", "1/2", "x", 0, 1.0, math.inf, 0.0))
    assert sp.expand(J - (1 + (mt.x - 1) / 2)) == 0


def test_step_size_returns_the_finite_horizon_step():
    """(steps, dt) with dt = T / K exactly (binary fractions), up to and including K = MAX_STEPS."""
    assert mt._step_size(mt.Problem("0", "1", "x", 0, 0.0, 2.0, 0.0), 4, None, None) == (4, 0.5)
    assert mt._step_size(mt.Problem("0", "1", "x", 0, 0.0, 3.0, 0.0), 8, None, None) == (8, 0.375)
    # the largest supported K is accepted; 1.0 / 10**6 is the correctly rounded literal 1e-6
    assert mt._step_size(P, mt.MAX_STEPS, None, None) == (mt.MAX_STEPS, 1e-6)
    assert mt._step_size(P, None, None, None) == (None, None)


def test_td_lambda_with_features_and_rewards_constant_in_x():
    """dmax = 0 (features, tests and rewards free of x): the K-step td_lambda system against exact Gauss-Hermite
    expectations (the trace is deterministic here)."""
    from paper_checks.stats import fp_tolerance
    prob = mt.Problem("1 - 2*x", "1/2", "t", "1", 0.2, 1.5, 0.3)
    feats, K, lam = ["1", "t"], 3, 0.4
    Ar, br = _gh_systems(prob, feats, K, lam, "euler")["td_lambda"]
    A, b = mt.linear_system(prob, feats, "td_lambda", steps=K, lam=lam)
    scale = max(np.abs(Ar).max(), np.abs(br).max())
    tol = fp_tolerance(scale, dimension=6**K, repetitions=K + 1)
    assert np.all(np.abs(A - Ar) <= tol) and np.all(np.abs(b - br) <= tol)


def test_infinite_discrete_ml_and_mstd_use_only_the_moments_they_need():
    """Growing deterministic path X_k = x0 c^k (dX = X dt, no noise, Euler, c = 1 + dt = 2), feature x, r = x,
    beta = 0.9, dt = 1: g^2 c^2 = 4 e^{-1.8} < 1, so the degree-2 series converge (while g^2 c^3 > 1: the
    degree-3 moments diverge and are not needed). Geometric sums by hand, with g = e^{-beta dt}:
    ml:   A = dt x0^2 / (1 - g^2 c^2),  G_k = dt x0 c^k / (1 - g c),  b = dt^2 x0^2 / ((1 - g c) (1 - g^2 c^2));
    mstd: delta_k = g^k X_k (theta (g c - 1) + dt): A = x0^2 (g c - 1)^2 / (1 - g^2 c^2),
          b = -x0^2 (g c - 1) dt / (1 - g^2 c^2)."""
    from paper_checks.stats import fp_tolerance
    x0, beta, dt, c = 1.5, 0.9, 1.0, 2.0
    prob = mt.Problem("x", "0", "x", 0, beta, math.inf, x0)
    with mpmath.workdps(30):
        g = mpmath.exp(-mpmath.mpf(beta) * dt)
        q = 1 - g**2 * c**2
        ref = {"ml": (dt * x0**2 / q, dt**2 * x0**2 / ((1 - g * c) * q)),
               "mstd": (x0**2 * (g * c - 1) ** 2 / q, -x0**2 * (g * c - 1) * dt / q)}
        ref = {k: (float(a), float(b)) for k, (a, b) in ref.items()}
        amp = float(1 / (1 - g * c) + 1 / q)  # relative amplification of the rounding of g and the series
    assert 4 * math.exp(-1.8) < 1 <= 8 * math.exp(-1.8)
    for method, (Ar, br) in ref.items():
        A, b = mt.linear_system(prob, ["x"], method, dt=dt)
        # sums of at most 5 moments (size 2 deg + 3), each through a 3 x 3 triangular inverse
        assert abs(A[0, 0] - Ar) <= fp_tolerance(Ar, condition=amp, dimension=5, repetitions=3), method
        assert abs(b[0] - br) <= fp_tolerance(br, condition=amp, dimension=5, repetitions=3), method


def test_singularity_threshold_is_inclusive():
    """mstd, Brownian motion from 0 with sigma = 10^-6, beta = 0, features 1 and x: A = diag(E[1] at T,
    int_0^T sigma^2 dt + E[X_T^2]) = diag(1, 2 sigma^2 T) by Ito; T = 1/2 gives exactly 1e-12 = 1e-12 * sv_max
    (singular: rejected), T = 1 gives 2e-12 (solved: theta = 0 since h = 0)."""
    prob = mt.Problem("0", "1/10**6", 0, 0, 0.0, 0.5, 0.0)
    A, b = mt.linear_system(prob, ["1", "x"], "mstd")
    assert A.tolist() == [[1.0, 0.0], [0.0, 1e-12]] and b.tolist() == [0.0, 0.0]
    assert np.linalg.svd(A, compute_uv=False).tolist() == [1.0, 1e-12]  # a diagonal matrix's SVD is exact
    with pytest.raises(ValueError, match=_exact(
            "method 'mstd' (continuous-time): " + mt._SINGULAR["mstd"] + "; condition number 1e+12")):
        mt.solve(prob, ["1", "x"], "mstd")
    assert mt.solve(mt.Problem("0", "1/10**6", 0, 0, 0.0, 1.0, 0.0), ["1", "x"], "mstd").tolist() == [0.0, 0.0]


@pytest.mark.parametrize("a", [2, 3])
def test_convergence_rate_rounding_threshold_is_inclusive_and_absolute_below_one(a):
    """td0, feature 1, beta = 0, T = 1, h = 0, r = a 10^-13 (1 - 2t): A = 1 in both limits; the continuous
    b = int_0^1 r dt = 0 and the K-step b = sum_k r(k/K)/K = a 10^-13 / K (left Riemann sum), so theta_K errors
    are a 10^-13 / K, exact in floating point for K = 1, 2 (halving). The threshold 1e-13 max(1, |theta_inf|)
    is 1e-13: a = 2 puts the K = 2 error exactly on it (rejected, <=), a = 3 puts both above (fitted: order 1)."""
    prob = mt.Problem("0", "1", f"{a}/10**13 - {2 * a}*t/10**13", 0, 0.0, 1.0, 0.0)
    e1 = float(sp.Rational(a, 10**13))
    assert e1 / 2 == (1e-13 if a == 2 else 1.5e-13)
    if a == 2:
        with pytest.raises(ValueError, match=_exact(
                "theta_K equals the limit to rounding for some K in ks: there is no rate to fit")):
            mt.convergence_rate(prob, ["1"], "td0", ks=(1, 2))
        return
    from paper_checks.stats import fp_tolerance
    fit = mt.convergence_rate(prob, ["1"], "td0", ks=(1, 2))
    assert fit.theta_limit.tolist() == [0.0] and fit.thetas.tolist() == [[e1], [e1 / 2]]
    assert fit.errors.tolist() == [e1, e1 / 2] and fit.dts.tolist() == [1.0, 0.5]
    # slope (log e1 - log(e1/2)) / log 2 = 1: the logs (|log e| ~ 29) cancel to log 2, amplifying their rounding
    cancel = abs(math.log(e1 / 2)) / math.log(2)
    assert abs(fit.order - 1.0) <= fp_tolerance(1.0, condition=cancel, dimension=2, repetitions=4)


def test_lstsq_gets_an_explicit_rcond(monkeypatch):
    """numpy < 2 (pyproject allows numpy >= 1.24) warns and falls back to rcond = -1 when lstsq's rcond is left
    out: emulate that signature and require rcond=None from gtd's non-square solve and the rate fit."""
    real = np.linalg.lstsq

    def lstsq_numpy1(a, b, rcond="warn"):
        assert rcond is None, "rcond left out: numpy < 2 would emit a FutureWarning and use rcond=-1"
        return real(a, b, rcond=rcond)
    monkeypatch.setattr(np.linalg, "lstsq", lstsq_numpy1)
    th = mt.solve(R, ["1", "x"], "gtd", test_functions=["1", "x", "x**2"])
    assert th.shape == (2,) and np.all(np.isfinite(th))
    fit = mt.convergence_rate(R, ["1", "x"], "ml", ks=(8, 16, 32))
    assert math.isfinite(fit.order) and math.isfinite(fit.order_stderr)


# ---------------------------------------------------------------- mtB survivors: discrete systems, solve, convergence_rate


def test_infinite_discrete_scheme_ignores_moments_above_degree_2_deg_plus_2():
    """td0, infinite horizon, feature 1, r = x, dX = 10^67 dt + dW from x0 = 2, beta = 1, dt = 1000: the
    discount per step e^{-1000} underflows to 0.0, so only k = 0 enters (0^0 = 1): the condition
    E[1 * (0 * J(X_1) - theta + r(X_0) dt)] = 0 gives theta = r(x0) dt = 2000 exactly (A = 1, b = 2000).
    The scheme needs the moments up to degree 2 deg + 2 = 4 (deg = 1, the reward's): E[X_1^4 | X_0 = 0] ~
    (b0 dt)^4 = 1e280 is finite; the unused degree 5 ((b0 dt)^5 = 1e350) overflows and must not enter (no
    warning, no overflow error)."""
    prob = mt.Problem("10**67", "1", "x", 0, 1.0, math.inf, 2.0)
    assert math.exp(-1.0 * 1000.0) == 0.0 and (1e70) ** 4 < 1.8e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A, b = mt.linear_system(prob, ["1"], "td0", dt=1000.0)
        theta = mt.solve(prob, ["1"], "td0", dt=1000.0)
    assert A.tolist() == [[1.0]] and b.tolist() == [2000.0]
    assert theta.tolist() == [2000.0]


def test_convergence_rate_checks_the_transition_before_the_other_arguments():
    """The continuous-time limit is solved with the caller's transition, so an unknown transition is reported
    (it is checked before lam in the argument order of solve) even when lam is also missing for td_lambda."""
    with pytest.raises(ValueError, match=_exact("transition must be one of euler, exact; got 'bogus'")):
        mt.convergence_rate(P, ["x"], "td_lambda", transition="bogus")
