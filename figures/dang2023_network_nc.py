"""Dang et al. (2023): neural collapse in a real (small) network, balanced and imbalanced.

The claims ``dang2023/network-nc1-falls`` and ``dang2023/network-length-order``'s
cached runs (:func:`paper_checks.dang2023.mlp_runs`, :data:`paper_checks.dang2023.MLP_SETUP`):
a Gaussian mixture, two ReLU layers making the features, a three-layer bias-free
linear head, weight decay, MSE, Adam, on balanced (50, 50, 50, 50) and imbalanced
(80, 40, 20, 10) data.  Left: NC1 ``= tr(Sigma_W Sigma_B^+)/K`` of the last ReLU
layer's features over training (mean over seeds of ``log10 NC1``, error bars one
standard error as a factor).  Right: the final product classifier's row norms
``||w_k||`` per class (mean ± se over seeds); the general orthogonal frame predicts
longer rows for larger classes and equal rows for balanced data (there is no
closed form for this network: its features are not free).
"""

from __future__ import annotations

import functools

import numpy as np

from paper_checks import dang2023
from paper_checks.claims import Budget
from theory import neural_collapse as th

from ._common import DEFAULT_SEED, parallel_map, plt, save

DATASETS = ((50, 50, 50, 50), (80, 40, 20, 10))


def _runs(sizes, budget, seed):
    return dang2023.mlp_runs(sizes, budget, seed)


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    seed = DEFAULT_SEED if seed is None else seed
    all_runs = parallel_map(functools.partial(_runs, budget=budget, seed=seed), DATASETS)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    for i, (sizes, runs) in enumerate(zip(DATASETS, all_runs)):
        col = f"C{i}"
        label = f"$n_k$ = {'-'.join(map(str, sizes))}"
        steps = runs[0].history_steps
        lv = np.log10([[th.nc1(r.history_within_cov[t], r.history_class_means[t]) for t in range(steps.size)]
                       for r in runs])  # (S, T)
        m, se = lv.mean(0), lv.std(0, ddof=1) / np.sqrt(len(runs))
        axes[0].errorbar(steps, 10**m, yerr=np.vstack([10**m - 10 ** (m - se), 10 ** (m + se) - 10**m]),
                         fmt="o-", ms=3, lw=0.8, capsize=2, color=col, label=label)
        norms = np.array([np.linalg.norm(r.history_product[-1], axis=1) for r in runs])  # (S, K)
        k = np.arange(len(sizes)) + (i - 0.5) * 0.2
        mean = norms.mean(0)
        axes[1].errorbar(k, mean, yerr=norms.std(0, ddof=1) / np.sqrt(len(runs)), fmt="o", ms=6, capsize=3,
                         color=col, label=label)
        for kk, v, n in zip(k, mean, sizes):
            axes[1].annotate(f"{n}", (kk, v), textcoords="offset points", xytext=(6, -3), fontsize=7, color=col)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("Adam step $t$")
    axes[0].set_ylabel(r"NC1 $= \mathrm{tr}(\Sigma_W \Sigma_B^{+})/K$")
    axes[0].legend(fontsize=8)
    axes[1].set_xticks(np.arange(4), [f"$k = {j + 1}$" for j in range(4)])
    axes[1].set_xlabel("class $k$ (annotated: $n_k$)")
    axes[1].set_ylabel(r"$\|w_k\|$, rows of $W_3 W_2 W_1$ at the end")
    axes[1].legend(fontsize=8)
    s = dang2023.MLP_SETUP
    fig.suptitle(f"ReLU network ({s['relu_depth']} x {s['relu_width']}) + {s['linear_depth']}-layer linear head, "
                 f"Gaussian mixture in $\\mathbb{{R}}^{{{s['input_dim']}}}$, MSE, weight decay {s['weight_decay']:g}; "
                 f"{len(all_runs[0])} seeds (mean ± se)", fontsize=10)
    return [save(fig, out_dir, "dang2023_network_nc")]
