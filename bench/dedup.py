"""Benchmark: dedup + test-set decontamination of N synthetic questions (default 1,000,000).

Questions come from the symbolic generator (``mathsynth.synth.symbolic.generate``) over the GSM8K
train seeds, in rounds (``per_seed`` variants per seed, ``seed=round``) run in 2 worker processes
until N are produced; without the generator or the data, templated questions are used. Generation is
timed and reported separately and cached under ``cache_dir()/bench/`` (``--no-gen-cache`` to redo).

The timed part (T) is: building the :class:`Decontaminator` n-gram table and prefilter index over every
available test set, :class:`Deduper` over all N, 13-gram decontamination of every kept question, the
content-token prefilter (:meth:`Decontaminator.prefilter`, ``--no-prefilter`` to skip) over the kept
questions the n-grams left clean, loading MiniLM plus the test-set embeddings (cached under
``cache_dir()/decontam/`` after the first run), and embedding every question that passed
(``--no-embeddings`` to stop after the prefilter; ``--embed-sample K`` embeds K of them, projects the
full cost and leaves the embedding out of T). Embedding runs on ``--threads`` torch threads (default:
the CPU count).

Usage::

    MATHSYNTH_DATA_DIR=../shared/data PYTHONPATH=. .venv/bin/python bench/dedup.py [--n N]

The last line printed is ``dedup: N questions in T s, peak RSS M MiB``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mathsynth.backends.models import cache_dir  # noqa: E402
from mathsynth.synth.dedup import Deduper  # noqa: E402

BATCH = 8192
PER_SEED = 8
CHUNK = 400  # seeds per generation task


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _gen_task(task: tuple[int, int, int]) -> list[tuple[str, str]]:
    from mathsynth.data import load_benchmark
    from mathsynth.synth.symbolic import SymbolicItem, generate

    rnd, start, end = task
    probs = load_benchmark("gsm8k", "train")[start:end]
    return [(f"r{rnd}/{x.id}", x.question) for x in generate(probs, per_seed=PER_SEED, seed=rnd)
            if isinstance(x, SymbolicItem)]


def _symbolic(n: int, workers: int) -> list[tuple[str, str]]:
    from mathsynth.data import load_benchmark

    n_seeds = len(load_benchmark("gsm8k", "train"))
    tasks = ((r, s, min(s + CHUNK, n_seeds)) for r in range(10**6) for s in range(0, n_seeds, CHUNK))
    out: list[tuple[str, str]] = []
    with Pool(workers) as pool:
        for items in pool.imap(_gen_task, tasks):
            out.extend(items)
            if len(out) >= n:
                pool.terminate()
                break
    return out[:n]


def _templated(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    names = ["Ravi", "Mia", "Chen", "Ada", "Tomas", "Zoe", "Ibrahim", "Lucia", "Noor", "Kofi"]
    things = ["stamps", "shells", "coins", "stickers", "marbles", "beads", "cards", "pencils"]
    out = []
    for i in range(n):
        a, c = rng.choice(names), rng.choice(things)
        out.append((f"t{i}", f"{a} has {rng.randint(2, 999)} {c}. {a} buys {rng.randint(2, 50)} packs with "
                             f"{rng.randint(2, 24)} {c} in each pack and gives away {rng.randint(1, 99)}. "
                             f"How many {c} does {a} have now?"))
    return out


def questions(n: int, workers: int, use_cache: bool) -> tuple[list[tuple[str, str]], str, float, bool]:
    """(items, source, generation seconds, from cache)."""
    path = Path(cache_dir()) / "bench" / f"dedup_questions_{n}.jsonl"
    if use_cache and path.exists():
        with path.open() as f:
            first = json.loads(f.readline())
            items = [tuple(json.loads(line)) for line in f]
        return items, first["source"], first["seconds"], True
    t0 = time.perf_counter()
    try:
        items, source = _symbolic(n, workers), "symbolic (GSM8K train seeds)"
    except Exception as e:  # generator or data missing: fall back to templates
        print(f"symbolic generator unavailable ({type(e).__name__}: {e}); using templated questions")
        items, source = [], ""
    if len(items) < n:
        items, source = _templated(n), "templated"
    secs = time.perf_counter() - t0
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(json.dumps({"source": source, "seconds": secs}) + "\n")
            for it in items:
                f.write(json.dumps(it) + "\n")
        tmp.replace(path)
    return items, source, secs, False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2, help="processes for question generation")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=64)
    ap.add_argument("--prefilter", action=argparse.BooleanOptionalAction, default=True,
                    help="embed only kept questions passing the content-token prefilter")
    ap.add_argument("--embeddings", action=argparse.BooleanOptionalAction, default=True,
                    help="embed every kept question that passes the prefilter")
    ap.add_argument("--embed-sample", type=int, default=0,
                    help="embed only this many of them (random) and project the full cost (0: all)")
    ap.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads for embedding")
    ap.add_argument("--gen-cache", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()

    items, source, gen_s, cached = questions(args.n, args.workers, args.gen_cache)
    print(f"generated {len(items)} questions ({source}) in {gen_s:.1f} s"
          + (" [loaded from cache]" if cached else ""))
    ids = [i for i, _ in items]
    texts = [t for _, t in items]
    del items

    import torch

    torch.set_num_threads(args.threads)  # its default can oversubscribe a shared machine
    from mathsynth.synth.decontam import Decontaminator

    t0 = time.perf_counter()
    dc = Decontaminator(use_embeddings=False)
    t_table = time.perf_counter() - t0
    print(f"test sets: {', '.join(dc.benchmarks)} ({len(dc)} questions, {len(dc._gram_keys)} 13-grams) "
          f"in {t_table:.1f} s; skipped: {dc.skipped or 'none'}")

    t1 = time.perf_counter()
    d = Deduper(threshold=args.threshold, num_perm=args.num_perm)
    kept: list[int] = []
    for s in range(0, len(texts), BATCH):
        verdicts = d.add_many(ids[s:s + BATCH], texts[s:s + BATCH])
        kept.extend(s + j for j, v in enumerate(verdicts) if v is None)
    t_dedup = time.perf_counter() - t1
    print(f"dedup: {d.stats} in {t_dedup:.1f} s ({len(texts) / t_dedup:,.0f}/s), bands x rows = "
          f"{d.bands} x {d.rows}")

    t2 = time.perf_counter()
    hits: Counter = Counter()
    clean: list[int] = []
    for s in range(0, len(kept), BATCH):
        idx = kept[s:s + BATCH]
        for i, m in zip(idx, dc.check_ngrams([texts[i] for i in idx]), strict=True):
            if m is None:
                clean.append(i)
            else:
                hits[m.test_id.split("/")[0]] += 1
    t_ngram = time.perf_counter() - t2
    print(f"13-gram decontamination: {sum(hits.values())} of {len(kept)} kept flagged {dict(hits)} "
          f"in {t_ngram:.1f} s ({len(kept) / max(t_ngram, 1e-9):,.0f}/s)")
    total = t_table + t_dedup + t_ngram

    cand = clean
    if args.prefilter:
        pf = dc.prefilter_index
        t5 = time.perf_counter()
        mask = dc.prefilter([texts[i] for i in clean])
        cand = [i for i, k in zip(clean, mask.tolist(), strict=True) if k]
        t_pre = time.perf_counter() - t5
        total += t_pre
        print(f"prefilter (>= {pf.number_ratio:g} x numbers, >= {pf.word_ratio:g} x words, >= {pf.min_shared} "
              f"tokens shared): {len(cand)} of {len(clean)} clean kept pass ({len(cand) / max(len(clean), 1):.1%})"
              f" in {t_pre:.1f} s ({len(clean) / max(t_pre, 1e-9):,.0f}/s)")

    if args.embeddings:
        t3 = time.perf_counter()
        dc.enable_embeddings(precision=args.precision)
        t_setup = time.perf_counter() - t3
        emb = dc._model
        sample = 0 < args.embed_sample < len(cand)
        pool = random.Random(0).sample(cand, args.embed_sample) if sample else cand
        emb.truncated = 0  # count the candidates only, not the test questions
        t4 = time.perf_counter()
        res = dc.check_embeddings([texts[i] for i in pool])
        t_emb = time.perf_counter() - t4
        rate = len(pool) / max(t_emb, 1e-9)
        flagged = Counter(m.test_id.split("/")[0] for m in res if m is not None)
        print(f"embedding setup: MiniLM {emb.precision}, {torch.get_num_threads()} threads, test-set embeddings "
              f"{'cached' if dc.embeddings_cached else 'computed'} in {t_setup:.1f} s (model load included)")
        print(f"embedding decontamination: {len(pool)} questions in {t_emb:.1f} s ({rate:.0f}/s), "
              f"{sum(flagged.values())} flagged (cosine >= {dc.embed_threshold}) {dict(flagged)}, "
              f"{emb.truncated} truncated at {emb.max_length} tokens")
        if sample:
            print(f"projected embedding time for all {len(cand)} candidate questions: "
                  f"{len(cand) / rate:.0f} s on this machine")
        else:
            total += t_setup + t_emb
    print(f"dedup: {len(texts)} questions in {total:.1f} s, peak RSS {_rss_mib():.0f} MiB")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
