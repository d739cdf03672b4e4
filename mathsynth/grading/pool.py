"""A small pool of grading worker processes with a hard per-task wall-clock bound.

Why not ``multiprocessing.Pool`` or ``concurrent.futures``: neither can kill one stuck task and
carry on. Here every worker runs one task at a time *in its main thread* (so math-verify's
``signal.alarm`` timeouts work); the parent waits on the pipes with a deadline per task and, when a
task overruns (a C-level bignum power, a sympy loop that never checks for signals), it kills that
worker, records ``"timeout"`` and starts a replacement while the other workers keep going.

Workers are fresh interpreters, never a ``fork`` of a parent that may hold torch / CUDA / OpenMP
threads. The default start method, ``"subprocess"``, runs ``python -c`` (fork+exec, like
``multiprocessing``'s ``spawn``) and talks over a pair of pipes with ``multiprocessing``'s framed
pickle ``Connection``; unlike ``spawn`` it does not re-import the parent's ``__main__`` script in
every worker (which breaks scripts without an ``if __name__ == "__main__":`` guard and makes each
worker import whatever the script imports, torch included). ``"spawn"`` and ``"forkserver"`` are
available too. Each worker caps its own address space (``RLIMIT_AS``) so a runaway expression
fails with ``MemoryError`` instead of swapping the machine.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from mathsynth.errors import MathsynthError

__all__ = ["WorkerPool"]

_START_TIMEOUT = 120.0
_MAX_START_FAILURES = 3


def _op_equiv(gold_n: str, pred_n: str, timeout_s: int) -> bool:
    from mathsynth.grading.equivalence import mv_equivalent

    return mv_equivalent(gold_n, pred_n, timeout_s)


def _op_mv_plain(gold: str, response: str, timeout_s: int) -> tuple[bool, str]:
    """Plain math-verify on a whole response, the loop everyone writes first (for audits):
    ``verify(parse("$gold$"), parse(response))`` and the string of what it extracted."""
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    pred = parse(response, parsing_timeout=timeout_s)
    ok = verify(parse("$" + gold + "$", parsing_timeout=timeout_s), pred, timeout_seconds=timeout_s)
    return bool(ok), str(pred[-1]) if pred else ""


def _op_sleep(seconds: float) -> bool:  # test hook: a task that overruns its deadline
    time.sleep(seconds)
    return True


def _op_crash(code: int) -> bool:  # test hook: a worker that dies mid-task
    os._exit(code)


def _op_pid() -> int:
    return os.getpid()


_OPS = {"equiv": _op_equiv, "mv_plain": _op_mv_plain, "sleep": _op_sleep, "crash": _op_crash,
        "pid": _op_pid}


def _worker_main(conn: Connection, memory_mb: int | None, out: Connection | None = None) -> None:
    """Worker loop: receive ``(task_id, op, args)``, reply ``(task_id, status, value)``."""
    import signal

    out = out or conn

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    if memory_mb:
        try:
            import resource

            limit = int(memory_mb) * 1024 * 1024
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            if soft == resource.RLIM_INFINITY or soft > limit:
                resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        except (ImportError, ValueError, OSError):
            pass
    try:  # warm up: imports, regex compilation, the ANTLR parser
        _op_equiv("1", "1", 5)
    except Exception:  # pragma: no cover - reported by the first real task instead
        pass
    out.send(("ready", os.getpid(), None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg is None:
            return
        task_id, op, args = msg
        try:
            reply = (task_id, "ok", _OPS[op](*args))
        except MemoryError:
            reply = (task_id, "error", "MemoryError")
        except BaseException as exc:  # noqa: BLE001 - math-verify's TimeoutException is a BaseException
            reply = (task_id, "error", f"{type(exc).__name__}")
        try:
            out.send(reply)
        except (OSError, ValueError):
            return


def _stdio_main(memory_mb: int | None) -> None:
    """Entry point of a ``"subprocess"`` worker: the protocol runs over fds 0 and 1."""
    proto_in, proto_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # stray prints from libraries go to stderr, never into the protocol pipe
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    _worker_main(Connection(proto_in, writable=False), memory_mb,
                 Connection(proto_out, readable=False))


_BOOT = ("import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
         "from mathsynth.grading.pool import _stdio_main; _stdio_main(json.loads(sys.argv[2]))")


class _Worker:
    """One worker process: ``send`` and ``recv`` connections, state, current task, deadline."""

    __slots__ = ("proc", "send_conn", "conn", "state", "task", "deadline")

    def __init__(self, ctx: Any, memory_mb: int | None):
        if ctx is None:  # "subprocess": python -c, pipes on the child's stdin/stdout
            to_child_r, to_child_w = os.pipe()
            from_child_r, from_child_w = os.pipe()
            try:
                self.proc: Any = subprocess.Popen(
                    [sys.executable, "-c", _BOOT, json.dumps([p for p in sys.path if p]),
                     json.dumps(memory_mb)],
                    stdin=to_child_r, stdout=from_child_w, close_fds=True)
            finally:
                os.close(to_child_r)
                os.close(from_child_w)
            self.send_conn = Connection(to_child_w, readable=False)
            self.conn = Connection(from_child_r, writable=False)
        else:
            parent_conn, child_conn = ctx.Pipe(duplex=True)
            self.proc = ctx.Process(target=_worker_main, args=(child_conn, memory_mb),
                                    name="mathsynth-grader", daemon=True)
            self.proc.start()
            child_conn.close()
            self.send_conn = self.conn = parent_conn
        self.state = "starting"
        self.task: int | None = None
        self.deadline = time.monotonic() + _START_TIMEOUT

    def send(self, obj: Any) -> None:
        self.send_conn.send(obj)

    @property
    def exitcode(self) -> int | None:
        return self.proc.poll() if isinstance(self.proc, subprocess.Popen) else self.proc.exitcode

    def join(self, timeout: float) -> None:
        try:
            if isinstance(self.proc, subprocess.Popen):
                self.proc.wait(timeout=timeout)
            else:
                self.proc.join(timeout=timeout)
        except (subprocess.TimeoutExpired, OSError, ValueError, AssertionError):
            pass

    def kill(self) -> None:
        try:
            self.proc.kill()
        except (OSError, ValueError, AssertionError):
            pass
        self.join(timeout=5)
        for c in {self.conn, self.send_conn}:
            try:
                c.close()
            except OSError:
                pass


class WorkerPool:
    """``workers`` processes running named tasks, each bounded by a wall-clock timeout.

    Use :meth:`run` for a batch, or :meth:`submit` / :meth:`pump` / :meth:`collect` to stream
    tasks while the caller keeps working. Tasks sharing a ``group`` (e.g. one gold answer) go to
    the same worker while that group lasts, so per-worker caches hit; idle workers then steal.

    >>> with WorkerPool(1) as pool:
    ...     pool.run([("sleep", (0,)), ("sleep", (30,))], timeout=1.0)
    [('ok', True), ('timeout', None)]
    """

    def __init__(self, workers: int = 1, *, memory_mb: int | None = 4096,
                 start_method: str = "subprocess"):
        if workers < 1:
            raise MathsynthError(f"grading workers must be >= 1, got {workers}")
        if start_method not in ("subprocess", "spawn", "forkserver"):
            raise MathsynthError(f"grading start_method must be 'subprocess', 'spawn' or "
                                 f"'forkserver' (never 'fork'), got {start_method!r}")
        self.n = workers
        self.memory_mb = memory_mb
        self._ctx = None if start_method == "subprocess" else mp.get_context(start_method)
        self._workers: list[_Worker] = []
        self._current: list[Any] = []  # group each worker is on
        self._start_failures = 0
        self._tasks: dict[int, tuple[str, tuple, float]] = {}  # id -> (op, args, timeout)
        self._queues: dict[Any, deque[int]] = {}
        self._unowned: deque[Any] = deque()
        self._results: dict[int, tuple[str, Any]] = {}
        self._next_id = 0
        self.stats = {"timeouts": 0, "crashes": 0, "workers_restarted": 0, "tasks": 0}

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, count: int | None = None) -> None:
        """Start worker processes, up to ``count`` of them (default: all); returns at once (they
        boot in the background)."""
        while len(self._workers) < min(self.n, self.n if count is None else count):
            self._workers.append(_Worker(self._ctx, self.memory_mb))
            self._current.append(None)

    def close(self) -> None:
        """Stop all workers (politely, then by force); queued tasks are dropped."""
        workers, self._workers, self._current = self._workers, [], []
        self._tasks.clear()
        self._queues.clear()
        self._unowned.clear()
        for w in workers:
            try:
                w.send(None)
            except (OSError, ValueError):
                pass
        # Workers hold no state worth saving, and a Python exit that tears down sympy takes ~0.3 s:
        # give them a moment to leave on their own, then kill the rest.
        deadline = time.monotonic() + 0.05
        for w in workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
            w.kill()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _replace(self, idx: int) -> None:
        self._workers[idx].kill()
        self._workers[idx] = _Worker(self._ctx, self.memory_mb)
        self.stats["workers_restarted"] += 1

    # -- scheduling ------------------------------------------------------------------------------
    def submit(self, op: str, args: tuple, *, timeout: float, group: Any = None) -> int:
        """Queue a task; returns its id for :meth:`collect`. Call :meth:`pump` to make progress."""
        tid = self._next_id
        self._next_id += 1
        self._tasks[tid] = (op, tuple(args), float(timeout))
        key = ("task", tid) if group is None else group
        q = self._queues.get(key)
        if q is None:
            q = self._queues[key] = deque()
            self._unowned.append(key)
        q.append(tid)
        return tid

    def _next_task(self, i: int) -> int | None:
        q = self._queues.get(self._current[i])
        if not q:
            while self._unowned and not self._queues.get(self._unowned[0]):
                self._unowned.popleft()
            if self._unowned:
                self._current[i] = self._unowned.popleft()
            else:  # steal from the largest remaining group
                key = max(self._queues, key=lambda k: len(self._queues[k]), default=None)
                if key is None:
                    return None
                self._current[i] = key
            q = self._queues[self._current[i]]
        tid = q.popleft()
        if not q:
            del self._queues[self._current[i]]
        return tid

    def _finish(self, tid: int, status: str, value: Any) -> None:
        if tid in self._tasks and tid not in self._results:
            del self._tasks[tid]
            self._results[tid] = (status, value)

    def pending(self) -> int:
        """Tasks submitted and not finished yet."""
        return len(self._tasks)

    def pump(self, block: float = 0.0) -> None:
        """Dispatch queued tasks to idle workers and handle replies, kills and restarts, waiting
        up to ``block`` seconds for something to happen."""
        if not self._tasks:
            return
        # One worker per unfinished task, up to n: a boot imports sympy (~0.5 s of CPU), which on a
        # small machine is taken from the parent and from the workers already running.
        self.start(len(self._tasks))
        now = time.monotonic()
        for i, w in enumerate(self._workers):
            if w.state != "idle":
                continue
            tid = self._next_task(i)
            if tid is None:
                continue
            op, args, timeout = self._tasks[tid]
            try:
                w.send((tid, op, args))
            except (OSError, ValueError):  # died while idle: not this task's fault
                self._queues.setdefault(self._current[i], deque()).appendleft(tid)
                self._replace(i)
                continue
            w.state, w.task, w.deadline = "busy", tid, now + timeout
        by_conn = {w.conn: i for i, w in enumerate(self._workers)}
        nearest = min((w.deadline for w in self._workers if w.state != "idle"), default=now + block)
        ready = wait(list(by_conn), timeout=max(0.0, min(now + block, nearest) - time.monotonic()))
        for conn in ready:
            i = by_conn[conn]  # type: ignore[index]
            w = self._workers[i]
            try:
                tid, status, value = conn.recv()  # type: ignore[union-attr]
            except (EOFError, OSError, ValueError):
                self._lose(i, "crash")
                continue
            if w.state == "starting":
                w.state, self._start_failures = "idle", 0
                continue
            if tid == w.task:
                self._finish(tid, status, value)
                self.stats["tasks"] += 1
            w.state, w.task = "idle", None
        now = time.monotonic()
        for i, w in enumerate(self._workers):
            if w.deadline > now or w.state == "idle":
                continue
            self._lose(i, "timeout")

    def _lose(self, i: int, status: str) -> None:
        """Worker ``i`` died or overran: fail its task (or count a failed start) and replace it."""
        w = self._workers[i]
        if w.state == "busy":
            self._finish(w.task, status, None)  # type: ignore[arg-type]
            self.stats["crashes" if status == "crash" else "timeouts"] += 1
        else:
            self._start_failed(w)
        self._replace(i)

    def collect(self, tid: int) -> tuple[str, Any]:
        """Block until task ``tid`` is done; return (and forget) its ``(status, value)``.

        ``status`` is ``"ok"``, ``"error"`` (the task raised), ``"timeout"`` (killed after its
        timeout) or ``"crash"`` (the worker died).
        """
        while tid not in self._results:
            if tid not in self._tasks:
                raise KeyError(f"unknown grading task {tid}")
            self.pump(block=60.0)
        return self._results.pop(tid)

    def run(self, tasks: Sequence[tuple[str, tuple]], timeout: float,
            groups: Sequence[Any] | None = None) -> list[tuple[str, Any]]:
        """Run ``(op, args)`` tasks (optionally grouped); ``(status, value)`` per task, in order."""
        ids = [self.submit(op, args, timeout=timeout, group=None if groups is None else groups[k])
               for k, (op, args) in enumerate(tasks)]
        return [self.collect(t) for t in ids]

    def _start_failed(self, w: _Worker) -> None:
        self._start_failures += 1
        if self._start_failures >= _MAX_START_FAILURES:
            code = w.exitcode
            self.close()
            hint = ("with start method 'spawn'/'forkserver' the main script must guard its code "
                    "with `if __name__ == \"__main__\":`; " if self._ctx is not None else "")
            raise MathsynthError(
                f"grading worker process failed to start {self._start_failures} times in a row "
                f"(last exit code {code}; its error is on stderr above). {hint}"
                "Check that `python -c 'import math_verify, mathsynth'` works.")
