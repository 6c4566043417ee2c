"""Test-wide settings: a private simulation cache per test session."""

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory):
    """Point the simulation cache at a fresh folder so tests neither read nor pollute a user's cache."""
    folder = tmp_path_factory.mktemp("theorycheck-cache")
    old = os.environ.get("THEORYCHECK_CACHE")
    os.environ["THEORYCHECK_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("THEORYCHECK_CACHE", None)
    else:
        os.environ["THEORYCHECK_CACHE"] = old


def _memoized_theory_functions():
    """Every lru_cache-memoized function of the theory modules (found, not listed, so a new memo is covered)."""
    import sys

    found = []
    for name, module in list(sys.modules.items()):
        if name.startswith("theory.") and module is not None:
            for value in vars(module).values():
                if callable(value) and hasattr(value, "cache_clear") and getattr(value, "__module__", "") == name:
                    found.append(value)
    return found


@pytest.fixture(autouse=True)
def _fresh_memos_under_mutmut():
    """mutmut forks each mutant's process from one that already ran the tests on the real code, so a memoized
    theory function (e.g. martingale_td's value function) would hand the mutant the real code's results and hide
    the mutation. Under mutmut (MUTANT_UNDER_TEST names a mutant) every memo starts empty in each test."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    if name and name not in ("stats", "fail"):
        for fn in _memoized_theory_functions():
            fn.cache_clear()
    yield
