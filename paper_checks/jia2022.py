"""Jia & Zhou (JMLR 2022): policy evaluation and TD learning in continuous time by martingales.

Theory: :mod:`theory.martingale_td` (Feynman--Kac value functions, the continuous-time
limits and the exact K-step discrete solutions of every algorithm); simulation:
:func:`simulations.martingale_td.run_algorithms` (Euler or exact transitions over
seeded path chunks, each algorithm solved per chunk, standard errors across
chunks).  The paper's full text could not be read from the sources available to
this project; places name the results as its abstract states them (martingale
characterisation, martingale loss = mean-square best approximation, MSTD
unsuitable, test functions giving TD(0)/TD(lambda)/LSTD/GTD, convergence of the
discretised algorithms with a rate).

Problems (all with exact theory):

* ``BM_TERMINAL``: Brownian motion, terminal reward ``x^2``, ``T = 1``: ``J = x^2 + 1 - t``;
* ``BM_RUNNING``: Brownian motion, running reward ``x``, ``T = 1``: ``J = x (1 - t)``;
* ``OU``: ``dX = -X dt + 0.5 dW``, running reward ``x^2``, discount 0.5, ``T = 1``
  (simulated with the exact Gaussian transition);
* ``OU_INFINITE``: the same on an infinite horizon (Euler, dt = 54 ln2/0.5 / 300 ~ 0.25; the
  simulation stops where e^{-beta t} = 2^-54 and the theory sums the discrete scheme to infinity).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from simulations import martingale_td as sim
from theory import martingale_td as th

from . import stats
from .claims import Budget, Evidence, Paper, claim

JIA2022 = Paper(
    key="jia2022",
    authors="Yanwei Jia, Xun Yu Zhou",
    title="Policy Evaluation and Temporal-Difference Learning in Continuous Time and Space: A Martingale Approach",
    venue="JMLR",
    year=2022,
    arxiv="2108.06655",
)

#: name -> (drift (a0, a1), diffusion (s0, s1), running reward, terminal reward, discount, horizon, x0, transition)
PROBLEMS = {
    "BM_TERMINAL": ((0.0, 0.0), (1.0, 0.0), "0", "x**2", 0.0, 1.0, 0.5, "euler"),
    "BM_RUNNING": ((0.0, 0.0), (1.0, 0.0), "x", "0", 0.0, 1.0, 1.0, "euler"),
    "OU": ((0.0, -1.0), (0.5, 0.0), "x**2", "0", 0.5, 1.0, 1.0, "exact"),
    "OU_INFINITE": ((0.0, -1.0), (0.5, 0.0), "x**2", "0", 0.5, math.inf, 1.0, "euler"),
}

#: feature families: one that contains J and one that does not, per problem
FAMILIES = {
    "BM_TERMINAL": {"contains J": ["1", "x**2", "t"], "misses J": ["1", "x**2"]},
    "BM_RUNNING": {"contains J": ["x", "t*x"], "misses J": ["1", "x"]},
    "OU": {"misses J": ["1", "x**2"]},
    "OU_INFINITE": {"contains J": ["1", "x**2"], "misses J": ["1", "x"]},
}

STEPS = 20
#: infinite horizon: steps over the simulation's default truncation 54 ln2 / beta (dt ~ 0.25)
STEPS_INFINITE = 300


def steps_of(name):
    return STEPS_INFINITE if math.isinf(PROBLEMS[name][5]) else STEPS


def problem(name):
    (a0, a1), (s0, s1), r, h, beta, T, x0, _ = PROBLEMS[name]
    return th.Problem(f"{a0} + {a1}*x", f"{s0} + {s1}*x", r, h, beta, T, x0)


def _coefficients(expr, deg_t, deg_x):
    poly = sp.Poly(sp.sympify(expr, locals={"t": th.t, "x": th.x}), th.t, th.x)
    out = np.zeros((deg_t + 1, deg_x + 1))
    for (i, j), c in poly.terms():
        out[i, j] = float(c)
    return out


def _reward(expr):
    return _coefficients(expr, 0, 4)[0]


def feature_array(features):
    return np.array([_coefficients(f, 2, 4) for f in features])


def simulate(name, features, budget: Budget, seed: int, *, methods=sim.METHODS, lam=0.5, test_functions=None,
             reference=None):
    (a0, a1), (s0, s1), r, h, beta, T, x0, transition = PROBLEMS[name]
    paths = budget.pick(quick=200_000, full=2_000_000)
    if math.isinf(T):
        paths //= 4  # each infinite-horizon path has 15x the steps
    return sim.run_algorithms((a0, a1), (s0, s1), _reward(r), _reward(h), beta, T, x0, feature_array(features),
                              steps_of(name), paths, seed, methods=tuple(methods), lam=lam,
                              test_functions=None if test_functions is None else feature_array(test_functions),
                              transition=transition, replicates=32,
                              reference=None if reference is None else _coefficients(reference, 2, 4))


def theory_theta(name, features, method, steps="claims", **kw):
    """Exact solution with ``steps`` steps (``"claims"``: the claims' step count; ``None``: continuous time)."""
    steps = steps_of(name) if steps == "claims" else steps
    return th.solve(problem(name), features, method, steps=steps, transition=PROBLEMS[name][7], **kw)


def _mc_against_discrete(method, rival_method, budget, seed, cases, **kw):
    """Monte Carlo estimates of ``method`` against its exact K-step solution, rival ``rival_method``'s."""
    obs, se, pred, riv = [], [], [], []
    for name, family in cases:
        feats = FAMILIES[name][family]
        run = simulate(name, feats, budget, seed, methods=(method,), **kw)
        obs.append(run.estimate(method))
        se.append(run.standard_error(method))
        tk = {k: v for k, v in kw.items() if k in ("lam", "test_functions")}
        pred.append(theory_theta(name, feats, method, **tk))
        rk = {k: v for k, v in tk.items() if rival_method in ("td_lambda", "gtd")}
        riv.append(theory_theta(name, feats, rival_method, **rk))
    test = stats.z_agreement(np.concatenate(obs), np.concatenate(se), np.concatenate(pred), np.concatenate(riv),
                             rival_name=f"the exact {rival_method} solution")
    return Evidence.from_test(test, sample_sizes={"paths": budget.pick(quick=200_000, full=2_000_000),
                                                  "steps": STEPS, "cases": len(cases)},
                              note="cases: " + "; ".join(f"{n} ({f})" for n, f in cases))


ALL_CASES = [("BM_TERMINAL", "contains J"), ("BM_TERMINAL", "misses J"), ("BM_RUNNING", "contains J"),
             ("BM_RUNNING", "misses J"), ("OU", "misses J"), ("OU_INFINITE", "contains J"),
             ("OU_INFINITE", "misses J")]


@claim(
    "jia2022/martingale-characterization",
    paper=JIA2022, where="martingale characterisation of policy evaluation",
    statement="For the true value function M_t = e^{-beta t} J(t, X_t) + int_0^t e^{-beta s} r ds has constant "
              "mean J(0, x0): simulated means stay there, while e^{-beta t} J(t, X_t) alone drifts.",
)
def _martingale(budget: Budget, seed: int) -> Evidence:
    name = "BM_RUNNING"
    J = th.value_function(problem(name))
    run = simulate(name, ["x"], budget, seed, methods=("lstd",), reference=str(J))
    x0 = PROBLEMS[name][6]
    J0 = float(J.subs({th.t: 0, th.x: x0}))
    times = run.times
    # rival: the value term alone (no accumulated reward): E J(t, X_t) = x0 (1 - t) for Brownian motion
    rival = np.array([float(J.subs({th.t: tk, th.x: x0})) for tk in times])
    test = stats.z_agreement(run.mean_martingale[1:], run.martingale_stderr[1:], np.full(times.size - 1, J0),
                             rival[1:], rival_name="value term without the reward integral")
    return Evidence.from_test(test, sample_sizes={"paths": run.n_samples, "steps": STEPS})


@claim(
    "jia2022/wrong-value-drifts",
    paper=JIA2022, where="martingale characterisation: a wrong J is not a martingale",
    statement="For J' = x^2 on the terminal-reward problem (missing the 1 - t of the true J = x^2 + 1 - t), "
              "the process M' has mean x0^2 + t: it drifts exactly as E X_t^2 does.",
)
def _drift(budget: Budget, seed: int) -> Evidence:
    name = "BM_TERMINAL"
    run = simulate(name, ["1"], budget, seed, methods=("lstd",), reference="x**2")
    x0 = PROBLEMS[name][6]
    times = run.times[1:]
    test = stats.z_agreement(run.mean_martingale[1:], run.martingale_stderr[1:], x0**2 + times,
                             np.full(times.size, x0**2), rival_name="a martingale (constant mean)")
    return Evidence.from_test(test, sample_sizes={"paths": run.n_samples, "steps": STEPS})


@claim(
    "jia2022/ml-discrete-solution",
    paper=JIA2022, where="martingale loss (gradient Monte Carlo), discretised",
    statement="Gradient Monte Carlo on the martingale loss converges to the exact discrete solution (weighted "
              "L2 projection of the left-Riemann return) on Brownian motion with terminal or running reward and "
              "on an OU process, finite and infinite horizon.",
)
def _ml(budget: Budget, seed: int) -> Evidence:
    return _mc_against_discrete("ml", "mstd", budget, seed, ALL_CASES)


@claim(
    "jia2022/mstd-discrete-solution",
    paper=JIA2022, where="mean-square TD error minimisation, discretised",
    statement="Minimising the mean-square TD error converges to its exact K-step solution, which differs from "
              "the martingale-loss solution even when J is in the family.",
)
def _mstd(budget: Budget, seed: int) -> Evidence:
    return _mc_against_discrete("mstd", "ml", budget, seed, ALL_CASES)


@claim(
    "jia2022/lstd-discrete-solution",
    paper=JIA2022, where="martingale orthogonality with xi = dJ/dtheta: TD(0)/LSTD",
    statement="LSTD (the TD(0) orthogonality conditions solved from sample moments) converges to the exact "
              "K-step TD fixed point; it equals the martingale-loss solution on a family containing J and "
              "differs on one that does not.",
)
def _lstd(budget: Budget, seed: int) -> Evidence:
    return _mc_against_discrete("lstd", "ml", budget, seed, ALL_CASES)


@claim(
    "jia2022/online-td0",
    paper=JIA2022, where="online TD(0) (stochastic approximation of the orthogonality conditions)",
    statement="Online semi-gradient TD(0) along the simulated paths ends at the exact K-step TD fixed point, "
              "not at the mean-square TD solution.",
)
def _td0(budget: Budget, seed: int) -> Evidence:
    return _mc_against_discrete("td0", "mstd", budget, seed,
                                [("BM_TERMINAL", "misses J"), ("BM_RUNNING", "contains J"), ("OU_INFINITE", "misses J")])


@claim(
    "jia2022/td-lambda-fixed-point",
    paper=JIA2022, where="martingale orthogonality with an eligibility-trace test function: TD(lambda)",
    statement="TD(lambda) with trace xi_k = sum_j lambda^(t_k - t_j) phi_j dt converges to its exact K-step "
              "fixed point, which differs from TD(0)'s on a family that misses J.",
)
def _td_lambda(budget: Budget, seed: int) -> Evidence:
    return _mc_against_discrete("td_lambda", "lstd", budget, seed,
                                [("BM_TERMINAL", "misses J"), ("BM_RUNNING", "misses J"), ("OU", "misses J")],
                                lam=0.5)


GTD_TESTS = ["1", "x", "x**2", "t", "t*x"]


@claim(
    "jia2022/gtd-least-squares",
    paper=JIA2022, where="martingale orthogonality, quadratic form of the conditions: GTD",
    statement="With more test functions than features, GTD's minimiser of the squared orthogonality conditions "
              "is their least-squares solution; the simulation converges to the exact K-step one, not to TD(0)'s.",
)
def _gtd(budget: Budget, seed: int) -> Evidence:
    return _mc_against_discrete("gtd", "lstd", budget, seed,
                                [("BM_TERMINAL", "misses J"), ("BM_RUNNING", "misses J")],
                                test_functions=GTD_TESTS)


@claim(
    "jia2022/ml-recovers-j",
    paper=JIA2022, where="martingale loss: mean-square best approximation of J",
    statement="In continuous time the martingale-loss minimiser on a family containing J is J itself "
              "(M_T - M^theta_t = e^{-beta t}(G_t - J^theta) identically), while MSTD's solution is not.",
)
def _ml_recovers(budget: Budget, seed: int) -> Evidence:
    obs, pred, riv = [], [], []
    assert sp.simplify(th.ML_IDENTITY) == 0, "the martingale-loss identity"
    for name in ("BM_TERMINAL", "BM_RUNNING"):
        feats = FAMILIES[name]["contains J"]
        J = sp.expand(th.value_function(problem(name)))
        truth = [float(sp.Poly(J, th.t, th.x).coeff_monomial(sp.sympify(f, locals={"t": th.t, "x": th.x})))
                 for f in feats]
        obs.append(th.solve(problem(name), feats, "ml"))
        pred.append(truth)
        # rival: MSTD (its continuous limit is singular for features without x-dependence: use K steps)
        riv.append(th.solve(problem(name), feats, "mstd", steps=STEPS))
    test = stats.fp_agreement(np.concatenate(obs), np.concatenate(pred), np.concatenate(riv),
                              rival_name="the MSTD solution", dimension=len(feats) * 4)
    return Evidence.from_test(test, sample_sizes={"problems": 2})


MSTD_KS = (20, 40, 80, 160, 320)


@claim(
    "jia2022/mstd-bias-persists",
    paper=JIA2022, where="MSTD approximates the quadratic variation and is unsuitable",
    statement="As dt -> 0 the exact MSTD solutions converge to the minimiser of the quadratic "
              "variation plus the terminal mismatch, which is not J: on Brownian motion with running reward x "
              "and features x, t x the limit is theta = 0 against J's (1, -1).",
    finding=False,
)
def _mstd_bias(budget: Budget, seed: int) -> Evidence:
    name = "BM_RUNNING"
    feats = FAMILIES[name]["contains J"]
    fit = th.convergence_rate(problem(name), feats, "mstd", ks=MSTD_KS, transition="euler")
    # the K-step solutions approach the limit as dt halves (fitted order in the note; it creeps towards 1)
    slope = stats.fp_monotone(np.diff(fit.errors), direction="decreasing", scale=fit.errors.max(), dimension=8,
                              rival_name="no convergence")
    truth = np.array([1.0, -1.0])  # J = x - t x
    limit = stats.fp_agreement(fit.theta_limit, np.zeros(len(feats)), truth, rival_name="MSTD converges to J",
                               dimension=8, scale=np.abs(truth).max())
    test = stats.combine(slope, limit)
    return Evidence.from_test(test, sample_sizes={"steps": list(MSTD_KS)},
                              note=f"fitted order {fit.order:.3f} +- {fit.order_stderr:.1g}")


@claim(
    "jia2022/discretisation-rate",
    paper=JIA2022, where="discretised algorithms converge to the continuous-time ones, with a rate",
    statement="The exact K-step solutions of ML, TD(0) and TD(lambda) converge to their continuous-time limits at "
              "order 1 in dt (Euler transitions, terminal-reward Brownian motion, a family missing J).",
)
def _rate(budget: Budget, seed: int) -> Evidence:
    name = "BM_TERMINAL"
    feats = FAMILIES[name]["misses J"]
    tests, orders = [], []
    with stats.split(3):
        for method, kw in (("ml", {}), ("td0", {}), ("td_lambda", {"lam": 0.5})):
            fit = th.convergence_rate(problem(name), feats, method, ks=MSTD_KS, **kw)
            orders.append(f"{method} {fit.order:.3f}")
            tests.append(stats.slope_agreement(fit.dts, fit.errors, None, 1.0, 0.5,
                                               rival_name="order 1/2 (the Euler scheme's strong order)"))
    return Evidence.from_test(stats.combine(*tests), sample_sizes={"steps": list(MSTD_KS)},
                              note="fitted orders: " + ", ".join(orders))


@claim(
    "jia2022/orthogonality-conditions-recover-j",
    paper=JIA2022, where="martingale orthogonality conditions with different test functions",
    statement="On a family containing J every choice of test function (TD(0), TD(lambda), GTD with extra test "
              "functions) makes J^theta = J in continuous time, so they all agree with the martingale loss; MSTD "
              "does not.",
)
def _orthogonality(budget: Budget, seed: int) -> Evidence:
    obs, pred, riv = [], [], []
    for name in ("BM_TERMINAL", "BM_RUNNING", "OU_INFINITE"):
        feats = FAMILIES[name]["contains J"]
        ml = theory_theta(name, feats, "ml", steps=None)
        for method, kw in (("td0", {}), ("td_lambda", {"lam": 0.5}), ("gtd", {"test_functions": GTD_TESTS})):
            if method == "gtd" and math.isinf(PROBLEMS[name][5]):
                kw = {"test_functions": ["1", "x", "x**2"]}
            obs.append(theory_theta(name, feats, method, steps=None, **kw))
            pred.append(ml)
            riv.append(theory_theta(name, feats, "mstd"))
    test = stats.fp_agreement(np.concatenate(obs), np.concatenate(pred), np.concatenate(riv),
                              rival_name="the MSTD solution", dimension=64, scale=np.abs(np.concatenate(pred)).max())
    return Evidence.from_test(test, sample_sizes={"problems": 3, "test functions": 3})
