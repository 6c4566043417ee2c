"""simulations.martingale_td: numba kernel against the numpy baseline, seeding, threads, the martingale
property of the true value function, recovery by ML/LSTD/TD(0) against MSTD's bias, exact OU
moments, the cache round trip, and bad input."""

import hashlib
import math
import textwrap

import numpy as np
from _threads import outputs_by_thread_count
import pytest
from scipy.stats import norm

from simulations import martingale_td as sim


def _features(*monomials, deg_t=1, deg_x=2):
    """Coefficient array of the features t^a x^b, one per (a, b)."""
    C = np.zeros((len(monomials), deg_t + 1, deg_x + 1))
    for i, (a, b) in enumerate(monomials):
        C[i, a, b] = 1.0
    return C


# Brownian motion, h = x^2, T = 1, beta = 0: J(t, x) = x^2 + (T - t) = theta . (1, x, x^2, t) with theta = (1, 0, 1, -1)
BM_FEATURES = _features((0, 0), (0, 1), (0, 2), (1, 0))
BM_TRUE = np.array([1.0, 0.0, 1.0, -1.0])
BM = dict(drift=(0.0, 0.0), diffusion=(1.0, 0.0), running_reward=[0.0], terminal_reward=[0.0, 0.0, 1.0],
          discount=0.0, horizon=1.0, x0=0.5, features=BM_FEATURES)

# a richer model for the kernel-vs-numpy comparison: drift, multiplicative noise, discount, running reward
RICH = dict(drift=(0.3, -0.8), diffusion=(0.4, 0.2), running_reward=[0.5, -0.2, 0.3], terminal_reward=[1.0, 0.5],
            discount=0.7, horizon=1.5, x0=0.2, features=_features((0, 0), (0, 1), (1, 1), (0, 2)), steps=12,
            paths=640, seed=3, replicates=8, reference=[[0.1, 1.0], [0.5, 0.0]],
            test_functions=_features((0, 0), (0, 1), (1, 1), (0, 2), (1, 0), (2, 0), deg_t=2), lam=0.3)


def _z(n_tests):
    return norm.isf(1e-6 / n_tests / 2)


def test_numba_kernel_equals_numpy_baseline():
    a = sim.run_algorithms.uncached(**RICH)
    b = sim.run_algorithms_numpy(**RICH)
    assert a.methods == b.methods == sim.METHODS
    for i, m in enumerate(a.methods):
        scale = np.abs(b.per_replicate[i]).max()
        # the ML vector c is summed by different routes (running sums vs backward returns)
        np.testing.assert_allclose(a.per_replicate[i], b.per_replicate[i], rtol=1e-12,
                                   atol=(1e-11 if m == "ml" else 1e-13) * scale, err_msg=m)
    np.testing.assert_allclose(a.mean_martingale, b.mean_martingale, rtol=1e-12)
    np.testing.assert_allclose(a.estimates, b.estimates, rtol=1e-11, atol=1e-11 * np.abs(b.estimates).max())
    # with more test functions than features, GTD is not LSTD
    assert not np.allclose(a.estimate("gtd"), a.estimate("lstd"))


def test_exact_transition_and_infinite_horizon_agree_with_numpy():
    args = dict(RICH, diffusion=(0.4, 0.0), transition="exact", horizon=math.inf, truncation=3.0, steps=10,
                methods=("mstd", "lstd", "td0"))
    a = sim.run_algorithms.uncached(**args)
    b = sim.run_algorithms_numpy(**args)
    np.testing.assert_allclose(a.per_replicate, b.per_replicate, rtol=1e-12, atol=1e-13)
    assert a.params["simulated_horizon"] == 3.0
    default = sim.run_algorithms.uncached(**{**args, "truncation": None, "steps": 4, "methods": ("lstd",)})
    assert math.exp(-RICH["discount"] * default.times[-1]) < np.finfo(float).eps / 2


def test_gtd_with_the_features_as_test_functions_is_lstd():
    r = sim.run_algorithms.uncached(**{**BM, "steps": 10, "paths": 320, "seed": 0, "methods": ("lstd", "gtd")})
    np.testing.assert_allclose(r.per_replicate[0], r.per_replicate[1], rtol=1e-12)


def test_same_seed_same_numbers_other_seed_other_numbers():
    args = dict(RICH, methods=("lstd", "td0"))
    a = sim.run_algorithms.uncached(**args)
    b = sim.run_algorithms.uncached(**args)
    c = sim.run_algorithms.uncached(**{**args, "seed": 4})
    assert np.array_equal(a.per_replicate, b.per_replicate)
    assert np.array_equal(a.mean_martingale, b.mean_martingale)
    assert not np.array_equal(a.per_replicate, c.per_replicate)


def test_one_and_two_threads_give_identical_numbers():
    code = textwrap.dedent(f"""
        import hashlib, json
        import numpy as np
        from simulations import martingale_td as sim
        args = {dict(RICH, features=RICH['features'].tolist(), test_functions=RICH['test_functions'].tolist())!r}
        r = sim.run_algorithms.uncached(**args)
        print(json.dumps(hashlib.sha256(r.per_replicate.tobytes() + r.martingale_per_replicate.tobytes()).hexdigest()))
    """)
    out = outputs_by_thread_count(code)
    assert out[0] == out[1]
    here = sim.run_algorithms.uncached(**RICH)
    assert hashlib.sha256(here.per_replicate.tobytes() + here.martingale_per_replicate.tobytes()).hexdigest() == out[0]


def test_true_value_function_is_a_martingale_and_a_wrong_one_drifts():
    K = 20
    args = dict(BM, steps=K, paths=64000, seed=11, methods=("lstd",))
    z = _z(K + 1)
    true = sim.run_algorithms.uncached(**args, reference=[[1.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])  # x^2 + 1 - t
    wrong = sim.run_algorithms.uncached(**args, reference=[[0.0, 0.0, 1.0]])                  # x^2
    assert true.mean_martingale.shape == (K + 1,)
    assert true.mean_martingale[0] == pytest.approx(1.0 + 0.25, rel=1e-14)
    dev = true.mean_martingale[1:] - true.mean_martingale[0]
    assert np.all(np.abs(dev) <= z * true.martingale_stderr[1:])
    drift = wrong.mean_martingale[1:] - wrong.mean_martingale[0]
    assert np.abs(drift[-1]) > z * wrong.martingale_stderr[-1]
    np.testing.assert_allclose(drift, true.times[1:], atol=z * wrong.martingale_stderr[1:].max())  # E x^2 = x0^2 + t


def test_ml_lstd_td0_recover_the_true_value_function_and_mstd_is_biased():
    methods = ("ml", "mstd", "td0", "lstd", "td_lambda")
    r = sim.run_algorithms(**BM, steps=20, paths=400_000, seed=1, methods=methods)
    z = _z(len(methods) * BM_TRUE.size)
    for m in ("ml", "lstd", "td0", "td_lambda"):
        assert np.all(np.abs(r.estimate(m) - BM_TRUE) <= z * r.standard_error(m)), (m, r.estimate(m))
    assert np.any(np.abs(r.estimate("mstd") - BM_TRUE) > z * r.standard_error("mstd"))
    # the estimates' standard errors come from the replicate spread
    np.testing.assert_allclose(r.stderr, r.per_replicate.std(axis=1, ddof=1) / np.sqrt(32))
    assert r.n_samples == 400_000


def test_exact_ou_transition_moments_match_their_formulas():
    a0, a1, s0, x0, T, K = 0.4, -1.5, 0.8, 1.2, 2.0, 4
    base = dict(drift=(a0, a1), diffusion=(s0, 0.0), running_reward=[0.0], terminal_reward=[0.0], discount=0.0,
                horizon=T, x0=x0, features=_features((0, 0), deg_t=0, deg_x=0), steps=K, paths=64000, seed=2,
                methods=("lstd",))
    t = np.arange(K + 1) * T / K
    mean = x0 * np.exp(a1 * t) + a0 / a1 * np.expm1(a1 * t)
    var = s0**2 * np.expm1(2 * a1 * t) / (2 * a1)
    z = _z(2 * K)
    for transition, agrees in (("exact", True), ("euler", False)):
        m1 = sim.run_algorithms.uncached(**base, transition=transition, reference=[[0.0, 1.0]])
        m2 = sim.run_algorithms.uncached(**base, transition=transition, reference=[[0.0, 0.0, 1.0]])
        ok1 = np.abs(m1.mean_martingale - mean)[1:] <= z * m1.martingale_stderr[1:]
        ok2 = np.abs(m2.mean_martingale - (var + mean**2))[1:] <= z * m2.martingale_stderr[1:]
        assert bool(ok1.all() and ok2.all()) is agrees, transition
    p, q, u, v = sim.transition_coefficients((a0, a1), (s0, 0.0), 0.5, "exact")
    assert q == 0.0 and p == pytest.approx(math.exp(-0.75)) and u == pytest.approx(a0 / a1 * math.expm1(-0.75))
    assert v**2 == pytest.approx(s0**2 * math.expm1(-1.5) / -3.0)
    assert sim.transition_coefficients((a0, 0.0), (s0, 0.0), 0.5, "exact") == (1.0, 0.0, 0.2, s0 * math.sqrt(0.5))


def test_result_survives_the_disk_cache():
    args = dict(RICH, methods=("ml", "gtd"))
    first = sim.run_algorithms(**args)
    again = sim.run_algorithms(**args)
    assert again.methods == ("ml", "gtd")
    np.testing.assert_array_equal(first.per_replicate, again.per_replicate)
    np.testing.assert_array_equal(first.mean_martingale, again.mean_martingale)
    no_ref = sim.run_algorithms(**{**args, "reference": None})
    assert no_ref.mean_martingale.shape == (0,)
    with pytest.raises(ValueError, match="method"):
        first.estimate("td0")


def test_draw_floor_draws_what_the_kernel_draws():
    from simulations import rng
    sums = sim.draw_floor(100, 7, seed=5, replicates=4)
    expect = [g.standard_normal((c, 7)).sum() for g, c in zip(rng.generators(5, 4), rng.chunk_sizes(100, 4))]
    np.testing.assert_allclose(sums, expect, rtol=1e-12)


GOOD = dict(BM, steps=4, paths=64, seed=0, replicates=4)


@pytest.mark.parametrize("change,match", [
    ({"discount": -0.1}, "discount"), ({"discount": float("nan")}, "discount"),
    ({"horizon": 0.0}, "horizon"), ({"horizon": -1.0}, "horizon"),
    ({"horizon": math.inf}, "discount"), ({"truncation": 2.0}, "truncation"),
    ({"horizon": math.inf, "discount": 1.0, "truncation": -1.0}, "truncation"),
    ({"steps": 0}, "steps"), ({"steps": 2.5}, "steps"), ({"paths": 2}, "paths"), ({"replicates": 1}, "replicates"),
    ({"methods": ("ml", "sarsa")}, "methods"), ({"methods": ()}, "methods"), ({"methods": ("ml", "ml")}, "methods"),
    ({"lam": 0.0}, "lam"), ({"lam": 1.0}, "lam"), ({"lam": 1.5}, "lam"),
    ({"features": np.ones((2, 3))}, "features"), ({"features": np.zeros((0, 1, 1))}, "features"),
    ({"features": [[[np.inf]]]}, "features"), ({"features": "x"}, "features"),
    ({"running_reward": [[1.0]]}, "running_reward"), ({"running_reward": []}, "running_reward"),
    ({"terminal_reward": [np.nan]}, "terminal_reward"),
    ({"test_functions": np.ones(3)}, "test_functions"), ({"reference": np.ones(3)}, "reference"),
    ({"drift": (1.0,)}, "drift"), ({"diffusion": (1.0, 2.0, 3.0)}, "diffusion"), ({"x0": math.inf}, "x0"),
    ({"transition": "milstein"}, "transition"), ({"transition": "exact", "diffusion": (1.0, 0.5)}, "exact"),
    ({"td_step": (0.0, 10.0)}, "td_step"), ({"td_step": 0.1}, "td_step"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
])
def test_bad_input_raises_naming_the_parameter(change, match):
    for func in (sim.run_algorithms, sim.run_algorithms_numpy):
        with pytest.raises((ValueError, TypeError), match=match) as info:
            func(**{**GOOD, **change})
        assert "\n" not in str(info.value)
