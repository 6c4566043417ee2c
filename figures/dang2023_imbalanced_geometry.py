"""Dang et al. (2023): the general orthogonal frame of imbalanced data, trained against the closed form.

The setting of the claim ``dang2023/general-orthogonal-frame``
(:data:`paper_checks.dang2023.IMBALANCED`: class sizes 16, 8, 4, 4,
``lambda_W = lambda_H = 3e-3``, width 6, MSE, no bias), the claim's cached runs
(:func:`paper_checks.dang2023.train_runs`, GD then L-BFGS) for depths ``M = 1, 2, 3``.
Left: the squared classifier row lengths ``||w_k||^2``, the diagonal of the product
classifier's Gram ``(W_M...W_1)(W_M...W_1)^T``; right: the squared class-mean
lengths ``||h_k||^2``, the diagonal of the uncentred feature-mean Gram.  Points:
mean over seeds, error bars one standard error (mostly smaller than the marker:
every seed reaches the same minimum); horizontal bars: the closed form
``N lambda_H x_k^M`` and ``x_k^M / (N lambda_H (x_k^M + 1)^2)``
(:func:`theory.neural_collapse.deep_linear_ufm_minimum`); dotted: the balanced
geometry's equal lengths with the same trace (the claim's rival).
"""

from __future__ import annotations

import functools

import numpy as np

from paper_checks import dang2023
from paper_checks.claims import Budget
from theory import neural_collapse as th

from ._common import DEFAULT_SEED, colors, parallel_map, plt, save

DEPTHS = (1, 2, 3)


def _run(depth, budget, seed):
    sizes, lam = dang2023.IMBALANCED
    return dang2023.train_runs(sizes, depth, lam, "mse", False, budget, seed)


def _mean_se(a):
    a = np.asarray(a, dtype=float)
    se = a.std(axis=0, ddof=1) / np.sqrt(a.shape[0]) if a.shape[0] > 1 else np.zeros(a.shape[1:])
    return a.mean(axis=0), se


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    seed = DEFAULT_SEED if seed is None else seed
    sizes, lam = dang2023.IMBALANCED
    K = len(sizes)
    runs = parallel_map(functools.partial(_run, budget=budget, seed=seed), DEPTHS)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    k = np.arange(K)
    width = 0.8
    offsets = (np.arange(len(DEPTHS)) - (len(DEPTHS) - 1) / 2) * width / len(DEPTHS)
    for depth, run, col, off in zip(DEPTHS, runs, colors(len(DEPTHS)), offsets):
        theory = th.deep_linear_ufm_minimum(list(sizes), depth, lam, lam)
        for ax, sim_gram, th_gram in ((axes[0], run.classifier_gram, theory.classifier_gram),
                                      (axes[1], run.feature_mean_gram, theory.feature_mean_gram)):
            diag = np.diagonal(sim_gram, axis1=1, axis2=2)  # (S, K)
            mean, se = _mean_se(diag)
            pred = np.diag(th_gram)
            ax.hlines(pred, k + off - width / (2 * len(DEPTHS)), k + off + width / (2 * len(DEPTHS)), color=col,
                      lw=2, label=f"$M = {depth}$ closed form")
            ax.errorbar(k + off, mean, yerr=se, fmt="o", color=col, mec="k", mew=0.5, ms=5, capsize=2,
                        label=f"$M = {depth}$ trained")
            ax.hlines(np.full(K, pred.mean()), k + off - width / (2 * len(DEPTHS)),
                      k + off + width / (2 * len(DEPTHS)), color=col, lw=1, ls=":")
    labels = [f"$k = {i + 1}$\n$n_k = {n}$" for i, n in enumerate(sizes)]
    for ax in axes:
        ax.set_xticks(k, labels)
        ax.grid(axis="x", visible=False)
    axes[0].set_ylabel(r"$\|w_k\|^2 = [(W_M\cdots W_1)(W_M\cdots W_1)^\top]_{kk}$")
    axes[0].set_title(r"classifier rows: closed form $N\lambda_H x_k^M$", fontsize=9)
    axes[1].set_ylabel(r"$\|\bar h_k\|^2 = [\bar H^\top \bar H]_{kk}$")
    axes[1].set_title(r"class means: closed form $x_k^M / (N\lambda_H (x_k^M + 1)^2)$", fontsize=9)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"General orthogonal frame: $n_k$ = {'-'.join(map(str, sizes))}, "
                 f"$\\lambda_W = \\lambda_H = {lam:g}$, MSE, no bias, $d = {dang2023.WIDTH}$; "
                 f"{runs[0].n_samples} seeds (mean ± se); dotted: equal lengths, same trace", fontsize=10)
    return [save(fig, out_dir, "dang2023_imbalanced_geometry")]
