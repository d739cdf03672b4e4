"""The one generation interface every backend implements.

A backend takes a batch of :class:`GenerationRequest` (chat messages *or* a raw prompt, plus
:class:`SamplingParams`) and returns, for each request, ``params.n`` :class:`Completion` objects.
Stages only ever talk to this interface, so a teacher behind an API, a local transformers model and
the fake test backend are interchangeable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from mathsynth.errors import MathsynthError


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
    rerun reproduces the same samples whatever else is in the batch.

    >>> GenerationRequest(id="q1", messages=({"role": "user", "content": "1+1?"},)).is_chat
    True
    """

    id: str
    params: SamplingParams = field(default_factory=SamplingParams)
    messages: tuple[dict, ...] | None = None
    prompt: str | None = None

    def __post_init__(self) -> None:
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


@runtime_checkable
class Generator(Protocol):
    """What every backend provides."""

    name: str

    def generate(self, requests: Sequence[GenerationRequest],
                 progress: ProgressFn | None = None) -> list[list[Completion]]:
        """Return ``len(requests)`` lists, the i-th holding ``requests[i].params.n`` completions."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings worth recording in a run's config.json (never secrets)."""
        ...

    def close(self) -> None: ...
