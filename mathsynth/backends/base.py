"""The one generation interface every backend implements.

A backend takes a batch of :class:`GenerationRequest` (chat messages *or* a raw prompt, plus
:class:`SamplingParams`) and returns, for each request, ``params.n`` :class:`Completion` objects.
Stages only ever talk to this interface, so a teacher behind an API, a local transformers model and
the fake test backend are interchangeable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mathsynth.errors import EXIT_INCOMPLETE, MathsynthError


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` means greedy decoding.

    >>> SamplingParams(n=4, temperature=0.7).greedy
    False
    >>> SamplingParams(temperature=0).greedy
    True
    """

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise MathsynthError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise MathsynthError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise MathsynthError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise MathsynthError(f"max_tokens must be >= 1, got {self.max_tokens}")
        object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to complete: exactly one of ``messages`` (chat) or ``prompt`` (raw text).

    ``id`` is the caller's key (a problem id); backends use it to derive per-request seeds so a
    rerun reproduces the same samples whatever else is in the batch. ``sample_offset`` is the index
    of the first sample asked for: a request with ``n=4, sample_offset=4`` asks for samples 4..7 of
    (id, params), the same ones a request with ``n=8`` would return last (the response cache uses it
    to generate only the samples it lacks).

    >>> GenerationRequest(id="q1", messages=({"role": "user", "content": "1+1?"},)).is_chat
    True
    """

    id: str
    params: SamplingParams = field(default_factory=SamplingParams)
    messages: tuple[dict, ...] | None = None
    prompt: str | None = None
    sample_offset: int = 0

    def __post_init__(self) -> None:
        if self.sample_offset < 0:
            raise MathsynthError(f"request {self.id!r}: sample_offset must be >= 0")
        if (self.messages is None) == (self.prompt is None):
            raise MathsynthError(f"request {self.id!r}: give exactly one of messages or prompt")
        if self.messages is not None:
            object.__setattr__(self, "messages", tuple(self.messages))

    @property
    def is_chat(self) -> bool:
        return self.messages is not None


@dataclass
class Completion:
    """One sampled answer. ``finish_reason`` is "stop" (EOS or a stop string), "length" or "error".

    >>> Completion("The answer is: 2.", "stop", prompt_tokens=10, completion_tokens=6).ok
    True
    """

    text: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.finish_reason != "error"

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "finish_reason": self.finish_reason,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "error": self.error}


ProgressFn = Callable[[int, int], None]
"""Called as ``progress(requests_done, completion_tokens)`` after each internal batch."""

CompleteFn = Callable[[int, int, Completion], None]
"""Called as ``on_complete(request_index, sample_index, completion)`` as soon as one completion
exists (``sample_index`` counts from 0 within the request, not from ``sample_offset``), so a caller
can persist it before the whole batch ends (the response cache does, to survive a crash)."""


class BudgetExceeded(MathsynthError):
    """The spending limit (``--max-cost``) was reached; work finished so far is kept (and cached),
    so rerunning with a higher limit resumes where this stopped."""

    exit_code = EXIT_INCOMPLETE


class StalledServer(MathsynthError):
    """A server stopped answering (no reply within the stall timeout while requests were in flight);
    what finished is kept and cached, so the same command resumes once the server is back."""

    exit_code = EXIT_INCOMPLETE


@runtime_checkable
class Generator(Protocol):
    """What every backend provides."""

    name: str

    def generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None,
                 on_complete: CompleteFn | None = None) -> list[list[Completion]]:
        """Return ``len(requests)`` lists, the i-th holding ``requests[i].params.n`` completions.

        A completion that failed for good (after retries) is returned with ``finish_reason
        "error"`` and its reason in ``error``: never dropped, never raised. Raises
        :class:`BudgetExceeded` when a spending limit stops the batch part-way.
        """
        ...

    def cache_identity(self) -> dict[str, Any] | None:
        """What identifies this model's outputs for the response cache (backend, model, weights
        fingerprint or endpoint), or None when outputs must not be cached."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings worth recording in a run's config.json (never secrets)."""
        ...

    def close(self) -> None: ...


def row_seed(seed: int | None, request_id: str, sample: int) -> int:
    """The RNG seed of one sample: a function of (run seed, request id, sample index) only.

    >>> row_seed(0, "q1", 0) == row_seed(0, "q1", 0) != row_seed(0, "q1", 1)
    True
    """
    h = hashlib.sha256(f"{seed}|{request_id}|{sample}".encode()).digest()
    return int.from_bytes(h[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def generator_stats(generator: Any) -> dict:
    """Counters of a generator worth a line in a run summary: its own ``stats`` (requests, retries,
    cost...) and, for a cached one, the cache's hits and misses as ``cache_hits``/``cache_misses``.

    >>> class G: stats = {"requests_sent": 3, "note": "unpriced"}
    >>> generator_stats(G())
    {'requests_sent': 3, 'note': 'unpriced'}
    """
    if generator is None:
        return {}
    out: dict = {}
    inner = getattr(generator, "inner", None)
    if inner is not None:
        out.update(getattr(inner, "stats", None) or {})
        out.update({f"cache_{k}": v for k, v in (getattr(generator, "stats", None) or {}).items()})
    else:
        out.update(getattr(generator, "stats", None) or {})
    return {k: v for k, v in out.items() if isinstance(v, int | float | bool | str)}


def weights_fingerprint(model: str | Path) -> str:
    """A model's identity for the response cache: a weights file by its resolved path plus a hash of
    its name, size and modification time; a folder by those of its weight files; a hub id as is.
    Replacing or retraining weights in place therefore never serves stale cached answers.

    >>> weights_fingerprint("HuggingFaceTB/SmolLM2-135M-Instruct")
    'HuggingFaceTB/SmolLM2-135M-Instruct'
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "m.gguf")
    ...     _ = open(p, "wb").write(b"GGUF")
    ...     fp = weights_fingerprint(p)
    ...     fp.split("#")[0].endswith("m.gguf"), len(fp.split("#")[1])
    (True, 16)
    """
    path = Path(model)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".gguf"))
    else:
        return str(model)
    sig = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    return f"{path.resolve()}#{hashlib.sha256(sig.encode()).hexdigest()[:16]}"


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """Cut ``text`` before the earliest occurrence of any stop string.

    Engines stop at the first stop string they *detect*, and when one token completes two stop
    strings the one listed first wins; cutting at the earliest one keeps every backend consistent.

    >>> cut_at_stop("x = 2\\n\\nQ: next", ["Q:", "\\n\\n"])
    'x = 2'
    >>> cut_at_stop("no stop here", ["###"])
    'no stop here'
    """
    cut = len(text)
    for s in stops:
        at = text.find(s)
        if s and at != -1:
            cut = min(cut, at)
    return text[:cut]
