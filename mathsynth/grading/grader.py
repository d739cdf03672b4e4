"""The grader: extraction + guards + caches + fast paths + math-verify in worker processes."""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mathsynth.errors import MathsynthError
from mathsynth.grading.equivalence import answer_key, fast_verdict, normalize, prepare_gold
from mathsynth.grading.extract import extract_with_rule
from mathsynth.grading.pool import WorkerPool

__all__ = ["GradeResult", "Grader", "grade", "is_equivalent", "truncated_flags"]


def truncated_flags(finish_reasons: Sequence[str | None], fallback: bool = False) -> list[bool]:
    """Which completions to grade as cut off: finish reason "length" (the token limit), unless
    ``fallback`` asks for the old behaviour (the last number counts even in a cut-off text).

    >>> truncated_flags(["stop", "length", None]), truncated_flags(["length"], fallback=True)
    ([False, True, False], [False])
    """
    return [not fallback and r == "length" for r in finish_reasons]


@dataclass(frozen=True)
class GradeResult:
    """One graded response.

    ``correct``: the verdict; ``extracted``: the answer read from the response (None if none);
    ``rule``: the extraction rule that fired; ``key``: :func:`answer_key` of ``extracted``.

    >>> GradeResult(correct=True, extracted="5", rule="answer_is", key="5").correct
    True
    """

    correct: bool
    extracted: str | None
    rule: str | None
    key: str | None


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Grader:
    """Grades many answers fast and safely; a context manager owning worker processes.

    Per (gold, prediction) pair, in order: no answer -> wrong; prediction longer than ``max_len``
    characters -> wrong without parsing; verdict cache (keyed on the normalized pair); fast paths
    (exact match after normalization, plain numbers compared exactly); otherwise math-verify in a
    worker process, killed and replaced if it runs past ``timeout`` seconds (verdict: wrong).
    Workers start on first need, so fast-path-only use costs no processes.

    ``memory_mb`` caps each worker's address space; ``start_method`` is how workers start (see
    :mod:`mathsynth.grading.pool`; never ``fork``). Not thread-safe: use one Grader per thread (the module-level :func:`grade` and
    :func:`is_equivalent` are safe to call from any thread).

    >>> with Grader(workers=1) as g:
    ...     g.equivalent_many([("1000", "1,000"), ("\\\\frac{1}{2}", "0.5"), ("3", "4")])
    [True, True, False]
    >>> with Grader(workers=1) as g:
    ...     [r.correct for r in g.grade_many([("72", "... #### 72"), ("5", "The answer is 6")])]
    [True, False]
    """

    def __init__(self, workers: int | None = None, timeout: float = 5.0, max_len: int = 2000, *,
                 memory_mb: int | None = 4096, cache_size: int = 1_000_000,
                 start_method: str = "subprocess"):
        if timeout <= 0:
            raise MathsynthError(f"grading timeout must be > 0 seconds, got {timeout}")
        self.workers = workers or _default_workers()
        self.timeout = float(timeout)
        self.max_len = int(max_len)
        self.cache_size = int(cache_size)
        self._pool = WorkerPool(self.workers, memory_mb=memory_mb, start_method=start_method)
        self._cache: dict[tuple[str, str], bool] = {}
        self._gold: dict[str, str] = {}
        self._counts = {"items": 0, "no_answer": 0, "too_long": 0, "cache_hits": 0,
                        "fast_path_hits": 0, "worker_calls": 0, "worker_errors": 0}

    @property
    def stats(self) -> dict[str, int]:
        """Counters: items, no_answer, too_long, cache_hits, fast_path_hits, worker_calls,
        worker_errors, timeouts, crashes, workers_restarted."""
        pool = self._pool.stats
        return {**self._counts, "timeouts": pool["timeouts"], "crashes": pool["crashes"],
                "workers_restarted": pool["workers_restarted"]}

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the worker processes (the Grader restarts them if used again)."""
        self._pool.close()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- grading ---------------------------------------------------------------------------------
    def _gold_norm(self, gold: str) -> str:
        g = self._gold.get(gold)
        if g is None:
            if len(self._gold) > 100_000:
                self._gold.clear()
            g = self._gold[gold] = prepare_gold(gold)
        return g

    def _remember(self, key: tuple[str, str], verdict: bool) -> None:
        if len(self._cache) >= self.cache_size:  # evict the oldest entry (dicts keep order)
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = verdict

    def _verdicts(self, pairs: Sequence[tuple[str, str | None]], timeout: float | None = None
                  ) -> list[bool]:
        timeout = self.timeout if timeout is None else float(timeout)
        inner = max(1, int(timeout / 2))  # math-verify's own (signal) timeouts: whole seconds
        out: list[bool] = [False] * len(pairs)
        pending: dict[tuple[str, str], list[int]] = {}
        tids: dict[tuple[str, str], int] = {}
        c = self._counts
        pool = self._pool
        try:
            for i, (gold, pred) in enumerate(pairs):
                c["items"] += 1
                if not i & 255 and tids:
                    pool.pump(0.0)  # hand finished workers their next task
                if pred is None or not isinstance(pred, str) or not pred.strip():
                    c["no_answer"] += 1
                    continue
                if len(pred) > self.max_len:
                    c["too_long"] += 1
                    continue
                key = (self._gold_norm(str(gold)), normalize(pred))
                hit = self._cache.get(key)
                if hit is not None:
                    c["cache_hits"] += 1
                    out[i] = hit
                    continue
                if key in pending:
                    c["cache_hits"] += 1
                    pending[key].append(i)
                    continue
                fast = fast_verdict(*key)
                if fast is not None:
                    c["fast_path_hits"] += 1
                    self._remember(key, fast)
                    out[i] = fast
                    continue
                # Stream the task: workers start and work while we go through the rest. No grouping by
                # gold: keeping one gold's pairs on one worker left the other idle at the end.
                pending[key] = [i]
                tids[key] = pool.submit("equiv", (*key, inner), timeout=timeout, group=None)
                pool.pump(0.0)
            for key, idxs in pending.items():
                status, value = pool.collect(tids[key])
                verdict = status == "ok" and value is True
                c["worker_calls"] += 1
                c["worker_errors"] += status == "error"
                self._remember(key, verdict)
                for i in idxs:
                    out[i] = verdict
        except BaseException:
            pool.close()  # drop half-done work; workers restart on the next call
            raise
        return out

    def equivalent_many(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """Equivalence verdicts for ``(gold, pred)`` pairs of final answers.

        >>> with Grader(workers=1) as g:
        ...     g.equivalent_many([("\\\\sqrt{8}", "2\\\\sqrt{2}"), ("(1,2)", "(2,1)")])
        [True, False]
        """
        return self._verdicts([(g, p) for g, p in pairs])

    def grade_many(self, items: Sequence[tuple[str, str]], benchmark: str | None = None,
                   rules: Sequence[str] | None = None, *, truncated: Sequence[bool] | None = None
                   ) -> list[GradeResult]:
        """Grade ``(gold, response)`` pairs: extract each answer, then judge it.

        ``rules`` overrides the benchmark's extraction order (see :func:`extract_with_rule`).
        ``truncated[i]``: response i stopped at the token limit, so it needs a final-answer
        statement (no last-number fallback); see :func:`truncated_flags`.

        >>> with Grader(workers=1) as g:
        ...     g.grade_many([("\\\\frac{1}{2}", "so $\\\\boxed{0.5}$")], benchmark="math")[0]
        GradeResult(correct=True, extracted='0.5', rule='boxed', key='1/2')
        """
        if len(items) >= 256:  # one worker boots (~0.5 s) while this process extracts and
            self._pool.start(1)  # triages; more start as math-verify tasks queue up (pool.pump)
        if truncated is not None and len(truncated) != len(items):
            raise ValueError(f"grade_many: {len(truncated)} truncated flags for {len(items)} items")
        flags = truncated if truncated is not None else [False] * len(items)
        extracted = [extract_with_rule(resp, benchmark, rules, truncated=bool(t))
                     for (_, resp), t in zip(items, flags, strict=True)]
        verdicts = self._verdicts([(gold, ans) for (gold, _), (ans, _) in zip(items, extracted,
                                                                              strict=True)])
        return [GradeResult(correct=v, extracted=ans, rule=rule, key=answer_key(ans)
                            if ans is not None and len(ans) <= self.max_len else None)
                for v, (ans, rule) in zip(verdicts, extracted, strict=True)]


# -- module-level convenience functions (a lazily started, shared Grader) ------------------------

_lock = threading.Lock()
_shared: Grader | None = None


def _shared_grader() -> Grader:
    global _shared
    if _shared is None:
        _shared = Grader(workers=min(2, _default_workers()))
        atexit.register(_shared.close)
    return _shared


def is_equivalent(gold: str, pred: str, timeout: float = 5.0) -> bool:
    """Whether ``pred`` is mathematically equivalent to the reference answer ``gold``.

    Numbers and exact matches are decided in-process; anything else goes to a shared worker
    process bounded by ``timeout`` seconds (a timeout means "not equivalent"). Never evaluates
    the strings as code.

    >>> is_equivalent("1000", "1,000"), is_equivalent("\\\\frac{1}{2}", "0.5")
    (True, True)
    >>> is_equivalent("\\\\frac{\\\\sqrt{3}}{2}", "\\\\frac{1}{2}\\\\sqrt{3}")
    True
    >>> is_equivalent("[1,2)", "(1,2]")
    False
    """
    if pred is None or not isinstance(pred, str) or not pred.strip() or len(pred) > 2000:
        return False
    key = (prepare_gold(str(gold)), normalize(pred))
    fast = fast_verdict(*key)
    if fast is not None:
        return fast
    with _lock:
        return _shared_grader()._verdicts([(gold, pred)], timeout=timeout)[0]


def grade(gold: str, response: str, benchmark: str | None = None) -> GradeResult:
    """Grade one model response against the reference answer (extract, then judge).

    >>> grade("72", "She sold 48 + 24 = 72 clips. The answer is: 72").correct
    True
    >>> r = grade("\\\\frac{3}{4}", r"So the probability is $\\boxed{\\dfrac{3}{4}}$.", benchmark="math")
    >>> r.correct, r.extracted, r.rule, r.key
    (True, '\\\\dfrac{3}{4}', 'boxed', '3/4')
    """
    answer, rule = extract_with_rule(response, benchmark)
    correct = answer is not None and is_equivalent(gold, answer)
    key = answer_key(answer) if answer is not None and len(answer) <= 2000 else None
    return GradeResult(correct=correct, extracted=answer, rule=rule, key=key)
