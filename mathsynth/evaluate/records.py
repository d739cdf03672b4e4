"""The samples.jsonl record: one line per problem, built from completions and their grades.

Keys are stable (later stages add keys, never rename): id, benchmark, split, question, gold, meta,
prompt, completions, finish_reasons, errors, completion_tokens, extracted, verdicts, rules, keys, greedy,
solution (the reference solution, when the benchmark has one), error_types and first_wrong_step (per
sample: the error type and the [start, end] span of the first wrong arithmetic step, or null; the
greedy sub-record has error_type and first_wrong_step).
A sample whose request failed for good has finish reason "error", its reason in ``errors`` and an
empty completion (graded wrong); a rerun retries exactly those (see :func:`has_failures`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

REQUIRED_KEYS = ("id", "gold", "completions", "verdicts", "extracted", "keys")


def graded_fields(results: Sequence[Any]) -> dict[str, list]:
    """Per-sample grading fields from a list of GradeResult-like objects.

    >>> from types import SimpleNamespace as R
    >>> graded_fields([R(correct=True, extracted="2", rule="answer_is", key="2")])["verdicts"]
    [True]
    """
    return {"extracted": [r.extracted for r in results], "verdicts": [bool(r.correct) for r in results],
            "rules": [r.rule for r in results], "keys": [r.key for r in results]}


def greedy_field(completion: Any, result: Any) -> dict[str, Any]:
    """The ``greedy`` sub-record for the first (greedy) answer."""
    return {"completion": completion.text, "finish_reason": completion.finish_reason,
            "completion_tokens": completion.completion_tokens, "extracted": result.extracted,
            "verdict": bool(result.correct), "rule": result.rule, "key": result.key}


def error_fields(rec: dict) -> None:
    """Add (or refresh, after a regrade) each sample's error type and first wrong step, and the
    greedy answer's, from its text, verdict, extracted answer and finish reason.

    >>> r = {"completions": ["1 + 1 = 3. The answer is: 3."], "verdicts": [False], "extracted": ["3"],
    ...      "finish_reasons": ["stop"], "greedy": None}
    >>> error_fields(r); r["error_types"], r["first_wrong_step"]
    (['calculation'], [[0, 9]])
    """
    from mathsynth.evaluate.errors import sample_error

    comps = rec["completions"]
    reasons = rec.get("finish_reasons") or [None] * len(comps)
    got = [sample_error(c, bool(v), x, f)
           for c, v, x, f in zip(comps, rec["verdicts"], rec["extracted"], reasons, strict=True)]
    rec["error_types"], rec["first_wrong_step"] = [k for k, _ in got], [s for _, s in got]
    g = rec.get("greedy")
    if g:
        g["error_type"], g["first_wrong_step"] = sample_error(g["completion"], bool(g["verdict"]),
                                                              g["extracted"], g.get("finish_reason"))


def has_failures(record: dict) -> bool:
    """Whether any sample of a record (or its greedy answer) failed to generate.

    >>> has_failures({"finish_reasons": ["stop", "error"]}), has_failures({"finish_reasons": ["stop"]})
    (True, False)
    """
    g = record.get("greedy") or {}
    return "error" in (record.get("finish_reasons") or []) or g.get("finish_reason") == "error"


def build_record(problem: Any, prompt: dict, completions: Sequence[Any], results: Sequence[Any],
                 greedy: tuple[Any, Any] | None) -> dict[str, Any]:
    """Assemble one samples.jsonl record for a problem."""
    rec = {
        "id": problem.id,
        "benchmark": problem.meta.get("benchmark"),
        "split": problem.meta.get("split"),
        "question": problem.question,
        "gold": problem.answer,
        "meta": problem.meta,
        "prompt": prompt.get("messages", prompt.get("prompt")),
        "completions": [c.text for c in completions],
        "finish_reasons": [c.finish_reason for c in completions],
        "errors": [c.error for c in completions],
        "completion_tokens": [c.completion_tokens for c in completions],
        "prompt_tokens": completions[0].prompt_tokens if completions else 0,
    }
    if getattr(problem, "solution", None):
        rec["solution"] = problem.solution
    rec.update(graded_fields(results))
    rec["greedy"] = greedy_field(*greedy) if greedy else None
    error_fields(rec)
    return rec
