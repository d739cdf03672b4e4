"""``mathsynth grade DIR``: re-grade an existing samples file without regenerating anything.

Useful after the grader improves or with other extraction rules. The new samples file replaces the
old one atomically, so an interrupted re-grade leaves the original intact.
"""

from __future__ import annotations

import json
from pathlib import Path

from mathsynth.contracts import CONFIG_FILE, SAMPLES_FILE
from mathsynth.errors import InputError, MathsynthError
from mathsynth.evaluate.records import REQUIRED_KEYS, error_fields, graded_fields
from mathsynth.evaluate.runner import finish_metrics
from mathsynth.grading import truncated_flags
from mathsynth.io import atomic_write_jsonl, read_jsonl


def regrade(run_dir: str | Path, *, rules: list[str] | None = None, workers: int | None = None,
            timeout: float = 5.0, truncated_fallback: bool | None = None) -> dict:
    """Re-extract and re-grade every completion in ``run_dir``/samples.jsonl; return new metrics.

    ``rules`` and ``truncated_fallback`` default to the run's own settings (config.json).

    >>> import tempfile
    >>> from mathsynth.config import EvalConfig
    >>> from mathsynth.evaluate.runner import run_eval
    >>> out = tempfile.mkdtemp()
    >>> _ = run_eval(EvalConfig(model="fake", benchmark="demo", limit=4, n=2, out=out, cache=False),
    ...              show_progress=False)
    >>> regrade(out, rules=["last_number"])["overall"]["n_problems"]
    4
    """
    from mathsynth.grading import Grader

    run_dir = Path(run_dir)
    samples = run_dir / SAMPLES_FILE
    if not samples.exists():
        raise MathsynthError(f"{samples}: no samples file to grade (run `mathsynth eval --out {run_dir}` first)")
    records = list(read_jsonl(samples, tolerate_truncated_tail=True))
    for lineno, rec in enumerate(records, start=1):
        for key in REQUIRED_KEYS:
            if key not in rec:
                raise InputError("is missing", path=str(samples), line=lineno, field=key)
    config: dict = {}
    if (run_dir / CONFIG_FILE).exists():
        config = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8")).get("config", {})
    rules = rules if rules is not None else config.get("rules")
    fallback = truncated_fallback if truncated_fallback is not None else bool(config.get("truncated_fallback"))
    with Grader(workers=workers, timeout=timeout) as grader:
        for rec in records:
            items = [(rec["gold"], t) for t in rec["completions"]]
            reasons = list(rec.get("finish_reasons") or [None] * len(items))
            g = rec.get("greedy")
            if g:
                items.append((rec["gold"], g["completion"]))
                reasons.append(g.get("finish_reason"))
            res = grader.grade_many(items, benchmark=rec.get("benchmark"), rules=rules,
                                    truncated=truncated_flags(reasons, fallback))
            n = len(rec["completions"])
            rec.update(graded_fields(res[:n]))
            if g:
                r = res[n]
                g.update(extracted=r.extracted, verdict=bool(r.correct), rule=r.rule, key=r.key)
            error_fields(rec)
    atomic_write_jsonl(samples, records)
    return finish_metrics(run_dir, records, config)
