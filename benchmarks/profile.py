"""Where the quick suite's time goes: ``theorycheck verify`` and ``theorycheck figures``, cold then warm.

Each command runs in a fresh process with a fresh, empty simulation cache (cold: every
simulation computed; numba's own cache as it is), then again in another fresh process
with that cache warm.  The per-claim times come from the verify report's ``runtime_s``.
Rows: verify cold against warm, the slowest claims (cold) with their share of the total,
the time per paper, and figures first against second run.  With ``--quick`` (what the
tests run) only a small selection runs; the full mode runs the whole quick-budget suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import _timing

QUICK_CLAIMS = ["simon2024/kernel-limit", "mobahi2020/sparsification"]
QUICK_FIGURES = ["simon2024_optimal_ridge_phase"]


def _run(argv: list[str], cache: str) -> float:
    env = dict(os.environ, THEORYCHECK_CACHE=cache, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_timing.REPO), env.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "paper_checks", *argv], cwd=_timing.REPO, env=env,
                          capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"'theorycheck {' '.join(argv[:2])}' failed (exit {proc.returncode}): {tail[0]}")
    return seconds


def verify_rows(quick: bool) -> list[dict]:
    patterns = QUICK_CLAIMS if quick else []
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        cache, report = str(Path(tmp) / "cache"), Path(tmp) / "cold.json"
        cold = _run(["verify", *patterns, "--budget", "quick", "--report", str(report)], cache)
        warm = _run(["verify", *patterns, "--budget", "quick"], cache)
        doc = json.loads(report.read_text())
    claims = [(c["id"], float(c["evidence"]["runtime_s"]) if c.get("evidence") else 0.0) for c in doc["claims"]]
    total = sum(s for _, s in claims) or float("nan")
    passed = doc["totals"].get("pass", 0)
    slowest = sorted(claims, key=lambda c: -c[1])[:5]
    papers: dict[str, float] = {}
    for cid, s in claims:
        papers[cid.split("/")[0]] = papers.get(cid.split("/")[0], 0.0) + s
    what = f"{len(claims)} claims" + (" (a quick selection)" if quick else " (the whole quick suite)")
    return [
        dict(id="profile/verify-cold-vs-warm", benchmark=f"theorycheck verify, {what}",
             baseline=f"cold cache {_timing.duration(cold)}", candidate=f"warm cache {_timing.duration(warm)}",
             ratio=cold / warm, note=f"fresh process each (imports included); {passed}/{len(claims)} pass",
             baseline_s=cold, candidate_s=warm),
        dict(id="profile/slowest-claims", benchmark="slowest claims, cold (their own run time)",
             baseline=f"all claims {_timing.duration(total)}", candidate=f"slowest 5 {_timing.duration(sum(s for _, s in slowest))}",
             ratio=total / max(sum(s for _, s in slowest), 1e-9),
             note="; ".join(f"{cid} {s:.1f} s ({s / total:.0%})" for cid, s in slowest),
             baseline_s=total, candidate_s=sum(s for _, s in slowest), claims=dict(claims)),
        dict(id="profile/time-per-paper", benchmark="claim time per paper, cold",
             baseline=f"all {_timing.duration(total)}",
             candidate=f"largest {max(papers, key=papers.get)} {_timing.duration(max(papers.values()))}",
             ratio=total / max(max(papers.values()), 1e-9),
             note="; ".join(f"{p} {s:.1f} s" for p, s in sorted(papers.items(), key=lambda kv: -kv[1])),
             baseline_s=total, candidate_s=max(papers.values()), papers=papers),
    ]


def figures_row(quick: bool) -> dict:
    patterns = QUICK_FIGURES if quick else []
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        cache = str(Path(tmp) / "cache")
        first = _run(["figures", *patterns, "--out", str(Path(tmp) / "a")], cache)
        second = _run(["figures", *patterns, "--out", str(Path(tmp) / "b")], cache)
        n = len(list((Path(tmp) / "a").glob("*.png")))
    return dict(id="profile/figures-first-vs-second", benchmark=f"theorycheck figures, {n} PNGs",
                baseline=f"first {_timing.duration(first)}", candidate=f"second {_timing.duration(second)}",
                ratio=first / second, note="fresh process each; the second run is served by the figure memo; target 20x",
                baseline_s=first, candidate_s=second)


def rows(quick: bool) -> list[dict]:
    _timing.say("profile: theorycheck verify cold, then warm (subprocesses)")
    out = verify_rows(quick)
    _timing.say("profile: theorycheck figures first, then second (subprocesses)")
    out.append(figures_row(quick))
    return out
