"""Neural-collapse simulations (:mod:`simulations.neural_collapse`): three speed ratios.

1. the UFM's full-batch GD loop (numpy, small dense products) over 8 seeds of a
   ``K = 4``, ``d = 16``, depth-3 problem, with BLAS pinned to 1 thread against
   BLAS on 2 threads (threadpoolctl), same process, warm, the two alternated and
   best of 5 each; the end states are compared (at these sizes OpenBLAS does not
   split a product, so the ratio is about 1: the gain of pinning is in running
   seeds side by side without oversubscription, item 3);
2. the mixup features' gradient descent, the numba ``prange`` kernel against the
   vectorized-numpy baseline (same arithmetic, outputs checked to agree), warm;
3. :func:`~simulations.neural_collapse.train_ufm`'s per-seed work (GD and the
   L-BFGS polish) serial against 2 worker processes (``ProcessPoolExecutor``,
   spawn, BLAS pinned to 1 thread in each), best of 3, the pool started and warmed before
   timing (its start-up time is reported in the JSON); results checked identical.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from . import _timing

UFM = dict(class_sizes=[40, 20, 10, 10], depth=3, width=16, weight_decay=5e-3, feature_decay=5e-3, loss="mse",
           bias=False)
SEEDS = 8
GD_STEPS = {False: 1000, True: 200}
POOL_STEPS = {False: 1000, True: 300}
MIXES = {False: 2001, True: 201}
MIX_STEPS = 2000
REPEAT = 3
ALTERNATIONS = 5


def _sha256(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _ufm_setup(steps: int):
    from simulations import neural_collapse as nc
    from simulations import rng

    prob = nc._problem(UFM["class_sizes"])
    lr = nc.default_learning_rate(UFM["class_sizes"], UFM["depth"], UFM["weight_decay"], UFM["feature_decay"],
                                  UFM["loss"], UFM["bias"])
    record_at = nc._record_steps(steps, 100)
    starts = [nc._init_params(g, prob.num_classes, prob.num_samples, UFM["depth"], UFM["width"], UFM["bias"],
                              UFM["width"] ** -0.5) for g in rng.generators(0, SEEDS)]
    return nc, prob, lr, record_at, starts


def _gd_all(nc, prob, lr, record_at, starts, steps):
    out = []
    for p0 in starts:
        p, f, _, _ = nc._gd(p0, prob, UFM["weight_decay"], UFM["feature_decay"], UFM["loss"] == "ce", steps, lr,
                            record_at)
        out.append((p, f))
    return out


def blas_threads(quick: bool) -> dict:
    from threadpoolctl import threadpool_limits

    steps = GD_STEPS[quick]
    nc, prob, lr, record_at, starts = _ufm_setup(steps)

    def run(threads):
        with threadpool_limits(threads):
            return _gd_all(nc, prob, lr, record_at, starts, steps)

    # alternate the two settings (best of ALTERNATIONS each) so drifting machine load hits both alike
    run(1), run(2)
    t1 = t2 = float("inf")
    for _ in range(ALTERNATIONS):
        s, one = time.perf_counter(), run(1)
        t1 = min(t1, time.perf_counter() - s)
        s, two = time.perf_counter(), run(2)
        t2 = min(t2, time.perf_counter() - s)
    identical = all(np.array_equal(nc.flatten_ufm(a[0]), nc.flatten_ufm(b[0])) for a, b in zip(one, two))
    max_diff = max(float(np.max(np.abs(nc.flatten_ufm(a[0]) - nc.flatten_ufm(b[0])))) for a, b in zip(one, two))
    return dict(
        id="neural_collapse/ufm-gd-blas-1-vs-2-threads",
        benchmark=f"UFM GD, {SEEDS} seeds x {steps} steps, K=4 d=16 depth 3 N={prob.num_samples}",
        baseline=f"BLAS 2 threads {_timing.duration(t2)}", candidate=f"BLAS 1 thread {_timing.duration(t1)}",
        ratio=t2 / t1,
        note=f"speedup of pinning BLAS to 1 thread; warm, alternating, best of {ALTERNATIONS}; end states "
             + ("bit-identical" if identical else f"differ by at most {max_diff:.1e}"),
        baseline_s=t2, candidate_s=t1, identical=identical, max_abs_diff=max_diff,
    )


def mixup_numba_vs_numpy(quick: bool) -> dict:
    from simulations import neural_collapse as nc

    n = MIXES[quick]
    g = np.random.default_rng(0)
    h0 = g.standard_normal((n, 4))
    T = nc.mixup_targets(4, np.linspace(0.0, 1.0, n), "cross")
    lr = nc.mixup_learning_rate(4, 1e-2, "ce")
    nc.mixup_gd(h0[:2], T[:2], 1e-2, lr, 2, "ce", backend="numba")  # compile or load outside the timing
    t_numba, fast = _timing.best_of(lambda: nc.mixup_gd(h0, T, 1e-2, lr, MIX_STEPS, "ce", backend="numba"),
                                    repeat=REPEAT)
    t_numpy, slow = _timing.best_of(lambda: nc.mixup_gd(h0, T, 1e-2, lr, MIX_STEPS, "ce", backend="numpy"),
                                    repeat=REPEAT)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-13)
    import numba

    threads = numba.get_num_threads()
    return dict(
        id="neural_collapse/mixup-numba-vs-numpy",
        benchmark=f"mixup feature GD (CE), {n} mixes x {MIX_STEPS} steps, K=4",
        baseline=f"numpy {_timing.duration(t_numpy)}", candidate=f"numba {_timing.duration(t_numba)}",
        ratio=t_numpy / t_numba,
        note=f"speedup; warm, best of {REPEAT}; {threads} numba threads; features agree (rtol 1e-12)",
        baseline_s=t_numpy, candidate_s=t_numba, threads=threads,
        max_abs_diff=float(np.max(np.abs(fast - slow))),
    )


def _seed_job(index: int, steps: int):
    """One seed of ``train_ufm``'s work (GD + L-BFGS polish), BLAS pinned to 1 thread; runs in a worker."""
    from threadpoolctl import threadpool_limits

    from simulations import neural_collapse as nc
    from simulations import rng

    prob = nc._problem(UFM["class_sizes"])
    lr = nc.default_learning_rate(UFM["class_sizes"], UFM["depth"], UFM["weight_decay"], UFM["feature_decay"],
                                  UFM["loss"], UFM["bias"])
    gen = rng.generators(0, SEEDS)[index]
    with threadpool_limits(1):
        p, f, g, _, _ = nc._ufm_one_seed(gen, prob, UFM["depth"], UFM["width"], UFM["weight_decay"],
                                         UFM["feature_decay"], UFM["loss"] == "ce", UFM["bias"], steps, lr,
                                         UFM["width"] ** -0.5, True, nc._record_steps(steps, 100))
    return nc.flatten_ufm(p), f, g


def _warm(_):
    import simulations.neural_collapse  # noqa: F401  (import the module in the worker before timing)

    return os.getpid()


def serial_vs_processes(quick: bool) -> dict:
    steps = POOL_STEPS[quick]
    t_serial, serial = _timing.best_of(lambda: [_seed_job(i, steps) for i in range(SEEDS)], repeat=REPEAT, warmup=1)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_warm, range(2)))
        t_start = time.perf_counter() - t0
        t_pool, pooled = _timing.best_of(lambda: list(pool.map(_seed_job, range(SEEDS), [steps] * SEEDS)),
                                         repeat=REPEAT, warmup=1)
    identical = all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(serial, pooled))
    return dict(
        id="neural_collapse/ufm-seeds-serial-vs-2-processes",
        benchmark=f"UFM GD {steps} steps + L-BFGS polish, {SEEDS} seeds, K=4 d=16 depth 3",
        baseline=f"serial {_timing.duration(t_serial)}", candidate=f"2 processes {_timing.duration(t_pool)}",
        ratio=t_serial / t_pool,
        note=f"speedup; warm pool (start-up {_timing.duration(t_start)} not counted); BLAS 1 thread each; results "
             + ("bit-identical" if identical else "DIFFER"),
        baseline_s=t_serial, candidate_s=t_pool, pool_start_s=t_start, identical=identical,
        sha256=_sha256(*[a[0] for a in serial]),
    )


def rows(quick: bool) -> list[dict]:
    # the process pool first: after a numba parallel region (OpenMP) or multi-threaded BLAS the parent's
    # idle worker threads may still spin and steal one of the two cores from the pool's workers
    _timing.say("neural_collapse: UFM seeds serial vs 2 processes")
    c = serial_vs_processes(quick)
    _timing.say("neural_collapse: UFM GD with BLAS on 1 vs 2 threads")
    a = blas_threads(quick)
    _timing.say("neural_collapse: mixup GD, numba vs numpy")
    b = mixup_numba_vs_numpy(quick)
    return [a, b, c]
