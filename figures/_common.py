"""Shared figure plumbing: Agg backend, the house style, atomic saving."""

from __future__ import annotations

import io
import multiprocessing
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: default seed of the simulations drawn in figures (the CLI's --seed overrides it)
DEFAULT_SEED = 0

plt.rcParams.update({"figure.dpi": 110, "font.size": 10, "axes.grid": True, "grid.alpha": 0.3,
                     "figure.constrained_layout.use": True})


def save(fig, out_dir, name: str) -> Path:
    """Write ``fig`` as ``out_dir/name.png`` atomically and close it.

    The PNG is rendered in memory and written with :func:`simulations.cache.atomic_write`
    (temporary file, then rename), so an interrupted run leaves the old file or none.
    """
    from simulations.cache import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        atomic_write(path, buf.getvalue())
    finally:
        plt.close(fig)
    return path


def colors(n):
    cmap = plt.get_cmap("viridis")
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def workers() -> int:
    """CPU cores this process may use (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def parallel_map(fn, items, max_workers=None) -> list:
    """``[fn(x) for x in items]``, the items spread over local worker processes.

    Independent simulations (one depth, one grid point, one data set) run in
    parallel; each is seeded by its own arguments, so the results do not depend on
    the worker count, and the workers fill the same disk cache the claims read.
    Workers are forked (they inherit the imported modules, so none pays the
    imports again); where ``fork`` is not available, or with one core or one
    item, the map runs serially.  ``fn`` must not call numba ``parallel`` kernels
    (a forked child must not use the parent's thread pool).
    """
    from paper_checks.sweep import guarded, in_worker, init_worker_signals, local_pool

    items = list(items)
    n = min(len(items), workers() if max_workers is None else max_workers)
    if in_worker():  # already one of several sweep workers: no nested pool
        n = 1
    if n <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [fn(x) for x in items]
    with local_pool(n, "fork", initializer=init_worker_signals) as pool:  # workers die with this process
        return list(pool.map(guarded(fn), items))
