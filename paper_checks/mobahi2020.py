"""Mobahi, Farajtabar & Bartlett (NeurIPS 2020): self-distillation amplifies regularization in Hilbert space.

Theory: :mod:`theory.self_distillation` (the ``alpha = 0`` multipliers and the
constraint form); simulation: :mod:`simulations.self_distillation`; figures:
``figures/mobahi2020_*.py``.  The data are the paper's toy example (11 points of
a noisy sinusoid, as reused by Borup & Andersen) with an RBF kernel.
"""

from __future__ import annotations

import math

import numpy as np

from simulations import self_distillation as sim
from theory import self_distillation as th

from . import stats
from .claims import Budget, Evidence, Paper, claim

MOBAHI2020 = Paper(
    key="mobahi2020",
    authors="Hossein Mobahi, Mehrdad Farajtabar, Peter L. Bartlett",
    title="Self-Distillation Amplifies Regularization in Hilbert Space",
    venue="NeurIPS",
    year=2020,
    arxiv="2002.05715",
)

#: training-error levels of the constraint form checked (from near-interpolation to a loose fit)
EPSILONS = (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)


def toy_gram():
    X = th.TOY_INPUTS
    return th.rbf_kernel(X, X, th.TOY_GAMMA), th.TOY_TARGETS.copy()



@claim(
    "mobahi2020/collapse-without-ground-truth",
    paper=MOBAHI2020, where="self-distillation as a power iteration",
    statement="With a fixed ridge and no ground truth, the t-th round's fit is V diag(a^(t+1)) V^T y, "
              "a = d/(d+lambda): a power iteration whose norm decays to zero.",
)
def _collapse(budget: Budget, seed: int) -> Evidence:
    K, y = toy_gram()
    d, V = th.gram_eigh(K)
    steps = budget.pick(quick=200, full=1000)
    fits = sim.iterate_distillation(K, y, th.TOY_RIDGE, [0.0], steps)[0]
    norms = np.linalg.norm(fits, axis=1)
    z = V.T @ y
    predicted = np.array([np.linalg.norm(th.student_multipliers(d, th.TOY_RIDGE, 0.0, s) * z)
                          for s in range(steps + 1)])
    limit = th.limit_multipliers(d, th.TOY_RIDGE, 0.0)
    assert not np.any(limit), "the alpha = 0 limit is the zero function"
    # rival: distillation that keeps the ground truth (Borup's alpha = 0.25) does not collapse
    rival = np.array([np.linalg.norm(th.student_multipliers(d, th.TOY_RIDGE, 0.25, s) * z) for s in range(steps + 1)])
    test = stats.fp_agreement(norms, predicted, rival, rival_name="no collapse (ground truth kept, alpha = 0.25)",
                              condition=stats.condition_number(K, th.TOY_RIDGE), dimension=K.shape[0], repetitions=steps + 1,
                              scale=np.maximum(np.abs(predicted), np.abs(predicted).max() * stats.UNIT_ROUNDOFF))
    return Evidence.from_test(test, sample_sizes={"rounds": steps},
                              note=f"||f_t|| / ||f_0|| = {norms[-1] / norms[0]:.3g} after {steps} rounds")


def _rounds(K, y, eps, max_rounds=10_000):
    """Constraint form trained in input space, and the theory's eigenbasis recursion."""
    ridges, norms, preds = sim.constrained_distillation(K, y, eps, max_rounds)
    d, V = th.gram_eigh(K)
    theory = th.constrained_rounds(d, V.T @ y, K.shape[0], eps, max_rounds)
    return ridges, norms, preds, theory


@claim(
    "mobahi2020/regularization-grows-each-round",
    paper=MOBAHI2020, where="constraint form: regularization amplified each round",
    statement="In the constraint form (training error fixed at epsilon), the ridge of each round is larger "
              "than the last: self-distillation amplifies regularization.",
)
def _ridge_grows(budget: Budget, seed: int) -> Evidence:
    K, y = toy_gram()
    diffs, scale, reps = [], 0.0, 1
    for eps in EPSILONS:
        ridges, _, _, _ = _rounds(K, y, eps)
        finite = ridges[np.isfinite(ridges)]
        if finite.size >= 2:
            diffs.append(np.diff(finite))
            scale = max(scale, finite.max())
            reps = max(reps, finite.size)
    # each ridge is a root found to a relative 4 u; the system it solves has condition kappa(K + c I)
    test = stats.fp_monotone(np.concatenate(diffs), direction="increasing", scale=scale,
                             condition=stats.condition_number(K), dimension=K.shape[0], repetitions=reps,
                             rival_name="constant ridge (no amplification)")
    return Evidence.from_test(test, sample_sizes={"epsilons": len(EPSILONS)})


@claim(
    "mobahi2020/collapse-round",
    paper=MOBAHI2020, where="bound on the rounds before collapse",
    statement="The constraint form collapses to the zero function after finitely many rounds T, with "
              "r_0 - 1 <= T <= r_0^2 - 1 where r_0 = ||y|| / sqrt(n epsilon); the eigenbasis recursion "
              "predicts T exactly.",
)
def _collapse_round(budget: Budget, seed: int) -> Evidence:
    K, y = toy_gram()
    n = K.shape[0]
    observed, predicted, rival, lower, upper = [], [], [], [], []
    for eps in EPSILONS:
        ridges, norms, preds, theory = _rounds(K, y, eps)
        T = int(np.argmax(np.isinf(ridges)))
        assert np.isinf(ridges[T]) and not np.any(preds[T]), "the collapse round's fit is zero"
        lo, hi = th.collapse_round_bounds(norms[0], n, eps)
        observed.append(T)
        predicted.append(theory.collapse_round)
        # rival: each round removes exactly sqrt(n eps) of norm (the lower bound taken as the law)
        rival.append(lo)
        lower.append(lo)
        upper.append(hi)
    exact = stats.fp_agreement(observed, predicted, rival, rival_name="norm falls by sqrt(n eps) a round",
                               scale=max(observed))
    test = stats.combine(exact, stats.within(observed, lower, upper))
    return Evidence.from_test(test, sample_sizes={"epsilons": len(EPSILONS)},
                              note="collapse rounds " + ", ".join(f"eps={e}: {t}" for e, t in zip(EPSILONS, observed)))


@claim(
    "mobahi2020/sparsification",
    paper=MOBAHI2020, where="sparsification of B_t (the basis is limited each round)",
    statement="In the constraint form the diagonal B_t = prod_i d/(c_i + d) sparsifies: for d_j > d_k the ratio "
              "B_t[j]/B_t[k] is non-decreasing in t.",
)
def _sparsification(budget: Budget, seed: int) -> Evidence:
    K, y = toy_gram()
    d, V = th.gram_eigh(K)
    z = V.T @ y
    j, k = np.triu_indices(d.size, 1)
    keep = d[j] > d[k]
    diffs, scale, reps = [], 0.0, 1
    for eps in EPSILONS:
        ridges, _, preds, _ = _rounds(K, y, eps)
        live = preds[np.isfinite(ridges)]
        if live.shape[0] < 2:
            continue
        B = (live @ V) / z  # measured from the trained rounds' predictions
        ratio = B[:, j[keep]] / B[:, k[keep]]
        diffs.append(np.diff(ratio, axis=0).ravel())
        scale = max(scale, np.abs(ratio).max())
        reps = max(reps, live.shape[0])
    test = stats.fp_monotone(np.concatenate(diffs), direction="increasing", scale=scale, condition=stats.condition_number(K),
                             dimension=K.shape[0], repetitions=reps, rival_name="no sparsification (constant ratios)")
    return Evidence.from_test(test, sample_sizes={"epsilons": len(EPSILONS)})


U_SHAPE_SETUP = dict(n=11, steps=6, ridge=0.2, gamma=80.0, noise=0.5)


def u_shape_experiment(budget: Budget, seed: int):
    s = U_SHAPE_SETUP
    R = budget.pick(quick=4000, full=40000)
    res = sim.distillation_risk(s["n"], [0.0], s["steps"], s["ridge"], s["gamma"], s["noise"], R, seed, design="grid")
    X = np.linspace(0, 1, s["n"])
    K = th.rbf_kernel(X, X, s["gamma"])
    C = th.rbf_kernel(res.x_test, X, s["gamma"])
    exact = th.expected_risks(K, C, sim.target_function(X), sim.target_function(res.x_test), s["noise"] ** 2,
                              s["ridge"], [0.0], s["steps"])[0]
    return res, exact


@claim(
    "mobahi2020/few-rounds-help-then-hurt",
    paper=MOBAHI2020, where="abstract and experiments: over- then under-fitting",
    statement="Starting from an overfitting teacher, the first rounds of self-distillation lower the expected "
              "test risk and later rounds raise it; the step-to-step changes equal the closed form's.",
)
def _u_shape(budget: Budget, seed: int) -> Evidence:
    res, exact = u_shape_experiment(budget, seed)
    risks = res.risks[:, 0, :]
    diffs = np.diff(risks, axis=1)
    se = diffs.std(axis=0, ddof=1) / math.sqrt(res.n_samples)
    pred = np.diff(exact)
    if not (pred[0] < 0 < pred[-1]):
        raise ValueError("the setup does not produce an interior minimum in theory; choose another ridge")
    test = stats.z_agreement(diffs.mean(0), se, pred, np.zeros_like(pred),
                             rival_name="distillation leaves the risk unchanged")
    return Evidence.from_test(test, sample_sizes={"replicates": res.n_samples, "rounds": pred.size},
                              note=f"best round {int(np.argmin(exact))} of {pred.size}")
