"""Local generation with Hugging Face transformers: batched, left-padded, seeded, stop strings honoured.

Requests with identical sampling parameters are batched together (up to ``batch_size`` sequences per
forward pass, counting ``n`` samples per request). Every sample draws from its own RNG seeded by
(run seed, request id, sample index), so the random draws of a sample do not depend on what else
shares the batch. What is reproducible, exactly: a rerun with the same settings (cache on or off)
reproduces every sample, because eval cuts its chunks over the whole problem list and forms the
same batches. Across batch sizes or batch compositions (a resume that skips finished problems, a
different --batch-size, a Ray shard) the draws are the same but the arithmetic of a batched matrix
product may round differently; in fp32 on CPU this was measured identical (greedy answers to 12 real
problems at batch sizes 1, 3 and 8: 12/12; seeded sampling with refills: tests/test_backends.py),
while bf16 and GPU kernels round by shape, so a near-tie can flip a token there. With the response
cache on (the default) a resumed run serves finished calls from the cache; a call that a kill cut
off is generated again whole, as first formed (``batch_dependent``; see CachedGenerator), so a
resumed run reproduces an uninterrupted one in bf16 too.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
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
from mathsynth.backends.decode import can_refill, decode, decode_queue, stop_checker
from mathsynth.errors import MathsynthError
from mathsynth.models import cpu_has_fast_bf16, pick_dtype, quiet_transformers  # noqa: F401 (re-exported)

#: The nucleus is first looked for among this many most likely tokens: a partial selection (topk) is
#: far cheaper than sorting the 49k-token vocabulary of every row at every step, which took a
#: quarter of a sampled decode step on a CPU (docs/benchmarks.md). Rows whose nucleus is wider
#: (flat distributions) are sorted in full, so the result is the same either way.
NUCLEUS_TOPK = 128


def nucleus(logits, top_p: float):
    """``logits`` with every token outside each row's top-p nucleus set to -inf: the smallest set of
    most likely tokens whose probability reaches ``top_p`` (the token that crosses it is kept).

    >>> import torch
    >>> nucleus(torch.tensor([[2.0, 1.0, 0.0, -1.0]]), 0.6).isinf().tolist()
    [[False, True, True, True]]
    >>> nucleus(torch.tensor([[2.0, 1.0, 0.0, -1.0]]), 0.9).isinf().tolist()
    [[False, False, False, True]]
    """
    import torch

    k = min(NUCLEUS_TOPK, logits.shape[-1])
    vals, idx = torch.topk(logits, k, dim=-1)  # sorted, most likely first
    p = (vals - torch.logsumexp(logits, dim=-1, keepdim=True)).exp()
    drop = p.cumsum(dim=-1) - p >= top_p  # mass before a token already reaches top_p
    out = torch.full_like(logits, float("-inf")).scatter(-1, idx, vals.masked_fill(drop, float("-inf")))
    wide = (~drop[:, -1]).nonzero().squeeze(-1)  # the k-th token is still needed: look further
    if len(wide):
        out[wide] = sorted_nucleus(logits[wide], top_p)
    return out


def sorted_nucleus(logits, top_p: float):
    """:func:`nucleus` by sorting each row's whole vocabulary (the sampler's filter before the top-k
    shortcut; still what rows with a wide nucleus get)."""
    import torch

    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    p = sorted_logits.softmax(dim=-1)
    drop = p.cumsum(dim=-1) - p >= top_p  # keep the token that crosses top_p
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))


class RowSampler:
    """A logits processor that samples each row from its own seeded stream, then forces that token.

    ``generate(do_sample=True)`` draws every row from one global RNG, so a row's sample depends on
    what else is in the batch; a resumed run (other batches) would then differ from an uninterrupted
    one. Here each row draws all its uniforms up front from a ``torch.Generator`` seeded by
    :func:`row_seed` (one call per row, not per step), and each step samples every row at once by
    inverse-CDF lookup of its next uniform, after temperature and top-p. The returned scores put
    -inf everywhere but the sampled token, so greedy decoding inside ``generate`` emits it.
    """

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float, max_steps: int):
        import torch

        self.u = torch.stack([torch.rand(max_steps, generator=torch.Generator().manual_seed(s),
                                         dtype=torch.float64) for s in seeds])
        self.temperature, self.top_p, self.step = temperature, top_p, 0
        self.pos = torch.zeros(len(seeds), dtype=torch.long)  # per-row steps (continuous batching)

    def __call__(self, input_ids, scores):
        u = self.u[:, self.step]
        self.step += 1
        return self._forced(u, scores)

    def for_rows(self, rows, scores):
        """The next step of each of ``rows`` (indices into the seeds): the decode loops drop finished
        rows and start new ones, so each row keeps its own position in its own stream."""
        u = self.u[rows, self.pos[rows]]
        self.pos[rows] += 1
        return self._forced(u, scores)

    def _forced(self, u, scores):
        import torch

        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            logits = nucleus(logits, self.top_p)
        cdf = logits.softmax(dim=-1).double().cumsum(dim=-1)
        u = u.unsqueeze(-1).to(cdf.device) * cdf[:, -1:]
        # side="right": the first token whose cumulative mass exceeds u, never a zero-probability one.
        picks = torch.searchsorted(cdf, u, side="right").clamp_(max=cdf.shape[-1] - 1)
        forced = torch.full_like(scores, float("-inf"))
        forced.scatter_(-1, picks, 0.0)
        return forced


class TransformersGenerator:
    """Generate with a local transformers causal LM.

    >>> g = TransformersGenerator("path/to/model")  # doctest: +SKIP
    >>> from mathsynth.backends.base import GenerationRequest, SamplingParams
    >>> msgs = ({"role": "user", "content": "What is 2+3?"},)
    >>> g.generate([GenerationRequest("q", SamplingParams(n=2, max_tokens=32), messages=msgs)])  # doctest: +SKIP
    """

    name = "transformers"
    #: a row's tokens depend on its batch mates through floating-point rounding (see CachedGenerator)
    batch_dependent = True

    def __init__(self, path: str, *, model_name: str | None = None, dtype: str = "auto",
                 batch_size: int = 64, device: str = "auto", prune: bool = True,
                 continuous: bool = True):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet_transformers()
        self.path, self.model_name, self.batch_size = path, model_name or path, max(1, batch_size)
        self.prune = prune  # drop finished rows from the batch (backends.decode) instead of model.generate
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.dtype = pick_dtype(dtype, self.device)
        try:
            self.tok = AutoTokenizer.from_pretrained(path, padding_side="left")
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=self.dtype)
        except OSError as exc:
            raise MathsynthError(f"could not load model {self.model_name!r} from {path}: {exc}") from None
        self.model.to(self.device).eval()
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.eos_ids = self._eos_ids()
        # Continuous batching (backends.decode.decode_queue) where the model's cache allows it.
        self.continuous = continuous and can_refill(self.model)

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        if self.tok.eos_token_id is not None:
            ids.add(self.tok.eos_token_id)
        return ids

    def render(self, req: GenerationRequest) -> str:
        """The exact text fed to the model (chat template applied for chat requests)."""
        if not req.is_chat:
            return req.prompt or ""
        if not self.tok.chat_template:
            raise MathsynthError(f"model {self.model_name!r} has no chat template; use a raw prompt format "
                                 "(e.g. --prompt vicuna)")
        return self.tok.apply_chat_template(list(req.messages), tokenize=False, add_generation_prompt=True)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_name, "path": self.path, "device": self.device,
                "dtype": str(self.dtype).replace("torch.", ""), "batch_size": self.batch_size}

    def cache_identity(self) -> dict[str, Any] | None:
        return {"backend": self.name, "model": weights_fingerprint(self.path)}

    def close(self) -> None:
        self.model = None

    def generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None,
                 on_complete: CompleteFn | None = None) -> list[list[Completion]]:
        results: list[list[Completion] | None] = [None] * len(requests)
        groups: dict[SamplingParams, list[int]] = defaultdict(list)
        for i, req in enumerate(requests):
            groups[req.params].append(i)
        for params, idxs in groups.items():
            texts = {i: self.render(requests[i]) for i in idxs}
            idxs = self._drop_too_long(requests, idxs, texts, params, results, on_complete)
            if not idxs:
                continue
            # Similar lengths together: less padding, and a deterministic order.
            idxs = sorted(idxs, key=lambda i: (len(texts[i]), requests[i].id))
            if self.prune and self.continuous:
                self._generate_queue(requests, idxs, texts, params, results, progress, on_complete)
                continue
            for rows, per, offset in self._chunks(idxs, params.n):
                comps = self._generate_rows([texts[i] for i in rows], params, per,
                                            [(requests[i].id, requests[i].sample_offset + offset)
                                             for i in rows])
                for j, i in enumerate(rows):
                    if on_complete:
                        for k, c in enumerate(comps[j]):
                            on_complete(i, offset + k, c)
                    results[i] = (results[i] or []) + comps[j]
                if progress:
                    progress(0, sum(c.completion_tokens for cs in comps for c in cs))
            if progress:
                progress(len(idxs), 0)
        return [r or [] for r in results]

    @property
    def context_length(self) -> int | None:
        """Tokens the model can attend to (prompt + answer), from its config."""
        return getattr(self.model.config, "max_position_embeddings", None)

    def too_long(self, text: str, max_tokens: int) -> str | None:
        """Why a prompt cannot be answered within the context (None when it fits). Texts far past
        any context are not tokenized (a 50 MB question would take minutes): no token of these
        tokenizers spans more than 32 characters, so ``len // 32`` tokens is a lower bound."""
        ctx = self.context_length
        if not ctx:
            return None
        n = len(text) // 32 if len(text) > 32 * ctx else len(self.tok(text, add_special_tokens=False)["input_ids"])
        if n + max_tokens <= ctx:
            return None
        return f"prompt too long: {n:,} tokens + max_tokens {max_tokens} > the model's context of {ctx:,} tokens"

    def _drop_too_long(self, requests, idxs, texts, params, results, on_complete) -> list[int]:
        """Answer prompts that cannot fit with a final "prompt_too_long" completion before any
        generation starts; returns the indices left to generate."""
        keep = []
        for i in idxs:
            why = self.too_long(texts[i], params.max_tokens)
            if why is None:
                keep.append(i)
                continue
            results[i] = [Completion("", "prompt_too_long", error=why) for _ in range(params.n)]
            for k, c in enumerate(results[i]) if on_complete else ():
                on_complete(i, k, c)
        return keep

    def _generate_queue(self, requests, idxs, texts, params: SamplingParams, results, progress, on_complete):
        """All requests of one sampling setting through one continuously batched decode."""
        reps = 1 if params.greedy else params.n  # greedy samples are identical: decode once, repeat
        rows = [(i, k) for i in idxs for k in range(reps)]
        enc = {i: self.tok(texts[i], add_special_tokens=False)["input_ids"] for i in idxs}
        sampler = None
        if not params.greedy:
            sampler = RowSampler([row_seed(params.seed, requests[i].id, requests[i].sample_offset + k)
                                  for i, k in rows], params.temperature, params.top_p, params.max_tokens)
        check = stop_checker(self.tok, params.stop)
        got: dict[int, list] = defaultdict(list)

        def done(r: int, toks: list[int]) -> None:
            i, k = rows[r]
            comp = self._finish(toks, params, len(enc[i]))
            samples = [(k, comp)] if reps == params.n else [(kk, replace(comp)) for kk in range(params.n)]
            got[i] += samples
            for kk, c in samples if on_complete else ():
                on_complete(i, kk, c)
            if progress:
                progress(0, comp.completion_tokens * len(samples))

        decode_queue(self.model, [enc[i] for i, _ in rows], params.max_tokens, self.eos_ids,
                     max_rows=self.batch_size, pad_id=self.tok.pad_token_id,
                     processor=sampler.for_rows if sampler else None,
                     stopped=check, on_done=done)
        for i in idxs:
            results[i] = [c for _, c in sorted(got[i], key=lambda kc: kc[0])]
        if progress:
            progress(len(idxs), 0)

    def _chunks(self, idxs: list[int], n: int):
        """Yield (request indices, samples each, first sample index) with rows x samples <= batch_size."""
        if n >= self.batch_size:
            for i in idxs:
                for offset in range(0, n, self.batch_size):
                    yield [i], min(self.batch_size, n - offset), offset
            return
        per_batch = max(1, self.batch_size // n)
        for k in range(0, len(idxs), per_batch):
            yield idxs[k:k + per_batch], n, 0

    def _generate_rows(self, texts: list[str], params: SamplingParams, n: int,
                       rows: list[tuple[str, int]]) -> list[list[Completion]]:
        """Decode ``n`` samples for each text; ``rows`` holds (request id, first sample index)."""
        import torch
        from transformers import LogitsProcessorList

        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        # Greedy samples are identical: decode once and repeat instead of n identical decodes.
        reps = 1 if params.greedy else n
        # Rows are expanded request-major, as generate() does for num_return_sequences.
        enc = {k: v.repeat_interleave(reps, dim=0) for k, v in enc.items()}
        sampler = None
        if not params.greedy:
            seeds = [row_seed(params.seed, rid, first + j) for rid, first in rows for j in range(n)]
            sampler = RowSampler(seeds, params.temperature, params.top_p, params.max_tokens)
        if self.prune:
            new = decode(self.model, enc["input_ids"], enc["attention_mask"], params.max_tokens, self.eos_ids,
                         processor=sampler.for_rows if sampler else None,
                         stopped=stop_checker(self.tok, params.stop))
        else:
            kwargs: dict[str, Any] = dict(max_new_tokens=params.max_tokens, pad_token_id=self.tok.pad_token_id,
                                          do_sample=False, temperature=None, top_p=None, top_k=None)
            if sampler is not None:
                kwargs["logits_processor"] = LogitsProcessorList([sampler])
            if params.stop:
                kwargs.update(stop_strings=list(params.stop), tokenizer=self.tok)
            with torch.inference_mode():
                out = self.model.generate(**enc, **kwargs)
            new = out[:, enc["input_ids"].shape[1]:].tolist()
        comps: list[list[Completion]] = [[] for _ in texts]
        for r, toks in enumerate(new):
            src = r // reps
            comp = self._finish(toks, params, prompt_lens[src])
            comps[src].extend([comp] if reps == n else [replace(comp) for _ in range(n)])
        return comps

    def _finish(self, toks: list[int], params: SamplingParams, prompt_len: int) -> Completion:
        reason = "length"
        cut = len(toks)
        for k, t in enumerate(toks):
            if t in self.eos_ids:
                reason, cut = "stop", k
                break
        # Everything after EOS is padding; count only what the model produced.
        text = self.tok.decode(toks[:cut], skip_special_tokens=True)
        ntoks = min(cut + (1 if reason == "stop" else 0), len(toks))
        cut = cut_at_stop(text, params.stop)
        if cut != text:
            text, reason = cut, "stop"
        return Completion(text, reason, prompt_tokens=int(prompt_len), completion_tokens=ntoks)


def timed_generate(gen: TransformersGenerator, requests: Sequence[GenerationRequest]) -> tuple[list, float]:
    """Generate and return (completions, seconds); used by bench scripts."""
    t = time.perf_counter()
    out = gen.generate(requests)
    return out, time.perf_counter() - t
