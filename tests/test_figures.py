"""Every figure script writes its PNG (its data is checked by the claims, not by pixels)."""

import importlib
import pkgutil

import pytest

import figures
from paper_checks.claims import Budget

NAMES = sorted(m.name for m in pkgutil.iter_modules(figures.__path__) if not m.name.startswith("_"))


def test_each_paper_has_figures():
    assert any(n.startswith("borup2021_") for n in NAMES) and any(n.startswith("mobahi2020_") for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_figure_writes_png(name, tmp_path):
    mod = importlib.import_module(f"figures.{name}")
    paths = mod.make(Budget.QUICK, tmp_path)
    assert paths
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000 and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
