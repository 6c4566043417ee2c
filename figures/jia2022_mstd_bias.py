"""Jia & Zhou (2022): mean-square TD error minimisation keeps a bias as dt -> 0, the martingale loss has none.

Running-reward Brownian motion (``BM_RUNNING``: ``dX = dW``, ``r(x) = x``, ``T = 1``,
``J = x (1 - t)``) with the features ``{x, t x}`` that contain ``J`` (``theta_J = (1, -1)``).
Lines: ``|theta_K - theta_J|`` of the exact ``K``-step solutions
(:func:`paper_checks.jia2022.theory_theta`) against ``dt = T / K``.  The MSTD solutions
approach their continuous-time limit ``theta_inf = 0`` (the minimiser of the quadratic
variation), so their distance to ``J`` tends to ``|theta_inf - theta_J| = sqrt 2``
(dashed), while the martingale-loss solution is ``J`` for every ``K`` (its distance is
zero to rounding, drawn at its value: the vertical axis is logarithmic above ``1e-3`` and
linear below, so zero has a place).  Points:
Monte Carlo at ``K = 20`` (the claims' run); error bars ``sqrt(sum_i se_i^2)``, which
bounds the standard error of the norm (``| |a| - |b| | <= |a - b|``).
"""

from __future__ import annotations

import numpy as np

from paper_checks import jia2022
from paper_checks.claims import Budget

from ._common import DEFAULT_SEED, plt, save

NAME = "BM_RUNNING"
FAMILY = "contains J"
THETA_J = np.array([1.0, -1.0])  # J = x - t x
FINE_KS = tuple(np.unique(np.round(np.geomspace(2, 640, 40)).astype(int)).tolist())
LINTHRESH = 1e-3  # the symlog axis is linear below this


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    seed = DEFAULT_SEED if seed is None else seed
    feats = jia2022.FAMILIES[NAME][FAMILY]
    T = jia2022.PROBLEMS[NAME][5]
    dts = T / np.array(FINE_KS, dtype=float)
    run = jia2022.simulate(NAME, feats, budget, seed, methods=("ml", "mstd"))
    limit = jia2022.theory_theta(NAME, feats, "mstd", steps=None)
    bias_inf = float(np.linalg.norm(limit - THETA_J))
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for method, col, label in (("ml", "C0", "ML (martingale loss)"), ("mstd", "C3", "MSTD")):
        err = np.array([np.linalg.norm(jia2022.theory_theta(NAME, feats, method, steps=k) - THETA_J)
                        for k in FINE_KS])
        extra = f" (max {err.max():.0e}: $J$ to rounding)" if method == "ml" else ""
        ax.plot(dts, err, color=col, lw=1.8, label=f"{label}: exact $K$-step{extra}")
        mc = float(np.linalg.norm(run.estimate(method) - THETA_J))
        se = float(np.sqrt(np.sum(run.standard_error(method) ** 2)))
        ax.errorbar([T / jia2022.STEPS], [mc], yerr=[[min(se, mc * 0.999)], [se]], fmt="o", color=col, mec="k",
                    mew=0.5, ms=6, capsize=3, label=f"{label}: Monte Carlo, $K = {jia2022.STEPS}$")
    ax.axhline(bias_inf, color="C3", ls="--", lw=1,
               label=rf"MSTD limit $|\theta_\infty - \theta_J| = {bias_inf:.4f}$ ($\sqrt{{2}}$)")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=LINTHRESH, linscale=0.5)
    ax.set_ylim(-LINTHRESH / 5, 4.0)
    ax.set_xlabel(r"time step $\Delta t = T / K$")
    ax.set_ylabel(r"$\|\theta_K - \theta_J\|$")
    ax.legend(fontsize=7.5, loc="center right")
    ax.set_title(r"$dX = dW$, $r(x) = x$, $T = 1$, $J = x(1 - t)$; features $\{x, tx\}$, $\theta_J = (1, -1)$; "
                 f"{run.n_samples} paths", fontsize=9)
    return [save(fig, out_dir, "jia2022_mstd_bias")]
