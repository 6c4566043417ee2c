"""The command line: ``theorycheck list | verify | figures | explore | cache``.

Every bad argument gives one line on stderr, ``theorycheck: error: <what is
wrong and what is allowed>``, and exit status 2, never a traceback.  Tables go
to stdout; progress and timings go to stderr, so stdout is a deterministic
function of the arguments (and the seed).

Exit status: 0 success (``verify``: every claim passed), 1 a claim did not pass
or a check or figure crashed, 2 a usage error, 130 interrupted (Ctrl-C), 143
terminated (SIGTERM, handled like Ctrl-C: no half-written file is left).  Set
``THEORYCHECK_DEBUG=1`` to see the traceback of a crashing check or figure.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import datetime as _dt
import fnmatch
import importlib
import inspect
import itertools
import json
import math
import numbers
import os
import pkgutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .sweep import WorkerLost

PROG = "theorycheck"
MAX_SEED = 2**63 - 1
DEFAULT_SEED = 0
DEFAULT_RATE = 1e-4  # == stats.DEFAULT_FALSE_ALARM_RATE; kept here so ``--help`` needs no heavy import
REPORT_FORMATS = (".md", ".json")
#: caps on sizes given on the command line: a value above one is refused with a usage error
#: before anything runs (explore sizes above them need more memory or time than a sweep point should)
MAX_WORKERS = 1024            # --workers
MAX_SEEDS = 1_000_000         # calibrate --seeds
EXPLORE_MAX_POINTS = 10_000   # explore: training points (n) and each class size
EXPLORE_MAX_CLASSES = 1_000   # explore neural_collapse: the number of classes
EXPLORE_MAX_STEP = 10_000     # explore self_distillation: distillation steps
EXPLORE_MAX_DEPTH = 100       # explore neural_collapse: depth
EXPLORE_MAX_WIDTH = 10_000    # explore neural_collapse: width
EXPLORE_MAX_STEPS = 100_000   # explore martingale_td: time steps
EXPLORE_MAX_FEATURES = 1_000_000  # explore random_features: features (or inf)
EXPLORE_MAX_MODES = 1_000_000     # explore random_features: modes
VERDICTS = ("pass", "fail", "no power", "error")


class UsageError(Exception):
    """A bad argument found after parsing; reported as one line, exit 2."""


def _one_line(msg) -> str:
    return " ".join(str(msg).split())


def _usage_exit(msg) -> int:
    print(f"{PROG}: error: {_one_line(msg)}", file=sys.stderr)
    return 2


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"{PROG}: error: {_one_line(message)}\n")


# --------------------------------------------------------------------------- argument types

def _seed(text: str) -> int:
    try:
        value = int(text.strip(), 10)
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(f"seed must be an integer in [0, 2**63 - 1], got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed must be an integer in [0, 2**63 - 1], got {text!r}")
    return value


def _budget(text: str):
    from .claims import Budget

    try:
        return Budget.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"budget must be one of quick, full; got {text!r}") from None


def _check_memory(names: str, n_bytes: float, values: str) -> None:
    """UsageError when ``n_bytes`` exceed the physical memory: ``names`` are the parameters responsible."""
    from theory._checks import physical_memory

    limit = physical_memory()
    if n_bytes > limit:
        raise UsageError(f"{names} too large: {values} needs about {n_bytes / 2**30:.3g} GiB, more than the "
                         f"{limit / 2**30:.3g} GiB of memory of this machine; give smaller values")


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0.0 < value < 1.0):  # also rejects nan
        raise argparse.ArgumentTypeError(f"rate must be a number in (0, 1) (exclusive), got {text!r}")
    return value


def _report_path(text: str) -> Path:
    if not text:
        raise argparse.ArgumentTypeError("report must be a file name ending in .md or .json, got ''")
    p = Path(text)
    if p.suffix.lower() not in REPORT_FORMATS:
        raise argparse.ArgumentTypeError(
            f"report must be a file name ending in .md (Markdown) or .json, got {text!r}")
    return p


# --------------------------------------------------------------------------- helpers

def _console(stderr: bool = False, min_width: int = 0):
    """A rich console on the *current* sys.stdout/stderr (so captured streams work).

    Off a terminal the width is at least 160 columns (and at least ``min_width``) so ids are not wrapped.
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    width = None if is_tty else max(160, int(min_width), int(os.environ.get("COLUMNS", "0") or 0))
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def _check_writable_dir(folder: Path, what: str) -> None:
    """Raise UsageError unless ``folder`` is an existing directory we can create files in."""
    if not folder.exists():
        raise UsageError(f"{what}: folder {str(folder)!r} does not exist; give a path in an existing, writable folder")
    if not folder.is_dir():
        raise UsageError(f"{what}: {str(folder)!r} is not a folder; give a path in an existing, writable folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"{what}: cannot write in folder {str(folder)!r} ({exc.strerror or exc}); "
                         f"give a path in a writable folder") from None


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`simulations.cache.atomic_write`)."""
    from simulations.cache import atomic_write

    atomic_write(path, text)


def _fmt(x, digits: int = 4) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


def _fmt_values(a) -> str:
    a = np.asarray(a, dtype=float).ravel()
    if a.size == 0:
        return "-"
    if a.size == 1:
        return _fmt(a[0])
    if a.size <= 3:
        return "[" + ", ".join(_fmt(v) for v in a) + "]"
    return f"[{_fmt(a[0])}, ..., {_fmt(a[-1])}] ({a.size})"


def summarize_pair(observed, predicted) -> str:
    """``obs vs pred`` for one value; ``max|obs-pred| = ... over N`` for arrays."""
    try:
        o = np.asarray(observed, dtype=float)
        p = np.asarray(predicted, dtype=float)
    except (TypeError, ValueError):
        return f"{observed} vs {predicted}"
    if o.size == 1 and p.size == 1:
        return f"{_fmt(o.ravel()[0])} vs {_fmt(p.ravel()[0])}"
    try:
        diff = np.abs(o - p)
    except ValueError:
        return f"{_fmt_values(o)} vs {_fmt_values(p)}"
    if diff.size == 0:
        return "-"
    with np.errstate(invalid="ignore"):
        worst = float(np.nanmax(diff)) if not np.all(np.isnan(diff)) else math.nan
    return f"max|obs-pred| = {_fmt(worst, 2)} over {diff.size}"


def summarize_evidence(ev) -> str:
    """Observed against predicted, in the terms of the evidence's test."""
    kinds = set(str(ev.test).split("+"))
    if kinds & {"monotone", "fp-monotone"} and not kinds & {"z", "fp", "table", "slope"}:
        o = np.asarray(ev.observed, dtype=float).ravel()
        return f"{o.size} differences in [{_fmt(float(o.min()), 2)}, {_fmt(float(o.max()), 2)}]"
    return summarize_pair(ev.observed, ev.predicted)


def summarize_tolerance(tol) -> str:
    try:
        t = np.asarray(tol, dtype=float).ravel()
    except (TypeError, ValueError):
        return str(tol)
    if t.size == 0:
        return "-"
    if t.size == 1:
        return _fmt(t[0])
    lo, hi = float(np.nanmin(t)), float(np.nanmax(t))
    if lo == hi:
        return f"{_fmt(lo, 2)} (each of {t.size})"
    return f"{_fmt(lo, 2)} .. {_fmt(hi, 2)} over {t.size}"


def summarize_statistic(statistic, threshold) -> str:
    try:
        s, t = float(statistic), float(threshold)
    except (TypeError, ValueError):
        return f"{statistic} / {threshold}"
    rel = "<=" if s <= t else ">"
    return f"{_fmt(s, 3)} {rel} {_fmt(t, 3)}"


def summarize_rival(ev) -> str:
    name = ev.rival or "rival"
    return f"{name}: {'rejected' if ev.rival_rejected else 'NOT rejected'}"


def _jsonable(value):
    """JSON-safe copy: numpy types to Python, non-finite floats to the strings 'nan', 'inf', '-inf'."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _md_cell(text) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _debug() -> bool:
    return os.environ.get("THEORYCHECK_DEBUG", "").strip() not in ("", "0")


# --------------------------------------------------------------------------- list

def _papers_of(claims_) -> list:
    seen = {}
    for c in claims_:
        seen.setdefault(c.paper.key, c.paper)
    return [seen[k] for k in sorted(seen)]


def markdown_claims(claims_) -> str:
    lines = ["| Paper | Authors | Title | Venue | Year | arXiv |", "|---|---|---|---|---|---|"]
    for p in _papers_of(claims_):
        lines.append(f"| {_md_cell(p.key)} | {_md_cell(p.authors)} | {_md_cell(p.title)} | {_md_cell(p.venue)} "
                     f"| {p.year} | [{_md_cell(p.arxiv)}]({p.url}) |")
    for p in _papers_of(claims_):
        lines += ["", f"### {_md_cell(p.cite)}: {_md_cell(p.title)}", "",
                  "| Claim | Where | Statement | Finding |", "|---|---|---|---|"]
        for c in claims_:
            if c.paper.key == p.key:
                lines.append(f"| `{_md_cell(c.id)}` | {_md_cell(c.where)} | {_md_cell(c.statement)} "
                             f"| {'yes' if c.finding else ''} |")
    return "\n".join(lines) + "\n"


def cmd_list(args) -> int:
    from . import claims as _claims

    selected = _claims.select(args.patterns)
    if args.markdown:
        sys.stdout.write(markdown_claims(selected))
        return 0
    from rich.table import Table

    table = Table(title=f"{len(selected)} claims", title_justify="left")
    table.add_column("Claim", no_wrap=True)
    table.add_column("Paper", no_wrap=True)
    table.add_column("Where")
    table.add_column("Statement", ratio=1)
    for c in selected:
        statement = c.statement + (" [finding]" if c.finding else "")
        table.add_row(c.id, c.paper.cite, c.where, statement)
    _console().print(table)
    return 0


# --------------------------------------------------------------------------- verify

@dataclass
class _Outcome:
    claim: object
    evidence: object | None  # None when the check raised
    error: str = ""
    runtime_s: float = math.nan

    @property
    def verdict(self) -> str:
        return "error" if self.evidence is None else self.evidence.verdict


class _Progress:
    """One tick per item on stderr: a transient rich bar on a terminal, else one plain line per item."""

    def __init__(self, total: int, label: str):
        self.total = total
        self.done = 0
        self.tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self._bar = None
        self._task = None
        self._label = label

    def __enter__(self):
        if self.tty and self.total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=_console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self._label, total=self.total)
        return self

    def start(self, name: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=f"{self._label} {name}")

    def finish(self, name: str, status: str, seconds: float) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.advance(self._task)
        else:
            print(f"[{self.done}/{self.total}] {name} {status} {seconds:.1f}s", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


def _verify_task(claim_id: str, budget: str, seed: int, rate: float, family_size: int):
    """One claim (picklable for sweep workers): ``(evidence, error, seconds)``."""
    from . import claims as _claims

    t0 = time.perf_counter()
    try:
        claim = _claims.load_all()[claim_id]
        # one claim at a time so a crashing check is reported and the rest still run;
        # family_size keeps the Bonferroni split over the whole selection
        [(_, ev)] = _claims.run_claims([claim], budget, seed, rate=rate, family_size=family_size)
        return ev, None, ev.runtime_s
    except Exception as exc:  # a defect in a check: report, keep going, exit 1
        if _debug():
            traceback.print_exc()
        return None, _one_line(f"{type(exc).__name__}: {exc}"), time.perf_counter() - t0


def _run_verify(selected, budget, seed: int, rate: float, args=None) -> list[_Outcome]:
    outcomes: list = [None] * len(selected)
    task = functools.partial(_verify_task, budget=budget.value, seed=seed, rate=rate, family_size=len(selected))
    with _Progress(len(selected), "verify") as progress:
        def done(i, result):
            ev, error, seconds = result
            outcomes[i] = _Outcome(selected[i], ev, error=error, runtime_s=seconds) if ev is None \
                else _Outcome(selected[i], ev, runtime_s=seconds)
            progress.finish(selected[i].id, outcomes[i].verdict, seconds)

        if args is None or (args.workers == 1 and args.scheduler is None):
            for i, c in enumerate(selected):  # in this process (claims from the live registry)
                progress.start(c.id)
                t0 = time.perf_counter()
                try:
                    [(_, ev)] = _run_claims_here(c, budget, seed, rate, len(selected))
                    done(i, (ev, None, ev.runtime_s))
                except Exception as exc:  # a defect in a check: report, keep going, exit 1
                    if _debug():
                        traceback.print_exc()
                    done(i, (None, _one_line(f"{type(exc).__name__}: {exc}"), time.perf_counter() - t0))
        else:
            _sweep(task, [c.id for c in selected], args, done)
    return outcomes


def _run_claims_here(c, budget, seed, rate, family_size):
    from . import claims as _claims

    return _claims.run_claims([c], budget, seed, rate=rate, family_size=family_size)


def _verify_table(outcomes, budget, seed, rate):
    from rich.table import Table

    totals = _totals(outcomes)
    title = (f"verify: budget {budget.value}, seed {seed}, false-alarm rate {rate:g} over {len(outcomes)} claims: "
             + ", ".join(f"{n} {v}" for v, n in totals.items() if n))
    table = Table(title=title, title_justify="left")
    table.add_column("Claim", no_wrap=True)
    table.add_column("Where")
    table.add_column("Observed vs predicted")
    table.add_column("Tolerance")
    table.add_column("Statistic vs threshold")
    table.add_column("Rival")
    table.add_column("Verdict", no_wrap=True)
    styles = {"pass": "green", "fail": "bold red", "no power": "yellow", "error": "bold red"}
    for o in outcomes:
        v = o.verdict
        verdict = f"[{styles[v]}]{v}[/]"
        if o.evidence is None:
            table.add_row(o.claim.id, o.claim.where, o.error, "-", "-", "-", verdict)
            continue
        ev = o.evidence
        table.add_row(o.claim.id, o.claim.where, summarize_evidence(ev),
                      summarize_tolerance(ev.tolerance), summarize_statistic(ev.statistic, ev.threshold),
                      summarize_rival(ev), verdict)
    return table


def _totals(outcomes) -> dict:
    totals = {v: 0 for v in VERDICTS}
    for o in outcomes:
        totals[o.verdict] += 1
    return totals


def markdown_report(outcomes, budget, seed, rate, date: str) -> str:
    totals = _totals(outcomes)
    lines = [
        "# theorycheck verify",
        "",
        f"- date: {date}",
        f"- budget: {budget.value}",
        f"- seed: {seed}",
        f"- family-wise false-alarm rate: {rate:g} over {len(outcomes)} claims (Bonferroni)",
        f"- totals: {len(outcomes)} claims, " + ", ".join(f"{n} {v}" for v, n in totals.items()),
        "",
        "| Claim | Paper | Where | Observed vs predicted | Tolerance | Statistic vs threshold | Test | Rival | "
        "Verdict | Runtime (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for o in outcomes:
        c = o.claim
        if o.evidence is None:
            lines.append(f"| `{_md_cell(c.id)}` | {_md_cell(c.paper.cite)} | {_md_cell(c.where)} | "
                         f"{_md_cell(o.error)} | - | - | - | - | **error** | {o.runtime_s:.2f} |")
            continue
        ev = o.evidence
        verdict = ev.verdict if ev.verdict == "pass" else f"**{ev.verdict}**"
        lines.append(
            f"| `{_md_cell(c.id)}` | {_md_cell(c.paper.cite)} | {_md_cell(c.where)} | "
            f"{_md_cell(summarize_evidence(ev))} | {_md_cell(summarize_tolerance(ev.tolerance))} | "
            f"{_md_cell(summarize_statistic(ev.statistic, ev.threshold))} | {_md_cell(ev.test)} | "
            f"{_md_cell(summarize_rival(ev))} | {verdict} | {ev.runtime_s:.2f} |")
        extra = "; ".join(s for s in (ev.note, ev.detail) if s)
        if extra:
            notes.append(f"- `{_md_cell(c.id)}`: {_md_cell(extra)}")
    if notes:
        lines += ["", "## Notes", ""] + notes
    return "\n".join(lines) + "\n"


def json_report(outcomes, budget, seed, rate, date: str) -> str:
    doc = {
        "budget": budget.value,
        "seed": seed,
        "rate": rate,
        "date": date,
        "totals": _totals(outcomes),
        "claims": [],
    }
    for o in outcomes:
        c = o.claim
        entry = {"id": c.id, "paper": c.paper.key, "cite": c.paper.cite, "where": c.where,
                 "statement": c.statement, "verdict": o.verdict}
        if o.evidence is None:
            entry["evidence"] = None
            entry["error"] = o.error
        else:
            entry["evidence"] = o.evidence.to_dict()
        doc["claims"].append(entry)
    return json.dumps(_jsonable(doc), indent=2, allow_nan=False) + "\n"


def _claims_to_run(args, command: str):
    """``(report, selected claims, budget)``, the report path checked before anything runs."""
    from . import claims as _claims

    report = args.report
    if report is not None:
        if report.exists() and report.is_dir():
            raise UsageError(f"--report: {str(report)!r} is a folder; give a file name ending in .md or .json")
        _check_writable_dir(report.parent if str(report.parent) else Path("."), "--report")
    selected = _claims.select(args.patterns)
    if not selected:
        raise UsageError(f"no claims are registered; nothing to {command} (see 'theorycheck list')")
    return report, selected, args.budget or _claims.Budget.QUICK


def cmd_verify(args) -> int:
    report, selected, budget = _claims_to_run(args, "verify")
    outcomes = _run_verify(selected, budget, args.seed, args.rate, args)
    _console().print(_verify_table(outcomes, budget, args.seed, args.rate))
    if report is not None:
        date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        render = markdown_report if report.suffix.lower() == ".md" else json_report
        _atomic_write_text(report, render(outcomes, budget, args.seed, args.rate, date))
        print(f"report written to {report}", file=sys.stderr)
    return 0 if all(o.verdict == "pass" for o in outcomes) else 1


# --------------------------------------------------------------------------- calibrate

#: a rival may survive in at most this fraction of seeds before its claim counts as underpowered
POWER_SHORTFALL = 0.01


@dataclass(frozen=True)
class _Calibration:
    claim: object
    seeds: int
    false_alarms: int  # seeds in which the theory was rejected (or the check crashed)
    rival_survived: int  # seeds in which the rival was not rejected
    designed: float  # the per-claim false-alarm rate the thresholds are built for
    confidence: float
    errors: tuple
    false_alarm_seeds: tuple = ()  # the seeds behind ``false_alarms``, so a user can rerun one with verify
    survived_seeds: tuple = ()  # the seeds behind ``rival_survived``
    seed_ranges: tuple = ()  # the (first, last) seed ranges this claim ran over

    @property
    def false_alarm_interval(self):
        from .stats import clopper_pearson

        return clopper_pearson(self.false_alarms, self.seeds, self.confidence)

    @property
    def power_interval(self):
        from .stats import clopper_pearson

        return clopper_pearson(self.seeds - self.rival_survived, self.seeds, self.confidence)

    @property
    def too_many_false_alarms(self) -> bool:
        """The exact interval lies wholly above the designed rate."""
        return self.false_alarm_interval[0] > self.designed

    @property
    def underpowered(self) -> bool:
        return self.rival_survived > POWER_SHORTFALL * self.seeds

    @property
    def status(self) -> str:
        if self.errors:
            return "error"
        if self.too_many_false_alarms:
            return "false alarms"
        if self.underpowered:
            return "underpowered"
        return "ok"


def calibrate(selected, budget, seeds, rate, args=None, first_seed: int = 0, confidence: float = 0.95,
              progress=None, family: int | None = None) -> list[_Calibration]:
    """Every selected claim over ``seeds`` consecutive seeds (from ``first_seed``), mapped over the sweep.

    ``family``: the number of claims the family-wise ``rate`` is split over (default: the
    selected ones); set it to the suite's size to rerun a subset with the suite's thresholds.
    """
    family = len(selected) if family is None else family
    items = [(c.id, first_seed + k) for c in selected for k in range(seeds)]
    index = {c.id: i for i, c in enumerate(selected)}
    evidence = [[None] * seeds for _ in selected]
    task = functools.partial(_calibrate_task, budget=budget.value, rate=rate, family_size=family)

    def done(i, result):
        cid, seed = items[i]
        evidence[index[cid]][seed - first_seed] = result
        if progress is not None:
            progress.finish(f"{cid} seed {seed}", _verdict_of(result), result[2])

    if args is None:
        for i, item in enumerate(items):
            done(i, task(item))
    else:
        _sweep(task, items, args, done)
    out = []
    for c, results in zip(selected, evidence):
        errors = tuple(sorted({r[1] for r in results if r[0] is None}))
        fa = tuple(first_seed + k for k, r in enumerate(results) if r[0] is None or not r[0].agrees)
        survived = tuple(first_seed + k for k, r in enumerate(results) if r[0] is None or not r[0].rival_rejected)
        out.append(_Calibration(c, seeds, len(fa), len(survived), rate / family, confidence, errors,
                                fa, survived, ((first_seed, first_seed + seeds - 1),)))
    return out


def _verdict_of(result) -> str:
    ev, error, _ = result
    return "error" if ev is None else ev.verdict


def _calibrate_task(item, budget: str, rate: float, family_size: int):
    claim_id, seed = item
    return _verify_task(claim_id, budget, seed, rate, family_size)


def _calibration_rows(cals):
    rows = []
    for c in cals:
        flo, fhi = c.false_alarm_interval
        plo, phi = c.power_interval
        rows.append(dict(id=c.claim.id, seeds=c.seeds, false_alarms=c.false_alarms,
                         false_alarm_interval=[flo, fhi], designed_rate=c.designed,
                         power=(c.seeds - c.rival_survived) / c.seeds, power_interval=[plo, phi],
                         status=c.status, errors=list(c.errors), false_alarm_seeds=list(c.false_alarm_seeds),
                         rival_survived_seeds=list(c.survived_seeds)))
    return rows


def _ranges_text(ranges) -> str:
    if ranges is None:
        return "by claim (joined runs)"
    return ", ".join(f"{a}..{b}" for a, b in ranges)


def _common_ranges(range_lists):
    """The seed ranges every list covers: the intersection of unions of disjoint (first, last) ranges."""
    common = list(range_lists[0])
    for ranges in range_lists[1:]:
        common = [(max(a, c), min(b, d)) for a, b in common for c, d in ranges if max(a, c) <= min(b, d)]
    return sorted(common)


def _suite_line(cals, rate) -> str:
    """The whole suite as one test: false alarms over the seeds that every claim ran, against the
    family-wise design (a whole-suite run is one seed of every claim)."""
    from .stats import clopper_pearson

    common = _common_ranges([c.seed_ranges for c in cals]) if cals else []
    n = sum(b - a + 1 for a, b in common)
    if not n:
        return "- suite: no runs" if not cals else "- suite: no seed was run by every claim, so no whole-suite runs"
    runs_with_alarm = len({s for c in cals for s in c.false_alarm_seeds if any(a <= s <= b for a, b in common)})
    lo, hi = clopper_pearson(runs_with_alarm, n, 0.95)
    return (f"- suite: {runs_with_alarm} of {n} whole-suite runs had a false alarm (95% interval [{lo:.3g}, {hi:.3g}]; "
            f"designed family-wise rate {rate:g} per run, so {n * rate:.3g} expected in {n} runs)")


def calibration_markdown(cals, budget, rate, ranges, date) -> str:
    rows = _calibration_rows(cals)
    n = cals[0].seeds if cals else 0
    fa = sum(r["false_alarms"] for r in rows)
    weak = [r["id"] for r in rows if r["status"] != "ok"]
    min_power = min((r["power"] for r in rows), default=float("nan"))
    lines = [
        "# theorycheck calibrate", "",
        f"- date: {date}", f"- budget: {budget.value}, seeds {_ranges_text(ranges)} ({n} per claim)",
        f"- family-wise false-alarm rate {rate:g} over {len(rows)} claims: {rate / max(len(rows), 1):.3g} per claim",
        f"- total false alarms: {fa} in {n * len(rows)} claim runs; claims not ok: "
        + (", ".join(weak) if weak else "none"),
        _suite_line(cals, rate),
        f"- power: every rival rejected in at least {min_power:.1%} of seeds (required: "
        f"{1 - POWER_SHORTFALL:.0%})", "",
        "| Claim | False alarms | 95% interval | Power vs rival | 95% interval | Status |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        seeds = ""
        if r["false_alarm_seeds"] or r["rival_survived_seeds"]:
            seeds = " (seeds: " + "; ".join(
                part for part in (
                    "theory rejected " + ", ".join(map(str, r["false_alarm_seeds"])) if r["false_alarm_seeds"] else "",
                    "rival survived " + ", ".join(map(str, r["rival_survived_seeds"]))
                    if r["rival_survived_seeds"] else "") if part) + ")"
        lines.append(f"| `{r['id']}` | {r['false_alarms']}/{r['seeds']} | "
                     f"[{r['false_alarm_interval'][0]:.3g}, {r['false_alarm_interval'][1]:.3g}] | "
                     f"{r['power']:.3f} | [{r['power_interval'][0]:.3g}, {r['power_interval'][1]:.3g}] | "
                     f"{r['status']}{seeds} |")
    return "\n".join(lines) + "\n"


def calibration_json(cals, budget, rate, ranges, date) -> str:
    # seed_ranges is null for joined runs whose seeds differ between claims (such a report is final: it
    # does not combine again); each row's seeds and seed lists still say what ran
    return json.dumps({"budget": budget.value, "rate": rate, "first_seed": ranges[0][0] if ranges else None,
                       "seed_ranges": [list(r) for r in ranges] if ranges is not None else None, "date": date,
                       "power_shortfall": POWER_SHORTFALL, "claims": _calibration_rows(cals)}, indent=2) + "\n"


def _read_calibration(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"--combine: cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except ValueError:
        raise UsageError(f"--combine: {str(path)!r} is not JSON; give reports written by "
                         "'theorycheck calibrate --report FILE.json'") from None
    problem = _calibration_doc_problem(doc)
    if problem:
        raise UsageError(f"--combine: {str(path)!r} is not a calibration report with per-seed results ({problem}); "
                         "give reports written by 'theorycheck calibrate --report FILE.json'")
    return doc


def _calibration_doc_problem(doc) -> str:
    """What makes ``doc`` unusable as a calibration report ('' when nothing does)."""
    def is_int(v, low=0):
        return isinstance(v, int) and not isinstance(v, bool) and low <= v <= MAX_SEED

    def is_rate(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 < v <= 1.0

    if not isinstance(doc, dict):
        return "not a JSON object"
    for key in ("budget", "rate", "seed_ranges", "claims"):
        if key not in doc:
            return f"no {key!r}"
    if doc["budget"] not in ("quick", "full"):
        return "budget must be quick or full"
    if not is_rate(doc["rate"]) or doc["rate"] >= 1.0:
        return "rate must be a number in (0, 1)"
    ranges = doc["seed_ranges"]
    if not isinstance(ranges, list) or not ranges or not all(
            isinstance(r, list) and len(r) == 2 and is_int(r[0]) and is_int(r[1]) and r[0] <= r[1] for r in ranges):
        return "seed_ranges must be a non-empty list of [first, last] seeds in [0, 2**63 - 1]"
    n_seeds = sum(b - a + 1 for a, b in ranges)
    claims_ = doc["claims"]
    if not isinstance(claims_, list) or not claims_ or not all(isinstance(r, dict) for r in claims_):
        return "claims must be a non-empty list of objects"
    for row in claims_:
        if not isinstance(row.get("id"), str):
            return "a claim has no id"
        if not is_int(row.get("seeds"), 1) or row["seeds"] != n_seeds:
            return f"claim {row['id']!r}: seeds must be {n_seeds}, the number of seeds in seed_ranges"
        if not is_rate(row.get("designed_rate")):
            return f"claim {row['id']!r}: designed_rate must be a number in (0, 1]"
        for key in ("false_alarm_seeds", "rival_survived_seeds"):
            seeds = row.get(key)
            if not isinstance(seeds, list) or len(set(map(str, seeds))) != len(seeds) or not all(
                    is_int(x) and any(a <= x <= b for a, b in ranges) for x in seeds):
                return f"claim {row['id']!r}: {key} must list distinct seeds of seed_ranges"
        errors = row.get("errors")
        if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
            return f"claim {row['id']!r}: errors must be a list of strings"
    return ""


def combine_calibrations(docs, names, patterns=()):
    """One calibration from reports over disjoint seed ranges, claim by claim.

    A claim's rows are joined over the reports that contain it (a report may hold a
    subset of the claims, e.g. a rerun of some claims with ``--family`` set to the
    suite's size); its seeds must not overlap, and every report must share the budget,
    the family-wise rate and the claim's designed per-claim rate.  Returns
    ``(calibrations, budget, rate, seed ranges)``; the ranges are those common to every
    claim, or None when they differ between claims.
    """
    from . import claims as _claims

    first = docs[0]
    for doc, name in zip(docs[1:], names[1:]):
        for key in ("budget", "rate"):
            if doc[key] != first[key]:
                raise UsageError(f"--combine: {name!r} has {key} {doc[key]!r}, {names[0]!r} has {first[key]!r}; "
                                 "only runs of the same budget and rate combine")
    registry = _claims.load_all()
    wanted = {c.id for c in _claims.select(patterns)} if patterns else None
    budget = _claims.Budget.parse(first["budget"])
    rows_of: dict = {}
    for doc, name in zip(docs, names):
        for row in doc["claims"]:
            rows_of.setdefault(row["id"], []).append((row, [tuple(r) for r in doc["seed_ranges"]], name))
    out, claim_ranges = [], []
    for cid, entries in rows_of.items():
        if cid not in registry:
            raise UsageError(f"--combine: claim {cid!r} of {entries[0][2]!r} is not registered any more")
        if wanted is not None and cid not in wanted:
            continue
        ranges = sorted(r for _, rs, _ in entries for r in rs)
        for (a0, b0), (a1, b1) in zip(ranges, ranges[1:]):
            if a1 <= b0:
                raise UsageError(f"--combine: seed ranges {a0}..{b0} and {a1}..{b1} of claim {cid!r} overlap; "
                                 "each seed may count once")
        merged = [list(ranges[0])]  # adjacent ranges read as one: 0..24 and 25..49 are 0..49
        for a, b in ranges[1:]:
            if a == merged[-1][1] + 1:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        ranges = [tuple(r) for r in merged]
        designed = {row["designed_rate"] for row, _, _ in entries}
        if len(designed) > 1:
            raise UsageError(f"--combine: claim {cid!r} was run at different per-claim rates {sorted(designed)}; "
                             "rerun a subset with --family set to the size of the whole run")
        rows = [row for row, _, _ in entries]
        fa = tuple(sorted(s for r in rows for s in r["false_alarm_seeds"]))
        survived = tuple(sorted(s for r in rows for s in r["rival_survived_seeds"]))
        errors = tuple(sorted({e for r in rows for e in r["errors"]}))
        out.append(_Calibration(registry[cid], sum(r["seeds"] for r in rows), len(fa), len(survived),
                                designed.pop(), 0.95, errors, fa, survived, tuple(ranges)))
        claim_ranges.append(ranges)
    if not out:
        raise UsageError("--combine: no claim of the reports matches the given patterns")
    common = claim_ranges[0] if all(r == claim_ranges[0] for r in claim_ranges) else None
    return out, budget, first["rate"], common


def cmd_calibrate(args) -> int:
    from rich.table import Table

    if args.combine:
        if args.workers != 1 or args.scheduler is not None:
            raise UsageError("--combine: reads finished reports and runs nothing; drop --workers/--scheduler")
        report = args.report
        if report is not None:
            _claims_to_run(args, "calibrate")  # the report path checked before anything is read
        docs = [_read_calibration(p) for p in args.combine]
        cals, budget, rate, ranges = combine_calibrations(docs, [str(p) for p in args.combine], args.patterns)
    else:
        if args.first_seed + args.seeds - 1 > MAX_SEED:
            raise UsageError(f"--seeds: the last seed, --first-seed + --seeds - 1 = "
                             f"{args.first_seed + args.seeds - 1}, must be <= 2**63 - 1; "
                             "give fewer seeds or a smaller --first-seed")
        report, selected, budget = _claims_to_run(args, "calibrate")
        rate, ranges = args.rate, [(args.first_seed, args.first_seed + args.seeds - 1)]
        if args.family is not None and args.family < len(selected):
            raise UsageError(f"--family: {args.family} is fewer than the {len(selected)} claims selected; "
                             "give at least their number")
        with _Progress(len(selected) * args.seeds, "calibrate") as progress:
            cals = calibrate(selected, budget, args.seeds, rate, args, first_seed=args.first_seed,
                             progress=progress, family=args.family)
    table = Table(title=f"calibrate: budget {budget.value}, seeds {_ranges_text(ranges)} ({cals[0].seeds} per claim), "
                        f"false-alarm rate {rate:g} over {len(cals)} claims", title_justify="left")
    for col in ("Claim", "False alarms", "95% interval", "Power", "95% interval", "Status"):
        table.add_column(col, no_wrap=col == "Claim")
    for r in _calibration_rows(cals):
        table.add_row(r["id"], f"{r['false_alarms']}/{r['seeds']}",
                      f"[{r['false_alarm_interval'][0]:.2g}, {r['false_alarm_interval'][1]:.2g}]",
                      f"{r['power']:.3f}", f"[{r['power_interval'][0]:.3g}, {r['power_interval'][1]:.3g}]",
                      r["status"] + (f" ({'; '.join(r['errors'])})" if r["errors"] else ""))
    _console().print(table)
    print(_suite_line(cals, rate)[2:], file=sys.stderr)
    if report is not None:
        date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        render = calibration_markdown if report.suffix.lower() == ".md" else calibration_json
        _atomic_write_text(report, render(cals, budget, rate, ranges, date))
        print(f"report written to {report}", file=sys.stderr)
    return 0 if all(c.status == "ok" for c in cals) else 1


# --------------------------------------------------------------------------- figures

def figure_modules() -> list[str]:
    """Names of the figure scripts: modules of the ``figures`` package not starting with '_'."""
    import figures

    return sorted(m.name for m in pkgutil.iter_modules(figures.__path__) if not m.name.startswith("_"))


def select_figures(patterns, available) -> list[str]:
    if not patterns:
        return list(available)
    chosen: list[str] = []
    for pat in patterns:
        stem = pat.rstrip("_/")
        hits = [m for m in available
                if fnmatch.fnmatchcase(m, pat) or m == stem or m.startswith(stem + "_")]
        if not hits:
            prefixes = sorted({m.split("_")[0] for m in available})
            listing = (f"papers {', '.join(prefixes)}; figures {', '.join(available)}" if available
                       else "no figure scripts exist yet")
            raise UsageError(f"pattern {pat!r} matches no figure; available: {listing}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def cmd_figures(args) -> int:
    from . import claims as _claims

    available = figure_modules()
    chosen = select_figures(args.patterns, available)
    if args.out is not None and not args.out.strip():
        raise UsageError(f"--out must be a folder path, got {args.out!r}")
    out_dir = Path(args.out) if args.out is not None else Path("figures") / "out"
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out: {str(out_dir)!r} exists and is not a folder; give a writable folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out: cannot create folder {str(out_dir)!r} ({exc.strerror or exc}); "
                         f"give a writable folder") from None
    _check_writable_dir(out_dir, "--out")
    if not chosen:
        print("no figure scripts found in the figures package", file=sys.stderr)
        return 0
    os.environ.setdefault("MPLBACKEND", "Agg")
    budget = args.budget or _claims.Budget.QUICK
    task = functools.partial(_figure_task, budget=budget.value, out_dir=str(out_dir), seed=args.seed)
    results: list = [None] * len(chosen)
    with _Progress(len(chosen), "figures") as progress:
        def done(i, result):
            results[i] = result
            paths, error, seconds, note = result
            if note:
                print(note, file=sys.stderr)
            if error is not None:
                print(f"{PROG}: figure {chosen[i]} failed: {error}", file=sys.stderr)
            progress.finish(chosen[i], "ok" if error is None else "error", seconds)

        _sweep(task, chosen, args, done)
    for paths, error, _, _ in results:  # stdout in the scripts' order, whatever the completion order
        for p in paths:
            print(p)
    sys.stdout.flush()
    return 1 if any(r[1] is not None for r in results) else 0


def _figure_task(name: str, budget: str, out_dir: str, seed):
    """One figure script (picklable for sweep workers): ``(paths, error, seconds, note)``."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from simulations import cache as _cache

    t0 = time.perf_counter()
    note = None
    # a figure is a deterministic function of the code, the budget and the seed: memoized whole
    key = hashlib.sha256(json.dumps([name, budget, seed, _cache.tree_version(
        "theory", "simulations", "paper_checks", "figures")]).encode()).hexdigest()[:24]
    hit = _cache.get_files(key)
    if hit is not None:
        paths = []
        for fname, blob in hit:
            _cache.atomic_write(Path(out_dir) / fname, blob)
            paths.append(str(Path(out_dir) / fname))
        return paths, None, time.perf_counter() - t0, None
    try:
        mod = importlib.import_module(f"figures.{name}")
        kwargs = {}
        if seed is not None:
            if "seed" in inspect.signature(mod.make).parameters:
                kwargs["seed"] = seed
            else:
                note = f"{name}: takes no seed; --seed ignored"
        from .claims import Budget

        paths = [str(p) for p in (mod.make(Budget.parse(budget), Path(out_dir), **kwargs) or ())]
        _cache.put_files(key, [(Path(p).name, Path(p).read_bytes()) for p in paths])
        return paths, None, time.perf_counter() - t0, note
    except Exception as exc:  # a defect in a figure script: report, keep going, exit 1
        if _debug():
            traceback.print_exc()
        return [], _one_line(f"{type(exc).__name__}: {exc}"), time.perf_counter() - t0, note


# --------------------------------------------------------------------------- explore

@dataclass(frozen=True)
class Param:
    """One explorable parameter: its default, a parser from text, and the allowed range in words."""

    name: str
    default: object
    parse: Callable[[str], object]
    allowed: str
    show: Callable[[object], str] = str  # a value as the table and the title print it


@dataclass(frozen=True)
class Topic:
    name: str
    description: str
    params: tuple
    #: ``compute(point, budget, seed) -> (theory, simulation, stderr)`` for one grid point
    #: (or, with ``columns``, any result that ``cells`` turns into the row's cells)
    compute: Callable
    replicates: Callable  # budget -> replicate count, for the table title
    #: column headers after the varied parameters; empty: theory, simulation ± stderr, z
    columns: tuple = ()
    #: ``cells(result, note) -> list[str]``, one per column (with ``columns``); ``note(text)`` files a
    #: footnote printed under the table and returns its marker, e.g. ``"[1]"``
    cells: Callable | None = None
    #: ``budget_text(budget) -> str`` for the title; None: "<n> replicates"
    budget_text: Callable | None = None
    #: ``check(point)`` raises ValueError for a combination the parameters' own ranges allow but the topic does not
    check: Callable | None = None

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise UsageError(f"unknown parameter {name!r} for topic {self.name}; allowed: "
                         + ", ".join(p.name for p in self.params))


def _real_parser(*, low=None, low_open=False, allowed="any finite real number"):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise ValueError(allowed) from None
        if not math.isfinite(v) or (low is not None and (v < low or (low_open and v == low))):
            raise ValueError(allowed)
        return v

    return parse


def _int_parser(*, low: int, allowed: str, high: int | None = None):
    def parse(text: str) -> int:
        try:
            v = int(text.strip(), 10)
        except ValueError:
            raise ValueError(allowed) from None
        if v < low or (high is not None and v > high):
            raise ValueError(allowed)
        return v

    return parse


def _bounded(low: int, high: int):
    """An integer in [low, high]."""
    return _int_parser(low=low, high=high, allowed=f"an integer in [{low}, {high}]")


def _choice_parser(choices, allowed: str):
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(allowed)
        return text

    return parse


def _sd_replicates(budget) -> int:
    return budget.pick(quick=400, full=4000)


def _sd_compute(point: dict, budget, seed: int):
    """Self-distillation risk at one grid point: exact expected risk vs Monte Carlo."""
    from simulations.self_distillation import distillation_risk
    from theory.self_distillation import expected_risks, rbf_kernel

    alpha, step, ridge, noise = point["alpha"], point["step"], point["ridge"], point["noise"]
    n, gamma, design = point["n"], point["gamma"], point["design"]
    res = distillation_risk(n=n, alphas=[alpha], steps=step, ridge=ridge, gamma=gamma, noise=noise,
                            replicates=_sd_replicates(budget), seed=seed, design=design)
    x_test = np.asarray(res.x_test)
    f_test = np.sin(2 * np.pi * x_test)

    def exact(X):
        K = rbf_kernel(X, X, gamma)
        C = rbf_kernel(x_test, X, gamma)
        return expected_risks(K, C, np.sin(2 * np.pi * X), f_test, noise**2, ridge, [alpha], step)[0, step]

    if design == "grid":
        theory = exact(np.linspace(0.0, 1.0, n))
    else:  # the mean over the simulated designs of the exact expectation given the design
        theory = float(np.mean([exact(np.asarray(X, dtype=float)) for X in res.designs]))
    return float(theory), float(res.estimate[0, step]), float(res.stderr[0, step])


def _sizes_parser(text: str) -> tuple:
    allowed = (f"class sizes as dash-separated integers in [1, {EXPLORE_MAX_POINTS}], at least 2 classes and at most "
               f"{EXPLORE_MAX_CLASSES} (e.g. 8-8-8 or 16-8-4)")
    parts = text.split("-")
    if not 2 <= len(parts) <= EXPLORE_MAX_CLASSES:
        raise ValueError(allowed)
    try:
        sizes = tuple(int(p.strip(), 10) for p in parts)
    except ValueError:
        raise ValueError(allowed) from None
    if any(not 1 <= n <= EXPLORE_MAX_POINTS for n in sizes):
        raise ValueError(allowed)
    return sizes


def _show_sizes(sizes) -> str:
    return "-".join(str(n) for n in sizes)


def _bool_parser(text: str) -> bool:
    t = text.strip().lower()
    if t not in ("true", "false"):
        raise ValueError("true or false")
    return t == "true"


def _nc_seeds(budget) -> int:
    return budget.pick(quick=4, full=16)


def _nc_steps(budget) -> int:
    return budget.pick(quick=1500, full=5000)


def _nc_budget_text(budget) -> str:
    return f"{_nc_seeds(budget)} seeds, {_nc_steps(budget)} GD steps + L-BFGS each"


def _nc_check(point: dict) -> None:
    K = len(point["sizes"])
    if point["width"] < K:
        raise ValueError(f"width must be an integer >= the number of classes; width={point['width']} "
                         f"but sizes={_show_sizes(point['sizes'])} has {K} classes")
    N, d, M = sum(point["sizes"]), point["width"], point["depth"]
    # features (d x N), M weights (d x d) and the K x N targets, a few copies each (gradients, L-BFGS history)
    _check_memory("sizes, width and depth", 8.0 * 16 * (d * N + M * d * d + K * N),
                  f"sizes={_show_sizes(point['sizes'])} (N={N}), width={d}, depth={M}")


#: a class counts as collapsed in a trained run when its squared classifier row is below this times the
#: longest row (or times N lambda_H, the scale of a live row, when every row is that small)
NC_REL_ZERO = 1e-8


@dataclass(frozen=True)
class _NCResult:
    theory: object            # theory.neural_collapse.UFMMinimum, or the ValueError's message
    objective: np.ndarray     # (S,) trained objectives
    gram_diag: np.ndarray     # (S, K) trained classifier-Gram diagonals
    scale: float              # N lambda_H: the size of a live row's squared length


def _nc_compute(point: dict, budget, seed: int) -> _NCResult:
    """Deep linear UFM at one grid point: the closed-form global minimum vs gradient-descent training."""
    from simulations.neural_collapse import train_ufm
    from theory.neural_collapse import deep_linear_ufm_minimum

    sizes, depth, lw, lh = list(point["sizes"]), point["depth"], point["weight_decay"], point["feature_decay"]
    loss, bias = point["loss"], point["bias"]
    try:
        theory = deep_linear_ufm_minimum(sizes, depth, lw, lh, loss, bias)
    except ValueError as exc:  # a case the theory does not cover (e.g. imbalanced with bias, imbalanced CE)
        theory = _one_line(exc)
    steps = _nc_steps(budget)
    run = train_ufm(sizes, depth, point["width"], lw, lh, loss=loss, bias=bias, seeds=_nc_seeds(budget), seed=seed,
                    steps=steps, record_every=max(1, steps // 30))
    return _NCResult(theory, np.asarray(run.objective), np.diagonal(run.classifier_gram, axis1=1, axis2=2).copy(),
                     float(sum(sizes) * lh))


def _fmt_list(a, digits: int = 4) -> str:
    return "[" + ", ".join(_fmt(v, digits) for v in np.asarray(a, dtype=float).ravel()) + "]"


def _collapsed_text(mask) -> str:
    idx = [str(k + 1) for k in np.flatnonzero(mask)]
    return ",".join(idx) if idx else "none"


def _nc_cells(res: _NCResult, note) -> list:
    S = res.objective.size
    mean = float(res.objective.mean())
    se = float(res.objective.std(ddof=1) / math.sqrt(S)) if S > 1 else 0.0
    diag = res.gram_diag.mean(axis=0)
    longest = np.maximum(res.gram_diag.max(axis=1, keepdims=True), NC_REL_ZERO * res.scale)
    dead = res.gram_diag <= NC_REL_ZERO * longest  # (S, K)
    every = dead.all(axis=0)
    some = dead.any(axis=0) & ~every
    trained = _collapsed_text(every) + (f" (some seeds: {_collapsed_text(some)})" if some.any() else "")
    if isinstance(res.theory, str):
        th_obj, th_diag, th_coll, delta = f"n/a {note(res.theory)}", "-", "-", "-"
    else:
        th_obj = _fmt(res.theory.objective, 8)
        th_diag = _fmt_list(np.diag(res.theory.classifier_gram))
        th_coll = _collapsed_text(res.theory.collapsed)
        delta = f"{mean - res.theory.objective:+.2g}"
    return [th_obj, f"{_fmt(mean, 8)} ± {_fmt(se, 2)}", delta, th_diag, _fmt_list(diag),
            f"{th_coll} | {trained}"]


MT_FAMILIES = {"contains": "contains J", "misses": "misses J"}
MT_METHODS = ("ml", "mstd", "td0", "lstd", "td_lambda", "gtd")


def _unit_open_parser(text: str) -> float:
    allowed = "a number in (0, 1)"
    try:
        v = float(text)
    except ValueError:
        raise ValueError(allowed) from None
    if not (0.0 < v < 1.0):
        raise ValueError(allowed)
    return v


def _mt_paths(budget) -> int:
    return budget.pick(quick=100_000, full=1_000_000)


def _mt_budget_text(budget) -> str:
    return f"{_mt_paths(budget)} paths in 32 replicates"


def _mt_check(point: dict) -> None:
    from . import jia2022

    family = MT_FAMILIES[point["family"]]
    if family not in jia2022.FAMILIES[point["problem"]]:
        allowed = ", ".join(k for k, v in MT_FAMILIES.items() if v in jia2022.FAMILIES[point["problem"]])
        raise ValueError(f"family must be one of {allowed} for problem={point['problem']}; "
                         f"got family={point['family']}")


@dataclass(frozen=True)
class _MTResult:
    features: tuple
    theory: object            # exact K-step theta, or the ValueError's message
    estimate: object          # mean theta over replicates, or why the simulation could not solve
    stderr: np.ndarray | None


def _mt_compute(point: dict, budget, seed: int) -> _MTResult:
    """Policy evaluation at one grid point: the exact K-step theta vs the Monte Carlo algorithm (Jia & Zhou 2022)."""
    from simulations import martingale_td as sim

    from . import jia2022

    name, method, K, lam = point["problem"], point["method"], point["steps"], point["lam"]
    feats = jia2022.FAMILIES[name][MT_FAMILIES[point["family"]]]
    tests = jia2022.GTD_TESTS if method == "gtd" else None
    kw = {"lam": lam} if method == "td_lambda" else {}
    try:
        theory = jia2022.theory_theta(name, feats, method, steps=K, test_functions=tests, **kw)
    except ValueError as exc:  # a singular system
        theory = _one_line(exc)
    (a0, a1), (s0, s1), r, h, beta, T, x0, transition = jia2022.PROBLEMS[name]
    try:
        run = sim.run_algorithms((a0, a1), (s0, s1), jia2022._reward(r), jia2022._reward(h), beta, T, x0,
                                 jia2022.feature_array(feats), K, _mt_paths(budget), seed, methods=(method,), lam=lam,
                                 test_functions=None if tests is None else jia2022.feature_array(tests),
                                 transition=transition, replicates=32)
    except np.linalg.LinAlgError as exc:  # a replicate's system is singular (e.g. K = 1: every path starts at x0)
        return _MTResult(tuple(feats), theory, f"a replicate's linear system is singular ({_one_line(exc)})", None)
    return _MTResult(tuple(feats), theory, np.asarray(run.estimate(method)), np.asarray(run.standard_error(method)))


def _mt_cells(res: _MTResult, note) -> list:
    feats = ", ".join(f.replace("**", "^") for f in res.features)
    theory_text = f"n/a {note(res.theory)}" if isinstance(res.theory, str) else None
    if isinstance(res.estimate, str):
        return [feats, theory_text or _fmt_list(res.theory, 6), f"n/a {note(res.estimate)}", "-"]
    sim_text = "[" + ", ".join(f"{_fmt(m, 6)} ± {_fmt(e, 2)}" for m, e in zip(res.estimate, res.stderr)) + "]"
    if theory_text is not None:
        return [feats, theory_text, sim_text, "-"]
    theory = np.asarray(res.theory, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(res.estimate - theory) / res.stderr
    if not np.all(np.isfinite(res.estimate)):
        zt = f"- {note('the simulation diverged (non-finite estimate)')}"
    elif np.any(res.stderr <= 0):
        zt = "- (stderr 0)"
    else:
        zt = f"{float(z.max()):.2f}"
    return [feats, _fmt_list(theory, 6), sim_text, zt]


def _count_or_inf_parser(text: str) -> float:
    allowed = f"an integer in [1, {EXPLORE_MAX_FEATURES}] or inf"
    t = text.strip().lower()
    if t in ("inf", "infinity"):
        return math.inf
    try:
        v = int(t, 10)
    except ValueError:
        raise ValueError(allowed) from None
    if not 1 <= v <= EXPLORE_MAX_FEATURES:
        raise ValueError(allowed)
    return float(v)


def _ridge_parser(text: str):
    allowed = "a finite number >= 0, or opt (the eigenframework's optimal ridge)"
    t = text.strip().lower()
    if t in ("opt", "optimal"):
        return "opt"
    return _real_parser(low=0.0, allowed=allowed)(t)


def _rf_draws(budget) -> int:
    return budget.pick(quick=400, full=4000)


def _rf_check(point: dict) -> None:
    if point["ridge"] == 0.0 and point["n"] == point["features"]:
        raise ValueError(f"ridge=0 with n = features = {point['n']:g} is the interpolation threshold, where the "
                         "risk is infinite; give a ridge > 0 or move n or features")
    if not point["beta"] > 0:
        raise ValueError(f"beta must be > 0 (a square-summable target needs beta > 1), got {point['beta']}")
    n, N, P = point["n"], point["features"], point["modes"]
    width = n if math.isinf(N) else N
    # one draw per thread: the features (N x P), the data (n x P), Phi (n x N) and an n x n or N x N solve
    per_draw = (0 if math.isinf(N) else N * P) + n * P + n * width + min(n, width) ** 2
    _check_memory("n, features and modes", 8.0 * 4 * per_draw,
                  f"n={n:g}, features={N:g}, modes={P}")


@dataclass(frozen=True)
class _RFResult:
    ridge: float
    theory: object  # theory.random_features.Eigenframework
    test: float
    test_se: float
    train: float
    train_se: float


def _rf_compute(point: dict, budget, seed: int) -> _RFResult:
    """Random-feature ridge regression at one grid point: eigenframework vs Monte Carlo (Simon et al. 2024)."""
    from simulations.random_features import rf_risk
    from theory import random_features as th

    from .simon2024 import point_seed

    lam, v = th.power_law(point["alpha"], point["beta"], point["modes"])
    n, N, noise = point["n"], point["features"], point["noise"]
    if point["ridge"] == "opt":
        ef = th.optimal_ridge(lam, v, noise, n, N, full=True)
    else:
        ef = th.eigenframework(lam, v, noise, n, N, point["ridge"])
    run = rf_risk(lam, v, noise, int(n), N if math.isinf(N) else int(N), np.array([ef.ridge]), _rf_draws(budget),
                  point_seed(seed, point["alpha"], point["beta"], noise, n, N, ef.ridge))
    return _RFResult(ef.ridge, ef, float(run.test_mean[0]), float(run.test_stderr[0]), float(run.train_mean[0]),
                     float(run.train_stderr[0]))


def _rf_cells(res: _RFResult, note) -> list:
    th = res.theory
    z = (res.test - th.test) / res.test_se if res.test_se > 0 else math.nan
    return [_fmt(res.ridge, 4), _fmt(th.test, 6), f"{_fmt(res.test, 6)} ± {_fmt(res.test_se, 2)}", f"{z:+.2f}",
            _fmt(th.train, 4), f"{_fmt(res.train, 4)} ± {_fmt(res.train_se, 2)}"]


TOPICS: dict[str, Topic] = {
    "self_distillation": Topic(
        name="self_distillation",
        description="kernel-ridge self-distillation test risk (Borup & Andersen 2021; Mobahi et al. 2020)",
        params=(
            Param("alpha", 0.25, _real_parser(allowed="a finite real number (the limit needs 0 < alpha < 2)"),
                  "a finite real number"),
            Param("ridge", 0.2, _real_parser(low=0.0, low_open=True, allowed="a finite number > 0"),
                  "a finite number > 0"),
            Param("step", 3, _bounded(0, EXPLORE_MAX_STEP),
                  f"an integer in [0, {EXPLORE_MAX_STEP}]"),
            Param("noise", 0.5, _real_parser(low=0.0, allowed="a finite number >= 0"), "a finite number >= 0"),
            Param("n", 11, _int_parser(low=2, high=EXPLORE_MAX_POINTS,
                                       allowed=f"an integer in [2, {EXPLORE_MAX_POINTS}] (training points)"),
                  f"an integer in [2, {EXPLORE_MAX_POINTS}]"),
            Param("gamma", 80.0, _real_parser(low=0.0, low_open=True, allowed="a finite number > 0"),
                  "a finite number > 0"),
            Param("design", "grid", _choice_parser(("grid", "uniform"), "one of grid, uniform"),
                  "one of grid, uniform"),
        ),
        compute=_sd_compute,
        replicates=_sd_replicates,
    ),
    "neural_collapse": Topic(
        name="neural_collapse",
        description="deep linear UFM: closed-form global minimum vs gradient descent (Dang et al. 2023)",
        params=(
            Param("sizes", (8, 8, 8), _sizes_parser, "dash-separated class sizes >= 1, at least 2 classes",
                  show=_show_sizes),
            Param("depth", 2, _bounded(1, EXPLORE_MAX_DEPTH),
                  f"an integer in [1, {EXPLORE_MAX_DEPTH}]"),
            Param("weight_decay", 5e-3, _real_parser(low=0.0, low_open=True, allowed="a finite number > 0"),
                  "a finite number > 0"),
            Param("feature_decay", 5e-3, _real_parser(low=0.0, low_open=True, allowed="a finite number > 0"),
                  "a finite number > 0"),
            Param("loss", "mse", _choice_parser(("mse", "ce"), "one of mse, ce"), "one of mse, ce"),
            Param("bias", False, _bool_parser, "true or false", show=lambda v: "true" if v else "false"),
            Param("width", 6, _int_parser(low=2, high=EXPLORE_MAX_WIDTH,
                                          allowed=f"an integer >= the number of classes and <= {EXPLORE_MAX_WIDTH}"),
                  f"an integer >= the number of classes and <= {EXPLORE_MAX_WIDTH}"),
        ),
        compute=_nc_compute,
        replicates=_nc_seeds,
        columns=("theory min", "trained ± se", "trained - theory", "Gram diag theory", "Gram diag trained",
                 "collapsed theory | trained"),
        cells=_nc_cells,
        budget_text=_nc_budget_text,
        check=_nc_check,
    ),
    "martingale_td": Topic(
        name="martingale_td",
        description="policy evaluation by martingales: exact K-step theta vs Monte Carlo (Jia & Zhou 2022)",
        params=(
            Param("problem", "BM_TERMINAL",
                  _choice_parser(("BM_TERMINAL", "BM_RUNNING", "OU"), "one of BM_TERMINAL, BM_RUNNING, OU"),
                  "one of BM_TERMINAL, BM_RUNNING, OU"),
            Param("family", "misses", _choice_parser(tuple(MT_FAMILIES), "one of contains, misses (OU: misses)"),
                  "one of contains, misses (OU: misses)"),
            Param("method", "lstd", _choice_parser(MT_METHODS, "one of " + ", ".join(MT_METHODS)),
                  "one of " + ", ".join(MT_METHODS)),
            Param("steps", 20, _bounded(1, EXPLORE_MAX_STEPS),
                  f"an integer in [1, {EXPLORE_MAX_STEPS}]"),
            Param("lam", 0.5, _unit_open_parser, "a number in (0, 1)"),
        ),
        compute=_mt_compute,
        replicates=lambda budget: 32,
        columns=("features", "theory θ (exact K-step)", "simulation ± se", "max |z|"),
        cells=_mt_cells,
        budget_text=_mt_budget_text,
        check=_mt_check,
    ),
    "random_features": Topic(
        name="random_features",
        description="random-feature ridge regression: eigenframework vs Monte Carlo (Simon et al. 2024)",
        params=(
            Param("alpha", 1.5, _real_parser(low=0.0, low_open=True, allowed="a finite number > 0"),
                  "a finite number > 0 (eigenvalues i^-alpha)"),
            Param("beta", 1.5, _real_parser(low=0.0, low_open=True, allowed="a finite number > 0"),
                  "a finite number > 0 (target v_i^2 = i^-beta)"),
            Param("noise", 0.05, _real_parser(low=0.0, allowed="a finite number >= 0"), "a finite number >= 0"),
            Param("n", 64.0, _bounded(1, EXPLORE_MAX_POINTS),
                  f"an integer in [1, {EXPLORE_MAX_POINTS}]", show=lambda v: f"{v:g}"),
            Param("features", 128.0, _count_or_inf_parser, f"an integer in [1, {EXPLORE_MAX_FEATURES}] or inf",
                  show=lambda v: f"{v:g}"),
            Param("ridge", "opt", _ridge_parser, "a finite number >= 0, or opt",
                  show=lambda v: v if isinstance(v, str) else f"{v:g}"),
            Param("modes", 200, _bounded(1, EXPLORE_MAX_MODES),
                  f"an integer in [1, {EXPLORE_MAX_MODES}]"),
        ),
        compute=_rf_compute,
        replicates=_rf_draws,
        columns=("ridge δ", "theory risk", "simulation ± se", "z", "theory train", "simulation train ± se"),
        cells=_rf_cells,
        budget_text=lambda budget: f"{_rf_draws(budget)} draws of data and features per point",
        check=_rf_check,
    ),
}


def parse_assignments(topic: Topic, items) -> dict[str, list]:
    """``["alpha=0.1,0.5", "step=2"]`` -> ``{"alpha": [0.1, 0.5], "step": [2]}`` (validated, in given order)."""
    given: dict[str, list] = {}
    for item in items:
        name, eq, values = item.partition("=")
        name = name.strip()
        if not eq:
            raise UsageError(f"malformed parameter {item!r}: expected name=value[,value...] with name one of "
                             + ", ".join(p.name for p in topic.params))
        if not name:
            raise UsageError(f"malformed parameter {item!r}: missing the name before '='")
        param = topic.param(name)
        if name in given:
            raise UsageError(f"parameter {name!r} given twice; give all its values once, e.g. {name}=v1,v2")
        parts = values.split(",")
        if not values.strip() or any(not s.strip() for s in parts):
            raise UsageError(f"parameter {name!r} has an empty value in {item!r}; {name} must be {param.allowed}")
        parsed = []
        for s in parts:
            try:
                parsed.append(param.parse(s.strip()))
            except ValueError as exc:
                raise UsageError(f"parameter {name}={s.strip()!r} is invalid: {name} must be {exc}") from None
        given[name] = parsed
    return given


def _explore_task(topic: str, budget: str, seed: int, point: dict):
    """One grid point (picklable for sweep workers): ``(result, seconds)``."""
    from . import claims as _claims

    t0 = time.perf_counter()
    result = TOPICS[topic].compute(point, _claims.Budget.parse(budget), seed)
    return result, time.perf_counter() - t0


def cmd_explore(args) -> int:
    from rich.table import Table

    from . import claims as _claims

    topic = TOPICS.get(args.topic)
    if topic is None:
        raise UsageError(f"unknown topic {args.topic!r}; topics are {', '.join(sorted(TOPICS))}")
    given = parse_assignments(topic, args.params)
    budget = args.budget or _claims.Budget.QUICK
    seed = DEFAULT_SEED if args.seed is None else args.seed
    varied = [p.name for p in topic.params if p.name in given]
    fixed = {p.name: p.default for p in topic.params if p.name not in given}
    grid = list(itertools.product(*(given[name] for name in varied)))
    show = {p.name: p.show for p in topic.params}
    if topic.check is not None:  # validate every grid point before running any
        for values in grid:
            topic.check(dict(fixed, **dict(zip(varied, values))))

    points = [dict(fixed, **dict(zip(varied, values))) for values in grid]
    labels = [" ".join(f"{k}={show[k](v)}" for k, v in zip(varied, values)) or "defaults" for values in grid]
    results: list = [None] * len(grid)
    with _Progress(len(grid), "explore") as progress:
        def done(i, result):
            results[i] = result[0]
            progress.finish(labels[i], "done", result[1])

        _sweep(functools.partial(_explore_task, topic.name, budget.value, seed), points, args, done)
    rows = list(zip(grid, results))

    fixed_text = ", ".join(f"{k}={show[k](v)}" for k, v in fixed.items())
    sizes_text = (topic.budget_text(budget) if topic.budget_text is not None
                  else f"{topic.replicates(budget)} replicates")
    title = (f"{topic.name}: {topic.description}\nbudget {budget.value} ({sizes_text}), "
             f"seed {seed}" + (f"; fixed {fixed_text}" if fixed_text else ""))
    table = Table(title=title, title_justify="left")
    for name in varied:
        table.add_column(name, justify="right", no_wrap=True)
    if topic.columns:
        notes: dict[str, str] = {}

        def note(text) -> str:
            return notes.setdefault(str(text), f"[{len(notes) + 1}]")

        for col in topic.columns:
            table.add_column(col, justify="right", no_wrap=True)
        for values, result in rows:
            table.add_row(*(show[n](v) for n, v in zip(varied, values)), *topic.cells(result, note))
        # off a terminal, wide enough for the whole table (lists of class values make it wide)
        console = _console()
        console = _console(min_width=console.measure(table, options=console.options.update_width(10_000)).maximum)
        console.print(table)
        for text, mark in notes.items():
            console.print(f"{mark} {text}")
        return 0
    table.add_column("theory", justify="right", no_wrap=True)
    table.add_column("simulation ± stderr", justify="right", no_wrap=True)
    table.add_column("z", justify="right", no_wrap=True)
    for values, (theory, sim, se) in rows:
        if se > 0:
            z = f"{(sim - theory) / se:+.2f}"
        else:
            z = "- (stderr 0)"
        table.add_row(*(show[n](v) for n, v in zip(varied, values)), _fmt(theory, 6),
                      f"{_fmt(sim, 6)} ± {_fmt(se, 2)}", z)
    _console().print(table)
    return 0


# --------------------------------------------------------------------------- cache

def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def cmd_cache(args) -> int:
    from simulations import cache

    if cache.cache_dir() is None:
        print("the cache is disabled (THEORYCHECK_CACHE=off)")
        return 0
    if args.action == "info":
        info = cache.info()
        print(f"folder:  {info['folder']}")
        print(f"entries: {info['entries']}")
        print(f"size:    {_human_bytes(int(info['bytes']))}")
    else:
        n = cache.clear()
        print(f"removed {n} entries from {cache.cache_dir()}")
    return 0


# --------------------------------------------------------------------------- parser and main

def _count_type(high: int):
    """An argparse type: an integer in [1, high]."""
    def parse(text: str) -> int:
        try:
            v = int(text, 10)
        except ValueError:
            v = 0
        if not 1 <= v <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [1, {high}], got {text!r}")
        return v

    return parse


_workers = _count_type(MAX_WORKERS)


def _scheduler(text: str) -> str:
    from .sweep import check_scheduler

    try:
        return check_scheduler(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a dask scheduler address like tcp://host:8786, got {text!r}") \
            from None


def _sweep(fn, items, args, on_done):
    """:func:`paper_checks.sweep.run_map` with the command's ``--workers``/``--scheduler``."""
    from .sweep import run_map

    try:
        return run_map(fn, items, workers=getattr(args, "workers", 1), scheduler=getattr(args, "scheduler", None),
                       on_done=on_done)
    except ConnectionError as exc:
        raise UsageError(f"--scheduler: {_one_line(exc)}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Numerical checks of machine-learning theory papers.",
                     epilog="Exit status: 0 ok, 1 a claim did not pass or a check crashed, 2 usage error.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def budget_opt(p):
        p.add_argument("--budget", type=_budget, default=None, metavar="quick|full",
                       help="sample sizes: quick (minutes, what CI runs; default) or full (paper scale)")

    def sweep_opts(p, what):
        p.add_argument("--workers", type=_workers, default=1, metavar="N",
                       help=f"run the {what} on N local worker processes (default 1: in this process); "
                            "results are identical whatever N")
        p.add_argument("--scheduler", type=_scheduler, default=None, metavar="ADDRESS",
                       help=f"run the {what} on an existing dask.distributed cluster, e.g. tcp://host:8786")

    p = sub.add_parser("list", help="list the claims", description="List the claims (id, paper, where, statement).")
    p.add_argument("patterns", nargs="*", metavar="PATTERN", help="claim id glob or prefix (e.g. a paper key)")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables grouped by paper")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("verify", help="run the claims' checks",
                       description="Run the claims' checks; exit 0 only when every claim passes.")
    p.add_argument("patterns", nargs="*", metavar="PATTERN", help="claim id glob or prefix (e.g. a paper key)")
    budget_opt(p)
    p.add_argument("--seed", type=_seed, default=DEFAULT_SEED, metavar="N",
                   help=f"integer seed in [0, 2**63 - 1] (default {DEFAULT_SEED})")
    p.add_argument("--report", type=_report_path, default=None, metavar="FILE.md|FILE.json",
                   help="also write the results as Markdown (.md) or JSON (.json)")
    p.add_argument("--rate", type=_rate, default=DEFAULT_RATE, metavar="R",
                   help=f"family-wise false-alarm rate in (0, 1), split over the claims run (default {DEFAULT_RATE:g})")
    sweep_opts(p, "claims")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("calibrate", help="false-alarm rate and power of the claims over many seeds",
                       description="Run claims over many seeds: per claim the observed false-alarm rate (with an "
                                   "exact binomial interval, against the designed rate) and the power against its "
                                   "rival; exit 1 if a claim has too many false alarms or a rival survives in more "
                                   f"than {POWER_SHORTFALL:.0%} of seeds.")
    p.add_argument("patterns", nargs="*", metavar="PATTERN", help="claim id glob or prefix (e.g. a paper key)")
    budget_opt(p)
    p.add_argument("--seeds", type=_count_type(MAX_SEEDS), default=10, metavar="N", help="seeds per claim (default 10)")
    p.add_argument("--first-seed", type=_seed, default=0, metavar="S", help="the first seed (default 0)")
    p.add_argument("--report", type=_report_path, default=None, metavar="FILE.md|FILE.json",
                   help="also write the calibration as Markdown (.md) or JSON (.json)")
    p.add_argument("--family", type=_count_type(MAX_SEEDS), default=None, metavar="N",
                   help="split --rate over N claims instead of the selected ones (at least their number), e.g. "
                        "the suite's size when rerunning a subset, so its rows combine with a whole-suite run")
    p.add_argument("--combine", type=Path, nargs="+", default=None, metavar="FILE.json",
                   help="run nothing: combine JSON reports of earlier calibrations over disjoint seed ranges "
                        "(same claims, budget and rate) into one table and report")
    p.add_argument("--rate", type=_rate, default=DEFAULT_RATE, metavar="R",
                   help=f"family-wise false-alarm rate of each seed's run (default {DEFAULT_RATE:g})")
    sweep_opts(p, "claim runs")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("figures", help="draw the papers' figures",
                       description="Draw the papers' figures (theory lines, simulation points) into a folder.")
    p.add_argument("patterns", nargs="*", metavar="PATTERN", help="figure name glob or prefix (e.g. a paper key)")
    budget_opt(p)
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default figures/out, created if needed)")
    p.add_argument("--seed", type=_seed, default=None, metavar="N",
                   help="integer seed in [0, 2**63 - 1], for figure scripts that take one")
    sweep_opts(p, "figure scripts")
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("explore", help="sweep parameters: theory against simulation",
                       description="Sweep a topic's parameters over the Cartesian product of the given values "
                                   "and print theory against simulation. Topics: "
                                   + "; ".join(f"{t.name}: " + ", ".join(f"{q.name}={q.show(q.default)} ({q.allowed})"
                                                                         for q in t.params)
                                               for t in TOPICS.values()))
    p.add_argument("topic", metavar="TOPIC", help="one of " + ", ".join(sorted(TOPICS)))
    p.add_argument("params", nargs="*", metavar="name=v1,v2,...", help="parameter values to sweep")
    budget_opt(p)
    p.add_argument("--seed", type=_seed, default=None, metavar="N",
                   help=f"integer seed in [0, 2**63 - 1] (default {DEFAULT_SEED})")
    sweep_opts(p, "grid points")
    p.set_defaults(func=cmd_explore)

    p = sub.add_parser("cache", help="show or clear the simulation cache",
                       description="Show or clear the on-disk simulation cache ($THEORYCHECK_CACHE).")
    p.add_argument("action", choices=("info", "clear"), help="info or clear")
    p.set_defaults(func=cmd_cache)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that cleanup runs: temporary files removed, sweep workers stopped."""


def _on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second SIGTERM must not break the cleanup
    raise Terminated


def main(argv=None) -> int:
    """The command line; SIGTERM is handled like Ctrl-C (one line, exit 143) for the duration of the call."""
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(argv)
    except Terminated:  # arrived outside the command (while parsing, or while reporting an error)
        print(f"{PROG}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error already printed (2)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help()
        return _usage_exit("a command is required: list, verify, figures, explore or cache")
    try:
        return args.func(args)
    except (UsageError, ValueError, TypeError) as exc:
        if _debug():
            traceback.print_exc()
        return _usage_exit(exc)
    except Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except WorkerLost as exc:  # a sweep worker was killed from outside (SIGKILL, out of memory)
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `theorycheck list | head`
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
