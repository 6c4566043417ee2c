"""``python -m benchmarks``: every expected row with a finite positive ratio, thread-count
invariance of the kernel's numbers, one-line usage errors.  No time or ratio threshold is
asserted: timings depend on the machine, only their structure is checked here."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import benchmarks
from benchmarks import __main__ as bench_main

REPO = Path(__file__).resolve().parents[1]
EXPECTED_IDS = {
    "self_distillation/numba-vs-numpy",
    "self_distillation/threads-1-vs-2",
    "self_distillation/cold-vs-warm-cache",
    "self_distillation/kernel-vs-draws",
    "random_features/solver-vs-nested-bisection",
    "random_features/numba-vs-numpy",
    "random_features/threads-1-vs-2",
    "random_features/cold-vs-warm-cache",
    "random_features/kernel-vs-draws",
    "profile/verify-cold-vs-warm",
    "profile/slowest-claims",
    "profile/time-per-paper",
    "profile/figures-first-vs-second",
}


def _env(**extra) -> dict:
    env = dict(os.environ, THEORYCHECK_CACHE="off")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)], cwd=REPO,
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_quick_run_writes_every_row_with_a_finite_positive_ratio(quick_run):
    out, proc = quick_run
    data = json.loads((out / "benchmarks.json").read_text())
    assert data["quick"] is True
    assert data["columns"] == list(benchmarks.COLUMNS)
    for key in ("processor", "cpu_count", "python", "numpy", "numba", "date"):
        assert data["machine"][key], key
    rows = {r["id"]: r for r in data["rows"]}
    assert EXPECTED_IDS <= set(rows)
    for r in data["rows"]:
        for c in benchmarks.COLUMNS:
            assert c in r, (r["id"], c)
        assert isinstance(r["ratio"], float) and math.isfinite(r["ratio"]) and r["ratio"] > 0, r
        assert r["baseline_s"] > 0 and r["candidate_s"] > 0, r
        assert r["ratio"] == pytest.approx(r["baseline_s"] / r["candidate_s"], rel=1e-12), r


def test_kernel_numbers_do_not_depend_on_thread_count(quick_run):
    out, _ = quick_run
    row = {r["id"]: r for r in json.loads((out / "benchmarks.json").read_text())["rows"]}[
        "self_distillation/threads-1-vs-2"]
    assert row["identical"] is True
    assert row["sha256_1"] == row["sha256_2"]
    assert row["threads"] == [1, 2]
    # the in-process run (default thread count) gives the same numbers too
    assert row["sha256_1"] == {r["id"]: r for r in json.loads((out / "benchmarks.json").read_text())["rows"]}[
        "self_distillation/numba-vs-numpy"]["risks_sha256"]


def test_markdown_names_the_machine_and_has_every_row(quick_run):
    out, proc = quick_run
    md = (out / "benchmarks.md").read_text()
    assert "Machine:" in md and "numba" in md and "numpy" in md
    header = "| " + " | ".join(benchmarks.COLUMNS) + " |"
    assert header in md
    table_rows = [line for line in md.splitlines() if line.startswith("| ") and line != header]
    assert len(table_rows) == len(json.loads((out / "benchmarks.json").read_text())["rows"])
    assert not list(out.glob("*.tmp"))
    # the same table is printed
    for c in benchmarks.COLUMNS:
        assert c in proc.stdout


def test_benchmark_modules_are_discovered():
    names = [m.__name__ for m in benchmarks.discover()]
    assert "benchmarks.self_distillation" in names
    assert not any(n.rsplit(".", 1)[-1].startswith("_") for n in names)


@pytest.mark.parametrize("argv", [["--bogus"], ["--out"], ["extra"], ["--quick=yes"]])
def test_bad_arguments_give_one_line_and_exit_2(argv, capsys):
    code = bench_main.main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("benchmarks: error: ") and len(lines[0]) > len("benchmarks: error: ")


def test_unwritable_out_folder_is_a_usage_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = bench_main.main(["--quick", "--out", str(blocker / "sub")])
    _, err = capsys.readouterr()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("benchmarks: error: --out: ")


def test_bad_arguments_from_the_command_line_exit_2():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--nope"], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("benchmarks: error: ") and len(proc.stderr.splitlines()) == 1


def test_random_feature_rows_are_bit_identical_across_threads_and_profile_names_claims(quick_run):
    out, _ = quick_run
    rows = {r["id"]: r for r in json.loads((out / "benchmarks.json").read_text())["rows"]}
    assert rows["random_features/threads-1-vs-2"]["identical"] is True
    assert "simon2024/kernel-limit" in rows["profile/slowest-claims"]["note"]
    assert set(rows["profile/time-per-paper"]["papers"]) == {"simon2024", "mobahi2020"}
