"""``python -m benchmarks [--quick] [--out DIR]``: run every benchmark module, print and write the table.

Writes ``benchmarks.md`` (a header naming the machine, then a Markdown table)
and ``benchmarks.json`` to ``--out`` (default ``benchmarks/results``), each
atomically.  A bad argument gives one line ``benchmarks: error: ...`` and exit 2;
a benchmark that fails gives one line and exit 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path

from . import COLUMNS, discover

PROG = "benchmarks"
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def _one_line(msg) -> str:
    return " ".join(str(msg).split())


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"{PROG}: error: {_one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"python -m {PROG}", description="Speed ratios of the simulation kernels against "
                "their plain-numpy baselines (ratios only; no time is asserted).")
    p.add_argument("--quick", action="store_true", help="smaller problems (what the tests run)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help="folder for benchmarks.md and benchmarks.json (default: benchmarks/results)")
    return p


def machine() -> dict:
    import numba
    import numpy

    return {
        "processor": platform.processor() or platform.machine(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _atomic_write(path: Path, text: str) -> None:
    from simulations.cache import atomic_write

    atomic_write(path, text)


def _fmt_ratio(r: float) -> str:
    return f"{r:.2f}x" if math.isfinite(r) else str(r)


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[dict], info: dict, quick: bool) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {info['processor']} ({info['machine']}), {info['cpu_count']} CPUs; "
        f"Python {info['python']}, numpy {info['numpy']}, numba {info['numba']}; {info['date']}; "
        f"budget {'quick' if quick else 'full'}.",
        "",
        "Ratios are baseline time / candidate time, both measured in this run on this machine.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] * len(COLUMNS)) + "|",
    ]
    for r in rows:
        cells = [_fmt_ratio(r[c]) if c == "ratio" else r[c] for c in COLUMNS]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def print_table(rows: list[dict], info: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"benchmarks — {info['processor']}, {info['cpu_count']} CPUs, "
                        f"numpy {info['numpy']}, numba {info['numba']}")
    for c in COLUMNS:
        table.add_column(c, justify="right" if c == "ratio" else "left")
    for r in rows:
        table.add_row(*[_fmt_ratio(r[c]) if c == "ratio" else str(r[c]) for c in COLUMNS])
    # a pipe or a file gets a wide table, not rich's 80-column default
    Console(width=None if sys.stdout.isatty() else 180).print(table)


def _check_row(module: str, row: dict) -> dict:
    missing = [c for c in COLUMNS if c not in row]
    if missing:
        raise ValueError(f"benchmark module {module!r} returned a row without {', '.join(missing)}")
    return {"module": module, **row, "ratio": float(row["ratio"])}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error already printed (2)
        return int(exc.code or 0)
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.TemporaryFile(dir=out)
        probe.close()
    except OSError as exc:
        print(f"{PROG}: error: --out: cannot write in folder {str(out)!r} ({exc.strerror or exc}); "
              "give a writable folder", file=sys.stderr)
        return 2

    rows: list[dict] = []
    for mod in discover():
        name = mod.__name__.rsplit(".", 1)[-1]
        try:
            rows.extend(_check_row(name, r) for r in mod.rows(args.quick))
        except Exception as exc:  # a broken benchmark: one line, exit 1
            print(f"{PROG}: error: {name}: {_one_line(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
            return 1

    info = machine()
    print_table(rows, info)
    payload = {"machine": info, "quick": bool(args.quick), "columns": list(COLUMNS), "rows": rows}
    _atomic_write(out / "benchmarks.json", json.dumps(payload, indent=1) + "\n")
    _atomic_write(out / "benchmarks.md", to_markdown(rows, info, args.quick))
    print(f"wrote {out / 'benchmarks.md'} and {out / 'benchmarks.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        sys.exit(130)
