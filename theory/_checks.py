"""Argument checks shared by the theory modules: one-line errors that name the parameter."""

from __future__ import annotations

import math
import numbers


def real(name, value, *, low=None, low_open=False, high=None, high_open=False) -> float:
    """A finite real number within the stated bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return v


def integer(name, value, low) -> int:
    """An integer (not a bool) at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def flag(name, value) -> bool:
    """True or False (numpy booleans too), nothing else."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def choice(name, value, options) -> str:
    """One of the strings ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {_short(value)}")
    return value


def _short(value) -> str:
    """A one-line repr of at most 80 characters (arrays print on many lines)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def array(name, value, *, ndim, nonneg=False, positive=False, low=None, high=None, shape=None, square=False,
          empty=False):
    """A float array of ``ndim`` dimensions, finite, within the bounds; ``shape`` entries None match anything."""
    import numpy as np

    what = f"a {ndim}-D array"
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be {what} of finite numbers, got {_short(value)}")
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {what} of finite numbers, got {_short(value)}") from None
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {what}, got shape {a.shape}")
    if a.size == 0 and not empty:
        raise ValueError(f"{name} must be non-empty, got shape {a.shape}")
    if square and a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {a.shape}")
    if shape is not None and any(want is not None and got != want for got, want in zip(a.shape, shape)):
        want_text = "(" + ", ".join("any" if w is None else str(w) for w in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want_text}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got a non-finite entry")
    if nonneg and np.any(a < 0):
        raise ValueError(f"{name} must be >= 0, got a minimum of {float(a.min())!r}")
    if positive and np.any(a <= 0):
        raise ValueError(f"{name} must be > 0, got a minimum of {float(a.min())!r}")
    if low is not None and np.any(a < low):
        raise ValueError(f"{name} must be >= {low}, got a minimum of {float(a.min())!r}")
    if high is not None and np.any(a > high):
        raise ValueError(f"{name} must be <= {high}, got a maximum of {float(a.max())!r}")
    return a


def physical_memory() -> int:
    """Bytes of physical memory of this machine (1 TiB where it cannot be read)."""
    import os

    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # not POSIX
        return 2**40


def memory(names, n_bytes, values) -> None:
    """Refuse sizes whose arrays would not fit: ``n_bytes`` above this machine's physical memory.

    ``names`` says which parameters set the size, ``values`` what they were.
    """
    limit = physical_memory()
    if not n_bytes <= limit:
        raise ValueError(f"{names} too large: {values} needs about {float(n_bytes) / 2**30:.3g} GiB of arrays, more "
                         f"than the {limit / 2**30:.3g} GiB of memory of this machine")
