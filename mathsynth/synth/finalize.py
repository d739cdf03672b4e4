"""The last step of synthesis: dedup and decontaminate the candidates in DIR/generated.jsonl and
write questions.jsonl, rejects.jsonl, sft.jsonl and stats.json (each atomically; rerunnable)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from mathsynth.contracts import (
    GENERATED_FILE,
    QUESTIONS_FILE,
    REJECT_STAGES,
    REJECTS_FILE,
    SFT_FILE,
    STATS_FILE,
)
from mathsynth.formats import get_format, sft_solution
from mathsynth.io import atomic_write_json, atomic_write_jsonl, read_jsonl

QUESTION_KEYS = ("id", "seed_id", "question", "solution", "answer", "mode", "teacher", "agreement", "checks")


def finalize(out: Path, cfg: Any, style: str, *, backend: dict | None = None, seconds: float = 0.0) -> dict:
    """Build the final files from every unit recorded so far; returns the stats.

    Candidates are deduplicated (exact, then MinHash near-duplicates, in id order so the result
    does not depend on the order units finished) and checked against every benchmark's test split
    (word n-gram overlap, then embedding similarity).
    """
    from mathsynth.synth.decontam import Decontaminator
    from mathsynth.synth.dedup import Deduper

    records: dict[str, dict] = {}
    for rec in read_jsonl(out / GENERATED_FILE, tolerate_truncated_tail=True):
        records[rec["id"]] = rec  # a unit recorded twice (crash between write and flush) counts once
    # Units whose teacher request failed have no verdict yet: the next run redoes them.
    failed = [records[k] for k in sorted(records) if records[k]["status"] == "failed"]
    ordered = [records[k] for k in sorted(records) if records[k]["status"] != "failed"]
    cands = [r for r in ordered if r["status"] == "candidate"]
    rejects = [{**_slim(r), "stage": r.get("stage"), "reason": r.get("reason")}
               for r in ordered if r["status"] != "candidate"]
    stage_counts = Counter(r.get("stage") for r in ordered if r["status"] != "candidate")

    dups = Deduper(threshold=cfg.dedup_threshold,
                   keep_number_variants=cfg.dedup_keep_number_variants).add_many([r["id"] for r in cands],
                                                          [r["question"] for r in cands])
    kept = []
    for r, dup in zip(cands, dups, strict=True):
        if dup:
            kind, _, other = dup.partition(":")
            rejects.append({**_slim(r), "stage": "dedup", "reason": f"{kind} duplicate of {other}",
                            "duplicate_of": other})
            stage_counts["dedup"] += 1
        else:
            kept.append(r)
    decontam = Decontaminator(benchmarks=cfg.decontam_benchmarks, ngram=cfg.decontam_ngram,
                              embed_threshold=cfg.decontam_embed_threshold,
                              use_embeddings=cfg.decontam_embeddings)
    matches = decontam.check_many([r["question"] for r in kept]) if kept else []
    accepted = []
    for r, m in zip(kept, matches, strict=True):
        if m is not None:
            rejects.append({**_slim(r), "stage": "decontamination",
                            "reason": f"{m.kind} match with test problem {m.test_id}",
                            "test_id": m.test_id, "score": round(float(m.score), 4)})
            stage_counts["decontamination"] += 1
        else:
            accepted.append(r)

    fmt = get_format(cfg.eval_prompt)
    questions = [{k: r.get(k) for k in QUESTION_KEYS} for r in accepted]
    sft = [{"id": r["id"], "messages": fmt.sft_messages(r["question"], sft_solution(r["solution"], r["answer"]))}
           for r in accepted]
    atomic_write_jsonl(out / QUESTIONS_FILE, questions)
    atomic_write_jsonl(out / REJECTS_FILE, rejects)
    atomic_write_jsonl(out / SFT_FILE, sft)

    # Acceptance per filter: of the items that reached it, the share that passed.
    reached, by_filter = len(ordered), {}
    for stage in REJECT_STAGES:
        n_rej = stage_counts.get(stage, 0)
        if n_rej or stage in ("dedup", "decontamination"):
            by_filter[stage] = {"reached": reached, "rejected": n_rej,
                                "acceptance": round(1 - n_rej / reached, 4) if reached else None}
        reached -= n_rej
    stats = {"units": len(ordered), "accepted": len(accepted), "rejected": len(rejects),
             "acceptance_rate": round(len(accepted) / len(ordered), 4) if ordered else None,
             "failed": len(failed), "failed_ids": [r["id"] for r in failed][:20],
             "rejects_by_stage": dict(stage_counts), "filters": by_filter, "style": style,
             "decontamination": {"benchmarks": decontam.benchmarks, "skipped": getattr(decontam, "skipped", []),
                                 "embeddings": cfg.decontam_embeddings},
             "backend": backend or {}, "seconds_this_run": round(seconds, 2)}
    atomic_write_json(out / STATS_FILE, stats)
    return stats


def _slim(r: dict) -> dict:
    return {k: r.get(k) for k in ("id", "seed_id", "question", "answer", "mode", "teacher") if r.get(k) is not None}
