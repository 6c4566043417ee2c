"""Jia & Zhou (2022): the discretised algorithms converge to their continuous-time limits at order 1 in dt.

The setting of the claim ``jia2022/discretisation-rate``: terminal-reward Brownian
motion (``BM_TERMINAL``, Euler transitions) with the family ``{1, x^2}`` that misses
``J``.  Points joined by lines: ``|theta_K - theta_inf|`` of the exact ``K``-step
solutions of ML, TD(0) and TD(lambda) (``lambda = 0.5``) against ``dt = T / K``
(:func:`theory.martingale_td.convergence_rate`, exact arithmetic, no sampling: there
are no error bars to draw); the legend gives each fitted log-log slope ± its
standard error; the dotted line is a slope-1 guide (and the dash-dotted one the
slope 1/2 of the Euler scheme's strong order, the claim's rival).
"""

from __future__ import annotations

import numpy as np

from paper_checks import jia2022
from paper_checks.claims import Budget
from theory import martingale_td as th

from ._common import DEFAULT_SEED, plt, save

NAME = "BM_TERMINAL"
FAMILY = "misses J"
CASES = (("ml", "ML (martingale loss)", {}), ("td0", "TD(0)", {}), ("td_lambda", r"TD($\lambda = 0.5$)", {"lam": 0.5}))


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    _ = DEFAULT_SEED if seed is None else seed  # deterministic: no simulation
    ks = budget.pick(quick=(5, 10, 20, 40, 80, 160, 320), full=(5, 10, 20, 40, 80, 160, 320, 640, 1280))
    feats = jia2022.FAMILIES[NAME][FAMILY]
    prob = jia2022.problem(NAME)
    fig, ax = plt.subplots(figsize=(7, 4.8))
    anchor = None
    for (method, label, kw), col in zip(CASES, ("C0", "C2", "C1")):
        fit = th.convergence_rate(prob, feats, method, ks=ks, transition=jia2022.PROBLEMS[NAME][7], **kw)
        ax.plot(fit.dts, fit.errors, "o-", color=col, mec="k", mew=0.5, ms=5,
                label=f"{label}: slope {fit.order:.3f} ± {fit.order_stderr:.1g}")
        anchor = fit if anchor is None else anchor
    dts = anchor.dts
    c1 = anchor.errors[0] / dts[0] * 1.6
    ax.plot(dts, c1 * dts, "k:", lw=1.2, label=r"slope 1: $\propto \Delta t$")
    ax.plot(dts, anchor.errors[0] * 1.6 * np.sqrt(dts / dts[0]), "k-.", lw=0.9,
            label=r"slope 1/2: $\propto \Delta t^{1/2}$ (rival)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"time step $\Delta t = T / K$")
    ax.set_ylabel(r"$\|\theta_K - \theta_\infty\|$")
    ax.legend(fontsize=8)
    ax.set_title(r"$dX = dW$, $h(x) = x^2$, $T = 1$ (Euler); features $\{1, x^2\}$ (misses $J$); "
                 f"$K = {ks[0]}, \\ldots, {ks[-1]}$", fontsize=9)
    return [save(fig, out_dir, "jia2022_convergence_rate")]
