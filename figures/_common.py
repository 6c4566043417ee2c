"""Shared figure plumbing: Agg backend, the house style, atomic saving."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: default seed of the simulations drawn in figures (the CLI's --seed overrides it)
DEFAULT_SEED = 0

plt.rcParams.update({"figure.dpi": 110, "font.size": 10, "axes.grid": True, "grid.alpha": 0.3,
                     "figure.constrained_layout.use": True})


def save(fig, out_dir, name: str) -> Path:
    """Write ``fig`` as ``out_dir/name.png`` atomically (temporary file, then rename) and close it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return path


def colors(n):
    cmap = plt.get_cmap("viridis")
    return [cmap(i / max(n - 1, 1)) for i in range(n)]
