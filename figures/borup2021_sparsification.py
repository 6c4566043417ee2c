"""Borup & Andersen (2021): the diagonal of B^(t) and the ratios R_k = b_k / b_(k+1), alpha = 0 and 0.35.

Bars are the multipliers measured from real step-by-step training on the toy
example (fits projected on the Gram eigenvectors); the hatched bars and black
markers are the closed-form limit.  Checked by the claims
``borup2021/sparsification-*`` and ``mobahi2020/collapse-without-ground-truth``.
"""

from __future__ import annotations

import numpy as np

from simulations import self_distillation as sim
from theory import self_distillation as th

from ._common import colors, plt, save

ALPHAS = (0.0, 0.35)
STEPS = 6


def make(budget, out_dir, seed=None):
    X, y = th.TOY_INPUTS, th.TOY_TARGETS
    K = th.rbf_kernel(X, X, th.TOY_GAMMA)
    d, V = th.gram_eigh(K)
    k = np.arange(1, d.size + 1)
    fig, axes = plt.subplots(2, len(ALPHAS), figsize=(10, 6.5))
    for col_i, al in enumerate(ALPHAS):
        fits = sim.iterate_distillation(K, y, th.TOY_RIDGE, [al], STEPS - 1)[0]
        B = (fits @ V) / (V.T @ y)
        lim = th.limit_multipliers(d, th.TOY_RIDGE, al)
        ax = axes[0, col_i]
        width = 0.8 / (STEPS + 1)
        for s, c in zip(range(STEPS), colors(STEPS)):
            ax.bar(k + (s - STEPS / 2) * width, B[s], width=width, color=c, label=f"$B^{{({s})}}$")
        ax.bar(k + (STEPS - STEPS / 2) * width, lim, width=width, fill=False, hatch="//", label=r"$B^{(\infty)}$")
        ax.set_title(rf"$\alpha = {al}$: diag $B^{{(t)}}$ (trained)")
        ax.set_xlabel("eigen-index $k$ (descending $d_k$)")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=6, ncol=4)
        ax = axes[1, col_i]
        for s, c in zip(range(STEPS), colors(STEPS)):
            ax.plot(k[:-1], B[s, :-1] / B[s, 1:], "o-", color=c, ms=3)
        if al > 0:
            ax.plot(k[:-1], lim[:-1] / lim[1:], "k--", label=r"$t \to \infty$")
            ax.legend(fontsize=7)
        ax.set_xlabel("$k$")
        ax.set_ylabel(r"$R_k = b_k / b_{k+1}$")
    return [save(fig, out_dir, "borup2021_sparsification")]
