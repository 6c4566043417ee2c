"""theory._checks, the shared argument checks: each message in full, each bound inclusive or
exclusive as stated, each type refused or accepted as documented."""

import math
import re

import numpy as np
import pytest

from theory import _checks as ck


def _exact(text):
    return "^" + re.escape(text) + "$"


def _num(prefix, value, suffix=""):
    """The message with a number printed either as a float or as numpy's scalar repr."""
    v = re.escape(repr(float(value)))
    return "^" + re.escape(prefix) + rf"(?:np\.float64\({v}\)|{v})" + re.escape(suffix) + "$"


def test_real_accepts_and_converts():
    assert ck.real("a", 3) == 3.0 and isinstance(ck.real("a", 3), float)
    assert ck.real("a", np.float32(0.5)) == 0.5
    # inclusive bounds admit the bound itself, open bounds do not
    assert ck.real("a", 0.0, low=0.0) == 0.0
    assert ck.real("a", 1.0, high=1.0) == 1.0
    assert ck.real("a", 0.5, low=0.0, low_open=True, high=1.0, high_open=True) == 0.5
    assert ck.real("a", -1e300) == -1e300  # no bounds: any finite number


@pytest.mark.parametrize("kwargs,value,message", [
    ({}, math.inf, "a must be finite, got inf"),
    ({}, -math.inf, "a must be finite, got -inf"),
    ({}, math.nan, "a must be finite, got nan"),
    ({"low": 0.0}, -0.5, "a must be >= 0.0, got -0.5"),
    ({"low": 0.0, "low_open": True}, 0.0, "a must be > 0.0, got 0.0"),
    ({"low": 0.0, "low_open": True}, -1, "a must be > 0.0, got -1"),
    ({"high": 1.0}, 1.5, "a must be <= 1.0, got 1.5"),
    ({"high": 1.0, "high_open": True}, 1.0, "a must be < 1.0, got 1.0"),
    ({"high": 1.0, "high_open": True}, 2, "a must be < 1.0, got 2"),
    ({"low": 0.0, "high": 1.0}, 2.0, "a must be <= 1.0, got 2.0"),
    ({"low": 0.0, "high": 1.0}, -2.0, "a must be >= 0.0, got -2.0"),
])
def test_real_messages(kwargs, value, message):
    with pytest.raises(ValueError, match=_exact(message)):
        ck.real("a", value, **kwargs)


@pytest.mark.parametrize("value,typename", [(True, "bool"), ("1", "str"), (None, "NoneType"), (1j, "complex")])
def test_real_refuses_non_reals_by_type(value, typename):
    with pytest.raises(TypeError, match=_exact(f"a must be a real number, got {typename}")):
        ck.real("a", value)


def test_integer():
    assert ck.integer("k", 3, 1) == 3 and type(ck.integer("k", np.int64(3), 1)) is int
    assert ck.integer("k", 1, 1) == 1  # the bound is inclusive
    for value in (0, True, 1.0, "2", None):
        with pytest.raises(ValueError, match=_exact(f"k must be an integer >= 1, got {value!r}")):
            ck.integer("k", value, 1)


def test_flag():
    assert ck.flag("f", True) is True and ck.flag("f", np.bool_(False)) is False
    for value in (1, 0, "True", None, 1.0):
        with pytest.raises(TypeError, match=_exact(f"f must be True or False, got {value!r}")):
            ck.flag("f", value)


def test_choice_and_short():
    assert ck.choice("c", "b", ("a", "b")) == "b"
    with pytest.raises(ValueError, match=_exact("c must be one of 'a', 'b', got 'z'")):
        ck.choice("c", "z", ("a", "b"))
    with pytest.raises(ValueError, match=_exact("c must be one of 'a', 'b', got 1")):
        ck.choice("c", 1, ("a", "b"))
    assert ck._short("x" * 10) == repr("x" * 10)
    long = "y" * 100
    assert ck._short(long) == repr(long)[:77] + "..." and len(ck._short(long)) == 80
    assert ck._short("y" * 78) == repr("y" * 78)  # exactly 80 characters with the quotes: kept whole
    assert ck._short(np.zeros((2, 2))) == "array([[0., 0.], [0., 0.]])"  # one line


def test_array_accepts_and_converts():
    a = ck.array("v", [1, 2, 3], ndim=1)
    assert a.dtype == np.float64 and a.tolist() == [1.0, 2.0, 3.0]
    assert ck.array("v", [], ndim=1, empty=True).shape == (0,)
    assert ck.array("m", np.eye(2), ndim=2, square=True, shape=(2, None)).shape == (2, 2)
    assert ck.array("v", [0.0, 1.0], ndim=1, nonneg=True, low=0.0, high=1.0).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("value,kwargs,message", [
    ([[1.0]], {"ndim": 1}, "v must be a 1-D array, got shape (1, 1)"),
    ([1.0], {"ndim": 2}, "v must be a 2-D array, got shape (1,)"),
    (np.zeros((1, 1, 1)), {"ndim": 2}, "v must be a 2-D array, got shape (1, 1, 1)"),
    (np.zeros((1, 1)), {"ndim": 3}, "v must be a 3-D array, got shape (1, 1)"),
    ([], {"ndim": 1}, "v must be non-empty, got shape (0,)"),
    (np.zeros((2, 3)), {"ndim": 2, "square": True}, "v must be a square matrix, got shape (2, 3)"),
    (np.zeros((2, 3)), {"ndim": 2, "shape": (None, 2)}, "v must have shape (any, 2), got (2, 3)"),
    (np.zeros((2, 3)), {"ndim": 2, "shape": (3, None)}, "v must have shape (3, any), got (2, 3)"),
    ([1.0, np.nan], {"ndim": 1}, "v must be finite, got a non-finite entry"),
    ([1.0, np.inf], {"ndim": 1}, "v must be finite, got a non-finite entry"),
])
def test_array_messages(value, kwargs, message):
    with pytest.raises(ValueError, match=_exact(message)):
        ck.array("v", value, **kwargs)


@pytest.mark.parametrize("value,kwargs,prefix,number", [
    ([1.0, -2.0], {"nonneg": True}, "v must be >= 0, got a minimum of ", -2.0),
    ([1.0, 0.0], {"positive": True}, "v must be > 0, got a minimum of ", 0.0),
    ([1.0, 0.5], {"low": 0.75}, "v must be >= 0.75, got a minimum of ", 0.5),
    ([1.0, 2.5], {"high": 2.0}, "v must be <= 2.0, got a maximum of ", 2.5),
])
def test_array_bound_messages(value, kwargs, prefix, number):
    with pytest.raises(ValueError, match=_num(prefix, number)):
        ck.array("v", value, ndim=1, **kwargs)


@pytest.mark.parametrize("value,shown", [(None, "None"), ("ab", "'ab'"), ({1: 2}, "{1: 2}"), ({1}, "{1}"),
                                         (b"ab", "b'ab'"), (["a"], "['a']")])
def test_array_refuses_non_numbers_by_type(value, shown):
    with pytest.raises(TypeError, match=_exact(f"v must be a 1-D array of finite numbers, got {shown}")):
        ck.array("v", value, ndim=1)


def test_memory_guard():
    limit = ck.physical_memory()
    assert limit > 2**20
    ck.memory("n", limit, 5)  # exactly the machine's memory is allowed
    with pytest.raises(ValueError, match="^" + re.escape("n too large: 5 needs about ")):
        ck.memory("n", limit + 1, 5)
    gib = limit / 2**30
    with pytest.raises(ValueError, match=_exact(
            f"n, m too large: (1, 2) needs about {2 * gib:.3g} GiB of arrays, more than the {gib:.3g} GiB of "
            "memory of this machine")):
        ck.memory("n, m", 2 * limit, (1, 2))


def test_short_keeps_exactly_80_characters_and_cuts_81():
    assert ck._short("y" * 79) == repr("y" * 79)[:77] + "..."  # 81 characters with the quotes: cut to 80
    assert len(ck._short("y" * 79)) == 80


def test_positive_accepts_numbers_below_one():
    # positive means > 0, not >= 1: the smallest subnormal and a fraction pass unchanged
    tiny = np.nextafter(0.0, 1.0)
    assert ck.array("v", [tiny, 0.5, 1.0], ndim=1, positive=True).tolist() == [tiny, 0.5, 1.0]


def test_physical_memory_is_the_kernels_total_ram():
    # an independent reading: the Linux sysinfo(2) call, from which the C library derives the sysconf
    # page count (totalram x mem_unit bytes, in whole pages of mmap.PAGESIZE)
    import ctypes
    import mmap

    class Sysinfo(ctypes.Structure):
        _fields_ = [("uptime", ctypes.c_long), ("loads", ctypes.c_ulong * 3), ("totalram", ctypes.c_ulong),
                    ("freeram", ctypes.c_ulong), ("sharedram", ctypes.c_ulong), ("bufferram", ctypes.c_ulong),
                    ("totalswap", ctypes.c_ulong), ("freeswap", ctypes.c_ulong), ("procs", ctypes.c_ushort),
                    ("pad", ctypes.c_ushort), ("totalhigh", ctypes.c_ulong), ("freehigh", ctypes.c_ulong),
                    ("mem_unit", ctypes.c_uint), ("_f", ctypes.c_char * 64)]

    info = Sysinfo()
    assert ctypes.CDLL(None, use_errno=True).sysinfo(ctypes.byref(info)) == 0
    total = info.totalram * info.mem_unit
    assert ck.physical_memory() == total // mmap.PAGESIZE * mmap.PAGESIZE


def test_physical_memory_falls_back_to_one_tebibyte(monkeypatch):
    import os

    def no_sysconf(name):
        raise ValueError(f"unrecognized configuration name {name!r}")

    monkeypatch.setattr(os, "sysconf", no_sysconf)
    assert ck.physical_memory() == 1 << 40  # the documented fallback, "1 TiB where it cannot be read"
