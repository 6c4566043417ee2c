"""Fisher, Meng & Papyan (2024): mixup features under a fixed simplex-ETF classifier, CE loss.

Left: the optimal feature ``h = a w_c + b w_c'`` of a sample mixing class ``c``
(weight ``mix``) and class ``c'``, in the plane of its coefficients, ``K = 10``,
``lambda_H = 5e-3``.  Points: features found by gradient descent plus a Newton
polish from random starts (:func:`paper_checks.fisher2024.trained`, the cached
runs of the claim ``fisher2024/cross-class-not-convex-combination``), coloured
by ``mix``; line: the theory (:func:`theory.neural_collapse.mixup_optimal_feature`
on a fine ``mix`` grid); dashed: the convex combination ``mix h_c + (1 - mix) h_c'``
of the same-class optima (what MSE mixup would give; the claim's rival); squares:
the same-class optima ``a* w_c`` and ``a* w_c'`` (:func:`~theory.neural_collapse.mixup_same_class_scale`);
dotted: the decision boundary ``z_c = z_c'``, i.e. ``a = b``.

Middle: the logit margin ``z_c - z_c' = (a - b) K/(K - 1)`` against ``mix`` for the
feature decays of the claim ``fisher2024/decision-boundary-channels``
(:data:`paper_checks.fisher2024.CHANNEL_DECAYS`): lines theory, points the
claim's cached runs at :data:`~paper_checks.fisher2024.CHANNEL_MIXES` (and, for
``lambda_H = 5e-3``, the left panel's runs); black: the log-odds ``log(mix/(1 - mix))``
the margin approaches as ``lambda_H -> 0``; right: the margin minus the log-odds
(the claim's shrinking distance).  Deterministic problems: each point is
one strongly convex minimization (no standard error).
"""

from __future__ import annotations

import numpy as np

from paper_checks import fisher2024
from paper_checks.claims import Budget
from simulations import neural_collapse as sim
from theory import neural_collapse as th

from ._common import DEFAULT_SEED, plt, save


def _theory_curve(lam, mixes):
    return np.array([th.mixup_optimal_feature(fisher2024.NUM_CLASSES, lam, float(m)) for m in mixes])


def _margin(ab):
    K = fisher2024.NUM_CLASSES
    return (ab[:, 0] - ab[:, 1]) * K / (K - 1.0)


def make(budget, out_dir, seed=None):
    budget = Budget.parse(budget)
    seed = DEFAULT_SEED if seed is None else seed
    K, lam0 = fisher2024.NUM_CLASSES, fisher2024.FEATURE_DECAY
    run = fisher2024.trained(budget, seed)
    fine = np.linspace(0.0, 1.0, 201)
    curve = _theory_curve(lam0, fine)
    a_same = th.mixup_same_class_scale(K, lam0)

    fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 5), width_ratios=(1.2, 1, 1))
    ax.plot(curve[:, 0], curve[:, 1], "-", color="k", lw=1.2, label="theory (CE optimum)")
    ax.plot([a_same, 0.0], [0.0, a_same], "--", color="C3", lw=1.2,
            label=r"convex combination $\mathrm{mix}\,h_c + (1-\mathrm{mix})\,h_{c'}$")
    lim = 1.08 * max(a_same, float(np.abs(curve).max()), float(np.abs(run.coefficients).max()))
    ax.plot([0, lim], [0, lim], ":", color="grey", label=r"decision boundary $z_c = z_{c'}$ ($a = b$)")
    sc = ax.scatter(run.coefficients[:, 0], run.coefficients[:, 1], c=run.mixes, cmap="viridis", s=36,
                    edgecolors="k", linewidths=0.5, zorder=3, label="trained (GD + Newton)")
    ax.plot([a_same, 0.0], [0.0, a_same], "s", color="C3", ms=8, mfc="none", mew=1.5,
            label=r"same-class optima $a^* w_c$, $a^* w_{c'}$")
    fig.colorbar(sc, ax=ax, label=r"$\mathrm{mix}$ (weight on class $c$)")
    ax.set_xlim(-0.03 * lim, lim)
    ax.set_ylim(-0.03 * lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$a$: coefficient along $w_c$")
    ax.set_ylabel(r"$b$: coefficient along $w_{c'}$")
    ax.set_title(rf"$h = a\,w_c + b\,w_{{c'}}$, $K = {K}$, $\lambda_H = {lam0:g}$, {run.n_samples} mixes",
                 fontsize=9)
    ax.legend(fontsize=7, loc="lower left")

    mixes_fine = np.linspace(0.005, 0.995, 199)
    logodds = np.log(mixes_fine / (1 - mixes_fine))
    decays = tuple(fisher2024.CHANNEL_DECAYS)
    steps = budget.pick(quick=500, full=3000)
    ymax = 0.0
    series = [(lam, col, np.array(fisher2024.CHANNEL_MIXES)) for lam, col in zip(decays, ("C0", "C1", "C2", "C4"))]
    series.append((lam0, "C5", None))
    for lam, col, mx in series:
        th_margin = _margin(_theory_curve(lam, mixes_fine))
        ymax = max(ymax, float(np.abs(th_margin).max()))
        if mx is None:  # the left panel's runs
            pts_m, pts = run.mixes, _margin(run.coefficients)
        else:  # the channel claim's runs
            chan = sim.train_mixup_features(K, lam, mx, seed=seed, steps=steps)
            pts_m, pts = chan.mixes, _margin(chan.coefficients)
        inside = (pts_m > 0) & (pts_m < 1)  # the log-odds is infinite at mix 0 and 1
        pts_gap = pts[inside] - np.log(pts_m[inside] / (1 - pts_m[inside]))
        for axis, y, xp, yp in ((ax2, th_margin, pts_m, pts), (ax3, th_margin - logodds, pts_m[inside], pts_gap)):
            axis.plot(mixes_fine, y, "-", color=col, lw=1.2, label=rf"$\lambda_H = {lam:g}$")
            axis.plot(xp, yp, "o", color=col, mec="k", mew=0.5, ms=5)
    ax2.plot(mixes_fine, logodds, "-", color="k", lw=2.5, alpha=0.35,
             label=r"log-odds $\log\frac{\mathrm{mix}}{1-\mathrm{mix}}$")
    ax2.axhline(0.0, ls=":", color="grey", lw=1)
    ax2.set_ylim(-1.15 * ymax, 1.15 * ymax)
    ax2.set_xlabel(r"$\mathrm{mix}$ (weight on class $c$)")
    ax2.set_ylabel(r"logit margin $z_c - z_{c'} = (a - b)\,K/(K-1)$")
    ax2.set_title("margin: lines theory, points trained", fontsize=9)
    ax2.legend(fontsize=7, loc="upper left")
    ax3.axhline(0.0, ls="-", color="k", lw=2.5, alpha=0.35)
    ax3.set_xlabel(r"$\mathrm{mix}$ (weight on class $c$)")
    ax3.set_ylabel(r"$z_c - z_{c'} - \log\frac{\mathrm{mix}}{1-\mathrm{mix}}$")
    ax3.set_title(r"distance to the log-odds: shrinks as $\lambda_H \to 0$", fontsize=9)
    ax3.set_xlim(0.0, 1.0)
    ax3.set_ylim(-0.5, 0.5)
    fig.suptitle("Mixup with CE: cross-class features bend toward the decision boundary, "
                 "not along the convex combination", fontsize=10)
    return [save(fig, out_dir, "fisher2024_mixup_features")]
