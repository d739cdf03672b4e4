"""The evaluation stage: sample N answers per problem, grade them, write samples/metrics/config.

Resumable: problems already in DIR/samples.jsonl are skipped, a truncated last line from a crash is
cut, and each chunk of problems is appended and flushed as soon as it is graded. Problems are cut into
chunks over the *whole* problem list, so a rerun from scratch forms the same batches and (with the same
seed) reproduces the same samples.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mathsynth.backends.base import BudgetExceeded, GenerationRequest, SamplingParams, generator_stats
from mathsynth.config import EvalConfig
from mathsynth.contracts import CONFIG_FILE, METRICS_FILE, SAMPLES_FILE
from mathsynth.errors import MathsynthError
from mathsynth.evaluate.breakdown import compute_metrics
from mathsynth.evaluate.records import build_record, has_failures
from mathsynth.formats import get_format
from mathsynth.grading import truncated_flags
from mathsynth.io import (
    JsonlAppender,
    atomic_write_json,
    atomic_write_jsonl,
    locked_out,
    read_jsonl,
    refuse_mixed_settings,
    run_manifest,
    settings_key,
)
from mathsynth.progress import progress_bar

# Settings that change what gets generated: a rerun into the same folder must match them.
GENERATION_KEYS = ("model", "benchmark", "split", "n", "temperature", "top_p", "max_tokens",
                   "greedy_first", "prompt", "seed")


def check_compatible(out: Path, cfg: EvalConfig) -> dict | None:
    """Refuse to mix samples generated with different settings in one folder (as its config.json
    names them); returns those settings (None without samples or config) for the per-record check."""
    path = out / CONFIG_FILE
    if not path.exists() or not (out / SAMPLES_FILE).exists():
        return None
    import json

    try:
        old = json.loads(path.read_text(encoding="utf-8")).get("config", {})
    except json.JSONDecodeError:
        return None
    diffs = [f"{k}: {old.get(k)!r} -> {getattr(cfg, k)!r}" for k in GENERATION_KEYS
             if k in old and old.get(k) != getattr(cfg, k)]
    if diffs:
        raise MathsynthError(f"{out} already holds samples made with other settings ({'; '.join(diffs)}); "
                             "use another --out or delete the folder")
    return old


def load_done(samples: Path) -> dict[str, dict]:
    """Records already written (a truncated last line is ignored and later cut).

    Records holding failed samples are dropped from the file (rewritten atomically) so this run
    redoes them; their successful samples come back from the response cache for free.
    """
    if not samples.exists():
        return {}
    records = list(read_jsonl(samples, tolerate_truncated_tail=True))
    keep = [r for r in records if not has_failures(r)]
    if len(keep) != len(records):
        atomic_write_jsonl(samples, keep)
    return {r["id"]: r for r in keep}


def _chunks(items: list, size: int):
    for k in range(0, len(items), size):
        yield items[k:k + size]


@locked_out("eval")
def run_eval(cfg: EvalConfig, *, generator: Any = None, console: Any = None,
             show_progress: bool = True) -> dict:
    """Run an evaluation and return its metrics (also written to ``cfg.out``/metrics.json).

    >>> from mathsynth.config import EvalConfig
    >>> import tempfile
    >>> m = run_eval(EvalConfig(model="fake", benchmark="demo", limit=3, n=2, out=tempfile.mkdtemp()),
    ...              show_progress=False)  # doctest: +SKIP
    >>> m["overall"]["n_problems"]  # doctest: +SKIP
    3
    """
    from mathsynth.data import load_benchmark
    from mathsynth.grading import Grader

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    fmt = get_format(cfg.prompt)
    problems = load_benchmark(cfg.benchmark, split=cfg.split, limit=cfg.limit)
    if not problems:
        raise MathsynthError(f"benchmark {cfg.benchmark!r} (split {cfg.split!r}) has no problems")
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise MathsynthError(f"benchmark {cfg.benchmark!r}: problem id {dup!r} occurs more than once")
    old = check_compatible(out, cfg)
    samples_path = out / SAMPLES_FILE
    done = load_done(samples_path)
    settings = {k: getattr(cfg, k) for k in GENERATION_KEYS}
    refuse_mixed_settings(out, "samples", {r.get("settings_key") for r in done.values()}, settings, old)
    owns_generator = generator is None
    if owns_generator and any(p.id not in done for p in problems):
        from mathsynth.backends.models import load_generator

        generator = load_generator(cfg.model, dtype=cfg.dtype, batch_size=cfg.batch_size,
                                   **cfg.backend_kwargs())
    manifest = run_manifest("eval", cfg.model_dump())
    if generator is not None:
        manifest["backend"] = generator.describe()
    atomic_write_json(out / CONFIG_FILE, manifest)

    sampled = SamplingParams(n=cfg.n, temperature=cfg.temperature, top_p=cfg.top_p,
                             max_tokens=cfg.max_tokens, stop=fmt.stop, seed=cfg.seed)
    greedy = SamplingParams(n=1, temperature=0.0, max_tokens=cfg.max_tokens, stop=fmt.stop, seed=cfg.seed)
    # Several batches' worth per generate call, so a continuously batching backend can refill freed
    # rows; what is done is still appended (resumable) chunk by chunk.
    per_chunk = max(1, chunk_batches(generator) * cfg.batch_size // cfg.n)
    pending_total = sum(1 for p in problems if p.id not in done)
    t0 = time.perf_counter()
    tokens = 0
    try:
        with Grader(workers=cfg.grade_workers, timeout=cfg.grade_timeout) as grader, \
                JsonlAppender(samples_path) as sink, \
                progress_bar(console, show_progress, "problems", "{task.fields[toks]:.0f} tok/s") as prog:
            tokens = _generate_and_grade(cfg, problems, done, generator, grader, sink, prog, fmt,
                                         sampled, greedy, per_chunk, pending_total, t0)
    except BudgetExceeded:
        # Stop cleanly: what is graded is on disk, paid completions are in the cache; report so far.
        if any(p.id in done for p in problems):
            finish_metrics(out, [done[p.id] for p in problems if p.id in done], cfg.model_dump(),
                           backend_stats=generator_stats(generator))
        raise
    finally:
        if owns_generator and generator is not None:
            generator.close()
    return finish_metrics(out, [done[p.id] for p in problems], cfg.model_dump(),
                          elapsed=time.perf_counter() - t0, new_tokens=tokens,
                          backend_stats=generator_stats(generator))


CHUNK_BATCHES = 4


def chunk_batches(generator: Any) -> int:
    """Batches of problems per generate call: several for a continuously batching backend, so freed
    rows have queued prompts to refill from; one otherwise, so that what is paid for (an API
    budget stop) is written batch by batch."""
    inner = getattr(generator, "inner", generator)
    return CHUNK_BATCHES if getattr(inner, "continuous", False) and getattr(inner, "prune", True) else 1


def _generate_and_grade(cfg, problems, done, generator, grader, sink, prog, fmt, sampled, greedy,
                        per_chunk, pending_total, t0) -> int:
    """The chunk loop: generate, grade, append one record per problem; returns tokens generated."""
    key = settings_key({k: getattr(cfg, k) for k in GENERATION_KEYS})
    tokens = 0
    task = prog.add_task("eval", total=pending_total, toks=0.0) if prog else None

    def tick(done_n: int, toks: int) -> None:
        nonlocal tokens
        tokens += toks
        if prog is not None:
            rate = tokens / max(time.perf_counter() - t0, 1e-9)
            prog.update(task, advance=0, toks=rate)

    for chunk in _chunks(problems, per_chunk):
        todo = [p for p in chunk if p.id not in done]
        if not todo:
            continue
        prompts = [fmt.build(p.question) for p in todo]
        reqs = [GenerationRequest(p.id, sampled, **pr) for p, pr in zip(todo, prompts, strict=True)]
        comps = generator.generate(reqs, progress=tick)
        gcomps = None
        if cfg.greedy_first:
            greqs = [GenerationRequest(p.id, greedy, **pr) for p, pr in zip(todo, prompts, strict=True)]
            gcomps = [c[0] for c in generator.generate(greqs, progress=tick)]
        items = [(p.answer, c.text) for p, cs in zip(todo, comps, strict=True) for c in cs]
        reasons = [c.finish_reason for cs in comps for c in cs]
        if gcomps:
            items += [(p.answer, c.text) for p, c in zip(todo, gcomps, strict=True)]
            reasons += [c.finish_reason for c in gcomps]
        results = grader.grade_many(items, benchmark=todo[0].meta.get("benchmark"), rules=cfg.rules,
                                    truncated=truncated_flags(reasons, cfg.truncated_fallback))
        pos = 0
        for i, (p, pr, cs) in enumerate(zip(todo, prompts, comps, strict=True)):
            res = results[pos:pos + len(cs)]
            pos += len(cs)
            g = (gcomps[i], results[len(items) - len(todo) + i]) if gcomps else None
            rec = build_record(p, pr, cs, res, g)
            rec["settings_key"] = key
            sink.write(rec)
            done[p.id] = rec
        if prog is not None:
            prog.update(task, advance=len(todo))
    return tokens


def finish_metrics(out: Path, records: list[dict], config: dict, *, elapsed: float | None = None,
                   new_tokens: int | None = None, backend_stats: dict | None = None) -> dict:
    """Compute metrics over records and write DIR/metrics.json atomically."""
    metrics = compute_metrics(records)
    if float(config.get("temperature") or 0) == 0 and not config.get("greedy_first"):
        _label_greedy(metrics)  # temperature 0: every sample is the greedy answer
    comp_tokens = sum(sum(r.get("completion_tokens") or []) for r in records)
    reasons: dict[str, int] = {}
    for r in records:
        for fr in r.get("finish_reasons") or []:
            reasons[fr] = reasons.get(fr, 0) + 1
    metrics["run"] = {"model": config.get("model"), "benchmark": config.get("benchmark"),
                      "split": config.get("split"), "prompt": config.get("prompt"),
                      "completion_tokens": comp_tokens, "finish_reasons": reasons,
                      "problems_with_failed_samples": sum(has_failures(r) for r in records)}
    if backend_stats:
        metrics["run"]["backend"] = backend_stats
    if elapsed is not None:
        metrics["run"]["seconds_this_run"] = round(elapsed, 2)
        metrics["run"]["tokens_this_run"] = new_tokens
    atomic_write_json(out / METRICS_FILE, metrics)
    return metrics


def _label_greedy(metrics: dict) -> None:
    for cell in [metrics["overall"], *(g for sec in ("by_level", "by_subject", "by_steps")
                                       for g in (metrics.get(sec) or {}).values())]:
        cell["pass@1_source"] = "greedy"
