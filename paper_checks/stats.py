"""Agreement tests shared by every claim.  No claim types its own tolerance.

Every test here compares an *observation* with the theory's *prediction* and,
on the same observation, with a *rival* prediction (a plausible wrong theory).
A claim holds when the theory agrees and the rival is rejected.

Tolerances come from one of two places, never from a hand-typed number:

* Statistical tests (``z_agreement``, ``slope_agreement``, ``monotone``): the
  threshold is a two-sided normal quantile ``z`` set by the run's family-wise
  false-alarm rate.  The rate (default ``1e-4``) is split evenly (Bonferroni)
  over the claims in the run and, inside a claim, over its comparisons, so the
  probability that *any* true claim of the run fails is at most the rate.
* Deterministic comparisons (``fp_agreement``): the a-priori forward-error bound
  of a backward-stable dense computation (Higham, *Accuracy and Stability of
  Numerical Algorithms*, ch. 7): ``|err| <= repetitions * dimension * kappa * u * scale``
  with ``u`` the unit roundoff and ``kappa`` the condition number of the system
  the computation solves (both computed, not chosen).

The run's family is held in a context variable so that checks need not thread
it through; :func:`family` sets it.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

DEFAULT_FALSE_ALARM_RATE = 1e-4


@dataclass(frozen=True)
class Family:
    """The run's family-wise false-alarm rate and the number of claims sharing it."""

    rate: float = DEFAULT_FALSE_ALARM_RATE
    claims: int = 1

    def __post_init__(self):
        if not (isinstance(self.rate, (int, float)) and 0.0 < self.rate < 1.0):
            raise ValueError(f"false-alarm rate must be in (0, 1), got {self.rate!r}")
        if not (isinstance(self.claims, int) and self.claims >= 1):
            raise ValueError(f"claims in the family must be an integer >= 1, got {self.claims!r}")

    @property
    def per_claim(self) -> float:
        return self.rate / self.claims

    def z(self, comparisons: int = 1) -> float:
        """Two-sided normal threshold for one of ``comparisons`` tests in one claim."""
        if comparisons < 1:
            raise ValueError(f"comparisons must be >= 1, got {comparisons}")
        return float(_st.norm.isf(self.per_claim / comparisons / 2.0))


_FAMILY: contextvars.ContextVar[Family] = contextvars.ContextVar("theorycheck_family", default=Family())


def current_family() -> Family:
    return _FAMILY.get()


@contextlib.contextmanager
def family(rate: float = DEFAULT_FALSE_ALARM_RATE, claims: int = 1):
    """Set the family-wise false-alarm rate and family size for the enclosed checks."""
    token = _FAMILY.set(Family(rate, claims))
    try:
        yield _FAMILY.get()
    finally:
        _FAMILY.reset(token)


UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2.0


@dataclass(frozen=True)
class TestResult:
    """Outcome of one agreement test, theory and rival judged on the same data."""

    kind: str
    observed: np.ndarray
    predicted: np.ndarray
    tolerance: np.ndarray
    statistic: float
    threshold: float
    agrees: bool
    rival_name: str
    rival_prediction: np.ndarray
    rival_statistic: float
    rival_rejected: bool
    detail: str = ""


def _arr(name, x):
    a = np.asarray(x, dtype=float)
    if a.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {a!r}")
    return np.atleast_1d(a)


def _shapes(**arrays):
    shapes = {k: v.shape for k, v in arrays.items()}
    base = next(iter(shapes.values()))
    for k, s in shapes.items():
        if s != base:
            raise ValueError(f"{k} has shape {s}, expected {base} like the others: {shapes}")


def z_agreement(estimate, stderr, predicted, rival, *, rival_name: str) -> TestResult:
    """Monte Carlo estimates with standard errors against a prediction and a rival.

    Each of the ``m`` entries is a z-test; the threshold is ``Family.z(m)``.  The
    theory agrees when every |estimate - predicted| <= z * stderr; the rival is
    rejected when at least one |estimate - rival| > z * stderr.
    """
    est = _arr("estimate", estimate)
    se = _arr("stderr", stderr)
    pred = _arr("predicted", predicted)
    riv = _arr("rival", rival)
    _shapes(estimate=est, stderr=se, predicted=pred, rival=riv)
    if np.any(se <= 0):
        raise ValueError("stderr must be > 0 for every estimate (use fp_agreement for exact values)")
    z = current_family().z(est.size)
    t_theory = np.abs(est - pred) / se
    t_rival = np.abs(est - riv) / se
    return TestResult(
        kind="z",
        observed=est,
        predicted=pred,
        tolerance=z * se,
        statistic=float(t_theory.max()),
        threshold=z,
        agrees=bool(np.all(t_theory <= z)),
        rival_name=rival_name,
        rival_prediction=riv,
        rival_statistic=float(t_rival.max()),
        rival_rejected=bool(np.any(t_rival > z)),
        detail=f"max |z| over {est.size} estimates",
    )


def fp_tolerance(scale, *, condition: float = 1.0, dimension: int = 1, repetitions: int = 1) -> np.ndarray:
    """Forward-error bound ``repetitions * dimension * condition * u * scale``."""
    if not (condition >= 1.0 and math.isfinite(condition)):
        raise ValueError(f"condition must be a finite number >= 1, got {condition!r}")
    if dimension < 1 or repetitions < 1:
        raise ValueError("dimension and repetitions must be >= 1")
    sc = np.abs(np.asarray(scale, dtype=float))
    return repetitions * dimension * condition * UNIT_ROUNDOFF * np.maximum(sc, np.finfo(float).tiny)


def condition_number(matrix, shift: float = 0.0) -> float:
    """2-norm condition number of the symmetric positive semi-definite ``matrix + shift I``."""
    d = np.linalg.eigvalsh(np.asarray(matrix, dtype=float))
    lo = float(d.min() + shift)
    if not lo > 0:
        raise ValueError(f"matrix + shift I must be positive definite, smallest eigenvalue {lo!r}")
    return float((d.max() + shift) / lo)


def _bounded(kind, detail, observed, predicted, rival, rival_name, tolerance_of) -> TestResult:
    """Agreement within a deterministic bound: ``tolerance_of(scale)`` with the default scale
    max |predicted|, |observed|; the rival is rejected when it misses the bound anywhere."""
    obs = _arr("observed", observed)
    pred = _arr("predicted", predicted)
    riv = _arr("rival", rival)
    _shapes(observed=obs, predicted=pred, rival=riv)
    tol = np.broadcast_to(tolerance_of(max(np.abs(obs).max(), np.abs(pred).max())), obs.shape)
    t_theory = np.abs(obs - pred) / tol
    t_rival = np.abs(obs - riv) / tol
    return TestResult(
        kind=kind, observed=obs, predicted=pred, tolerance=np.array(tol),
        statistic=float(t_theory.max()), threshold=1.0, agrees=bool(np.all(t_theory <= 1.0)),
        rival_name=rival_name, rival_prediction=riv, rival_statistic=float(t_rival.max()),
        rival_rejected=bool(np.any(t_rival > 1.0)), detail=detail,
    )


def fp_agreement(observed, predicted, rival, *, rival_name: str, condition: float = 1.0,
                 dimension: int = 1, repetitions: int = 1, scale=None) -> TestResult:
    """Deterministic agreement at floating-point tolerance.

    ``scale`` (default: max |predicted|, |observed| over the whole array) sets the
    magnitude against which rounding errors accumulate.
    """
    return _bounded("fp", "max |error| / floating-point bound", observed, predicted, rival, rival_name,
                    lambda default: fp_tolerance(default if scale is None else scale, condition=condition,
                                                 dimension=dimension, repetitions=repetitions))


def argmin_tolerance(scale, *, parameters: int, degree: int = 1) -> np.ndarray:
    """Attainable accuracy of a quantity computed from a numerically located minimiser.

    Near a minimum ``f(x* + d) - f(x*) ~ f'' d^2 / 2``, invisible below the objective's
    rounding ``u |f|``: each of the ``parameters`` coordinates is determined only to
    about ``sqrt(u)`` relative, and a quantity of polynomial ``degree`` in them to
    ``degree * sqrt(parameters * u)`` relative to its ``scale``.
    """
    if parameters < 1 or degree < 1:
        raise ValueError("parameters and degree must be >= 1")
    sc = np.abs(np.asarray(scale, dtype=float))
    return degree * math.sqrt(parameters * UNIT_ROUNDOFF) * np.maximum(sc, np.finfo(float).tiny)


def argmin_agreement(observed, predicted, rival, *, rival_name: str, parameters: int, degree: int = 1,
                     scale=None) -> TestResult:
    """A minimiser-derived quantity against a closed form at :func:`argmin_tolerance`."""
    return _bounded("argmin", f"max |error| / minimiser accuracy ({parameters} parameters, degree {degree})",
                    observed, predicted, rival, rival_name,
                    lambda default: argmin_tolerance(default if scale is None else scale,
                                                     parameters=parameters, degree=degree))


def clopper_pearson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """Exact two-sided binomial confidence interval for a success probability."""
    if not (0 <= successes <= trials and trials >= 1):
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")
    a = 1.0 - confidence
    lo = 0.0 if successes == 0 else float(_st.beta.ppf(a / 2, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(_st.beta.isf(a / 2, successes + 1, trials - successes))
    return lo, hi


def decimal_agreement(computed, published, rival, *, decimals: int, rival_name: str) -> TestResult:
    """Agreement with a table printed to ``decimals`` places: half a unit in the last place."""
    comp = _arr("computed", computed)
    pub = _arr("published", published)
    riv = _arr("rival", rival)
    _shapes(computed=comp, published=pub, rival=riv)
    if not (isinstance(decimals, int) and decimals >= 0):
        raise ValueError(f"decimals must be an integer >= 0, got {decimals!r}")
    half_ulp = 0.5 * 10.0 ** (-decimals)
    # a value printed with `decimals` places is within half a unit of the last place,
    # plus the rounding of the printed decimal itself
    tol = half_ulp * (1 + 4 * UNIT_ROUNDOFF) + fp_tolerance(np.abs(pub).max())
    t_theory = np.abs(comp - pub) / tol
    t_rival = np.abs(np.round(riv, decimals) - pub) / tol
    return TestResult(
        kind="table",
        observed=comp,
        predicted=pub,
        tolerance=np.full(comp.shape, tol),
        statistic=float(t_theory.max()),
        threshold=1.0,
        agrees=bool(np.all(t_theory <= 1.0)),
        rival_name=rival_name,
        rival_prediction=riv,
        rival_statistic=float(t_rival.max()),
        rival_rejected=bool(np.any(t_rival > 1.0)),
        detail=f"max |computed - published| / half unit of the {decimals}th decimal",
    )


def loglog_slope(x, y, y_stderr=None):
    """Weighted least-squares slope of log y on log x and its standard error.

    With ``y_stderr`` the weights are the delta-method variances of log y
    (se/y)^2 and the slope's standard error is the model-based one; without,
    ordinary least squares with the residual standard error.
    Returns ``(slope, stderr, intercept)``.
    """
    xv = _arr("x", x)
    yv = _arr("y", y)
    _shapes(x=xv, y=yv)
    if np.any(xv <= 0) or np.any(yv <= 0):
        raise ValueError("x and y must be > 0 for a log-log slope")
    if xv.size < 3:
        raise ValueError("a slope with a standard error needs at least 3 points")
    lx, ly = np.log(xv), np.log(yv)
    if y_stderr is None:
        w = np.ones_like(lx)
    else:
        se = _arr("y_stderr", y_stderr)
        _shapes(y=yv, y_stderr=se)
        if np.any(se <= 0):
            raise ValueError("y_stderr must be > 0")
        w = (yv / se) ** 2
    X = np.column_stack([np.ones_like(lx), lx])
    W = w[:, None]
    cov = np.linalg.inv(X.T @ (W * X))
    beta = cov @ (X.T @ (w * ly))
    if y_stderr is None:
        resid = ly - X @ beta
        s2 = float(resid @ resid) / (lx.size - 2)
        cov = cov * s2
    return float(beta[1]), float(math.sqrt(cov[1, 1])), float(beta[0])


def slope_agreement(x, y, y_stderr, predicted_slope: float, rival_slope: float, *, rival_name: str) -> TestResult:
    """Fitted log-log slope (with its standard error) against a predicted rate and a rival rate."""
    slope, se, _ = loglog_slope(x, y, y_stderr)
    if not se > 0:
        raise ValueError("the fitted slope has zero standard error; use fp_agreement")
    z = current_family().z(1)
    t_theory = abs(slope - predicted_slope) / se
    t_rival = abs(slope - rival_slope) / se
    return TestResult(
        kind="slope",
        observed=np.array([slope]),
        predicted=np.array([float(predicted_slope)]),
        tolerance=np.array([z * se]),
        statistic=float(t_theory),
        threshold=z,
        agrees=bool(t_theory <= z),
        rival_name=rival_name,
        rival_prediction=np.array([float(rival_slope)]),
        rival_statistic=float(t_rival),
        rival_rejected=bool(t_rival > z),
        detail=f"log-log slope {slope:.4g} +- {se:.2g}",
    )


def richardson_agreement(sizes, values, predicted, rival, *, order: float, rival_name: str) -> TestResult:
    """A deterministic sequence converging as ``C size^-order``, judged by its extrapolated limit.

    ``sizes`` grow by a constant ratio ``r``.  Richardson extrapolation of consecutive
    pairs, ``e_k = (r^order v_{k+1} - v_k) / (r^order - 1)``, removes the leading term; the
    last extrapolant is the observed limit and its error is estimated by its change
    from the previous one, ``|e_last - e_prev|`` (which bounds the error when the next
    term is of higher order), plus the floating-point bound of the values.  Needs at
    least three sizes.
    """
    x = _arr("sizes", sizes)
    v = _arr("values", values)
    _shapes(sizes=x, values=v)
    if x.size < 3:
        raise ValueError("Richardson extrapolation with an error estimate needs at least 3 sizes")
    ratios = x[1:] / x[:-1]
    # relative only: numpy's default atol = 1e-8 would take ratios differing by 1e-8 as constant
    if np.any(ratios <= 1) or not np.allclose(ratios, ratios[0], rtol=1e-12, atol=0.0):
        raise ValueError("sizes must grow by a constant ratio > 1")
    f = ratios[0] ** float(order)
    ext = (f * v[1:] - v[:-1]) / (f - 1.0)
    limit = float(ext[-1])
    tol = abs(ext[-1] - ext[-2]) + float(fp_tolerance(np.abs(v).max(), repetitions=4))
    t_theory = abs(limit - float(predicted)) / tol
    t_rival = abs(limit - float(rival)) / tol
    return TestResult(
        kind="richardson",
        observed=np.array([limit]),
        predicted=np.array([float(predicted)]),
        tolerance=np.array([tol]),
        statistic=float(t_theory),
        threshold=1.0,
        agrees=bool(t_theory <= 1.0),
        rival_name=rival_name,
        rival_prediction=np.array([float(rival)]),
        rival_statistic=float(t_rival),
        rival_rejected=bool(t_rival > 1.0),
        detail=f"limit extrapolated at order {order:g} from {x.size} sizes: {limit:.6g}",
    )


def monotone(differences, differences_stderr, *, direction: str, rival_name: str = "no trend") -> TestResult:
    """Monotonicity of a sequence of estimates, tested on its consecutive differences.

    ``differences[i] = estimate[i+1] - estimate[i]`` with its standard error (paired
    when the estimates share samples).  Theory (``direction`` "increasing" or
    "decreasing") agrees when no difference is significantly of the wrong sign; the
    rival (no trend: all differences zero) is rejected when at least one difference
    is significantly of the predicted sign.
    """
    d = _arr("differences", differences)
    se = _arr("differences_stderr", differences_stderr)
    _shapes(differences=d, differences_stderr=se)
    if direction not in ("increasing", "decreasing"):
        raise ValueError(f"direction must be 'increasing' or 'decreasing', got {direction!r}")
    if np.any(se <= 0):
        raise ValueError("differences_stderr must be > 0")
    sign = 1.0 if direction == "increasing" else -1.0
    z = current_family().z(d.size)
    signed = sign * d / se
    return TestResult(
        kind="monotone",
        observed=d,
        predicted=np.zeros_like(d),
        tolerance=z * se,
        statistic=float(max(0.0, -signed.min())),
        threshold=z,
        agrees=bool(np.all(signed >= -z)),
        rival_name=rival_name,
        rival_prediction=np.zeros_like(d),
        rival_statistic=float(signed.max()),
        rival_rejected=bool(np.any(signed > z)),
        detail=f"{direction}: min signed z over {d.size} differences",
    )


def fp_monotone(differences, *, direction: str, scale, condition: float = 1.0, dimension: int = 1,
                repetitions: int = 1, rival_name: str = "no trend") -> TestResult:
    """Deterministic monotonicity: no difference of the wrong sign beyond the floating-point bound.

    The rival (all differences zero) is rejected when some difference exceeds the
    bound with the predicted sign.
    """
    d = _arr("differences", differences)
    if direction not in ("increasing", "decreasing"):
        raise ValueError(f"direction must be 'increasing' or 'decreasing', got {direction!r}")
    sign = 1.0 if direction == "increasing" else -1.0
    tol = np.broadcast_to(fp_tolerance(scale, condition=condition, dimension=dimension,
                                       repetitions=repetitions), d.shape)
    signed = sign * d / tol
    return TestResult(
        kind="fp-monotone",
        observed=d,
        predicted=np.zeros_like(d),
        tolerance=np.array(tol),
        statistic=float(max(0.0, -signed.min())),
        threshold=1.0,
        agrees=bool(np.all(signed >= -1.0)),
        rival_name=rival_name,
        rival_prediction=np.zeros_like(d),
        rival_statistic=float(signed.max()),
        rival_rejected=bool(np.any(signed > 1.0)),
        detail=f"{direction}: worst wrong-sign difference / floating-point bound over {d.size}",
    )


def within(observed, lower, upper) -> TestResult:
    """Exact containment ``lower <= observed <= upper`` (integers or exact bounds).

    It carries no rival of its own: combine it with a test that does.
    """
    obs = _arr("observed", observed)
    lo = _arr("lower", lower)
    hi = _arr("upper", upper)
    _shapes(observed=obs, lower=lo, upper=hi)
    gap = np.minimum(obs - lo, hi - obs)
    return TestResult(
        kind="within", observed=obs, predicted=(lo + hi) / 2, tolerance=(hi - lo) / 2,
        statistic=float(max(0.0, -gap.min())), threshold=1.0, agrees=bool(np.all(gap >= 0)),
        rival_name="", rival_prediction=np.full(obs.shape, np.nan), rival_statistic=0.0, rival_rejected=False,
        detail=f"inside [lower, upper] for {obs.size}",
    )


def combine(*results: TestResult) -> TestResult:
    """Several tests of one claim: theory must agree in all, the rival be rejected in at least one.

    The family threshold already divides the claim's rate over each test's own
    comparisons; callers combining ``k`` statistical tests should run each under
    :func:`split` so the claim's rate is shared.
    """
    if not results:
        raise ValueError("combine needs at least one test result")
    obs = np.concatenate([r.observed for r in results])
    return TestResult(
        kind="+".join(r.kind for r in results),
        observed=obs,
        predicted=np.concatenate([r.predicted for r in results]),
        tolerance=np.concatenate([np.broadcast_to(r.tolerance, r.observed.shape) for r in results]),
        statistic=max(r.statistic / r.threshold for r in results),
        threshold=1.0,
        agrees=all(r.agrees for r in results),
        rival_name="; ".join(dict.fromkeys(r.rival_name for r in results if r.rival_name)),
        rival_prediction=np.concatenate([r.rival_prediction for r in results]),
        rival_statistic=max(r.rival_statistic / r.threshold for r in results),
        rival_rejected=any(r.rival_rejected for r in results),
        detail="; ".join(r.detail for r in results) + " (statistics as ratios to their thresholds)",
    )


@contextlib.contextmanager
def split(parts: int):
    """Share the current claim's false-alarm rate among ``parts`` statistical tests."""
    fam = current_family()
    token = _FAMILY.set(Family(fam.rate, fam.claims * parts))
    try:
        yield
    finally:
        _FAMILY.reset(token)
