"""Rate limits, retry policy and reply checks for HTTP API backends.

A hosted API enforces requests-per-minute and tokens-per-minute limits and answers ``429`` when
they are exceeded; staying under them on our side wastes no attempts. Retries use exponential
backoff with full jitter (many clients failing together do not retry in lockstep) unless the server
says how long to wait (``Retry-After`` / ``retry-after-ms``). A 2xx reply that cannot be used
(:func:`parse_reply` raises :class:`MalformedReply`) is retried too: it is usually a transient
proxy or server fault.

>>> limiter = RateLimiter(rpm=60)
>>> limiter.reserve(tokens=100)  # the bucket starts full: no wait
0.0
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from mathsynth.errors import MathsynthError

RETRY_STATUS = frozenset({408, 409, 429})
"""Statuses worth retrying besides every 5xx: timeout, conflict, rate limited."""

MAX_RETRY_AFTER = 600.0
"""Longest server-requested wait we honour (s): a bogus date must not stall a run for days."""


class TokenBucket:
    """``per_minute`` units, refilled continuously at ``per_minute / 60`` per second, starting full.

    :meth:`reserve` takes the units at once and returns how long to wait before using them. The
    level may go below zero: a caller that overdraws waits until the refill has paid its debt, so
    callers are served in the order they reserved (none starves) and a single request bigger than
    the whole bucket still goes through instead of waiting forever. The clock is injectable so the
    arithmetic is testable without sleeping.

    >>> now = [0.0]
    >>> b = TokenBucket(60, clock=lambda: now[0])  # 60/min = 1 per second
    >>> [b.reserve(30), b.reserve(30), b.reserve(3)]
    [0.0, 0.0, 3.0]
    >>> now[0] = 3.0; b.reserve(1)  # the debt of 3 is repaid by t=3; one more unit needs 1 s
    1.0
    >>> b.refund(1); b.reserve(1)  # an estimate that was too high is given back
    1.0
    """

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic):
        if not per_minute > 0:
            raise MathsynthError(f"rate limit must be > 0 per minute, got {per_minute}")
        self.capacity = float(per_minute)
        self.rate = self.capacity / 60.0
        self.clock = clock
        self.level = self.capacity
        self._last = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self._last) * self.rate)
        self._last = now

    def reserve(self, amount: float) -> float:
        """Take ``amount`` units; return the seconds to wait before acting on them."""
        self._refill()
        self.level -= amount
        return 0.0 if self.level >= 0 else -self.level / self.rate

    def refund(self, amount: float) -> None:
        """Give back ``amount`` units (negative: take more), once the real usage is known."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets; either may be None (unlimited).

    >>> now = [0.0]
    >>> lim = RateLimiter(rpm=2, tpm=1000, clock=lambda: now[0])
    >>> [lim.reserve(10), lim.reserve(10), lim.reserve(10)]  # the third request waits 30 s (rpm)
    [0.0, 0.0, 30.0]
    >>> lim.reserve(2000) > 60  # the token budget is now overdrawn: wait past a minute
    True
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.requests = TokenBucket(rpm, clock) if rpm is not None else None
        self.tokens = TokenBucket(tpm, clock) if tpm is not None else None

    def reserve(self, tokens: float) -> float:
        """Account one request of about ``tokens`` tokens; return the seconds to wait before sending."""
        wait = 0.0
        if self.requests is not None:
            wait = max(wait, self.requests.reserve(1))
        if self.tokens is not None:
            wait = max(wait, self.tokens.reserve(tokens))
        return wait

    def correct(self, estimated: float, actual: float) -> None:
        """Replace a request's token estimate by its real usage (0 for a request that failed)."""
        if self.tokens is not None:
            self.tokens.refund(estimated - actual)


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or an
    HTTP date); None when absent or unreadable. Clamped to ``[0, MAX_RETRY_AFTER]``.

    >>> parse_retry_after({"Retry-After": "2"})
    2.0
    >>> parse_retry_after({"retry-after-ms": "250"})
    0.25
    >>> parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:05 GMT"}, now=1445412480.0)
    5.0
    >>> parse_retry_after({"Retry-After": "soon"}) is None
    True
    """
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    seconds = None
    if "retry-after-ms" in lower:
        try:
            seconds = float(lower["retry-after-ms"]) / 1000.0
        except ValueError:
            seconds = None
    if seconds is None and "retry-after" in lower:
        value = lower["retry-after"].strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:  # HTTP dates are GMT by definition
                when = when.replace(tzinfo=UTC)
            seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds is None or seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2**attempt)]``.

    >>> 0 <= backoff_delay(3, base=1.0, cap=5.0) <= 5.0
    True
    """
    upper = min(cap, base * (2.0 ** min(attempt, 60)))
    return (rng or random).uniform(0.0, upper)



def retryable_status(status: int) -> bool:
    """Whether an HTTP error status is transient (other 4xx mean the request itself is wrong).

    >>> [retryable_status(s) for s in (429, 500, 503, 408, 400, 401, 404)]
    [True, True, True, True, False, False, False]
    """
    return status in RETRY_STATUS or status >= 500


class AttemptFailed(Exception):
    """One failed attempt: ``head`` ("HTTP 500", "timeout (2s)"), whether to ``retry``, the wait
    the server asked for (``after``, s) and its message (``detail``)."""

    def __init__(self, status: int | None, head: str, retry: bool, after: float | None = None,
                 detail: str = ""):
        super().__init__(f"{head}: {detail}" if detail else head)
        self.status, self.head, self.retry, self.after, self.detail = status, head, retry, after, detail


class MalformedReply(Exception):
    """A 2xx reply we cannot use (bad JSON, no choices, a choice without text)."""


def parse_reply(text: str, n: int) -> tuple[list[tuple[str, str]], int | None, int | None]:
    """The choices of a (chat) completions reply as ``(text, finish_reason)`` sorted by index (at
    most ``n``), and the reported prompt and completion tokens (None when absent).
    ``finish_reason`` is "length" or "stop" (any other value: the model stopped).

    >>> parse_reply('{"choices": [{"index": 0, "text": "4", "finish_reason": "length"}], '
    ...             '"usage": {"prompt_tokens": 3, "completion_tokens": 1}}', n=1)
    ([('4', 'length')], 3, 1)
    >>> parse_reply('{"choices": []}', n=1)
    Traceback (most recent call last):
    ...
    mathsynth.backends.ratelimit.MalformedReply: no choices
    """
    try:
        data: Any = json.loads(text)
    except ValueError:
        raise MalformedReply("invalid JSON") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
        raise MalformedReply("no choices")
    out = []
    for c in sorted(choices, key=lambda c: c["index"] if isinstance(c.get("index"), int) else 0)[:n]:
        if "message" in c:  # chat
            content = c["message"].get("content") if isinstance(c["message"], dict) else None
        else:
            content = c.get("text")
        if not isinstance(content, str):
            raise MalformedReply("a choice has no text")
        out.append((content, "length" if c.get("finish_reason") == "length" else "stop"))
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    counts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens")]
    pt, ct = (v if isinstance(v, int) and v >= 0 else None for v in counts)
    return out, pt, ct
