"""Jia & Zhou (2022): parameter estimates of four algorithms against the time step dt.

Terminal-reward Brownian motion (:data:`paper_checks.jia2022.PROBLEMS` ``BM_TERMINAL``:
``J = x^2 + 1 - t``) with the family ``{1, x^2}`` that misses ``J``, so every algorithm
has its own answer ``J^theta = theta_1 + theta_2 x^2``.  Lines: the exact ``K``-step
solutions (:func:`paper_checks.jia2022.theory_theta`, ``dt = T / K``) over a fine grid
of ``K``; dashed horizontal lines: the continuous-time limits (``steps=None``; a
singular limit is left out and said so in the legend).  Points: Monte Carlo estimates
(:func:`simulations.martingale_td.run_algorithms`, the claims' path counts, 32
replicates) at ``K = 5, 10, 20, 40`` with one standard error (mostly smaller than the
marker).  ``K = 20`` is the claims' run and is read from their cache.
"""

from __future__ import annotations

import numpy as np

from paper_checks import jia2022
from paper_checks.claims import Budget
from simulations import martingale_td as sim

from ._common import DEFAULT_SEED, plt, save

NAME = "BM_TERMINAL"
FAMILY = "misses J"
METHODS = ("ml", "mstd", "lstd", "td_lambda")
LABELS = {"ml": "ML (martingale loss)", "mstd": "MSTD", "lstd": "LSTD / TD(0)", "td_lambda": r"TD($\lambda$)"}
COLORS = {"ml": "C0", "mstd": "C3", "lstd": "C2", "td_lambda": "C1"}
LAM = 0.5
MC_KS = (5, 10, 20, 40)
FINE_KS = tuple(sorted(set(np.unique(np.round(np.geomspace(2, 400, 40)).astype(int)).tolist()) | set(MC_KS)))


def simulate_at(name, features, steps, budget, seed, methods, lam=LAM):
    """:func:`paper_checks.jia2022.simulate` with ``steps`` time steps (the same arguments otherwise)."""
    if steps == jia2022.STEPS:
        return jia2022.simulate(name, features, budget, seed, methods=methods, lam=lam)
    (a0, a1), (s0, s1), r, h, beta, T, x0, transition = jia2022.PROBLEMS[name]
    paths = budget.pick(quick=200_000, full=2_000_000)
    return sim.run_algorithms((a0, a1), (s0, s1), jia2022._reward(r), jia2022._reward(h), beta, T, x0,
                              jia2022.feature_array(features), steps, paths, seed, methods=tuple(methods), lam=lam,
                              transition=transition, replicates=32)


def _kw(method):
    return {"lam": LAM} if method == "td_lambda" else {}


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    seed = DEFAULT_SEED if seed is None else seed
    feats = jia2022.FAMILIES[NAME][FAMILY]
    T = jia2022.PROBLEMS[NAME][5]
    # serial: the kernel is numba-parallel over replicates (not for forked workers)
    runs = [simulate_at(NAME, feats, k, budget, seed, METHODS) for k in MC_KS]
    fig, axes = plt.subplots(1, len(feats), figsize=(11, 4.5))
    dts = T / np.array(FINE_KS, dtype=float)
    for method in METHODS:
        col = COLORS[method]
        curve = np.array([jia2022.theory_theta(NAME, feats, method, steps=k, **_kw(method)) for k in FINE_KS])
        try:
            limit = jia2022.theory_theta(NAME, feats, method, steps=None, **_kw(method))
        except ValueError:
            limit = None
        est = np.array([r.estimate(method) for r in runs])
        se = np.array([r.standard_error(method) for r in runs])
        for i, ax in enumerate(axes):
            ax.plot(dts, curve[:, i], color=col, lw=1.6, label=f"{LABELS[method]}: exact $K$-step")
            if limit is not None:
                ax.axhline(limit[i], color=col, ls="--", lw=1, label=f"{LABELS[method]}: $dt \\to 0$ limit")
            else:
                ax.plot([], [], color=col, ls="--", lw=1, label=f"{LABELS[method]}: limit singular")
            ax.errorbar(T / np.array(MC_KS), est[:, i], yerr=se[:, i], fmt="o", color=col, mec="k", mew=0.5,
                        ms=5, capsize=2, label=f"{LABELS[method]}: Monte Carlo")
    symbols = [r"$\theta_1$ (coefficient of $1$)", r"$\theta_2$ (coefficient of $x^2$)"]
    for ax, sym in zip(axes, symbols):
        ax.set_xscale("log")
        ax.set_xlabel(r"time step $\Delta t = T / K$")
        ax.set_ylabel(sym)
    axes[0].legend(fontsize=6.5, ncol=2)
    fig.suptitle(f"Jia & Zhou (2022): $dX = dW$, $h(x) = x^2$, $T = {T:g}$, $x_0 = {jia2022.PROBLEMS[NAME][6]:g}$, "
                 f"$J = x^2 + 1 - t$; features $\\{{{', '.join(feats).replace('**', '^')}\\}}$ (misses $J$), "
                 f"$\\lambda = {LAM:g}$; {runs[0].n_samples} paths (mean ± se over 32 replicates)", fontsize=9)
    return [save(fig, out_dir, "jia2022_estimates_vs_dt")]
