"""Grading: the one place that decides whether a model's answer is correct.

* :func:`extract_answer` / :func:`extract_with_rule` read the final answer out of a response with
  named rules (``answer_is``, ``gsm8k_hash``, ``boxed``, ``last_number``) in a per-benchmark order.
* :func:`is_equivalent` judges a final answer against the reference: exact fast paths first, then
  math-verify in a worker process with a hard wall-clock bound.
* :func:`grade` does both for one response; :class:`Grader` does it for many, with caches and a
  pool of worker processes.
* :func:`answer_key` groups obviously-equal answers (majority voting, error analysis).

Model output is never passed to ``eval``/``exec``; every parse runs under a time bound.

>>> from mathsynth.grading import grade
>>> grade("18", "Janet makes 9 * 2 = 18 dollars.\\n#### 18", benchmark="gsm8k")
GradeResult(correct=True, extracted='18', rule='gsm8k_hash', key='18')
"""

from mathsynth.grading.equivalence import answer_key
from mathsynth.grading.extract import (
    BENCHMARK_RULES,
    DEFAULT_RULES,
    RULES,
    extract_answer,
    extract_with_rule,
    rules_for,
)
from mathsynth.grading.grader import Grader, GradeResult, grade, is_equivalent, truncated_flags
from mathsynth.grading.steps import Step, StepReport, check_steps, find_steps, first_wrong_span

__all__ = [
    "BENCHMARK_RULES",
    "DEFAULT_RULES",
    "RULES",
    "GradeResult",
    "Grader",
    "Step",
    "StepReport",
    "answer_key",
    "check_steps",
    "extract_answer",
    "extract_with_rule",
    "find_steps",
    "first_wrong_span",
    "grade",
    "is_equivalent",
    "rules_for",
    "truncated_flags",
]
