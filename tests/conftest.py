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
