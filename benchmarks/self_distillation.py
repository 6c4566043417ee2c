"""Self-distillation Monte Carlo (:mod:`simulations.self_distillation`): four speed ratios.

1. the numba kernel against the plain vectorized-numpy baseline (same draws,
   same outputs, checked to agree), warm, best of 5;
2. the numba kernel with 1 against 2 numba threads, each in its own process,
   with a SHA-256 of the per-replicate risks to show the numbers do not depend
   on the thread count;
3. the first call with a cold numba cache (compilation) against the first call
   of a new process with that cache warm (loading), in a fresh ``NUMBA_CACHE_DIR``;
4. the kernel against drawing its random numbers alone (its floor).
"""

from __future__ import annotations

import hashlib
import inspect
import json

import numpy as np

from . import _timing

PARAMS = dict(n=20, alphas=[0.0, 0.25, 0.5, 1.0], steps=6, ridge=0.05, gamma=80.0, noise=0.5, seed=0)
REPLICATES = {False: 2000, True: 500}
COLD_REPLICATES = 16  # the cold/warm-cache call: one replicate per chunk, so compile/load dominates
REPEAT = 5


def _args(quick: bool, replicates: int | None = None) -> dict:
    return dict(PARAMS, replicates=REPLICATES[quick] if replicates is None else replicates)


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _child(mode: str, quick: bool) -> None:
    """Run inside a subprocess: print one JSON line with the timing asked for.

    ``mode="warm"``: compile (or load), then best of 5 and the risks' hash;
    ``mode="first"``: the time of the very first call (compile or cache load).
    """
    import time

    import numba

    from simulations.self_distillation import distillation_risk

    kernel = distillation_risk.uncached
    if mode == "first":
        t0 = time.perf_counter()
        kernel(**_args(quick, COLD_REPLICATES))
        print(json.dumps({"seconds": time.perf_counter() - t0, "threads": numba.get_num_threads()}))
        return
    seconds, res = _timing.best_of(lambda: kernel(**_args(quick)), repeat=REPEAT)
    print(json.dumps({"seconds": seconds, "sha256": _sha256(res.risks), "threads": numba.get_num_threads()}))


def _spawn(mode: str, quick: bool, env: dict) -> dict:
    code = f"from benchmarks.self_distillation import _child; _child({mode!r}, {bool(quick)!r})"
    return _timing.run_json(code, env=env)


def numba_vs_numpy(quick: bool) -> tuple[dict, float]:
    import numba

    from simulations.self_distillation import distillation_risk, distillation_risk_numpy

    args = _args(quick)
    t_numba, fast = _timing.best_of(lambda: distillation_risk.uncached(**args), repeat=REPEAT)
    t_numpy, slow = _timing.best_of(lambda: distillation_risk_numpy(**args), repeat=REPEAT)
    np.testing.assert_array_equal(fast.designs, slow.designs)
    np.testing.assert_allclose(fast.risks, slow.risks, rtol=1e-10)
    np.testing.assert_allclose(fast.fit_mean, slow.fit_mean, rtol=1e-10, atol=1e-12)
    threads = numba.get_num_threads()
    row = dict(
        id="self_distillation/numba-vs-numpy",
        benchmark=f"self-distillation MC, {args['replicates']} replicates",
        baseline=f"numpy {_timing.duration(t_numpy)}", candidate=f"numba {_timing.duration(t_numba)}",
        ratio=t_numpy / t_numba,
        note=f"speedup; warm, best of {REPEAT}; {threads} numba threads; risks agree (rtol 1e-10)",
        baseline_s=t_numpy, candidate_s=t_numba, threads=threads, risks_sha256=_sha256(fast.risks),
    )
    return row, t_numba


def threads_1_vs_2(quick: bool) -> dict:
    return _timing.threads_row("self_distillation/threads-1-vs-2", f"numba kernel, {REPLICATES[quick]} replicates", "risks", lambda env: _spawn("warm", quick, env))


def cold_vs_warm_cache(quick: bool) -> dict:
    return _timing.cold_warm_row("self_distillation/cold-vs-warm-cache", f"numba first call, {COLD_REPLICATES} replicates", lambda env: _spawn("first", quick, env))


def draw_floor(quick: bool, t_kernel: float) -> dict:
    from simulations import rng
    from simulations.self_distillation import distillation_risk

    args = _args(quick)
    n, seed, replicates = args["n"], args["seed"], args["replicates"]
    n_chunks = int(inspect.signature(distillation_risk.uncached).parameters["n_chunks"].default)

    def draws():
        for g, cnt in zip(rng.generators(seed, n_chunks), rng.chunk_sizes(replicates, n_chunks)):
            g.random((cnt, n))
            g.standard_normal((cnt, n))

    t_draw, _ = _timing.best_of(draws, repeat=REPEAT)
    return dict(
        id="self_distillation/kernel-vs-draws",
        benchmark=f"draw floor, {replicates} replicates",
        baseline=f"numba kernel {_timing.duration(t_kernel)}", candidate=f"draws only {_timing.duration(t_draw)}",
        ratio=t_kernel / t_draw,
        note="the kernel (as above) in units of drawing its uniforms and normals alone (numpy, 1 thread)",
        baseline_s=t_kernel, candidate_s=t_draw,
    )


def rows(quick: bool) -> list[dict]:
    _timing.say("self_distillation: numba kernel vs numpy baseline")
    first, t_kernel = numba_vs_numpy(quick)
    _timing.say("self_distillation: draw-only floor")
    floor = draw_floor(quick, t_kernel)
    _timing.say("self_distillation: 1 vs 2 numba threads (subprocesses)")
    threads = threads_1_vs_2(quick)
    _timing.say("self_distillation: cold vs warm numba cache (subprocesses)")
    cache = cold_vs_warm_cache(quick)
    return [first, threads, cache, floor]
