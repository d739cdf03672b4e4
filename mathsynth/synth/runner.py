"""The synthesis stage: seed -> new question (teacher, verified) -> M answers -> filters, then
dedup and decontamination; outputs questions.jsonl, rejects.jsonl, sft.jsonl, stats.json.

Work is keyed by (seed id, index) with deterministic ids ``syn/<seed id>/<index>``. Every unit's
outcome (candidate or reject) is appended and flushed to DIR/generated.jsonl as soon as it is known,
so a rerun skips finished units (a truncated last line from a crash is cut); paid teacher calls are
also in the response cache. The final files are rebuilt from generated.jsonl atomically at the end.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mathsynth.backends.base import BudgetExceeded, GenerationRequest, SamplingParams, generator_stats
from mathsynth.config import SynthConfig
from mathsynth.contracts import CONFIG_FILE, GENERATED_FILE
from mathsynth.errors import MathsynthError
from mathsynth.io import (
    JsonlAppender,
    atomic_write_json,
    locked_out,
    read_json,
    read_jsonl,
    refuse_mixed_settings,
    run_manifest,
    settings_key,
)
from mathsynth.progress import progress_bar
from mathsynth.synth.filters import cluster_pairs, majority, pick_solution
from mathsynth.synth.finalize import finalize
from mathsynth.synth.parse import parse_answer, parse_question
from mathsynth.synth.prompts import VERIFY_MODES, get_prompt, load_prompt_file

# Settings that shape each generated unit: a rerun into the same folder must match them (limit and
# per_seed only add units; dedup and decontamination are redone over all units at the end).
GENERATION_KEYS = ("seeds", "split", "teacher", "mode", "style", "prompt_file", "answers", "temperature",
                   "top_p", "max_tokens", "min_agreement", "max_solution_chars", "seed_max_steps", "seed")


def unit_id(seed_id: str, index: int) -> str:
    """The deterministic id of the ``index``-th new problem made from a seed.

    >>> unit_id("gsm8k/train/7", 2)
    'syn/gsm8k/train/7/2'
    """
    return f"syn/{seed_id}/{index}"


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
    ...               decontam_embeddings=False), show_progress=False)  # doctest: +SKIP
    """
    from mathsynth.data import load_benchmark, resolve
    from mathsynth.grading import Grader

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    # Seeds come from the split the reference or --split names, else the training split (demo: its only one).
    ref = resolve(cfg.seeds, cfg.split or None)
    seeds = load_benchmark(ref, limit=None if cfg.seed_max_steps else cfg.limit)
    if cfg.seed_max_steps:  # easy seeds only (GSM8K: calculator annotations); the limit counts kept seeds
        seeds = [s for s in seeds if 1 <= (s.meta.get("steps") or 0) <= cfg.seed_max_steps][:cfg.limit]
    if not seeds:
        raise MathsynthError(f"seeds {cfg.seeds!r} (split {cfg.split!r}) hold no problems")
    style = _style(cfg, seeds)
    units = [(s, i) for s in seeds for i in range(cfg.per_seed)]
    gen_path = out / GENERATED_FILE
    done = set()
    settings = {k: getattr(cfg, k) for k in GENERATION_KEYS}
    key = settings_key(settings)
    if gen_path.exists():
        old_recs = list(read_jsonl(gen_path, tolerate_truncated_tail=True))
        old = read_json(out / CONFIG_FILE, {}).get("config") if (out / CONFIG_FILE).exists() else None
        refuse_mixed_settings(out, "synthesized units", {r.get("settings_key") for r in old_recs}, settings, old)
        done = {r["id"] for r in old_recs}
    todo = [(s, i) for s, i in units if unit_id(s.id, i) not in done]
    symbolic = cfg.teacher == "symbolic"
    owns = generator is None
    if owns and todo and not symbolic:
        from mathsynth.backends.models import load_generator

        generator = load_generator(cfg.teacher, dtype=cfg.dtype, batch_size=cfg.batch_size,
                                   **cfg.backend_kwargs())
    manifest = run_manifest("synth", cfg.model_dump())
    if generator is not None:
        manifest["backend"] = generator.describe()
    atomic_write_json(out / CONFIG_FILE, manifest)
    if cfg.prompt_file:
        qprompt = load_prompt_file(cfg.prompt_file, "question", style)
        verify = cfg.mode in VERIFY_MODES
    else:
        qprompt = get_prompt(f"{cfg.mode}/{style}")
        verify = qprompt.name.split("/")[0] in VERIFY_MODES
    aprompt = get_prompt(f"answer/{style}")
    t0 = time.perf_counter()
    stopped = None
    try:
        with Grader(workers=None) as grader, JsonlAppender(gen_path) as sink, \
                progress_bar(console, show_progress, "accepted {task.fields[acc]:.0f}%",
                             "${task.fields[cost]:.2f}") as prog:
            task = prog.add_task("synth", total=len(todo), acc=0.0, cost=0.0) if prog else None
            kept = total = 0
            for k in range(0, len(todo), cfg.batch_size):
                chunk = todo[k:k + cfg.batch_size]
                if symbolic:
                    recs = _symbolic_chunk(chunk, cfg)
                else:
                    recs = _teacher_chunk(chunk, cfg, style, generator, grader, qprompt, aprompt, verify)
                for rec in recs:
                    rec["settings_key"] = key
                    sink.write(rec)
                    kept += rec["status"] == "candidate"
                    total += 1
                if prog is not None:
                    cost = float(generator_stats(generator).get("cost_usd", 0.0))
                    prog.update(task, advance=len(chunk), acc=100 * kept / max(1, total), cost=cost)
    except BudgetExceeded as exc:
        stopped = str(exc)
    finally:
        if owns and generator is not None:
            generator.close()
    stats = finalize(out, cfg, style, backend=generator_stats(generator),
                     seconds=time.perf_counter() - t0)
    if stopped:
        raise BudgetExceeded(stopped)
    return stats


def _teacher_chunk(chunk, cfg, style, generator, grader, qprompt, aprompt, verify) -> list[dict]:
    """Questions for a chunk of units, then M answers each, then the filters."""
    qparams = SamplingParams(n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens,
                             seed=cfg.seed)
    reqs = [GenerationRequest(unit_id(s.id, i), qparams, messages=tuple(qprompt.render(s.question)))
            for s, i in chunk]
    qcomps = generator.generate(reqs)
    base = [{"id": unit_id(s.id, i), "seed_id": s.id, "seed_question": s.question, "mode": cfg.mode,
             "teacher": cfg.teacher, "style": style} for s, i in chunk]
    parsed = []
    for rec, comps in zip(base, qcomps, strict=True):
        c = comps[0]
        if not c.ok:
            parsed.append(None)
            rec.update(status="rejected", stage="question", reason=f"teacher failed: {c.error}")
            continue
        pq = parse_question(c.text, verify)
        rec["raw_question"] = c.text
        if pq.reject:
            parsed.append(None)
            rec.update(status="rejected", stage="question", reason=pq.reject)
        else:
            parsed.append(pq.question)
            rec.update(question=pq.question, question_changed_by_verification=pq.changed)
    aparams = SamplingParams(n=cfg.answers, temperature=cfg.temperature, top_p=cfg.top_p,
                             max_tokens=cfg.max_tokens, seed=cfg.seed)
    live = [j for j, q in enumerate(parsed) if q is not None]
    areqs = [GenerationRequest(base[j]["id"] + "/answer", aparams,
                               messages=tuple(aprompt.render(parsed[j]))) for j in live]
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
