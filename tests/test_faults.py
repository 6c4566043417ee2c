"""Faults: a signal in the middle of a run, concurrent runs sharing a cache, truncated cache files.

The faults are real: the command runs as a subprocess (``python -m paper_checks``) with its own
cache folder, and gets a real SIGINT (sent to its process group, as Ctrl-C does) or SIGTERM (sent to
the process alone, as ``kill`` does).  To land the signal while a file is half written, the tests set
``THEORYCHECK_TEST_PAUSE_BEFORE_RENAME`` (see :mod:`simulations.cache`): the run writes the temporary
file of the matching target, says so on stderr, and waits; the test signals it then.  No timing is
assumed: every wait polls for an event (a line on stderr, the process's exit) under a generous bound.

After the signal: the process exits with 130 (SIGINT) or 143 (SIGTERM) and one line on stderr, no
traceback; no temporary file is left in the cache, output or report folders; every cache entry
present loads and passes its SHA-256 check; the target file is absent (or, where it existed, intact);
no worker process outlives the run; and a rerun on the same cache gives the same numbers as a run
on a fresh cache.
"""

from __future__ import annotations

import dataclasses
import io
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest

from paper_checks import cli, sweep
from simulations import cache
from simulations.self_distillation import distillation_risk

#: two quick claims; the first runs one cached simulation (shared with FIGURE), the second another
CLAIMS = ["mobahi2020/few-rounds-help-then-hurt", "borup2021/optimal-alpha-in-expectation"]
CAL_CLAIM = "mobahi2020/few-rounds-help-then-hurt"
CAL_SEEDS = 3
FIGURE = "mobahi2020_risk_over_rounds"
FIGURES = [FIGURE, "mobahi2020_constraint_rounds"]

#: bound on a cold start of the command on a loaded machine (polls end as soon as the event happens)
START_S = 300.0
#: after the signal: the workers' grace period plus the interpreter's shutdown, with room for a loaded machine
PROMPT_S = 2 * sweep.STOP_GRACE_S + 10.0
EXIT = {signal.SIGINT: (130, "theorycheck: interrupted"), signal.SIGTERM: (143, "theorycheck: terminated")}
PROGRESS = re.compile(r"^\[\d+/\d+\] \S.* \d+\.\ds$")  # "[3/40] <item> <status> 0.7s"
SIDECAR = re.compile(r"^[0-9a-f]{32}\.json$")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC


# --------------------------------------------------------------------------- helpers

class Run:
    """The command as a subprocess in its own session (so a Ctrl-C-like SIGINT reaches only its group)."""

    def __init__(self, args, cache_dir: Path, cwd: Path, pause: str | None = None):
        # PYTHONFAULTHANDLER: a crash (a native fault while the signal lands) shows its Python stack in the
        # failure message; it prints nothing otherwise
        env = dict(os.environ, THEORYCHECK_CACHE=str(cache_dir), PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
        env.pop("THEORYCHECK_DEBUG", None)
        env.pop(cache.PAUSE_ENV, None)
        if pause is not None:
            env[cache.PAUSE_ENV] = pause
        self.args = list(args)
        self.proc = subprocess.Popen([sys.executable, "-m", "paper_checks", *self.args], env=env, cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self.lines_before_signal = 0
        self._news = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(s, buf), daemon=True)
                         for s, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._readers:
            t.start()

    def _read(self, stream, buf):
        for line in stream:
            with self._news:
                buf.append(line.rstrip("\n"))
                self._news.notify_all()
        with self._news:
            self._news.notify_all()

    @property
    def stderr(self) -> str:
        return "\n".join(self.err)

    def wait_for_stderr(self, pattern: str, timeout: float = START_S) -> str:
        """The first stderr line containing ``pattern``; fails if the process ends or the time runs out first."""
        deadline = time.monotonic() + timeout
        with self._news:
            while True:
                hit = next((line for line in self.err if pattern in line), None)
                if hit is not None:
                    return hit
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._readers):
                    pytest.fail(f"{self.args} ended (rc {self.proc.returncode}) before printing {pattern!r}:\n"
                                f"{self.stderr}")
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"{self.args} printed no {pattern!r} within {timeout:.0f} s:\n{self.stderr}")
                self._news.wait(min(left, 1.0))

    def send(self, sig, group: bool | None = None) -> None:
        """SIGINT to the process group as Ctrl-C does, another signal to the main process as ``kill PID``
        does; ``group`` overrides (``kill -TERM -PGID``, as a service manager stops a whole group)."""
        with self._news:
            self.lines_before_signal = len(self.err)
        if group is None:
            group = sig == signal.SIGINT
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.args} still running {timeout:.0f} s after the signal:\n{self.stderr}")
        for t in self._readers:
            t.join(timeout)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def runs():
    """Started subprocesses; any still alive when the test ends (a failed test) is killed with its group."""
    started: list[Run] = []
    yield started
    for r in started:
        r.kill()


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def paused_pid(line: str) -> int:
    """The process that printed the pause line of :func:`simulations.cache.atomic_write`."""
    return int(re.search(r"\(process (\d+)\)$", line).group(1))


def assert_clean_exit(run: Run, sig, children=()) -> None:
    """Exit code and one-line message of the signal, no traceback, and no process left behind."""
    rc = run.wait(PROMPT_S)
    code, message = EXIT[sig]
    err = run.stderr
    assert rc == code, f"exit {rc}, expected {code}:\n{err}"
    # after the signal, besides progress ("[3/40] name ok 0.7s"): the message, nothing else
    said = [line for line in run.err[run.lines_before_signal:] if not PROGRESS.match(line)]
    assert said == [message] and "Traceback" not in err, err
    gone, alive = psutil.wait_procs(list(children), timeout=PROMPT_S)
    assert not alive, f"worker processes outlived the run: {alive}"


def assert_no_temporary_files(*folders: Path) -> None:
    """No temporary file (``*.tmp``, or any hidden file but the cache's ``.lock``) anywhere in the folders."""
    left = [p for folder in folders if folder.exists() for p in folder.rglob("*")
            if p.is_file() and (p.name.endswith(".tmp") or (p.name.startswith(".") and p.name != ".lock"))]
    assert not left, f"temporary files left behind: {left}"


def assert_cache_entries_valid(folder: Path, monkeypatch) -> set[str]:
    """Every entry with a sidecar loads and passes its hash check; returns the entry keys."""
    keys = set()
    if not folder.exists():
        return keys
    monkeypatch.setenv("THEORYCHECK_CACHE", str(folder))
    for side in folder.iterdir():
        if SIDECAR.match(side.name):
            assert cache.load(folder, side.stem) is not None, f"corrupted cache entry {side.name}"
            keys.add(side.stem)
        elif side.name.startswith("files-") and side.suffix == ".json":
            key = side.stem[len("files-"):]
            assert cache.get_files(key) is not None, f"corrupted figure memo {side.name}"
            keys.add(side.name)
    return keys


def assert_complete_png(path: Path) -> None:
    blob = path.read_bytes()
    assert blob.startswith(PNG_SIGNATURE) and blob.endswith(PNG_END), f"{path} is not a whole PNG"
    import matplotlib.image

    assert matplotlib.image.imread(io.BytesIO(blob)).ndim == 3


def _numbers(report_text: str):
    """A JSON report without what changes from run to run (date, runtimes)."""
    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in ("date", "runtime_s")}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return strip(json.loads(report_text))


def in_process(monkeypatch, cache_dir: Path, argv) -> None:
    monkeypatch.setenv("THEORYCHECK_CACHE", str(cache_dir))
    monkeypatch.delenv(cache.PAUSE_ENV, raising=False)
    assert cli.main(list(argv)) == 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Results of runs on a fresh cache, in this process: verify (seeds 0 and 1), the figure, calibrate."""
    root = tmp_path_factory.mktemp("reference")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for seed in (0, 1):
            in_process(mp, root / f"cache-verify-{seed}",
                       ["verify", *CLAIMS, "--seed", str(seed), "--report", str(root / f"verify-{seed}.json")])
            out[f"verify-{seed}"] = _numbers((root / f"verify-{seed}.json").read_text())
            out[f"keys-{seed}"] = {p.stem for p in (root / f"cache-verify-{seed}").iterdir() if SIDECAR.match(p.name)}
        in_process(mp, root / "cache-figure", ["figures", *FIGURES, "--out", str(root / "fig")])
        for name in FIGURES:
            out[name] = (root / "fig" / f"{name}.png").read_bytes()
        out["png"] = out[FIGURE]
        in_process(mp, root / "cache-calibrate", ["calibrate", CAL_CLAIM, "--seeds", str(CAL_SEEDS),
                                                  "--report", str(root / "cal.json")])
        out["calibrate"] = _numbers((root / "cal.json").read_text())
    return out


# --------------------------------------------------------------------------- signals in the middle of a run

@pytest.mark.parametrize("sig, target", [
    (signal.SIGINT, "*.npz"),  # the arrays half written, no sidecar yet
    (signal.SIGTERM, "[0-9a-f]" * 32 + ".json"),  # the arrays in place, the sidecar half written
], ids=["SIGINT-npz", "SIGTERM-sidecar"])
def test_signal_while_a_cache_entry_is_written(sig, target, tmp_path, runs, reference, monkeypatch):
    store = tmp_path / "cache"
    runs.append(run := Run(["verify", *CLAIMS, "--report", str(tmp_path / "r.json")], store, tmp_path, pause=target))
    run.wait_for_stderr("paused before renaming")
    assert list(store.glob(".*.tmp")), "the signal must land while a temporary file exists"
    run.send(sig)
    assert_clean_exit(run, sig)
    assert_no_temporary_files(store, tmp_path)
    assert_cache_entries_valid(store, monkeypatch)
    assert not (tmp_path / "r.json").exists()
    # the rerun on the interrupted cache: the same numbers as a fresh cache, and a whole valid cache
    in_process(monkeypatch, store, ["verify", *CLAIMS, "--report", str(tmp_path / "rerun.json")])
    assert _numbers((tmp_path / "rerun.json").read_text()) == reference["verify-0"]
    assert assert_cache_entries_valid(store, monkeypatch) == reference["keys-0"]


@pytest.mark.parametrize("sig, target", [
    (signal.SIGTERM, "*.png"),  # the figure half written into the output folder
    (signal.SIGINT, "files-*.json"),  # the figure written and memoized, the memo's sidecar half written
], ids=["SIGTERM-png", "SIGINT-memo"])
def test_signal_while_a_figure_is_written(sig, target, tmp_path, runs, reference, monkeypatch):
    store, out = tmp_path / "cache", tmp_path / "out"
    runs.append(run := Run(["figures", FIGURE, "--out", str(out)], store, tmp_path, pause=target))
    run.wait_for_stderr("paused before renaming")
    run.send(sig)
    assert_clean_exit(run, sig)
    assert_no_temporary_files(store, out)
    assert not list(store.glob("files-*.json")), "a memo whose sidecar was never written is no entry"
    assert_cache_entries_valid(store, monkeypatch)
    png = out / f"{FIGURE}.png"
    if target == "*.png":
        assert not png.exists()
    else:  # drawn before the memo was written: whole
        assert_complete_png(png)
    in_process(monkeypatch, store, ["figures", FIGURE, "--out", str(tmp_path / "again")])
    assert (tmp_path / "again" / f"{FIGURE}.png").read_bytes() == reference["png"]
    assert len(assert_cache_entries_valid(store, monkeypatch)) == 2  # the simulation and the figure memo


@pytest.mark.parametrize("command, report, sig", [
    ("verify", "r.json", signal.SIGINT),
    ("calibrate", "r.md", signal.SIGTERM),
])
def test_signal_while_the_report_is_written_keeps_the_old_report(command, report, sig, tmp_path, runs, reference,
                                                                 monkeypatch):
    store, path = tmp_path / "cache", tmp_path / "reports" / report
    path.parent.mkdir()
    path.write_text("the previous report\n")
    args = ([command, *CLAIMS] if command == "verify" else [command, CAL_CLAIM, "--seeds", str(CAL_SEEDS)])
    runs.append(run := Run([*args, "--report", str(path)], store, tmp_path, pause=report))
    run.wait_for_stderr("paused before renaming")
    run.send(sig)
    assert_clean_exit(run, sig)
    assert path.read_text() == "the previous report\n"
    assert_no_temporary_files(store, path.parent)
    assert_cache_entries_valid(store, monkeypatch)
    rerun = tmp_path / "rerun.json"
    in_process(monkeypatch, store, [*args, "--report", str(rerun)])
    assert _numbers(rerun.read_text()) == reference["verify-0" if command == "verify" else "calibrate"]


@pytest.mark.parametrize("sig, group", [(signal.SIGTERM, False), (signal.SIGINT, True), (signal.SIGTERM, True)],
                         ids=["SIGTERM", "SIGINT-group", "SIGTERM-group"])
def test_signal_stops_sweep_workers_mid_write(sig, group, tmp_path, runs, reference, monkeypatch):
    """Two figures on two worker processes; the parent (or its whole group) is signalled while a worker
    writes a cache entry."""
    store, out = tmp_path / "cache", tmp_path / "out"
    runs.append(run := Run(["figures", *FIGURES, "--workers", "2", "--out", str(out)], store, tmp_path,
                           pause="*.npz"))
    line = run.wait_for_stderr("paused before renaming")
    workers = _descendants(run.proc.pid)
    assert paused_pid(line) in {w.pid for w in workers}, "a sweep worker is writing when the signal comes"
    run.send(sig, group)
    assert_clean_exit(run, sig, children=workers)
    assert_no_temporary_files(store, out)
    assert_cache_entries_valid(store, monkeypatch)
    for png in out.glob("*.png"):  # a figure whose worker was not stopped may have been finished: whole
        assert_complete_png(png)
    in_process(monkeypatch, store, ["figures", *FIGURES, "--out", str(tmp_path / "again")])
    for name in FIGURES:
        assert (tmp_path / "again" / f"{name}.png").read_bytes() == reference[name]


def test_a_killed_sweep_worker_ends_the_run_with_one_line(tmp_path, runs, reference, monkeypatch):
    """SIGKILL (no cleanup possible) to a worker in the middle of writing a cache entry: the run stops the
    other workers and ends with one line and exit 1; its half-written temporary file is never read."""
    store, out = tmp_path / "cache", tmp_path / "out"
    runs.append(run := Run(["figures", *FIGURES, "--workers", "2", "--out", str(out)], store, tmp_path,
                           pause="*.npz"))
    line = run.wait_for_stderr("paused before renaming")
    workers = _descendants(run.proc.pid)
    killed = paused_pid(line)
    assert killed in {w.pid for w in workers}
    run.lines_before_signal = len(run.err)
    os.kill(killed, signal.SIGKILL)
    rc = run.wait(PROMPT_S)
    said = [x for x in run.err[run.lines_before_signal:] if not PROGRESS.match(x)]
    assert rc == 1 and len(said) == 1 and said[0].startswith("theorycheck: error: a worker process died"), run.stderr
    gone, alive = psutil.wait_procs(workers, timeout=PROMPT_S)
    assert not alive, f"worker processes outlived the run: {alive}"
    # the killed worker's temporary file (nothing else) is left: hidden, never read, removed by `cache clear`
    orphan = Path(line.split()[3])
    assert [p for p in store.iterdir() if p.name.endswith(".tmp")] == [orphan]
    assert_cache_entries_valid(store, monkeypatch)
    in_process(monkeypatch, store, ["figures", *FIGURES, "--out", str(tmp_path / "again")])
    for name in FIGURES:
        assert (tmp_path / "again" / f"{name}.png").read_bytes() == reference[name]
    in_process(monkeypatch, store, ["cache", "clear"])
    assert_no_temporary_files(store)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_wherever_it_lands_in_a_long_run(sig, tmp_path, runs, reference, monkeypatch):
    """No test hook: a long calibration is signalled once its first seed is done (progress on stderr),
    so the signal lands wherever the run happens to be (a kernel, a check, a cache write)."""
    store, report = tmp_path / "cache", tmp_path / "r.json"
    runs.append(run := Run(["calibrate", CAL_CLAIM, "--seeds", "1000", "--report", str(report)], store, tmp_path))
    run.wait_for_stderr("[1/1000] ")
    run.send(sig)
    assert_clean_exit(run, sig)
    assert_no_temporary_files(store, tmp_path)
    assert assert_cache_entries_valid(store, monkeypatch), "the first seed's entry is kept"
    assert not report.exists()
    in_process(monkeypatch, store, ["calibrate", CAL_CLAIM, "--seeds", str(CAL_SEEDS), "--report",
                                    str(tmp_path / "rerun.json")])
    assert _numbers((tmp_path / "rerun.json").read_text()) == reference["calibrate"]


def test_sigterm_stops_a_figures_forked_workers_mid_write(tmp_path, runs, monkeypatch):
    """A figure that maps its simulations over forked processes (figures._common.parallel_map): SIGTERM to
    the parent while a forked worker writes a cache entry stops every worker and leaves no temporary file."""
    store, out = tmp_path / "cache", tmp_path / "out"
    runs.append(run := Run(["figures", "dang2023_imbalanced_geometry", "--out", str(out)], store, tmp_path,
                           pause="*.npz"))
    line = run.wait_for_stderr("paused before renaming")
    workers = _descendants(run.proc.pid)
    assert paused_pid(line) in {w.pid for w in workers}, "a forked worker is writing when the signal comes"
    run.send(signal.SIGTERM)
    assert_clean_exit(run, signal.SIGTERM, children=workers)
    assert_no_temporary_files(store, out)
    assert_cache_entries_valid(store, monkeypatch)
    assert not list(out.glob("*.png"))


# --------------------------------------------------------------------------- concurrent runs sharing a cache

def test_concurrent_runs_share_one_cache(tmp_path, runs, reference, monkeypatch):
    """Two runs computing the same simulations at the same time, and a third with another seed."""
    store = tmp_path / "cache"
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        runs.append(Run(["verify", *CLAIMS, "--seed", str(seed), "--report", str(tmp_path / f"{name}.json")],
                        store, tmp_path))
    for run in runs:
        rc = run.wait(START_S)
        assert rc == 0 and "Traceback" not in run.stderr, run.stderr
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        assert _numbers((tmp_path / f"{name}.json").read_text()) == reference[f"verify-{seed}"]
    assert_no_temporary_files(store, tmp_path)
    assert assert_cache_entries_valid(store, monkeypatch) == reference["keys-0"] | reference["keys-1"]


@dataclass(frozen=True)
class Tagged:
    """A result whose parts must agree: ``values == tag + arange`` and ``n == values.size``."""

    values: np.ndarray
    tag: int
    n: int


STRESS_SIZE = 50_000  # 400 kB of arrays: writes take long enough to overlap
STRESS_WRITES = 30


def _tagged(tag: int) -> Tagged:
    return Tagged(values=tag + np.arange(STRESS_SIZE, dtype=float), tag=tag, n=STRESS_SIZE)


def _writer(folder: str, writer: int) -> None:
    for i in range(STRESS_WRITES):
        cache.store(Path(folder), "one-key", _tagged(1000 * writer + i), {"writer": writer}, "stress", "v")


def _reader(folder: str, stop, results) -> None:
    seen = {"whole": 0, "none": 0, "bad": []}
    while True:
        done = stop.is_set()  # read once more after the writers finished
        r = cache.load(Path(folder), "one-key")
        if r is None:
            seen["none"] += 1
        elif (isinstance(r, Tagged) and r.n == STRESS_SIZE and r.values.shape == (STRESS_SIZE,)
              and np.array_equal(r.values, _tagged(r.tag).values)):
            seen["whole"] += 1
        else:
            seen["bad"].append(repr(r)[:200])
        if done:
            break
    results.put(seen)


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_racing_writers_and_readers_of_one_key(kind, tmp_path):
    """Four writers store different results under one key while two readers load it in a loop:
    a reader sees nothing or a whole, self-consistent result, never a mix; the last entry is whole."""
    if kind == "threads":
        import queue

        results, stop = queue.Queue(), threading.Event()
        make = threading.Thread
    else:
        ctx = multiprocessing.get_context("fork")
        results, stop = ctx.Queue(), ctx.Event()
        make = ctx.Process
    writers = [make(target=_writer, args=(str(tmp_path), w)) for w in range(4)]
    readers = [make(target=_reader, args=(str(tmp_path), stop, results)) for _ in range(2)]
    for p in readers + writers:
        p.start()
    for p in writers:
        p.join(START_S)
    stop.set()
    seen = [results.get(timeout=START_S) for _ in readers]
    for p in readers:
        p.join(START_S)
    if kind == "processes":
        assert all(p.exitcode == 0 for p in writers + readers)
    assert all(not s["bad"] for s in seen), seen
    assert sum(s["whole"] for s in seen) > 0
    final = cache.load(tmp_path, "one-key")
    assert final is not None and np.array_equal(final.values, _tagged(final.tag).values)
    assert final.tag % 1000 == STRESS_WRITES - 1  # some writer's last result
    assert_no_temporary_files(tmp_path)


#: how long the second writer is given to (wrongly) complete while the first is stopped before its sidecar;
#: with writers taking turns it waits however long this is, so a loaded machine cannot make the test fail
SECOND_WRITER_S = 2.0


def test_a_second_writer_cannot_pair_its_arrays_with_the_first_writers_sidecar(tmp_path, monkeypatch):
    """The first writer of a key is stopped between its arrays and its sidecar while a second writer stores
    another result: the second waits its turn, so the entry ends whole (the second's), never the first's
    sidecar over the second's arrays (a permanently unloadable entry)."""
    real_write = cache.atomic_write
    at_sidecar, go = threading.Event(), threading.Event()

    def write(path, data):
        if threading.current_thread().name == "first" and Path(path).suffix == ".json":
            at_sidecar.set()
            go.wait(START_S)
        real_write(path, data)

    monkeypatch.setattr(cache, "atomic_write", write)
    first = threading.Thread(target=cache.store, args=(tmp_path, "k", _tagged(1), {}, "f", "v"), name="first")
    second = threading.Thread(target=cache.store, args=(tmp_path, "k", _tagged(2), {}, "f", "v"), name="second")
    first.start()
    assert at_sidecar.wait(START_S)
    second.start()
    second.join(SECOND_WRITER_S)
    second_waited = second.is_alive()
    go.set()
    first.join(START_S)
    second.join(START_S)
    final = cache.load(tmp_path, "k")
    assert final is not None and final.tag == 2 and np.array_equal(final.values, _tagged(2).values)
    assert second_waited
    assert_no_temporary_files(tmp_path)


# --------------------------------------------------------------------------- truncated and corrupted cache files

SIM = dict(n=11, alphas=[0.0, 0.5], steps=3, ridge=0.2, gamma=80.0, noise=0.5, replicates=64, seed=3, design="grid")


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not (np.asarray(x).shape == np.asarray(y).shape and np.array_equal(x, y)):
                return False
        elif x != y:
            return False
    return True


def _cut(path: Path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


CORRUPTIONS = {
    "npz cut short": lambda npz, side, other: _cut(npz),
    "npz empty": lambda npz, side, other: npz.write_bytes(b""),
    "npz garbage of the same length": lambda npz, side, other: _garbage(npz),
    "npz of another entry": lambda npz, side, other: npz.write_bytes(other.read_bytes()),
    "npz missing": lambda npz, side, other: npz.unlink(),
    "sidecar cut short": lambda npz, side, other: _cut(side),
    "sidecar missing": lambda npz, side, other: side.unlink(),
}


def check_corrupted_entry_is_recomputed(folder: Path, corrupt) -> None:
    first = distillation_risk(**SIM)
    [side] = [p for p in folder.iterdir() if SIDECAR.match(p.name)]
    npz = side.with_suffix(".npz")
    good = {p: p.read_bytes() for p in (npz, side)}
    distillation_risk(**{**SIM, "seed": SIM["seed"] + 1})  # another entry in the folder
    [other] = [p for p in folder.glob("*.npz") if p != npz]
    corrupt(npz, side, other)
    assert cache.load(folder, side.stem) is None, "a damaged entry must not load"
    again = distillation_risk(**SIM)
    exact = distillation_risk.uncached(**SIM)
    assert _same(again, exact) and _same(first, exact)
    assert {p: p.read_bytes() for p in (npz, side)} == good, "the entry is rewritten whole"
    assert _same(cache.load(folder, side.stem), exact)
    assert_no_temporary_files(folder)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupted_cache_entry_is_detected_and_recomputed(name, tmp_path, monkeypatch):
    monkeypatch.setenv("THEORYCHECK_CACHE", str(tmp_path))
    check_corrupted_entry_is_recomputed(tmp_path, CORRUPTIONS[name])


def _trusting_load(folder, key):
    """:func:`simulations.cache.load` without the SHA-256 check."""
    import importlib

    try:
        meta = json.loads((folder / f"{key}.json").read_text())
        mod, qual = meta["type"].split(":")
        cls = getattr(importlib.import_module(mod), qual)
        with np.load(folder / f"{key}.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return cls(**arrays, **meta["scalars"])
    except Exception:
        return None


def test_the_corruption_check_fails_against_a_load_that_trusts_the_files(tmp_path, monkeypatch):
    """The check above can fail: a load that skips the hash check serves another entry's arrays."""
    monkeypatch.setenv("THEORYCHECK_CACHE", str(tmp_path))
    monkeypatch.setattr(cache, "load", _trusting_load)
    with pytest.raises(AssertionError, match="must not load"):
        check_corrupted_entry_is_recomputed(tmp_path, CORRUPTIONS["npz of another entry"])


def _figure_memo(folder: Path):
    [side] = folder.glob("files-*.json")
    return side, sorted(folder.glob("files-*.bin"))


MEMO_CORRUPTIONS = {
    "figure cut short": lambda side, bins: _cut(bins[0]),
    "figure missing": lambda side, bins: bins[0].unlink(),
    "memo sidecar cut short": lambda side, bins: _cut(side),
}


def check_corrupted_figure_memo_is_recomputed(tmp_path: Path, monkeypatch, corrupt, reference) -> None:
    store = tmp_path / "cache"
    in_process(monkeypatch, store, ["figures", FIGURE, "--out", str(tmp_path / "a")])
    side, bins = _figure_memo(store)
    good = {p: p.read_bytes() for p in (side, *bins)}
    corrupt(side, bins)
    in_process(monkeypatch, store, ["figures", FIGURE, "--out", str(tmp_path / "b")])
    assert (tmp_path / "b" / f"{FIGURE}.png").read_bytes() == reference["png"], "a damaged memo must not be copied"
    assert {p: p.read_bytes() for p in (side, *bins)} == good, "the memo is rewritten whole"
    assert_no_temporary_files(store, tmp_path / "b")


@pytest.mark.parametrize("name", sorted(MEMO_CORRUPTIONS))
def test_corrupted_figure_memo_is_detected_and_recomputed(name, tmp_path, monkeypatch, reference):
    check_corrupted_figure_memo_is_recomputed(tmp_path, monkeypatch, MEMO_CORRUPTIONS[name], reference)


def _trusting_get_files(key):
    """:func:`simulations.cache.get_files` without the SHA-256 check."""
    folder = cache.cache_dir()
    try:
        meta = json.loads((folder / f"files-{key}.json").read_text())
        return [(name, (folder / f"files-{key}-{i}.bin").read_bytes()) for i, name in enumerate(meta["names"])]
    except (OSError, ValueError, KeyError):
        return None


def test_the_memo_check_fails_against_a_get_files_that_trusts_the_files(tmp_path, monkeypatch, reference):
    monkeypatch.setattr(cache, "get_files", _trusting_get_files)
    with pytest.raises(AssertionError, match="must not be copied"):
        check_corrupted_figure_memo_is_recomputed(tmp_path, monkeypatch, MEMO_CORRUPTIONS["figure cut short"],
                                                  reference)
