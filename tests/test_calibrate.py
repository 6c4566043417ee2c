"""theorycheck calibrate: false-alarm rates and power over seeds; a planted wrong theory is caught."""

import json

import pytest

from paper_checks import cli
from theory import random_features as rft


def _cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_small_calibration_of_every_claim(capsys, tmp_path):
    """What CI runs: every claim at two seeds, on two workers; all hold, every rival rejected."""
    report = tmp_path / "cal.json"
    code, out, err = _cli(capsys, "calibrate", "--seeds", "2", "--workers", "2", "--report", str(report))
    doc = json.loads(report.read_text())
    bad = [(r["id"], r["status"], r["errors"]) for r in doc["claims"] if r["status"] != "ok"]
    assert code == 0, bad
    from paper_checks import claims

    assert len(doc["claims"]) == len(claims.load_all())
    for r in doc["claims"]:
        assert r["seeds"] == 2 and r["false_alarms"] == 0 and r["power"] == 1.0
        lo, hi = r["false_alarm_interval"]
        assert lo == 0.0 and 0 < hi < 1


def test_a_wrong_theory_shows_up_as_false_alarms(capsys, monkeypatch):
    real = rft.test_risk
    monkeypatch.setattr(rft, "test_risk", lambda lam, v, s2, n, N, d, multiplicities=None:
                        real(lam, v, s2, n, float("inf"), d, multiplicities))
    # in this process (the monkeypatch does not reach worker processes)
    code, out, _ = _cli(capsys, "calibrate", "simon2024/rf-risk-matches-monte-carlo", "--seeds", "2")
    assert code == 1
    assert "false alarms" in out and "2/2" in out


def test_markdown_report_and_intervals(capsys, tmp_path):
    report = tmp_path / "cal.md"
    code, _, _ = _cli(capsys, "calibrate", "mobahi2020/sparsification", "--seeds", "3", "--first-seed", "5",
                      "--report", str(report))
    text = report.read_text()
    assert code == 0
    assert "seeds 5..7 (3 per claim)" in text and "| `mobahi2020/sparsification` | 0/3 |" in text
    # the exact (Clopper-Pearson) 95% upper bound for 0 of 3 is 1 - 0.025^(1/3)
    assert f"{1 - 0.025 ** (1 / 3):.3g}" in text


@pytest.mark.parametrize("argv", [
    ["calibrate", "--seeds", "0"],
    ["calibrate", "--seeds", "x"],
    ["calibrate", "--first-seed", "-1"],
    ["calibrate", "no-such-paper"],
    ["calibrate", "--rate", "2"],
    ["calibrate", "--workers", "0"],
])
def test_bad_calibrate_arguments(capsys, argv):
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


def test_combined_chunks_equal_one_run_over_their_union(capsys, tmp_path):
    """Calibrations over disjoint seed ranges combine into exactly the run over all the seeds."""
    claim = "mobahi2020/sparsification"
    parts = []
    for first, n in ((0, 2), (2, 1)):
        path = tmp_path / f"part{first}.json"
        assert _cli(capsys, "calibrate", claim, "--seeds", str(n), "--first-seed", str(first),
                    "--report", str(path))[0] == 0
        parts.append(str(path))
    whole = tmp_path / "whole.json"
    assert _cli(capsys, "calibrate", claim, "--seeds", "3", "--report", str(whole))[0] == 0
    combined = tmp_path / "combined.json"
    code, out, _ = _cli(capsys, "calibrate", "--combine", *parts, "--report", str(combined))
    assert code == 0 and claim in out
    a, b = json.loads(combined.read_text()), json.loads(whole.read_text())
    assert a["seed_ranges"] == b["seed_ranges"] == [[0, 2]]  # adjacent ranges read as one
    assert a["claims"] == b["claims"]


def test_combine_refuses_overlapping_or_mismatched_runs(capsys, tmp_path):
    claim = "mobahi2020/sparsification"
    one, two, other_rate = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    _cli(capsys, "calibrate", claim, "--seeds", "2", "--report", str(one))
    _cli(capsys, "calibrate", claim, "--seeds", "2", "--first-seed", "1", "--report", str(two))
    _cli(capsys, "calibrate", claim, "--seeds", "1", "--first-seed", "5", "--rate", "0.01", "--report", str(other_rate))
    (tmp_path / "junk.json").write_text("{not json")
    for argv, word in ((["--combine", str(one), str(two)], "overlap"),
                       (["--combine", str(one), str(other_rate)], "rate"),
                       (["--combine", str(tmp_path / "junk.json")], "not JSON"),
                       (["--combine", str(tmp_path / "missing.json")], "cannot read"),
                       (["--combine", str(one), "--workers", "2"], "runs nothing")):
        code, _, err = _cli(capsys, "calibrate", *argv)
        assert code == 2 and err.count("\n") == 1 and word in err and "--combine" in err, err


def test_a_rival_that_survives_names_its_seeds(capsys, tmp_path, monkeypatch):
    """An underpowered claim is reported, with the seeds in which its rival survived."""
    from paper_checks import stats

    real = stats.z_agreement
    # the rival replaced by the theory's own prediction: it can never be rejected
    monkeypatch.setattr(stats, "z_agreement", lambda est, se, pred, rival, **k: real(est, se, pred, pred, **k))
    report = tmp_path / "cal.md"
    code, out, _ = _cli(capsys, "calibrate", "simon2024/rf-risk-matches-monte-carlo", "--seeds", "2",
                        "--report", str(report))
    text = report.read_text()
    assert code == 1 and "underpowered" in out
    assert "rival survived 0, 1" in text and "power: every rival rejected in at least 0.0% of seeds" in text


def test_a_rerun_subset_with_the_suites_family_joins_claim_by_claim(capsys, tmp_path):
    """Rerun one claim over the same seeds with --family = the size of the first run: its rows replace nothing,
    they join per claim; a subset run at its own (looser) per-claim rate is refused."""
    a, b = "mobahi2020/sparsification", "mobahi2020/collapse-round"
    both, sub, sub_loose = tmp_path / "both.json", tmp_path / "sub.json", tmp_path / "loose.json"
    assert _cli(capsys, "calibrate", a, b, "--seeds", "2", "--report", str(both))[0] == 0
    assert _cli(capsys, "calibrate", b, "--seeds", "1", "--first-seed", "2", "--family", "2",
                "--report", str(sub))[0] == 0
    assert _cli(capsys, "calibrate", b, "--seeds", "1", "--first-seed", "3", "--report", str(sub_loose))[0] == 0
    out = tmp_path / "joined.json"
    assert _cli(capsys, "calibrate", "--combine", str(both), str(sub), "--report", str(out))[0] == 0
    rows = {r["id"]: r for r in json.loads(out.read_text())["claims"]}
    assert rows[a]["seeds"] == 2 and rows[b]["seeds"] == 3
    assert json.loads(out.read_text())["seed_ranges"] is None
    code, _, err = _cli(capsys, "calibrate", "--combine", str(both), str(sub_loose))
    assert code == 2 and "--family" in err and err.count("\n") == 1
    code, _, err = _cli(capsys, "calibrate", a, b, "--seeds", "1", "--family", "1")
    assert code == 2 and "--family" in err and err.count("\n") == 1


def test_the_readme_shows_the_latest_calibration():
    """The README's calibration summary is the summary of docs/calibration.md, whose JSON twin names only
    registered claims and agrees with it row by row."""
    from pathlib import Path

    from paper_checks import claims

    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    block = readme.split("<!-- calibration-summary -->\n", 1)[1].split("<!-- /calibration-summary -->", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    md = (repo / "docs" / "calibration.md").read_text()
    assert lines and all(line in md.splitlines() for line in lines)
    doc = json.loads((repo / "docs" / "calibration.json").read_text())
    registered = claims.load_all()
    assert {r["id"] for r in doc["claims"]} <= set(registered)
    for r in doc["claims"]:
        assert f"| `{r['id']}` | {r['false_alarms']}/{r['seeds']} |" in md


def test_the_suite_line_counts_only_seeds_that_every_claim_ran():
    """A whole-suite run is one seed of every claim: with claims joined over different seed ranges, the suite line
    counts the seeds common to all of them (here 0..1), not the first claim's count."""
    from paper_checks.stats import clopper_pearson

    def cal(ranges, alarms):
        seeds = sum(b - a + 1 for a, b in ranges)
        return cli._Calibration("c", seeds, len(alarms), 0, 1e-6, 0.95, (), tuple(alarms), (), tuple(ranges))

    # claim B's alarm at seed 2 lies outside the common seeds; claim A's at seed 1 inside
    line = cli._suite_line([cal([(0, 1), (5, 5)], [1]), cal([(0, 2)], [2])], 1e-4)
    lo, hi = clopper_pearson(1, 2, 0.95)
    assert line == (f"- suite: 1 of 2 whole-suite runs had a false alarm (95% interval [{lo:.3g}, {hi:.3g}]; "
                    "designed family-wise rate 0.0001 per run, so 0.0002 expected in 2 runs)")
    # listed first, the three-seed claim no longer sets the count
    assert cli._suite_line([cal([(0, 2)], [2]), cal([(0, 1), (5, 5)], [1])], 1e-4) == line
    assert cli._suite_line([cal([(0, 1)], []), cal([(2, 3)], [])], 1e-4) == \
        "- suite: no seed was run by every claim, so no whole-suite runs"
    assert cli._suite_line([], 1e-4) == "- suite: no runs"
