"""The real-data arm of a study: seed problems with their reference solutions, as training data.

Real and synthetic students are compared at equal size, so both arms must pass the same gates:
the same seed filter (``max_steps``) and the same decontamination against the test sets (word
13-grams, number variants, embeddings). A real training problem that is a near copy of a test
problem would otherwise give the real arm an unfair edge. Output in the stage folder:
``sft.jsonl`` (what the real students train on), ``rejects.jsonl`` (with the matched test id) and
``stats.json``.
"""

from __future__ import annotations

from pathlib import Path

from mathsynth.contracts import REJECTS_FILE, SFT_FILE, STATS_FILE
from mathsynth.io import atomic_write_json, atomic_write_jsonl


def prepare_real(ref: str, out: Path, *, prompt: str, max_steps: int | None = None,
                 decontam_benchmarks: list[str] | None = None, embeddings: bool = True) -> dict:
    """Write ``out``/sft.jsonl from benchmark ``ref``'s reference solutions, filtered and
    decontaminated like the synthetic arm; returns the counts (also in stats.json).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> s = prepare_real("demo:test", d, prompt="vicuna", max_steps=2, decontam_benchmarks=["gsm8k"],
    ...                  embeddings=False)
    >>> s["kept"] + s["rejected_steps"] + s["rejected_contaminated"] == s["problems"], (d / "sft.jsonl").exists()
    (True, True)
    """
    from mathsynth.data import load_benchmark
    from mathsynth.formats import get_format, sft_solution
    from mathsynth.synth.decontam import Decontaminator

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    problems = [p for p in load_benchmark(ref) if p.solution]
    fmt = get_format(prompt)
    easy = [p for p in problems if max_steps is None or 1 <= (p.meta.get("steps") or 0) <= max_steps]
    dc = Decontaminator(benchmarks=decontam_benchmarks, use_embeddings=embeddings)
    matches = dc.check_many([p.question for p in easy]) if easy else []
    rows, rejects = [], []
    for p, m in zip(easy, matches, strict=True):
        if m is not None:
            rejects.append({"id": p.id, "question": p.question, "stage": "decontamination",
                            "reason": f"{m.kind} match with test problem {m.test_id}", "test_id": m.test_id,
                            "score": round(float(m.score), 4)})
        else:
            rows.append({"id": p.id, "messages": fmt.sft_messages(p.question, sft_solution(p.solution, p.answer))})
    atomic_write_jsonl(out / SFT_FILE, rows)
    atomic_write_jsonl(out / REJECTS_FILE, rejects)
    stats = {"source": ref, "problems": len(problems), "rejected_steps": len(problems) - len(easy),
             "rejected_contaminated": len(rejects), "kept": len(rows), "max_steps": max_steps,
             "decontamination": {"benchmarks": dc.benchmarks, "skipped": dc.skipped, "embeddings": embeddings}}
    atomic_write_json(out / STATS_FILE, stats)
    return stats
