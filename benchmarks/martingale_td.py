"""Martingale-approach policy evaluation (:mod:`simulations.martingale_td`): speed ratios.

1. the numba kernel against the plain vectorized-numpy baseline (same draws, same
   outputs, checked to agree), all six methods, warm, best of 3;
2. the kernel against drawing its normals alone (its floor: a numba ``prange`` over the
   same generators drawing the same counts in the same order, summing them), for all six
   methods and for LSTD alone;
3. the kernel with 1 against 2 numba threads, each in its own process, with a SHA-256
   of the per-replicate estimates to show the numbers do not depend on the thread count.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from . import _timing

STEPS = 50
PATHS = {False: 256_000, True: 64_000}
REPLICATES = 32
SEED = 0
REPEAT = 3


def _features() -> list:
    C = np.zeros((4, 2, 3))
    for i, (a, b) in enumerate([(0, 0), (0, 1), (0, 2), (1, 0)]):  # 1, x, x^2, t
        C[i, a, b] = 1.0
    return C.tolist()


def _args(quick: bool, methods=None) -> dict:
    args = dict(drift=(0.2, -0.5), diffusion=(0.8, 0.1), running_reward=[0.1, 0.0, -0.5], terminal_reward=[0.0, 0.0, 1.0],
                discount=0.3, horizon=1.0, x0=0.5, features=_features(), steps=STEPS, paths=PATHS[quick], seed=SEED,
                replicates=REPLICATES, reference=[[1.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
    if methods is not None:
        args["methods"] = tuple(methods)
    return args


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _child(quick: bool) -> None:
    """Run inside a subprocess: compile (or load), best of 3, print the time and the estimates' hash."""
    import numba

    from simulations.martingale_td import run_algorithms

    seconds, res = _timing.best_of(lambda: run_algorithms.uncached(**_args(quick)), repeat=REPEAT)
    print(json.dumps({"seconds": seconds, "sha256": _sha256(res.per_replicate), "threads": numba.get_num_threads()}))


def _spawn(quick: bool, env: dict) -> dict:
    return _timing.run_json(f"from benchmarks.martingale_td import _child; _child({bool(quick)!r})", env=env)


def numba_vs_numpy(quick: bool) -> tuple[dict, float]:
    import numba

    from simulations.martingale_td import run_algorithms, run_algorithms_numpy

    args = _args(quick)
    t_numba, fast = _timing.best_of(lambda: run_algorithms.uncached(**args), repeat=REPEAT)
    t_numpy, slow = _timing.best_of(lambda: run_algorithms_numpy(**args), repeat=REPEAT, warmup=0)
    scale = np.abs(slow.per_replicate).max()
    np.testing.assert_allclose(fast.per_replicate, slow.per_replicate, rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(fast.mean_martingale, slow.mean_martingale, rtol=1e-10)
    threads = numba.get_num_threads()
    row = dict(
        id="martingale_td/numba-vs-numpy",
        benchmark=f"6 policy-evaluation methods, {args['paths']} paths x {STEPS} steps",
        baseline=f"numpy {_timing.duration(t_numpy)}", candidate=f"numba {_timing.duration(t_numba)}",
        ratio=t_numpy / t_numba,
        note=f"speedup; warm, best of {REPEAT}; {threads} numba threads; thetas agree (rtol 1e-10); "
             "numpy's online TD(0) loop is vectorized across replicates",
        baseline_s=t_numpy, candidate_s=t_numba, threads=threads, estimates_sha256=_sha256(fast.per_replicate),
    )
    return row, t_numba


def draw_floor(quick: bool, t_all: float) -> list[dict]:
    from simulations.martingale_td import draw_floor as floor
    from simulations.martingale_td import run_algorithms

    args = _args(quick)
    t_draw, _ = _timing.best_of(lambda: floor(args["paths"], STEPS, SEED, REPLICATES), repeat=REPEAT)
    lean = _args(quick, methods=("lstd",))
    lean.pop("reference")
    t_lean, _ = _timing.best_of(lambda: run_algorithms.uncached(**lean), repeat=REPEAT)
    n = args["paths"] * STEPS
    rows = []
    for name, t, what in (("kernel-vs-draws", t_all, "all 6 methods + martingale"),
                          ("lstd-kernel-vs-draws", t_lean, "LSTD alone")):
        rows.append(dict(
            id=f"martingale_td/{name}",
            benchmark=f"draw floor, {what}, {n} normals",
            baseline=f"numba kernel {_timing.duration(t)}", candidate=f"draws only {_timing.duration(t_draw)}",
            ratio=t / t_draw,
            note="kernel time in units of drawing its normals alone (same generators, counts and order, "
                 f"numba prange; {t_draw / n * 1e9:.1f} ns a normal); target 1.3x",
            baseline_s=t, candidate_s=t_draw,
        ))
    return rows


def threads_1_vs_2(quick: bool) -> dict:
    return _timing.threads_row("martingale_td/threads-1-vs-2", f"numba kernel, {PATHS[quick]} paths x {STEPS} steps",
                               "estimates", lambda env: _spawn(quick, env))


def rows(quick: bool) -> list[dict]:
    _timing.say("martingale_td: numba kernel vs numpy baseline")
    first, t_kernel = numba_vs_numpy(quick)
    _timing.say("martingale_td: draw-only floor")
    floors = draw_floor(quick, t_kernel)
    _timing.say("martingale_td: 1 vs 2 numba threads (subprocesses)")
    threads = threads_1_vs_2(quick)
    return [first, *floors, threads]
