r"""Policy evaluation in continuous time by martingales (Jia & Zhou, JMLR 2022, arXiv 2108.06655).

Setting and conventions
-----------------------
A :class:`Problem` is a one-dimensional uncontrolled diffusion and a reward:

    dX_s = b(s, X_s) ds + sigma(s, X_s) dW_s   on [0, T],   X_0 = x0,

running reward ``r(t, x)``, terminal reward ``h(x)``, discount ``beta >= 0``, horizon
``T > 0`` or ``math.inf`` (infinite horizon: then ``h = 0``, ``beta > 0`` and no
expression may depend on ``t``).  Expressions are strings or sympy expressions in
the symbols :data:`t` and :data:`x` (any sympy symbol *named* ``t`` or ``x`` is
identified with them); floats are turned into exact rationals.

* value function (the paper's ``J``):
  ``J(t, x) = E[ int_t^T e^{-beta (s-t)} r(s, X_s) ds + e^{-beta (T-t)} h(X_T) | X_t = x ]``,
  solution of the Feynman--Kac equation ``J_t + b J_x + sigma^2/2 J_xx - beta J + r = 0``,
  ``J(T, .) = h`` (:func:`value_function`, :func:`feynman_kac_residual`);
* the martingale (paper, Theorem 1):
  ``M_t = e^{-beta t} J(t, X_t) + int_0^t e^{-beta s} r(s, X_s) ds``; for a parametric
  family ``J^theta = sum_i theta_i phi_i(t, x)`` (``features``) ``M^theta`` is the same
  with ``J^theta`` in place of ``J``;
* ``L = b d/dx + sigma^2/2 d^2/dx^2`` is the generator, ``D = d/dt + L - beta``.

Exactly solvable class
----------------------
The exact solvers need: drift ``b0 + b1 x`` and diffusion ``s0 + s1 x`` with
constant coefficients (so ``sigma^2`` is quadratic and ``L`` maps polynomials of
degree ``n`` to degree ``n``); rewards and features polynomial in ``x`` with
coefficients polynomial in ``t``.  Anything else raises ``ValueError``.  Then:

* the moments ``m_n(t) = E[X_t^n]`` solve the lower-triangular linear ODE
  ``m' = G^T m`` (``G[k, n]`` = coefficient of ``x^k`` in ``L x^n``), solved by forward
  substitution in closed form: every quantity is an *exponential polynomial*
  ``sum_a e^{a t} p_a(t)`` and is integrated term by term in closed form;
* ``J(t, x) = sum_n a_n(t) x^n`` with ``a' + (G - beta) a + r = 0``, ``a(T) = h``: an
  upper-triangular system solved by backward substitution (exact sympy
  arithmetic); infinite horizon: ``(beta - G) a = r`` (linear algebra), which needs
  ``beta > G[n, n]`` for every ``n <= deg``;
* the continuous-time normal equations are integrals of exponential polynomials
  evaluated **in closed form** (no quadrature) in mpmath with 40 significant digits,
  then 80, 160, ... (at most 640) until two precisions agree to double rounding: the closed
  forms of small or nearly equal rates cancel, and the digits they lose do not depend on the
  precision.

Methods (:func:`solve`, :func:`linear_system`)
----------------------------------------------
``steps=None`` is the continuous-time objective; an integer ``K`` the exact
``K``-step discrete scheme, ``dt = T/K``, ``t_k = k dt``, transitions
``X_{k+1} = X_k + b dt + sigma sqrt(dt) Z`` (``transition="euler"``) or the exact
Gaussian transition of a linear SDE with additive noise (``transition="exact"``,
needs ``s1 = 0``).  Discrete expectations are exact (no Monte Carlo): the
conditional expectation ``E[p(X_{k+1}) | X_k = y]`` of a polynomial is the
polynomial ``p @ P`` (``P[n, j]`` = coefficient of ``y^j`` in ``E[X_{k+1}^n | X_k = y]``,
from ``E[Z^m]``) and ``E[X_k^n]`` propagates as ``mu_{k+1} = P mu_k``.

* ``"ml"`` -- martingale loss ``1/2 E int_0^T |M_T - M^theta_t|^2 dt``.  Since
  ``M_T - M^theta_t = e^{-beta t} (G_t - J^theta(t, X_t))`` (:data:`ML_IDENTITY`, checked
  symbolically) with ``G_t`` the discounted return from ``t`` and ``E[G_t | X_t] = J``,
  the minimiser is the weighted L2 projection of ``J``:
  ``A = E int e^{-2 beta t} phi phi^T dt``, ``c = E int e^{-2 beta t} phi J dt``.
  Discrete: left-Riemann return ``G_k``, weights ``e^{-2 beta t_k} dt``, ``k < K``, with
  ``E[G_k | X_k]`` from the discrete Bellman recursion.
* ``"mstd"`` -- mean-squared TD error ``sum_k E delta_k^2`` with
  ``delta_k = e^{-beta t_{k+1}} J^theta(t_{k+1}, X_{k+1}) - e^{-beta t_k} J^theta(t_k, X_k)
  + e^{-beta t_k} r(t_k, X_k) dt`` and, for the last step, ``e^{-beta T} h(X_K)`` in place
  of the ``J^theta`` term (the terminal reward enters through the last TD error).
  Its ``dt -> 0`` limit is ``E int e^{-2 beta t} (sigma d_x J^theta)^2 dt +
  e^{-2 beta T} E (h - J^theta(T, X_T))^2``: the quadratic variation of ``M^theta``
  plus the terminal mismatch.  The running reward has dropped out: the minimiser
  is biased (does not recover ``J`` in the family) and the bias does not vanish
  as ``dt -> 0`` (the paper's point against MSTDE).  Features without
  ``x``-dependence that are not pinned at ``T`` (any such feature in infinite
  horizon) make this limit singular: ``ValueError``.
* ``"td0"`` / ``"lstd"`` -- test function ``phi``: ``sum_k E[phi(t_k, X_k) delta_k] = 0``;
  limit ``E int phi e^{-beta t} (D J^theta + r) dt + E[phi(T, X_T) e^{-beta T} (h - J^theta(T, X_T))] = 0``.
  Identical here (the simulation distinguishes online TD(0) from the LSTD solve).
* ``"td_lambda"`` -- trace ``xi_k = sum_{j <= k} lam^{t_k - t_j} phi(t_j, X_j) dt``
  (``lam`` in (0, 1) per unit time), limit ``xi_t = int_0^t lam^{t-s} phi ds``;
  conditions ``sum_k E[xi_k delta_k] = 0`` / ``E int xi dM^theta + E[xi_T e^{-beta T} (h - J^theta_T)] = 0``.
  ``E[xi_t X_t^n]`` solves a triangular linear ODE driven by the moments.
* ``"gtd"`` -- least squares on the conditions ``sum_k E[psi(t_k, X_k) delta_k]`` for
  ``test_functions`` ``psi`` (default the features, then equal to td0), ``W = I``.

Every linear system is reported as ``(A, b)`` with ``theta = argmin |A theta - b|``
(a square solve except gtd); a (numerically) singular ``A`` raises ``ValueError``.
Infinite horizon (time-free features): the discrete scheme has step ``dt`` and every sum
runs over ``k = 0, 1, 2, ...`` (no last step, no terminal term), in closed form:
``sum_k a^k mu_k = (I - a P)^{-1} mu_0`` (``a = e^{-beta dt}`` for the TD conditions,
``e^{-2 beta dt}`` for ml/mstd), ml's ``E[G_k | X_k] = v`` from ``v = r dt + e^{-beta dt} v P``.
It needs the spectral radius ``max_n |a P[n, n]|`` < 1 on the moments used, else
``ValueError``.  ``steps=K`` means ``dt = truncation / K`` with ``truncation`` defaulting
to ``54 ln 2 / beta`` (:func:`default_truncation`): the grid of
``simulations.martingale_td.run_algorithms(..., horizon=math.inf, steps=K)``, whose sums
stop at ``K`` (relative truncation error ``~ 2^-54`` times the moments' growth); pass the
same ``truncation=`` to both, or ``dt=`` here.

The paper's abstract states the qualitative results checked here (MSTD approximates
the quadratic variation and is unsuitable; the martingale loss gives the
mean-square best approximation; test functions recover TD(lambda), LSTD and
GTD; discretised algorithms converge to their continuous-time limits with a
rate).  Its theorem numbers and the exact rate could not be read from the
sources available to this project: the formulas above are derived here, and
the observed order (first order in ``dt`` for every method under Euler or exact
transitions) comes from :func:`convergence_rate`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from ._checks import integer as _int
from ._checks import real as _real

#: time and state symbols of every expression
t = sp.Symbol("t", real=True)
x = sp.Symbol("x", real=True)

METHODS = ("ml", "mstd", "td0", "lstd", "td_lambda", "gtd")
TRANSITIONS = ("euler", "exact")
_DPS = 40  # mpmath digits of the continuous-time closed forms (the first try; doubled until two tries agree)
#: the most digits the continuous-time closed forms are tried at
_MAX_DPS = 640
#: infinite horizon, ``steps=K``: ``dt = TRUNCATION_BITS ln 2 / (beta K)``, the simulation's grid
#: (``simulations.martingale_td.TRUNCATION_BITS``, equal by test)
TRUNCATION_BITS = 54
#: the most steps ``K`` of the finite-horizon exact K-step solver (one pass per step: linear time and memory)
MAX_STEPS = 10**6
#: the highest degree :func:`moments` builds (exact sympy expressions grow fast with the degree)
MAX_DEGREE = 100

# --------------------------------------------------------------------------- the ML identity (symbolic)

_beta, _T = sp.symbols("beta T", nonnegative=True)
_hT, _Jth, _It, _IT = sp.symbols("h_T J_theta I_t I_T", real=True)
#: M_T = e^{-beta T} h(X_T) + I_T with I_u = int_0^u e^{-beta s} r(s, X_s) ds
MARTINGALE_TERMINAL = sp.exp(-_beta * _T) * _hT + _IT
#: M^theta_t = e^{-beta t} J^theta(t, X_t) + I_t
MARTINGALE_THETA = sp.exp(-_beta * t) * _Jth + _It
#: G_t = int_t^T e^{-beta (s - t)} r ds + e^{-beta (T - t)} h(X_T) = e^{beta t} (I_T - I_t) + e^{-beta (T - t)} h_T
DISCOUNTED_RETURN = sp.exp(_beta * t) * (_IT - _It) + sp.exp(-_beta * (_T - t)) * _hT
#: M_T - M^theta_t - e^{-beta t} (G_t - J^theta): simplifies to 0 (tested)
ML_IDENTITY = MARTINGALE_TERMINAL - MARTINGALE_THETA - sp.exp(-_beta * t) * (DISCOUNTED_RETURN - _Jth)


# --------------------------------------------------------------------------- problems

def _parse(name, value, *, allow_t=True):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an expression in t and x, got {value!r}")
    try:
        if isinstance(value, str):
            expr = sp.sympify(value, locals={"t": t, "x": x}, rational=True)
        else:
            expr = sp.sympify(value)
    except (sp.SympifyError, SyntaxError, TypeError, ValueError, AttributeError):
        raise ValueError(f"{name} must be an expression in t and x, could not parse {value!r}") from None
    if not isinstance(expr, sp.Expr):
        raise TypeError(f"{name} must be an expression in t and x, got {value!r}")
    expr = expr.subs({s: (t if s.name == "t" else x) for s in expr.free_symbols
                      if isinstance(s, sp.Symbol) and s.name in ("t", "x") and s not in (t, x)})
    extra = expr.free_symbols - {t, x}
    if extra:
        raise ValueError(f"{name} may use only the symbols t and x, got {sorted(map(str, extra))}")
    if not allow_t and t in expr.free_symbols:
        raise ValueError(f"{name} must not depend on t for an infinite horizon, got {expr}")
    expr = sp.nsimplify(expr, rational=True) if expr.atoms(sp.Float) else expr
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise ValueError(f"{name} must be finite, got {expr}")
    if any(isinstance(s, sp.Expr) and not s.free_symbols and s.is_real is False for s in sp.preorder_traversal(expr)):
        raise ValueError(f"{name} must be a real expression in t and x (no complex constants), got {expr}")
    return expr


@dataclass(frozen=True)
class Problem:
    """``dX = b dt + sigma dW`` on ``[0, T]``, ``X_0 = x0``, rewards ``r``, ``h``, discount ``beta`` (module docstring)."""

    drift: object
    diffusion: object
    running_reward: object = 0
    terminal_reward: object = 0
    discount: float = 0.0
    horizon: float = 1.0
    x0: float = 0.0

    def __post_init__(self):
        beta = _real("discount", self.discount, low=0.0)
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, numbers.Real) or math.isnan(self.horizon):
            raise ValueError(f"horizon must be a real number > 0 or math.inf, got {self.horizon!r}")
        if self.horizon <= 0:
            raise ValueError(f"horizon must be > 0 or math.inf, got {self.horizon!r}")
        infinite = math.isinf(self.horizon)
        x0 = _real("x0", self.x0)
        fields = {}
        for name in ("drift", "diffusion", "running_reward", "terminal_reward"):
            fields[name] = _parse(name, getattr(self, name), allow_t=not infinite)
        if infinite:
            if beta <= 0:
                raise ValueError(f"discount must be > 0 for an infinite horizon, got {self.discount!r}")
            if fields["terminal_reward"] != 0:
                raise ValueError("terminal_reward must be 0 for an infinite horizon")
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "discount", beta)
        object.__setattr__(self, "horizon", math.inf if infinite else float(self.horizon))
        object.__setattr__(self, "x0", x0)

    @property
    def infinite(self) -> bool:
        return math.isinf(self.horizon)

    @property
    def generator(self):
        """``L`` as a function of a sympy expression: ``b f_x + sigma^2/2 f_xx``."""
        return lambda f: self.drift * sp.diff(f, x) + self.diffusion**2 / 2 * sp.diff(f, x, 2)


def _check_problem(problem):
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a theory.martingale_td.Problem, got {type(problem).__name__}")
    return problem


def _dynamics(problem):
    """``(b0, b1, s0, s1)`` as sympy rationals, or ValueError outside the exactly solvable class."""
    out = []
    for name in ("drift", "diffusion"):
        e = sp.expand(getattr(problem, name))
        if t in e.free_symbols or not e.is_polynomial(x) or sp.degree(e, x) > 1:
            raise ValueError(f"{name} must be affine in x with constant coefficients for the exact solvers, got {e}")
        out += [e.coeff(x, 0), e.coeff(x, 1)]
    return tuple(out)


def _xt_coeffs(name, expr):
    """Coefficients ``c[n][p]`` of ``x^n t^p`` (sympy rationals), or ValueError if not a polynomial."""
    e = sp.expand(expr)
    if not (e.is_polynomial(x) and e.is_polynomial(t)):
        raise ValueError(f"{name} must be a polynomial in x with coefficients polynomial in t "
                         f"for the exact solvers, got {expr}")
    poly = sp.Poly(e, x, t)
    dx = poly.degree(x) if not poly.is_zero else 0
    out = [[] for _ in range(max(dx, 0) + 1)]
    for (n, p), c in poly.terms():
        row = out[n]
        row.extend([sp.Integer(0)] * (p + 1 - len(row)))
        row[p] = c
    return out


# --------------------------------------------------------------------------- exponential polynomials

class _Sym:
    """Exact sympy arithmetic."""

    zero, one = sp.Integer(0), sp.Integer(1)

    @staticmethod
    def num(v):
        return sp.sympify(v)

    exp = staticmethod(sp.exp)

    @staticmethod
    def key(a):
        return sp.expand(a)

    @staticmethod
    def is_zero(v):
        return sp.expand(v) == 0


with mpmath.workdps(_DPS):
    #: rates closer than this are one rate (rounding noise of the constants at _DPS digits), held as one exact
    #: binary number so that every working precision merges the same rates
    _MERGE = mpmath.mpf(10) ** (-(_DPS - 8))


class _Mp:
    """mpmath arithmetic at the working precision (rates within 1e-32 are merged, at every precision)."""

    zero, one = mpmath.mpf(0), mpmath.mpf(1)

    @staticmethod
    def num(v):  # every constant is real (_parse rejects complex ones)
        if isinstance(v, sp.Basic):
            return mpmath.mpf(sp.N(v, mpmath.mp.dps + 10))
        return mpmath.mpf(v)

    exp = staticmethod(mpmath.exp)

    @staticmethod
    def key(a):
        return a

    @staticmethod
    def is_zero(v):
        return abs(v) < _MERGE


class _EP:
    """``sum_a exp(a t) sum_p c[a][p] t^p`` over a number system ``ns``."""

    __slots__ = ("ns", "terms")

    def __init__(self, ns, terms=None):
        self.ns = ns
        self.terms = terms if terms is not None else {}  # key -> [rate, coefs]

    @classmethod
    def poly(cls, ns, coefs):
        return cls(ns, {ns.key(ns.zero): [ns.zero, [ns.num(c) for c in coefs]]}) if coefs else cls(ns)

    @classmethod
    def const(cls, ns, c):
        return cls.poly(ns, [c])

    def _slot(self, rate):
        ns = self.ns
        if ns is _Mp:
            for k, (a, c) in self.terms.items():
                if ns.is_zero(a - rate):
                    return c
            self.terms[rate] = [rate, []]
            return self.terms[rate][1]
        k = ns.key(rate)
        if k not in self.terms:
            self.terms[k] = [k, []]
        return self.terms[k][1]

    def _add_term(self, rate, p, c):
        coefs = self._slot(rate)
        coefs.extend([self.ns.zero] * (p + 1 - len(coefs)))
        coefs[p] = coefs[p] + c

    def copy(self):
        return _EP(self.ns, {k: [a, list(c)] for k, (a, c) in self.terms.items()})

    def __add__(self, other):
        out = self.copy()
        for a, c in other.terms.values():
            for p, v in enumerate(c):
                out._add_term(a, p, v)
        return out

    def scale(self, s):
        return _EP(self.ns, {k: [a, [v * s for v in c]] for k, (a, c) in self.terms.items()})

    def __sub__(self, other):
        return self + other.scale(-self.ns.one)

    def __mul__(self, other):
        out = _EP(self.ns)
        for a, c in self.terms.values():
            for b, d in other.terms.values():
                for p, u in enumerate(c):
                    for q, v in enumerate(d):
                        out._add_term(a + b, p + q, u * v)
        return out

    def shift(self, rate):
        """Multiply by ``exp(rate t)``."""
        out = _EP(self.ns)
        for a, c in self.terms.values():
            for p, v in enumerate(c):
                out._add_term(a + rate, p, v)
        return out

    def diff(self):
        out = _EP(self.ns)
        for a, c in self.terms.values():
            for p, v in enumerate(c):
                out._add_term(a, p, a * v)
                if p:
                    out._add_term(a, p - 1, p * v)
        return out

    def antiderivative(self):
        """An antiderivative, term by term: ``int t^p e^{at} = e^{at} sum_j (-1)^j p!/(p-j)! t^{p-j} / a^{j+1}``."""
        ns, out = self.ns, _EP(self.ns)
        for a, c in self.terms.values():
            for p, v in enumerate(c):
                if ns.is_zero(a):
                    out._add_term(a, p + 1, v / (p + 1) if ns is _Mp else v / sp.Integer(p + 1))
                    continue
                fall = ns.one
                for j in range(p + 1):
                    out._add_term(a, p - j, (-1) ** j * fall * v / a ** (j + 1))
                    fall = fall * (p - j)
        return out

    def at(self, value):
        ns = self.ns
        total = ns.zero
        for a, c in self.terms.values():
            e = ns.exp(a * value)
            total = total + e * sum((v * value**p for p, v in enumerate(c)), ns.zero)
        return total

    def integral_from(self, lo):
        """``int_lo^t f`` as a function of ``t``."""
        F = self.antiderivative()
        return F - _EP.const(self.ns, F.at(lo))

    def integral_to(self, hi):
        """``int_t^hi f`` as a function of ``t``."""
        F = self.antiderivative()
        return _EP.const(self.ns, F.at(hi)) - F

    def definite(self, lo, hi):
        """``int_lo^hi f`` (``hi`` may be ``math.inf``: every live rate must then be negative)."""
        F = self.antiderivative()
        if isinstance(hi, float) and math.isinf(hi):
            for a, c in F.terms.values():
                if any(not self.ns.is_zero(v) for v in c) and not (self.ns.num(a).real < 0):
                    raise ValueError("the infinite-horizon integral diverges: the moments grow at rate "
                                     f"{float(self.ns.num(a).real)} >= the discount rate")
            return -F.at(lo)
        return F.at(hi) - F.at(lo)

    def to_sympy(self, var):
        return sp.Add(*[sp.exp(a * var) * sp.Add(*[v * var**p for p, v in enumerate(c)])
                        for a, c in self.terms.values()])


class _XP:
    """Polynomial in x with exponential-polynomial coefficients: list index = power of x."""

    def __init__(self, ns, coefs):
        self.ns = ns
        self.c = list(coefs)

    @classmethod
    def from_expr(cls, ns, name, expr):
        return cls(ns, [_EP.poly(ns, row) for row in _xt_coeffs(name, expr)])

    @property
    def degree(self):
        return len(self.c) - 1

    def __mul__(self, other):
        out = [_EP(self.ns) for _ in range(len(self.c) + len(other.c) - 1)]
        for i, a in enumerate(self.c):
            for j, b in enumerate(other.c):
                out[i + j] = out[i + j] + a * b
        return _XP(self.ns, out)

    def dx(self):
        return _XP(self.ns, [c.scale(self.ns.num(n)) for n, c in enumerate(self.c)][1:] or [_EP(self.ns)])

    def D(self, G, beta):
        """``(d/dt + L - beta) f`` with ``G[k, n]`` the generator's matrix."""
        out = [c.diff() + c.scale(-beta) for c in self.c]
        for n, c in enumerate(self.c):
            for k in range(max(0, n - 2), n + 1):
                if not self.ns.is_zero(G[k][n]):
                    out[k] = out[k] + c.scale(G[k][n])
        return _XP(self.ns, out)


def _generator_matrix(ns, dyn, degree):
    b0, b1, s0, s1 = (ns.num(v) for v in dyn)
    G = [[ns.zero] * (degree + 1) for _ in range(degree + 1)]
    for n in range(degree + 1):
        G[n][n] = n * b1 + n * (n - 1) * s1 * s1 / 2
        if n >= 1:
            G[n - 1][n] = n * b0 + n * (n - 1) * s0 * s1
        if n >= 2:
            G[n - 2][n] = n * (n - 1) * s0 * s0 / 2
    return G


def _moments(ns, problem, degree):
    """``m_n(t) = E[X_t^n]``, ``n <= degree``: forward substitution in ``m' = G^T m``."""
    G = _generator_matrix(ns, _dynamics(problem), degree)
    x0 = ns.num(sp.nsimplify(problem.x0, rational=True))
    m = []
    for n in range(degree + 1):
        c = G[n][n]
        f = _EP(ns)
        for k in range(max(0, n - 2), n):
            f = f + m[k].scale(G[k][n])
        inner = f.shift(-c).integral_from(ns.zero) + _EP.const(ns, x0**n)
        m.append(inner.shift(c))
    return m


def _value_coeffs(ns, problem):
    """Coefficients ``a_n(t)`` of ``J = sum a_n x^n`` (exponential polynomials)."""
    r = _XP.from_expr(ns, "running_reward", problem.running_reward)
    h = _XP.from_expr(ns, "terminal_reward", problem.terminal_reward)
    N = max(r.degree, h.degree)
    G = _generator_matrix(ns, _dynamics(problem), N)
    beta = ns.num(sp.nsimplify(problem.discount, rational=True))
    a = [None] * (N + 1)
    if problem.infinite:
        for k in range(N, -1, -1):
            gap = beta - G[k][k]
            if float(ns.num(gap)) <= 0:
                raise ValueError(f"discount must exceed the growth rate {float(ns.num(G[k][k]))} of E[X^{k}] "
                                 "for the infinite-horizon value to be finite")
            rhs = r.c[k].at(ns.zero) if k < len(r.c) else ns.zero
            for n in range(k + 1, N + 1):
                rhs = rhs + G[k][n] * a[n].at(ns.zero)
            a[k] = _EP.const(ns, rhs / gap)
        return a
    T = ns.num(sp.nsimplify(problem.horizon, rational=True))
    for k in range(N, -1, -1):
        c = beta - G[k][k]
        f = r.c[k] if k < len(r.c) else _EP(ns)
        for n in range(k + 1, N + 1):
            f = f + a[n].scale(G[k][n])
        hk = h.c[k].at(T) if k < len(h.c) else ns.zero
        a[k] = f.shift(-c).integral_to(T).shift(c) + _EP.const(ns, hk * ns.exp(-c * T)).shift(c)
    return a


def value_function(problem):
    """``J(t, x)`` (sympy; a function of ``x`` only for an infinite horizon), from Feynman--Kac.

    Polynomial ansatz in ``x`` of the rewards' degree; the coefficients solve the
    triangular linear ODE ``a' + (G - beta) a + r = 0``, ``a(T) = h``, by backward
    substitution in exact arithmetic (infinite horizon: ``(beta - G) a = r``).
    Memoized per problem.
    """
    _check_problem(problem)  # before the memo, which would fail on an unhashable argument
    return _value_function(problem)


@lru_cache(maxsize=64)
def _value_function(problem):
    a = _value_coeffs(_Sym, problem)
    return sp.expand(sp.Add(*[c.to_sympy(t) * x**n for n, c in enumerate(a)]))


def feynman_kac_residual(problem, J):
    """``J_t + b J_x + sigma^2/2 J_xx - beta J + r``, simplified (0 for the value function)."""
    _check_problem(problem)
    J = _parse("J", J, allow_t=True)
    beta = sp.nsimplify(problem.discount, rational=True)
    return sp.simplify(sp.diff(J, t) + problem.generator(J) - beta * J + problem.running_reward)


def moments(problem, degree):
    """``[E[X_t^0], ..., E[X_t^degree]]`` as sympy expressions in ``t`` (closed form)."""
    _check_problem(problem)
    degree = _int("degree", degree, 0)
    if degree > MAX_DEGREE:
        raise ValueError(f"degree must be an integer in [0, {MAX_DEGREE}] (exact moments of higher degree are "
                         f"too large to build), got {degree}")
    return [sp.expand(m.to_sympy(t)) for m in _moments(_Sym, problem, degree)]


# --------------------------------------------------------------------------- method arguments

def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return method


def _features(name, features, problem):
    if isinstance(features, (str, sp.Basic)) or not hasattr(features, "__iter__"):
        raise ValueError(f"{name} must be a non-empty list of expressions in t and x, got {features!r}")
    feats = [_parse(f"{name}[{i}]", f, allow_t=not problem.infinite) for i, f in enumerate(features)]
    if not feats:
        raise ValueError(f"{name} must be a non-empty list of expressions in t and x")
    for i, f in enumerate(feats):
        _xt_coeffs(f"{name}[{i}]", f)
    return tuple(feats)


def _step_size(problem, steps, dt, truncation):
    """``(steps, dt)`` of the discrete scheme (``(None, None)``: continuous time); module docstring."""
    if steps is not None:
        steps = _int("steps", steps, 1)
    if not problem.infinite:
        if dt is not None or truncation is not None:
            raise ValueError("dt and truncation apply to an infinite horizon only; a finite horizon T "
                             "uses steps=K (dt = T/K)")
        if steps is not None and steps > MAX_STEPS:
            # integers printed in full: K = 1000001 must not read as 1e+06 against the limit 1e+06
            raise ValueError(f"steps: K = {steps} exceeds the {MAX_STEPS} steps the exact K-step solver "
                             f"supports (one pass per step; dt = T/K must be >= T/{MAX_STEPS} = "
                             f"{problem.horizon / MAX_STEPS:.3g})")
        return steps, (None if steps is None else problem.horizon / steps)
    if dt is not None:
        if steps is not None or truncation is not None:
            raise ValueError("give either dt or steps (with an optional truncation) for an infinite horizon, not both")
        return None, _real("dt", dt, low=0.0, low_open=True)
    if truncation is not None:
        if steps is None:
            raise ValueError("truncation needs steps: dt = truncation / steps")
        truncation = _real("truncation", truncation, low=0.0, low_open=True)
    if steps is None:
        return None, None
    return steps, default_truncation(problem.discount) / steps if truncation is None else truncation / steps


def default_truncation(discount):
    """``54 ln 2 / beta``: the simulation's default truncation time (``e^{-beta T} = 2^-54``)."""
    return TRUNCATION_BITS * math.log(2.0) / _real("discount", discount, low=0.0, low_open=True)


def _common(problem, features, method, steps, lam, test_functions, transition):
    _check_problem(problem)
    method = _check_method(method)
    feats = _features("features", features, problem)
    if steps is not None:
        steps = _int("steps", steps, 1)
    if transition not in TRANSITIONS:
        raise ValueError(f"transition must be one of {', '.join(TRANSITIONS)}; got {transition!r}")
    if method == "td_lambda":
        if lam is None:
            raise ValueError("lam is required for td_lambda: the trace decay per unit time, in (0, 1)")
        lam = _real("lam", lam, low=0.0, low_open=True, high=1.0, high_open=True)
    elif lam is not None:
        lam = _real("lam", lam, low=0.0, low_open=True, high=1.0, high_open=True)
    if test_functions is not None and method != "gtd":
        raise ValueError("test_functions is only used by method 'gtd'")
    tests = feats if test_functions is None else _features("test_functions", test_functions, problem)
    if method == "gtd" and len(tests) < len(feats):
        raise ValueError(f"test_functions must number at least the features ({len(feats)}), got {len(tests)}")
    _dynamics(problem)
    for name in ("running_reward", "terminal_reward"):
        _xt_coeffs(name, getattr(problem, name))
    return method, feats, steps, lam, tests


# --------------------------------------------------------------------------- continuous time

def _continuous_system(problem, feats, method, lam, tests):
    """The closed-form system at _DPS digits, then at twice as many until two tries agree (to the double rounding
    of each entry, or to 10^-32 of the system's scale, the rate-merging level, for entries that are 0 but for
    rounding).

    The exponential polynomials cancel: ``int t^p e^{at}`` has terms ``p!/a^{j+1}`` (and nested integrals of a
    small rate ``a`` powers of ``1/a``) that sum to far less, so a fixed precision loses every digit for a small
    enough rate (``dX = X/10^10 dt + dW`` gave ml's ``b = -2^31`` for ``0.35`` at 40 digits). The lost digits do
    not depend on the precision, so doubling it recovers them; ``ValueError`` when _MAX_DPS digits do not.
    """
    prev, dps = None, _DPS
    while True:
        with mpmath.workdps(dps):
            A, b = _continuous_system_mp(problem, feats, method, lam, tests)
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            return A, b  # beyond double precision at any number of digits: linear_system says so
        if prev is not None and _agree(prev, (A, b)):
            return A, b
        if dps >= _MAX_DPS:
            raise ValueError(f"the {method!r} closed form cancels beyond {_MAX_DPS} digits (rates of the moments "
                             "nearly equal, or near 0 but above 1e-32, over the horizon); supported: rates that "
                             "differ by more than the horizon's reciprocal times 1e-25, or merge below 1e-32")
        prev, dps = (A, b), 2 * dps


def _agree(first, second):
    """Entrywise ``|u - v| <= 2 eps |v| + 10^-32 scale`` for the pairs (A, b) of two precisions."""
    eps = np.finfo(float).eps
    scale = max(max(float(np.abs(v).max()) for v in second if v.size), np.finfo(float).tiny)
    return all(np.all(np.abs(u - v) <= 2 * eps * np.abs(v) + 1e-32 * scale) for u, v in zip(first, second))


def _continuous_system_mp(problem, feats, method, lam, tests):
    ns = _Mp
    phis = [_XP.from_expr(ns, f"features[{i}]", f) for i, f in enumerate(feats)]
    psis = [_XP.from_expr(ns, f"test_functions[{i}]", f) for i, f in enumerate(tests)]
    r = _XP.from_expr(ns, "running_reward", problem.running_reward)
    h = _XP.from_expr(ns, "terminal_reward", problem.terminal_reward)
    dmax = max([p.degree for p in phis + psis] + [r.degree, h.degree])
    mom = _moments(ns, problem, 2 * dmax + 2)
    G = _generator_matrix(ns, _dynamics(problem), 2 * dmax + 2)
    beta = ns.num(sp.nsimplify(problem.discount, rational=True))
    T = problem.horizon if problem.infinite else ns.num(sp.nsimplify(problem.horizon, rational=True))
    finite = not problem.infinite

    def E(p):  # E[p(t, X_t)] as an exponential polynomial in t
        out = _EP(ns)
        for n, c in enumerate(p.c):
            out = out + c * mom[n]
        return out

    def integral(p, rate):  # int_0^T e^{-rate t} E[p(t, X_t)] dt
        return E(p).shift(-rate).definite(ns.zero, T)

    def at_T(p, rate):
        return E(p).at(T) * ns.exp(-rate * T)

    n, m = len(phis), len(psis)
    A = np.zeros((m, n))
    b = np.zeros(m)
    if method == "ml":
        Jc = _XP(ns, _value_coeffs(ns, problem))
        for i in range(n):
            for j in range(n):
                A[i, j] = float(integral(phis[i] * phis[j], 2 * beta))
            b[i] = float(integral(phis[i] * Jc, 2 * beta))
    elif method == "mstd":
        dyn = _dynamics(problem)
        sig = _XP(ns, [_EP.const(ns, ns.num(dyn[2])), _EP.const(ns, ns.num(dyn[3]))])
        s2 = sig * sig
        for i in range(n):
            for j in range(n):
                v = integral(s2 * phis[i].dx() * phis[j].dx(), 2 * beta)
                if finite:
                    v = v + at_T(phis[i] * phis[j], 2 * beta)
                A[i, j] = float(v)
            b[i] = float(at_T(phis[i] * h, 2 * beta)) if finite else 0.0
    elif method in ("td0", "lstd", "gtd"):
        Dphi = [p.D(G, beta) for p in phis]
        for i in range(m):
            for j in range(n):
                v = -integral(psis[i] * Dphi[j], beta)
                if finite:
                    v = v + at_T(psis[i] * phis[j], beta)
                A[i, j] = float(v)
            v = integral(psis[i] * r, beta)
            if finite:
                v = v + at_T(psis[i] * h, beta)
            b[i] = float(v)
    else:  # td_lambda
        Dphi = [p.D(G, beta) for p in phis]
        loglam = mpmath.log(mpmath.mpf(lam))
        for i in range(m):
            # u_n(t) = E[xi_t X_t^n]: u' = (G^T + log lam) u + E[phi_i X^n], u(0) = 0
            u = []
            for k in range(dmax + 1):
                c = G[k][k] + loglam
                f = E(psis[i] * _XP(ns, [_EP(ns)] * k + [_EP.const(ns, ns.one)]))
                for q in range(max(0, k - 2), k):
                    f = f + u[q].scale(G[q][k])
                u.append(f.shift(-c).integral_from(ns.zero).shift(c))

            def Exi(p, u=u):  # E[xi_t p(t, X_t)]
                out = _EP(ns)
                for k, c in enumerate(p.c):
                    out = out + c * u[k]
                return out

            for j in range(n):
                v = -Exi(Dphi[j]).shift(-beta).definite(ns.zero, T)
                if finite:
                    v = v + Exi(phis[j]).at(T) * ns.exp(-beta * T)
                A[i, j] = float(v)
            v = Exi(r).shift(-beta).definite(ns.zero, T)
            if finite:
                v = v + Exi(h).at(T) * ns.exp(-beta * T)
            b[i] = float(v)
    return A, b


# --------------------------------------------------------------------------- discrete time

def _coef_fn(name, expr, size):
    rows = _xt_coeffs(name, expr)
    if len(rows) > size:
        raise AssertionError("degree bookkeeping")
    polys = [np.array([float(c) for c in row][::-1] or [0.0]) for row in rows]

    def at(tk):
        out = np.zeros(size)
        for n, p in enumerate(polys):
            out[n] = np.polyval(p, tk)
        return out
    return at


def _transition_matrix(dyn, dt, size, transition):
    b0, b1, s0, s1 = (float(v) for v in dyn)
    if transition == "euler":
        mean = np.array([b0 * dt, 1.0 + b1 * dt])
        sd = math.sqrt(dt) * np.array([s0, s1])
    else:
        if s1 != 0.0:
            raise ValueError("transition='exact' needs additive noise (diffusion not depending on x)")
        if b1 == 0.0:
            mean, var = np.array([b0 * dt, 1.0]), s0 * s0 * dt
        else:
            mean = np.array([b0 * math.expm1(b1 * dt) / b1, math.exp(b1 * dt)])
            var = s0 * s0 * math.expm1(2 * b1 * dt) / (2 * b1)
        sd = np.array([math.sqrt(var), 0.0])
    P = np.zeros((size, size))
    pw_mean = [np.array([1.0])]
    pw_sd = [np.array([1.0])]
    for _ in range(size):
        pw_mean.append(np.convolve(pw_mean[-1], mean))
        pw_sd.append(np.convolve(pw_sd[-1], sd))
    for n in range(size):
        row = np.zeros(size)
        for q in range(0, n + 1, 2):  # E[Z^q] = (q-1)!!
            zq = float(np.prod(np.arange(q - 1, 0, -2))) if q else 1.0
            term = math.comb(n, q) * zq * np.convolve(pw_mean[n - q], pw_sd[q])
            row[:term.size] += term[:size]
        P[n] = row
    return P


def _discrete_system(problem, feats, method, steps, lam, tests, transition):
    dmax = max(_xt_coeffs_degree(f) for f in feats + tests)
    dmax = max(dmax, _xt_coeffs_degree(problem.running_reward), _xt_coeffs_degree(problem.terminal_reward))
    size = 2 * dmax + 3
    T, K, beta = problem.horizon, steps, problem.discount
    dt = T / K
    tk = np.arange(K + 1) * dt
    disc = np.exp(-beta * tk)
    P = _transition_matrix(_dynamics(problem), dt, size, transition)
    mu = np.zeros((K + 1, size))
    mu[0] = problem.x0 ** np.arange(size)
    for k in range(K):
        mu[k + 1] = P @ mu[k]
    phi = [_coef_fn(f"features[{i}]", f, size) for i, f in enumerate(feats)]
    psi = [_coef_fn(f"test_functions[{i}]", f, size) for i, f in enumerate(tests)]
    rfun = _coef_fn("running_reward", problem.running_reward, size)
    hvec = _coef_fn("terminal_reward", problem.terminal_reward, size)(T)

    def mul(a, c):
        out = np.convolve(a, c)
        return out[:size]  # degrees are bounded by construction

    n, m = len(feats), len(tests)
    A = np.zeros((m, n))
    b = np.zeros(m)
    if method == "ml":
        v = hvec.copy()
        for k in range(K - 1, -1, -1):
            v = rfun(tk[k]) * dt + math.exp(-beta * dt) * (v @ P)
            w = disc[k] ** 2 * dt
            ph = [f(tk[k]) for f in phi]
            for i in range(n):
                for j in range(n):
                    A[i, j] += w * mul(ph[i], ph[j]) @ mu[k]
                b[i] += w * mul(ph[i], v) @ mu[k]
        return A, b

    # TD errors as pairs (f at X_k, g at X_{k+1}); delta_k = sum_j theta_j psi_kj + rho_k
    def pairs(k):
        last = k == K - 1
        fs = [-disc[k] * f(tk[k]) for f in phi]
        gs = [np.zeros(size) if last else disc[k + 1] * f(tk[k + 1]) for f in phi]
        rf = disc[k] * rfun(tk[k]) * dt
        rg = disc[K] * hvec if last else np.zeros(size)
        return fs, gs, rf, rg

    if method == "mstd":
        for k in range(K):
            fs, gs, rf, rg = pairs(k)
            fs, gs = fs + [rf], gs + [rg]
            gbar = [g @ P for g in gs]

            def pair_exp(a, c, fs=fs, gs=gs, gbar=gbar, k=k):  # E[(f_a + g_a)(f_c + g_c)] at step k
                return (mul(fs[a], fs[c]) + mul(fs[a], gbar[c]) + mul(fs[c], gbar[a])) @ mu[k] \
                    + mul(gs[a], gs[c]) @ mu[k + 1]
            for i in range(n):
                for j in range(n):
                    A[i, j] += pair_exp(i, j)
                b[i] -= pair_exp(i, n)
        return A, b

    # conditions sum_k E[test_k * delta_k] = B theta + d;   A = -B, b = d
    if method == "td_lambda":
        decay = lam ** dt
        wtr = [np.zeros(dmax + 1) for _ in range(m)]
    for k in range(K):
        fs, gs, rf, rg = pairs(k)
        Fbar = [f + g @ P for f, g in zip(fs, gs)]
        Rbar = rf + rg @ P
        if method == "td_lambda":
            for i in range(m):
                # w_k[q] = E[xi_k X_k^q];  xi_k = decay xi_{k-1} + psi(t_k, X_k) dt
                ps = psi[i](tk[k])
                force = np.array([ps[:size - q] @ mu[k][q:] for q in range(dmax + 1)])
                wtr[i] = (decay * (P[:dmax + 1, :dmax + 1] @ wtr[i]) if k else 0.0) + dt * force
                for j in range(n):
                    A[i, j] -= Fbar[j][:dmax + 1] @ wtr[i]
                b[i] += Rbar[:dmax + 1] @ wtr[i]
        else:
            for i in range(m):
                ps = psi[i](tk[k])
                for j in range(n):
                    A[i, j] -= mul(ps, Fbar[j]) @ mu[k]
                b[i] += mul(ps, Rbar) @ mu[k]
    return A, b


def _geometric(P, a, size, what):
    """``(I - a P)^{-1}`` on the moments of degree ``< size`` (``P`` lower triangular: the block is exact).

    ``sum_k a^k P^k`` converges iff the spectral radius ``max_n |a P[n, n]|`` is < 1.
    """
    B = P[:size, :size]
    rho = float(np.max(np.abs(a * np.diag(B))))
    if not rho < 1.0:
        raise ValueError(f"the infinite-horizon discrete scheme diverges: {what} has spectral radius {rho:.6g} >= 1 "
                         "(the discounted moments of the discrete chain grow; take a smaller dt, a larger discount "
                         "or lower-degree features)")
    return np.linalg.inv(np.eye(size) - a * B)


def _discrete_system_infinite(problem, feats, method, dt, lam, tests, transition):
    """The discrete scheme with step ``dt`` summed over ``k = 0, 1, 2, ...`` (infinite horizon, closed form).

    With ``g = e^{-beta dt}``, ``e_k = g^k`` and time-free features every TD error is
    ``delta_k = g^k (g J^theta(X_{k+1}) - J^theta(X_k) + r(X_k) dt)``, so each sum is a
    polynomial dotted with ``sum_k a^k mu_k = (I - a P)^{-1} mu_0`` (``a = g`` for the TD
    conditions, ``g^2`` for ml and mstd); ml's ``E[G_k | X_k] = v(X_k)`` solves
    ``v = r dt + g v P``; td_lambda's ``sum_k g^k E[xi_k X_k^q]`` is
    ``(I - g lam^dt P)^{-1} dt M_psi (I - g P)^{-1} mu_0``.
    """
    f_deg = max(_xt_coeffs_degree(f) for f in feats)
    p_deg = max(_xt_coeffs_degree(f) for f in tests)
    r_deg = _xt_coeffs_degree(problem.running_reward)
    dmax = max(f_deg, p_deg, r_deg)
    size = 2 * dmax + 3
    beta = problem.discount
    g = math.exp(-beta * dt)
    P = _transition_matrix(_dynamics(problem), dt, size, transition)
    mu0 = problem.x0 ** np.arange(size, dtype=float)
    phi = [_coef_fn(f"features[{i}]", f, size)(0.0) for i, f in enumerate(feats)]
    psi = [_coef_fn(f"test_functions[{i}]", f, size)(0.0) for i, f in enumerate(tests)]
    rvec = _coef_fn("running_reward", problem.running_reward, size)(0.0)

    def mul(a, c):
        return np.convolve(a, c)[:size]

    def series(a, deg, what):  # sum_k a^k mu_k on degrees <= deg, zero-padded to size
        out = np.zeros(size)
        out[:deg + 1] = _geometric(P, a, deg + 1, what) @ mu0[:deg + 1]
        return out

    n, m = len(feats), len(tests)
    A = np.zeros((m, n))
    b = np.zeros(m)
    if method == "ml":
        S2 = series(g * g, max(2 * f_deg, f_deg + r_deg), "e^{-2 beta dt} P")
        v = np.zeros(size)  # v = r dt + g v P: E[G_k | X_k] as a row vector of x-coefficients
        v[:r_deg + 1] = (rvec[:r_deg + 1] * dt) @ _geometric(P, g, r_deg + 1, "e^{-beta dt} P (the discrete value)")
        for i in range(n):
            for j in range(n):
                A[i, j] = dt * mul(phi[i], phi[j]) @ S2
            b[i] = dt * mul(phi[i], v) @ S2
        return A, b

    # delta_k / g^k = sum_j theta_j (f_j(X_k) + g_j(X_{k+1})) + r(X_k) dt
    fs = [-f for f in phi] + [rvec * dt]
    gs = [g * f for f in phi] + [np.zeros(size)]
    Fbar = [f + c @ P for f, c in zip(fs, gs)]  # E[. | X_k] as a polynomial in X_k
    if method == "mstd":
        S2 = series(g * g, max(2 * f_deg, f_deg + r_deg), "e^{-2 beta dt} P")
        S2next = P @ S2  # sum_k g^{2k} mu_{k+1}

        def pair_exp(a, c):
            return (mul(fs[a], fs[c]) + mul(fs[a], gs[c] @ P) + mul(fs[c], gs[a] @ P)) @ S2 \
                + mul(gs[a], gs[c]) @ S2next
        for i in range(n):
            for j in range(n):
                A[i, j] = pair_exp(i, j)
            b[i] = -pair_exp(i, n)
        return A, b

    S1 = series(g, p_deg + max(f_deg, r_deg), "e^{-beta dt} P")
    if method == "td_lambda":
        d = max(f_deg, r_deg)
        Q = _geometric(P, g * lam ** dt, d + 1, "e^{-beta dt} lam^dt P")
        for i in range(m):
            force = np.array([psi[i][:size - q] @ S1[q:] for q in range(d + 1)])  # sum_k g^k E[psi(X_k) X_k^q]
            W = Q @ (dt * force)  # sum_k g^k E[xi_k X_k^q]
            for j in range(n):
                A[i, j] = -Fbar[j][:d + 1] @ W
            b[i] = Fbar[n][:d + 1] @ W
        return A, b
    for i in range(m):
        for j in range(n):
            A[i, j] = -mul(psi[i], Fbar[j]) @ S1
        b[i] = mul(psi[i], Fbar[n]) @ S1
    return A, b


def _xt_coeffs_degree(expr):
    return len(_xt_coeffs("expression", expr)) - 1


# --------------------------------------------------------------------------- public solvers

def linear_system(problem, features, method, steps=None, lam=None, test_functions=None, transition="euler", *,
                  dt=None, truncation=None):
    """``(A, b)`` with ``theta = argmin |A theta - b|`` for ``method`` (module docstring for the sign conventions).

    ml: the normal equations of the weighted projection; mstd: ``Q theta = q`` of the
    quadratic objective; td0/lstd/gtd/td_lambda: ``A = -d/dtheta`` of the conditions
    and ``b`` their value at ``theta = 0`` (rows = test functions).  Infinite horizon:
    ``steps=K`` (``dt = truncation / K``, ``truncation`` default :func:`default_truncation`)
    or ``dt=h`` selects the discrete scheme summed over ``k = 0, 1, 2, ...`` in closed form.
    """
    method, feats, steps, lam, tests = _common(problem, features, method, steps, lam, test_functions, transition)
    steps, h = _step_size(problem, steps, dt, truncation)
    if h is None:
        A, b = _continuous_system(problem, feats, method, lam, tests)
    elif problem.infinite:
        A, b = _discrete_system_infinite(problem, feats, method, h, lam, tests, transition)
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, as one clear error
            A, b = _discrete_system(problem, feats, method, steps, lam, tests, transition)
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
        raise ValueError(f"horizon={problem.horizon:g}: the {method!r} linear system overflows double precision "
                         "(the discounted moments e^(-beta t) E[X_t^n] of the features' degree exceed 1e308 within "
                         "the horizon); supported: horizons and discounts for which they stay below 1e308 "
                         "(a shorter horizon, a larger discount or lower-degree features)")
    return A, b


_SINGULAR = {
    "ml": "the features are linearly dependent under the weighted L2 norm",
    "mstd": "the MSTD objective is singular for these features (a feature without x-dependence is not "
            "identified by the quadratic variation; only its value at T is, and nothing in infinite horizon)",
}


def solve(problem, features, method, steps=None, lam=None, test_functions=None, transition="euler", *,
          dt=None, truncation=None):
    """Parameter vector ``theta`` of ``J^theta = sum theta_i features[i]`` for ``method``.

    ``steps=None`` (and ``dt=None``): the continuous-time solution; an integer ``K >= 1``:
    the exact ``K``-step discrete solution (Euler or exact transitions, exact
    expectations).  Infinite horizon: ``steps=K`` means ``dt = truncation / K`` with
    ``truncation`` defaulting to ``54 ln 2 / beta`` -- the grid of
    ``simulations.martingale_td.run_algorithms(..., horizon=math.inf, steps=K,
    truncation=truncation)`` -- or pass ``dt`` directly; the sums run over all
    ``k >= 0`` (closed-form geometric matrix series).

    Supported range: finite horizons with ``K <= MAX_STEPS`` (``1e6``; more raises
    ``ValueError`` naming ``steps``), and horizons over which the discounted moments stay
    below the largest double (otherwise ``ValueError`` naming ``horizon``, never NaN).
    Accuracy (tests/test_extremes.py, against an independent mpmath derivation for
    ``dt`` down to ``1e-4`` and horizons up to ``1e3``): relative (2-norm) error within
    ``2 n cond(A) u`` in continuous time and ``K (2 deg + 3) cond(A) u`` for ``K`` steps.
    """
    A, b = linear_system(problem, features, method, steps, lam, test_functions, transition, dt=dt,
                         truncation=truncation)
    sv = np.linalg.svd(A, compute_uv=False)
    if sv[-1] <= 1e-12 * sv[0] or sv[0] == 0.0:
        why = _SINGULAR.get(method, "the conditions do not determine theta (singular linear system)")
        limit = ("continuous-time" if steps is None and dt is None
                 else f"{steps}-step" if dt is None else f"dt={dt}")
        raise ValueError(f"method {method!r} ({limit}): {why}; condition number {sv[0] / max(sv[-1], 1e-300):.3g}")
    if A.shape[0] == A.shape[1]:
        return np.linalg.solve(A, b)
    return np.linalg.lstsq(A, b, rcond=None)[0]


@dataclass(frozen=True)
class ConvergenceFit:
    """Observed order of ``|theta_K - theta_inf|`` in ``dt`` (least-squares log-log slope)."""

    order: float
    order_stderr: float
    dts: np.ndarray
    errors: np.ndarray
    theta_limit: np.ndarray
    thetas: np.ndarray


def convergence_rate(problem, features, method, ks=(8, 16, 32, 64, 128), lam=None, test_functions=None,
                     transition="euler"):
    """Fit ``log |theta_K - theta_inf| = order * log(T/K) + c`` over ``ks`` (the observed order of the scheme)."""
    _check_problem(problem)
    if isinstance(ks, (str, bytes)) or not hasattr(ks, "__iter__"):
        raise ValueError(f"ks must be a sequence of at least 2 distinct integers >= 1, got {ks!r}")
    ks = [_int("ks[i]", k, 1) for k in ks]
    if max(ks, default=0) > MAX_STEPS:
        raise ValueError(f"ks must hold step counts in [1, {MAX_STEPS:.0e}] (the exact K-step solver's limit), "
                         f"got {max(ks)}")
    if len(set(ks)) < 2:
        raise ValueError(f"ks must hold at least 2 distinct integers >= 1, got {ks!r}")
    limit = solve(problem, features, method, None, lam, test_functions, transition)
    thetas = np.array([solve(problem, features, method, k, lam, test_functions, transition) for k in ks])
    errors = np.linalg.norm(thetas - limit, axis=1)
    span = default_truncation(problem.discount) if problem.infinite else problem.horizon
    dts = span / np.array(ks, dtype=float)
    if np.any(errors <= 1e-13 * max(1.0, float(np.abs(limit).max()))):
        raise ValueError("theta_K equals the limit to rounding for some K in ks: there is no rate to fit")
    X = np.column_stack([np.log(dts), np.ones(len(ks))])
    coef, *_ = np.linalg.lstsq(X, np.log(errors), rcond=None)
    resid = np.log(errors) - X @ coef
    dof = len(ks) - 2
    se = math.sqrt(resid @ resid / dof * np.linalg.inv(X.T @ X)[0, 0]) if dof > 0 else math.nan
    return ConvergenceFit(float(coef[0]), se, dts, errors, limit, thetas)
