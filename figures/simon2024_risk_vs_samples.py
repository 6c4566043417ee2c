"""Simon et al. (2024): test risk against the number of samples n, at fixed ridges and at the optimum.

Lines: the eigenframework at three fixed ridges (peak at ``n = N``) and at the optimal
ridge (monotone).  Points: the Monte Carlo runs of ``simon2024/more-data-better``
(optimal ridge), error bars one standard error.
"""

from __future__ import annotations

import numpy as np

from paper_checks import simon2024 as sc
from paper_checks.claims import Budget
from theory import random_features as th

from ._common import DEFAULT_SEED, colors, plt, save


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    seed = DEFAULT_SEED if seed is None else seed
    lam, v = sc.task()
    N = sc.MONO_OTHER
    ns = np.unique(np.concatenate([np.geomspace(8, 1024, 120), [N]]))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for ridge, col in zip(sc.GRID_RIDGES, colors(len(sc.GRID_RIDGES) + 1)):
        ax.plot(ns, [th.test_risk(lam, v, sc.NOISE, n, N, ridge) for n in ns], color=col, lw=1.2,
                label=rf"ridge $\delta$ = {ridge:g}")
    ax.plot(ns, [th.optimal_ridge(lam, v, sc.NOISE, n, N)[1] for n in ns], "k--", lw=1.5, label=r"optimal $\delta^*$")
    pts, est, se, _, _ = sc.monotone_experiment(budget, seed, "n")
    ax.errorbar(pts, est, yerr=se, fmt="s", ms=4, color="k", capsize=2, label="Monte Carlo at $\\delta^*$")
    ax.axvline(N, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of samples $n$")
    ax.set_ylabel("test risk (incl. noise)")
    ax.set_title(rf"N = {N} features, $\lambda_i = i^{{-{sc.ALPHA}}}$, $v_i^2 = i^{{-{sc.BETA}}}$, {sc.MODES} modes, "
                 rf"$\sigma^2$ = {sc.NOISE}", fontsize=9)
    ax.legend(fontsize=8)
    return [save(fig, out_dir, "simon2024_risk_vs_samples")]
