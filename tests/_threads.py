"""Run a snippet in fresh processes with 1 and 2 numba threads; it prints one JSON value last."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def outputs_by_thread_count(code: str, counts=("1", "2")) -> list:
    out = []
    for threads in counts:
        env = {**os.environ, "NUMBA_NUM_THREADS": threads, "THEORYCHECK_CACHE": "off"}
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                           cwd=ROOT)
        out.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return out
