"""Benchmark: mathsynth's Grader vs a plain math-verify loop on MATH500 x N recorded samples.

Samples come from ``bench/make_grading_samples.py`` (deterministic, seeded; see its docstring).
"Ours" is ``Grader(workers).grade_many(..., benchmark="math")`` timed end to end, *including*
starting and stopping the worker processes. The reference is the loop everyone writes first::

    for gold, response in items:
        verify(parse("$" + gold + "$"), parse(response))   # math-verify defaults (5 s timeouts)

run in this process's main thread. Agreement is the share of items with the same verdict; every
disagreement is listed (grouped by gold, our extracted answer and math-verify's extraction).

Usage::

    PYTHONPATH=. .venv/bin/python bench/grading.py [--limit N] [--samples N] [--workers N]

The last line printed is ``grading: ours X/s, reference Y/s, ratio R, agreement A%``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_grading_samples import build_samples, data_path, load_problems  # noqa: E402

from mathsynth.grading import Grader  # noqa: E402


def _reference(items: list[tuple[str, str]]) -> tuple[list[bool], list[str], float]:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    verdicts: list[bool] = []
    extracted: list[str] = []
    t0 = time.perf_counter()
    for gold, response in items:
        pred = parse(response)
        verdicts.append(bool(verify(parse("$" + gold + "$"), pred)))
        extracted.append(str(pred[-1]) if pred else "")
    return verdicts, extracted, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--limit", type=int, default=None, help="first N problems (default: all 500)")
    ap.add_argument("--samples", type=int, default=64, help="responses per problem (default: 64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None, help="grading workers (default: CPU count)")
    ap.add_argument("--timeout", type=float, default=5.0, help="per-item wall-clock bound, seconds")
    ap.add_argument("--chunk", type=int, default=4096, help="items per grade_many call")
    ap.add_argument("--disagreements", type=Path, default=None, help="write them as JSON here")
    args = ap.parse_args(argv)

    problems = load_problems()[: args.limit]
    samples = build_samples(problems, args.samples, args.seed)
    items = [(s["gold"], s["response"]) for s in samples]
    n = len(items)
    distinct = len({(s["unique_id"], s["answer"]) for s in samples})
    print(f"data: {data_path()} | {len(problems)} problems x {args.samples} samples = {n} items, "
          f"{distinct} distinct (problem, answer) pairs, kinds {dict(Counter(s['kind'] for s in samples))}")

    t0 = time.perf_counter()
    with Grader(workers=args.workers, timeout=args.timeout) as grader:
        ours = []
        for i in range(0, n, args.chunk):
            ours += grader.grade_many(items[i:i + args.chunk], benchmark="math")
        stats = grader.stats
        workers = grader.workers
    t_ours = time.perf_counter() - t0
    print(f"ours: {t_ours:.1f}s with {workers} workers, stats {stats}")

    ref, ref_extracted, t_ref = _reference(items)
    print(f"reference: {t_ref:.1f}s")

    agree = sum(o.correct == r for o, r in zip(ours, ref, strict=True))
    groups: Counter = Counter()
    for s, o, r, rx in zip(samples, ours, ref, ref_extracted, strict=True):
        if o.correct != r:
            groups[(s["gold"], o.extracted, o.rule, rx, o.correct, r)] += 1
    print(f"disagreements: {n - agree} items in {len(groups)} groups")
    print("count | gold | ours: extracted (rule) -> verdict | math-verify: extracted -> verdict")
    rows = []
    for (gold, ext, rule, rx, ov, rv), c in groups.most_common():
        print(f"{c:5d} | {gold!r} | {ext!r} ({rule}) -> {ov} | {rx!r} -> {rv}")
        rows.append({"count": c, "gold": gold, "ours_extracted": ext, "ours_rule": rule,
                     "ours": ov, "reference_extracted": rx, "reference": rv})
    if args.disagreements:
        args.disagreements.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    by_kind: dict[str, list[int]] = {}
    for s, o in zip(samples, ours, strict=True):
        k = by_kind.setdefault(s["kind"], [0, 0])
        k[0] += o.correct
        k[1] += 1
    print("ours graded correct by sample kind: "
          + ", ".join(f"{k} {c}/{t}" for k, (c, t) in sorted(by_kind.items())))
    ours_rate, ref_rate = n / t_ours, n / t_ref
    print(f"grading: ours {ours_rate:.0f}/s, reference {ref_rate:.1f}/s, "
          f"ratio {ours_rate / ref_rate:.1f}, agreement {100 * agree / n:.2f}%")


if __name__ == "__main__":
    main()
