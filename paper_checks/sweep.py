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

Local workers die with the sweep: when the parent is interrupted (Ctrl-C, SIGTERM) or
fails, :func:`local_pool` cancels the queued items and sends each worker SIGTERM (SIGKILL
after a grace period).  A worker ignores SIGINT (Ctrl-C reaches the whole process group;
the parent decides) and turns SIGTERM during an item into an exception, so the item's
``finally`` blocks run -- a half-written cache entry or figure removes its temporary
file -- and then exits at once; between items it exits at once.  A worker that dies on
its own (SIGKILL, out of memory) makes the sweep raise :class:`WorkerLost`.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

WORKER_ENV = "THEORYCHECK_SWEEP_WORKER"
#: seconds a stopped worker gets to clean up before SIGKILL
STOP_GRACE_S = 10.0


def in_worker() -> bool:
    """True inside a sweep worker (local process or dask worker task)."""
    return os.environ.get(WORKER_ENV) == "1" or multiprocessing.current_process().daemon


class WorkerLost(RuntimeError):
    """A local worker process died (killed, out of memory) in the middle of an item."""


class _Stopped(BaseException):
    """SIGTERM inside a worker's item (a BaseException, so no ``except Exception`` swallows it)."""


_IN_ITEM = False


def _on_sigterm_in_worker(signum, frame):
    if _IN_ITEM:
        raise _Stopped
    os._exit(128 + signum)


def init_worker_signals() -> None:
    """Pool initializer: ignore SIGINT, stop cleanly on SIGTERM (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm_in_worker)


def _run_item(fn, item):
    """``fn(item)`` in a worker; on SIGTERM the item's cleanup runs, then the worker exits."""
    global _IN_ITEM
    _IN_ITEM = True
    try:
        return fn(item)
    except _Stopped:
        os._exit(128 + signal.SIGTERM)
    finally:
        _IN_ITEM = False


def guarded(fn):
    """``fn`` wrapped for a pool started with :func:`init_worker_signals` (picklable when ``fn`` is)."""
    return functools.partial(_run_item, fn)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():  # pragma: no cover - a worker stuck in compiled code past the grace period
            p.kill()
            p.join()


@contextlib.contextmanager
def local_pool(max_workers: int, context: str, initializer=init_worker_signals):
    """A process pool whose workers die with the caller: on any exception (KeyboardInterrupt,
    SIGTERM turned into one) the queued items are cancelled and the workers stopped."""
    pool = ProcessPoolExecutor(max_workers=max_workers, mp_context=multiprocessing.get_context(context),
                               initializer=initializer)
    try:
        yield pool
    except BaseException:
        _stop_workers(pool)
        raise
    pool.shutdown(wait=True)


def _init_local_worker() -> None:
    init_worker_signals()
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
    """``scheme://host[:port]`` with a port in [1, 65535] when given (e.g. ``tcp://host:8786``)."""
    bad = ValueError(f"scheduler must be an address like tcp://host:8786 (port in [1, 65535]), got {address!r}")
    if not isinstance(address, str) or "://" not in address:
        raise bad
    scheme, rest = address.split("://", 1)
    host, colon, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if not scheme.isidentifier() or not host.strip() or any(c.isspace() for c in address):
        raise bad
    if colon and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise bad
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
    with local_pool(min(workers, len(items)), "spawn", initializer=_init_local_worker) as pool:
        task = guarded(fn)
        futures = {pool.submit(task, x): i for i, x in enumerate(items)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except BrokenProcessPool:
                raise WorkerLost(f"a worker process died (killed or out of memory) while running {items[i]!r}; "
                                 f"nothing it was writing was kept; run again") from None
            if on_done is not None:
                on_done(i, results[i])
    return results
