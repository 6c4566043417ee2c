"""Fisher, Meng & Papyan (ICLR 2024): mixup's influence on neural collapse, in the unconstrained-features model.

Theory: :func:`theory.neural_collapse.mixup_optimal_feature` and friends (classifier
fixed to a unit-norm simplex ETF, CE on mixup targets); simulation:
:func:`simulations.neural_collapse.train_mixup_features` (gradient descent on each
mixed sample's feature from a random start, then a Newton polish); figures:
``figures/fisher2024_*.py``.  The places quote the paper's abstract: same-class
mixup features align with the classifier, different-class ones form channels
along the decision boundary and are not convex combinations of class means
(as MSE mixup would give).
"""

from __future__ import annotations

import numpy as np

from simulations import neural_collapse as sim
from theory import neural_collapse as th

from . import stats
from .claims import Budget, Evidence, Paper, claim

FISHER2024 = Paper(
    key="fisher2024",
    authors="Quinn LeBlanc Fisher, Haoming Meng, Vardan Papyan",
    title="Pushing Boundaries: Mixup's Influence on Neural Collapse",
    venue="ICLR",
    year=2024,
    arxiv="2402.06171",
)

NUM_CLASSES = 10
FEATURE_DECAY = 5e-3


def mixes(budget: Budget) -> np.ndarray:
    return np.linspace(0.0, 1.0, budget.pick(quick=11, full=41))


def trained(budget: Budget, seed: int, *, pairs="cross", loss="ce", feature_decay=FEATURE_DECAY):
    return sim.train_mixup_features(NUM_CLASSES, feature_decay, mixes(budget), pairs=pairs, loss=loss, seed=seed,
                                    steps=budget.pick(quick=500, full=3000))


@claim(
    "fisher2024/same-class-align-with-classifier",
    paper=FISHER2024, where="abstract: same-class mixup features align with the classifier",
    statement="The optimal feature of a same-class mixed sample is a w_c with a the root of the derived 1-D "
              "equation, whatever the mixing weight: aligned with its classifier row, no other component.",
)
def _same(budget: Budget, seed: int) -> Evidence:
    run = trained(budget, seed, pairs="same")
    a = th.mixup_same_class_scale(NUM_CLASSES, FEATURE_DECAY)
    W = run.classifier
    obs = run.features.ravel()
    pred = np.tile(a * W[0], run.n_samples)
    # rival: the MSE-mixup optimum (the feature a squared loss would give), also aligned but of another length
    a_mse, _ = th.mixup_mse_feature(NUM_CLASSES, FEATURE_DECAY, 1.0)
    riv = np.tile(a_mse * W[0], run.n_samples)
    test = stats.argmin_agreement(obs, pred, riv, rival_name="squared-loss (MSE) mixup length",
                                  parameters=NUM_CLASSES, scale=abs(a))
    return Evidence.from_test(test, sample_sizes={"mixes": run.n_samples},
                              note=f"a = {a:.6g}; max residual off the classifier row {run.residual_norm.max():.2g}")


def _cross_prediction(ms):
    return np.array([th.mixup_optimal_feature(NUM_CLASSES, FEATURE_DECAY, m) for m in ms])


@claim(
    "fisher2024/cross-class-not-convex-combination",
    paper=FISHER2024, where="abstract and UFM analysis: different-class mixup features",
    statement="The optimal feature of a cross-class mixed sample is a w_c + b w_c' with (a, b) solving the derived "
              "2-D system; it is not the convex combination mix h_c + (1 - mix) h_c' of the class features.",
)
def _cross(budget: Budget, seed: int) -> Evidence:
    run = trained(budget, seed)
    pred = _cross_prediction(run.mixes)
    a = th.mixup_same_class_scale(NUM_CLASSES, FEATURE_DECAY)
    riv = np.column_stack([run.mixes * a, (1 - run.mixes) * a])
    obs = np.concatenate([run.coefficients.ravel(), run.residual_norm])
    pred = np.concatenate([pred.ravel(), np.zeros(run.n_samples)])
    riv = np.concatenate([riv.ravel(), np.zeros(run.n_samples)])
    test = stats.argmin_agreement(obs, pred, riv, rival_name="convex combination of class features",
                                  parameters=NUM_CLASSES, scale=np.abs(pred).max())
    return Evidence.from_test(test, sample_sizes={"mixes": run.n_samples})


@claim(
    "fisher2024/mse-mixup-is-convex-combination",
    paper=FISHER2024, where="abstract: MSE mixup would give convex combinations",
    statement="With the squared loss the optimal mixup feature is exactly the convex combination "
              "mix h_c + (1 - mix) h_c' (the feature is linear in the target); the CE geometry does not hold there.",
)
def _mse(budget: Budget, seed: int) -> Evidence:
    run = trained(budget, seed, loss="mse")
    pred = np.array([th.mixup_mse_feature(NUM_CLASSES, FEATURE_DECAY, m) for m in run.mixes])
    riv = _cross_prediction(run.mixes)
    test = stats.argmin_agreement(run.coefficients.ravel(), pred.ravel(), riv.ravel(),
                                  rival_name="the CE-mixup optimum", parameters=NUM_CLASSES,
                                  scale=np.abs(pred).max())
    return Evidence.from_test(test, sample_sizes={"mixes": run.n_samples})


#: from 3e-2 down: above it (e.g. 0.1 at mix 0.9) the margin crosses the log-odds once, so the
#: approach is not monotone there (it still converges)
CHANNEL_DECAYS = (3e-2, 1e-2, 1e-3, 1e-4)
CHANNEL_MIXES = (0.6, 0.75, 0.9)


@claim(
    "fisher2024/decision-boundary-channels",
    paper=FISHER2024, where="abstract: different-class activations form channels along the decision boundary",
    statement="As the feature decay shrinks, cross-class features grow along w_c + w_c' while their logit margin "
              "z_c - z_c' stays bounded, tending to the log-odds log(mix/(1-mix)): they line the decision boundary "
              "(calibrated), unlike convex combinations whose margin grows with the feature norm.",
)
def _channels(budget: Budget, seed: int) -> Evidence:
    obs, pred, riv, norms = [], [], [], []
    for lam in CHANNEL_DECAYS:
        run = sim.train_mixup_features(NUM_CLASSES, lam, np.array(CHANNEL_MIXES), seed=seed,
                                       steps=budget.pick(quick=500, full=3000))
        a_same = th.mixup_same_class_scale(NUM_CLASSES, lam)
        for (a, b), m in zip(run.coefficients, run.mixes):
            obs.append(th.mixup_logit_margin(NUM_CLASSES, a, b))
            ta, tb = th.mixup_optimal_feature(NUM_CLASSES, lam, m)
            pred.append(th.mixup_logit_margin(NUM_CLASSES, ta, tb))
            riv.append(th.mixup_logit_margin(NUM_CLASSES, m * a_same, (1 - m) * a_same))
            norms.append(a + b)
    margins = stats.argmin_agreement(obs, pred, riv, rival_name="convex combination's margin",
                                     parameters=NUM_CLASSES, scale=max(np.abs(pred)))
    logodds = np.log(np.array(CHANNEL_MIXES) / (1 - np.array(CHANNEL_MIXES)))
    gaps = np.abs(np.array(obs).reshape(len(CHANNEL_DECAYS), len(CHANNEL_MIXES)) - logodds)  # (decays, mixes)
    # the distance to the log-odds shrinks with the decay, for every mix
    shrink = stats.fp_monotone(np.diff(gaps, axis=0).ravel(), direction="decreasing", scale=gaps.max(),
                               dimension=NUM_CLASSES, rival_name="margin does not approach the log-odds")
    test = stats.combine(margins, shrink)
    gap = gaps[-1].max()
    return Evidence.from_test(test, sample_sizes={"decays": len(CHANNEL_DECAYS), "mixes": len(CHANNEL_MIXES)},
                              note=f"a + b grows from {min(norms):.3g} to {max(norms):.3g}; at decay "
                                   f"{CHANNEL_DECAYS[-1]:g} the margin is within {gap:.2g} of the log-odds")
