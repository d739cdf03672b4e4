"""A generator wrapper that answers from the response cache and generates only what is missing.

Every sample a request asks for is looked up in a :class:`~mathsynth.backends.cache.ResponseCache`;
the inner backend is asked only for the missing samples (contiguous runs of missing indices become
sub-requests with the right ``sample_offset``), and each new completion is stored the moment the
backend reports it, so a crash, a kill or a spending limit loses nothing that was paid for.

>>> import tempfile, pathlib
>>> from mathsynth.backends.base import GenerationRequest, SamplingParams
>>> from mathsynth.backends.cache import ResponseCache
>>> from mathsynth.backends.fake import FakeGenerator
>>> class CacheableFake(FakeGenerator):
...     def cache_identity(self):
...         return {"backend": "doc-fake"}
>>> gen = CachedGenerator(CacheableFake(lambda req, i: f"The answer is: {i}."),
...                       ResponseCache(pathlib.Path(tempfile.mkdtemp()) / "responses.sqlite"))
>>> _ = gen.generate([GenerationRequest("q1", SamplingParams(n=2), prompt="1+1?")])
>>> out = gen.generate([GenerationRequest("q1", SamplingParams(n=3), prompt="1+1?")])
>>> [c.text for c in out[0]], gen.stats, gen.inner.calls
(['The answer is: 0.', 'The answer is: 1.', 'The answer is: 2.'], {'hits': 2, 'misses': 3}, 2)
>>> gen.close()
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from mathsynth.backends.base import (
    CompleteFn,
    Completion,
    GenerationRequest,
    Generator,
    ProgressFn,
)
from mathsynth.backends.cache import ResponseCache, request_key

_UNSET = object()


def missing_runs(slots: Sequence[object | None]) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of consecutive ``None`` slots.

    >>> missing_runs([None, None, "a", None, "b", None])
    [(0, 2), (3, 4), (5, 6)]
    """
    runs: list[tuple[int, int]] = []
    start = None
    for i, slot in enumerate([*slots, "end"]):
        if slot is None and start is None:
            start = i
        elif slot is not None and start is not None:
            runs.append((start, i))
            start = None
    return runs


class CachedGenerator:
    """Wraps a backend with a response cache; same interface as the backend it wraps.

    A backend whose ``cache_identity()`` is None (outputs that must not be cached, such as the
    fake backend) is passed through untouched. ``stats`` counts cache hits and misses per sample.
    A backend with ``batch_dependent = True`` (local batched decoding, whose rows depend on their
    batch mates through rounding) gets every call either entirely from the cache or entirely
    generated anew (``stats["regenerated"]`` counts the calls redone), so resumes reproduce.
    """

    def __init__(self, inner: Generator, cache: ResponseCache):
        self.inner, self.cache = inner, cache
        self.name = inner.name
        self.stats = {"hits": 0, "misses": 0}
        self._identity: Any = _UNSET

    def cache_identity(self) -> dict[str, Any] | None:
        # Computed once: for a local model it may hash the weights.
        if self._identity is _UNSET:
            self._identity = self.inner.cache_identity()
        return self._identity

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "cache": str(self.cache.path)}

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.cache.close()

    def generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None,
                 on_complete: CompleteFn | None = None) -> list[list[Completion]]:
        identity = self.cache_identity()
        if identity is None:
            return self.inner.generate(requests, progress=progress, on_complete=on_complete)

        keys = [[request_key(identity, req, i) for i in range(req.params.n)] for req in requests]
        found = self.cache.get_many(k for ks in keys for k in ks)
        results: list[list[Completion | None]] = [[found.get(k) for k in ks] for ks in keys]
        missing = [sum(c is None for c in slots) for slots in results]
        total = sum(len(slots) for slots in results)
        if 0 < sum(missing) < total and getattr(self.inner, "batch_dependent", False):
            # A local batched backend: a row's tokens depend on its batch mates through floating-point
            # rounding, so generating only the missing part of a call (what a killed run left) would
            # form other batches and give other samples than the uninterrupted run. The whole call
            # is generated again instead, as it was first formed: a resumed run is then identical to
            # an uninterrupted one, at the cost of redoing at most the one call that was cut off.
            results = [[None] * len(slots) for slots in results]
            missing = [len(slots) for slots in results]
            self.stats["regenerated"] = self.stats.get("regenerated", 0) + 1
        self.stats["hits"] += total - sum(missing)
        self.stats["misses"] += sum(missing)

        if on_complete:
            for r, slots in enumerate(results):
                for i, comp in enumerate(slots):
                    if comp is not None:
                        on_complete(r, i, comp)
        if progress:
            hit_tokens = sum(c.completion_tokens for slots in results for c in slots if c is not None)
            if hit_tokens or missing.count(0):
                progress(missing.count(0), hit_tokens)

        subs: list[GenerationRequest] = []
        origin: list[tuple[int, int]] = []  # sub-request -> (request index, first sample index in it)
        for r, slots in enumerate(results):
            req = requests[r]
            for start, stop in missing_runs(slots):
                subs.append(GenerationRequest(
                    req.id, dataclasses.replace(req.params, n=stop - start), messages=req.messages,
                    prompt=req.prompt, sample_offset=req.sample_offset + start))
                origin.append((r, start))
        if subs:
            self._generate_missing(subs, origin, keys, results, missing, progress, on_complete)
        return results  # type: ignore[return-value]  # every slot is filled by now

    def _generate_missing(self, subs: list[GenerationRequest], origin: list[tuple[int, int]],
                          keys: list[list[str]], results: list[list[Completion | None]],
                          missing: list[int], progress: ProgressFn | None,
                          on_complete: CompleteFn | None) -> None:
        lock = threading.Lock()  # backends may report from worker threads
        unreported = [0]  # original requests completed but not yet counted through progress

        def store(j: int, i: int, comp: Completion) -> None:
            r, start = origin[j]
            idx = start + i
            with lock:
                if results[r][idx] is not None:
                    return  # already stored and reported (a backend reporting a sample twice)
                results[r][idx] = comp
                missing[r] -= 1
                if missing[r] == 0:
                    unreported[0] += 1
            # Errors are not stored: a failure must be retried by the next run, not replayed.
            if comp.ok:
                self.cache.put(keys[r][idx], comp)
            if on_complete:
                on_complete(r, idx, comp)

        def report(done: int, tokens: int) -> None:
            # The inner counts sub-requests; the caller counts its own requests, so report those
            # whose last missing sample has arrived instead of the inner's count.
            with lock:
                finished, unreported[0] = unreported[0], 0
            if finished or tokens:
                progress(finished, tokens)

        out = self.inner.generate(subs, progress=report if progress else None, on_complete=store)

        # Backends must return every sample, but may not have reported each through on_complete.
        for j, comps in enumerate(out):
            for i, comp in enumerate(comps[:subs[j].params.n]):
                store(j, i, comp)
        for j, sub in enumerate(subs):
            r, start = origin[j]
            for i in range(sub.params.n):
                if results[r][start + i] is None:
                    store(j, i, Completion("", "error", error=f"backend {self.inner.name!r} returned "
                                                             "no completion for this sample"))
        if progress:
            report(0, 0)
