"""Mobahi et al. (2020): the constraint form round by round on the toy example.

Left: the ridge c_t that keeps the training error at epsilon grows each round
(points: trained in input space; lines: the eigenbasis recursion of
:func:`theory.self_distillation.constrained_rounds`).  Right: the norm of the
targets, normalised r_t = ||y_t|| / sqrt(n epsilon), falls until the zero function
meets the constraint (r_t <= 1, dotted); the grey band is the derived bound on the
collapse round.  Checked by the claims ``mobahi2020/regularization-grows-each-round``
and ``mobahi2020/collapse-round``.
"""

from __future__ import annotations

import math

import numpy as np

from simulations import self_distillation as sim
from theory import self_distillation as th

from ._common import colors, plt, save

EPSILONS = (0.05, 0.01, 0.002, 0.001)


def make(budget, out_dir, seed=None):
    X, y = th.TOY_INPUTS, th.TOY_TARGETS
    K = th.rbf_kernel(X, X, th.TOY_GAMMA)
    d, V = th.gram_eigh(K)
    n = X.size
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for eps, col in zip(EPSILONS, colors(len(EPSILONS))):
        ridges, norms, _ = sim.constrained_distillation(K, y, eps)
        theory = th.constrained_rounds(d, V.T @ y, n, eps)
        finite = np.isfinite(theory.ridges)
        t = np.arange(theory.ridges.size)
        axes[0].semilogy(t[finite], theory.ridges[finite], "-", color=col, label=rf"$\epsilon = {eps}$")
        axes[0].semilogy(np.arange(ridges.size)[np.isfinite(ridges)], ridges[np.isfinite(ridges)], "o", color=col, ms=4)
        r = norms / math.sqrt(n * eps)
        axes[1].plot(np.arange(r.size), r, "o", color=col, ms=4)
        axes[1].plot(np.arange(theory.norms.size), theory.norms / math.sqrt(n * eps), "-", color=col,
                     label=rf"$\epsilon = {eps}$, collapse at $t = {theory.collapse_round}$")
        lo, hi = th.collapse_round_bounds(norms[0], n, eps)
        axes[1].axvspan(lo, min(hi, 40), color=col, alpha=0.06)
    axes[0].set_xlabel("round $t$")
    axes[0].set_ylabel("ridge $c_t$")
    axes[0].legend(fontsize=8)
    axes[1].axhline(1.0, color="k", ls=":")
    axes[1].set_xlabel("round $t$")
    axes[1].set_ylabel(r"$r_t = \|y_t\| / \sqrt{n\epsilon}$")
    axes[1].set_xlim(-0.5, 26)
    axes[1].legend(fontsize=7)
    return [save(fig, out_dir, "mobahi2020_constraint_rounds")]
