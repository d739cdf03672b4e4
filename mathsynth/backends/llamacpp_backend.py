"""In-process generation with llama.cpp (llama-cpp-python): GGUF files used as they are, on CPU or GPU.

Each request's prompt is rendered (the GGUF's own chat template for chat requests) and tokenized
once; its ``n`` samples are then decoded one after another, each with the sampler seeded by
:func:`~mathsynth.backends.base.row_seed`, so a sample depends only on (run seed, request id, sample
index), never on what else was in the batch.

Sampling is plain temperature + top-p: llama.cpp's extra default truncations (top-k 40, min-p 0.05)
are switched off so results mean the same as with the other backends. One difference remains:
llama.cpp applies top-p to the distribution *before* temperature (its sampler-chain order), where
transformers and vLLM apply it after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mathsynth.backends.base import (
    CompleteFn,
    Completion,
    GenerationRequest,
    ProgressFn,
    cut_at_stop,
    row_seed,
    weights_fingerprint,
)
from mathsynth.errors import MathsynthError

# llama.cpp's sampler seed is a uint32 and 0xFFFFFFFF (LLAMA_DEFAULT_SEED) means "pick at random".
_SEED_RANGE = 0xFFFF_FFFF


def sample_seed(seed: int | None, request_id: str, sample: int) -> int:
    """:func:`row_seed` folded into llama.cpp's seed range (uint32, never the "random" value).

    >>> 0 <= sample_seed(0, "q1", 3) < 0xFFFF_FFFF
    True
    """
    return row_seed(seed, request_id, sample) % _SEED_RANGE


class LlamaCppGenerator:
    """Generate with a GGUF model through llama-cpp-python, in this process.

    >>> from mathsynth.backends.models import embedded_gguf
    >>> g = LlamaCppGenerator(str(embedded_gguf()), n_ctx=2048)  # doctest: +SKIP
    >>> from mathsynth.backends.base import GenerationRequest, SamplingParams
    >>> msgs = ({"role": "user", "content": "What is 2+3?"},)
    >>> req = GenerationRequest("q", SamplingParams(n=2, max_tokens=32), messages=msgs)
    >>> out = g.generate([req])  # doctest: +SKIP
    >>> len(out[0])  # doctest: +SKIP
    2

    ``reuse_prefix=True`` (the default) lets llama-cpp-python reuse the cached prefix shared with the
    previous prompt, exactly as raw llama-cpp-python does (same speed; faster with long few-shot
    prompts). An identical rerun reproduces exactly; a request run after *different* requests (a
    resumed run) may differ in the last bits of its logits, as with batched transformers. Finished
    samples come back from the response cache anyway. ``reuse_prefix=False`` re-evaluates each
    request's prompt from an empty context, so samples never depend on what ran before (a few
    percent slower).
    """

    name = "llamacpp"

    def __init__(self, gguf_path: str | Path, *, model_name: str | None = None, n_ctx: int = 4096,
                 n_threads: int | None = None, n_gpu_layers: int = 0, n_batch: int = 512,
                 reuse_prefix: bool = True):
        try:
            import jinja2
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError:
            raise MathsynthError("the llamacpp backend needs llama-cpp-python: "
                                 "pip install 'mathsynth[llamacpp]'") from None
        self.path = str(gguf_path)
        self.model_name = model_name or self.path
        self.n_gpu_layers, self.reuse_prefix = n_gpu_layers, reuse_prefix
        self._render_errors = (ValueError, TypeError, jinja2.TemplateError)
        if not Path(self.path).is_file():
            raise MathsynthError(f"GGUF file not found: {self.path}")
        try:
            self.llm = llama_cpp.Llama(model_path=self.path, n_ctx=n_ctx, n_threads=n_threads,
                                       n_gpu_layers=n_gpu_layers, n_batch=n_batch, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise MathsynthError(f"could not load GGUF model {self.path}: {exc}") from None
        self._n_ctx = self.llm.n_ctx()
        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        # Render with the GGUF's own template (what the model was tuned on), exactly as
        # llama-cpp-python's chat handler does, but once per request instead of once per sample.
        template = self.llm.metadata.get("tokenizer.chat_template")
        self._chat = None
        if template:
            self._chat = Jinja2ChatFormatter(template=template,
                                             eos_token=self._token_text(self.llm.token_eos()),
                                             bos_token=self._token_text(self.llm.token_bos()))

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def render(self, req: GenerationRequest) -> str:
        """The exact text fed to the model (chat template applied for chat requests)."""
        if not req.is_chat:
            return req.prompt or ""
        if self._chat is None:
            raise MathsynthError(f"model {self.model_name!r} has no chat template in its GGUF metadata; "
                                 "use a raw prompt format (e.g. --prompt vicuna)")
        return self._chat(messages=list(req.messages)).prompt

    def _tokens(self, req: GenerationRequest) -> list[int]:
        text = self.render(req).encode("utf-8")
        # A chat template writes its own special tokens; a raw prompt gets the BOS the model expects.
        tokens = self.llm.tokenize(text, add_bos=self._add_bos and not req.is_chat, special=True)
        return tokens or [self.llm.token_bos()]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_name, "path": self.path, "n_ctx": self._n_ctx,
                "n_threads": getattr(self.llm, "n_threads", None), "n_gpu_layers": self.n_gpu_layers,
                "reuse_prefix": self.reuse_prefix}

    def cache_identity(self) -> dict[str, Any] | None:
        return {"backend": self.name, "model": weights_fingerprint(self.path)}

    def close(self) -> None:
        if getattr(self, "llm", None) is not None:
            self.llm.close()
            self.llm = None

    def generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None,
                 on_complete: CompleteFn | None = None) -> list[list[Completion]]:
        if self.llm is None:
            raise MathsynthError("the llamacpp generator was closed")
        results: list[list[Completion]] = []
        for ri, req in enumerate(requests):
            comps = self._complete_request(req, ri, on_complete)
            results.append(comps)
            if progress:
                progress(1, sum(c.completion_tokens for c in comps))
        return results

    def _complete_request(self, req: GenerationRequest, ri: int,
                          on_complete: CompleteFn | None) -> list[Completion]:
        p = req.params
        try:
            tokens = self._tokens(req)
        except self._render_errors as exc:  # e.g. the template's "roles must alternate" check
            return self._fail(req, ri, 0, f"could not render the chat template: {exc}", on_complete)
        if len(tokens) >= self._n_ctx:
            return self._fail(req, ri, len(tokens), f"prompt is {len(tokens)} tokens, the context window "
                              f"is {self._n_ctx} (raise n_ctx)", on_complete)
        if not self.reuse_prefix:
            try:
                self._prefill(tokens)
            except RuntimeError as exc:  # llama_decode failed (e.g. out of memory)
                return self._fail(req, ri, len(tokens), str(exc), on_complete)
        comps: list[Completion] = []
        # Greedy samples are identical: decode once and repeat.
        for i in range(1 if p.greedy else p.n):
            comp = self._sample(tokens, req, sample_seed(p.seed, req.id, req.sample_offset + i))
            for c in [comp] + ([replace(comp) for _ in range(p.n - 1)] if p.greedy else []):
                if on_complete:
                    on_complete(ri, len(comps), c)
                comps.append(c)
        return comps

    def _prefill(self, tokens: list[int]) -> None:
        """Evaluate all but the last prompt token from an empty context.

        llama.cpp's logits differ in the last bits depending on how the prompt was split into
        batches (measured: evaluating the last token alone, as llama-cpp-python does for a repeated
        prompt, changes them), and llama-cpp-python reuses whatever prefix is cached, so without
        this a sample would depend on the previous request. From here every sample of this request (the first
        included) evaluates just the last prompt token on top of the same cached prefix, hence the
        same logits and, with the same seed, the same text however the work was split or resumed.
        The price is one prompt evaluation per request even when consecutive prompts share a long
        prefix (few-shot examples); ``reuse_prefix=True`` skips it, trading exact reproducibility
        for that speed.
        """
        self.llm.reset()
        if len(tokens) > 1:
            self.llm.eval(tokens[:-1])

    def _sample(self, tokens: list[int], req: GenerationRequest, seed: int) -> Completion:
        p = req.params
        try:
            res = self.llm.create_completion(tokens, max_tokens=p.max_tokens, temperature=p.temperature,
                                             top_p=p.top_p, top_k=0, min_p=0.0, stop=list(p.stop),
                                             seed=seed)
        except (ValueError, RuntimeError) as exc:
            return Completion("", "error", prompt_tokens=len(tokens), error=str(exc))
        choice, usage = res["choices"][0], res["usage"]
        text = cut_at_stop(choice["text"], p.stop) if p.stop else choice["text"]
        return Completion(text, choice["finish_reason"] or "stop", prompt_tokens=usage["prompt_tokens"],
                          completion_tokens=usage["completion_tokens"])

    def _fail(self, req: GenerationRequest, ri: int, prompt_tokens: int, error: str,
              on_complete: CompleteFn | None) -> list[Completion]:
        comps = [Completion("", "error", prompt_tokens=prompt_tokens, error=error)
                 for _ in range(req.params.n)]
        if on_complete:
            for k, c in enumerate(comps):
                on_complete(ri, k, c)
        return comps
