"""Borup & Andersen (2021), toy example: the teacher, five students and the limit, alpha = 0 and alpha = 0.35.

The papers' 11-point noisy sinusoid, RBF kernel (gamma = 80), ridge 0.2.  Lines are
the closed form (:func:`theory.self_distillation.distilled_fit`); the dashed line is
the limit, KRR with the amplified ridge ``lambda/alpha`` (zero for alpha = 0).
"""

from __future__ import annotations

import numpy as np

from theory import self_distillation as th

from ._common import plt, save, colors

ALPHAS = (0.0, 0.35)
STEPS = 6


def make(budget, out_dir, seed=None):
    X, y = th.TOY_INPUTS, th.TOY_TARGETS
    x = np.linspace(0, 1, 401)
    K = th.rbf_kernel(X, X, th.TOY_GAMMA)
    C = th.rbf_kernel(x, X, th.TOY_GAMMA)
    fig, axes = plt.subplots(1, len(ALPHAS), figsize=(10, 3.8), sharey=True)
    for ax, al in zip(axes, ALPHAS):
        for s, col in zip(range(STEPS), colors(STEPS)):
            ax.plot(x, th.distilled_fit(K, y, th.TOY_RIDGE, al, s, C), color=col,
                    label="$f_0$ (teacher)" if s == 0 else f"$f_{s}$")
        lim = np.zeros_like(x) if al == 0 else th.limit_fit(K, y, th.TOY_RIDGE, al, C)
        ax.plot(x, lim, "k--", label=r"$f_\infty$")
        ax.plot(x, np.sin(2 * np.pi * x), color="0.6", lw=0.8, label=r"$\sin 2\pi x$")
        ax.scatter(X, y, marker="x", color="k", zorder=3, label=r"$\mathcal{D}_{train}$")
        ax.set_title(rf"$\alpha = {al}$, $\lambda = {th.TOY_RIDGE}$, RBF $\gamma = {th.TOY_GAMMA:g}$")
        ax.set_xlabel("$x$")
        ax.set_ylim(-1.5, 1.5)
    axes[0].set_ylabel("$f_t(x)$")
    axes[-1].legend(fontsize=7, ncol=2, loc="lower left")
    return [save(fig, out_dir, "borup2021_toy_fits")]
