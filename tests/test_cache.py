"""The response cache: never pay twice for a completion (reruns, resumes, crashes, concurrency)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mathsynth.backends.base import BudgetExceeded, Completion, GenerationRequest, SamplingParams
from mathsynth.backends.cache import ResponseCache, default_cache_path, request_key
from mathsynth.backends.cached import CachedGenerator
from mathsynth.backends.fake import FakeGenerator
from mathsynth.errors import MathsynthError

REPO = Path(__file__).resolve().parents[1]


def responder(req: GenerationRequest, i: int) -> str:
    return f"{req.id}|{req.prompt or req.messages[-1]['content']}|t={req.params.temperature}|s={i}"


class CacheableFake(FakeGenerator):
    """The fake backend with an identity, so its outputs are cached; records the sub-requests it got."""

    def __init__(self, respond=responder, identity=None):
        super().__init__(respond)
        self.identity = identity or {"backend": "test-fake", "model": "m1"}
        self.seen: list[GenerationRequest] = []

    def generate(self, requests, progress=None, on_complete=None):
        self.seen.extend(requests)
        return super().generate(requests, progress=progress, on_complete=on_complete)

    def cache_identity(self):
        return self.identity


class Scripted(CacheableFake):
    """Fails chosen samples once (error completion) and can raise BudgetExceeded after k completions."""

    def __init__(self, fail_once=(), budget=None):
        super().__init__()
        self.fail_once = set(fail_once)  # (request id, absolute sample index)
        self.budget = budget

    def generate(self, requests, progress=None, on_complete=None):
        self.seen.extend(requests)
        out = []
        for r, req in enumerate(requests):
            self.calls += 1
            comps = []
            for i in range(req.params.n):
                if self.budget is not None:
                    if self.budget == 0:
                        raise BudgetExceeded("spending limit reached")
                    self.budget -= 1
                absolute = req.sample_offset + i
                if (req.id, absolute) in self.fail_once:
                    self.fail_once.discard((req.id, absolute))
                    comp = Completion("", "error", error="HTTP 500")
                else:
                    comp = Completion(responder(req, absolute), "stop", completion_tokens=3)
                comps.append(comp)
                if on_complete:
                    on_complete(r, i, comp)
            out.append(comps)
            if progress:
                progress(1, sum(c.completion_tokens for c in comps))
        return out


def req(id="q1", n=4, prompt="1+1?", **params):
    return GenerationRequest(id, SamplingParams(n=n, **params), prompt=prompt)


def texts(results):
    return [[c.text for c in comps] for comps in results]


@pytest.fixture
def cache(tmp_path):
    with ResponseCache(tmp_path / "responses.sqlite") as c:
        yield c


def test_rerun_is_served_entirely_from_cache(cache):
    requests = [req("q1"), req("q2", prompt="2+2?", temperature=0.0), req("q3", n=1)]
    inner = CacheableFake()
    gen = CachedGenerator(inner, cache)
    first = gen.generate(requests)
    assert inner.calls == 3 and len(cache) == 9
    inner.calls = 0
    events, progress = [], []
    second = gen.generate(requests, progress=lambda d, t: progress.append((d, t)),
                          on_complete=lambda r, i, c: events.append((r, i, c.text)))
    assert inner.calls == 0
    assert texts(second) == texts(first) == texts(FakeGenerator(responder).generate(requests))
    assert sorted(events) == sorted((r, i, t) for r, ts in enumerate(texts(first)) for i, t in enumerate(ts))
    assert sum(d for d, _ in progress) == 3
    assert sum(t for _, t in progress) == sum(c.completion_tokens for cs in first for c in cs)
    assert gen.stats == {"hits": 9, "misses": 9}


def test_batch_dependent_backend_regenerates_a_call_that_was_cut_off(tmp_path):
    """A killed run left part of a call in the cache: a batched local backend (rows depend on their
    batch mates through rounding) redoes the whole call as it was formed; other backends only the gap."""
    calls = [req("q1", n=2), req("q2", n=2), req("q3", n=2)]
    for dependent, want in ((False, [("q3", 0, 2)]), (True, [("q1", 0, 2), ("q2", 0, 2), ("q3", 0, 2)])):
        cache = ResponseCache(tmp_path / f"{dependent}.sqlite")
        CachedGenerator(CacheableFake(), cache).generate(calls[:2])  # what the killed run had finished
        inner = CacheableFake()
        inner.batch_dependent = dependent
        gen = CachedGenerator(inner, cache)
        out = gen.generate(calls)
        assert [(r.id, r.sample_offset, r.params.n) for r in inner.seen] == want
        assert texts(out) == texts(FakeGenerator(responder).generate(calls))
        assert gen.stats.get("regenerated", 0) == int(dependent)
    inner = CacheableFake()
    inner.batch_dependent = True
    CachedGenerator(inner, cache).generate(calls)  # every sample cached now: nothing is redone
    assert inner.seen == []
    cache.close()


def test_more_samples_generate_only_the_new_ones(cache):
    inner = CacheableFake()
    gen = CachedGenerator(inner, cache)
    gen.generate([req(n=4)])
    inner.seen.clear()
    events = []
    out = gen.generate([req(n=8)], on_complete=lambda r, i, c: events.append((r, i, c.text)))
    assert [(s.sample_offset, s.params.n) for s in inner.seen] == [(4, 4)]
    fresh = FakeGenerator(responder).generate([req(n=8)])
    assert texts(out) == texts(fresh)
    assert sorted(events) == [(0, i, t) for i, t in enumerate(texts(fresh)[0])]
    # A request that itself starts at an offset shares those samples too.
    inner.seen.clear()
    shifted = GenerationRequest("q1", SamplingParams(n=4), prompt="1+1?", sample_offset=6)
    out = gen.generate([shifted])
    assert [(s.sample_offset, s.params.n) for s in inner.seen] == [(8, 2)]
    assert texts(out)[0] == [responder(shifted, k) for k in range(6, 10)]


@pytest.mark.parametrize("change", [
    dict(temperature=0.3), dict(seed=1), dict(top_p=0.9), dict(max_tokens=7), dict(stop=("\n",)),
    dict(prompt="1+2?"), dict(id="q9"), "identity", "messages",
])
def test_any_change_that_affects_output_is_a_miss(cache, change):
    base = req(n=2)
    CachedGenerator(CacheableFake(), cache).generate([base])
    identity = {"backend": "test-fake", "model": "m1"}
    if change == "identity":
        changed, identity = base, {"backend": "test-fake", "model": "m2"}
    elif change == "messages":
        changed = GenerationRequest("q1", SamplingParams(n=2), messages=({"role": "user", "content": "1+1?"},))
    else:
        fields = {"id": "q1", "prompt": "1+1?", **change}
        changed = req(n=2, **fields)
    inner = CacheableFake(identity=identity)
    CachedGenerator(inner, cache).generate([changed])
    assert inner.calls == 1


def test_request_key_ignores_n_but_not_position():
    a = req(n=8)
    assert request_key({"m": 1}, a, 3) == request_key({"m": 1}, req(n=1), 3)
    assert request_key({"m": 1}, a, 3) != request_key({"m": 1}, a, 4)
    msgs = GenerationRequest("q1", messages=({"role": "user", "content": "1+1?"},))
    assert request_key({"m": 1}, msgs, 0) != request_key({"m": 1}, req(), 0)


def test_errors_are_returned_but_not_cached(cache):
    inner = Scripted(fail_once={("q1", 1), ("q1", 3)})
    gen = CachedGenerator(inner, cache)
    first = gen.generate([req(n=4)])
    assert [c.finish_reason for c in first[0]] == ["stop", "error", "stop", "error"]
    assert len(cache) == 2
    inner.seen.clear()
    second = gen.generate([req(n=4)])
    assert [(s.sample_offset, s.params.n) for s in inner.seen] == [(1, 1), (3, 1)]
    assert all(c.ok for c in second[0]) and texts(second) == texts(FakeGenerator(responder).generate([req()]))


def test_budget_exceeded_keeps_what_was_paid_for(cache):
    requests = [req("q1"), req("q2")]
    inner = Scripted(budget=6)
    gen = CachedGenerator(inner, cache)
    events = []
    with pytest.raises(BudgetExceeded):
        gen.generate(requests, on_complete=lambda r, i, c: events.append((r, i)))
    assert len(events) == 6 and len(cache) == 6
    inner.budget, inner.seen = None, []
    out = gen.generate(requests)
    assert [(s.id, s.sample_offset, s.params.n) for s in inner.seen] == [("q2", 2, 2)]
    assert texts(out) == texts(FakeGenerator(responder).generate(requests))


def test_progress_counts_original_requests(cache):
    gen = CachedGenerator(CacheableFake(), cache)
    gen.generate([req("q1", n=2)])
    calls = []
    gen.generate([req("q1", n=4), req("q2", n=3)], progress=lambda d, t: calls.append((d, t)))
    # q1 split into a cached part and a generated part still counts as one request.
    assert sum(d for d, _ in calls) == 2


def test_no_identity_bypasses_the_cache(cache):
    inner = FakeGenerator(responder)  # cache_identity() is None
    gen = CachedGenerator(inner, cache)
    gen.generate([req()])
    gen.generate([req()])
    assert inner.calls == 2 and len(cache) == 0 and gen.stats == {"hits": 0, "misses": 0}


def test_wrapper_interface(cache):
    inner = CacheableFake()
    gen = CachedGenerator(inner, cache)
    assert gen.name == "fake" and gen.cache_identity() == inner.identity
    assert gen.describe() == {"backend": "fake", "cache": str(cache.path)}
    gen.close()
    with pytest.raises(MathsynthError, match="closed"):
        cache.put("k", Completion("x", "stop"))


def test_default_path_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MATHSYNTH_CACHE", str(tmp_path / "c"))
    assert default_cache_path() == tmp_path / "c" / "responses.sqlite"


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "responses.sqlite"
    path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(MathsynthError) as info:
        ResponseCache(path)
    assert str(path) in str(info.value) and "delete" in str(info.value) and "--no-cache" in str(info.value)


def test_first_writer_wins_and_threads_share_a_file(cache):
    cache.put("k", Completion("first", "stop"))
    cache.put("k", Completion("second", "stop"))
    assert cache.get_many(["k"])["k"].text == "first" and len(cache) == 1

    def work(t):
        for k in range(t * 20, t * 20 + 60):  # overlapping ranges across threads
            cache.put(f"t{k}", Completion(str(k), "stop"))
        return len(cache.get_many(f"t{k}" for k in range(200)))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    got = cache.get_many(f"t{k}" for k in range(200))
    assert sorted(got) == sorted(f"t{k}" for k in range(120)) and all(got[k].text == k[1:] for k in got)


def test_many_keys_are_chunked(cache):
    for k in range(1500):
        cache.put(str(k), Completion(str(k), "length", completion_tokens=k))
    got = cache.get_many([str(k) for k in range(2000)])
    assert len(got) == 1500 and got["1499"].completion_tokens == 1499 and got["7"].finish_reason == "length"


def _python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


WRITER = """
    import sys
    from mathsynth.backends.base import Completion
    from mathsynth.backends.cache import ResponseCache
    path, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cache = ResponseCache(path)
    for k in range(lo, hi):
        cache.put(f"key{k}", Completion(f"v{k}", "stop"))
    print(len(cache.get_many(f"key{k}" for k in range(lo, hi))))
"""


def test_concurrent_processes_write_one_file(tmp_path):
    path = str(tmp_path / "responses.sqlite")
    procs = [_python(WRITER, path, "0", "300"), _python(WRITER, path, "150", "450")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o.strip() for o, _ in outs] == ["300", "300"]
    with ResponseCache(path) as cache:
        assert len(cache) == 450
        got = cache.get_many(f"key{k}" for k in range(450))
        assert all(got[f"key{k}"].text == f"v{k}" for k in range(450))


def test_sigkill_loses_nothing_that_was_put(tmp_path):
    path = str(tmp_path / "responses.sqlite")
    proc = _python(WRITER.replace("print(", "import os, signal; os.kill(os.getpid(), signal.SIGKILL); print("),
                   path, "0", "40")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    with ResponseCache(path) as cache:
        assert len(cache) == 40
        assert cache.get_many(["key39"])["key39"].text == "v39"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_opens_its_own_connection(cache):
    cache.put("parent", Completion("p", "stop"))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            cache.put("child", Completion("c", "stop"))
            code = 0 if len(cache) == 2 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert set(cache.get_many(["parent", "child"])) == {"parent", "child"}
