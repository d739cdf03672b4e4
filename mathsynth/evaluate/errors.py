"""Error types of sampled answers, and the paper's step-accuracy fit.

The paper splits wrong answers into *calculation* errors (an arithmetic step is wrong) and
*reasoning* errors (every step computes correctly, yet the final answer is wrong), and explains
accuracy on long problems by a per-step accuracy: Acc_final = Acc_step ** s for a problem of s
steps. The arithmetic is judged by the one step checker in :mod:`mathsynth.grading`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mathsynth.grading import check_steps

ERROR_TYPES = ("correct", "calculation", "reasoning", "no_answer")


def classify(completion: str | None, verdict: bool, extracted: str | None) -> str:
    """One sample's type: correct, no_answer, calculation (a wrong arithmetic step) or reasoning.

    >>> classify("6 * 7 = 42. The answer is: 42.", True, "42")
    'correct'
    >>> classify("6 * 7 = 48. The answer is: 48.", False, "48")
    'calculation'
    >>> classify("6 + 7 = 13. The answer is: 13.", False, "13")
    'reasoning'
    >>> classify("I am not sure.", False, None)
    'no_answer'
    """
    if verdict:
        return "correct"
    if extracted is None:
        return "no_answer"
    return "calculation" if not check_steps(completion or "").ok else "reasoning"


def record_error_counts(record: Mapping) -> dict[str, int] | None:
    """Counts of each error type over a sample record's N completions (None without completions).

    >>> record_error_counts({"completions": ["2+2=5. The answer is: 5.", "The answer is: 4."],
    ...                      "verdicts": [False, True], "extracted": ["5", "4"]})
    {'correct': 1, 'calculation': 1, 'reasoning': 0, 'no_answer': 0}
    """
    comps = record.get("completions")
    if comps is None:
        return None
    counts = dict.fromkeys(ERROR_TYPES, 0)
    for comp, verdict, extracted in zip(comps, record["verdicts"], record["extracted"], strict=False):
        counts[classify(comp, bool(verdict), extracted)] += 1
    return counts


def fit_step_accuracy(by_steps: Mapping[str, Mapping], metric: str = "pass_ratio@N") -> dict | None:
    """Least-squares fit of Acc_final(s) = a ** s over step-count groups, weighted by problems.

    Uses PassRatio@N (the mean accuracy of all N samples, the least noisy per-group estimate).
    None when fewer than two numeric step groups exist.

    >>> groups = {str(s): {"pass_ratio@N": 0.9 ** s, "n_problems": 10} for s in (2, 3, 5)}
    >>> round(fit_step_accuracy(groups)["acc_step"], 4)
    0.9
    """
    points = []
    for key, g in by_steps.items():
        try:
            s = int(key)
        except ValueError:
            continue
        if s >= 1 and g.get(metric) is not None:
            points.append((s, float(g[metric]), int(g.get("n_problems", 1))))
    if len(points) < 2:
        return None

    def loss(a: float) -> float:
        return sum(w * (acc - a ** s) ** 2 for s, acc, w in points)

    lo, hi = 0.0, 1.0
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):  # golden-section search: the loss is unimodal in a on [0, 1] for these data
        m1, m2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if loss(m1) <= loss(m2):
            hi = m2
        else:
            lo = m1
    a = (lo + hi) / 2
    total = sum(w for _, _, w in points)
    return {"acc_step": a, "metric": metric, "rmse": math.sqrt(loss(a) / total),
            "by_steps": {str(s): acc for s, acc, _ in sorted(points)}}
