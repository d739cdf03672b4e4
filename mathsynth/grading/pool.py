"""A small pool of grading worker processes with a hard per-task wall-clock bound.

Why not ``multiprocessing.Pool`` or ``concurrent.futures``: neither can kill one stuck task and
carry on. Here every worker runs one task at a time *in its main thread* (so math-verify's
``signal.alarm`` timeouts work); the parent waits on the pipes with a deadline per task and, when a
task overruns (a C-level bignum power, a sympy loop that never checks for signals), it kills that
worker, records ``"timeout"`` and starts a replacement while the other workers keep going.

Workers are started with the ``spawn`` start method: a fresh interpreter, never a ``fork`` of a
parent that may hold torch / CUDA / OpenMP threads. Each worker caps its own address space
(``RLIMIT_AS``) so a runaway expression fails with ``MemoryError`` instead of swapping the machine.
"""

from __future__ import annotations

import multiprocessing as mp
import os
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


def _op_sleep(seconds: float) -> bool:  # test hook: a task that overruns its deadline
    time.sleep(seconds)
    return True


def _op_crash(code: int) -> bool:  # test hook: a worker that dies mid-task
    os._exit(code)


def _op_pid() -> int:
    return os.getpid()


_OPS = {"equiv": _op_equiv, "sleep": _op_sleep, "crash": _op_crash, "pid": _op_pid}


def _worker_main(conn: Connection, memory_mb: int | None) -> None:
    """Worker loop: receive ``(task_id, op, args)``, reply ``(task_id, status, value)``."""
    import signal

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
    conn.send(("ready", os.getpid(), None))
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
            conn.send(reply)
        except (OSError, ValueError):
            return


class _Worker:
    __slots__ = ("proc", "conn", "state", "task", "deadline")

    def __init__(self, ctx: Any, memory_mb: int | None):
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child_conn, memory_mb),
                                name="mathsynth-grader", daemon=True)
        self.proc.start()
        child_conn.close()
        self.conn: Connection = parent_conn
        self.state = "starting"
        self.task: int | None = None
        self.deadline = time.monotonic() + _START_TIMEOUT

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.join(timeout=5)
        except (OSError, ValueError, AssertionError):
            pass
        try:
            self.conn.close()
        except OSError:
            pass


class WorkerPool:
    """``workers`` processes running named tasks, each bounded by a wall-clock timeout.

    >>> with WorkerPool(1) as pool:
    ...     pool.run([("sleep", (0,)), ("sleep", (30,))], timeout=1.0)
    [('ok', True), ('timeout', None)]
    """

    def __init__(self, workers: int = 1, *, memory_mb: int | None = 4096, start_method: str = "spawn"):
        if workers < 1:
            raise MathsynthError(f"grading workers must be >= 1, got {workers}")
        self.n = workers
        self.memory_mb = memory_mb
        self._ctx = mp.get_context(start_method)
        self._workers: list[_Worker] = []
        self._start_failures = 0
        self.stats = {"timeouts": 0, "crashes": 0, "workers_restarted": 0, "tasks": 0}

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker processes (done lazily by :meth:`run`)."""
        while len(self._workers) < self.n:
            self._workers.append(_Worker(self._ctx, self.memory_mb))

    def close(self) -> None:
        """Stop all workers (politely, then by force)."""
        workers, self._workers = self._workers, []
        for w in workers:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 1.0
        for w in workers:
            w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            w.kill()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _replace(self, idx: int, *, counted: bool = True) -> None:
        self._workers[idx].kill()
        self._workers[idx] = _Worker(self._ctx, self.memory_mb)
        if counted:
            self.stats["workers_restarted"] += 1

    # -- running ---------------------------------------------------------------------------------
    def run(self, tasks: Sequence[tuple[str, tuple]], timeout: float) -> list[tuple[str, Any]]:
        """Run ``(op, args)`` tasks; return ``(status, value)`` per task, in order.

        ``status`` is ``"ok"``, ``"error"`` (the task raised), ``"timeout"`` (killed after
        ``timeout`` seconds) or ``"crash"`` (the worker died).
        """
        results: list[tuple[str, Any] | None] = [None] * len(tasks)
        if not tasks:
            return []
        self.start()
        queue = deque(range(len(tasks)))
        remaining = len(tasks)
        while remaining:
            now = time.monotonic()
            for i, w in enumerate(self._workers):
                if w.state == "idle" and queue:
                    t = queue.popleft()
                    try:
                        w.conn.send((t, tasks[t][0], tuple(tasks[t][1])))
                    except (OSError, ValueError):  # died while idle: not this task's fault
                        queue.appendleft(t)
                        self._replace(i)
                        continue
                    w.state, w.task, w.deadline = "busy", t, now + timeout
            by_conn = {w.conn: i for i, w in enumerate(self._workers)}
            nearest = min((w.deadline for w in self._workers if w.state != "idle"), default=now)
            ready = wait(list(by_conn), timeout=max(0.0, nearest - time.monotonic()))
            for conn in ready:
                i = by_conn[conn]  # type: ignore[index]
                w = self._workers[i]
                try:
                    tid, status, value = conn.recv()  # type: ignore[union-attr]
                except (EOFError, OSError, ValueError):
                    if w.state == "busy":
                        results[w.task] = ("crash", None)  # type: ignore[index]
                        remaining -= 1
                        self.stats["crashes"] += 1
                    else:
                        self._start_failed(w)
                    self._replace(i)
                    continue
                if w.state == "starting":
                    w.state, self._start_failures = "idle", 0
                    continue
                if tid == w.task and results[tid] is None:
                    results[tid] = (status, value)
                    remaining -= 1
                    self.stats["tasks"] += 1
                w.state, w.task = "idle", None
            now = time.monotonic()
            for i, w in enumerate(self._workers):
                if w.deadline > now or w.state == "idle":
                    continue
                if w.state == "busy":
                    results[w.task] = ("timeout", None)  # type: ignore[index]
                    remaining -= 1
                    self.stats["timeouts"] += 1
                else:
                    self._start_failed(w)
                self._replace(i)
        return results  # type: ignore[return-value]

    def _start_failed(self, w: _Worker) -> None:
        self._start_failures += 1
        if self._start_failures >= _MAX_START_FAILURES:
            code = w.proc.exitcode
            self.close()
            raise MathsynthError(
                f"grading worker process failed to start {self._start_failures} times in a row "
                f"(last exit code {code}); check that math-verify imports: "
                "python -c 'import math_verify'")
