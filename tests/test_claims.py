"""Every claim at the quick budget: the theory agrees, the rival is rejected, and a wrong theory fails."""

import numpy as np
import pytest

from paper_checks import borup2021, claims, stats
from theory import self_distillation as th

REGISTRY = claims.load_all()
FAMILY = len(REGISTRY)
SEED = 0


def run(claim_id, seed=SEED):
    with stats.family(stats.DEFAULT_FALSE_ALARM_RATE, FAMILY):
        return REGISTRY[claim_id].run(claims.Budget.QUICK, seed)


def test_registry_holds_both_papers_and_at_least_eight_claims():
    papers = {c.paper.key for c in REGISTRY.values()}
    assert {"borup2021", "mobahi2020"} <= papers
    assert len(REGISTRY) >= 8
    for c in REGISTRY.values():
        assert c.where and c.statement and c.id.startswith(c.paper.key + "/")


@pytest.mark.parametrize("claim_id", sorted(REGISTRY))
def test_claim_holds_and_rejects_its_rival(claim_id):
    ev = run(claim_id)
    assert ev.agrees, f"{claim_id}: statistic {ev.statistic} > threshold {ev.threshold}"
    assert ev.rival_rejected, f"{claim_id}: rival {ev.rival!r} not rejected ({ev.rival_statistic})"
    assert ev.verdict == "pass" and ev.seed == SEED and ev.runtime_s >= 0
    assert ev.rival


@pytest.mark.parametrize("claim_id", sorted(REGISTRY))
def test_rival_taken_as_the_theory_fails_on_the_same_evidence(claim_id):
    """Swap theory and rival: the check must then fail (a check that cannot fail is a defect)."""
    ev = run(claim_id)
    rival = np.asarray(ev.rival_prediction, dtype=float)
    obs = np.asarray(ev.observed, dtype=float)
    tol = np.broadcast_to(np.asarray(ev.tolerance, dtype=float), obs.shape)
    live = np.isfinite(rival)
    if ev.test in ("fp-monotone", "monotone"):
        # the rival is "no trend": some difference lies beyond the tolerance with the predicted sign
        assert np.any(np.abs(obs) > tol)
    else:
        assert np.any(np.abs(obs[live] - rival[live]) > tol[live])


def test_monte_carlo_claims_change_with_the_seed_but_still_hold():
    a = run("borup2021/optimal-alpha-in-expectation", seed=1)
    b = run("borup2021/optimal-alpha-in-expectation", seed=2)
    assert a.observed[0] != b.observed[0]
    assert a.passed and b.passed


# ---------------------------------------------------------------- wrong theories must fail


def test_wrong_closed_form_fails(monkeypatch):
    real = th.student_multipliers
    monkeypatch.setattr(th, "student_multipliers", lambda d, r, a, s: real(d, r, 0.0, s))
    assert run("borup2021/closed-form-equals-iteration").verdict == "fail"


def test_unamplified_limit_fails(monkeypatch):
    monkeypatch.setattr(th, "amplified_ridge", lambda ridge, alpha: ridge)
    assert run("borup2021/infinite-steps-amplify-ridge").verdict == "fail"


def test_risk_from_the_wrong_multipliers_fails(monkeypatch):
    real = th.expected_risks
    monkeypatch.setattr(th, "expected_risks",
                        lambda K, C, f, fs, v, r, alphas, steps: real(K, C, f, fs, v, r, [0.0] * len(alphas), steps)
                        if len(alphas) > 1 else real(K, C, f, fs, v, r, alphas, steps))
    assert run("borup2021/expected-risk-matches-monte-carlo").verdict == "fail"


def test_noise_blind_expected_alpha_fails(monkeypatch):
    real = th.expected_optimal_alpha
    monkeypatch.setattr(th, "expected_optimal_alpha", lambda K, f, v, r, C=None, fs=None: real(K, f, 0.0, r, C, fs))
    assert run("borup2021/optimal-alpha-in-expectation").verdict == "fail"


def test_optimal_alpha_clipped_to_unit_interval_fails(monkeypatch):
    real = th.optimal_alpha
    monkeypatch.setattr(th, "optimal_alpha", lambda *a, **k: float(np.clip(real(*a, **k), 0, 1)))
    assert run("borup2021/optimal-alpha-closed-form").verdict == "fail"


def test_published_table_at_its_label_fails(monkeypatch):
    monkeypatch.setattr(borup2021, "PUBLISHED_SECOND_ACTUAL", 0.25)
    assert run("borup2021/authors-toy-table").verdict == "fail"


def test_wrong_collapse_recursion_fails(monkeypatch):
    real = th.constrained_rounds
    monkeypatch.setattr(th, "constrained_rounds", lambda d, z, n, eps, m=1000: real(d, z, n, eps / 2, m))
    assert run("mobahi2020/collapse-round").verdict == "fail"


def test_wrong_risk_over_rounds_fails(monkeypatch):
    real = th.expected_risks
    monkeypatch.setattr(th, "expected_risks",
                        lambda K, C, f, fs, v, r, alphas, steps: real(K, C, f, fs, v, 2 * r, alphas, steps))
    assert run("mobahi2020/few-rounds-help-then-hurt").verdict == "fail"


def test_collapse_claim_fails_for_a_non_collapsing_theory(monkeypatch):
    real = th.student_multipliers
    monkeypatch.setattr(th, "student_multipliers", lambda d, r, a, s: real(d, r, 0.1 if a == 0 else a, s))
    assert run("mobahi2020/collapse-without-ground-truth").verdict == "fail"


def test_evidence_serialises():
    ev = run("mobahi2020/collapse-round")
    d = ev.to_dict()
    assert d["verdict"] == "pass" and d["seed"] == SEED and isinstance(d["observed"], list)


def test_select_patterns():
    assert {c.id for c in claims.select(["mobahi2020"])} == {k for k in REGISTRY if k.startswith("mobahi2020/")}
    assert [c.id for c in claims.select(["borup2021/authors-*"])] == ["borup2021/authors-toy-table"]
    with pytest.raises(ValueError, match="matches no claim"):
        claims.select(["nopaper"])
    with pytest.raises(ValueError, match="budget"):
        claims.Budget.parse("medium")


# ---------------------------------------------------------------- neural collapse: wrong theories must fail

from theory import neural_collapse as nct  # noqa: E402


def test_naive_root_rule_fails_the_boundary_claim(monkeypatch):
    real = nct.class_root
    monkeypatch.setattr(nct, "class_root", lambda r, M: nct.naive_largest_root(r, M) if M > 1 else real(r, M))
    assert run("dang2023/minority-collapse-boundary").verdict == "fail"
    assert run("dang2023/minimum-value-closed-form").verdict == "fail"


def test_etf_geometry_for_bias_free_data_fails(monkeypatch):
    real = nct.deep_linear_ufm_minimum

    def wrong(sizes, depth, wd, fd, loss="mse", bias=False):
        m = real(sizes, depth, wd, fd, loss, bias)
        K = len(sizes)
        etf = np.trace(m.classifier_gram) / (K - 1) * (np.eye(K) - np.ones((K, K)) / K)
        return m.__class__(**{**m.__dict__, "classifier_gram": etf})

    monkeypatch.setattr(nct, "deep_linear_ufm_minimum", wrong)
    assert run("dang2023/orthogonal-frame-balanced").verdict == "fail"


def test_equal_lengths_for_imbalanced_data_fail(monkeypatch):
    real = nct.deep_linear_ufm_minimum

    def wrong(sizes, depth, wd, fd, loss="mse", bias=False):
        m = real(sizes, depth, wd, fd, loss, bias)
        G = np.trace(m.classifier_gram) / len(sizes) * np.eye(len(sizes))
        return m.__class__(**{**m.__dict__, "classifier_gram": G})

    monkeypatch.setattr(nct, "deep_linear_ufm_minimum", wrong)
    assert run("dang2023/general-orthogonal-frame").verdict == "fail"


def test_ce_scale_of_depth_one_fails_deeper(monkeypatch):
    real = nct.ce_scale
    monkeypatch.setattr(nct, "ce_scale", lambda M, *a: real(1, *a))
    assert run("dang2023/ce-simplex-etf").verdict == "fail"


def test_convex_combination_theory_fails_for_ce_mixup(monkeypatch):
    monkeypatch.setattr(nct, "mixup_optimal_feature",
                        lambda K, lam, mix, same_class=False: tuple(
                            v * nct.mixup_same_class_scale(K, lam) / nct.mixup_mse_feature(K, lam, 1.0)[0]
                            for v in nct.mixup_mse_feature(K, lam, mix)))
    assert run("fisher2024/cross-class-not-convex-combination").verdict == "fail"
    assert run("fisher2024/decision-boundary-channels").verdict == "fail"


def test_wrong_same_class_scale_fails(monkeypatch):
    real = nct.mixup_same_class_scale
    monkeypatch.setattr(nct, "mixup_same_class_scale", lambda K, lam: real(K, 2 * lam))
    assert run("fisher2024/same-class-align-with-classifier").verdict == "fail"


# ---------------------------------------------------------------- martingale TD: wrong theories must fail

from theory import martingale_td as mtd  # noqa: E402


def test_mstd_taken_for_ml_fails(monkeypatch):
    real = mtd.solve
    monkeypatch.setattr(mtd, "solve", lambda p, f, method, steps=None, **kw:
                        real(p, f, "mstd" if method == "ml" else method, steps=steps, **kw))
    assert run("jia2022/ml-discrete-solution").verdict == "fail"


def test_td0_without_terminal_step_fails(monkeypatch):
    real = mtd.solve
    # a wrong discrete scheme: one step fewer (dt mismatched with the simulation)
    monkeypatch.setattr(mtd, "solve", lambda p, f, method, steps=None, **kw:
                        real(p, f, method, steps=None if steps is None else steps // 2, **kw))
    assert run("jia2022/lstd-discrete-solution").verdict == "fail"
    assert run("jia2022/td-lambda-fixed-point").verdict == "fail"


def test_wrong_value_function_breaks_the_martingale(monkeypatch):
    real = mtd.value_function
    monkeypatch.setattr(mtd, "value_function", lambda p: real(p) + mtd.t)
    assert run("jia2022/martingale-characterization").verdict == "fail"


def test_wrong_rate_fails(monkeypatch):
    real = mtd.convergence_rate

    def half_order(*a, **k):
        fit = real(*a, **k)
        return fit.__class__(**{**fit.__dict__, "errors": np.sqrt(fit.errors)})

    monkeypatch.setattr(mtd, "convergence_rate", half_order)
    assert run("jia2022/discretisation-rate").verdict == "fail"


# ---------------------------------------------------------------- simon2024: wrong random-feature theories fail

from paper_checks import simon2024  # noqa: E402
from theory import random_features as rft  # noqa: E402


def test_kernel_risk_taken_for_random_features_fails(monkeypatch):
    real = rft.test_risk
    monkeypatch.setattr(rft, "test_risk", lambda lam, v, s2, n, N, d, multiplicities=None:
                        real(lam, v, s2, n, float("inf"), d, multiplicities))
    assert run("simon2024/rf-risk-matches-monte-carlo").verdict == "fail"


def test_unsquared_training_factor_fails(monkeypatch):
    real = rft.eigenframework

    def wrong(*a, **k):
        ef = real(*a, **k)
        return ef.__class__(**{**ef.__dict__, "train": ef.test * float(np.sqrt(ef.fitting_ratio))})

    monkeypatch.setattr(rft, "eigenframework", wrong)
    assert run("simon2024/train-risk-matches-monte-carlo").verdict == "fail"


def test_a_fixed_relative_bias_fails_the_finite_size_claim(monkeypatch):
    real = rft.test_risk
    monkeypatch.setattr(rft, "test_risk", lambda *a, **k: real(*a, **k) * 0.99)
    assert run("simon2024/finite-size-gap").verdict == "fail"


def test_a_fixed_ridge_instead_of_the_optimal_one_fails_monotonicity(monkeypatch):
    fixed = simon2024.MONO_FIXED_RIDGE
    monkeypatch.setattr(rft, "optimal_ridge", lambda lam, v, s2, n, N, *a, **k:
                        (fixed, rft.test_risk(lam, v, s2, n, N, fixed)))
    assert run("simon2024/more-features-better").verdict == "fail"
    assert run("simon2024/more-data-better").verdict == "fail"


def test_wrong_optimal_fitting_ratio_fails(monkeypatch):
    monkeypatch.setattr(rft, "powerlaw_optimal_fitting_ratio",
                        lambda a, b, noise=0.0, n=1.0: max(0.0, (a - b) / a) ** 2)
    assert run("simon2024/optimal-fitting-ratio-continuum").verdict == "fail"


def test_wrong_ridge_effect_fails_the_zero_ridge_claim(monkeypatch):
    real = rft.test_risk
    # a theory in which ridge barely matters: the risk at ridge d is the ridgeless risk plus d/100
    monkeypatch.setattr(rft, "test_risk", lambda lam, v, s2, n, N, d, m=None: real(lam, v, s2, n, N, 0.0, m) + d / 100)
    assert run("simon2024/zero-ridge-optimal-noiseless").verdict == "fail"


def test_relu_spectrum_without_multiplicities_fails(monkeypatch):
    real = simon2024.sim.relu_eigensystem

    def wrong(*a, **k):
        lam, mult, coef = real(*a, **k)
        return lam, np.ones_like(mult), coef

    monkeypatch.setattr(simon2024.sim, "relu_eigensystem", wrong)
    assert run("simon2024/relu-features-gaussian-equivalence").verdict == "fail"


def test_a_run_that_stops_short_sits_at_the_collapsed_local_minimum():
    """Seed 20, depth 3, balanced sizes: one of the six runs stops above the global minimum, exactly at the
    closed form of the local minimum with one mode of the product at zero (found by the 25-seed calibration)."""
    from paper_checks import dang2023 as d
    from paper_checks.stats import fp_tolerance
    from theory import neural_collapse as th

    sizes, lam = d.BALANCED
    run = d.train_runs(sizes, 3, lam, "mse", False, claims.Budget.QUICK, 20)
    theory = th.deep_linear_ufm_minimum(list(sizes), 3, lam, lam)
    P = d._n_params(sizes, 3, d.WIDTH, False)
    tol = fp_tolerance(theory.objective, dimension=P)
    stopped = [i for i, v in enumerate(run.objective) if abs(v - theory.objective) > tol]
    assert len(stopped) == 1
    i = stopped[0]
    spectrum = np.linalg.eigvalsh(run.classifier_gram[i])
    S, spec, value = d._collapsed_local_minimum(theory, sizes, 3, spectrum)
    assert len(S) == 1
    assert abs(run.objective[i] - value) <= fp_tolerance(value, dimension=P)
    # the rival readings of the same run: the global minimum, or two modes at zero
    assert abs(run.objective[i] - theory.objective) > fp_tolerance(value, dimension=P)
    two = theory.objective + 2 * (value - theory.objective)
    assert abs(run.objective[i] - two) > fp_tolerance(value, dimension=P)
