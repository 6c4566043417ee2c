"""Bad input at the command line, drawn by hypothesis for every subcommand, option and explore parameter.

Each bad value must give exit status 2 and exactly one line on stderr,
``theorycheck: error: ...``, naming the option (or parameter) as the user wrote
it; no traceback, nothing run, nothing written: no report, no temporary file
beside it, no figure, and the simulation cache folder unchanged.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paper_checks import claims, cli

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])

HUGE = st.integers(min_value=10**12, max_value=10**40)
NONFINITE = st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity"])
JUNK = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8)


def _parses_int(text: str) -> int | None:
    try:
        return int(text.strip(), 10)
    except ValueError:
        return None


def _parses_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def not_an_int():
    """Text that is not a base-10 integer: fractions, exponents, words, empty, non-finite."""
    fractions = st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()).map(repr)
    return st.one_of(fractions, NONFINITE, st.sampled_from(["", " ", "1e3", "0x10", "2.0", "one", "1,2"]),
                     JUNK.filter(lambda t: _parses_int(t) is None))


def not_a_number():
    return st.one_of(st.sampled_from(["", " ", "x", "1,5", "0x1p3", "one"]),
                     JUNK.filter(lambda t: _parses_float(t) is None))


def int_below(low: int):
    return st.integers(max_value=low - 1).map(str)


def int_text(low: int, high: int | None = None):
    """Bad values for an integer option allowed in [low, high] (high None: no cap but huge sizes are bad)."""
    above = (st.integers(min_value=high + 1) if high is not None else HUGE).map(str)
    return st.one_of(not_an_int(), int_below(low), above)


def real_text(low=None, low_open=False, high=None, high_open=False):
    """Bad values for a real option: not numbers, non-finite, and numbers outside the range."""
    out = [not_a_number(), NONFINITE]
    if low is not None:
        out.append(st.floats(max_value=low, exclude_max=not low_open, allow_nan=False, allow_infinity=False)
                   .map(repr))
    if high is not None:
        out.append(st.floats(min_value=high, exclude_min=not high_open, allow_nan=False, allow_infinity=False)
                   .map(repr))
    return st.one_of(out)


def choice_text(choices):
    return st.one_of(st.sampled_from(["", " ", "none", "QUICK", "default"]), JUNK).filter(lambda t: t not in choices)


SEED = int_text(0, cli.MAX_SEED)
BUDGET = choice_text(("quick", "full")).filter(lambda t: t.lower() not in ("quick", "full"))
RATE = real_text(low=0.0, low_open=True, high=1.0, high_open=True)
WORKERS = int_text(1, cli.MAX_WORKERS)
SCHEDULER = st.one_of(st.sampled_from(["", "host:8786", "tcp://", "tcp:/host", "8786", "tcp://host:port",
                                       "tcp://host:99999", "tcp://:8786", "http//host"]),
                      JUNK.filter(lambda t: "://" not in t))


def report_names():
    """A report file name with a suffix other than .md or .json (or none)."""
    suffix = st.sampled_from(["", ".txt", ".csv", ".MD.bak", ".jsonl", ".mdx", ".", ".html"])
    stem = st.text(st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")), min_size=1, max_size=6)
    return st.builds(lambda s, x: s + x, stem, suffix)


# --------------------------------------------------------------------------- explore parameters, per kind

def sizes_text():
    """Bad class sizes: one class, zero or negative sizes, non-integers, empty parts, huge sizes."""
    part = st.integers(min_value=1, max_value=9).map(str)
    return st.one_of(
        part,  # a single class
        st.lists(st.integers(max_value=0), min_size=2, max_size=4).map(lambda v: "-".join(map(str, v))),
        st.lists(part, min_size=1, max_size=3).map(lambda v: "-".join(v + ["1.5"])),
        st.lists(part, min_size=1, max_size=3).map(lambda v: "-".join(v + [""])),
        st.lists(part, min_size=1, max_size=3).flatmap(lambda v: HUGE.map(lambda h: "-".join(v + [str(h)]))),
        st.sampled_from(["a-b", "8_8", "inf-8", "nan-2"]),
    )


#: every explore parameter: a strategy of bad values (text after ``name=``)
EXPLORE_BAD = {
    ("self_distillation", "alpha"): real_text(),
    ("self_distillation", "ridge"): real_text(low=0.0, low_open=True),
    ("self_distillation", "step"): int_text(0, cli.EXPLORE_MAX_STEP),
    ("self_distillation", "noise"): real_text(low=0.0),
    ("self_distillation", "n"): int_text(2, cli.EXPLORE_MAX_POINTS),
    ("self_distillation", "gamma"): real_text(low=0.0, low_open=True),
    ("self_distillation", "design"): choice_text(("grid", "uniform")),
    ("neural_collapse", "sizes"): sizes_text(),
    ("neural_collapse", "depth"): int_text(1, cli.EXPLORE_MAX_DEPTH),
    ("neural_collapse", "weight_decay"): real_text(low=0.0, low_open=True),
    ("neural_collapse", "feature_decay"): real_text(low=0.0, low_open=True),
    ("neural_collapse", "loss"): choice_text(("mse", "ce")),
    ("neural_collapse", "bias"): choice_text(("true", "false", "True", "FALSE", " true", "false ", "TRUE",
                                              "False")).filter(lambda t: t.strip().lower() not in ("true", "false")),
    ("neural_collapse", "width"): int_text(2, cli.EXPLORE_MAX_WIDTH),
    ("martingale_td", "problem"): choice_text(("BM_TERMINAL", "BM_RUNNING", "OU")),
    ("martingale_td", "family"): choice_text(("contains", "misses")),
    ("martingale_td", "method"): choice_text(cli.MT_METHODS),
    ("martingale_td", "steps"): int_text(1, cli.EXPLORE_MAX_STEPS),
    ("martingale_td", "lam"): real_text(low=0.0, low_open=True, high=1.0, high_open=True),
    ("random_features", "alpha"): real_text(low=0.0, low_open=True),
    ("random_features", "beta"): real_text(low=0.0, low_open=True),
    ("random_features", "noise"): real_text(low=0.0),
    ("random_features", "n"): int_text(1, cli.EXPLORE_MAX_POINTS),
    ("random_features", "features"): st.one_of(int_below(1), st.integers(min_value=cli.EXPLORE_MAX_FEATURES + 1)
                                               .map(str), not_an_int().filter(
        lambda t: t.strip().lower() not in ("inf", "infinity"))),
    ("random_features", "ridge"): st.one_of(real_text(low=0.0), choice_text(("opt", "optimal")).filter(
        lambda t: _parses_float(t) is None and t.strip().lower() not in ("opt", "optimal"))),
    ("random_features", "modes"): int_text(1, cli.EXPLORE_MAX_MODES),
}


def test_every_explore_parameter_has_bad_values():
    declared = {(t.name, p.name) for t in cli.TOPICS.values() for p in t.params}
    assert declared == set(EXPLORE_BAD)


# --------------------------------------------------------------------------- the harness

def _snapshot(folder: Path) -> dict:
    """Every file under ``folder``: relative path -> SHA-256 of its bytes (and every folder -> None)."""
    out = {}
    if folder.exists():
        for p in sorted(folder.rglob("*")):
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return out


class Ran(AssertionError):
    """Raised by the patched runners: a bad argument got as far as running something."""


@pytest.fixture
def world(monkeypatch, tmp_path):
    """A private cache with one entry in it, a work folder as cwd, and runners that must not be reached."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "0123.json").write_text("{}")
    (cache / "0123.npz").write_bytes(b"not really")
    monkeypatch.setenv("THEORYCHECK_CACHE", str(cache))
    monkeypatch.delenv("THEORYCHECK_DEBUG", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    calls = []

    def ran(*args, **kwargs):
        calls.append(args)
        raise Ran(f"a bad argument reached the runner: {args!r}")

    monkeypatch.setattr(cli, "_sweep", ran)
    monkeypatch.setattr(claims, "run_claims", ran)
    monkeypatch.setattr(cli, "_RUNNER_CALLS", calls, raising=False)
    return tmp_path


def check_refused(capsys, world: Path, argv: list, names: tuple, *, watch: tuple = ()) -> str:
    """Run ``argv``; assert a one-line usage error naming one of ``names`` and that nothing was written."""
    before = _snapshot(world)
    cli._RUNNER_CALLS.clear()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert cli._RUNNER_CALLS == [], (argv, "ran something")
    assert code == 2, (argv, code, out, err)
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, (argv, err)
    line = lines[0]
    assert line.startswith("theorycheck: error: ") and len(line) > len("theorycheck: error: "), line
    assert any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", line) for n in names), (argv, names, line)
    assert _snapshot(world) == before, argv
    for path in watch:
        assert not Path(path).exists(), path
    return line


# --------------------------------------------------------------------------- options shared by subcommands

RUNNING = ("verify", "calibrate", "figures", "explore")
TOPIC = "random_features"  # explore needs a topic before its options


def _head(command: str) -> list:
    return [command, TOPIC] if command == "explore" else [command]


OPTIONS = [
    *[(c, "--budget", BUDGET) for c in RUNNING],
    *[(c, "--seed", SEED) for c in ("verify", "figures", "explore")],
    ("calibrate", "--first-seed", SEED),
    ("calibrate", "--seeds", int_text(1, cli.MAX_SEEDS)),
    ("calibrate", "--family", int_text(1, cli.MAX_SEEDS)),
    *[(c, "--rate", RATE) for c in ("verify", "calibrate")],
    *[(c, "--workers", WORKERS) for c in RUNNING],
    *[(c, "--scheduler", SCHEDULER) for c in RUNNING],
]


@pytest.mark.parametrize("command,option,bad", OPTIONS, ids=[f"{c} {o}" for c, o, _ in OPTIONS])
@SETTINGS
@given(data=st.data())
def test_bad_option_value(capsys, world, command, option, bad, data):
    value = data.draw(bad, label=option)
    check_refused(capsys, world, _head(command) + [f"{option}={value}"], (option,))


@pytest.mark.parametrize("command", ["list", *RUNNING, "cache"])
@SETTINGS
@given(data=st.data())
def test_unknown_option(capsys, world, command, data):
    name = data.draw(st.text(st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")), min_size=2,
                             max_size=8).filter(lambda t: not any(o.startswith(f"--{t}") for o in KNOWN)))
    head = _head(command) if command != "cache" else ["cache", "info"]
    check_refused(capsys, world, head + [f"--{name}=1"], (f"--{name}",))


KNOWN = {"--budget", "--seed", "--first-seed", "--seeds", "--rate", "--workers", "--scheduler", "--report",
         "--out", "--markdown", "--help", "--combine", "--family"}

#: options and positionals tested by name outside OPTIONS (test functions below)
TESTED_APART = {("verify", "--report"), ("calibrate", "--report"), ("calibrate", "--combine"), ("figures", "--out"),
                ("list", "--markdown"), ("list", "patterns"), ("verify", "patterns"), ("calibrate", "patterns"),
                ("figures", "patterns"), ("explore", "topic"), ("explore", "params"), ("cache", "action")}


def test_every_option_and_positional_is_covered():
    """A new option or positional of any subcommand fails here until it has bad values above."""
    parser = cli.build_parser()
    [sub] = [a for a in parser._actions if a.choices and isinstance(a.choices, dict)]
    declared = set()
    for command, p in sub.choices.items():
        for action in p._actions:
            if "-h" in action.option_strings:
                continue
            declared.add((command, action.option_strings[-1] if action.option_strings else action.dest))
    covered = {(c, o) for c, o, _ in OPTIONS} | TESTED_APART
    assert declared == covered
    assert set(KNOWN) >= {o for _, o in declared if o.startswith("--")}


def test_flag_given_a_value(capsys, world):
    check_refused(capsys, world, ["list", "--markdown=yes"], ("--markdown",))


def test_family_below_the_selection(capsys, world):
    check_refused(capsys, world, ["calibrate", "--family", "1"], ("--family",))


@pytest.mark.parametrize("command,option", [(c, o) for c in RUNNING for o in ("--budget", "--seed", "--workers")
                                            if not (c == "calibrate" and o == "--seed")])
def test_option_without_its_value(capsys, world, command, option):
    check_refused(capsys, world, _head(command) + [option], (option,))


@pytest.mark.parametrize("command", ["list", "verify", "calibrate", "figures"])
@SETTINGS
@given(data=st.data())
def test_pattern_matching_nothing(capsys, world, command, data):
    names = cli.figure_modules() if command == "figures" else sorted(claims.load_all())

    def matches(p):
        stem = p.rstrip("_/")
        return any(fnmatch.fnmatchcase(n, p) or n in (p, stem) or n.startswith(stem + "_")
                   or n.startswith(p.rstrip("/") + "/") for n in names)

    pattern = data.draw(st.one_of(st.sampled_from(["", "nosuchpaper", "borup2021/nothing", "[", "zz*"]), JUNK)
                        .filter(lambda p: not matches(p)))
    check_refused(capsys, world, [command, "--", pattern], ("pattern",))


# --------------------------------------------------------------------------- --report and --out

def _unwritable_folder() -> Path:
    """A folder nobody can create files in, even root: /proc."""
    return Path("/proc")


@pytest.mark.parametrize("command", ["verify", "calibrate"])
@SETTINGS
@given(data=st.data())
def test_bad_report(capsys, world, command, data):
    work = world / "work"
    (work / "a_file").write_text("x") if not (work / "a_file").exists() else None
    (work / "a_dir.md").mkdir(exist_ok=True)
    name = data.draw(report_names(), label="name")
    kind = data.draw(st.sampled_from(["suffix", "missing folder", "under a file", "a folder", "read-only folder",
                                      "empty"]), label="kind")
    target = {"suffix": work / name, "missing folder": work / "missing" / f"{name}.md",
              "under a file": work / "a_file" / f"{name}.json", "a folder": work / "a_dir.md",
              "read-only folder": _unwritable_folder() / f"{name}.md", "empty": ""}[kind]
    watch = () if kind == "a folder" else (target,) if target else ()
    check_refused(capsys, world, [command, "--report", str(target)], ("--report",), watch=watch)
    assert not (work / "missing").exists()
    assert sorted(p.name for p in work.iterdir()) == ["a_dir.md", "a_file"]  # no temporary files either


@SETTINGS
@given(data=st.data())
def test_bad_out_folder(capsys, world, data):
    work = world / "work"
    (work / "a_file").write_text("x") if not (work / "a_file").exists() else None
    kind = data.draw(st.sampled_from(["a file", "under a file", "read-only folder", "empty"]), label="kind")
    sub = data.draw(st.text(st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")), min_size=1, max_size=5))
    target = {"a file": work / "a_file", "under a file": work / "a_file" / sub,
              "read-only folder": _unwritable_folder() / sub, "empty": ""}[kind]
    check_refused(capsys, world, ["figures", "--out", str(target)], ("--out",))
    assert sorted(p.name for p in work.iterdir()) == ["a_file"]  # in particular no figures/out
    assert not list(world.rglob("*.png"))


# --------------------------------------------------------------------------- calibrate --combine

def _calibration_doc() -> dict:
    """A well-formed calibration report of one registered claim over seeds 0..9."""
    cid = sorted(claims.load_all())[0]
    return {"budget": "quick", "rate": 1e-4, "first_seed": 0, "seed_ranges": [[0, 9]], "date": "2026-01-01",
            "power_shortfall": 0.01,
            "claims": [{"id": cid, "seeds": 10, "false_alarms": 1, "false_alarm_interval": [0.0, 0.4],
                        "designed_rate": 1e-4, "power": 0.9, "power_interval": [0.5, 1.0], "status": "ok",
                        "errors": [], "false_alarm_seeds": [3], "rival_survived_seeds": [5]}]}


#: each field of the report that combining reads, with values it cannot use
COMBINE_BAD = {
    ("budget",): [None, 3, "medium", ["quick"]],
    ("rate",): [None, "x", -1, 0, 1, 2.5, True, [1e-4]],
    ("seed_ranges",): [None, "0..9", [], [[0]], [["a", "b"]], [[9, 0]], [[-1, 9]], [[0, 2**63]], [[0.5, 9]], [0, 9]],
    ("claims",): [None, "x", [], [None], [3], {}],
    ("claims", 0, "id"): [None, 3, ["x"]],
    ("claims", 0, "seeds"): [None, "10", -1, 0, 2.5, 11, True],
    ("claims", 0, "designed_rate"): [None, "x", -1, 0, 2, True],
    ("claims", 0, "false_alarm_seeds"): [None, "3", [None], [-1], [10], [3, 3], [2.5], {"3": 1}],
    ("claims", 0, "rival_survived_seeds"): [None, 5, ["5"], [99]],
    ("claims", 0, "errors"): [None, "boom", [3], [None]],
}
_DELETE = object()


@SETTINGS
@given(data=st.data())
def test_bad_combine_report(capsys, world, data):
    work = world / "work"
    doc = _calibration_doc()
    path = data.draw(st.sampled_from(sorted(COMBINE_BAD)), label="field")
    value = data.draw(st.sampled_from([*COMBINE_BAD[path], _DELETE]), label="value")
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    report = work / "part.json"
    report.write_text(json.dumps(doc))
    check_refused(capsys, world, ["calibrate", "--combine", str(report), "--report", str(work / "out.json")],
                  ("--combine",), watch=(work / "out.json",))
    report.unlink()


@SETTINGS
@given(kind=st.sampled_from(["missing", "a folder", "not JSON", "empty", "a list", "a number", "binary"]))
def test_unreadable_combine_input(capsys, world, kind):
    work = world / "work"
    target = work / "in.json"
    if kind == "a folder":
        target.mkdir(exist_ok=True)
    elif kind != "missing":
        content = {"not JSON": b"{budget", "empty": b"", "a list": b"[1, 2]", "a number": b"3",
                   "binary": bytes(range(256))}[kind]
        target.write_bytes(content)
    check_refused(capsys, world, ["calibrate", "--combine", str(target)], ("--combine",))
    if target.is_dir():
        target.rmdir()
    elif target.exists():
        target.unlink()


def test_combine_with_no_file(capsys, world):
    check_refused(capsys, world, ["calibrate", "--combine"], ("--combine",))


# --------------------------------------------------------------------------- explore and cache

@SETTINGS
@given(topic=st.one_of(st.sampled_from(["", "random-features", "RANDOM_FEATURES", "self", "nc"]), JUNK)
       .filter(lambda t: t not in cli.TOPICS))
def test_unknown_topic(capsys, world, topic):
    check_refused(capsys, world, ["explore", "--", topic], ("topic",))


@pytest.mark.parametrize("topic,param", sorted(EXPLORE_BAD), ids=[f"{t} {p}" for t, p in sorted(EXPLORE_BAD)])
@SETTINGS
@given(data=st.data())
def test_bad_explore_value(capsys, world, topic, param, data):
    # a comma separates values: each bad value is drawn without one
    value = data.draw(EXPLORE_BAD[topic, param].filter(lambda t: "," not in t), label=param)
    if data.draw(st.booleans(), label="in a list"):  # one bad value among good ones
        good = cli.TOPICS[topic].param(param).show(cli.TOPICS[topic].param(param).default)
        value = f"{good},{value}"
    check_refused(capsys, world, ["explore", topic, f"{param}={value}"], (param,))


@pytest.mark.parametrize("topic", sorted(cli.TOPICS))
@SETTINGS
@given(data=st.data())
def test_malformed_explore_assignment(capsys, world, topic, data):
    params = [p.name for p in cli.TOPICS[topic].params]
    name = data.draw(st.sampled_from(params), label="name")
    kind = data.draw(st.sampled_from(["no =", "empty value", "empty item", "twice", "unknown name"]), label="kind")
    if kind == "unknown name":
        unknown = data.draw(st.text(st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")), min_size=1,
                                    max_size=8).filter(lambda t: t not in params))
        argv, names = [f"{unknown}=1"], (unknown,)
    else:
        good = cli.TOPICS[topic].param(name).show(cli.TOPICS[topic].param(name).default)
        argv = {"no =": [name], "empty value": [f"{name}="], "empty item": [f"{name}={good},,{good}"],
                "twice": [f"{name}={good}", f"{name}={good}"]}[kind]
        names = (name,)
    check_refused(capsys, world, ["explore", topic, *argv], names)


def test_explore_combinations_the_topic_refuses(capsys, world):
    check_refused(capsys, world, ["explore", "neural_collapse", "sizes=2-2-2-2", "width=3"], ("width",))
    check_refused(capsys, world, ["explore", "martingale_td", "problem=OU", "family=contains"], ("family",))
    check_refused(capsys, world, ["explore", "random_features", "ridge=0", "n=64", "features=64"], ("ridge",))
    check_refused(capsys, world, ["explore", "random_features", "n=10000", "features=100000", "modes=1000000"],
                  ("n", "features", "modes"))


@SETTINGS
@given(action=st.one_of(st.sampled_from(["", "INFO", "wipe", "clean", "info "]), JUNK)
       .filter(lambda t: t not in ("info", "clear")))
def test_bad_cache_action(capsys, world, action):
    check_refused(capsys, world, ["cache", "--", action], ("action",))


def test_no_command_and_unknown_command(capsys, world):
    check_refused(capsys, world, ["frobnicate"], ("COMMAND",))
    check_refused(capsys, world, [], ("command",))


# --------------------------------------------------------------------------- end to end

@pytest.mark.parametrize("argv,name", [
    (["explore", "random_features", "n=1000000000000"], "n"),
    (["calibrate", "--seeds", "10000000000000", "--report", "r.txt"], "--seeds"),
])
def test_console_script_end_to_end(tmp_path, argv, name):
    """The installed ``theorycheck`` script: exit 2, one line, no traceback, the cache untouched."""
    cache = tmp_path / "cache"
    cache.mkdir()
    exe = Path(sys.executable).with_name("theorycheck")
    env = dict(os.environ, THEORYCHECK_CACHE=str(cache))
    env.pop("THEORYCHECK_DEBUG", None)
    proc = subprocess.run([str(exe), *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("theorycheck: error: ") and re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", line)
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"] and not any(cache.iterdir())
