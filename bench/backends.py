"""Benchmark: our backends vs the raw engines they wrap, measured in one run on the same prompts.

1. transformers: ``TransformersGenerator.generate`` vs a raw ``model.generate(do_sample=True)`` on the
   same tokenized, left-padded batch (same n, temperature, top_p, max_new_tokens; EOS disabled on
   both sides so both produce exactly max_tokens tokens per sample and the token counts match).
2. llamacpp: ``LlamaCppGenerator.generate`` vs raw ``llama_cpp.Llama.create_completion`` calls with
   the same prompts, seeds and sampling settings.
3. openai: ``OpenAIGenerator.generate`` against a local llama.cpp server (started here on 127.0.0.1)
   vs the server's own capacity, measured with plain sequential HTTP requests (the server runs one
   request at a time, so sequential requests saturate it).

For transformers, ours also runs with the top-p sampler of before (each row's whole vocabulary
sorted at every step, instead of a top-k selection first): ``transformers sampler: ...`` gives the
speed-up and how many samples are identical.

Each pair runs alternately ``--repeats`` times and the best time of each side counts (less noise on
a shared machine). The last lines printed are::

    transformers: ours X tok/s, raw Y tok/s, overhead Z%
    llamacpp: ours X tok/s, raw Y tok/s, overhead Z%
    openai: ours X tok/s, server capacity Y tok/s, ratio R%

Usage: ``PYTHONPATH=. .venv/bin/python bench/backends.py [--prompts 16] [--n 4] [--max-tokens 64]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mathsynth.backends.base import GenerationRequest, SamplingParams  # noqa: E402
from mathsynth.data import load_benchmark  # noqa: E402
from mathsynth.formats import get_format  # noqa: E402


def _requests(count: int, params: SamplingParams) -> list[GenerationRequest]:
    fmt = get_format("chat")
    return [GenerationRequest(p.id, params, **fmt.build(p.question)) for p in load_benchmark("demo", limit=count)]


def _best(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _as_before(fn):
    """``fn()`` with the transformers backend as it was before the decode speed-ups: every row's
    vocabulary sorted at every sampling step, a KV cache that concatenates at every step, and each
    sample's prompt prefilled on its own."""
    from transformers import DynamicCache

    from mathsynth.backends import decode as dec
    from mathsynth.backends import transformers_backend as tb

    fast, tb.nucleus = tb.nucleus, tb.sorted_nucleus
    growing, dec.new_cache = dec.new_cache, lambda m: DynamicCache(config=m.config)
    dec.SHARE_PREFILL = False
    try:
        return fn()
    finally:
        tb.nucleus, dec.new_cache, dec.SHARE_PREFILL = fast, growing, True


def bench_transformers(args) -> str:
    import torch

    from mathsynth.backends.models import load_generator

    gen = load_generator("smollm2-135m", cache=False, batch_size=args.prompts * args.n)
    params = SamplingParams(n=args.n, temperature=0.7, top_p=0.95, max_tokens=args.max_tokens)
    reqs = _requests(args.prompts, params)
    model, tok = gen.model, gen.tok
    eos = model.generation_config.eos_token_id
    texts = [gen.render(r) for r in reqs]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    model.generation_config.eos_token_id = None  # both sides decode exactly max_tokens tokens
    gen.eos_ids = set()

    def ours():
        return gen.generate(reqs)

    def raw():
        with torch.inference_mode():
            return model.generate(**enc, do_sample=True, temperature=0.7, top_p=0.95, top_k=None,
                                  num_return_sequences=args.n, max_new_tokens=args.max_tokens,
                                  pad_token_id=tok.pad_token_id)

    def before():
        return _as_before(lambda: gen.generate(reqs))

    t_ours = t_raw = t_before = float("inf")
    for _ in range(args.repeats):
        t, out_ours = _best(ours, 1)
        t_ours = min(t_ours, t)
        t_raw = min(t_raw, _best(raw, 1)[0])
        t, out_before = _best(before, 1)
        t_before = min(t_before, t)
    same = sum(a.text == b.text for x, y in zip(out_ours, out_before, strict=True) for a, b in zip(x, y, strict=True))
    greedy = [replace(r, params=replace(params, n=1, temperature=0.0)) for r in reqs]
    tg_ours, g_ours = _best(lambda: gen.generate(greedy), 1)
    tg_before, g_before = _best(lambda: _as_before(lambda: gen.generate(greedy)), 1)
    g_same = sum(a[0].text == b[0].text for a, b in zip(g_ours, g_before, strict=True))
    model.generation_config.eos_token_id = eos
    toks = args.prompts * args.n * args.max_tokens
    print(f"transformers detail: {toks} tokens per run, ours {t_ours:.2f}s, raw {t_raw:.2f}s, "
          f"ours as of before {t_before:.2f}s, dtype {gen.dtype}")
    print(f"transformers vs before: ours {toks / t_ours:.1f} tok/s, before (full-vocabulary sort, concatenating "
          f"KV cache, a prefill per sample) {toks / t_before:.1f} tok/s, {t_before / t_ours:.2f} x; identical samples "
          f"{same}/{toks // args.max_tokens}, identical greedy answers {g_same}/{len(greedy)}")
    gtoks = len(greedy) * args.max_tokens  # one row per prompt: nothing to share in the prefill
    print(f"transformers greedy vs before: ours {gtoks / tg_ours:.1f} tok/s, before {gtoks / tg_before:.1f} tok/s, "
          f"{tg_before / tg_ours:.2f} x ({len(greedy)} rows)")
    gen.close()
    return (f"transformers: ours {toks / t_ours:.1f} tok/s, raw {toks / t_raw:.1f} tok/s, "
            f"overhead {100 * (t_ours / t_raw - 1):.1f}%")


def bench_llamacpp(args) -> str:
    from mathsynth.backends.llamacpp_backend import LlamaCppGenerator, sample_seed
    from mathsynth.backends.models import embedded_gguf

    gen = LlamaCppGenerator(str(embedded_gguf()), n_ctx=2048)
    params = SamplingParams(n=args.n, temperature=0.7, top_p=0.95, max_tokens=args.max_tokens)
    reqs = _requests(args.llama_prompts, params)
    llm = gen.llm
    prompts = [gen.render(r) for r in reqs]  # same text, same seeds: both sides sample the same tokens
    counts = {"ours": 0, "raw": 0}

    def ours():
        out = gen.generate(reqs)
        counts["ours"] = sum(c.completion_tokens for cs in out for c in cs)

    def raw():
        total = 0
        for r, prompt in zip(reqs, prompts, strict=True):
            for i in range(args.n):
                res = llm.create_completion(prompt, max_tokens=args.max_tokens, temperature=0.7, top_p=0.95,
                                            top_k=0, min_p=0.0, seed=sample_seed(0, r.id, i))
                total += res["usage"]["completion_tokens"]
        counts["raw"] = total

    t_ours = t_raw = float("inf")
    for _ in range(args.repeats):
        t_ours = min(t_ours, _best(ours, 1)[0])
        t_raw = min(t_raw, _best(raw, 1)[0])
    gen.close()
    r_ours, r_raw = counts["ours"] / t_ours, counts["raw"] / t_raw
    print(f"llamacpp detail: tokens ours {counts['ours']}, raw {counts['raw']}; ours {t_ours:.2f}s, raw {t_raw:.2f}s")
    return f"llamacpp: ours {r_ours:.1f} tok/s, raw {r_raw:.1f} tok/s, overhead {100 * (r_raw / r_ours - 1):.1f}%"


def bench_openai(args) -> str:
    from servers import LlamaServer

    from mathsynth.backends.models import embedded_gguf
    from mathsynth.backends.openai_backend import OpenAIGenerator

    srv = LlamaServer(str(embedded_gguf()))
    try:
        params = SamplingParams(n=1, temperature=0.7, top_p=0.95, max_tokens=args.max_tokens)
        reqs = _requests(args.llama_prompts * args.n, params)
        gen = OpenAIGenerator("smollm2", srv.url, max_concurrency=4)

        def ours():
            out = gen.generate(reqs)
            return sum(c.completion_tokens for cs in out for c in cs)

        def direct():
            total = 0
            for i, r in enumerate(reqs):
                body = json.dumps({"model": "smollm2", "messages": list(r.messages), "max_tokens": args.max_tokens,
                                   "temperature": 0.7, "top_p": 0.95, "seed": i}).encode()
                req = urllib.request.Request(f"{srv.url}/chat/completions", data=body,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=300) as resp:
                    total += json.loads(resp.read())["usage"]["completion_tokens"]
            return total

        best_ours = best_direct = 0.0
        for _ in range(args.repeats):
            t, toks = _best(ours, 1)
            best_ours = max(best_ours, toks / t)
            t, toks = _best(direct, 1)
            best_direct = max(best_direct, toks / t)
        gen.close()
    finally:
        srv.stop()
    return (f"openai: ours {best_ours:.1f} tok/s, server capacity {best_direct:.1f} tok/s, "
            f"ratio {100 * best_ours / best_direct:.1f}%")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--prompts", type=int, default=16, help="prompts for transformers")
    ap.add_argument("--llama-prompts", type=int, default=4, help="prompts for llamacpp and openai")
    ap.add_argument("--n", type=int, default=4, help="samples per prompt")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=["transformers", "llamacpp", "openai"], default=None)
    args = ap.parse_args(argv)
    lines = []
    for name, fn in (("transformers", bench_transformers), ("llamacpp", bench_llamacpp), ("openai", bench_openai)):
        if args.only in (None, name):
            lines.append(fn(args))
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
