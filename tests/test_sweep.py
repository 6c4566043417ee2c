"""Sweeps: serial, 2 local workers and a 2-worker dask LocalCluster give identical results."""

import functools
import hashlib
import math

import numpy as np
import pytest

from paper_checks import cli, sweep
from simulations import random_features as rfs
from theory import random_features as rft

LAM, V = rft.power_law(1.5, 1.5, 60)


def _risk_digest(features):
    """A simulation at one grid point (module level: picklable); its per-draw risks' SHA-256."""
    res = rfs.rf_risk.uncached(LAM, V, 0.05, 16, features, np.array([0.0, 0.1]), 64, 7)
    return hashlib.sha256(np.ascontiguousarray(res.test).tobytes()).hexdigest()


ITEMS = [8, 16, 32, math.inf]


@pytest.fixture(scope="module")
def cluster():
    import distributed  # a declared dependency
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as lc:
        yield lc.scheduler_address


def test_serial_local_workers_and_cluster_agree_bit_for_bit(cluster):
    serial = sweep.run_map(_risk_digest, ITEMS)
    local = sweep.run_map(_risk_digest, ITEMS, workers=2)
    dask = sweep.run_map(_risk_digest, ITEMS, scheduler=cluster)
    assert serial == local == dask
    assert len(set(serial)) == len(ITEMS)  # the points really differ


def test_results_come_back_in_item_order_and_report_each_once():
    seen = []
    out = sweep.run_map(functools.partial(pow, 2), [5, 1, 3], workers=2, on_done=lambda i, r: seen.append((i, r)))
    assert out == [32, 2, 8]
    assert sorted(seen) == [(0, 32), (1, 2), (2, 8)]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_worker_counts(bad):
    with pytest.raises(ValueError, match="workers"):
        sweep.run_map(abs, [1], workers=bad)


@pytest.mark.parametrize("bad", ["", "localhost", "tcp://", 8786])
def test_bad_scheduler_addresses(bad):
    with pytest.raises(ValueError, match="scheduler"):
        sweep.check_scheduler(bad)


def _cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


EXPLORE = ["explore", "random_features", "features=16,inf", "ridge=opt,0.1", "modes=60", "n=16"]


def test_explore_table_is_identical_serial_local_and_cluster(capsys, monkeypatch, cluster):
    monkeypatch.setenv("THEORYCHECK_CACHE", "off")  # compute every point, in every mode
    c1, serial, _ = _cli(capsys, *EXPLORE)
    c2, local, err = _cli(capsys, *EXPLORE, "--workers", "2")
    c3, dask, _ = _cli(capsys, *EXPLORE, "--scheduler", cluster)
    assert c1 == c2 == c3 == 0
    assert serial == local == dask
    assert "[4/4]" in err  # progress on stderr


def test_verify_with_workers_matches_serial(capsys, tmp_path):
    ids = ["simon2024/kernel-limit", "simon2024/optimal-fitting-ratio-continuum", "mobahi2020/*"]
    c1, serial, _ = _cli(capsys, "verify", *ids, "--report", str(tmp_path / "a.json"))
    c2, local, _ = _cli(capsys, "verify", *ids, "--workers", "2", "--report", str(tmp_path / "b.json"))
    assert c1 == c2 == 0
    assert serial == local
    import json

    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    strip = lambda d: [{**c, "evidence": {k: v for k, v in c["evidence"].items() if k != "runtime_s"}}  # noqa: E731
                       for c in d["claims"]]
    assert strip(a) == strip(b)


def test_figures_with_workers_write_the_same_files(capsys, tmp_path):
    c1, out1, _ = _cli(capsys, "figures", "simon2024_fitting_ratio", "simon2024_optimal_ridge_phase",
                       "--out", str(tmp_path / "a"))
    c2, out2, _ = _cli(capsys, "figures", "simon2024_fitting_ratio", "simon2024_optimal_ridge_phase",
                       "--workers", "2", "--out", str(tmp_path / "b"))
    assert c1 == c2 == 0
    assert out1.replace(str(tmp_path / "a"), "") == out2.replace(str(tmp_path / "b"), "")
    assert sorted(p.name for p in (tmp_path / "b").glob("*.png")) == sorted(p.name for p in (tmp_path / "a").glob("*.png"))


@pytest.mark.parametrize("argv", [
    ["explore", "random_features", "--workers", "0"],
    ["explore", "random_features", "--workers", "two"],
    ["figures", "--workers", "-1"],
    ["verify", "--scheduler", "localhost"],
    ["explore", "random_features", "--scheduler", "tcp://"],
])
def test_bad_sweep_options_one_line(capsys, argv):
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and ("--workers" in err or "--scheduler" in err)


def test_unreachable_scheduler_is_a_one_line_error(capsys):
    code, _, err = _cli(capsys, "explore", "random_features", "modes=20", "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2 and err.count("\n") == 1 and "scheduler" in err
