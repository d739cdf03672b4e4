"""The samples.jsonl record: one line per problem, built from completions and their grades.

Keys are stable (later stages add keys, never rename): id, benchmark, split, question, gold, meta,
prompt, completions, finish_reasons, errors, completion_tokens, extracted, verdicts, rules, keys, greedy.
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
    rec.update(graded_fields(results))
    rec["greedy"] = greedy_field(*greedy) if greedy else None
    return rec
