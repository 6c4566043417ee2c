"""theory.martingale_td: every error message in full (parameter, allowed range or class), and the
boundaries of the argument checks; fast cases only (no simulation)."""

import math
import re

import numpy as np
import pytest

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
     "steps: K = 2e+06 exceeds the 1e+06 steps the exact K-step solver supports (one pass per step; "
     "dt = T/K must be >= T/1e+06 = 1e-06)"),
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
