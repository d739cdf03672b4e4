"""How a stage hands several chunks' worth of work to one generate call without changing what any
batch holds.

A local backend gets one chunk per call and forms its batches from that chunk alone. A pool of
workers (:mod:`mathsynth.backends.ray_pool`) wants several chunks at once, to keep every worker busy;
so the stage names which request belongs to which chunk (a *shard plan*), and the pool sends each
chunk, unchanged, as one generate call to one worker. Every batch is then formed from exactly the
requests the local run would have put in it, and the samples match the local run's. This module
knows no executor: for a local generator the plan is simply not used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _inner(generator: Any) -> Any:
    return getattr(generator, "inner", generator)  # through the response cache


def shards_per_call(generator: Any) -> int:
    """How many chunks a stage should hand to one generate call: 1 for a local backend.

    >>> from mathsynth.backends.fake import FakeGenerator
    >>> shards_per_call(FakeGenerator()), shards_per_call(None)
    (1, 1)
    """
    return max(1, int(getattr(_inner(generator), "shards_per_call", 1) or 1))


@contextmanager
def shard_plan(generator: Any, plan: dict[str, int]) -> Iterator[None]:
    """Within the block, requests whose id maps to the same number form one shard (one worker call).

    A generator that does not shard ignores the plan.

    >>> from mathsynth.backends.fake import FakeGenerator
    >>> with shard_plan(FakeGenerator(), {"a": 0, "b": 1}):
    ...     pass
    """
    inner = _inner(generator)
    if not hasattr(inner, "shard_plan"):
        yield
        return
    inner.shard_plan = plan
    try:
        yield
    finally:
        inner.shard_plan = None
