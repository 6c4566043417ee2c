"""Sweeps over independent items: serially, on local worker processes, or on a dask.distributed cluster.

``run_map(fn, items, workers=1, scheduler=None)`` returns ``[fn(x) for x in items]`` in
the items' order whichever way it runs.  Every item a sweep maps (an explore grid point,
a figure, a claim with its seed) is seeded by its own arguments, so the results -- and
the tables printed from them -- are bit-identical to the serial run whatever the
worker count; only timings and progress (on stderr) differ.

* ``workers=1`` (the default): in this process.
* ``workers=N > 1``: ``N`` local processes (``spawn``: each imports the modules itself,
  none inherits numba's or BLAS's thread pools); each worker runs numba and BLAS on one
  thread, so ``N`` workers use ``N`` cores.
* ``scheduler="tcp://host:port"``: the items are submitted to an existing
  dask.distributed cluster (``distributed.Client(address)``); its workers need this
  package installed and import the modules themselves; only the item's arguments and
  its result cross the wire.  Simulation caches are per machine (``THEORYCHECK_CACHE``
  on each worker).

``fn`` must be picklable: a module-level function, or a ``functools.partial`` of one.
Inside a sweep worker, :func:`in_worker` is true and nested pools (e.g. a figure's own
``parallel_map``) run serially.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed

WORKER_ENV = "THEORYCHECK_SWEEP_WORKER"


def in_worker() -> bool:
    """True inside a sweep worker (local process or dask worker task)."""
    return os.environ.get(WORKER_ENV) == "1" or multiprocessing.current_process().daemon


def _init_local_worker() -> None:
    os.environ[WORKER_ENV] = "1"
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    global _BLAS_LIMIT
    _BLAS_LIMIT = threadpool_limits(limits=1)  # kept for the worker's lifetime


_BLAS_LIMIT = None


def _in_dask_worker(fn, item):
    os.environ[WORKER_ENV] = "1"
    return fn(item)


def check_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    return workers


def check_scheduler(address) -> str:
    if not isinstance(address, str) or "://" not in address or not address.split("://", 1)[1]:
        raise ValueError(f"scheduler must be an address like tcp://host:8786, got {address!r}")
    return address


def run_map(fn, items, *, workers: int = 1, scheduler: str | None = None, on_done=None,
            connect_timeout: float = 10.0) -> list:
    """``[fn(x) for x in items]`` (in order), serially, on local processes or on a dask cluster.

    ``on_done(index, result)`` is called as each item finishes (completion order).
    """
    items = list(items)
    workers = check_workers(workers)
    results: list = [None] * len(items)
    if scheduler is not None:
        check_scheduler(scheduler)
        try:
            from distributed import Client
            from distributed import as_completed as dask_completed
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise RuntimeError("--scheduler needs dask.distributed (pip install distributed)") from exc
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"cannot reach the dask scheduler at {scheduler} ({exc})") from None
        try:
            futures = [client.submit(_in_dask_worker, fn, x, pure=False) for x in items]
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in dask_completed(futures):
                i = index[fut.key]
                results[i] = fut.result()
                if on_done is not None:
                    on_done(i, results[i])
        finally:
            client.close()
        return results
    if workers == 1 or len(items) <= 1:
        for i, x in enumerate(items):
            results[i] = fn(x)
            if on_done is not None:
                on_done(i, results[i])
        return results
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=ctx,
                             initializer=_init_local_worker) as pool:
        futures = {pool.submit(fn, x): i for i, x in enumerate(items)}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if on_done is not None:
                on_done(i, results[i])
    return results
