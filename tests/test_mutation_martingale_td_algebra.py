"""theory.martingale_td: the parsing of expressions (real symbols, foreign names, complex constants), the
exactly-solvable-class helpers (``_dynamics``, ``_xt_coeffs``, ``_coef_fn``) and the exponential-polynomial
algebra (``_EP``, ``_XP``, the ``_Sym``/``_Mp`` number systems), each against sympy/mpmath computed here;
plus the 40-digit closed forms at resonant and tiny rates, where the rate-merging tolerance decides."""

import math
import re

import mpmath
import numpy as np
import pytest
import sympy as sp

from paper_checks.stats import fp_tolerance
from theory import martingale_td as mt

t, x = mt.t, mt.x
NUMBER_SYSTEMS = [mt._Sym, mt._Mp]


def _exact(text):
    return "^" + re.escape(text) + "$"


def _close(value, ref):
    """A 40-digit value against an exact sympy reference. Bound: every value here is a sum of at most 100
    products computed with at most 10 roundings of relative size 10^-40 each, of terms below 10^3 in size (times
    t <= 2, |x| <= 3/2, rates and coefficients below 5 in size), so the error is below 100 * 10 * 1e3 * 1e-40."""
    with mpmath.workdps(mt._DPS + 10):
        assert abs(mpmath.mpf(value) - mpmath.mpf(sp.N(ref, mt._DPS + 10))) <= mpmath.mpf(10) ** -34, (value, ref)


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("name", ["T", "X", "XXtXX", "XXxXX", "tx"])
def test_only_the_names_t_and_x_are_the_module_symbols(name):
    with pytest.raises(ValueError, match=_exact(f"running_reward may use only the symbols t and x, got ['{name}']")):
        mt.Problem("0", "1", f"{name}*x", 0, 0.0, 1.0, 0.0)


@pytest.mark.parametrize("text,expected", [
    ("diff(Abs(x), x)", sp.sign(x)),             # d|x|/dx on the reals (a complex x leaves Derivative(x, x))
    ("x*diff(Abs(t), t)", x * sp.sign(t)),
    ("integrate(Abs(x), x)", sp.Piecewise((-x**2 / 2, x <= 0), (x**2 / 2, True))),  # unevaluated for complex x
])
def test_strings_are_evaluated_with_the_real_symbols(text, expected):
    r = mt.Problem("0", "1", text, 0, 0.0, 1.0, 0.0).running_reward
    assert r == expected and not r.has(sp.Derivative, sp.Integral)


@pytest.mark.parametrize("text,shown", [
    ("I*x", "I*x"),
    ("x*(-1)**(1/3)", "(-1)**(1/3)*x"),
    ("exp(I*x)", "exp(I*x)"),
    ("sqrt(-2)", "sqrt(2)*I"),
    ("asin(2)*x", "x*asin(2)"),
    ("(x - I)*(x + I)", "(x - I)*(x + I)"),
])
def test_complex_constants_are_rejected(text, shown):
    """Before this check, drift I gave a complex 'value function' and solve() a raw TypeError from mpmath."""
    for field in ("drift", "diffusion", "running_reward", "terminal_reward"):
        args = dict(drift="0", diffusion="1", running_reward="x", terminal_reward=0)
        args[field] = text
        with pytest.raises(ValueError, match=_exact(
                f"{field} must be a real expression in t and x (no complex constants), got {shown}")):
            mt.Problem(**args, discount=0.0, horizon=1.0, x0=0.0)
    with pytest.raises(ValueError, match=_exact(f"J must be a real expression in t and x (no complex constants), "
                                                f"got {shown}")):
        mt.feynman_kac_residual(mt.Problem("0", "1", "x", 0, 0.0, 1.0, 0.0), text)
    with pytest.raises(ValueError, match=_exact(f"features[1] must be a real expression in t and x (no complex "
                                                f"constants), got {shown}")):
        mt.solve(mt.Problem("0", "1", "x", 0, 0.0, 1.0, 0.0), ["1", text], "ml")


def test_real_constants_are_accepted():
    p = mt.Problem("I*I*x", "sqrt(2)*pi", "E*x + asin(1/2)", "Abs(-3)*x", 0.0, 1.0, 0.0)
    assert p.drift == -x and p.diffusion == sp.sqrt(2) * sp.pi
    assert p.running_reward == sp.E * x + sp.pi / 6 and p.terminal_reward == 3 * x


# ---------------------------------------------------------------- the exactly solvable class


def _moment_rhs(n, m, b0, b1, s0, s1):
    """d/dt E[X^n] = E[L x^n] (Ito): n (b0 m_{n-1} + b1 m_n) + n (n-1)/2 (s0^2 m_{n-2} + 2 s0 s1 m_{n-1} + s1^2 m_n)."""
    get = lambda k: m[k] if k >= 0 else 0
    return n * (b0 * get(n - 1) + b1 * m[n]) + sp.Rational(n * (n - 1), 2) * (
        s0**2 * get(n - 2) + 2 * s0 * s1 * get(n - 1) + s1**2 * m[n])


@pytest.mark.parametrize("drift,diffusion,b", [
    ("1 - x", "pi**2/4", (1, -1, sp.pi**2 / 4, 0)),             # an irrational constant of degree 2 in pi
    ("sqrt(2)", "pi", (sp.sqrt(2), 0, sp.pi, 0)),
    ("1/2 - x", "3/10 + x/5", (sp.Rational(1, 2), -1, sp.Rational(3, 10), sp.Rational(1, 5))),
])
def test_moments_solve_the_moment_equations(drift, diffusion, b):
    """The exact moments satisfy m_n' = E[L x^n] with m_n(0) = x0^n (the coefficients read off by hand)."""
    p = mt.Problem(drift, diffusion, "x", 0, 0.0, 1.0, 0.5)
    assert mt._dynamics(p) == b
    m = mt.moments(p, 3)
    for n in range(4):
        assert sp.simplify(sp.diff(m[n], t) - _moment_rhs(n, m, *b)) == 0
        assert sp.simplify(m[n].subs(t, 0) - sp.Rational(1, 2) ** n) == 0


def _rows(expr):
    """Coefficient rows of x^n t^p from sympy: row n lists t^0..t^deg of the x^n coefficient ([] if it is 0)."""
    e = sp.expand(expr)
    if e == 0:
        return [[0]]  # sympy's zero Poly has the single term 0 * x^0 t^0
    out = []
    for n in range(max(sp.degree(e, x), 0) + 1):
        cn = e.coeff(x, n)
        out.append([] if cn == 0 else sp.Poly(cn, t).all_coeffs()[::-1])
    return out


@pytest.mark.parametrize("expr", [
    0, 7, x, x**2 + 1, 3 * x**2 * t**2 + x * t - 5 + x**2, t**5 * x + t**3 * x + t * x + x**3,
    (1 + t + t**2 + t**3) * (x + 2 * t * x**2),
])
def test_xt_coeffs_hold_exactly_the_coefficients(expr):
    assert mt._xt_coeffs("f", expr) == _rows(expr)


def test_coef_fn_evaluates_the_x_coefficients_at_a_time():
    expr = 3 * x**2 * t**2 + x * t - 5 + x**2
    at = mt._coef_fn("features[0]", expr, 3)  # exactly as many slots as x-degrees: accepted
    assert at(0.5).tolist() == [-5.0, 0.5, 1.75]  # -5; t; 1 + 3 t^2 at t = 1/2 (binary fractions: exact)
    assert mt._coef_fn("features[0]", x, 4)(2.0).tolist() == [0.0, 1.0, 0.0, 0.0]
    with pytest.raises(AssertionError, match=_exact("degree bookkeeping")):
        mt._coef_fn("features[0]", expr, 2)
    with pytest.raises(ValueError, match=_exact(
            "features[0] must be a polynomial in x with coefficients polynomial in t for the exact solvers, "
            "got sin(x)")):
        mt._coef_fn("features[0]", sp.sin(x), 3)


# ---------------------------------------------------------------- exponential polynomials


def _ep(ns, parts):
    """sum over (rate, coefficients) of e^{rate t} sum_p c_p t^p, built with poly, shift and +."""
    out = mt._EP(ns)
    for rate, coefs in parts:
        out = out + mt._EP.poly(ns, coefs).shift(ns.num(rate))
    return out


def _sym(parts):
    return sum(sp.exp(rate * t) * sum(c * t**p for p, c in enumerate(coefs)) for rate, coefs in parts)


F = [(sp.Rational(-1, 3), [1, 2]), (0, [3, 0, -1])]      # e^{-t/3} (1 + 2t) + 3 - t^2
G = [(sp.Rational(1, 2), [0, 1]), (0, [5])]               # t e^{t/2} + 5
DECAYING = [(sp.Rational(-1, 3), [1, 2, 1]), (-2, [sp.Rational(1, 7)])]


def _agree(ns, got, ref):
    """Exact equality for sympy arithmetic, agreement to double rounding for the 40-digit one."""
    if ns is mt._Sym:
        assert sp.simplify(got - ref) == 0, (got, ref)
    else:
        _close(got, ref)


def _check_ep(ep, ref, points=(sp.Rational(0), sp.Rational(3, 4), sp.Rational(2))):
    """ep at several times (its own number system: ep.at) against the sympy expression ref."""
    with mpmath.workdps(mt._DPS):
        for v in points:
            _agree(ep.ns, ep.at(ep.ns.num(v)), ref.subs(t, v))


@pytest.mark.parametrize("ns", NUMBER_SYSTEMS, ids=["sym", "mp"])
def test_exponential_polynomial_algebra_against_sympy(ns):
    fs, gs = _sym(F), _sym(G)
    s = sp.Rational(-5, 4)
    with mpmath.workdps(mt._DPS):  # the rates enter with 40 digits, as in the solvers
        f, g = _ep(ns, F), _ep(ns, G)
        ops = [
            (f + g, fs + gs), (f - g, fs - gs), (f * g, fs * gs), (f.scale(ns.num(s)), s * fs),
            (f.shift(ns.num(s)), sp.exp(s * t) * fs), (f.diff(), sp.diff(fs, t)),
            # every result is an exponential polynomial of the same number system: operations chain
            (f.scale(ns.num(s)).diff().shift(ns.num(1)) * g, sp.exp(t) * s * sp.diff(fs, t) * gs),
            (f.antiderivative().diff(), fs),
            (f.integral_from(ns.num(sp.Rational(1, 2))), sp.integrate(fs, (t, sp.Rational(1, 2), t))),
            (f.integral_to(ns.num(2)), sp.integrate(fs, (t, t, 2))),
        ]
        for ep, ref in ops:
            assert ep.ns is ns
            _check_ep(ep, ref)
        lo, hi = sp.Rational(1, 4), sp.Rational(3, 2)
        ref = sp.integrate(fs * gs, (t, lo, hi))
        _agree(ns, (f * g).definite(ns.num(lo), ns.num(hi)), ref)


def test_definite_integral_to_a_finite_float_bound_and_to_infinity():
    """A finite Python float as the upper bound is a finite integral (only math.inf is the infinite one, which
    converges when every live rate is negative); 40-digit arithmetic only, the one the solvers integrate with."""
    with mpmath.workdps(mt._DPS):
        lo = sp.Rational(1, 4)
        _close(_ep(mt._Mp, DECAYING).definite(mt._Mp.num(lo), math.inf), sp.integrate(_sym(DECAYING), (t, lo, sp.oo)))
        f = _ep(mt._Mp, F)
        _close(f.definite(mt._Mp.zero, 2.0), sp.integrate(_sym(F), (t, 0, 2)))  # 2.0 is exact in mpmath
        _close(f.definite(mt._Mp.zero, mpmath.mpf(2)), sp.integrate(_sym(F), (t, 0, 2)))
        with pytest.raises(ValueError, match=_exact(
                "the infinite-horizon integral diverges: the moments grow at rate 0.0 >= the discount rate")):
            f.definite(mt._Mp.zero, math.inf)


@pytest.mark.parametrize("ns", NUMBER_SYSTEMS, ids=["sym", "mp"])
def test_coefficient_lists_hold_exactly_degree_plus_one_terms(ns):
    """The rate-0 coefficient lists are those of sympy's Poly (no trailing zeros, no empty slot)."""
    assert mt._EP.poly(ns, []).terms == {}
    a, b = mt._EP.poly(ns, [1, 2]), mt._EP.poly(ns, [3, 0, 1])
    for ep, ref in [(a * b, (1 + 2 * t) * (3 + t**2)), (mt._EP(ns) + b, 3 + t**2),
                    (b + mt._EP.poly(ns, [7]), 10 + t**2), (a * b * a, (1 + 2 * t) ** 2 * (3 + t**2))]:
        ((rate, coefs),) = ep.terms.values()
        assert rate == 0 and coefs == [ns.num(c) for c in sp.Poly(ref, t).all_coeffs()[::-1]]


# ---------------------------------------------------------------- polynomials in x


def _xp(ns, rows):
    return mt._XP(ns, [_ep(ns, parts) for parts in rows])


def _xp_sym(rows):
    return sum(_sym(parts) * x**n for n, parts in enumerate(rows))


PHI = [[(0, [2])], [(0, [0, 1])], [(sp.Rational(-1, 3), [1, 1])]]     # 2 + t x + e^{-t/3} (1 + t) x^2
PSI = [[(sp.Rational(1, 2), [1])], [(0, [-3])]]                         # e^{t/2} - 3 x


def _check_xp(xp, ref, ns):
    assert xp.ns is ns
    for xv in (sp.Rational(-3, 2), sp.Rational(1, 3)):
        for n, c in enumerate(xp.c):
            assert c.ns is ns
        _check_ep(sum((c.scale(ns.num(xv**n)) for n, c in enumerate(xp.c)), mt._EP(ns)), ref.subs(x, xv))


@pytest.mark.parametrize("ns", NUMBER_SYSTEMS, ids=["sym", "mp"])
def test_x_polynomial_derivatives_and_generator_against_sympy(ns):
    """dx, the product and D = d/dt + b d/dx + sigma^2/2 d^2/dx^2 - beta (applied twice), with the generator
    matrix sized to the polynomial's own degree (L keeps the degree), against sympy's derivatives."""
    ps, qs = _xp_sym(PHI), _xp_sym(PSI)
    b0, b1, s0, s1 = sp.Rational(1, 2), -1, sp.Rational(3, 10), sp.Rational(1, 5)
    beta = sp.Rational(3, 10)
    D = lambda f: sp.diff(f, t) + (b0 + b1 * x) * sp.diff(f, x) + (s0 + s1 * x) ** 2 / 2 * sp.diff(f, x, 2) - beta * f
    with mpmath.workdps(mt._DPS):
        phi, psi = _xp(ns, PHI), _xp(ns, PSI)
        G = mt._generator_matrix(ns, (b0, b1, s0, s1), phi.degree)
        checks = [
            (phi.dx(), sp.diff(ps, x)), (phi.dx().dx(), sp.diff(ps, x, 2)), (phi.dx().dx().dx(), 0 * x),
            (phi.dx() * psi, sp.diff(ps, x) * qs), (phi * psi, ps * qs),
            (_xp(ns, [[(0, [4])]]).dx() * psi, 0 * x),
            (phi.D(G, ns.num(beta)), D(ps)), (phi.D(G, ns.num(beta)).D(G, ns.num(beta)), D(D(ps))),
            (phi.D(G, ns.num(beta)).dx(), sp.diff(D(ps), x)),
        ]
        for xp, ref in checks:
            _check_xp(xp, sp.expand(ref), ns)
        const = _xp(ns, [[(0, [4])]]).dx()
        assert const.degree == 0
        _check_ep(const.c[0], sp.Integer(0))


# ---------------------------------------------------------------- 40-digit closed forms at resonance


@pytest.mark.parametrize("s1,T", [
    ("1/3", 1.0),      # the rate of E[X^2], 2 b1 + s1^2, is rounding noise (~1e-42), not 0, in 40 digits
    ("1/3", 0.1),      # ... the constants must enter with 40 digits (the noise stays merged with 0)
    ("2/3", 0.1),
    ("100000/9", 0.1),  # noise ~1.5e-33 from rates ~1e8 (still below the 1e-32 merging tolerance)
])
def test_geometric_brownian_motion_with_constant_second_moment(s1, T):
    """dX = -s1^2/2 X dt + s1 X dW: E[X_t^2] = x0^2 e^{(2 b1 + s1^2) t} = x0^2 (Ito), so ml's A for the feature
    x is int_0^T E[X_t^2] dt = T x0^2 (beta = 0); T as the rational sympy makes of the float."""
    s = sp.Rational(s1)
    x0 = 1.5
    A, b = mt.linear_system(mt.Problem(f"-{s**2 / 2}*x", f"{s}*x", "0", 0, 0.0, T, x0), ["x"], "ml")
    ref = float(sp.nsimplify(T, rational=True) * sp.Rational(x0) ** 2)
    assert abs(A[0, 0] - ref) <= fp_tolerance(ref, repetitions=2) and b.tolist() == [0.0]


def _threshold_rate():
    """The merging tolerance 10^-(_DPS - 8) = 1e-32 of _Mp.is_zero as the exact binary number mpmath holds."""
    with mpmath.workdps(mt._DPS):
        thr = mpmath.mpf(10) ** (-(mt._DPS - 8))
    return sp.Rational(int(thr.man)) * sp.Integer(2) ** int(thr.exp)


@pytest.mark.parametrize("rate", [sp.Rational(6, 10**32), "threshold"])
def test_tiny_growth_rates_are_integrated_exactly_over_a_huge_horizon(rate):
    """dX = b1 X dt, x0 = 1: E[X_t^2] = e^{2 b1 t}, A = int_0^T e^{2 b1 t} dt = expm1(2 b1 T) / (2 b1) (mpmath,
    60 digits). With 2 b1 of 6e-32, or exactly the 1e-32 merging tolerance (not below it), and T = 1e20 the
    rate is not 0: 2 b1 T ~ 1e-12 is visible (merging it with 0 gives T e^{2 b1 T}, 2 b1 T / 2 too large)."""
    rate = _threshold_rate() if rate == "threshold" else rate
    T = 1e20
    A, b = mt.linear_system(mt.Problem(f"{rate / 2}*x", "0", "0", 0, 0.0, T, 1.0), ["x"], "ml")
    with mpmath.workdps(60):
        r = mpmath.mpf(rate.p) / rate.q
        ref = float(mpmath.expm1(r * mpmath.mpf(T)) / r)
    assert abs(A[0, 0] - ref) <= fp_tolerance(ref, repetitions=2) and b.tolist() == [0.0]


# ---------------------------------------------------------------- small rates: precision doubled until two tries agree
# The closed form's terms p!/a^{j+1} of int t^p e^{at} cancel to ~T^{p+1}; 40 digits lost all of them at a = 1e-10,
# p = 2 (ml's b came out as -2^31 for 0.35); the system is now recomputed at twice the digits until two tries agree.


def _ou_ml_reference(a, p):
    """dX = a X dt + dW, X_0 = 1, beta = 0, T = 1, r = t^p x, feature x, all exact in sympy (independent of the
    module): E[X_t^2] = e^{2at} + (e^{2at} - 1)/(2a), J = x g(t) with g(t) = int_t^1 s^p e^{a(s - t)} ds, and
    ml's A = int_0^1 E[X_t^2] dt, b = int_0^1 E[X_t^2] g(t) dt, evaluated by evalf (adaptive precision)."""
    s = sp.Symbol("s")
    m2 = sp.exp(2 * a * t) + (sp.exp(2 * a * t) - 1) / (2 * a)
    g = sp.integrate(s**p * sp.exp(a * (s - t)), (s, t, 1))
    A = sp.integrate(sp.expand(m2), (t, 0, 1))
    b = sp.integrate(sp.expand(m2 * g), (t, 0, 1))
    return float(sp.N(A, 30)), float(sp.N(b, 30))


@pytest.mark.parametrize("a", [sp.Rational(1, 10**10), sp.Rational(-1, 10**6), sp.Rational(1, 1000), sp.Rational(3, 2)])
@pytest.mark.parametrize("p", [2, 3])
def test_ml_system_at_small_and_ordinary_rates_against_sympy(a, p):
    """Rates 1e-10, -1e-6, 1e-3 (cancelling at 40 digits) and 3/2: moments, value coefficients and the definite
    integrals, through the precision doubling: the agreed result is within double rounding of the exact one."""
    A, b = mt.linear_system(mt.Problem(f"{a}*x", "1", f"t**{p}*x", 0, 0.0, 1.0, 1.0), ["x"], "ml")
    Ar, br = _ou_ml_reference(a, p)
    assert abs(A[0, 0] - Ar) <= fp_tolerance(Ar, repetitions=2) and abs(b[0] - br) <= fp_tolerance(br, repetitions=2)


@pytest.mark.parametrize("method", ["td_lambda", "td0", "mstd"])
def test_a_rate_of_two_to_the_minus_sixty_gives_the_rate_zero_system(method):
    """dX = 2^-60 X dt + dW against dX = dW (the rate 0, merged exactly): the systems are smooth in the rate with
    derivatives of order 1 here, so they differ by ~1e-18 relative, far below double rounding; the rate 2^-60 is
    well above the 1e-32 merging tolerance, so the small-rate path (td_lambda's eligibility moments included)
    is the one tested."""
    kw = dict(lam=0.5) if method == "td_lambda" else {}
    feats = ["1", "x", "x**2"]
    A0, b0 = mt.linear_system(mt.Problem("0", "1", "t*x**2", "x", 0.3, 1.0, 0.5), feats, method, **kw)
    A, b = mt.linear_system(mt.Problem("x/2**60", "1", "t*x**2", "x", 0.3, 1.0, 0.5), feats, method, **kw)
    scale = max(np.abs(A0).max(), np.abs(b0).max())
    tol = fp_tolerance(scale, dimension=len(feats), repetitions=4)
    assert np.all(np.abs(A - A0) <= tol) and np.all(np.abs(b - b0) <= tol), (A - A0, b - b0)


def test_a_closed_form_that_cancels_beyond_the_most_digits_is_a_clear_error(monkeypatch):
    """dX = X/10^10 dt + dW, r = t^2 x needs 160 digits (40 and 80 disagree, 160 and 320 agree): capped at 80 digits
    the solver says so instead of returning the 80-digit guess; at the cap 160 it returns the exact value."""
    prob = mt.Problem("x/10**10", "1", "t**2*x", 0, 0.0, 1.0, 1.0)
    monkeypatch.setattr(mt, "_MAX_DPS", 80)
    with pytest.raises(ValueError, match=_exact(
            "the 'ml' closed form cancels beyond 80 digits (rates of the moments nearly equal, or near 0 but above "
            "1e-32, over the horizon); supported: rates that differ by more than the horizon's reciprocal times "
            "1e-25, or merge below 1e-32")):
        mt.linear_system(prob, ["x"], "ml")
    monkeypatch.setattr(mt, "_MAX_DPS", 320)
    _, b = mt.linear_system(prob, ["x"], "ml")
    ref = _ou_ml_reference(sp.Rational(1, 10**10), 2)[1]
    assert abs(b[0] - ref) <= fp_tolerance(ref, repetitions=2)


# ---------------------------------------------------------------- mtA: rate merging, the doubling loop and its agreement rule


def test_mp_rates_within_the_merging_tolerance_are_one_rate():
    """_Mp's contract (class docstring): rates closer than 1e-32 are one rate. e^{t/3} - e^{(1/3 + 1e-35) t} is
    then held as one rate with coefficient exactly 0, so its integral over [0, 1] is exactly 0 (kept apart, the
    two terms would leave a difference of order 1e-35)."""
    ns = mt._Mp
    with mpmath.workdps(mt._DPS):
        r = mpmath.mpf(1) / 3
        f = mt._EP.poly(ns, [1]).shift(r) + mt._EP.poly(ns, [-1]).shift(r + mpmath.mpf(10) ** -35)
        ((rate, coefs),) = f.terms.values()
        assert rate == r and coefs == [0]
        assert f.definite(ns.zero, ns.one) == 0


def test_the_continuous_system_emits_no_warnings():
    """The closed-form path (mpmath, the precision doubling and its agreement test) runs warning-free: numpy
    deprecations (e.g. finfo(None), 'will raise an error in the future') would turn into errors later."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A, b = mt.linear_system(mt.Problem("0", "1", "0", 0, 0.0, 1.0, 1.0), ["x"], "ml")
    # dX = dW, X_0 = 1: E[X_t^2] = 1 + t, A = int_0^1 (1 + t) dt = 3/2 (exact in binary), b = 0 (J = 0)
    assert A.tolist() == [[1.5]] and b.tolist() == [0.0]


def test_an_all_zero_system_is_accepted_at_the_first_pair_of_precisions():
    """mstd, infinite horizon, the constant feature 1: the quadratic variation of a constant is 0 and there is no
    terminal term, so A = [[0]], b = [0] exactly. Two tries that are both exactly 0 agree (|u - v| = 0 <= the bound
    0 of an all-zero scale), instead of doubling the digits up to the cap and reporting a cancellation."""
    A, b = mt.linear_system(mt.Problem("0", "1", "x", 0, 1.0, math.inf, 0.0), ["1"], "mstd")
    assert A.tolist() == [[0.0]] and b.tolist() == [0.0]


def test_an_overflowing_matrix_with_a_finite_right_hand_side_is_reported_as_overflow():
    """dX = X dt, X_0 = 1, T = 400, r = h = 0: ml's A = int_0^400 e^{2t} dt = (e^800 - 1)/2 > 1.8e308 = e^709.8
    (inf in double) while b = 0 (J = 0): one non-finite part is enough for the overflow error, not the
    cancellation one (inf - inf never agrees across precisions)."""
    with pytest.raises(ValueError, match=_exact(
            "horizon=400: the 'ml' linear system overflows double precision (the discounted moments "
            "e^(-beta t) E[X_t^n] of the features' degree exceed 1e308 within the horizon); supported: horizons and "
            "discounts for which they stay below 1e308 (a shorter horizon, a larger discount or lower-degree "
            "features)")):
        mt.linear_system(mt.Problem("x", "0", "0", 0, 0.0, 400.0, 1.0), ["x"], "ml")


def _ou_ml_A(a, s):
    """ml's A for dX = a X dt + dW, X_0 = 1, T = 1, feature s x (beta = 0), exact in sympy:
    s^2 int_0^1 (e^{2at} + (e^{2at} - 1)/(2a)) dt."""
    m2 = sp.exp(2 * a * t) + (sp.exp(2 * a * t) - 1) / (2 * a)
    return float(sp.N(s**2 * sp.integrate(sp.expand(m2), (t, 0, 1)), 30))


def _record_tries(monkeypatch):
    """Record each precision's try of the continuous system: a list of (digits, A, b), filled as linear_system runs."""
    tries = []
    inner = mt._continuous_system_mp

    def spy(*args):
        A, b = inner(*args)
        tries.append((mpmath.mp.dps, A.copy(), b.copy()))
        return A, b

    monkeypatch.setattr(mt, "_continuous_system_mp", spy)
    return tries


def _tries_agree(first, second):
    """The documented agreement rule, applied here: entrywise |u - v| <= 2 eps |v| + 1e-32 scale (scale = the largest
    entry of the later try)."""
    eps = np.finfo(float).eps
    scale = max(float(np.abs(v).max()) for v in second[1:])
    return all(np.all(np.abs(u - v) <= 2 * eps * np.abs(v) + 1e-32 * scale) for u, v in zip(first[1:], second[1:]))


@pytest.mark.parametrize("a,feature,s", [
    # 2a = 2e-15: the closed form's 1/(4 a^2) terms cancel ~30 of 40 digits; entries ~1e-20 (a small scale)
    (sp.Rational(1, 10**15), "x/10**10", sp.Rational(1, 10**10)),
    # 2a = 6e-14: 40 digits are off by 4 ulps of A ~ 1.5 (2.67 eps |A|: above 2 eps |A|, below 3 eps |A|)
    (sp.Rational(3, 10**14), "x", sp.Integer(1)),
])
def test_precision_doubles_until_two_tries_agree_to_double_rounding(monkeypatch, a, feature, s):
    """_continuous_system's documented loop: tries at _DPS, 2 _DPS, 4 _DPS, ... digits, each pair compared entrywise
    with |u - v| <= 2 eps |v| + 1e-32 scale (scale = the largest entry of the later try); it returns the later try of
    the first agreeing pair. The tries are recorded; the rule is applied here to them; the result is compared with
    the exact sympy value."""
    tries = _record_tries(monkeypatch)
    A, b = mt.linear_system(mt.Problem(f"{a}*x", "1", "0", 0, 0.0, 1.0, 1.0), [feature], "ml")
    assert [d for d, _, _ in tries] == [mt._DPS * 2**i for i in range(len(tries))]
    assert len(tries) == 3  # the 40-digit try is off (cancellation), the 80-digit one is right to double rounding
    assert [_tries_agree(tries[i], tries[i + 1]) for i in range(len(tries) - 1)] == [False, True]
    assert np.array_equal(A, tries[-1][1]) and np.array_equal(b, tries[-1][2])
    ref = _ou_ml_A(a, s)
    assert abs(A[0, 0] - ref) <= fp_tolerance(ref, repetitions=2) and b.tolist() == [0.0]


def test_precision_doubles_for_an_infinite_horizon_with_nearly_equal_rates(monkeypatch):
    """Infinite horizon: dX = 10^-24 X dt + dW, X_0 = 1, discount 1, feature x^2. ml's A = int_0^oo e^{-2t} E[X_t^4] dt
    sums closed-form integrals of e^{(4a - 2) t}, e^{(2a - 2) t} and e^{-2t} whose coefficients ~ 1/a^2 cancel ~48
    digits: the 40- and 80-digit tries disagree and the third (160 digits) is needed, as in the finite case. Reference:
    the Laplace transform of the moment equations m2' = 2a m2 + 1, m4' = 4a m4 + 6 m2 at s = 2 in exact rationals
    (M2 = (1 + 1/s)/(s - 2a), M4 = (1 + 6 M2)/(s - 4a): no exponentials, nothing cancels)."""
    tries = _record_tries(monkeypatch)
    a = sp.Rational(1, 10**24)
    A, _ = mt.linear_system(mt.Problem("x/10**24", "1", "x", 0, 1.0, math.inf, 1.0), ["x**2"], "ml")
    assert [d for d, _, _ in tries] == [mt._DPS, 2 * mt._DPS, 4 * mt._DPS]
    assert [_tries_agree(tries[i], tries[i + 1]) for i in range(len(tries) - 1)] == [False, True]
    s = sp.Integer(2)
    M2 = (1 + 1 / s) / (s - 2 * a)
    ref = float((1 + 6 * M2) / (s - 4 * a))
    assert abs(A[0, 0] - ref) <= fp_tolerance(ref, repetitions=2)
    # the rival: the 40-digit try, which the doubling rejected, is off by more than that
    assert abs(tries[0][1][0, 0] - ref) > fp_tolerance(ref, repetitions=2)
