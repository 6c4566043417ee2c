"""Jia & Zhou (2022): the true value function against the ones the algorithms learn on a family missing it.

Two problems of :data:`paper_checks.jia2022.PROBLEMS`: terminal-reward Brownian motion
(``BM_TERMINAL``, ``J = x^2 + 1 - t``) and the discounted OU process (``OU``,
``J`` from Feynman--Kac, :func:`theory.martingale_td.value_function`), each with the
family ``{1, x^2}`` that misses ``J`` (``J^theta(0, x) = theta_1 + theta_2 x^2``).
Black: ``J(0, x)``; coloured lines: ``J^theta(0, x)`` with the exact ``K``-step
``theta`` (``K = 20``, :func:`paper_checks.jia2022.theory_theta`) of ML, MSTD and LSTD;
points with error bars and a band: the Monte Carlo ``theta`` (the claims' cached run),
``J^theta(0, x)`` with one standard error from the spread over the 32 replicates.  The
dotted vertical line marks ``x_0``; the paths' states spread around it, which is where
the weighted projections fit.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from paper_checks import jia2022
from paper_checks.claims import Budget
from theory import martingale_td as th

from ._common import DEFAULT_SEED, plt, save

CASES = (("BM_TERMINAL", "misses J", (-2.0, 3.0)), ("OU", "misses J", (-1.0, 3.0)))
METHODS = ("ml", "mstd", "lstd")
LABELS = {"ml": "ML", "mstd": "MSTD", "lstd": "LSTD / TD(0)"}
COLORS = {"ml": "C0", "mstd": "C3", "lstd": "C2"}
MC_POINTS = 9
TITLES = {"BM_TERMINAL": r"$dX = dW$, $h(x) = x^2$, $T = 1$, $J = x^2 + 1 - t$",
          "OU": r"$dX = -X\,dt + 0.5\,dW$, $r(x) = x^2$, $\beta = 0.5$, $T = 1$"}


def _at_t0(features, xs):
    """``(len(xs), n_features)``: the features at ``t = 0``."""
    C = jia2022.feature_array(features)[:, 0, :]  # (n, deg_x + 1), ascending powers of x
    return np.stack([np.polynomial.polynomial.polyval(xs, c) for c in C], axis=1)


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    seed = DEFAULT_SEED if seed is None else seed
    fig, axes = plt.subplots(1, len(CASES), figsize=(11, 4.6))
    n_paths = None
    for ax, (name, family, (lo, hi)) in zip(axes, CASES):
        feats = jia2022.FAMILIES[name][family]
        J = th.value_function(jia2022.problem(name))
        J0 = sp.lambdify(th.x, J.subs(th.t, 0), "numpy")
        xs = np.linspace(lo, hi, 201)
        xp = np.linspace(lo, hi, MC_POINTS)
        Phi, Phip = _at_t0(feats, xs), _at_t0(feats, xp)
        ax.plot(xs, np.broadcast_to(J0(xs), xs.shape), color="k", lw=2.2, label=r"true $J(0, x)$")
        run = jia2022.simulate(name, feats, budget, seed, methods=METHODS)
        n_paths = run.n_samples
        for method in METHODS:
            col = COLORS[method]
            theta = jia2022.theory_theta(name, feats, method)
            ax.plot(xs, Phi @ theta, color=col, lw=1.5, label=f"{LABELS[method]}: exact $J^\\theta(0, x)$, $K = {jia2022.STEPS}$")
            reps = run.per_replicate[run.methods.index(method)]  # (R, n)
            vals = reps @ Phi.T  # (R, len(xs))
            mean = Phi @ run.estimate(method)
            se = vals.std(axis=0, ddof=1) / np.sqrt(reps.shape[0])
            ax.fill_between(xs, mean - se, mean + se, color=col, alpha=0.25, lw=0)
            valsp = reps @ Phip.T
            ax.errorbar(xp, Phip @ run.estimate(method), yerr=valsp.std(axis=0, ddof=1) / np.sqrt(reps.shape[0]),
                        fmt="o", color=col, mec="k", mew=0.5, ms=4, capsize=2,
                        label=f"{LABELS[method]}: Monte Carlo ± se")
        x0 = jia2022.PROBLEMS[name][6]
        ax.axvline(x0, color="0.4", ls=":", lw=1)
        ax.set_xlabel("$x$")
        ax.set_ylabel(r"$J(0, x)$, $J^\theta(0, x) = \theta_1 + \theta_2 x^2$")
        ax.set_title(f"{name}: {TITLES[name]}, $x_0 = {x0:g}$", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Jia & Zhou (2022): learned value functions on the family $\\{{1, x^2\\}}$ (misses $J$); "
                 f"{n_paths} paths, 32 replicates", fontsize=10)
    return [save(fig, out_dir, "jia2022_value_function")]
