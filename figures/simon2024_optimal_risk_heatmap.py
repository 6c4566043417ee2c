"""Our own: the optimal-ridge test risk over (n, N), with the monotone directions marked.

Colour: ``log10`` of the eigenframework's risk at the optimal ridge over a grid of
samples ``n`` and features ``N`` (power-law task of the claims, 4096 modes, with
noise).  Arrows point along decreasing risk: always up and to the right (more data
and more features never hurt at the optimal ridge).  The dashed line is ``n = N``,
where a fixed small ridge would peak.
"""

from __future__ import annotations

import numpy as np

from paper_checks import simon2024 as sc
from paper_checks.claims import Budget
from theory import random_features as th

from ._common import plt, save


def make(budget, out_dir, seed=None):
    Budget.parse(budget)
    lam, v = sc.task(sc.ALPHA, sc.BETA, 4096)
    sizes = np.geomspace(8, 2048, 17)
    R = np.array([[th.optimal_ridge(lam, v, sc.NOISE, n, N)[1] for N in sizes] for n in sizes])
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    mesh = ax.pcolormesh(sizes, sizes, np.log10(R), shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=r"$\log_{10}$ optimal-ridge test risk")
    step = 4
    gn, gN = np.gradient(np.log10(R), np.log(sizes), np.log(sizes))
    X, Y = np.meshgrid(sizes, sizes)
    ax.quiver(X[::step, ::step], Y[::step, ::step], -gN[::step, ::step], -gn[::step, ::step], color="w",
              angles="xy", pivot="mid")
    ax.plot(sizes, sizes, "w--", lw=1)
    ax.grid(False)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("features $N$")
    ax.set_ylabel("samples $n$")
    ax.set_title(r"arrows: $-\nabla \log E^*$ (all point up-right); dashed: $n = N$", fontsize=9)
    return [save(fig, out_dir, "simon2024_optimal_risk_heatmap")]
