"""simulations.self_distillation: numba kernel against the numpy baseline, seeding, threads, bad input."""

import textwrap

import numpy as np
from _threads import outputs_by_thread_count
import pytest

from simulations import rng
from simulations import self_distillation as sim
from theory import self_distillation as th

ARGS = dict(n=9, alphas=[0.0, 0.5], steps=3, ridge=0.1, gamma=50.0, noise=0.4, replicates=64, seed=5)


def test_numba_kernel_equals_numpy_baseline():
    a = sim.distillation_risk.uncached(**ARGS)
    b = sim.distillation_risk_numpy(**ARGS)
    assert np.array_equal(a.designs, b.designs)
    # same draws; the two solve the same systems by different factorizations
    assert np.allclose(a.risks, b.risks, rtol=1e-10, atol=0)
    assert np.allclose(a.fit_mean, b.fit_mean, rtol=1e-10, atol=1e-14)


def test_grid_design_and_teacher_row_match_direct_krr():
    res = sim.distillation_risk.uncached(**{**ARGS, "noise": 0.0, "design": "grid", "replicates": 16})
    X = np.linspace(0, 1, ARGS["n"])
    K = th.rbf_kernel(X, X, ARGS["gamma"])
    C = th.rbf_kernel(res.x_test, X, ARGS["gamma"])
    f = np.sin(2 * np.pi * X)
    for ai, al in enumerate(ARGS["alphas"]):
        for s in range(ARGS["steps"] + 1):
            pred = th.distilled_fit(K, f, ARGS["ridge"], al, s, C)
            risk = np.mean((pred - np.sin(2 * np.pi * res.x_test)) ** 2)
            assert np.allclose(res.risks[:, ai, s], risk, rtol=1e-10)


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = sim.distillation_risk.uncached(**ARGS)
    b = sim.distillation_risk.uncached(**ARGS)
    c = sim.distillation_risk.uncached(**{**ARGS, "seed": 6})
    assert np.array_equal(a.risks, b.risks)
    assert not np.array_equal(a.risks, c.risks)


def test_one_and_two_threads_give_identical_numbers():
    code = textwrap.dedent(f"""
        import hashlib, json
        from simulations import self_distillation as sim
        r = sim.distillation_risk.uncached(**{ARGS!r})
        print(json.dumps(hashlib.sha256(r.risks.tobytes() + r.designs.tobytes()).hexdigest()))
    """)
    out = outputs_by_thread_count(code)
    assert out[0] == out[1]


def test_standard_error_is_replicate_spread():
    r = sim.distillation_risk.uncached(**ARGS)
    assert np.allclose(r.stderr, r.risks.std(axis=0, ddof=1) / np.sqrt(ARGS["replicates"]))
    assert r.n_samples == ARGS["replicates"]


def test_generators_are_independent_of_chunk_use():
    g1 = rng.generators(3, 4)
    g2 = rng.generators(3, 4)
    assert all(np.array_equal(a.random(5), b.random(5)) for a, b in zip(g1, g2))
    assert not np.array_equal(rng.generators(3, 2, stream=1)[0].random(3), rng.generators(3, 2)[0].random(3))
    assert list(rng.chunk_sizes(10, 3)) == [4, 3, 3]


def test_iterate_distillation_accepts_per_step_alphas():
    X = th.TOY_INPUTS
    K = th.rbf_kernel(X, X, th.TOY_GAMMA)
    y = th.TOY_TARGETS
    same = sim.iterate_distillation(K, y, 0.2, [0.3], 4)
    per_step = sim.iterate_distillation(K, y, 0.2, np.full((1, 4), 0.3), 4)
    assert np.array_equal(same, per_step)


@pytest.mark.parametrize("change,match", [
    ({"n": 1}, "n must"), ({"n": 2.5}, "n must"), ({"steps": -1}, "steps"), ({"ridge": 0.0}, "ridge"),
    ({"ridge": float("nan")}, "ridge"), ({"gamma": -1.0}, "gamma"), ({"noise": -0.1}, "noise"),
    ({"replicates": 1}, "replicates"), ({"replicates": 8, "n_chunks": 16}, "replicates"),
    ({"alphas": []}, "alphas"), ({"alphas": [np.inf]}, "alphas"), ({"design": "sphere"}, "design"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"n_test": 0}, "n_test"),
])
def test_bad_input_raises_naming_the_parameter(change, match):
    with pytest.raises((ValueError, TypeError), match=match):
        sim.distillation_risk(**{**ARGS, **change})
    with pytest.raises((ValueError, TypeError), match=match):
        sim.distillation_risk_numpy(**{**ARGS, **change})
