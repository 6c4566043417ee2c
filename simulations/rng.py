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

MAX_SEED = 2**63 - 1


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**63 - 1], got {seed}")
    return int(seed)


def generators(seed: int, n_chunks: int, *, stream: int = 0) -> tuple:
    """``n_chunks`` independent generators for ``seed`` (a tuple, ready to pass to a kernel).

    ``stream`` separates independent uses of one seed (e.g. two simulations in one claim).
    """
    seed = check_seed(seed)
    if not (isinstance(n_chunks, numbers.Integral) and n_chunks >= 1):
        raise ValueError(f"n_chunks must be an integer >= 1, got {n_chunks!r}")
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(int(stream),))
    return tuple(np.random.Generator(np.random.PCG64(s)) for s in ss.spawn(int(n_chunks)))


def chunk_sizes(n_samples: int, n_chunks: int) -> np.ndarray:
    """Split ``n_samples`` into ``n_chunks`` near-equal parts (a deterministic function of both)."""
    if n_samples < n_chunks:
        raise ValueError(f"need at least one sample per chunk: n_samples={n_samples} < n_chunks={n_chunks}")
    base, extra = divmod(int(n_samples), int(n_chunks))
    return np.array([base + (i < extra) for i in range(n_chunks)], dtype=np.int64)
