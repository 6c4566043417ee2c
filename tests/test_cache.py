"""simulations.cache: keyed memo, atomic entries, corrupted entries recomputed, code changes invalidate."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

from simulations import cache


@dataclass(frozen=True)
class Out:
    estimate: np.ndarray
    n_samples: int
    params: dict


CALLS = []


@cache.cached
def simulate(x, seed, scale=1.0) -> Out:
    CALLS.append((x, seed, scale))
    return Out(np.arange(3.0) * x * scale + seed, 3, {"x": x})


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("THEORYCHECK_CACHE", str(tmp_path))
    CALLS.clear()
    return tmp_path


def test_hit_returns_equal_result_without_recomputing(folder):
    a = simulate(2.0, 1)
    b = simulate(2.0, seed=1, scale=1.0)  # same call once defaults are bound
    assert len(CALLS) == 1
    assert np.array_equal(a.estimate, b.estimate) and b.n_samples == 3 and b.params == {"x": 2.0}
    simulate(2.0, 2)
    assert len(CALLS) == 2
    assert len(list(folder.glob("*.json"))) == 2 and not list(folder.glob("*.tmp"))


def test_corrupted_or_truncated_entry_is_recomputed(folder):
    simulate(3.0, 0)
    npz = next(folder.glob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:20])
    r = simulate(3.0, 0)
    assert len(CALLS) == 2 and np.array_equal(r.estimate, np.arange(3.0) * 3.0)
    meta = next(folder.glob("*.json"))
    meta.write_text("{not json")
    simulate(3.0, 0)
    assert len(CALLS) == 3
    # entry rewritten and valid again
    assert json.loads(meta.read_text())["function"].endswith("simulate")


def test_code_version_is_part_of_the_key(folder, monkeypatch):
    simulate(1.0, 0)
    monkeypatch.setitem(cache._SOURCE_HASHES, __name__, "another-version")
    simulate(1.0, 0)
    assert len(CALLS) == 2


def test_cache_off_and_info_clear(folder, monkeypatch):
    simulate(1.0, 0)
    info = cache.info()
    assert info["entries"] == 1 and info["bytes"] > 0
    assert cache.clear() == 1 and cache.info()["entries"] == 0
    monkeypatch.setenv("THEORYCHECK_CACHE", "off")
    simulate(1.0, 0)
    simulate(1.0, 0)
    assert len(CALLS) == 3


def test_unwritable_cache_does_not_stop_the_computation(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("THEORYCHECK_CACHE", str(blocker / "sub"))
    CALLS.clear()
    assert simulate(1.0, 0).n_samples == 3


def test_file_memo_round_trip_and_corruption(tmp_path, monkeypatch):
    from simulations import cache

    monkeypatch.setenv("THEORYCHECK_CACHE", str(tmp_path))
    assert cache.get_files("k") is None
    cache.put_files("k", [("a.png", b"\x89PNG one"), ("b.png", b"two")])
    assert cache.get_files("k") == [("a.png", b"\x89PNG one"), ("b.png", b"two")]
    (tmp_path / "files-k-1.bin").write_bytes(b"tampered")  # a corrupt entry is never trusted
    assert cache.get_files("k") is None
    (tmp_path / "files-k.json").write_text("{not json")
    assert cache.get_files("k") is None
    assert cache.clear(tmp_path) >= 1 and not list(tmp_path.glob("files-*"))
    monkeypatch.setenv("THEORYCHECK_CACHE", "off")
    cache.put_files("k", [("a.png", b"x")])
    assert cache.get_files("k") is None


def test_tree_version_tracks_the_code():
    from simulations import cache

    a = cache.tree_version("theory", "simulations")
    assert a == cache.tree_version("theory", "simulations")
    assert a != cache.tree_version("theory")


def test_second_figures_run_is_served_from_the_memo(tmp_path, monkeypatch, capsys):
    from paper_checks import cli

    monkeypatch.setenv("THEORYCHECK_CACHE", str(tmp_path / "cache"))
    assert cli.main(["figures", "simon2024_optimal_ridge_phase", "--out", str(tmp_path / "a")]) == 0
    assert cli.main(["figures", "simon2024_optimal_ridge_phase", "--out", str(tmp_path / "b")]) == 0
    a, b = (tmp_path / d / "simon2024_optimal_ridge_phase.png" for d in "ab")
    assert a.read_bytes() == b.read_bytes()
    # a corrupted memo entry is recomputed, not copied
    for blob in (tmp_path / "cache").glob("files-*.bin"):
        blob.write_bytes(b"garbage")
    assert cli.main(["figures", "simon2024_optimal_ridge_phase", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "simon2024_optimal_ridge_phase.png").read_bytes() == a.read_bytes()
    capsys.readouterr()
