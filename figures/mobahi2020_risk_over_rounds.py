"""Mobahi et al. (2020): a few rounds of self-distillation help, further rounds hurt.

Expected test risk of pure self-distillation (alpha = 0) over rounds on the
toy design (11 grid points, RBF gamma = 80, ridge 0.2, label noise 0.5): points
are the Monte Carlo of real training (:func:`paper_checks.mobahi2020.u_shape_experiment`,
the claim ``mobahi2020/few-rounds-help-then-hurt``'s cached runs), the line the
closed form's exact expectation.
"""

from __future__ import annotations

import numpy as np

from paper_checks.claims import Budget
from paper_checks.mobahi2020 import U_SHAPE_SETUP, u_shape_experiment

from ._common import DEFAULT_SEED, plt, save


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    res, exact = u_shape_experiment(budget, DEFAULT_SEED if seed is None else seed)
    t = np.arange(exact.size)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(t, exact, "-", color="C0", label="closed form")
    ax.errorbar(t, res.estimate[0], yerr=res.stderr[0], fmt="o", color="C1", capsize=2, label="Monte Carlo")
    s = U_SHAPE_SETUP
    ax.set_xlabel("round $t$ (0 = teacher)")
    ax.set_ylabel(r"test risk $\mathbb{E}\,\|f_t - f^*\|^2$")
    ax.set_title(rf"$\alpha = 0$, $\lambda = {s['ridge']}$, $\sigma = {s['noise']}$, {res.n_samples} replicates",
                 fontsize=9)
    ax.legend()
    return [save(fig, out_dir, "mobahi2020_risk_over_rounds")]
