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
