"""The synthesis stage: seed -> new question (teacher, verified) -> M answers -> filters, then
dedup and decontamination; outputs questions.jsonl, rejects.jsonl, sft.jsonl, stats.json.

Work is keyed by (seed id, index) with deterministic ids ``syn/<seed id>/<index>``. Every unit's
outcome (candidate or reject) is appended and flushed to DIR/generated.jsonl as soon as it is known,
so a rerun skips finished units (a truncated last line from a crash is cut); paid teacher calls are
also in the response cache. The final files are rebuilt from generated.jsonl atomically at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mathsynth.backends.base import BudgetExceeded, GenerationRequest, SamplingParams, generator_stats
from mathsynth.backends.shards import shard_plan, shards_per_call
from mathsynth.config import SynthConfig
from mathsynth.contracts import GENERATED_FILE
from mathsynth.errors import MathsynthError
from mathsynth.io import locked_out
from mathsynth.progress import progress_bar
from mathsynth.stage import StageRun
from mathsynth.synth.filters import cluster_pairs, majority, pick_solution
from mathsynth.synth.finalize import finalize
from mathsynth.synth.parse import parse_answer, parse_question
from mathsynth.synth.prompts import VERIFY_MODES, get_prompt, load_prompt_file

# Settings that shape each generated unit: a rerun into the same folder must match them (limit and
# per_seed only add units; dedup and decontamination are redone over all units at the end).
GENERATION_KEYS = ("seeds", "split", "teacher", "mode", "style", "prompt_file", "answers", "temperature",
                   "top_p", "max_tokens", "min_agreement", "max_solution_chars", "max_question_chars", "seed_max_steps",
                   "seed")


def unit_id(seed_id: str, index: int) -> str:
    """The deterministic id of the ``index``-th new problem made from a seed.

    >>> unit_id("gsm8k/train/7", 2)
    'syn/gsm8k/train/7/2'
    """
    return f"syn/{seed_id}/{index}"


def answer_id(uid: str) -> str:
    """The request id of a unit's M answers (their seeds derive from it).

    >>> answer_id("syn/gsm8k/train/7/2")
    'syn/gsm8k/train/7/2/answer'
    """
    return uid + "/answer"


def _style(cfg: SynthConfig, seeds: list) -> str:
    if cfg.style:
        if cfg.style not in ("gsm8k", "math"):
            raise MathsynthError(f"style must be gsm8k or math, got {cfg.style!r}")
        return cfg.style
    bench = (seeds[0].meta.get("benchmark") or "") if seeds else ""
    return "math" if bench in ("math", "math500") else "gsm8k"


@locked_out("synth")
def run_synth(cfg: SynthConfig, *, generator: Any = None, console: Any = None,
              show_progress: bool = True) -> dict:
    """Run synthesis into ``cfg.out`` and return stats (also in DIR/stats.json).

    >>> import tempfile
    >>> s = run_synth(SynthConfig(seeds="demo", teacher="symbolic", out=tempfile.mkdtemp(),
    ...               decontam_embeddings=False, decontam_benchmarks=[]), show_progress=False)
    >>> s["units"], s["accepted"] + s["rejected"] == s["units"]
    (32, True)
    """
    from mathsynth.data import load_benchmark, resolve
    from mathsynth.grading import Grader

    # Seeds come from the split the reference or --split names, else the training split (demo: its only one).
    ref = resolve(cfg.seeds, cfg.split or None)
    seeds = load_benchmark(ref, limit=None if cfg.seed_max_steps else cfg.limit)
    if cfg.seed_max_steps:  # easy seeds only (GSM8K: calculator annotations); the limit counts kept seeds
        seeds = [s for s in seeds if 1 <= (s.meta.get("steps") or 0) <= cfg.seed_max_steps][:cfg.limit]
    if not seeds:
        raise MathsynthError(f"seeds {cfg.seeds!r} (split {cfg.split!r}) hold no problems")
    style = _style(cfg, seeds)
    units = [(s, i) for s in seeds for i in range(cfg.per_seed)]
    symbolic = cfg.teacher == "symbolic"
    # A unit whose teacher request failed (transport, timeout, server error) is not a verdict on the
    # question: it is recorded as "failed" and redone by the next run; content rejects are final.
    with StageRun(cfg, "synth", GENERATED_FILE, "synthesized units", keys=GENERATION_KEYS,
                  retryable=lambda r: r.get("status") == "failed") as run:
        done = {r["id"] for r in run.resume()}
        todo = [(s, i) for s, i in units if unit_id(s.id, i) not in done]
        # The symbolic teacher has no model; on --executor ray its chunks run as Ray tasks instead.
        tasks = (lambda: _ray_tasks(cfg)) if cfg.executor == "ray" else None
        run.start(tasks if symbolic else lambda: _load(cfg), needed=bool(todo), generator=generator)
        teacher = None if symbolic else _Teacher(cfg, style, run.generator, *_prompts(cfg, style))
        t0 = time.perf_counter()
        stopped = None
        try:
            with Grader(workers=None) as grader, run.appender() as sink, \
                    progress_bar(console, show_progress, "accepted {task.fields[acc]:.0f}%",
                                 "${task.fields[cost]:.2f}") as prog:
                task = prog.add_task("synth", total=len(todo), acc=0.0, cost=0.0) if prog else None
                kept = total = 0
                # A pool of workers (--executor ray) takes several chunks per pass, each one shard
                # that forms the local run's batches; locally a pass is one chunk.
                span = cfg.batch_size * shards_per_call(run.generator)
                for k in range(0, len(todo), span):
                    chunk = todo[k:k + span]
                    plan = {rid: (k + j) // cfg.batch_size for j, (s, i) in enumerate(chunk)
                            for rid in (unit_id(s.id, i), answer_id(unit_id(s.id, i)))}
                    # A seed too long to be a math question (or to fit a prompt) is refused before any
                    # teacher call; it would otherwise run for minutes and land in sft.jsonl.
                    recs = [_too_long(s, i, cfg, style) for s, i in chunk
                            if len(s.question) > cfg.max_question_chars]
                    chunk = [(s, i) for s, i in chunk if len(s.question) <= cfg.max_question_chars]
                    if chunk and teacher is None and run.generator is not None:
                        parts = [chunk[j:j + cfg.batch_size] for j in range(0, len(chunk), cfg.batch_size)]
                        recs += [r for part in run.generator.map(_symbolic_chunk, [(p, cfg) for p in parts])
                                 for r in part]
                    elif chunk and teacher is None:
                        recs += _symbolic_chunk(chunk, cfg)
                    elif chunk:
                        with shard_plan(run.generator, plan):
                            recs += teacher.chunk(chunk, grader)
                    for rec in recs:
                        sink.write(run.stamp(rec))
                        kept += rec["status"] == "candidate"
                        total += 1
                    if prog is not None:
                        cost = float(generator_stats(run.generator).get("cost_usd", 0.0))
                        prog.update(task, advance=len(chunk), acc=100 * kept / max(1, total), cost=cost)
        except BudgetExceeded as exc:
            stopped = str(exc)
        backend = generator_stats(run.generator)
        # Finalizing may load the decontamination embedder: the teacher model goes first, so the
        # two are never resident together.
        del teacher
        run.release()
        stats = finalize(run.out, cfg, style, backend=backend, seconds=time.perf_counter() - t0)
    if stopped:
        raise BudgetExceeded(stopped)
    return stats


def _too_long(seed: Any, index: int, cfg: SynthConfig, style: str) -> dict:
    return {"id": unit_id(seed.id, index), "seed_id": seed.id, "seed_question": seed.question[:2000],
            "mode": cfg.mode, "teacher": cfg.teacher, "style": style, "status": "rejected", "stage": "length",
            "reason": f"seed question too long ({len(seed.question):,} characters > max_question_chars "
                      f"{cfg.max_question_chars:,})"}


def _load(cfg: SynthConfig) -> Any:
    from mathsynth.backends.models import load_generator

    return load_generator(cfg.teacher, dtype=cfg.dtype, batch_size=cfg.batch_size, **cfg.backend_kwargs())


def _ray_tasks(cfg: SynthConfig) -> Any:
    from mathsynth.backends.ray_pool import RayTasks

    return RayTasks(address=cfg.ray_address, workers=cfg.workers)


def _prompts(cfg: SynthConfig, style: str) -> tuple:
    """The question prompt, the answer prompt, and whether the question prompt verifies by solving."""
    if cfg.prompt_file:
        qprompt = load_prompt_file(cfg.prompt_file, "question", style)
        verify = cfg.mode in VERIFY_MODES
    else:
        qprompt = get_prompt(f"{cfg.mode}/{style}")
        verify = qprompt.name.split("/")[0] in VERIFY_MODES
    return qprompt, get_prompt(f"answer/{style}"), verify


@dataclass
class _Teacher:
    """An LLM teacher with its prompts: questions for a chunk of units, then M answers each, then
    the filters."""

    cfg: SynthConfig
    style: str
    generator: Any
    qprompt: Any
    aprompt: Any
    verify: bool

    def chunk(self, chunk: list, grader: Any) -> list[dict]:
        return _teacher_chunk(self, chunk, grader)


def _teacher_chunk(t: _Teacher, chunk: list, grader: Any) -> list[dict]:
    cfg, style, generator, verify = t.cfg, t.style, t.generator, t.verify
    qparams = SamplingParams(n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens,
                             seed=cfg.seed)
    reqs = [GenerationRequest(unit_id(s.id, i), qparams, messages=tuple(t.qprompt.render(s.question)))
            for s, i in chunk]
    qcomps = generator.generate(reqs)
    base = [{"id": unit_id(s.id, i), "seed_id": s.id, "seed_question": s.question, "mode": cfg.mode,
             "teacher": cfg.teacher, "style": style} for s, i in chunk]
    parsed = []
    for rec, comps in zip(base, qcomps, strict=True):
        c = comps[0]
        if not c.ok:
            parsed.append(None)
            rec.update(status="failed", stage="question", reason=f"teacher failed: {c.error}", retryable=True)
            continue
        pq = parse_question(c.text, verify)
        rec["raw_question"] = c.text
        if pq.reject:
            parsed.append(None)
            rec.update(status="rejected", stage="question", reason=pq.reject)
        elif len(pq.question) > cfg.max_question_chars:
            parsed.append(None)
            rec.update(status="rejected", stage="length", reason=f"question too long ({len(pq.question):,} "
                                                                f"characters > max_question_chars)")
        else:
            parsed.append(pq.question)
            rec.update(question=pq.question, question_changed_by_verification=pq.changed)
    aparams = SamplingParams(n=cfg.answers, temperature=cfg.temperature, top_p=cfg.top_p,
                             max_tokens=cfg.max_tokens, seed=cfg.seed)
    live = [j for j, q in enumerate(parsed) if q is not None]
    areqs = [GenerationRequest(answer_id(base[j]["id"]), aparams,
                               messages=tuple(t.aprompt.render(parsed[j]))) for j in live]
    acomps = generator.generate(areqs) if areqs else []
    answers_of = {j: [parse_answer(c.text, style) if c.ok else None for c in comps]
                  for j, comps in zip(live, acomps, strict=True)}
    texts_of = {j: [c.text if c.ok else "" for c in comps] for j, comps in zip(live, acomps, strict=True)}
    # Consistency: all pairwise verdicts of the chunk in one grader call (mostly cache/fast paths).
    pairs, where = [], []
    for j, pas in answers_of.items():
        ans = [pa.answer if pa and not pa.reject else None for pa in pas]
        for a, b in cluster_pairs(ans):
            pairs.append((ans[a], ans[b]))
            where.append((j, a, b))
    verdicts = grader.equivalent_many(pairs) if pairs else []
    same: dict[int, dict] = {j: {} for j in answers_of}
    for (j, a, b), v in zip(where, verdicts, strict=True):
        same[j][(a, b)] = v
    for j, pas in answers_of.items():
        rec = base[j]
        failed = [c.error for c in acomps[live.index(j)] if not c.ok]
        if failed:  # a consensus over fewer answers than asked for is not the filter we promise
            rec.update(status="failed", stage="answer", reason=f"teacher failed: {failed[0]}", retryable=True)
            continue
        ans = [pa.answer if pa and not pa.reject else None for pa in pas]
        rec["answer_rejects"] = [None if pa and not pa.reject else (pa.reject if pa else "teacher failed")
                                 for pa in pas]
        # The M answers as written, so a user can see why they agreed or not (the sample browser).
        rec["answers"] = [{"text": t, "answer": a, "reject": r}
                          for t, a, r in zip(texts_of[j], ans, rec["answer_rejects"], strict=True)]
        cons = majority(ans, same[j])
        rec["agreement"] = round(cons.ratio, 4)
        if not cons.members:
            rec.update(status="rejected", stage="answer", reason="no parsable answer")
            continue
        if cons.ratio < cfg.min_agreement:
            rec.update(status="rejected", stage="consistency",
                       reason=f"answers agree {cons.ratio:.2f} < {cfg.min_agreement}")
            continue
        sols = [pa.solution or "" if pa else "" for pa in pas]
        pick, checks = pick_solution(sols, cons.members)
        rec["checks"] = {**checks, "agreement": rec["agreement"], "answers": len(pas)}
        if pick is None:
            rec.update(status="rejected", stage="arithmetic",
                       reason=f"wrong arithmetic step: {checks['first_wrong_step']}")
            continue
        if len(sols[pick]) > cfg.max_solution_chars:
            rec.update(status="rejected", stage="length", reason="solution too long")
            continue
        rec.update(status="candidate", solution=sols[pick], answer=ans[pick])
    return base


def _symbolic_chunk(chunk, cfg) -> list[dict]:
    """The offline generator: correct by construction, still passed through the step checker."""
    from mathsynth.grading import check_steps
    from mathsynth.synth.symbolic import Reject, perturb

    recs = []
    for s, i in chunk:
        rec = {"id": unit_id(s.id, i), "seed_id": s.id, "seed_question": s.question, "mode": "symbolic",
               "teacher": "symbolic", "style": "gsm8k"}
        item = perturb(s, i, seed=cfg.seed)
        if isinstance(item, Reject):
            rec.update(status="rejected", stage="symbolic", reason=item.reason)
        else:
            report = check_steps(item.solution)
            rec["checks"] = {"steps_checked": report.checked, "agreement": 1.0, "answers": 1}
            if not report.ok:
                rec.update(status="rejected", stage="arithmetic",
                           reason=f"wrong arithmetic step: {report.wrong[0].text}")
            else:
                rec.update(status="candidate", question=item.question, solution=item.solution,
                           answer=item.answer, agreement=1.0)
        recs.append(rec)
    return recs
