"""On-disk memo of simulation outputs, shared by claims and figures.

An entry is keyed by the function, its parameters (seed included) and a code
version: the SHA-256 of the source files of the function's module and of
:mod:`simulations.rng` and this file, so editing a kernel invalidates its
entries.  Each entry is an ``.npz`` of the result's arrays and a JSON sidecar
with the parameters, the result type and the SHA-256 of the ``.npz``.  Both
are written to temporary files and moved into place (``os.replace``), the
sidecar last, so a reader never sees half an entry; an entry that fails to
load or whose hash does not match is recomputed, never trusted.  Writers of
one folder take turns (an exclusive ``flock`` on ``.lock`` in the folder while
they write an entry), so two runs sharing a cache cannot pair one run's
sidecar with the other's ``.npz``; the ``.npz`` bytes are a function of the
result alone (fixed zip timestamps), so equal results give equal files.

For the fault-injection tests only: with ``THEORYCHECK_TEST_PAUSE_BEFORE_RENAME``
set to a file-name glob, :func:`atomic_write` stops before renaming a matching
temporary file into place, says so on stderr and waits up to a minute, so a
test's signal lands while the temporary file exists.

The folder is ``$THEORYCHECK_CACHE``, else ``$XDG_CACHE_HOME/theorycheck``,
else ``~/.cache/theorycheck``.  ``THEORYCHECK_CACHE=off`` disables the cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import functools
import hashlib
import importlib
import inspect
import io
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

_SOURCE_HASHES: dict[str, str] = {}

#: fault-injection hook of the tests (see the module docstring); never set in normal use
PAUSE_ENV = "THEORYCHECK_TEST_PAUSE_BEFORE_RENAME"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def cache_dir() -> Path | None:
    env = os.environ.get("THEORYCHECK_CACHE")
    if env is not None and env.strip().lower() in ("off", "0", "none", "disabled"):
        return None
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "theorycheck"


def _source_hash(module_name: str) -> str:
    if module_name not in _SOURCE_HASHES:
        mod = sys.modules.get(module_name) or importlib.import_module(module_name)
        h = hashlib.sha256()
        for m in (mod, sys.modules[__name__], importlib.import_module("simulations.rng")):
            path = inspect.getsourcefile(m)
            with open(path, "rb") as fh:
                h.update(fh.read())
        _SOURCE_HASHES[module_name] = h.hexdigest()[:16]
    return _SOURCE_HASHES[module_name]


def _canonical(value):
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, (np.floating, float)):
        return float(value).hex()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    return value


def entry_key(func_name: str, params: dict, version: str) -> str:
    blob = json.dumps({"f": func_name, "p": _canonical(params), "v": version}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def atomic_write(path, data) -> None:
    """Write ``data`` (bytes or text) to ``path`` so that readers see the old file or the whole new one.

    A temporary file in the same folder is written, flushed, given the usual
    permissions (0666 less the umask) and renamed over ``path``; on any error,
    interruption included, the temporary file is removed and ``path`` is untouched.
    """
    path = _path("path", path)
    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes or text (str), got {type(data).__name__}")
    blob = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        _test_pause(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _test_pause(tmp, path: Path) -> None:
    pattern = os.environ.get(PAUSE_ENV)
    if pattern and fnmatch.fnmatch(path.name, pattern):
        print(f"paused before renaming {tmp} to {path} (process {os.getpid()})", file=sys.stderr, flush=True)
        time.sleep(60)


@contextlib.contextmanager
def _writer_lock(folder: Path):
    """Exclusive lock of ``folder`` for writing one entry (released on exit, also when the process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: entries are still atomic, writers not serialized
        yield
        return
    with open(folder / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _npz_bytes(arrays: dict) -> bytes:
    """``np.savez`` of ``arrays`` with fixed member timestamps, so equal arrays give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            with zf.open(info, "w", force_zip64=True) as fid:
                np.lib.format.write_array(fid, np.asanyarray(value))
    return buf.getvalue()


def store(folder: Path, key: str, result, params: dict, func_name: str, version: str) -> None:
    arrays, scalars = {}, {}
    for f in dataclasses.fields(result):
        v = getattr(result, f.name)
        if isinstance(v, np.ndarray):
            arrays[f.name] = v
        else:
            scalars[f.name] = _jsonable(v)
    blob = _npz_bytes(arrays)
    meta = {
        "function": func_name,
        "version": version,
        "params": _jsonable(params),
        "type": f"{type(result).__module__}:{type(result).__qualname__}",
        "scalars": scalars,
        "npz_sha256": hashlib.sha256(blob).hexdigest(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    with _writer_lock(folder):
        atomic_write(folder / f"{key}.npz", blob)
        atomic_write(folder / f"{key}.json", json.dumps(meta, indent=1))


def load(folder: Path, key: str):
    """The stored result, or ``None`` when absent, unreadable or inconsistent."""
    meta_path, npz_path = folder / f"{key}.json", folder / f"{key}.npz"
    try:
        meta = json.loads(meta_path.read_text())
        blob = npz_path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != meta["npz_sha256"]:
            return None
        mod_name, qual = meta["type"].split(":")
        cls = getattr(importlib.import_module(mod_name), qual)
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return cls(**arrays, **meta["scalars"])
    except Exception:
        return None


def cached(func):
    """Memoize a simulation returning a dataclass of arrays; keyed by all its arguments.

    ``func`` must be called with keyword-friendly arguments that bind to its
    signature; defaults are filled in before keying so equal calls share an entry.
    """
    sig = inspect.signature(func)
    name = f"{func.__module__}.{func.__qualname__}"

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        folder = cache_dir()
        if folder is None:
            return func(*args, **kwargs)
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        params = dict(bound.arguments)
        version = _source_hash(func.__module__)
        try:
            key = entry_key(name, params, version)
        except (TypeError, ValueError):  # an argument no JSON keys (e.g. complex): the function's checks refuse it
            return func(*args, **kwargs)
        hit = load(folder, key)
        if hit is not None:
            return hit
        result = func(*args, **kwargs)
        try:
            store(folder, key, result, params, name, version)
        except OSError:
            pass  # a read-only or full cache folder must not stop the computation
        return result

    wrapper.uncached = func
    wrapper.cache_name = name
    return wrapper


def tree_version(*packages: str) -> str:
    """SHA-256 (16 hex digits) of every ``.py`` file of the named packages, path and content.

    Outputs that depend on the whole code (a figure: theory, simulations, the claim
    module and the script) are keyed by this, so any edit invalidates them.
    """
    h = hashlib.sha256()
    for name in packages:
        mod = importlib.import_module(name)
        root = Path(inspect.getsourcefile(mod)).parent
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root.parent)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def get_files(key: str) -> list[tuple[str, bytes]] | None:
    """The files stored under ``key`` by :func:`put_files`, or None (missing, unreadable or corrupt)."""
    folder = cache_dir()
    if folder is None:
        return None
    side = folder / f"files-{key}.json"
    try:
        meta = json.loads(side.read_text())
        if len(meta["names"]) != len(meta["sha256"]):
            return None
        out = []
        for i, (name, digest) in enumerate(zip(meta["names"], meta["sha256"])):
            blob = (folder / f"files-{key}-{i}.bin").read_bytes()
            if hashlib.sha256(blob).hexdigest() != digest:
                return None
            out.append((name, blob))
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return None


def put_files(key: str, files: list[tuple[str, bytes]]) -> None:
    """Store named blobs under ``key``: each written atomically, the JSON sidecar last."""
    folder = cache_dir()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with _writer_lock(folder):
        for i, (_, blob) in enumerate(files):
            atomic_write(folder / f"files-{key}-{i}.bin", blob)
        atomic_write(folder / f"files-{key}.json", json.dumps({
            "names": [n for n, _ in files], "sha256": [hashlib.sha256(b).hexdigest() for _, b in files]}))


def _path(name, value) -> Path:
    """A file-system path given as ``str`` or ``os.PathLike`` (not bytes), without NUL characters."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    path = Path(value)
    if "\x00" in str(path) or not str(value):
        raise ValueError(f"{name} must be a non-empty path without NUL characters, got {str(value)!r}")
    return path


def _folder(folder) -> Path | None:
    """``folder`` checked (None: the cache folder); a path to something other than a folder is refused."""
    if folder is None:
        return cache_dir()
    folder = _path("folder", folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"folder must be a folder (or not exist yet), got the file {str(folder)!r}")
    return folder


def info(folder: Path | None = None) -> dict:
    folder = _folder(folder)
    if folder is None or not folder.exists():
        return {"folder": str(folder), "entries": 0, "bytes": 0}
    entries = list(folder.glob("*.json"))
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return {"folder": str(folder), "entries": len(entries), "bytes": size}


def clear(folder: Path | None = None) -> int:
    folder = _folder(folder)
    if folder is None or not folder.exists():
        return 0
    n = 0
    for p in folder.iterdir():
        if p.is_file() and (p.suffix in (".npz", ".json", ".tmp", ".bin")):
            p.unlink()
            n += p.suffix == ".json"
    return n
