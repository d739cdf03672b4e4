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
from mathsynth.backends.shards import shard_plan, shards_per_call
from mathsynth.config import EvalConfig
from mathsynth.contracts import METRICS_FILE, SAMPLES_FILE
from mathsynth.errors import MathsynthError
from mathsynth.evaluate.breakdown import compute_metrics
from mathsynth.evaluate.records import build_record, has_failures
from mathsynth.formats import get_format
from mathsynth.grading import truncated_flags
from mathsynth.io import atomic_write_json, locked_out
from mathsynth.progress import progress_bar
from mathsynth.stage import StageRun

# Settings that change what gets generated: a rerun into the same folder must match them.
GENERATION_KEYS = ("model", "benchmark", "split", "n", "temperature", "top_p", "max_tokens",
                   "greedy_first", "prompt", "seed")


@locked_out("eval")
def run_eval(cfg: EvalConfig, *, generator: Any = None, console: Any = None,
             show_progress: bool = True) -> dict:
    """Run an evaluation and return its metrics (also written to ``cfg.out``/metrics.json).

    >>> from mathsynth.config import EvalConfig
    >>> import tempfile
    >>> m = run_eval(EvalConfig(model="fake", benchmark="demo", limit=3, n=2, out=tempfile.mkdtemp()),
    ...              show_progress=False)
    >>> m["overall"]["n_problems"]
    3
    """
    from mathsynth.grading import Grader

    problems = _problems(cfg)
    # A record holding failed samples is redone; its successful samples come back from the cache.
    with StageRun(cfg, "eval", SAMPLES_FILE, "samples", keys=GENERATION_KEYS,
                  retryable=has_failures) as run:
        done = {r["id"]: r for r in run.resume()}
        run.start(lambda: _load(cfg), needed=any(p.id not in done for p in problems), generator=generator)
        loop = _EvalLoop(cfg, run, done)
        try:
            with Grader(workers=cfg.grade_workers, timeout=cfg.grade_timeout) as grader, \
                    run.appender() as sink, \
                    progress_bar(console, show_progress, "problems", "{task.fields[toks]:.0f} tok/s") as prog:
                loop.run(problems, grader, sink, prog)
        except BudgetExceeded:
            # Stop cleanly: what is graded is on disk, paid completions are in the cache; report so far.
            if any(p.id in done for p in problems):
                finish_metrics(run.out, [done[p.id] for p in problems if p.id in done], cfg.model_dump(),
                               backend_stats=generator_stats(run.generator))
            raise
        return finish_metrics(run.out, [done[p.id] for p in problems], cfg.model_dump(),
                              elapsed=time.perf_counter() - loop.t0, new_tokens=loop.tokens,
                              backend_stats=generator_stats(run.generator))


def _problems(cfg: EvalConfig) -> list:
    from mathsynth.data import load_benchmark

    problems = load_benchmark(cfg.benchmark, split=cfg.split, limit=cfg.limit)
    if not problems:
        raise MathsynthError(f"benchmark {cfg.benchmark!r} (split {cfg.split!r}) has no problems")
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise MathsynthError(f"benchmark {cfg.benchmark!r}: problem id {dup!r} occurs more than once")
    return problems


def _load(cfg: EvalConfig) -> Any:
    from mathsynth.backends.models import load_generator

    return load_generator(cfg.model, dtype=cfg.dtype, batch_size=cfg.batch_size, **cfg.backend_kwargs())


CHUNK_BATCHES = 4


def chunk_batches(generator: Any) -> int:
    """Batches of problems per generate call: several for a continuously batching backend, so freed
    rows have queued prompts to refill from; one otherwise, so that what is paid for (an API
    budget stop) is written batch by batch."""
    inner = getattr(generator, "inner", generator)
    return CHUNK_BATCHES if getattr(inner, "continuous", False) and getattr(inner, "prune", True) else 1


class _EvalLoop:
    """The chunk loop: generate, grade, append one record per problem (``done`` grows)."""

    def __init__(self, cfg: EvalConfig, run: StageRun, done: dict[str, dict]):
        self.cfg, self.run_, self.done = cfg, run, done
        self.generator = run.generator
        self.fmt = get_format(cfg.prompt)
        self.sampled = SamplingParams(n=cfg.n, temperature=cfg.temperature, top_p=cfg.top_p,
                                      max_tokens=cfg.max_tokens, stop=self.fmt.stop, seed=cfg.seed)
        self.greedy = SamplingParams(n=1, temperature=0.0, max_tokens=cfg.max_tokens, stop=self.fmt.stop,
                                     seed=cfg.seed)
        self.t0 = time.perf_counter()
        self.tokens = 0
        self.prog = self.task = None

    def tick(self, done_n: int, toks: int) -> None:
        self.tokens += toks
        if self.prog is not None:
            rate = self.tokens / max(time.perf_counter() - self.t0, 1e-9)
            self.prog.update(self.task, advance=0, toks=rate)

    def run(self, problems: list, grader: Any, sink: Any, prog: Any) -> None:
        # Several batches' worth per generate call, so a continuously batching backend can refill freed
        # rows; what is done is still appended (resumable) chunk by chunk. Chunks are cut over the whole
        # problem list, so a rerun from scratch forms the same batches.
        per_chunk = max(1, chunk_batches(self.generator) * self.cfg.batch_size // self.cfg.n)
        self.prog = prog
        pending = sum(1 for p in problems if p.id not in self.done)
        self.task = prog.add_task("eval", total=pending, toks=0.0) if prog else None
        # A pool of workers (--executor ray) takes several chunks per call, each one shard that forms
        # the local run's batches; locally a call is one chunk.
        span = per_chunk * shards_per_call(self.generator)
        for k in range(0, len(problems), span):
            parts = [[p for p in problems[j:j + per_chunk] if p.id not in self.done]
                     for j in range(k, min(k + span, len(problems)), per_chunk)]
            todo = [p for part in parts for p in part]
            if todo:
                with shard_plan(self.generator, {p.id: s for s, part in enumerate(parts) for p in part}):
                    self.chunk(todo, grader, sink)
                if prog is not None:
                    prog.update(self.task, advance=len(todo))

    def chunk(self, todo: list, grader: Any, sink: Any) -> None:
        cfg, gen = self.cfg, self.generator
        prompts = [self.fmt.build(p.question) for p in todo]
        reqs = [GenerationRequest(p.id, self.sampled, **pr) for p, pr in zip(todo, prompts, strict=True)]
        comps = gen.generate(reqs, progress=self.tick)
        gcomps = None
        if cfg.greedy_first:
            greqs = [GenerationRequest(p.id, self.greedy, **pr) for p, pr in zip(todo, prompts, strict=True)]
            gcomps = [c[0] for c in gen.generate(greqs, progress=self.tick)]
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
            rec = self.run_.stamp(build_record(p, pr, cs, res, g))
            sink.write(rec)
            self.done[p.id] = rec


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
