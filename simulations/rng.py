"""Seeding: every random stream comes from ``numpy.random.SeedSequence(seed)``.

A simulation splits its work into a fixed number of chunks that does not depend
on the thread count; chunk ``i`` gets its own ``numpy.random.Generator`` spawned
from the seed.  Kernels ``prange`` over chunks, so a seed gives bit-identical
numbers with 1 or 2 numba threads (numba's own ``np.random`` inside ``prange``
keeps one randomly seeded state per thread and does not).
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _checks

MAX_SEED = 2**63 - 1
#: bytes a chunk's generator takes (its PCG64 state and SeedSequence), for the memory check of ``n_chunks``
GENERATOR_BYTES = 2048


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**63 - 1], got {seed}")
    return int(seed)


def _count(name, value, low) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {low}, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value}")
    return int(value)


def generators(seed: int, n_chunks: int, *, stream: int = 0) -> tuple:
    """``n_chunks`` independent generators for ``seed`` (a tuple, ready to pass to a kernel).

    ``stream`` separates independent uses of one seed (e.g. two simulations in one claim).
    """
    seed = check_seed(seed)
    n_chunks = _count("n_chunks", n_chunks, 1)
    stream = _count("stream", stream, 0)
    _checks.memory("n_chunks", float(GENERATOR_BYTES) * n_chunks, f"n_chunks={n_chunks} generators")
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(stream,))
    return tuple(np.random.Generator(np.random.PCG64(s)) for s in ss.spawn(int(n_chunks)))


def chunk_sizes(n_samples: int, n_chunks: int) -> np.ndarray:
    """Split ``n_samples`` into ``n_chunks`` near-equal parts (a deterministic function of both)."""
    n_samples = _count("n_samples", n_samples, 1)
    n_chunks = _count("n_chunks", n_chunks, 1)
    _checks.memory("n_chunks", 8.0 * 16 * n_chunks, f"n_chunks={n_chunks} chunk sizes")
    if n_samples < n_chunks:
        raise ValueError(f"need at least one sample per chunk: n_samples={n_samples} < n_chunks={n_chunks}")
    base, extra = divmod(int(n_samples), int(n_chunks))
    return np.array([base + (i < extra) for i in range(n_chunks)], dtype=np.int64)
