"""Simon et al. (2024): test risk against the number of random features N, at fixed ridges and at the optimum.

Lines: the eigenframework (:func:`theory.random_features.test_risk`) at three fixed
ridges, with the double-descent peak at ``N = n``, and at the optimal ridge
(:func:`theory.random_features.optimal_ridge`), which decreases monotonically.
Points: the Monte Carlo runs of the claims ``simon2024/rf-risk-matches-monte-carlo``
(fixed ridges) and ``simon2024/more-features-better`` (optimal ridge), error bars
one standard error.
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
    n = sc.GRID_N
    Ns = np.unique(np.concatenate([np.geomspace(8, 1024, 120), [n]]))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    runs = sc.grid_experiment(budget, seed)
    for j, (ridge, col) in enumerate(zip(sc.GRID_RIDGES, colors(len(sc.GRID_RIDGES) + 1))):
        ax.plot(Ns, [th.test_risk(lam, v, sc.NOISE, n, N, ridge) for N in Ns], color=col, lw=1.2,
                label=rf"ridge $\delta$ = {ridge:g}")
        ax.errorbar([N for N, _ in runs], [r.test_mean[j] for _, r in runs], yerr=[r.test_stderr[j] for _, r in runs],
                    fmt="o", ms=4, color=col, capsize=2)
    ax.plot(Ns, [th.optimal_ridge(lam, v, sc.NOISE, n, N)[1] for N in Ns], "k--", lw=1.5, label=r"optimal $\delta^*$")
    pts, est, se, _, _ = sc.monotone_experiment(budget, seed, "N")
    ax.errorbar(pts, est, yerr=se, fmt="s", ms=4, color="k", capsize=2)
    ax.axvline(n, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of random features $N$")
    ax.set_ylabel("test risk (incl. noise)")
    ax.set_title(rf"n = {n}, $\lambda_i = i^{{-{sc.ALPHA}}}$, $v_i^2 = i^{{-{sc.BETA}}}$, {sc.MODES} modes, "
                 rf"$\sigma^2$ = {sc.NOISE}; {runs[0][1].n_samples} draws per point", fontsize=9)
    ax.legend(fontsize=8)
    return [save(fig, out_dir, "simon2024_risk_vs_features")]
