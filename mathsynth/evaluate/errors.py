"""Error types of sampled answers, and the paper's step-accuracy fit.

The paper splits wrong answers into *calculation* errors (an arithmetic step is wrong) and
*reasoning* errors (every step computes correctly, yet the final answer is wrong), and explains
accuracy on long problems by a per-step accuracy: Acc_final = Acc_step ** s for a problem of s
steps. The arithmetic is judged by the one step checker in :mod:`mathsynth.grading`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mathsynth.contracts import ERROR_KINDS
from mathsynth.grading import first_wrong_span
from mathsynth.stats import step_accuracy_fit


def classify(completion: str | None, verdict: bool, extracted: str | None,
             finish_reason: str | None = None) -> str:
    """One sample's type: correct, truncated (cut off at the token limit), no_answer, calculation (a
    wrong arithmetic step) or reasoning (every step right, the answer wrong).

    A wrong completion that hit the token limit is "truncated" whatever it computed: a cut-off
    ramble says nothing about the model's reasoning, and counting it as a reasoning error would
    inflate that share for models that talk too long.

    >>> classify("6 * 7 = 42. The answer is: 42.", True, "42")
    'correct'
    >>> classify("6 * 7 = 48. The answer is: 48.", False, "48")
    'calculation'
    >>> classify("6 + 7 = 13. The answer is: 13.", False, "13")
    'reasoning'
    >>> classify("I am not sure.", False, None)
    'no_answer'
    >>> classify("First, 6 + 7 = 13, then we add 13 and", False, None, "length")
    'truncated'
    """
    return sample_error(completion, verdict, extracted, finish_reason)[0]


def sample_error(completion: str | None, verdict: bool, extracted: str | None,
                 finish_reason: str | None = None) -> tuple[str, list[int] | None]:
    """A sample's type (as :func:`classify`) and the [start, end] character span of its first wrong
    arithmetic step (None when every step checks out, or when the step does not decide the type).

    >>> sample_error("So 2 + 2 = 5. The answer is: 5.", False, "5")
    ('calculation', [3, 12])
    >>> sample_error("2 + 2 = 5, so 4.", True, "4")
    ('correct', [0, 9])
    """
    span = first_wrong_span(completion or "")
    span = list(span) if span else None
    if verdict:
        return "correct", span
    if finish_reason == "length":
        return "truncated", span
    if finish_reason == "prompt_too_long":  # never generated: nothing to judge but the missing answer
        return "no_answer", None
    if extracted is None:
        return "no_answer", span
    return ("calculation" if span else "reasoning"), span


def record_error_counts(record: Mapping) -> dict[str, int] | None:
    """Counts of each error type over a sample record's N completions (None without completions).

    >>> record_error_counts({"completions": ["2+2=5. The answer is: 5.", "The answer is: 4."],
    ...                      "verdicts": [False, True], "extracted": ["5", "4"]})
    {'correct': 1, 'calculation': 1, 'reasoning': 0, 'truncated': 0, 'no_answer': 0}
    """
    comps = record.get("completions")
    if comps is None:
        return None
    reasons = record.get("finish_reasons") or [None] * len(comps)
    counts = dict.fromkeys(ERROR_KINDS, 0)
    for comp, verdict, extracted, reason in zip(comps, record["verdicts"], record["extracted"], reasons,
                                                strict=False):
        counts[classify(comp, bool(verdict), extracted, reason)] += 1
    return counts


def fit_step_accuracy(per_problem: Sequence[tuple[int, int, int]], metric: str = "pass_ratio@N") -> dict | None:
    """The step law Acc_final = Acc_step ** s fitted by binomial maximum likelihood over
    per-problem ``(steps, correct samples, samples)`` counts, with a bootstrap interval over problems
    (:func:`mathsynth.stats.step_accuracy_fit`). Also returns the observed accuracy per step count
    (``by_steps``) and the fit's RMSE against it, weighted by problems. None when nothing is correct
    (no estimate: shown as "—", never 0) or no problem has a step count.

    >>> pts = [(s, 9 if s == 1 else 8, 10) for s in (1, 2) for _ in range(20)]
    >>> f = fit_step_accuracy(pts)
    >>> round(f["acc_step"], 3), f["method"], f["by_steps"]
    (0.896, 'binomial-mle', {'1': 0.9, '2': 0.8})
    >>> fit_step_accuracy([(2, 0, 4), (3, 0, 4)]) is None
    True
    """
    pts = [(int(s), int(c), int(n)) for s, c, n in per_problem if s is not None and int(s) >= 1 and n]
    fit = step_accuracy_fit([p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts]) if pts else None
    if fit is None:
        return None
    groups: dict[int, list[float]] = {}
    for s, c, n in pts:
        groups.setdefault(s, []).append(c / n)
    obs = {s: sum(v) / len(v) for s, v in sorted(groups.items())}
    a = fit["acc_step"]
    sq = sum(len(groups[s]) * (acc - a ** s) ** 2 for s, acc in obs.items())
    return {**fit, "metric": metric, "rmse": math.sqrt(sq / len(pts)),
            "by_steps": {str(s): round(acc, 6) for s, acc in obs.items()}}
