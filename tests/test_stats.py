"""paper_checks.stats: thresholds derived from the family rate, tests that can fail."""

import math

import numpy as np
import pytest
from scipy import stats as st

from paper_checks import stats


def test_family_threshold_is_bonferroni_normal_quantile():
    with stats.family(1e-4, 10):
        z = stats.current_family().z(5)
    # two-sided: P(|Z| > z) = 1e-4 / 10 / 5
    assert 2 * st.norm.sf(z) == pytest.approx(1e-4 / 50, rel=1e-12)


def test_family_restored_after_context():
    before = stats.current_family()
    with stats.family(1e-3, 3):
        assert stats.current_family().claims == 3
    assert stats.current_family() == before


@pytest.mark.parametrize("rate,claims", [(0, 1), (1, 1), (-0.1, 1), (1e-4, 0), (float("nan"), 1)])
def test_family_rejects_bad_parameters(rate, claims):
    with pytest.raises(ValueError, match="rate|claims"):
        stats.Family(rate, claims)


def test_z_agreement_accepts_truth_and_rejects_rival():
    rng = np.random.default_rng(0)
    truth = np.array([1.0, 2.0, 3.0])
    se = np.full(3, 0.01)
    est = truth + se * rng.standard_normal(3)
    res = stats.z_agreement(est, se, truth, truth + 0.2, rival_name="shifted")
    assert res.agrees and res.rival_rejected
    # the same data judged against the rival as if it were the theory fails
    swapped = stats.z_agreement(est, se, truth + 0.2, truth, rival_name="truth")
    assert not swapped.agrees


def test_z_agreement_false_alarm_rate_is_at_most_designed():
    """Under a true null the per-claim rejection rate is the Bonferroni share (checked exactly with a binomial bound)."""
    rng = np.random.default_rng(1)
    trials, m = 20000, 4
    with stats.family(0.2, 1):  # a large rate so false alarms are frequent enough to count
        z = stats.current_family().z(m)
        est = rng.standard_normal((trials, m))
        fails = np.sum(np.any(np.abs(est) > z, axis=1))
    # P(any of m exceeds) <= 0.2; the binomial upper quantile at 1e-6 bounds the count
    assert fails <= st.binom.isf(1e-6, trials, 0.2)
    assert fails >= st.binom.ppf(1e-6, trials, 1 - (1 - 0.2 / m) ** m)


def test_z_agreement_validates_inputs():
    with pytest.raises(ValueError, match="stderr must be > 0"):
        stats.z_agreement([1.0], [0.0], [1.0], [2.0], rival_name="r")
    with pytest.raises(ValueError, match="shape"):
        stats.z_agreement([1.0, 2.0], [1.0], [1.0, 2.0], [1.0, 2.0], rival_name="r")
    with pytest.raises(ValueError, match="finite"):
        stats.z_agreement([np.nan], [1.0], [1.0], [2.0], rival_name="r")
    with pytest.raises(ValueError, match="empty"):
        stats.z_agreement([], [], [], [], rival_name="r")


def test_fp_agreement_bound_scales_with_condition_and_rejects_rival():
    x = np.linspace(1, 2, 5)
    res = stats.fp_agreement(x * (1 + 2 * stats.UNIT_ROUNDOFF), x, x + 1e-9, rival_name="r", dimension=5)
    assert res.agrees and res.rival_rejected
    tight = stats.fp_agreement(x + 1e-12, x, x, rival_name="r")
    loose = stats.fp_agreement(x + 1e-12, x, x, rival_name="r", condition=1e6)
    assert not tight.agrees and loose.agrees


def test_fp_tolerance_is_the_forward_error_bound():
    tol = stats.fp_tolerance(3.0, condition=10.0, dimension=4, repetitions=2)
    assert tol == pytest.approx(2 * 4 * 10.0 * (np.finfo(float).eps / 2) * 3.0)
    with pytest.raises(ValueError, match="condition"):
        stats.fp_tolerance(1.0, condition=0.5)


def test_decimal_agreement_is_half_unit_in_last_place():
    pub = np.array([0.16477])
    assert stats.decimal_agreement([0.164774], pub, [0.2], decimals=5, rival_name="r").agrees
    assert not stats.decimal_agreement([0.164776], pub, [0.2], decimals=5, rival_name="r").agrees
    res = stats.decimal_agreement([0.164774], pub, [0.1647749], decimals=5, rival_name="r")
    assert not res.rival_rejected  # a rival that rounds to the published value cannot be rejected


def test_loglog_slope_matches_least_squares_and_detects_wrong_rate():
    rng = np.random.default_rng(2)
    x = np.logspace(0, 3, 12)
    y = 3.0 * x ** -0.5 * np.exp(0.01 * rng.standard_normal(12))
    slope, se, icpt = stats.loglog_slope(x, y)
    ref = np.polyfit(np.log(x), np.log(y), 1)
    assert slope == pytest.approx(ref[0], rel=1e-10) and icpt == pytest.approx(ref[1], rel=1e-10)
    res = stats.slope_agreement(x, y, None, -0.5, -1.0, rival_name="rate 1")
    assert res.agrees and res.rival_rejected
    with pytest.raises(ValueError, match="> 0"):
        stats.loglog_slope([1, 2, 3], [1, -1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        stats.loglog_slope([1, 2], [1, 2])


def test_weighted_slope_uses_delta_method_weights():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    y = x ** -1.0
    se = 0.01 * y
    slope, sse, _ = stats.loglog_slope(x, y, se)
    assert slope == pytest.approx(-1.0, abs=1e-12)
    # the model-based standard error of a weighted fit with log-variance 1e-4 per point
    lx = np.log(x)
    expected = math.sqrt(1e-4 / np.sum((lx - lx.mean()) ** 2))
    assert sse == pytest.approx(expected, rel=1e-10)


def test_monotone_agrees_with_trend_and_rejects_flat():
    d = np.array([-0.5, -0.4, -0.3])
    se = np.full(3, 0.01)
    res = stats.monotone(d, se, direction="decreasing")
    assert res.agrees and res.rival_rejected
    wrong = stats.monotone(d, se, direction="increasing")
    assert not wrong.agrees
    flat = stats.monotone(np.zeros(3), se, direction="decreasing")
    assert flat.agrees and not flat.rival_rejected
    with pytest.raises(ValueError, match="direction"):
        stats.monotone(d, se, direction="up")


def test_fp_monotone_and_within():
    res = stats.fp_monotone([1.0, 2.0, 0.0], direction="increasing", scale=2.0)
    assert res.agrees and res.rival_rejected
    assert not stats.fp_monotone([1.0, -1e-3], direction="increasing", scale=1.0).agrees
    w = stats.within([3, 5], [3, 4], [10, 4])
    assert not w.agrees  # 5 > 4
    assert stats.within([3, 4], [3, 4], [10, 4]).agrees


def test_combine_needs_all_agreements_and_one_rejection():
    good = stats.fp_agreement([1.0], [1.0], [2.0], rival_name="a")
    blind = stats.fp_agreement([1.0], [1.0], [1.0], rival_name="b")
    bad = stats.fp_agreement([1.5], [1.0], [1.5], rival_name="c")
    assert stats.combine(good, blind).agrees and stats.combine(good, blind).rival_rejected
    assert not stats.combine(good, bad).agrees
    assert not stats.combine(blind).rival_rejected
    with pytest.raises(ValueError):
        stats.combine()


def test_split_shares_the_claim_rate():
    with stats.family(1e-4, 2):
        z1 = stats.current_family().z()
        with stats.split(3):
            z3 = stats.current_family().z()
    assert z3 > z1
    assert 2 * st.norm.sf(z3) == pytest.approx(1e-4 / 6, rel=1e-12)


def test_argmin_tolerance_and_agreement():
    tol = stats.argmin_tolerance(2.0, parameters=100, degree=2)
    assert tol == pytest.approx(2 * math.sqrt(100 * np.finfo(float).eps / 2) * 2.0)
    res = stats.argmin_agreement([1.0 + 1e-9], [1.0], [1.1], rival_name="r", parameters=100)
    assert res.agrees and res.rival_rejected
    assert not stats.argmin_agreement([1.0 + 1e-5], [1.0], [1.1], rival_name="r", parameters=100).agrees


def test_clopper_pearson_matches_beta_quantiles_and_edges():
    lo, hi = stats.clopper_pearson(10, 10, 0.95)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 10), rel=1e-12)
    lo, hi = stats.clopper_pearson(0, 10, 0.95)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-12)
    with pytest.raises(ValueError):
        stats.clopper_pearson(3, 2, 0.9)


def test_richardson_recovers_a_limit_and_rejects_a_wrong_one():
    n = np.array([100.0, 200.0, 400.0, 800.0])
    values = 0.25 + 3.0 / n + 40.0 / n**2  # limit 0.25, leading order 1/n, next order 1/n^2
    res = stats.richardson_agreement(n, values, 0.25, 0.2, order=1.0, rival_name="wrong limit")
    assert res.agrees and res.rival_rejected
    assert abs(res.observed[0] - 0.25) <= res.tolerance[0]
    # the extrapolated limit carries the next-order error only (40/(n1 n2) at the last pair)
    assert abs(res.observed[0] - 0.25) < 3.0 / n[-1]
    wrong = stats.richardson_agreement(n, values, 0.26, 0.25, order=1.0, rival_name="the true limit")
    assert not wrong.agrees and not wrong.rival_rejected


def test_richardson_with_the_wrong_order_does_not_agree():
    n = np.array([100.0, 200.0, 400.0, 800.0])
    values = 0.25 + 3.0 / np.sqrt(n)  # order 1/2, extrapolated as if order 1
    res = stats.richardson_agreement(n, values, 0.25, 0.0, order=1.0, rival_name="zero")
    assert not res.agrees


@pytest.mark.parametrize("sizes", [[1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 1.0, 0.5]])
def test_richardson_bad_sizes(sizes):
    with pytest.raises(ValueError):
        stats.richardson_agreement(sizes, np.ones(len(sizes)), 1.0, 0.0, order=1.0, rival_name="r")
