"""Simon et al. (2024): the optimal fitting ratio and ridge of noiseless power-law tasks against beta.

Lines: the sympy continuum optimum ``R* = max(0, (alpha - beta)/(beta (alpha - 1)))^2``;
markers: the discrete eigenframework at ``n = 400`` (``20 n`` modes plus a tail),
its optimal ridge exactly zero (hollow) when ``beta >= alpha``.  The boundary ``beta = alpha``
is where the optimal ridge switches from positive to zero.
"""

from __future__ import annotations

import math

import numpy as np

from paper_checks.claims import Budget
from theory import random_features as th

from ._common import colors, plt, save

ALPHAS = (1.5, 2.0, 3.0)
N_SAMPLES = 400


def make(budget, out_dir, seed=None):
    Budget.parse(budget)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for alpha, col in zip(ALPHAS, colors(len(ALPHAS) + 1)):
        betas = np.linspace(1.05, min(2 * alpha + 1, 4.0) - 0.05, 60)
        ax.plot(betas, [th.powerlaw_optimal_fitting_ratio(alpha, b) for b in betas], color=col,
                label=rf"$\alpha$ = {alpha:g}")
        marks = betas[::6]
        lam_cache = {}
        R, ridge = [], []
        for b in marks:
            lam, v, w = th.power_law(alpha, b, 20 * N_SAMPLES, tail=True)
            ef = th.optimal_ridge(lam, v, 0.0, N_SAMPLES, math.inf, w, full=True)
            R.append(ef.fitting_ratio)
            ridge.append(ef.ridge)
            lam_cache[b] = ef
        R, ridge = np.array(R), np.array(ridge)
        zero = ridge == 0.0
        ax.plot(marks[~zero], R[~zero], "o", color=col, ms=5)
        ax.plot(marks[zero], R[zero], "o", mfc="none", color=col, ms=5)
        ax.axvline(alpha, color=col, lw=0.8, ls=":")
        ax2.semilogy(marks[~zero], ridge[~zero], "o-", color=col, ms=4, label=rf"$\alpha$ = {alpha:g}")
    ax.set_xlabel(r"target exponent $\beta$ ($v_i^2 = i^{-\beta}$)")
    ax.set_ylabel(r"optimal fitting ratio $R^*$")
    ax.set_title(f"noiseless, KRR; lines continuum, markers n = {N_SAMPLES} (hollow: ridge 0)", fontsize=9)
    ax.legend(fontsize=8)
    ax2.set_xlabel(r"$\beta$")
    ax2.set_ylabel(r"optimal ridge $\delta^*$ (positive only)")
    ax2.set_title(r"$\delta^* > 0$ only for $\beta < \alpha$", fontsize=9)
    return [save(fig, out_dir, "simon2024_optimal_ridge_phase")]
