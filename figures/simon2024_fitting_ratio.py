"""Simon et al. (2024): test risk against the fitting ratio R = E_tr/E_te for power-law tasks (KRR).

Lines: the sympy continuum risk ``E(s)``, ``R = s^2`` (:func:`theory.random_features.powerlaw_risk`),
normalised by its minimum, for noise levels given relative to the bias scale at ``n``;
dots: the discrete eigenframework (``20 n`` modes and a moment-matched tail) swept over the
ridge; vertical marks: the optimal fitting ratio.  Overfitting is obligatory: the optimum
sits at a fitting ratio well below 1.
"""

from __future__ import annotations

import math

import numpy as np

from paper_checks.claims import Budget
from theory import random_features as th

from ._common import colors, plt, save

CASES = ((2.0, 1.5), (3.0, 2.0), (1.5, 2.0))
NOISES = (0.0, 0.01, 0.1)
N_SAMPLES = 400


def make(budget, out_dir, seed=None):
    Budget.parse(budget)
    fig, axes = plt.subplots(1, len(CASES), figsize=(11, 3.6), sharey=True)
    s = np.linspace(0.0, 0.97, 200)
    ridges = np.geomspace(1e-9, 1e3, 40)
    for ax, (alpha, beta) in zip(axes, CASES):
        lam, v, w = th.power_law(alpha, beta, 20 * N_SAMPLES, tail=True)
        for noise, col in zip(NOISES, colors(len(NOISES) + 1)):
            curve = np.array([th.powerlaw_risk(x, alpha, beta, N_SAMPLES, noise) for x in s])
            ax.plot(s**2, curve / curve.min(), color=col, lw=1.3, label=rf"$\sigma^2$ = {noise:g}")
            efs = [th.eigenframework(lam, v, noise, N_SAMPLES, math.inf, d, w) for d in ridges]
            R = np.array([e.fitting_ratio for e in efs])
            E = np.array([e.test for e in efs])
            ax.plot(R, E / curve.min(), "o", ms=2.5, color=col, alpha=0.7)
            r_opt = th.powerlaw_optimal_fitting_ratio(alpha, beta, noise, N_SAMPLES)
            ax.axvline(r_opt, color=col, lw=0.8, ls=":")
        ax.set_xlabel(r"fitting ratio $R = E_{tr}/E_{te}$")
        ax.set_title(rf"$\alpha$ = {alpha:g}, $\beta$ = {beta:g}, n = {N_SAMPLES}", fontsize=9)
        ax.set_yscale("log")
        ax.set_xlim(-0.02, 1.0)
    axes[0].set_ylabel("test risk / continuum minimum")
    axes[0].legend(fontsize=8)
    return [save(fig, out_dir, "simon2024_fitting_ratio")]
