"""JSON Lines and run-manifest helpers shared by every stage.

Stages talk through JSONL files: one record a line, stable keys. Long stages append and flush
as they go (so a crash loses at most the line being written), tolerate a truncated last line on
resume, and write final files atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mathsynth.errors import InputError


def read_jsonl(path: str | os.PathLike, *, tolerate_truncated_tail: bool = False) -> Iterator[dict]:
    """Yield the records of a JSONL file, raising :class:`InputError` with file and line on bad input
    (see :func:`read_jsonl_numbered`).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = p.write_text('{"x": 1}\\n{"x": 2}\\n')
    >>> [r["x"] for r in read_jsonl(p)]
    [1, 2]
    """
    for _, rec in read_jsonl_numbered(path, tolerate_truncated_tail=tolerate_truncated_tail):
        yield rec


def read_jsonl_numbered(path: str | os.PathLike, *,
                        tolerate_truncated_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, record)`` for each record of a JSONL file; numbers are the file's own
    1-based lines (blank lines count), so an error found later can name the right line.

    Blank lines are skipped. With ``tolerate_truncated_tail`` a malformed *last* line that does not end
    in a newline (a write cut short by a crash) is ignored instead of raising.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = p.write_text('{"x": 1}\\n\\n{"x": 2}\\n')
    >>> [(i, r["x"]) for i, r in read_jsonl_numbered(p)]
    [(1, 1), (3, 2)]
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=str(path))
    with open(path, "rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    last_complete = data.endswith(b"\n")
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            is_tail = i == len(lines) and not last_complete
            if tolerate_truncated_tail and is_tail:
                return
            raise InputError(f"not valid JSON ({exc.__class__.__name__}: {exc})", path=str(path),
                             line=i) from None
        if not isinstance(rec, dict):
            raise InputError(f"expected a JSON object, got {type(rec).__name__}", path=str(path), line=i)
        yield i, rec


def repair_truncated_tail(path: str | os.PathLike) -> bool:
    """Cut a partial last line (no trailing newline) left by a crash; return True if one was cut.

    Called before appending on resume so the next record starts on its own line.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = p.write_text('{"x": 1}\\n{"x": ')
    >>> repair_truncated_tail(p), p.read_text()
    (True, '{"x": 1}\\n')
    """
    path = Path(path)
    if not path.exists():
        return False
    with open(path, "rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return False
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)
    return True


class JsonlAppender:
    """Append records to a JSONL file, flushing and fsync-ing each line so a crash loses nothing done.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> with JsonlAppender(p) as out:
    ...     out.write({"id": "a"})
    >>> p.read_text()
    '{"id": "a"}\\n'
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_truncated_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")
        self._fsync = fsync

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a file atomically: readers see the old or the new content, never half of it.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.txt"
    >>> atomic_write_text(p, "hi"); p.read_text()
    'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """A JSON file's content, or ``default`` when it is missing or unreadable (state files that a
    stage rewrites atomically: absent before the first run).

    >>> read_json("/nonexistent/state.json", {})
    {}
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return default


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically.

    >>> import tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.json"
    >>> atomic_write_json(p, {"a": 1}); json.loads(p.read_text())
    {'a': 1}
    """
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write records as JSONL atomically; return how many were written.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> atomic_write_jsonl(p, [{"a": 1}, {"a": 2}])
    2
    """
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def run_manifest(stage: str, config: dict) -> dict:
    """A resolved-config record written next to a stage's outputs (what ran, with which settings).

    >>> m = run_manifest("eval", {"n": 4}); m["stage"], m["config"]["n"]
    ('eval', 4)
    """
    from mathsynth import __version__

    return {
        "stage": stage,
        "mathsynth_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "argv": sys.argv,
        "config": config,
    }


LOCK_FILE = ".mathsynth.lock"


@contextmanager
def folder_lock(folder: str | os.PathLike, stage: str) -> Iterator[Path]:
    """Hold an exclusive lock on an output folder while a stage writes into it.

    Two runs into one folder would interleave their appends (duplicated records, mixed settings), so
    every stage takes this lock on its ``--out``. It is an OS file lock (``flock`` on
    ``FOLDER/.mathsynth.lock``): the kernel drops it when the process ends, however it ends, so a
    SIGKILL never leaves a stale lock behind. A second run fails at once with one line naming the
    holder's PID and command.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with folder_lock(d, "eval"):
    ...     with folder_lock(d, "eval"): pass
    Traceback (most recent call last):
    mathsynth.errors.MathsynthError: ... is in use by another mathsynth run (pid ..., eval: ...); wait for it to finish or use another --out
    """
    from mathsynth.errors import MathsynthError

    path = Path(folder)
    created = _make_out(path)
    try:
        import fcntl
    except ImportError:  # no flock (Windows): run unlocked rather than not at all
        yield path
        return
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    ok = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "starting up"
            raise MathsynthError(f"{path} is in use by another mathsynth run ({holder}); wait for it to "
                                 "finish or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {stage}: {' '.join(sys.argv)}"[:4000].encode("utf-8"), 0)
        yield path
        ok = True
    finally:
        if not ok and created and [p.name for p in path.iterdir()] == [LOCK_FILE]:
            # A run refused before it wrote anything leaves no empty folder behind.
            (path / LOCK_FILE).unlink()
            path.rmdir()
        os.close(fd)  # closing the descriptor releases the lock


def _make_out(path: Path) -> bool:
    """Create an output folder (True if it was new); one clear error when that is impossible.

    >>> _make_out(Path("/proc/mathsynth-out"))
    Traceback (most recent call last):
    mathsynth.errors.MathsynthError: --out /proc/mathsynth-out: cannot create the folder (...)
    """
    from mathsynth.errors import MathsynthError

    if path.exists() and not path.is_dir():
        raise MathsynthError(f"--out {path} is an existing file, not a folder; name a folder")
    existed = path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".mathsynth.write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise MathsynthError(f"--out {path}: cannot create the folder ({exc.strerror or exc})") from None
    return not existed


def locked_out(stage: str):
    """Decorator for a stage entry point ``fn(cfg, ...)``: run it holding :func:`folder_lock` on
    ``cfg.out``."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(cfg, *args, **kwargs):
            with folder_lock(cfg.out, stage):
                return fn(cfg, *args, **kwargs)
        return run
    return wrap


def settings_key(settings: dict) -> str:
    """A short stable hash of the settings that shape a stage's records; every record carries it,
    so a rerun with other settings is refused even when ``config.json`` was deleted.

    >>> settings_key({"seed": 0, "n": 4}) == settings_key({"n": 4, "seed": 0}), len(settings_key({}))
    (True, 12)
    """
    import hashlib

    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def refuse_mixed_settings(out: Path, what: str, keys_found: set, settings: dict, old: dict | None) -> None:
    """Raise when records in ``out`` were made with other settings than ``settings`` (their
    ``settings_key`` differs); ``old`` (the settings in the folder's config.json, if any) names the
    differences.

    >>> refuse_mixed_settings(Path("o"), "samples", {settings_key({"seed": 0})}, {"seed": 7}, {"seed": 0})
    Traceback (most recent call last):
    mathsynth.errors.MathsynthError: o already holds samples made with other settings (seed: 0 -> 7); use another --out or delete the folder
    """
    from mathsynth.errors import MathsynthError

    keys_found = {k for k in keys_found if k is not None}  # records of older versions carry none
    if not keys_found or keys_found == {settings_key(settings)}:
        return
    diffs = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in settings.items() if old and k in old and old[k] != v]
    detail = "; ".join(diffs) if diffs else "its config.json is missing or was changed"
    raise MathsynthError(f"{out} already holds {what} made with other settings ({detail}); use another "
                         "--out or delete the folder")
