"""Dang et al. (2023): neural collapse over gradient-descent training of the deep linear UFM.

Balanced data, MSE, no bias: the setting of the claim
``dang2023/orthogonal-frame-balanced`` (class sizes 8, 8, 8, 8, ``lambda_W = lambda_H
= 5e-3``, width 6), trained by :func:`paper_checks.dang2023.train_runs` for depths
``M = 1, 2, 3`` (the claim's cached runs) and ``M = 4`` (the same function).  Per
recorded GD step and per seed:

* NC1 ``= tr(Sigma_W Sigma_B^+)/K`` of the features (:func:`theory.neural_collapse.nc1`);
* NC2 of the product classifier's Gram ``(W_M...W_1)(W_M...W_1)^T`` against the
  orthogonal frame ``I`` (:func:`~theory.neural_collapse.nc2`), the balanced bias-free
  minimum's geometry;
* NC3 between the product classifier and the class means (:func:`~theory.neural_collapse.nc3`);
* the objective's gap to the closed-form global minimum
  (:func:`~theory.neural_collapse.deep_linear_ufm_minimum`).

Points: the mean over seeds of ``log10`` of the metric, error bars one standard
error of that mean (drawn as a factor on the log axis).  Open markers at the right:
the end state after the L-BFGS polish that follows GD.  Theory: every metric and
the gap are 0 at the global minimum (not drawable on a log axis).  Values below
the double-precision floor are drawn at it (dotted lines): ``u^2`` for NC1
(quadratic in the features' relative deviations; same-class features often
become bitwise equal, NC1 exactly 0), ``u`` for NC2 and NC3, ``u L*`` for the
gap, with ``u = 2.2e-16`` the unit roundoff.
"""

from __future__ import annotations

import functools

import numpy as np

from paper_checks import dang2023
from paper_checks.claims import Budget
from theory import neural_collapse as th

from ._common import DEFAULT_SEED, colors, parallel_map, plt, save

SIZES, LAMBDA = (8, 8, 8, 8), 5e-3
DEPTHS = (1, 2, 3, 4)
_EPS = float(np.finfo(float).eps)
#: display floors of NC1, NC2, NC3 (module docstring)
_FLOORS = (_EPS**2, _EPS, _EPS)


def _run(depth, budget, seed):
    return dang2023.train_runs(SIZES, depth, LAMBDA, "mse", False, budget, seed)


def _metrics(run):
    """(S, T) arrays of NC1, NC2, NC3 along the GD history, and (S,) of each at the polished end."""
    K = len(SIZES)
    target = th.frame_target("orthogonal", K)
    S, T = run.history_objective.shape

    def three(cov, means, P):
        return (th.nc1(cov, means), th.nc2(P @ P.T, target), th.nc3(P, means))

    hist = np.array([[three(run.history_within_cov[s, t], run.history_class_means[s, t], run.history_product[s, t])
                      for t in range(T)] for s in range(S)])  # (S, T, 3)
    end = np.array([three(run.within_cov[s], run.class_means[s], run.product[s]) for s in range(S)])  # (S, 3)
    return hist, end


def _log_mean_se(values, axis=0):
    """10^(mean log10) and the multiplicative error bar 10^(se of that mean) over ``axis``."""
    lv = np.log10(np.asarray(values, dtype=float))
    m = lv.mean(axis=axis)
    n = lv.shape[axis]
    se = lv.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(m)
    return 10**m, 10**m - 10 ** (m - se), 10 ** (m + se) - 10**m


def _errorbar(ax, x, values, **kw):
    mid, lo, hi = _log_mean_se(values)
    return ax.errorbar(x, mid, yerr=np.vstack([lo, hi]), capsize=2, **kw)


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    seed = DEFAULT_SEED if seed is None else seed
    runs = parallel_map(functools.partial(_run, budget=budget, seed=seed), DEPTHS)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), sharex=True)
    names = [(r"NC1 $= \mathrm{tr}(\Sigma_W \Sigma_B^{+})/K$", "NC1"),
             (r"NC2 $= \| G/\|G\|_F - I/\|I\|_F \|_F$, $G = (W_M\cdots W_1)(W_M\cdots W_1)^\top$", "NC2"),
             (r"NC3 $= \| W/\|W\|_F - \bar H^\top/\|\bar H\|_F \|_F$, $W = W_M\cdots W_1$", "NC3")]
    flat = axes.ravel()
    for depth, run, col in zip(DEPTHS, runs, colors(len(DEPTHS))):
        steps = run.history_steps
        x_end = steps[-1] * 1.04
        hist, end = _metrics(run)
        for j in range(3):
            _errorbar(flat[j], steps, np.maximum(hist[:, :, j], _FLOORS[j]), fmt="o-", ms=3, lw=0.8, color=col,
                      label=f"$M = {depth}$")
            _errorbar(flat[j], [x_end], np.maximum(end[:, j], _FLOORS[j])[:, None], fmt="o", mfc="none", ms=6,
                      color=col)
        theory = th.deep_linear_ufm_minimum(list(SIZES), depth, LAMBDA, LAMBDA)
        gap = run.history_objective - theory.objective
        floor = _EPS * abs(theory.objective)
        _errorbar(flat[3], steps, np.maximum(gap, floor), fmt="o-", ms=3, lw=0.8, color=col,
                  label=f"$M = {depth}$: $\\mathcal{{L}}^* = {theory.objective:.5g}$")
        _errorbar(flat[3], [x_end], np.maximum(run.objective - theory.objective, floor)[:, None], fmt="o",
                  mfc="none", ms=6, color=col)
    for ax, (label, short), fl in zip(flat[:3], names, _FLOORS):
        ax.set_yscale("log")
        ax.axhline(fl, ls=":", color="grey", lw=1)
        ax.set_ylabel(short)
        ax.set_title(label, fontsize=8)
    flat[3].set_yscale("log")
    flat[3].set_ylabel(r"$\mathcal{L}(W_1,\ldots,W_M,H) - \mathcal{L}^*$")
    flat[3].set_title(r"gap to the closed-form global minimum $\mathcal{L}^*$ (theory: 0)", fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("gradient-descent step $t$ (open markers: after L-BFGS)")
    flat[0].legend(fontsize=8)
    flat[3].legend(fontsize=7)
    fig.suptitle(f"Deep linear UFM, balanced $n_k$ = {'-'.join(map(str, SIZES))}, MSE, no bias, "
                 f"$\\lambda_W = \\lambda_H = {LAMBDA:g}$, $d = {dang2023.WIDTH}$; "
                 f"{runs[0].n_samples} seeds (mean of $\\log_{{10}}$ ± se)", fontsize=10)
    return [save(fig, out_dir, "dang2023_nc_over_training")]
