"""Timing helpers: best-of-k warm timings and a subprocess runner for isolated measurements."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def best_of(func, repeat: int = 3, warmup: int = 1):
    """Call ``func`` ``warmup`` times untimed, then ``repeat`` times; return (best seconds, last result)."""
    result = None
    for _ in range(warmup):
        result = func()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - t0)
    return best, result


def run_json(code: str, env: dict | None = None, timeout: float = 600.0) -> dict:
    """Run ``code`` with a fresh Python in the repository root and parse the last stdout line as JSON.

    ``env`` entries are added to (and override) the current environment; the
    disk cache of simulations is turned off so a kernel call is always computed.
    """
    full_env = dict(os.environ)
    full_env["THEORYCHECK_CACHE"] = "off"
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH", "")]))
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"benchmark subprocess failed (exit {proc.returncode}): {tail[0]}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("benchmark subprocess printed nothing")
    return json.loads(lines[-1])


def say(message: str) -> None:
    """One progress line on stderr (long work shows progress)."""
    print(f"benchmarks: {message}", file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """A time for the tables: milliseconds below a second, seconds above."""
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def threads_row(id_: str, benchmark: str, what: str, spawn) -> dict:
    """1 against 2 numba threads: ``spawn(env)`` runs the kernel in a fresh process and returns
    ``{"seconds", "sha256", "threads"}``; the row says whether the outputs are bit-identical."""
    one = spawn({"NUMBA_NUM_THREADS": "1"})
    two = spawn({"NUMBA_NUM_THREADS": "2"})
    identical = one["sha256"] == two["sha256"]
    return dict(
        id=id_, benchmark=benchmark,
        baseline=f"1 thread {duration(one['seconds'])}", candidate=f"2 threads {duration(two['seconds'])}",
        ratio=one["seconds"] / two["seconds"],
        note=(f"speedup; {what} bit-identical" if identical else f"speedup; {what.upper()} DIFFER between thread counts")
        + f" (sha256 {one['sha256'][:12]})",
        baseline_s=one["seconds"], candidate_s=two["seconds"], identical=identical,
        sha256_1=one["sha256"], sha256_2=two["sha256"], threads=[one["threads"], two["threads"]],
    )


def cold_warm_row(id_: str, benchmark: str, spawn_first) -> dict:
    """First call with a cold numba cache against a warm one: ``spawn_first(env)`` runs the first call
    in a fresh process and returns ``{"seconds"}``; both calls share one fresh ``NUMBA_CACHE_DIR``."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="numba-cache-") as folder:
        env = {"NUMBA_CACHE_DIR": folder}
        cold = spawn_first(env)
        warm = spawn_first(env)
    return dict(
        id=id_, benchmark=benchmark,
        baseline=f"cold cache {duration(cold['seconds'])}", candidate=f"warm cache {duration(warm['seconds'])}",
        ratio=cold["seconds"] / warm["seconds"], note="compile vs load from NUMBA_CACHE_DIR; fresh process each",
        baseline_s=cold["seconds"], candidate_s=warm["seconds"],
    )
