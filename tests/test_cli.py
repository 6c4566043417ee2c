"""The command line, run in-process: outputs, reports, and one-line usage errors (exit 2)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import figures
from paper_checks import claims, cli

REPO = Path(__file__).resolve().parents[1]
REAL_CLAIM = "borup2021/closed-form-equals-iteration"


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("THEORYCHECK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("THEORYCHECK_DEBUG", raising=False)


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(code, err):
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines()]
    assert len(lines) == 1, err
    assert lines[0].startswith("theorycheck: error: ") and len(lines[0]) > len("theorycheck: error: ")


# --------------------------------------------------------------------------- fakes

FAKE_PAPER = claims.Paper(key="zzfake", authors="A. Author, B. Author", title="A fake paper", venue="Nowhere",
                          year=2001, arxiv="0000.00000")


def _evidence(agrees: bool, rival_rejected: bool, n: int = 1) -> claims.Evidence:
    obs = np.linspace(1.0, 2.0, n)
    return claims.Evidence(
        observed=obs, predicted=obs + (0.0 if agrees else 1.0), tolerance=np.full(n, 0.1),
        statistic=0.5 if agrees else 10.0, threshold=1.0, test="fp", agrees=agrees, rival="a rival | with a pipe",
        rival_prediction=obs + 5.0, rival_statistic=float("inf"), rival_rejected=rival_rejected,
        sample_sizes={"n": np.int64(n)}, note="a note", detail="a detail")


@pytest.fixture
def fake_claims(monkeypatch):
    """Register zzfake/ok (pass), zzfake/weak (no power), zzfake/wrong (fail), zzfake/crash (raises)."""
    claims.load_all()
    specs = {
        "zzfake/ok": lambda budget, seed: _evidence(True, True, n=3),
        "zzfake/weak": lambda budget, seed: _evidence(True, False),
        "zzfake/wrong": lambda budget, seed: _evidence(False, True, n=4),
        "zzfake/crash": lambda budget, seed: (_ for _ in ()).throw(RuntimeError("boom")),
    }
    for cid, fn in specs.items():
        monkeypatch.setitem(claims.REGISTRY, cid, claims.Claim(id=cid, paper=FAKE_PAPER, where="Eq. (1)",
                                                              statement=f"statement of {cid}", check=fn))
    return specs


@pytest.fixture
def fake_figure(monkeypatch, tmp_path):
    """A figure script ``figures/zzfake_plot.py`` that writes one file."""
    folder = tmp_path / "figmods"
    folder.mkdir()
    (folder / "zzfake_plot.py").write_text(
        "from pathlib import Path\n"
        "def make(budget, out_dir):\n"
        "    p = Path(out_dir) / f'zzfake_plot_{budget.value}.txt'\n"
        "    p.write_text('ok')\n"
        "    return [p]\n")
    (folder / "_zzprivate.py").write_text("raise RuntimeError('private modules are not figures')\n")
    monkeypatch.setattr(figures, "__path__", [*figures.__path__, str(folder)])
    monkeypatch.delitem(sys.modules, "figures.zzfake_plot", raising=False)
    yield folder
    sys.modules.pop("figures.zzfake_plot", None)


# --------------------------------------------------------------------------- list

def test_list_shows_every_claim(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0
    ids = sorted(claims.load_all())
    for cid in ids:
        assert cid in out
    assert any(i.startswith("borup2021/") for i in ids) and any(i.startswith("mobahi2020/") for i in ids)


def test_list_pattern_selects(capsys):
    code, out, _ = run(capsys, "list", "mobahi2020")
    assert code == 0
    assert "mobahi2020/" in out and "borup2021/" not in out


def test_list_markdown(capsys):
    code, out, _ = run(capsys, "list", "--markdown")
    assert code == 0
    reg = claims.load_all()
    for cid, c in reg.items():
        assert f"`{cid}`" in out
        assert c.paper.url in out
    assert "| Claim | Where | Statement | Finding |" in out
    assert "| Paper | Authors | Title | Venue | Year | arXiv |" in out


def test_list_markdown_fake_claims_escape_and_group(capsys, fake_claims):
    code, out, _ = run(capsys, "list", "zzfake", "--markdown")
    assert code == 0
    assert out.count("| Claim | Where | Statement | Finding |") == 1
    for cid in fake_claims:
        assert f"`{cid}`" in out
    assert "https://arxiv.org/abs/0000.00000" in out


# --------------------------------------------------------------------------- usage errors

BAD_ARGS = [
    ["frobnicate"],
    ["list", "--frobnicate"],
    ["list", "no-such-paper/*"],
    ["verify", "no-such-paper"],
    ["verify", "--seed", "-1"],
    ["verify", "--seed", "1.5"],
    ["verify", "--seed", "abc"],
    ["verify", "--seed", str(2**63)],
    ["verify", "--seed"],
    ["verify", "--budget", "medium"],
    ["verify", "--rate", "0"],
    ["verify", "--rate", "1"],
    ["verify", "--rate", "nan"],
    ["verify", "--rate", "x"],
    ["verify", "--report", "report.txt"],
    ["verify", "--report", "report"],
    ["verify", "--report", ""],
    ["figures", "no-such-figure"],
    ["figures", "--budget", "huge"],
    ["figures", "--seed", "-3"],
    ["explore"],
    ["explore", "no_such_topic"],
    ["explore", "self_distillation", "alpha"],
    ["explore", "self_distillation", "alpha="],
    ["explore", "self_distillation", "alpha=0.1,,0.2"],
    ["explore", "self_distillation", "=0.1"],
    ["explore", "self_distillation", "temperature=1"],
    ["explore", "self_distillation", "alpha=abc"],
    ["explore", "self_distillation", "alpha=nan"],
    ["explore", "self_distillation", "ridge=0"],
    ["explore", "self_distillation", "ridge=-1"],
    ["explore", "self_distillation", "step=-1"],
    ["explore", "self_distillation", "step=1.5"],
    ["explore", "self_distillation", "noise=-0.1"],
    ["explore", "self_distillation", "n=1"],
    ["explore", "self_distillation", "gamma=0"],
    ["explore", "self_distillation", "design=random"],
    ["explore", "self_distillation", "alpha=0.1", "alpha=0.2"],
    ["explore", "self_distillation", "--seed", "x"],
    ["explore", "self_distillation", "--budget", "slow"],
    ["explore", "neural_collapse", "sizes=8"],
    ["explore", "neural_collapse", "sizes=8-0-4"],
    ["explore", "neural_collapse", "sizes=8--4"],
    ["explore", "neural_collapse", "sizes=a-b"],
    ["explore", "neural_collapse", "sizes=8.5-4"],
    ["explore", "neural_collapse", "sizes=4-4,8"],
    ["explore", "neural_collapse", "depth=0"],
    ["explore", "neural_collapse", "weight_decay=0"],
    ["explore", "neural_collapse", "feature_decay=-1"],
    ["explore", "neural_collapse", "loss=hinge"],
    ["explore", "neural_collapse", "bias=yes"],
    ["explore", "neural_collapse", "width=1"],
    ["explore", "neural_collapse", "sizes=2-2-2-2", "width=3"],
    ["explore", "martingale_td", "problem=GBM"],
    ["explore", "martingale_td", "family=both"],
    ["explore", "martingale_td", "problem=OU", "family=contains"],
    ["explore", "martingale_td", "method=sarsa"],
    ["explore", "martingale_td", "steps=0"],
    ["explore", "martingale_td", "steps=2.5"],
    ["explore", "martingale_td", "lam=0"],
    ["explore", "martingale_td", "lam=1"],
    ["explore", "martingale_td", "lam=abc"],
    ["explore", "random_features", "n=0"],
    ["explore", "random_features", "n=2.5"],
    ["explore", "random_features", "features=0"],
    ["explore", "random_features", "features=-inf"],
    ["explore", "random_features", "ridge=-1"],
    ["explore", "random_features", "ridge=best"],
    ["explore", "random_features", "noise=-0.1"],
    ["explore", "random_features", "alpha=0"],
    ["explore", "random_features", "beta=nan"],
    ["explore", "random_features", "modes=0"],
    ["explore", "random_features", "ridge=0", "n=64", "features=64"],
    ["cache"],
    ["cache", "wipe"],
]


@pytest.mark.parametrize("argv", BAD_ARGS, ids=lambda a: " ".join(a) or "empty")
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert_usage_error(code, err)


def test_error_messages_say_what_is_allowed(capsys):
    _, _, err = run(capsys, "explore", "self_distillation", "temperature=1")
    assert "alpha" in err and "design" in err
    _, _, err = run(capsys, "explore", "self_distillation", "ridge=0")
    assert "ridge" in err and "> 0" in err
    _, _, err = run(capsys, "verify", "--seed", "-1")
    assert "2**63 - 1" in err
    _, _, err = run(capsys, "figures", "no-such-figure")
    assert "borup2021" in err or "no figure scripts" in err


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, err = run(capsys)
    assert_usage_error(code, err)
    assert "verify" in out and "explore" in out


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "verify" in out


def test_python_dash_m_help():
    proc = subprocess.run([sys.executable, "-m", "paper_checks", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "usage: theorycheck" in proc.stdout


def test_python_dash_m_usage_error():
    proc = subprocess.run([sys.executable, "-m", "paper_checks", "verify", "--seed", "x"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_keyboard_interrupt_exits_130(capsys, monkeypatch):
    def interrupted(point, budget, seed):
        raise KeyboardInterrupt

    topic = cli.TOPICS["self_distillation"]
    monkeypatch.setitem(cli.TOPICS, "self_distillation", dataclasses.replace(topic, compute=interrupted))
    code, _, err = run(capsys, "explore", "self_distillation")
    assert code == 130
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "theorycheck: interrupted"


# --------------------------------------------------------------------------- verify reports

def _unwritable_reports(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir.md").mkdir()
    return [tmp_path / "missing_dir" / "r.md", tmp_path / "missing_dir" / "r.json",
            tmp_path / "a_file" / "r.md", tmp_path / "a_dir.md"]


def test_unwritable_report_is_a_usage_error_before_running(capsys, tmp_path, fake_claims, monkeypatch):
    ran = []
    monkeypatch.setattr(claims, "run_claims", lambda *a, **k: ran.append(1) or [])
    reports = _unwritable_reports(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for report in reports:
        code, out, err = run(capsys, "verify", "zzfake/ok", "--report", str(report))
        assert_usage_error(code, err)
        assert "report" in err
        assert out == ""
    assert ran == []
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "missing_dir").exists()


def test_bad_report_extension_creates_nothing(capsys, tmp_path):
    code, _, err = run(capsys, "verify", REAL_CLAIM, "--report", str(tmp_path / "r.csv"))
    assert_usage_error(code, err)
    assert ".md" in err and ".json" in err
    assert list(tmp_path.glob("r*")) == []


def _strict_json(text):
    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


def test_verify_real_claim_json_and_markdown_reports(capsys, tmp_path):
    jpath, mpath = tmp_path / "r.json", tmp_path / "r.md"
    code, out, err = run(capsys, "verify", REAL_CLAIM, "--budget", "quick", "--seed", "7", "--report", str(jpath))
    assert code in (0, 1)
    assert REAL_CLAIM in out
    assert f"[1/1] {REAL_CLAIM}" in err
    doc = _strict_json(jpath.read_text())
    assert doc["budget"] == "quick" and doc["seed"] == 7 and doc["rate"] == pytest.approx(1e-4)
    [entry] = doc["claims"]
    assert entry["id"] == REAL_CLAIM and entry["paper"] == "borup2021"
    assert {"where", "statement", "evidence"} <= set(entry)
    ev = entry["evidence"]
    for key in ("observed", "predicted", "tolerance", "statistic", "threshold", "test", "agrees", "rival",
                "rival_prediction", "rival_statistic", "rival_rejected", "verdict", "sample_sizes", "seed"):
        assert key in ev
    assert ev["seed"] == 7
    assert code == (0 if ev["verdict"] == "pass" else 1)

    code2, _, _ = run(capsys, "verify", REAL_CLAIM, "--seed", "7", "--rate", "0.01", "--report", str(mpath))
    assert code2 == code
    md = mpath.read_text()
    assert REAL_CLAIM in md and "budget: quick" in md and "seed: 7" in md and "0.01" in md
    assert "| Claim |" in md
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["r.json", "r.md"]  # no temp files


def test_verify_exit_codes_and_verdicts(capsys, tmp_path, fake_claims):
    code, out, err = run(capsys, "verify", "zzfake/ok")
    assert code == 0 and "pass" in out

    jpath = tmp_path / "all.json"
    code, out, err = run(capsys, "verify", "zzfake", "--report", str(jpath))
    assert code == 1
    for cid in fake_claims:
        assert cid in out and cid in err  # row on stdout, progress line on stderr
    assert "NOT rejected" in out and "no power" in out and "fail" in out and "RuntimeError: boom" in out
    assert "Traceback" not in err
    doc = _strict_json(jpath.read_text())
    verdicts = {c["id"]: c["verdict"] for c in doc["claims"]}
    assert verdicts == {"zzfake/crash": "error", "zzfake/ok": "pass", "zzfake/weak": "no power",
                        "zzfake/wrong": "fail"}
    assert doc["totals"] == {"pass": 1, "fail": 1, "no power": 1, "error": 1}
    ok = next(c for c in doc["claims"] if c["id"] == "zzfake/ok")
    assert ok["evidence"]["rival_statistic"] == "inf"  # non-finite floats are strings, the JSON stays strict

    mpath = tmp_path / "all.md"
    assert run(capsys, "verify", "zzfake", "--report", str(mpath))[0] == 1
    md = mpath.read_text()
    assert "a rival \\| with a pipe" in md  # pipes escaped inside the table
    assert "1 pass, 1 fail, 1 no power, 1 error" in md


def test_verify_splits_the_rate_over_the_selection(capsys, monkeypatch, fake_claims):
    seen = []
    real = claims.run_claims

    def spy(cs, budget, seed, rate, family_size=None, on_done=None):
        seen.append((rate, family_size))
        return real(cs, budget, seed, rate=rate, family_size=family_size, on_done=on_done)

    monkeypatch.setattr(claims, "run_claims", spy)
    run(capsys, "verify", "zzfake/ok", "zzfake/weak", "--rate", "0.002")
    assert seen == [(0.002, 2), (0.002, 2)]


def test_report_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "r.md"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(cli.os, "replace", broken_replace)
    with pytest.raises(OSError):
        cli._atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md"]


# --------------------------------------------------------------------------- summaries

def test_summaries():
    assert cli.summarize_pair([0.123456], [0.1234]) == "0.1235 vs 0.1234"
    assert cli.summarize_pair(np.zeros(12), np.full(12, 1.2e-3)) == "max|obs-pred| = 0.0012 over 12"
    assert cli.summarize_tolerance(0.5) == "0.5"
    assert cli.summarize_tolerance(np.array([1e-3, 2e-3])) == "0.001 .. 0.002 over 2"
    assert cli.summarize_statistic(1.0, 4.0) == "1 <= 4"
    assert cli.summarize_statistic(float("inf"), 4.0) == "inf > 4"


# --------------------------------------------------------------------------- explore

def test_explore_is_deterministic_per_seed(capsys):
    argv = ["explore", "self_distillation", "alpha=0.25,1.5", "step=1", "n=5", "--budget", "quick"]
    code1, out1, _ = run(capsys, *argv, "--seed", "1")
    code2, out2, _ = run(capsys, *argv, "--seed", "1")
    code3, out3, _ = run(capsys, *argv, "--seed", "2")
    assert code1 == code2 == code3 == 0
    assert out1 == out2
    assert out1 != out3
    assert "theory" in out1 and "simulation" in out1 and "z" in out1
    assert out1.count("0.25") >= 1 and out1.count("1.5") >= 1


def test_explore_neural_collapse_is_deterministic_per_seed(capsys):
    argv = ["explore", "neural_collapse", "sizes=3-2,2-2", "depth=1", "bias=false,true", "--budget", "quick"]
    code1, out1, _ = run(capsys, *argv, "--seed", "1")
    code2, out2, _ = run(capsys, *argv, "--seed", "1")
    assert code1 == code2 == 0
    assert out1 == out2
    for text in ("theory min", "trained ± se", "Gram diag theory", "Gram diag trained", "collapsed", "3-2", "2-2"):
        assert text in out1
    # imbalanced data with a bias: the theory does not cover it; the message is a footnote, not a failure
    assert "n/a [1]" in out1 and "[1] bias=True is derived for balanced class_sizes only" in out1
    assert "Traceback" not in out1


def test_explore_neural_collapse_bad_sizes_one_line(capsys):
    code, _, err = run(capsys, "explore", "neural_collapse", "sizes=8")
    assert_usage_error(code, err)
    assert "sizes" in err and "dash-separated" in err and "at least 2 classes" in err
    code, _, err = run(capsys, "explore", "neural_collapse", "sizes=2-2-2", "width=2")
    assert_usage_error(code, err)
    assert "width" in err and "3 classes" in err


def test_explore_neural_collapse_agrees_with_theory():
    topic = cli.TOPICS["neural_collapse"]
    point = {p.name: p.default for p in topic.params}
    point.update(sizes=(4, 2), depth=2)
    res = topic.compute(point, claims.Budget.QUICK, 0)
    assert not isinstance(res.theory, str)
    assert np.allclose(res.objective, res.theory.objective, rtol=1e-9)
    assert np.allclose(res.gram_diag, np.diag(res.theory.classifier_gram), rtol=1e-6)
    cells = topic.cells(res, lambda text: "[x]")
    assert len(cells) == len(topic.columns) and cells[-1] == "none | none"


@pytest.mark.parametrize("design", ["grid", "uniform"])
def test_explore_theory_matches_simulation(design):
    topic = cli.TOPICS["self_distillation"]
    point = {p.name: p.default for p in topic.params}
    point.update(n=6, step=2, design=design)
    theory, sim, se = topic.compute(point, claims.Budget.QUICK, 3)
    assert se > 0 and math.isfinite(theory)
    assert abs(sim - theory) / se < 6.0  # fixed seed: a deterministic check


# --------------------------------------------------------------------------- figures

def test_figures_error_paths(capsys, tmp_path):
    code, _, err = run(capsys, "figures", "no-such-figure", "--out", str(tmp_path / "out"))
    assert_usage_error(code, err)
    assert not (tmp_path / "out").exists()

    (tmp_path / "a_file").write_text("x")
    for out in (tmp_path / "a_file", tmp_path / "a_file" / "sub"):
        code, _, err = run(capsys, "figures", "--out", str(out))
        assert_usage_error(code, err)
        assert "--out" in err


def test_figures_runs_a_script_and_prints_paths(capsys, tmp_path, monkeypatch, fake_figure):
    monkeypatch.chdir(tmp_path)
    assert "zzfake_plot" in cli.figure_modules()
    assert "_zzprivate" not in cli.figure_modules()
    code, out, err = run(capsys, "figures", "zzfake")
    assert code == 0
    written = tmp_path / "figures" / "out" / "zzfake_plot_quick.txt"
    assert written.read_text() == "ok"
    assert out.strip() == str(Path("figures") / "out" / "zzfake_plot_quick.txt")
    assert "[1/1] zzfake_plot ok" in err

    code, out, _ = run(capsys, "figures", "zzfake_*", "--budget", "full", "--out", str(tmp_path / "o" / "p"))
    assert code == 0 and (tmp_path / "o" / "p" / "zzfake_plot_full.txt").exists()


def test_figures_script_crash_exits_1(capsys, tmp_path, fake_figure):
    (fake_figure / "zzfake_broken.py").write_text("def make(budget, out_dir):\n    raise RuntimeError('bad')\n")
    try:
        code, _, err = run(capsys, "figures", "zzfake_broken", "--out", str(tmp_path / "out"))
    finally:
        sys.modules.pop("figures.zzfake_broken", None)
    assert code == 1
    assert "zzfake_broken" in err and "RuntimeError: bad" in err and "Traceback" not in err


# --------------------------------------------------------------------------- cache

def test_cache_info_and_clear(capsys, tmp_path):
    run(capsys, "explore", "self_distillation", "n=4", "step=0", "--budget", "quick")
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and str(tmp_path / "cache") in out and "entries: 1" in out
    code, out, _ = run(capsys, "cache", "clear")
    assert code == 0 and "removed 1" in out
    code, out, _ = run(capsys, "cache", "info")
    assert "entries: 0" in out


def test_cache_disabled(capsys, monkeypatch):
    monkeypatch.setenv("THEORYCHECK_CACHE", "off")
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and "disabled" in out


def test_explore_martingale_td_is_deterministic_per_seed(capsys):
    argv = ["explore", "martingale_td", "problem=BM_TERMINAL,BM_RUNNING", "method=ml,lstd", "steps=4",
            "--budget", "quick"]
    code1, out1, _ = run(capsys, *argv, "--seed", "1")
    code2, out2, _ = run(capsys, *argv, "--seed", "1")
    code3, out3, _ = run(capsys, *argv, "--seed", "2")
    assert code1 == code2 == code3 == 0
    assert out1 == out2
    assert out1 != out3
    for text in ("theory θ (exact K-step)", "simulation ± se", "max |z|", "1, x^2", "BM_RUNNING", "100000 paths"):
        assert text in out1
    assert "Traceback" not in out1


def test_explore_martingale_td_singular_case_is_a_footnote(capsys):
    code, out, _ = run(capsys, "explore", "martingale_td", "method=mstd", "steps=1", "--budget", "quick")
    assert code == 0
    assert "n/a [1]" in out and "[1] method 'mstd' (1-step)" in out and "Traceback" not in out


def test_explore_martingale_td_bad_values_one_line(capsys):
    code, _, err = run(capsys, "explore", "martingale_td", "problem=OU", "family=contains")
    assert_usage_error(code, err)
    assert "family must be one of misses for problem=OU" in err
    code, _, err = run(capsys, "explore", "martingale_td", "lam=1.5")
    assert_usage_error(code, err)
    assert "lam must be a number in (0, 1)" in err


def test_explore_random_features_is_deterministic_per_seed_and_agrees(capsys):
    argv = ["explore", "random_features", "features=32,inf", "ridge=opt,0.1", "modes=100", "--budget", "quick"]
    code1, out1, _ = run(capsys, *argv, "--seed", "1")
    code2, out2, _ = run(capsys, *argv, "--seed", "1")
    code3, out3, _ = run(capsys, *argv, "--seed", "2")
    assert code1 == code2 == code3 == 0
    assert out1 == out2 and out1 != out3
    for text in ("theory risk", "simulation ± se", "ridge δ", "400 draws", "inf", "opt"):
        assert text in out1
    assert "Traceback" not in out1
