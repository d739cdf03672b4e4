"""A persistent response cache, so the same completion is never paid for twice.

Completions are stored in one SQLite file keyed by :func:`request_key`: a hash of everything that
determines a sample (model identity, prompt, sampling settings, request id and the absolute sample
index). Every :meth:`ResponseCache.put` commits at once, so a run killed even with SIGKILL keeps all
that it stored, and a rerun or resume regenerates only what is missing.

Many threads and processes may share one file: SQLite's WAL mode lets readers and one writer
proceed together and ``busy_timeout`` makes concurrent writers wait for each other instead of
failing. ``INSERT OR IGNORE`` makes a duplicate write (two workers that raced on one sample)
harmless: the first one stored wins.

>>> import tempfile, pathlib
>>> from mathsynth.backends.base import Completion, GenerationRequest
>>> req = GenerationRequest("q1", prompt="1+1?")
>>> key = request_key({"backend": "demo"}, req, 0)
>>> with ResponseCache(pathlib.Path(tempfile.mkdtemp()) / "responses.sqlite") as cache:
...     cache.put(key, Completion("The answer is: 2.", "stop"))
...     cache.get_many([key, "absent"])[key].text, len(cache)
('The answer is: 2.', 1)
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mathsynth.backends.base import Completion, GenerationRequest
from mathsynth.errors import MathsynthError
from mathsynth.models import cache_dir

BUSY_TIMEOUT_S = 60.0
# Old SQLite builds allow at most 999 bound variables per statement; stay under it.
_CHUNK = 900
_COMPLETION_FIELDS = ("text", "finish_reason", "prompt_tokens", "completion_tokens", "error")
# Connections inherited across fork(): SQLite forbids using (even closing) them in the child, so the
# child keeps them referenced here and never touches them.
_FORK_ORPHANS: list[sqlite3.Connection] = []


def default_cache_path() -> Path:
    """``$MATHSYNTH_CACHE/responses.sqlite`` (``~/.cache/mathsynth`` when the variable is unset).

    >>> default_cache_path().name
    'responses.sqlite'
    """
    return cache_dir() / "responses.sqlite"


def request_key(identity: dict[str, Any], request: GenerationRequest, sample_index: int) -> str:
    """The cache key of sample ``sample_index`` of ``request``.

    ``sample_index`` counts from 0 within the request (as in ``on_complete``); the key uses the
    absolute index ``request.sample_offset + sample_index``, and not ``n``, so a run asking for 16
    samples reuses the 8 of an earlier ``n=8`` run. The request id is part of the key because
    backends seed each sample from it: two ids with the same prompt get different samples.

    >>> from mathsynth.backends.base import GenerationRequest, SamplingParams
    >>> a = GenerationRequest("q1", SamplingParams(n=8), prompt="1+1?")
    >>> b = GenerationRequest("q1", SamplingParams(n=4), prompt="1+1?", sample_offset=4)
    >>> request_key({"m": 1}, a, 5) == request_key({"m": 1}, b, 1)
    True
    >>> request_key({"m": 1}, a, 0) == request_key({"m": 2}, a, 0)
    False
    """
    p = request.params
    payload = {
        "identity": identity, "id": request.id,
        "messages": list(request.messages) if request.messages is not None else None,
        "prompt": request.prompt, "temperature": p.temperature, "top_p": p.top_p,
        "max_tokens": p.max_tokens, "stop": list(p.stop), "seed": p.seed,
        "sample": request.sample_offset + sample_index,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Handle:
    """One thread's connection; closed when the thread ends (its thread-local slot is dropped)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn, self.pid = conn, os.getpid()

    def close(self) -> None:
        if self.pid == os.getpid():
            self.conn.close()
        else:
            _FORK_ORPHANS.append(self.conn)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown may have torn down os/sqlite3 already
            pass


class ResponseCache:
    """Completions stored by key in a SQLite file; safe across threads and processes.

    Each thread of each process gets its own connection (SQLite connections must not be shared
    across threads or carried over a fork), created on first use.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MathsynthError(f"response cache {self.path}: cannot create its folder ({exc}); set "
                                 "$MATHSYNTH_CACHE to a writable folder or run with --no-cache") from None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._closed = False
        self._conn()  # open now, so a corrupt file is reported before any work starts

    def _fail(self, exc: BaseException) -> MathsynthError:
        return MathsynthError(
            f"response cache {self.path} is unusable ({exc}). If it is damaged or not a SQLite file, "
            "delete it (cached responses will be generated again) or run with --no-cache")

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: autocommit, so each put is its own transaction, durable on return.
        # check_same_thread=False only so close() may close other threads' connections at the end.
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        try:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            # Switching to WAL needs a moment of exclusive access, which another process opening the
            # file at the same time may hold; the mode is stored in the file, so check before asking.
            deadline = time.monotonic() + BUSY_TIMEOUT_S
            while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                except sqlite3.OperationalError as exc:
                    busy = "locked" in str(exc) or "busy" in str(exc)
                    if not busy or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            # NORMAL in WAL mode: a commit survives the process dying (only a power cut can lose it).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                         "created REAL NOT NULL)")
        except sqlite3.Error as exc:
            conn.close()
            raise self._fail(exc) from None
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise MathsynthError(f"response cache {self.path} is closed")
        handle = getattr(self._local, "handle", None)
        if handle is None or handle.pid != os.getpid():
            if handle is not None:  # we are a forked child: start afresh, leave the parent's alone
                self._local = threading.local()
                with self._lock:
                    self._handles = weakref.WeakSet()
            handle = _Handle(self._open())
            self._local.handle = handle
            with self._lock:
                self._handles.add(handle)
        return handle.conn

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        """The stored completions among ``keys`` (absent keys are simply missing from the result)."""
        keys = list(dict.fromkeys(keys))
        conn = self._conn()
        found: dict[str, Completion] = {}
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                rows = conn.execute(f"SELECT key, value FROM responses WHERE key IN "
                                    f"({','.join('?' * len(chunk))})", chunk).fetchall()
                for key, value in rows:
                    comp = _decode(value)
                    if comp is not None:  # an unreadable row is a miss: regenerate rather than fail
                        found[key] = comp
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        return found

    def put(self, key: str, completion: Completion) -> None:
        """Store one completion, committed before returning; a key already stored is left as it is."""
        value = json.dumps(completion.to_dict(), ensure_ascii=False)
        try:
            self._conn().execute("INSERT OR IGNORE INTO responses (key, value, created) VALUES (?, ?, ?)",
                                 (key, value, time.time()))
        except sqlite3.Error as exc:
            raise self._fail(exc) from None

    def __len__(self) -> int:
        try:
            return self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        except sqlite3.Error as exc:
            raise self._fail(exc) from None

    def close(self) -> None:
        """Close every connection this process opened; further use raises."""
        self._closed = True
        with self._lock:
            handles, self._handles = list(self._handles), weakref.WeakSet()
        for handle in handles:
            handle.close()
        self._local = threading.local()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"


def _decode(value: str) -> Completion | None:
    try:
        data = json.loads(value)
        return Completion(**{k: data[k] for k in _COMPLETION_FIELDS if k in data})
    except (ValueError, TypeError):
        return None
