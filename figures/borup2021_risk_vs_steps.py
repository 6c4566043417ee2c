"""Borup & Andersen (2021): expected test risk against distillation step for several alpha.

Simulation points (mean over random designs and label noise, error bars one
standard error) come from :func:`paper_checks.borup2021.expected_risk_experiment`,
the same cached runs the claim ``borup2021/expected-risk-matches-monte-carlo``
checks; the lines are the closed form's exact expectation, averaged over the
same designs.
"""

from __future__ import annotations

import numpy as np

from paper_checks.borup2021 import EXPECTED_RISK_SETUP, expected_risk_experiment
from paper_checks.claims import Budget

from ._common import DEFAULT_SEED, colors, plt, save


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    res, theory = expected_risk_experiment(budget, DEFAULT_SEED if seed is None else seed)
    steps = np.arange(res.estimate.shape[1])
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (al, col) in enumerate(zip(res.alphas, colors(len(res.alphas)))):
        ax.plot(steps, theory[:, i].mean(0), color=col, label=rf"$\alpha = {al:g}$ (theory)")
        ax.errorbar(steps, res.estimate[i], yerr=res.stderr[i], fmt="o", color=col, ms=4, capsize=2)
    s = EXPECTED_RISK_SETUP
    ax.set_xlabel("distillation step $t$ (0 = teacher)")
    ax.set_ylabel(r"test risk $\mathbb{E}\,\|f_t - f^*\|^2$")
    ax.set_title(f"n = {s['n']} uniform inputs, RBF $\\gamma$ = {s['gamma']:g}, $\\lambda$ = {s['ridge']}, "
                 f"$\\sigma$ = {s['noise']}; {res.n_samples} replicates", fontsize=9)
    ax.legend(fontsize=8)
    return [save(fig, out_dir, "borup2021_risk_vs_steps")]
