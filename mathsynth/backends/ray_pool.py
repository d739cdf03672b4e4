"""Generation on a Ray cluster: a pool of actors, each holding one generator, behind the
:class:`~mathsynth.backends.base.Generator` protocol (``--executor ray``).

Each actor loads the model once (``load_generator(name, cache=False)``: transformers, vLLM,
llama.cpp, or an OpenAI-compatible client, so a fleet of teacher servers is driven by many actors).
A ``generate`` call is cut into shards by the stage's shard plan (:mod:`mathsynth.backends.shards`):
one shard is one chunk the local run would have handed to its backend in one call, so every actor
forms exactly the batches the local backend forms and the samples (seeded per request and sample
by ``row_seed``) are the local run's. Completions come back in request order; the driver keeps the
response cache (a :class:`~mathsynth.backends.cached.CachedGenerator` around this one), the
grader and the records file, so resume and every later stage are unchanged.

Faults: an actor that dies is restarted by Ray and its shard retried (``max_restarts``,
``max_task_retries``); past that the driver replaces the actor and retries the shard, and a shard
that fails ``SHARD_ATTEMPTS`` times comes back as "error" completions, which the stage records as
failed and the next run redoes. A stage error raised inside an actor (a spending limit, a stalled
server) is raised here once the shards in flight are in (their paid completions reach the cache).
"""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from mathsynth.backends.base import CompleteFn, Completion, GenerationRequest, ProgressFn
from mathsynth.errors import MathsynthError

INSTALL_HINT = "--executor ray needs Ray, which is not installed: pip install 'mathsynth[ray]'"
SHARD_ATTEMPTS = 3  # driver-side tries of one shard, each on a live (possibly new) actor
# Environment the actors need to find the same data, models and caches as the driver (on a cluster
# these paths must exist on every node: a shared filesystem; see docs/cluster.md).
FORWARDED_ENV = ("MATHSYNTH_", "OPENAI_", "HF_", "TRANSFORMERS_", "PYTHONPATH")


def import_ray() -> Any:
    """The ``ray`` module, or one clear error saying how to install it.

    >>> import_ray().__name__  # doctest: +SKIP
    'ray'
    """
    try:
        import ray
    except ImportError:
        raise MathsynthError(INSTALL_HINT) from None
    return ray


def connect(address: str | None) -> bool:
    """Join (``auto``, ``ray://host:10001``, ``host:6379``) or start (None, ``local``) a Ray cluster;
    True when this call started it (the caller then shuts it down). An already connected process
    (a test's cluster, a Ray task) is reused.

    >>> connect(None)  # doctest: +SKIP
    True
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
    kw: dict[str, Any] = {"log_to_driver": False, "runtime_env": {"env_vars": env} if env else None}
    try:
        if address in (None, "", "local"):
            # A private cluster for this run; a small object store (records are text, not tensors).
            ray.init(address="local", include_dashboard=False, object_store_memory=256 * 2**20, **kw)
        else:
            ray.init(address=address, **kw)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise MathsynthError(f"could not connect to the Ray cluster at {address!r}: {exc}") from None
    return True


class _Worker:
    """One actor: one generator, loaded once (Ray restarts it, reloading, if it dies)."""

    def __init__(self, load: Callable[[], Any]):
        # ``load`` builds the local backend (models.load_generator, bound by the caller): passing it
        # in keeps this module below backends.models (no import cycle).
        self.gen = load()

    def info(self) -> dict:
        g = self.gen
        return {"describe": g.describe(), "cache_identity": g.cache_identity(), "name": g.name,
                "continuous": bool(getattr(g, "continuous", False)), "prune": bool(getattr(g, "prune", True)),
                "batch_dependent": bool(getattr(g, "batch_dependent", False)),
                "pid": os.getpid(), "host": socket.gethostname()}

    def generate(self, requests: list[GenerationRequest]) -> tuple[list[list[Completion]], dict]:
        out = self.gen.generate(requests)
        stats = {k: v for k, v in (getattr(self.gen, "stats", None) or {}).items() if isinstance(v, int | float)}
        return out, stats


class RayGenerator:
    """A pool of ``workers`` Ray actors serving model ``name``; the Generator protocol.

    ``load`` builds one actor's backend (uncached; the cache stays with the driver); ``max_cost`` in
    its options is the caller's to split between the actors.

    >>> from functools import partial
    >>> from mathsynth.backends.models import load_generator
    >>> g = RayGenerator("fake", partial(load_generator, "fake", cache=False), workers=2)  # doctest: +SKIP
    >>> from mathsynth.backends.base import GenerationRequest
    >>> [len(c) for c in g.generate([GenerationRequest(f"q{i}", prompt="1+1?") for i in range(4)])]  # doctest: +SKIP
    [1, 1, 1, 1]
    """

    def __init__(self, name: str, load: Callable[[], Any], *, workers: int = 2, gpus_per_worker: float = 0.0,
                 address: str | None = None, cpus_per_worker: float = 1.0):
        ray = import_ray()
        self.model, self.workers, self.address = name, max(1, workers), address
        self.started = connect(address)
        self._actor_cls = ray.remote(_Worker).options(
            num_cpus=cpus_per_worker, num_gpus=gpus_per_worker, max_restarts=2, max_task_retries=1)
        self._args = (load,)
        self.gpus_per_worker = gpus_per_worker
        self.shard_plan: dict[str, int] | None = None
        self.shards_per_call = 2 * self.workers  # a queued shard per actor while another runs
        self.counters = {"shards": 0, "shard_retries": 0, "actors_replaced": 0, "shards_failed": 0}
        self._worker_stats: dict[int, dict] = {}
        self.actors = [self._actor_cls.remote(*self._args) for _ in range(self.workers)]
        self.busy: dict[int, Any] = {}  # actor index -> its shard in flight
        try:
            infos = ray.get([a.info.remote() for a in self.actors])
        except Exception as exc:
            self.close()
            raise MathsynthError(f"ray workers could not load {name!r}: {_reason(exc)}") from None
        first = infos[0]
        self.name = first["name"]
        self.continuous, self.prune = first["continuous"], first["prune"]
        self.batch_dependent = first["batch_dependent"]
        self._identity, self._inner_describe = first["cache_identity"], first["describe"]
        self.hosts = sorted({i["host"] for i in infos})
        self.actor_pids = [i["pid"] for i in infos]  # as started (a restarted actor has another)

    # -- the Generator protocol ------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {**self._inner_describe, "executor": "ray", "workers": self.workers,
                "gpus_per_worker": self.gpus_per_worker, "ray_address": self.address, "hosts": self.hosts}

    def cache_identity(self) -> dict[str, Any] | None:
        return self._identity  # the model's: a Ray run and a local run share cached answers

    @property
    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for st in self._worker_stats.values():
            for k, v in st.items():
                out[k] = out.get(k, 0) + v
        return {**out, **{f"ray_{k}": v for k, v in self.counters.items()}}

    def close(self) -> None:
        ray = import_ray()
        for a in getattr(self, "actors", []):
            try:
                ray.kill(a)
            except Exception:
                pass
        self.actors = []
        if self.started and ray.is_initialized():
            ray.shutdown()
            self.started = False

    def pids(self) -> list[int]:
        """Process ids of the live actors (tests kill one)."""
        return [i["pid"] for i in import_ray().get([a.info.remote() for a in self.actors])]

    def busy_pids(self) -> list[int]:
        """Process ids (as started) of the actors that have a shard in flight now."""
        return [self.actor_pids[a] for a in list(self.busy)]

    def generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None,
                 on_complete: CompleteFn | None = None) -> list[list[Completion]]:
        results: list[list[Completion] | None] = [None] * len(requests)
        shards = self._shards(requests)

        def deliver(idxs: list[int], comps: list[list[Completion]]) -> None:
            for i, cs in zip(idxs, comps, strict=True):
                results[i] = cs
                for k, c in enumerate(cs) if on_complete else ():
                    on_complete(i, k, c)
            if progress:
                progress(len(idxs), sum(c.completion_tokens for cs in comps for c in cs))

        self._run(requests, shards, deliver)
        return [r or [] for r in results]

    # -- sharding and dispatch -------------------------------------------------------------------

    def _shards(self, requests: Sequence[GenerationRequest]) -> list[list[int]]:
        """Request indices per shard, in request order: by the stage's plan, else ``workers``
        contiguous parts."""
        if not requests:
            return []
        if self.shard_plan is None:
            per = -(-len(requests) // self.workers)
            return [list(range(k, min(k + per, len(requests)))) for k in range(0, len(requests), per)]
        groups: dict[Any, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(self.shard_plan.get(r.id, ("unplanned",)), []).append(i)
        return list(groups.values())

    def _run(self, requests: Sequence[GenerationRequest], shards: list[list[int]], deliver) -> None:
        ray = import_ray()
        from ray.exceptions import RayActorError, RayTaskError

        queue = deque((j, 1) for j in range(len(shards)))
        idle = deque(range(len(self.actors)))
        inflight: dict[Any, tuple[int, int, int]] = {}  # ref -> (shard, attempt, actor index)
        stop: MathsynthError | None = None
        while queue or inflight:
            while queue and idle and stop is None:
                j, attempt = queue.popleft()
                a = idle.popleft()
                ref = self.actors[a].generate.remote([requests[i] for i in shards[j]])
                inflight[ref] = (j, attempt, a)
                self.busy[a] = ref
                self.counters["shards"] += attempt == 1
            if not inflight:
                break
            ready, _ = ray.wait(list(inflight), num_returns=1)
            ref = ready[0]
            j, attempt, a = inflight.pop(ref)
            self.busy.pop(a, None)
            try:
                comps, stats = ray.get(ref)
            except RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, MathsynthError):  # a stage error (budget, stall): stop, keep what is in
                    stop = stop or cause
                    idle.append(a)
                    continue
                self._retry(queue, shards, j, attempt, _reason(exc), deliver, requests)
                idle.append(a)
                continue
            except RayActorError as exc:
                # Ray's own restarts are spent: a fresh actor takes this one's place.
                self.actors[a] = self._actor_cls.remote(*self._args)
                self.counters["actors_replaced"] += 1
                self._retry(queue, shards, j, attempt, _reason(exc), deliver, requests)
                idle.append(a)
                continue
            self._worker_stats[a] = stats
            if len(comps) != len(shards[j]):
                comps = [[Completion("", "error", error="ray worker returned a wrong number of results")]
                         * requests[i].params.n for i in shards[j]]
            deliver(shards[j], comps)
            idle.append(a)
        if stop is not None:
            raise stop

    def _retry(self, queue: deque, shards: list[list[int]], j: int, attempt: int, reason: str, deliver,
               requests: Sequence[GenerationRequest]) -> None:
        if attempt < SHARD_ATTEMPTS:
            self.counters["shard_retries"] += 1
            queue.append((j, attempt + 1))
            return
        # Recorded as failed, never dropped: the stage writes it and the next run redoes it.
        self.counters["shards_failed"] += 1
        err = f"ray worker failed {attempt} times: {reason}"
        deliver(shards[j], [[Completion("", "error", error=err) for _ in range(requests[i].params.n)]
                            for i in shards[j]])


def _call(fn: Any, args: tuple) -> Any:
    return fn(*args)


class RayTasks:
    """Model-free CPU work (the symbolic teacher) as Ray tasks: ``map(fn, [args, ...])`` returns
    ``[fn(*args), ...]`` in order. Ray reruns a task whose worker died (``max_retries``); ``fn`` must
    be importable (it is pickled by reference) and deterministic, so a rerun returns the same.

    >>> RayTasks(workers=2).map(divmod, [(7, 2), (9, 4)])  # doctest: +SKIP
    [(3, 1), (2, 1)]
    """

    name = "ray-tasks"

    def __init__(self, *, address: str | None = None, workers: int = 2):
        ray = import_ray()
        self.workers, self.address = max(1, workers), address
        self.started = connect(address)
        self._remote = ray.remote(num_cpus=1, max_retries=3)(_call)
        self.shards_per_call = 2 * self.workers
        self.stats = {"ray_tasks": 0}

    def map(self, fn: Any, items: Sequence[tuple]) -> list:
        ray = import_ray()
        self.stats["ray_tasks"] += len(items)
        return ray.get([self._remote.remote(fn, args) for args in items])

    def describe(self) -> dict[str, Any]:
        return {"backend": "symbolic", "executor": "ray", "workers": self.workers, "ray_address": self.address}

    def cache_identity(self) -> None:
        return None

    def close(self) -> None:
        ray = import_ray()
        if self.started and ray.is_initialized():
            ray.shutdown()
            self.started = False


def _reason(exc: BaseException) -> str:
    """The first line that says what went wrong (Ray wraps the worker's traceback)."""
    cause = getattr(exc, "cause", None)
    if cause is not None and not isinstance(cause, type(exc)):
        return f"{type(cause).__name__}: {cause}".splitlines()[0][:300]
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]
