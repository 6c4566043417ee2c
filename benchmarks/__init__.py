"""Speed ratios of the simulation kernels against their plain-numpy baselines.

Run ``python -m benchmarks [--quick] [--out DIR]``.  Every measurement is a
*ratio* of two timings taken in the same run on the same machine (wall-clock
times alone say little across machines); nothing here asserts a time.

A benchmark module is any module of this package whose name does not start
with ``_`` and that defines ``rows(quick: bool) -> list[dict]``; it is found
automatically (:func:`discover`).  Each row has an ``id``, the keys of
:data:`COLUMNS` (``ratio`` a float, the others strings), and the two timings
``baseline_s`` and ``candidate_s`` with ``ratio = baseline_s / candidate_s``;
it may carry more (hashes, thread counts) that go to the JSON output only.
"""

from __future__ import annotations

import importlib
import pkgutil

COLUMNS = ("benchmark", "baseline", "candidate", "ratio", "note")


def discover() -> list:
    """The benchmark modules of this package, sorted by name."""
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "__main__":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(mod, "rows", None)):
            mods.append(mod)
    return mods
