"""Offline batched generation with vLLM (Linux, CUDA GPU): the fast way to sample at scale.

vLLM is imported only when a :class:`VLLMGenerator` is built, so everything else works without it.
The logic that does not need vLLM (prompt encoding, one seeded job per sample, chunking, mapping
results) lives in plain functions that the tests drive with stub objects.

Every sample is its own vLLM request with ``n=1`` and seed ``row_seed(run seed, request id, sample
index)``: vLLM derives the samples of an ``n > 1`` request from a single seed, so samples 4..7
asked for alone (``sample_offset=4``) would not be the ones an ``n=8`` request returns last. The
prompt is computed once anyway: vLLM's prefix cache shares it between the copies (and vLLM fans
``n > 1`` out into separate sequences too). Greedy requests are decoded once and replicated.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mathsynth.backends.base import (
    CompleteFn,
    Completion,
    GenerationRequest,
    ProgressFn,
    SamplingParams,
    cut_at_stop,
    row_seed,
    weights_fingerprint,
)
from mathsynth.errors import MathsynthError

INSTALL_HINT = ("the vllm backend needs the [vllm] extra: pip install 'mathsynth[vllm]' "
                "(Linux with a CUDA GPU)")


@dataclass(frozen=True)
class SampleJob:
    """One vLLM request: ``count`` samples (more than 1 only for greedy) of request ``request``,
    filling sample indices ``first .. first + count - 1`` (counted from 0 within the request).

    >>> SampleJob(request=0, first=2, count=1, seed=42).count
    1
    """

    request: int
    first: int
    count: int
    seed: int | None


def plan_jobs(requests: Sequence[GenerationRequest], skip: frozenset[int] = frozenset()) -> list[SampleJob]:
    """The vLLM requests for a batch, request by request; requests in ``skip`` get none.

    >>> from mathsynth.backends.base import GenerationRequest, SamplingParams
    >>> jobs = plan_jobs([GenerationRequest("q", SamplingParams(n=2), prompt="1+1=", sample_offset=3),
    ...                   GenerationRequest("g", SamplingParams(n=3, temperature=0), prompt="2+2=")])
    >>> [(j.request, j.first, j.count) for j in jobs]
    [(0, 0, 1), (0, 1, 1), (1, 0, 3)]
    >>> jobs[1].seed == row_seed(0, "q", 4)
    True
    """
    jobs = []
    for ri, req in enumerate(requests):
        p = req.params
        if ri in skip:
            continue
        if p.greedy:
            jobs.append(SampleJob(ri, 0, p.n, None))
        else:
            jobs.extend(SampleJob(ri, i, 1, row_seed(p.seed, req.id, req.sample_offset + i))
                        for i in range(p.n))
    return jobs


def sampling_kwargs(params: SamplingParams, seed: int | None) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for one job.

    >>> sampling_kwargs(SamplingParams(temperature=0.5, max_tokens=64, stop=("Q:",)), 7)
    {'n': 1, 'temperature': 0.5, 'top_p': 1.0, 'max_tokens': 64, 'stop': ['Q:'], 'seed': 7}
    """
    return {"n": 1, "temperature": params.temperature, "top_p": 1.0 if params.greedy else params.top_p,
            "max_tokens": params.max_tokens, "stop": list(params.stop) or None, "seed": seed}


def encode_prompts(tokenizer: Any, requests: Sequence[GenerationRequest]) -> list[list[int]]:
    """Token ids of each request's prompt, as vLLM's own ``LLM.chat`` builds them.

    A chat template writes its special tokens itself, so the rendered text is encoded without
    adding more (no doubled BOS); a raw prompt gets the tokenizer's usual special tokens.
    """
    out = []
    for req in requests:
        if req.is_chat:
            if not getattr(tokenizer, "chat_template", None):
                raise MathsynthError("this model has no chat template; use a raw prompt format "
                                     "(e.g. --prompt vicuna)")
            text = tokenizer.apply_chat_template(list(req.messages), tokenize=False,
                                                 add_generation_prompt=True)
            out.append(list(tokenizer.encode(text, add_special_tokens=False)))
        else:
            out.append(list(tokenizer.encode(req.prompt or "")))
    return out


def to_completion(output: Any, stops: Sequence[str] = ()) -> Completion:
    """Map a vLLM ``RequestOutput`` (first sample) to a :class:`Completion`.

    >>> from types import SimpleNamespace as NS
    >>> out = NS(prompt_token_ids=[1, 2, 3], outputs=[NS(text="4", finish_reason="stop", token_ids=[9, 2])])
    >>> to_completion(out)
    Completion(text='4', finish_reason='stop', prompt_tokens=3, completion_tokens=2, error=None)
    """
    ids = getattr(output, "prompt_token_ids", None)
    prompt_tokens = len(ids) if ids is not None else 0
    samples = getattr(output, "outputs", None) or []
    if not samples:
        return Completion("", "error", prompt_tokens=prompt_tokens, error="vLLM returned no output")
    s = samples[0]
    ntoks = len(s.token_ids) if s.token_ids is not None else 0
    if s.finish_reason in ("stop", "length"):
        return Completion(cut_at_stop(s.text, stops), s.finish_reason, prompt_tokens=prompt_tokens,
                          completion_tokens=ntoks)
    return Completion(s.text, "error", prompt_tokens=prompt_tokens, completion_tokens=ntoks,
                      error=f"vLLM finished with reason {s.finish_reason!r}")


def run_jobs(generate: Callable[[list, list], list], make_params: Callable[..., Any],
             requests: Sequence[GenerationRequest], prompts: Sequence[list[int]], *,
             max_len: int | None = None, chunk_size: int = 4096, progress: ProgressFn | None = None,
             on_complete: CompleteFn | None = None) -> list[list[Completion]]:
    """Run a batch through ``generate(prompts, params_list) -> outputs`` (``LLM.generate``).

    At most ``chunk_size`` jobs go into one call, so completions reach ``on_complete`` (and the
    response cache) while a long batch is still running; each job brings its own sampling params,
    so requests with different settings still share a call. A prompt of ``max_len`` tokens or more
    fails alone (vLLM would reject the whole call).

    >>> from types import SimpleNamespace as NS
    >>> from mathsynth.backends.base import GenerationRequest, SamplingParams
    >>> def fake_generate(prompts, params):  # echoes each job's seed
    ...     return [NS(prompt_token_ids=p["prompt_token_ids"],
    ...                outputs=[NS(text=str(sp["seed"]), finish_reason="stop", token_ids=[5])]) for p, sp in
    ...             zip(prompts, params)]
    >>> reqs = [GenerationRequest("q", SamplingParams(n=2), prompt="1+1=")]
    >>> out = run_jobs(fake_generate, dict, reqs, [[1, 2]])
    >>> [c.text == str(row_seed(0, "q", k)) for k, c in enumerate(out[0])]
    [True, True]
    """
    results: list[list[Completion | None]] = [[None] * r.params.n for r in requests]
    too_long = {i for i, p in enumerate(prompts) if max_len is not None and len(p) >= max_len}
    for i in sorted(too_long):
        err = f"prompt is {len(prompts[i])} tokens, the model's context is {max_len}"
        for k in range(requests[i].params.n):
            comp = Completion("", "error", prompt_tokens=len(prompts[i]), error=err)
            _deliver(results, i, k, comp, on_complete)
    if progress and too_long:
        progress(len(too_long), 0)
    jobs = plan_jobs(requests, frozenset(too_long))
    left = [r.params.n for r in requests]
    for start in range(0, len(jobs), max(1, chunk_size)):
        chunk = jobs[start:start + max(1, chunk_size)]
        outs = generate([{"prompt_token_ids": prompts[j.request]} for j in chunk],
                        [make_params(**sampling_kwargs(requests[j.request].params, j.seed)) for j in chunk])
        done = tokens = 0
        for job, out in zip(chunk, outs, strict=True):
            comp = to_completion(out, requests[job.request].params.stop)
            for k in range(job.count):
                c = comp if k == 0 else replace(comp)
                _deliver(results, job.request, job.first + k, c, on_complete)
                tokens += c.completion_tokens
            left[job.request] -= job.count
            done += left[job.request] == 0
        if progress:
            progress(done, tokens)
    return [[c for c in cs if c is not None] for cs in results]


def _deliver(results: list, ri: int, k: int, comp: Completion, on_complete: CompleteFn | None) -> None:
    results[ri][k] = comp
    if on_complete:
        on_complete(ri, k, comp)


class VLLMGenerator:
    """Generate with vLLM's offline engine.

    ``data_parallel_size > 1`` is passed to ``vllm.LLM``, but vLLM's offline class does not reliably
    support it in one process (recent versions refuse it, older ones may hang); the dependable way to
    use several GPUs without tensor parallelism is several mathsynth processes, one per GPU
    (``CUDA_VISIBLE_DEVICES``), each on a shard of the data.

    >>> g = VLLMGenerator("Qwen/Qwen2.5-Math-1.5B-Instruct")  # doctest: +SKIP
    >>> from mathsynth.backends.base import GenerationRequest, SamplingParams
    >>> msgs = ({"role": "user", "content": "What is 2+3?"},)
    >>> req = GenerationRequest("q", SamplingParams(n=8, max_tokens=512), messages=msgs)
    >>> g.generate([req])  # doctest: +SKIP
    """

    name = "vllm"
    #: continuous batching on the GPU: rows depend on their batch mates through rounding (CachedGenerator)
    batch_dependent = True

    def __init__(self, model: str, *, model_name: str | None = None, tensor_parallel_size: int = 1,
                 data_parallel_size: int = 1, dtype: str = "auto", gpu_memory_utilization: float = 0.9,
                 max_model_len: int | None = None, seed: int = 0, enforce_eager: bool = False,
                 chunk_size: int = 4096):
        try:
            import vllm
        except ImportError:
            raise MathsynthError(INSTALL_HINT) from None
        self.model, self.model_name = model, model_name or model
        self.settings = {"tensor_parallel_size": tensor_parallel_size,
                         "data_parallel_size": data_parallel_size, "dtype": dtype,
                         "gpu_memory_utilization": gpu_memory_utilization, "max_model_len": max_model_len,
                         "seed": seed, "enforce_eager": enforce_eager}
        self.chunk_size = chunk_size
        kwargs = dict(self.settings)
        if data_parallel_size <= 1:
            del kwargs["data_parallel_size"]  # older vLLM versions do not know the argument
        try:
            self.llm = vllm.LLM(model=model, **kwargs)
        except (OSError, ValueError) as exc:
            hint = (" (vLLM's offline engine may not support data_parallel_size > 1 in one process: run one "
                    "mathsynth process per GPU instead)" if data_parallel_size > 1 else "")
            raise MathsynthError(f"vLLM could not load model {self.model_name!r}: {exc}{hint}") from None
        self._sampling_cls = vllm.SamplingParams
        self.version = getattr(vllm, "__version__", "unknown")
        self.tokenizer = self.llm.get_tokenizer()
        config = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        self.max_len = getattr(config, "max_model_len", None) or max_model_len

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_name, **self.settings,
                "max_model_len": self.max_len, "vllm_version": self.version}

    def cache_identity(self) -> dict[str, Any] | None:
        return {"backend": self.name, "model": weights_fingerprint(self.model)}

    def generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None,
                 on_complete: CompleteFn | None = None) -> list[list[Completion]]:
        if self.llm is None:
            raise MathsynthError("the vllm generator was closed")
        prompts = encode_prompts(self.tokenizer, requests)
        return run_jobs(lambda ps, sps: self.llm.generate(ps, sps, use_tqdm=False), self._sampling_cls,
                        requests, prompts, max_len=self.max_len, chunk_size=self.chunk_size,
                        progress=progress, on_complete=on_complete)

    def close(self) -> None:
        """Stop the engine and free GPU memory, so another model can load in the same process."""
        if getattr(self, "llm", None) is None:
            return
        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        with contextlib.suppress(AttributeError, RuntimeError):
            if callable(getattr(core, "shutdown", None)):
                core.shutdown()
        self.llm = None
        with contextlib.suppress(ImportError, AttributeError, RuntimeError, AssertionError):
            from vllm.distributed.parallel_state import (
                destroy_distributed_environment,
                destroy_model_parallel,
            )

            destroy_model_parallel()
            destroy_distributed_environment()
        gc.collect()
        torch = sys.modules.get("torch")  # loaded by vLLM; not worth importing just to free nothing
        if torch is not None and torch.cuda.is_available():
            with contextlib.suppress(RuntimeError):
                torch.cuda.empty_cache()
