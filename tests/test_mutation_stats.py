"""paper_checks.stats, field by field: every number a TestResult reports, its boundary cases and its messages.

The expected values come from the definitions in the docstrings evaluated independently
(binomial tails for Clopper--Pearson, scipy's normal tail for the thresholds, exact binary
fractions for the floating-point bounds), so that a changed operator, constant or
comparison in stats.py fails here.  Boundary cases are built so that a statistic equals
its threshold exactly in floating point (powers of two), where ``<=`` and ``<`` differ.
"""

import math
import re

import numpy as np
import pytest
from scipy import stats as st

from paper_checks import stats

U = 2.0**-53  # unit roundoff of IEEE double, exactly
TINY = np.finfo(float).tiny


def _msg(text):
    return "^" + re.escape(text) + "$"


# --------------------------------------------------------------------------- Family, family, split

def test_default_family_and_rate():
    assert stats.DEFAULT_FALSE_ALARM_RATE == 1e-4
    f = stats.Family()
    assert f.rate == 1e-4 and f.claims == 1 and f.per_claim == 1e-4
    # z() defaults to one comparison; two-sided tail of the normal equals the per-claim rate
    assert 2 * st.norm.sf(f.z()) == pytest.approx(1e-4, rel=1e-12)
    assert f.z() == f.z(1)
    with stats.family() as fam:
        assert fam == stats.Family(1e-4, 1)
        assert stats.current_family() is fam


def test_per_claim_and_z_split_the_rate():
    f = stats.Family(0.3, 4)
    assert f.per_claim == 0.3 / 4
    for m in (1, 2, 7):
        assert 2 * st.norm.sf(f.z(m)) == pytest.approx(0.3 / 4 / m, rel=1e-12)
    assert isinstance(f.z(3), float)


def test_family_messages_name_the_parameter_and_range():
    with pytest.raises(ValueError, match=_msg("false-alarm rate must be in (0, 1), got 1.5")):
        stats.Family(1.5, 1)
    with pytest.raises(ValueError, match=_msg("false-alarm rate must be in (0, 1), got '0.1'")):
        stats.Family("0.1", 1)
    with pytest.raises(ValueError, match=_msg("claims in the family must be an integer >= 1, got 0")):
        stats.Family(0.1, 0)
    with pytest.raises(ValueError, match=_msg("claims in the family must be an integer >= 1, got 2.0")):
        stats.Family(0.1, 2.0)
    # the open interval's inside and an integer rate are allowed
    assert stats.Family(0.5, 1).rate == 0.5
    assert stats.Family(0.999, 1).claims == 1


def test_z_rejects_fewer_than_one_comparison_with_its_message():
    with pytest.raises(ValueError, match=_msg("comparisons must be >= 1, got 0")):
        stats.Family().z(0)
    assert stats.Family().z(1) > 0


def test_family_context_is_reset_after_an_error():
    before = stats.current_family()
    with pytest.raises(RuntimeError):
        with stats.family(0.01, 5):
            assert stats.current_family() == stats.Family(0.01, 5)
            raise RuntimeError("inside")
    assert stats.current_family() == before


def test_split_multiplies_the_claim_count_and_restores_on_error():
    with stats.family(0.02, 3):
        with pytest.raises(RuntimeError):
            with stats.split(5):
                assert stats.current_family() == stats.Family(0.02, 15)
                raise RuntimeError("inside")
        assert stats.current_family() == stats.Family(0.02, 3)


def test_unit_roundoff_is_half_the_machine_epsilon():
    assert stats.UNIT_ROUNDOFF == U
    assert 1.0 + stats.UNIT_ROUNDOFF == 1.0 and 1.0 + 2 * stats.UNIT_ROUNDOFF > 1.0


# --------------------------------------------------------------------------- input checks

def test_input_messages_are_exact():
    with pytest.raises(ValueError, match=_msg("estimate must not be empty")):
        stats.z_agreement([], [1.0], [1.0], [1.0], rival_name="r")
    with pytest.raises(ValueError, match=_msg("stderr must be finite, got array([inf])")):
        stats.z_agreement([1.0], [np.inf], [1.0], [1.0], rival_name="r")
    with pytest.raises(ValueError, match=_msg(
            "stderr has shape (2,), expected (1,) like the others: "
            "{'estimate': (1,), 'stderr': (2,), 'predicted': (1,), 'rival': (1,)}")):
        stats.z_agreement([1.0], [1.0, 1.0], [1.0], [1.0], rival_name="r")
    with pytest.raises(ValueError, match=_msg(
            "stderr must be > 0 for every estimate (use fp_agreement for exact values)")):
        stats.z_agreement([1.0, 1.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0], rival_name="r")


def test_scalars_become_one_element_arrays():
    res = stats.z_agreement(1.0, 0.5, 1.0, 2.0, rival_name="r")
    for a in (res.observed, res.predicted, res.tolerance, res.rival_prediction):
        assert a.shape == (1,)


# --------------------------------------------------------------------------- z_agreement

def test_z_agreement_reports_every_field():
    est = np.array([1.0, 2.0, 4.0])
    se = np.array([0.5, 0.25, 1.0])
    pred = np.array([1.5, 2.0, 3.0])  # |z| = 1, 0, 1
    riv = np.array([1.0, 3.0, 4.0])  # |z| = 0, 4, 0
    with stats.family(0.05, 2):
        res = stats.z_agreement(est, se, pred, riv, rival_name="the rival")
    z = st.norm.isf(0.05 / 2 / 3 / 2)
    assert res.kind == "z"
    assert res.threshold == pytest.approx(z, rel=1e-12)
    np.testing.assert_array_equal(res.observed, est)
    np.testing.assert_array_equal(res.predicted, pred)
    np.testing.assert_array_equal(res.rival_prediction, riv)
    np.testing.assert_allclose(res.tolerance, res.threshold * se, rtol=0, atol=0)
    assert res.statistic == 1.0 and res.rival_statistic == 4.0
    assert res.agrees and res.rival_rejected
    assert res.rival_name == "the rival"
    assert res.detail == "max |z| over 3 estimates"


def test_z_agreement_boundary_is_inclusive_for_the_theory_and_exclusive_for_the_rival():
    z = stats.Family().z(1)
    res = stats.z_agreement([z], [1.0], [0.0], [0.0], rival_name="r")  # |estimate - prediction| / se == z exactly
    assert res.statistic == z and res.agrees
    assert res.rival_statistic == z and not res.rival_rejected


def test_z_agreement_a_single_miss_breaks_agreement_a_single_hit_rejects_the_rival():
    se = np.ones(3)
    res = stats.z_agreement([0.0, 0.0, 100.0], se, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], rival_name="r")
    assert not res.agrees and res.rival_rejected and res.statistic == 100.0


# --------------------------------------------------------------------------- floating-point bounds

def test_fp_tolerance_defaults_and_guards():
    assert stats.fp_tolerance(3.0) == 3.0 * U
    assert stats.fp_tolerance(-3.0, condition=2.0, dimension=3, repetitions=5) == 5 * 3 * 2.0 * U * 3.0
    assert stats.fp_tolerance(0.0) == U * TINY  # never zero: a zero scale still has a bound
    np.testing.assert_array_equal(stats.fp_tolerance([1.0, -4.0]), [U, 4 * U])
    assert stats.fp_tolerance(1.0, condition=1.0, dimension=1, repetitions=1) == U
    with pytest.raises(ValueError, match=_msg("condition must be a finite number >= 1, got inf")):
        stats.fp_tolerance(1.0, condition=math.inf)
    with pytest.raises(ValueError, match=_msg("condition must be a finite number >= 1, got 0.5")):
        stats.fp_tolerance(1.0, condition=0.5)
    for kw in ({"dimension": 0}, {"repetitions": 0}):
        with pytest.raises(ValueError, match=_msg("dimension and repetitions must be >= 1")):
            stats.fp_tolerance(1.0, **kw)


def test_condition_number_against_numpy_cond():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 4))
    spd = a @ a.T + 0.1 * np.eye(4)
    assert stats.condition_number(spd) == pytest.approx(np.linalg.cond(spd), rel=1e-10)
    assert stats.condition_number(spd, 2.0) == pytest.approx(np.linalg.cond(spd + 2.0 * np.eye(4)), rel=1e-10)
    assert stats.condition_number(np.diag([1.0, 4.0])) == 4.0
    assert stats.condition_number(np.diag([0.0, 4.0]), shift=1.0) == 5.0
    assert isinstance(stats.condition_number(np.eye(2)), float)
    with pytest.raises(ValueError, match=_msg("matrix + shift I must be positive definite, smallest eigenvalue 0.0")):
        stats.condition_number(np.diag([0.0, 4.0]))
    with pytest.raises(ValueError, match=_msg(
            "matrix + shift I must be positive definite, smallest eigenvalue -1.0")):
        stats.condition_number(np.diag([1.0, 4.0]), shift=-2.0)


def test_fp_agreement_reports_every_field_and_its_boundary():
    # |observed - predicted| = 2^-52 and the bound with scale 2 is 2 u = 2^-52: exactly on the boundary
    obs = np.array([1.0 + 2.0**-52, 1.0])
    pred = np.array([1.0, 1.0])
    riv = np.array([1.0, 1.0 + 2.0**-52])
    res = stats.fp_agreement(obs, pred, riv, rival_name="rv", scale=2.0)
    assert res.kind == "fp" and res.threshold == 1.0 and res.rival_name == "rv"
    assert res.detail == "max |error| / floating-point bound"
    np.testing.assert_array_equal(res.tolerance, [2.0**-52, 2.0**-52])
    assert res.statistic == 1.0 and res.agrees
    assert res.rival_statistic == 1.0 and not res.rival_rejected
    np.testing.assert_array_equal(res.observed, obs)
    np.testing.assert_array_equal(res.predicted, pred)
    np.testing.assert_array_equal(res.rival_prediction, riv)


def test_fp_agreement_default_scale_is_the_largest_magnitude_of_either_side():
    # scale from the observation (8) when it is the larger, from the prediction (8) when that is
    for obs, pred in (([-8.0, 1.0], [1.0, 1.0]), ([1.0, 1.0], [1.0, -8.0])):
        res = stats.fp_agreement(obs, pred, pred, rival_name="r")
        np.testing.assert_array_equal(res.tolerance, [8 * U, 8 * U])


def test_fp_agreement_passes_its_bound_parameters_on():
    res = stats.fp_agreement([1.0], [1.0], [2.0], rival_name="r", condition=4.0, dimension=2, repetitions=8)
    assert res.tolerance[0] == 8 * 2 * 4.0 * U
    assert res.rival_statistic == 1.0 / (64 * U) and res.rival_rejected


def test_argmin_tolerance_defaults_and_guard():
    assert stats.argmin_tolerance(1.0, parameters=1) == math.sqrt(U)
    assert stats.argmin_tolerance(-4.0, parameters=4, degree=3) == 3 * math.sqrt(4 * U) * 4.0
    assert stats.argmin_tolerance(0.0, parameters=1) == math.sqrt(U) * TINY
    for kw in ({"parameters": 0}, {"parameters": 1, "degree": 0}):
        with pytest.raises(ValueError, match=_msg("parameters and degree must be >= 1")):
            stats.argmin_tolerance(1.0, **kw)


def test_argmin_agreement_reports_every_field():
    # sqrt(4 u) = 2^-25.5 is irrational in binary; use the bound itself to build the boundary
    tol = stats.argmin_tolerance(1.0, parameters=4, degree=2)
    res = stats.argmin_agreement([1.0], [1.0], [1.0 + 4 * tol], rival_name="rv", parameters=4, degree=2, scale=1.0)
    assert res.kind == "argmin" and res.rival_name == "rv" and res.threshold == 1.0
    assert res.detail == "max |error| / minimiser accuracy (4 parameters, degree 2)"
    assert res.tolerance[0] == 2 * math.sqrt(4 * U)
    assert res.agrees and res.rival_rejected
    # default degree 1 and the default scale max(|observed|, |predicted|) = 4
    res1 = stats.argmin_agreement([4.0], [2.0], [2.0], rival_name="r", parameters=1)
    assert res1.tolerance[0] == math.sqrt(U) * 4.0
    assert res1.detail == "max |error| / minimiser accuracy (1 parameters, degree 1)"
    assert not res1.agrees


# --------------------------------------------------------------------------- Clopper--Pearson

@pytest.mark.parametrize("k,n,conf", [(3, 10, 0.95), (1, 7, 0.9), (49, 50, 0.99), (0, 5, 0.8), (5, 5, 0.8)])
def test_clopper_pearson_solves_the_binomial_tail_equations(k, n, conf):
    """lo: P(X >= k | lo) = (1 - conf)/2; hi: P(X <= k | hi) = (1 - conf)/2 (the definition, via binomial tails)."""
    lo, hi = stats.clopper_pearson(k, n, conf)
    a = (1 - conf) / 2
    if k == 0:
        assert lo == 0.0
    else:
        assert st.binom.sf(k - 1, n, lo) == pytest.approx(a, rel=1e-9)
    if k == n:
        assert hi == 1.0
    else:
        assert st.binom.cdf(k, n, hi) == pytest.approx(a, rel=1e-9)
    assert 0.0 <= lo < k / n <= hi <= 1.0 or (k == 0 and lo == 0.0) or (k == n and hi == 1.0)


def test_clopper_pearson_message_and_edges():
    for k, n in ((3, 2), (-1, 2), (0, 0)):
        with pytest.raises(ValueError, match=_msg(f"need 0 <= successes <= trials and trials >= 1, got {k}/{n}")):
            stats.clopper_pearson(k, n, 0.9)
    lo, hi = stats.clopper_pearson(0, 1, 0.5)
    assert lo == 0.0 and hi == pytest.approx(0.75, rel=1e-12)  # (1 - hi) = 0.25
    lo, hi = stats.clopper_pearson(1, 1, 0.5)
    assert hi == 1.0 and lo == pytest.approx(0.25, rel=1e-12)  # lo = 0.25


# --------------------------------------------------------------------------- published tables

def test_decimal_agreement_reports_every_field():
    res = stats.decimal_agreement([0.25, 0.5], [0.3, 0.5], [0.26, 0.9], decimals=1, rival_name="rv")
    assert res.kind == "table" and res.threshold == 1.0 and res.rival_name == "rv"
    assert res.detail == "max |computed - published| / half unit of the 1th decimal"
    assert res.tolerance.shape == (2,) and res.tolerance[0] == res.tolerance[1]
    # the bound is half a unit of the last place up to rounding: within a few u of 0.05
    assert 0.05 <= res.tolerance[0] <= 0.05 * (1 + 8 * U) + 4 * 0.5 * U
    assert res.statistic == pytest.approx(0.05 / res.tolerance[0], rel=1e-12)
    assert res.agrees
    # the rival is rounded to the table's places before comparing: 0.26 -> 0.3 agrees, 0.9 misses
    np.testing.assert_array_equal(res.rival_prediction, [0.26, 0.9])
    assert res.rival_statistic == pytest.approx(0.4 / res.tolerance[0], rel=1e-12)
    assert res.rival_rejected


def test_decimal_agreement_half_unit_boundary_with_zero_published():
    # published 0 at 0 decimals: 0.5 is exactly half a unit (agrees), one ulp more does not
    assert stats.decimal_agreement([0.5], [0.0], [1.0], decimals=0, rival_name="r").agrees
    assert not stats.decimal_agreement([0.5 + 2.0**-40], [0.0], [1.0], decimals=0, rival_name="r").agrees
    res = stats.decimal_agreement([0.0], [0.0], [0.5], decimals=0, rival_name="r")
    assert not res.rival_rejected  # 0.5 rounds (half to even) to 0, the published value
    res = stats.decimal_agreement([0.0], [0.0], [1.5], decimals=0, rival_name="r")
    assert res.rival_rejected  # 1.5 rounds to 2


def test_decimal_agreement_decimals_message():
    for d in (-1, 1.5):
        with pytest.raises(ValueError, match=_msg(f"decimals must be an integer >= 0, got {d!r}")):
            stats.decimal_agreement([1.0], [1.0], [2.0], decimals=d, rival_name="r")
    assert stats.decimal_agreement([1.0], [1.0], [2.0], decimals=0, rival_name="r").agrees


# --------------------------------------------------------------------------- slopes

def test_loglog_slope_residual_standard_error_against_scipy_linregress():
    rng = np.random.default_rng(4)
    x = np.logspace(0, 2, 7)
    y = 2.0 * x**-1.5 * np.exp(0.05 * rng.standard_normal(7))
    slope, se, icpt = stats.loglog_slope(x, y)
    ref = st.linregress(np.log(x), np.log(y))
    assert slope == pytest.approx(ref.slope, rel=1e-10)
    assert se == pytest.approx(ref.stderr, rel=1e-10)
    assert icpt == pytest.approx(ref.intercept, rel=1e-10)


def test_loglog_slope_weighted_against_statsmodels_style_normal_equations():
    x = np.array([1.0, 2.0, 3.0, 5.0, 8.0])
    y = np.array([1.0, 0.6, 0.3, 0.22, 0.1])
    se = np.array([0.1, 0.05, 0.05, 0.02, 0.02])
    slope, sse, icpt = stats.loglog_slope(x, y, se)
    # weighted least squares by scaling rows with 1/sigma, sigma = se / y (delta method)
    s = se / y
    X = np.column_stack([np.ones(5), np.log(x)]) / s[:, None]
    coef, *_ = np.linalg.lstsq(X, np.log(y) / s, rcond=None)
    cov = np.linalg.inv(X.T @ X)
    assert slope == pytest.approx(coef[1], rel=1e-10)
    assert icpt == pytest.approx(coef[0], rel=1e-10)
    assert sse == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-10)


def test_loglog_slope_messages():
    with pytest.raises(ValueError, match=_msg("x and y must be > 0 for a log-log slope")):
        stats.loglog_slope([0.0, 1.0, 2.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=_msg("x and y must be > 0 for a log-log slope")):
        stats.loglog_slope([1.0, 1.0, 2.0], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=_msg("a slope with a standard error needs at least 3 points")):
        stats.loglog_slope([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=_msg("y_stderr must be > 0")):
        stats.loglog_slope([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=_msg(
            "y_stderr has shape (2,), expected (3,) like the others: {'y': (3,), 'y_stderr': (2,)}")):
        stats.loglog_slope([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=_msg("y_stderr must be finite, got array([nan,  1.,  1.])")):
        stats.loglog_slope([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [np.nan, 1.0, 1.0])
    # three points are enough
    assert stats.loglog_slope([1.0, 2.0, 4.0], [1.0, 2.0, 4.0])[0] == pytest.approx(1.0, rel=1e-12)


def test_slope_agreement_reports_every_field():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    y = np.array([1.0, 0.52, 0.24, 0.126])
    slope, se, _ = stats.loglog_slope(x, y)
    with stats.family(0.01, 1):
        res = stats.slope_agreement(x, y, None, -1.0, 0.0, rival_name="flat")
        z = stats.current_family().z(1)
    assert res.kind == "slope" and res.threshold == z and res.rival_name == "flat"
    assert res.detail == f"log-log slope {slope:.4g} +- {se:.2g}"
    np.testing.assert_array_equal(res.observed, [slope])
    np.testing.assert_array_equal(res.predicted, [-1.0])
    np.testing.assert_array_equal(res.rival_prediction, [0.0])
    np.testing.assert_array_equal(res.tolerance, [z * se])
    assert res.statistic == abs(slope + 1.0) / se and res.rival_statistic == abs(slope) / se
    assert res.agrees and res.rival_rejected


def test_slope_agreement_exact_line_has_no_standard_error():
    x = np.array([1.0, 2.0, 4.0])  # a constant y: every residual is exactly zero
    with pytest.raises(ValueError, match=_msg("the fitted slope has zero standard error; use fp_agreement")):
        stats.slope_agreement(x, np.ones(3), None, 0.0, 1.0, rival_name="r")


def test_slope_agreement_boundary_is_inclusive_for_the_theory_and_exclusive_for_the_rival():
    # a fit with slope ~ 0 and standard error ~ 1/4: neighbouring doubles near z * se are finer than z's ulp
    x = np.array([1.0, 2.0, 4.0])
    y = np.exp(0.1 * np.array([1.0, -2.0, 1.0]))
    slope, se, _ = stats.loglog_slope(x, y)
    z = stats.Family().z(1)
    # a prediction at exactly z standard errors in floating point: step through neighbouring doubles
    centre = slope + z * se
    candidates = [centre + k * np.spacing(centre) for k in range(-64, 65)]
    exact = [p for p in candidates if abs(slope - p) / se == z]
    assert exact, "no double at exactly z standard errors"
    res = stats.slope_agreement(x, y, None, exact[0], exact[0], rival_name="r")
    assert res.statistic == z and res.agrees
    assert res.rival_statistic == z and not res.rival_rejected


# --------------------------------------------------------------------------- Richardson

def test_richardson_reports_every_field():
    n = np.array([10.0, 20.0, 40.0])
    v = 1.0 + 1.0 / n + 1.0 / n**2
    res = stats.richardson_agreement(n, v, 1.0, 0.5, order=1.0, rival_name="half")
    e = [(2 * v[1] - v[0]) / 1.0, (2 * v[2] - v[1]) / 1.0]  # ratio 2, order 1: e_k = 2 v_{k+1} - v_k
    assert res.kind == "richardson" and res.threshold == 1.0 and res.rival_name == "half"
    assert res.observed[0] == pytest.approx(e[1], rel=1e-15)
    tol = abs(e[1] - e[0]) + 4 * U * v.max()
    assert res.tolerance[0] == pytest.approx(tol, rel=1e-12)
    assert res.statistic == pytest.approx(abs(e[1] - 1.0) / tol, rel=1e-9)
    assert res.rival_statistic == pytest.approx(abs(e[1] - 0.5) / tol, rel=1e-9)
    assert res.agrees and res.rival_rejected
    np.testing.assert_array_equal(res.predicted, [1.0])
    np.testing.assert_array_equal(res.rival_prediction, [0.5])
    assert res.detail == f"limit extrapolated at order 1 from 3 sizes: {e[1]:.6g}"


def test_richardson_order_two_removes_a_quadratic_term_exactly():
    n = np.array([4.0, 8.0, 16.0, 32.0])
    v = 3.0 + 5.0 / n**2  # exactly removed at order 2: every extrapolant is 3 up to rounding
    res = stats.richardson_agreement(n, v, 3.0, 3.1, order=2.0, rival_name="r")
    assert res.observed[0] == pytest.approx(3.0, abs=16 * U * 3.0)
    assert res.agrees and res.rival_rejected
    assert res.detail.startswith("limit extrapolated at order 2 from 4 sizes")


def test_richardson_messages():
    with pytest.raises(ValueError, match=_msg("Richardson extrapolation with an error estimate needs at least 3 sizes")):
        stats.richardson_agreement([1.0, 2.0], [1.0, 1.0], 1.0, 0.0, order=1.0, rival_name="r")
    for sizes in ([1.0, 2.0, 3.0], [4.0, 2.0, 1.0], [1.0, 1.0, 1.0]):
        with pytest.raises(ValueError, match=_msg("sizes must grow by a constant ratio > 1")):
            stats.richardson_agreement(sizes, [1.0, 1.0, 1.0], 1.0, 0.0, order=1.0, rival_name="r")


def test_richardson_boundary_is_inclusive_for_the_theory_and_exclusive_for_the_rival():
    n = np.array([1.0, 2.0, 4.0])
    v = np.array([1.0, 1.0, 1.0])  # constant: extrapolants equal 1, the error estimate is the fp bound 4 u
    res = stats.richardson_agreement(n, v, 1.0 + 2.0**-50, 1.0 - 2.0**-51, order=1.0, rival_name="r")
    assert res.tolerance[0] == 4 * U
    assert res.statistic == 2.0 and not res.agrees
    at = stats.richardson_agreement(n, v, 1.0 + 2.0**-51, 1.0 - 2.0**-51, order=1.0, rival_name="r")
    assert at.statistic == 1.0 and at.agrees and at.rival_statistic == 1.0 and not at.rival_rejected


# --------------------------------------------------------------------------- monotonicity and containment

def test_monotone_reports_every_field():
    d = np.array([0.2, -0.1, 0.5])
    se = np.array([0.1, 0.1, 0.1])
    with stats.family(0.01, 1):
        res = stats.monotone(d, se, direction="increasing", rival_name="flat")
        z = stats.current_family().z(3)
    assert res.kind == "monotone" and res.threshold == z and res.rival_name == "flat"
    assert res.detail == "increasing: min signed z over 3 differences"
    np.testing.assert_array_equal(res.observed, d)
    np.testing.assert_array_equal(res.predicted, np.zeros(3))
    np.testing.assert_array_equal(res.rival_prediction, np.zeros(3))
    np.testing.assert_array_equal(res.tolerance, z * se)
    assert res.statistic == pytest.approx(1.0, rel=1e-12)  # the worst wrong-sign difference, in se
    assert res.rival_statistic == pytest.approx(5.0, rel=1e-12)
    assert res.agrees and res.rival_rejected
    default = stats.monotone(d, se, direction="increasing")
    assert default.rival_name == "no trend"


def test_monotone_decreasing_mirrors_increasing():
    se = np.ones(2)
    res = stats.monotone([-1.0, 2.0], se, direction="decreasing")
    assert res.statistic == 2.0 and res.rival_statistic == 1.0
    assert res.detail == "decreasing: min signed z over 2 differences"


def test_monotone_statistic_is_zero_when_nothing_has_the_wrong_sign():
    res = stats.monotone([1.0, 2.0], [1.0, 1.0], direction="increasing")
    assert res.statistic == 0.0


def test_monotone_boundaries():
    z = stats.Family().z(1)
    at = stats.monotone([-z], [1.0], direction="increasing")  # wrong sign by exactly z: still agrees
    assert at.agrees and at.statistic == z
    rv = stats.monotone([z], [1.0], direction="increasing")  # right sign by exactly z: rival not rejected
    assert not rv.rival_rejected and rv.rival_statistic == z


def test_monotone_messages():
    with pytest.raises(ValueError, match=_msg("direction must be 'increasing' or 'decreasing', got 'up'")):
        stats.monotone([1.0], [1.0], direction="up")
    with pytest.raises(ValueError, match=_msg("differences_stderr must be > 0")):
        stats.monotone([1.0, 1.0], [1.0, 0.0], direction="increasing")
    with pytest.raises(ValueError, match=_msg(
            "differences_stderr has shape (2,), expected (1,) like the others: "
            "{'differences': (1,), 'differences_stderr': (2,)}")):
        stats.monotone([1.0], [1.0, 1.0], direction="increasing")
    with pytest.raises(ValueError, match=_msg("differences_stderr must not be empty")):
        stats.monotone([1.0], [], direction="increasing")


def test_fp_monotone_reports_every_field():
    # bound u * scale with scale 2^52: exactly 0.5
    d = np.array([0.25, -0.5, 3.0])
    res = stats.fp_monotone(d, direction="increasing", scale=2.0**52, rival_name="flat")
    assert res.kind == "fp-monotone" and res.threshold == 1.0 and res.rival_name == "flat"
    assert res.detail == "increasing: worst wrong-sign difference / floating-point bound over 3"
    np.testing.assert_array_equal(res.tolerance, [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(res.observed, d)
    np.testing.assert_array_equal(res.predicted, np.zeros(3))
    np.testing.assert_array_equal(res.rival_prediction, np.zeros(3))
    assert res.statistic == 1.0 and res.agrees  # wrong sign by exactly the bound still agrees
    assert res.rival_statistic == 6.0 and res.rival_rejected
    default = stats.fp_monotone(d, direction="increasing", scale=2.0**52)
    assert default.rival_name == "no trend"


def test_fp_monotone_decreasing_parameters_and_boundaries():
    d = np.array([-1.0, 1.0])
    # condition 2, dimension 2, repetitions 2: bound 8 u scale = 1 with scale 2^50
    res = stats.fp_monotone(d, direction="decreasing", scale=2.0**50, condition=2.0, dimension=2, repetitions=2)
    np.testing.assert_array_equal(res.tolerance, [1.0, 1.0])
    assert res.statistic == 1.0 and res.agrees
    assert res.rival_statistic == 1.0 and not res.rival_rejected
    assert res.detail.startswith("decreasing: ")
    assert stats.fp_monotone([1.0, 2.0], direction="increasing", scale=1.0).statistic == 0.0
    with pytest.raises(ValueError, match=_msg("direction must be 'increasing' or 'decreasing', got 'down'")):
        stats.fp_monotone([1.0], direction="down", scale=1.0)
    with pytest.raises(ValueError, match=_msg("differences must not be empty")):
        stats.fp_monotone([], direction="increasing", scale=1.0)


def test_within_reports_every_field():
    res = stats.within([1.0, 5.0, 2.0], [0.0, 4.0, 2.0], [2.0, 8.0, 6.0])
    assert res.kind == "within" and res.threshold == 1.0 and res.rival_name == ""
    assert res.detail == "inside [lower, upper] for 3"
    np.testing.assert_array_equal(res.observed, [1.0, 5.0, 2.0])
    np.testing.assert_array_equal(res.predicted, [1.0, 6.0, 4.0])
    np.testing.assert_array_equal(res.tolerance, [1.0, 2.0, 2.0])
    assert res.statistic == 0.0 and res.agrees  # the boundary value 2 in [2, 6] is inside
    assert np.all(np.isnan(res.rival_prediction)) and res.rival_prediction.shape == (3,)
    assert res.rival_statistic == 0.0 and not res.rival_rejected
    out = stats.within([1.0, 9.5], [0.0, 4.0], [2.0, 8.0])
    assert out.statistic == 1.5 and not out.agrees
    below = stats.within([-3.0], [0.0], [2.0])
    assert below.statistic == 3.0 and not below.agrees
    with pytest.raises(ValueError, match=_msg(
            "upper has shape (2,), expected (1,) like the others: {'observed': (1,), 'lower': (1,), 'upper': (2,)}")):
        stats.within([1.0], [0.0], [2.0, 3.0])


# --------------------------------------------------------------------------- combine

def test_combine_reports_every_field():
    a = stats.fp_agreement([1.0], [1.0], [2.0], rival_name="A")
    with stats.family(0.01, 1):
        b = stats.z_agreement([1.0, 2.0], [1.0, 1.0], [1.0, 2.5], [1.0, 2.0], rival_name="B")
    c = stats.within([1.0], [0.0], [2.0])
    d = stats.fp_agreement([1.0], [1.0], [3.0], rival_name="A")
    res = stats.combine(a, b, c, d)
    assert res.kind == "fp+z+within+fp"
    assert res.rival_name == "A; B"  # each rival once, in order; the rival-less test adds none
    np.testing.assert_array_equal(res.observed, [1.0, 1.0, 2.0, 1.0, 1.0])
    np.testing.assert_array_equal(res.predicted, [1.0, 1.0, 2.5, 1.0, 1.0])
    np.testing.assert_array_equal(res.tolerance, [U, b.tolerance[0], b.tolerance[1], 1.0, U])
    np.testing.assert_array_equal(res.rival_prediction[[0, 1, 2, 4]], [2.0, 1.0, 2.0, 3.0])
    assert np.isnan(res.rival_prediction[3])
    assert res.threshold == 1.0
    assert res.statistic == pytest.approx(max(0.5 / b.threshold, 0.0, 0.0), rel=1e-15)
    assert res.rival_statistic == pytest.approx(max(1.0 / U, 0.0, 0.0, 2.0 / U), rel=1e-15)
    assert res.agrees and res.rival_rejected
    assert res.detail == "; ".join(r.detail for r in (a, b, c, d)) + " (statistics as ratios to their thresholds)"


def test_combine_agreement_needs_every_test_and_rejection_any():
    good = stats.fp_agreement([1.0], [1.0], [2.0], rival_name="a")
    blind = stats.fp_agreement([1.0], [1.0], [1.0], rival_name="b")
    bad = stats.fp_agreement([2.0], [1.0], [1.0], rival_name="c")
    assert not stats.combine(bad, good).agrees and not stats.combine(good, bad).agrees
    assert stats.combine(blind, good).rival_rejected and stats.combine(good, blind).rival_rejected
    assert not stats.combine(blind, blind).rival_rejected
    with pytest.raises(ValueError, match=_msg("combine needs at least one test result")):
        stats.combine()


# --------------------------------------------------------------------------- second round: what the first left alive

def test_decimal_agreement_arrays_names_and_rival_rejection_margin():
    res = stats.decimal_agreement([0.25, 0.5], [0.3, 0.5], [0.26, 0.9], decimals=1, rival_name="rv")
    np.testing.assert_array_equal(res.observed, [0.25, 0.5])
    np.testing.assert_array_equal(res.predicted, [0.3, 0.5])
    assert res.observed.shape == res.predicted.shape == res.rival_prediction.shape == (2,)
    # rounded rival one unit away (1 / (0.5 + 2u) < 2 half-units): rejected, though by less than 2 tolerances
    res = stats.decimal_agreement([0.0], [0.0], [1.0], decimals=0, rival_name="r")
    assert 1.0 < res.rival_statistic < 2.0 and res.rival_rejected
    # the theory exactly at the bound: half a unit (1 + 4u) away from a published zero, in binary exactly 0.5 + 2^-52
    at = stats.decimal_agreement([0.5 + 2.0**-52], [0.0], [0.0], decimals=0, rival_name="r")
    assert at.statistic == 1.0 and at.agrees
    with pytest.raises(ValueError, match=_msg("computed must not be empty")):
        stats.decimal_agreement([], [1.0], [1.0], decimals=1, rival_name="r")
    with pytest.raises(ValueError, match=_msg("published must be finite, got array([nan])")):
        stats.decimal_agreement([1.0], [np.nan], [1.0], decimals=1, rival_name="r")
    with pytest.raises(ValueError, match=_msg("rival must be finite, got array([inf])")):
        stats.decimal_agreement([1.0], [1.0], [np.inf], decimals=1, rival_name="r")
    for args, bad in ((([1.0, 2.0], [1.0], [1.0]), "published"), (([1.0], [1.0, 2.0], [1.0]), "published"),
                      (([1.0], [1.0], [1.0, 2.0]), "rival")):
        shapes = {"computed": np.shape(args[0]), "published": np.shape(args[1]), "rival": np.shape(args[2])}
        base = shapes["computed"]
        with pytest.raises(ValueError, match=_msg(
                f"{bad} has shape {shapes[bad]}, expected {base} like the others: {shapes}")):
            stats.decimal_agreement(*args, decimals=1, rival_name="r")


def test_argmin_agreement_uses_the_given_scale():
    # default scale would be max(|1|, |1 + 1e-6|) ~ 1; the given scale 1e6 widens the bound a millionfold
    narrow = stats.argmin_agreement([1.0 + 1e-6], [1.0], [1.0], rival_name="r", parameters=1)
    wide = stats.argmin_agreement([1.0 + 1e-6], [1.0], [1.0], rival_name="r", parameters=1, scale=1e6)
    assert not narrow.agrees and wide.agrees
    assert wide.tolerance[0] == math.sqrt(U) * 1e6


def test_fp_monotone_sign_and_margins():
    # decreasing: a rise of 1.5 bounds is a wrong-sign difference beyond the bound; a fall of 1.5 rejects the rival
    res = stats.fp_monotone([1.5, -2.5], direction="decreasing", scale=2.0**53)  # bound u * 2^53 = 1
    assert res.statistic == 1.5 and not res.agrees
    assert res.rival_statistic == 2.5 and res.rival_rejected
    inc = stats.fp_monotone([0.25, -1.5], direction="increasing", scale=2.0**53)
    assert inc.statistic == 1.5 and not inc.agrees and inc.rival_statistic == 0.25 and not inc.rival_rejected
    assert res.predicted.shape == res.rival_prediction.shape == (2,)
    np.testing.assert_array_equal(res.predicted, [0.0, 0.0])


def test_monotone_zero_arrays_have_the_data_shape():
    res = stats.monotone([1.0, 2.0], [1.0, 1.0], direction="increasing")
    assert res.predicted.shape == res.rival_prediction.shape == (2,)


def test_condition_number_and_tolerances_of_integer_input():
    # integer matrices and scales give the same float results (exact conversions)
    assert stats.condition_number([[2, 0], [0, 8]]) == 4.0
    assert stats.argmin_tolerance(4, parameters=1) == math.sqrt(U) * 4.0
    assert stats.fp_tolerance(4) == 4 * U


# --------------------------------------------------------------------------- third round

NAMED_INPUTS = [
    ("z_agreement", lambda a, b, c, d: stats.z_agreement(a, b, c, d, rival_name="r"),
     ("estimate", "stderr", "predicted", "rival")),
    ("fp_agreement", lambda a, b, c: stats.fp_agreement(a, b, c, rival_name="r"), ("observed", "predicted", "rival")),
    ("argmin_agreement", lambda a, b, c: stats.argmin_agreement(a, b, c, rival_name="r", parameters=1),
     ("observed", "predicted", "rival")),
    ("decimal_agreement", lambda a, b, c: stats.decimal_agreement(a, b, c, decimals=1, rival_name="r"),
     ("computed", "published", "rival")),
    ("loglog_slope", lambda a, b: stats.loglog_slope(a, b), ("x", "y")),
    ("richardson_agreement", lambda a, b: stats.richardson_agreement(a, b, 1.0, 0.0, order=1.0, rival_name="r"),
     ("sizes", "values")),
    ("monotone", lambda a, b: stats.monotone(a, b, direction="increasing"), ("differences", "differences_stderr")),
    ("within", lambda a, b, c: stats.within(a, b, c), ("observed", "lower", "upper")),
]


@pytest.mark.parametrize("fn,names", [(f, n) for _, f, n in NAMED_INPUTS], ids=[i for i, _, _ in NAMED_INPUTS])
def test_every_input_is_named_in_its_errors(fn, names):
    good = [1.0, 2.0, 4.0]
    for k, name in enumerate(names):
        args = [list(good) for _ in names]
        args[k] = []
        with pytest.raises(ValueError, match=_msg(f"{name} must not be empty")):
            fn(*args)
        args[k] = [1.0, np.nan, 1.0]
        with pytest.raises(ValueError, match=_msg(f"{name} must be finite, got array([ 1., nan,  1.])")):
            fn(*args)
        args[k] = [1.0, 2.0]
        shapes = {n: ((2,) if i == k else (3,)) for i, n in enumerate(names)}
        base = (2,) if k == 0 else (3,)
        first_bad = next(n for n in names if shapes[n] != base)
        with pytest.raises(ValueError, match=_msg(
                f"{first_bad} has shape {shapes[first_bad]}, expected {base} like the others: {shapes}")):
            fn(*args)


def test_inputs_become_float_arrays():
    assert stats.z_agreement([1, 2], [1, 1], [1, 2], [3, 3], rival_name="r").observed.dtype == np.float64
    assert stats.within([1], [0], [2]).observed.dtype == np.float64
    assert stats.fp_agreement([1], [1], [2], rival_name="r").predicted.dtype == np.float64


def test_bounded_agreement_margins():
    # error 1.5 bounds: the theory does not agree (a bound of 2 would have let it)
    res = stats.fp_agreement([1.0 + 3 * 2.0**-52], [1.0], [1.0], rival_name="r", scale=4.0)  # bound 4u = 2^-51
    assert res.statistic == pytest.approx(1.5, rel=1e-12) and not res.agrees
    # rival 1.5 bounds away: rejected
    res = stats.fp_agreement([1.0], [1.0], [1.0 + 3 * 2.0**-52], rival_name="r", scale=4.0)
    assert res.rival_statistic == pytest.approx(1.5, rel=1e-12) and res.rival_rejected


def test_slope_agreement_with_standard_errors_and_a_non_zero_rival():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    y = np.array([1.0, 0.52, 0.24, 0.126])
    ys = np.array([0.01, 0.02, 0.01, 0.005])
    slope, se, _ = stats.loglog_slope(x, y, ys)
    res = stats.slope_agreement(x, y, ys, -1.0, -2.0, rival_name="r")
    assert res.observed[0] == slope and res.tolerance[0] == pytest.approx(stats.Family().z(1) * se, rel=1e-15)
    assert res.rival_statistic == pytest.approx(abs(slope + 2.0) / se, rel=1e-15)
    assert res.statistic == pytest.approx(abs(slope + 1.0) / se, rel=1e-15)


def test_richardson_ratio_order_and_margins():
    # ratio 3, order 2: f = 9 (not 3 * 2); v = 5 + 7/n^2 is extrapolated exactly to 5
    n = np.array([1.0, 3.0, 9.0])
    v = 5.0 + 7.0 / n**2
    res = stats.richardson_agreement(n, v, 5.0, 4.0, order=2.0, rival_name="r")
    assert res.observed[0] == pytest.approx(5.0, abs=64 * U * 12)
    assert res.agrees
    # sizes whose ratios differ by 1e-8 relative are not a constant ratio
    with pytest.raises(ValueError, match=_msg("sizes must grow by a constant ratio > 1")):
        stats.richardson_agreement([1.0, 2.0, 4.00000004], [1.0, 1.0, 1.0], 1.0, 0.0, order=1.0, rival_name="r")
    # a rival 1.5 error estimates away is rejected (constant values: the estimate is the fp bound 4u)
    rv = stats.richardson_agreement([1.0, 2.0, 4.0], [1.0, 1.0, 1.0], 1.0, 1.0 - 6 * U, order=1.0, rival_name="r")
    assert rv.rival_statistic == 1.5 and rv.rival_rejected


def test_within_with_a_non_zero_lower_bound_and_its_rival_fields():
    res = stats.within([5.0, 3.0], [4.0, 3.5], [6.0, 9.0])
    assert res.statistic == 0.5 and not res.agrees  # 3 is 0.5 below 3.5
    assert res.rival_rejected is False and res.rival_statistic == 0.0


def test_combine_rival_statistic_is_a_ratio_to_each_threshold():
    with stats.family(0.01, 1):
        z = stats.z_agreement([0.0], [1.0], [0.0], [10.0], rival_name="B")  # rival at 10 standard errors
    fp = stats.fp_agreement([1.0], [1.0], [1.0], rival_name="A")  # rival statistic 0
    res = stats.combine(fp, z)
    assert res.rival_statistic == pytest.approx(10.0 / z.threshold, rel=1e-15)
    assert res.statistic == 0.0


def test_decimal_agreement_rival_exactly_at_the_bound_is_not_rejected():
    # a published value equal to its own tolerance (a fixed point of tol(p) = half unit (1 + 4u) +
    # fp_tolerance(p), reached in a few float iterations) and a rival rounding to 0: the rival's
    # statistic is exactly 1, inside the bound, so it is not rejected (rejection needs > 1)
    p = 0.5
    for _ in range(50):
        tol = 0.5 * (1 + 4 * stats.UNIT_ROUNDOFF) + float(stats.fp_tolerance(p))
        if tol == p:
            break
        p = tol
    assert tol == p
    res = stats.decimal_agreement([p], [p], [0.0], decimals=0, rival_name="r")
    assert res.rival_statistic == 1.0 and not res.rival_rejected and res.agrees
    nudged = stats.decimal_agreement([p], [np.nextafter(p, 1.0)], [0.0], decimals=0, rival_name="r")
    assert nudged.rival_statistic > 1.0 and nudged.rival_rejected


# --------------------------------------------------------------------------- fourth round (full-run survivors)


def test_fp_monotone_rejects_the_rival_between_one_and_two_bounds():
    # bound u * 2^53 = 1: a fall of 1.5 bounds has the predicted sign beyond the bound (threshold 1, not 2)
    res = stats.fp_monotone([-1.5], direction="decreasing", scale=2.0**53)
    assert res.rival_statistic == 1.5 and res.rival_rejected


def test_tolerances_of_integer_scales_do_not_wrap():
    # -2^63 is an int64 whose absolute value wraps to itself in integer arithmetic; as a float it is exact
    big = np.int64(np.iinfo(np.int64).min)
    assert stats.fp_tolerance(big) == U * 2.0**63
    assert stats.fp_tolerance([big]) == U * 2.0**63
    assert stats.argmin_tolerance(big, parameters=1) == math.sqrt(U) * 2.0**63


def test_condition_number_of_integers_beyond_int64():
    # exact integers too large for int64 (numpy would keep them as Python objects, which eigvalsh refuses)
    assert stats.condition_number([[2**70, 0], [0, 2**60]]) == 2.0**10


def test_richardson_needs_ratios_constant_to_1e12_relative():
    # ratios 2, 2 (1 + 0.9e-12), 2 (1 + 1.8e-12): the last is 1.8e-12 from the first (rejected), although each
    # is within 1e-12 of the middle one; and a difference of 1e-9 (inside numpy's default atol) is rejected too
    r = [2.0, 2.0 * (1 + 0.9e-12), 2.0 * (1 + 1.8e-12)]
    sizes = np.cumprod([1.0] + r)
    for s in (sizes, [1.0, 2.0, 4.0 + 2e-9]):
        with pytest.raises(ValueError, match=_msg("sizes must grow by a constant ratio > 1")):
            stats.richardson_agreement(s, np.ones(len(s)), 1.0, 0.0, order=1.0, rival_name="r")
