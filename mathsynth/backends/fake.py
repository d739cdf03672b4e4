"""A deterministic fake backend for unit tests of stage logic (never for judging real behaviour).

Its answers come from a user-supplied function, or by default echo a canned solution, so tests of
resume, file layout and metrics run in milliseconds without a model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from mathsynth.backends.base import CompleteFn, Completion, GenerationRequest, ProgressFn

Responder = Callable[[GenerationRequest, int], str]


def _default_responder(req: GenerationRequest, index: int) -> str:
    # Deterministic pseudo-random digit so different samples differ but reruns agree.
    h = int(hashlib.sha256(f"{req.id}:{index}:{req.params.seed}".encode()).hexdigest(), 16)
    return f"Let me think step by step.\nThe answer is: {h % 10}."


class FakeGenerator:
    """Fake backend: ``respond(request, sample_index) -> text``.

    >>> from mathsynth.backends.base import GenerationRequest, SamplingParams
    >>> g = FakeGenerator(lambda req, i: f"The answer is: {i}.")
    >>> [c.text for c in g.generate([GenerationRequest("a", SamplingParams(n=2), prompt="x")])[0]]
    ['The answer is: 0.', 'The answer is: 1.']
    """

    name = "fake"

    def __init__(self, respond: Responder | None = None):
        self.respond = respond or _default_responder
        self.calls = 0  # number of requests served, so tests can prove the cache/resume skipped work

    def generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None,
                 on_complete: CompleteFn | None = None) -> list[list[Completion]]:
        out = []
        for r, req in enumerate(requests):
            self.calls += 1
            comps = []
            for i in range(req.params.n):
                text = self.respond(req, req.sample_offset + i)
                comps.append(Completion(text, "stop", prompt_tokens=len((req.prompt or str(req.messages)).split()),
                                        completion_tokens=len(text.split())))
                if on_complete:
                    on_complete(r, i, comps[-1])
            out.append(comps)
            if progress:
                progress(1, sum(c.completion_tokens for c in comps))
        return out

    def describe(self) -> dict[str, Any]:
        return {"backend": "fake"}

    def cache_identity(self) -> dict[str, Any] | None:
        return None  # answers come from an arbitrary Python function: never cache them

    def close(self) -> None:
        pass
