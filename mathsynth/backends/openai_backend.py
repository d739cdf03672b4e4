"""The ``openai`` backend: any OpenAI-compatible HTTP endpoint (OpenAI, vLLM, SGLang, llama.cpp server).

Chat requests go to ``/chat/completions``, raw-prompt requests to the legacy ``/completions``
endpoint. Requests run concurrently (bounded), under optional requests/tokens-per-minute limits,
with retries and a spending limit; a request that fails for good becomes ``"error"`` completions,
never an exception. The API key comes from ``api_key``, ``$MATHSYNTH_API_KEY`` or
``$OPENAI_API_KEY`` and is never written anywhere (describe, repr, logs, error texts).

>>> g = OpenAIGenerator("Qwen2.5-Math-7B-Instruct", "http://127.0.0.1:8000")
>>> g.cache_identity()
{'backend': 'openai', 'model': 'Qwen2.5-Math-7B-Instruct', 'base_url': 'http://127.0.0.1:8000/v1'}
>>> from mathsynth.backends.base import GenerationRequest, SamplingParams
>>> req = GenerationRequest("q1", SamplingParams(n=2), messages=({"role": "user", "content": "1+1?"},))
>>> [c.text for c in g.generate([req])[0]]  # doctest: +SKIP
['1+1 = 2. The answer is: 2.', 'The answer is: 2.']
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import random
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import openai

from mathsynth.backends import ratelimit as rl
from mathsynth.backends.base import (
    BudgetExceeded,
    CompleteFn,
    Completion,
    GenerationRequest,
    ProgressFn,
    StalledServer,
)
from mathsynth.backends.base import row_seed as _row_seed
from mathsynth.backends.endpoints import _OFFICIAL_HOST, is_private_host, normalize_base_url  # noqa: F401 (re-exported)
from mathsynth.backends.pricing import Price, cost_usd, find_price, merge_prices
from mathsynth.errors import MathsynthError

log = logging.getLogger(__name__)

STALL_LOCAL = 90.0    # seconds without any reply, for a server on loopback or a private network
STALL_REMOTE = 600.0  # the same for a remote API (long generations, queues)


class _Secret:
    """Holds the key so that repr()/vars() dumps of the generator never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"


@dataclass
class _Batch:
    """State of one generate() call."""

    requests: list[GenerationRequest]
    progress: ProgressFn | None
    on_complete: CompleteFn | None
    client: Any
    sem: asyncio.Semaphore
    results: list[list[Completion | None]] = field(default_factory=list)
    finished: int = 0
    stopped: bool = False
    inflight: int = 0          # HTTP exchanges under way (not requests waiting for a slot or a retry)
    last_event: float = 0.0    # monotonic time of the last reply, or of the first exchange after none


class OpenAIGenerator:
    """Generator for an OpenAI-compatible endpoint (see the module docstring).

    ``max_concurrency`` bounds HTTP requests in flight; ``rpm``/``tpm`` cap requests and tokens per
    minute; a request is tried ``1 + max_retries`` times; ``max_cost`` (USD) stops starting new
    requests once reached and raises :class:`BudgetExceeded` after in-flight ones finish;
    ``prices`` adds or overrides ``{model: (USD per 1M input, per 1M output tokens)}``.
    """

    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, *, api_key: str | None = None,
                 max_concurrency: int = 16, rpm: float | None = None, tpm: float | None = None,
                 request_timeout: float = 120.0, max_retries: int = 6, backoff_base: float = 1.0,
                 backoff_max: float = 60.0, max_cost: float | None = None,
                 prices: dict[str, tuple[float, float]] | None = None, stall_timeout: float | None = None):
        if not model or not model.strip():
            raise MathsynthError("openai backend: a model name is required")
        for label, value, ok in (("max_concurrency", max_concurrency, max_concurrency >= 1),
                                 ("request_timeout", request_timeout, request_timeout > 0),
                                 ("max_retries", max_retries, max_retries >= 0),
                                 ("backoff_base", backoff_base, backoff_base >= 0),
                                 ("backoff_max", backoff_max, backoff_max >= 0),
                                 ("max_cost", max_cost, max_cost is None or max_cost >= 0),
                                 ("stall_timeout", stall_timeout, stall_timeout is None or stall_timeout > 0)):
            if not ok:
                raise MathsynthError(f"openai backend: invalid {label}={value!r}")
        self.model = model.strip()
        self.base_url = normalize_base_url(base_url)
        host = urlsplit(self.base_url).hostname
        key = api_key or os.environ.get("MATHSYNTH_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if not key:
            if not is_private_host(host):
                raise MathsynthError(f"no API key for {self.base_url}: set $MATHSYNTH_API_KEY (or "
                                     "$OPENAI_API_KEY); a server that needs none accepts any value")
            key = "no-key"  # local servers ignore it, but the client refuses to start without one
        self._key = _Secret(key)
        self._price: Price | None = find_price(self.model, merge_prices(prices))
        if max_cost is not None and self._price is None and host == _OFFICIAL_HOST:
            # Without a price the limit could never trigger: refuse rather than spend unboundedly.
            raise MathsynthError(f"--max-cost: model {self.model!r} has no known price; give its "
                                 "price (USD per 1M input, output tokens) or drop the limit")
        self.max_concurrency, self.rpm, self.tpm = max_concurrency, rpm, tpm
        self.request_timeout, self.max_retries = float(request_timeout), max_retries
        self.backoff_base, self.backoff_max, self.max_cost = backoff_base, backoff_max, max_cost
        # A hung server (accepts connections, never answers) must fail in about a minute on this
        # machine's network, not after timeout x retries; remote APIs get longer.
        self.stall_timeout = float(stall_timeout or (STALL_LOCAL if is_private_host(host) else STALL_REMOTE))
        self._limiter = rl.RateLimiter(rpm, tpm)
        self._ignores_n: set[str] = set()  # endpoints ("chat"/"completions") seen answering n>1 with 1
        self._pause_until = 0.0  # after a 429, every task waits until then, not just the one hit
        self._rng = random.Random()
        self._stats = {"requests_sent": 0, "retries": 0, "failed": 0, "prompt_tokens": 0,
                       "completion_tokens": 0, "cost_usd": 0.0}

    def __repr__(self) -> str:
        return f"OpenAIGenerator(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def stats(self) -> dict[str, Any]:
        """Totals over this generator's life: HTTP ``requests_sent`` (retries included), ``retries``,
        ``failed`` (completions that ended as errors), ``prompt_tokens``/``completion_tokens`` as
        the server reported them, ``cost_usd`` and whether the model is ``priced``."""
        out: dict[str, Any] = dict(self._stats, priced=self._price is not None)
        if self._price is None:
            out["note"] = f"model {self.model!r} is unpriced: cost_usd counts it as free"
        return out

    def describe(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self.model, "base_url": self.base_url,
                "max_concurrency": self.max_concurrency, "rpm": self.rpm, "tpm": self.tpm,
                "request_timeout": self.request_timeout, "max_retries": self.max_retries,
                "stall_timeout": self.stall_timeout}

    def cache_identity(self) -> dict[str, Any] | None:
        return {"backend": "openai", "model": self.model, "base_url": self.base_url}

    def close(self) -> None:
        """Nothing to release: each generate() call opens and closes its own HTTP client, because an
        async client's connection pool is tied to the event loop that generate() creates."""

    def generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None,
                 on_complete: CompleteFn | None = None) -> list[list[Completion]]:
        """See :meth:`mathsynth.backends.base.Generator.generate`. Callbacks run on the thread that
        runs the event loop (a worker thread when called from inside a running loop)."""
        reqs = list(requests)
        if not reqs:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run(reqs, progress, on_complete))
        # Called from async code (a notebook, an app): asyncio.run cannot nest, so the batch gets
        # its own loop on a worker thread and this call blocks until it ends.
        with ThreadPoolExecutor(1, thread_name_prefix="mathsynth-openai") as pool:
            return pool.submit(lambda: asyncio.run(self._run(reqs, progress, on_complete))).result()

    def _over_budget(self) -> bool:
        return self.max_cost is not None and self._stats["cost_usd"] >= self.max_cost

    def _budget_error(self, b: _Batch) -> BudgetExceeded:
        return BudgetExceeded(
            f"spent ${self._stats['cost_usd']:.4f} of --max-cost ${self.max_cost:.2f}; {b.finished} of "
            f"{len(b.requests)} requests finished; rerun with a higher --max-cost to resume (finished "
            "answers are cached)")

    async def _run(self, reqs: list[GenerationRequest], progress: ProgressFn | None,
                   on_complete: CompleteFn | None) -> list[list[Completion]]:
        b = _Batch(reqs, progress, on_complete, None, asyncio.Semaphore(self.max_concurrency),
                   [[None] * r.params.n for r in reqs])
        if self._over_budget():
            raise self._budget_error(b)
        b.client = openai.AsyncOpenAI(api_key=self._key.get(), base_url=self.base_url, max_retries=0,
                                      timeout=self.request_timeout)
        tasks = [asyncio.create_task(self._request(b, r)) for r in range(len(reqs))]
        try:
            await asyncio.gather(*tasks, self._watch(b, tasks))
        except BaseException:
            # A callback failed (e.g. the cache could not write) or we were cancelled: stop the rest.
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            await b.client.close()
        if b.stopped:
            raise self._budget_error(b)
        return b.results  # type: ignore[return-value]  # every slot is filled when not stopped

    async def _watch(self, b: _Batch, tasks: list) -> None:
        """The stall detector: no reply for ``stall_timeout`` seconds while exchanges are in flight
        stops the whole call with one line naming the server (waits for rate limits and retries do
        not count: nothing is in flight then)."""
        tick = min(0.25, self.stall_timeout / 4)
        while not all(t.done() for t in tasks):
            await asyncio.sleep(tick)
            quiet = time.monotonic() - b.last_event
            if b.inflight and quiet > self.stall_timeout:
                raise StalledServer(
                    f"{self.base_url} sent no reply for {quiet:.0f} s while {b.inflight} request(s) were in "
                    f"flight (stall_timeout {self.stall_timeout:g} s): the server is hung or overloaded. Check "
                    "it (or raise stall_timeout for a slow one) and rerun the same command; finished answers "
                    "are cached")

    async def _request(self, b: _Batch, r: int) -> None:
        req = b.requests[r]
        p, kind = req.params, ("chat" if req.is_chat else "completions")

        def deliver(i: int, comp: Completion) -> None:
            b.results[r][i] = comp
            if b.on_complete:
                b.on_complete(r, i, comp)

        if p.n == 1 or p.greedy:
            # Greedy decoding gives the same text every time: ask once, copy it n times.
            got = await self._call(b, req, 1, 0)
            if got and not got[0].ok:
                self._stats["failed"] += p.n - 1  # the copies failed too
            for i in range(p.n if got else 0):
                deliver(i, got[0] if i == 0 else dataclasses.replace(got[0]))
        else:
            first, stopped = 0, False
            if kind not in self._ignores_n:
                got = await self._call(b, req, p.n, 0)
                stopped = got is None
                for i, comp in enumerate(got or []):
                    deliver(i, comp)
                first = len(got or [])
                if got and first < p.n:
                    # Many servers (llama.cpp) ignore n: fetch the rest one by one, and split
                    # this endpoint's later requests from the start.
                    self._ignores_n.add(kind)
                    log.info("%s endpoint answered n=%d with %d choice(s); requesting samples singly",
                             kind, p.n, first)

            async def one(i: int) -> None:
                got = await self._call(b, req, 1, i)
                if got:
                    deliver(i, got[0])

            if not stopped and first < p.n:
                await asyncio.gather(*(one(i) for i in range(first, p.n)))
        if all(c is not None for c in b.results[r]):
            b.finished += 1
            if b.progress:
                b.progress(1, sum(c.completion_tokens for c in b.results[r] if c is not None))

    async def _call(self, b: _Batch, req: GenerationRequest, n: int, sample: int) -> list[Completion] | None:
        """One logical call for ``n`` choices (seeded for sample ``sample``), retried as needed.
        Returns up to ``n`` completions (errors included), or None when the budget stopped it."""
        p = req.params
        body: dict[str, Any] = {"model": self.model, "n": n, "temperature": p.temperature,
                                "top_p": p.top_p, "max_tokens": p.max_tokens}
        if p.seed is not None:
            body["seed"] = _row_seed(p.seed, req.id, req.sample_offset + sample)
        if p.stop:
            body["stop"] = list(p.stop)
        if req.is_chat:
            body["messages"] = list(req.messages or ())
        else:
            body["prompt"] = req.prompt
        prompt_chars = len(req.prompt or "") + sum(len(m.get("content") if isinstance(m.get("content"), str)
                                                       else json.dumps(m.get("content")))
                                                   for m in req.messages or ())
        estimate = prompt_chars // 4 + p.max_tokens * n
        attempts = 0
        while True:
            async with b.sem:
                if self._over_budget():
                    b.stopped = True
                    return None
                wait = max(self._limiter.reserve(estimate), self._pause_until - time.monotonic())
                if wait > 0:
                    await asyncio.sleep(wait)
                    if self._over_budget():  # others may have spent the rest while we waited
                        b.stopped = True
                        return None
                attempts += 1
                self._stats["requests_sent"] += 1
                self._stats["retries"] += attempts > 1
                if not b.inflight:
                    b.last_event = time.monotonic()
                b.inflight += 1
                try:
                    try:
                        text = await self._send(b.client, req.is_chat, body)
                    finally:
                        b.inflight -= 1
                        b.last_event = time.monotonic()
                    return self._completions(text, n, prompt_chars, estimate)
                except rl.MalformedReply as e:
                    fail = rl.AttemptFailed(None, "malformed response", True, detail=str(e))
                except rl.AttemptFailed as e:
                    fail = e
            self._limiter.correct(estimate, 0)  # a failed attempt used no tokens
            if fail.status == 429 and fail.after:
                self._pause_until = max(self._pause_until, time.monotonic() + fail.after)
            if not fail.retry or attempts > self.max_retries:
                break
            delay = fail.after if fail.after is not None else rl.backoff_delay(
                attempts - 1, self.backoff_base, self.backoff_max, self._rng)
            log.debug("%s; retry %d/%d in %.2fs", fail, attempts, self.max_retries, delay)
            await asyncio.sleep(delay)
        msg = fail.head + (f" after {attempts} attempt{'s' * (attempts > 1)}" if fail.retry else "") + (
            f": {fail.detail}" if fail.detail else "")
        log.warning("request %r failed: %s", req.id, msg)
        self._stats["failed"] += n
        return [Completion("", "error", error=msg) for _ in range(n)]

    async def _send(self, client: Any, chat: bool, body: dict[str, Any]) -> str:
        """POST once; return the body text of a 2xx reply, else raise ``rl.AttemptFailed``."""
        api = client.chat.completions if chat else client.completions
        try:
            # wait_for bounds the whole exchange: the client's own timeout restarts on every
            # received chunk, so a server trickling bytes could otherwise hold a slot forever.
            raw = await asyncio.wait_for(api.with_raw_response.create(**body), self.request_timeout)
            return raw.http_response.text
        except openai.APIStatusError as e:
            s = e.status_code
            raise rl.AttemptFailed(s, f"HTTP {s}", rl.retryable_status(s),
                               rl.parse_retry_after(e.response.headers), self._detail(e)) from None
        except (openai.APITimeoutError, TimeoutError):
            raise rl.AttemptFailed(None, f"timeout ({self.request_timeout:g}s)", True) from None
        except openai.APIConnectionError as e:
            raise rl.AttemptFailed(None, "connection error", True, detail=self._detail(e.__cause__ or e)) from None
        except Exception as e:  # never let one odd request sink the batch
            raise rl.AttemptFailed(None, f"unexpected {type(e).__name__}", False, detail=self._detail(e)) from None

    def _detail(self, err: BaseException) -> str:
        """The server's message (or the exception's), short and with the key scrubbed out."""
        body = getattr(err, "body", None)
        if isinstance(body, dict):
            body = body.get("error", body)
            body = body.get("message", body) if isinstance(body, dict) else body
        text = str(body if isinstance(body, str) and body else err)
        text = re.sub(r"\s+", " ", text.replace(self._key.get(), "***")).strip()
        return text[:200] + ("..." if len(text) > 200 else "")

    def _completions(self, text: str, n: int, prompt_chars: int, estimate: int) -> list[Completion]:
        texts, pt, ct = rl.parse_reply(text, n)
        self._stats["prompt_tokens"] += pt or 0
        self._stats["completion_tokens"] += ct or 0
        # Without usage (some servers) charge an estimate (~4 chars a token) so a budget still binds.
        billed_pt = prompt_chars // 4 if pt is None else pt
        billed_ct = sum(len(t) for t, _ in texts) // 4 if ct is None else ct
        self._stats["cost_usd"] += cost_usd(self._price, billed_pt, billed_ct)
        self._limiter.correct(estimate, billed_pt + billed_ct)
        # One usage covers all choices of a reply: each gets the full prompt count and an even share
        # of the completion tokens (servers do not report per-choice counts).
        share, extra = divmod(ct or 0, len(texts))
        return [Completion(t, fin, prompt_tokens=pt or 0, completion_tokens=share + (i < extra))
                for i, (t, fin) in enumerate(texts)]

