"""Benchmark: the transformers backend's three decode loops on the same real prompts, in one run.

1. ``model.generate`` (the reference: every row of a batch runs until the batch's longest answer);
2. the pruned loop (``backends.decode.decode``: finished rows leave the batch);
3. continuous batching (``backends.decode.decode_queue``: freed rows are refilled from the queue).

Greedy answers to real development problems (ASDiv grades 4-6, Vicuna prompt, up to 256 new
tokens, the study's eval settings), so answer lengths vary as they do in a real eval. Throughput
counts the tokens the model produced (not padding). The last lines printed are::

    decode generate: X tok/s (S s)
    decode pruned: X tok/s (S s), identical to generate A/B
    decode continuous: X tok/s (S s), identical to generate A/B, R x generate

Usage: ``MATHSYNTH_DATA_DIR=../shared/data PYTHONPATH=. .venv/bin/python bench/decode.py [--problems 96]
[--batch-size 32] [--model smollm2-135m]``
"""

from __future__ import annotations

import argparse
import time

from mathsynth.backends.base import GenerationRequest, SamplingParams
from mathsynth.backends.models import load_generator
from mathsynth.data import load_benchmark
from mathsynth.formats import get_format


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--benchmark", default="asdiv:grade4-6")
    args = ap.parse_args()
    fmt = get_format("vicuna")
    params = SamplingParams(n=1, temperature=0.0, max_tokens=args.max_tokens, stop=fmt.stop)
    reqs = [GenerationRequest(p.id, params, **fmt.build(p.question))
            for p in load_benchmark(args.benchmark, limit=args.problems)]
    gen = load_generator(args.model, batch_size=args.batch_size, cache=False)
    inner = getattr(gen, "inner", gen)
    results = {}
    for name, prune, continuous in (("generate", False, False), ("pruned", True, False),
                                    ("continuous", True, True)):
        inner.prune, inner.continuous = prune, continuous
        t = time.perf_counter()
        out = inner.generate(reqs)
        dt = time.perf_counter() - t
        toks = sum(c.completion_tokens for cs in out for c in cs)
        results[name] = ([cs[0].text for cs in out], toks / dt, dt)
    ref = results["generate"][0]
    for name, (texts, rate, dt) in results.items():
        line = f"decode {name}: {rate:.1f} tok/s ({dt:.0f} s)"
        if name != "generate":
            same = sum(a == b for a, b in zip(texts, ref, strict=True))
            line += f", identical to generate {same}/{len(ref)}"
        if name == "continuous":
            line += f", {rate / results['generate'][1]:.2f} x generate"
        print(line, flush=True)


if __name__ == "__main__":
    main()
