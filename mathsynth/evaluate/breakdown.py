"""Aggregate per-problem sample records into overall and per-level/subject/steps metrics.

Input records are the lines of ``samples.jsonl`` written by the eval stage::

    {"id": str, "meta": {"level": int|None, "subject": str, "steps": int, ...},
     "verdicts": [bool]*N, "extracted": [str|None]*N, "keys": [str|None]*N,
     "greedy": {"verdict": bool, "extracted": str|None, "key": str|None} | null}

All returned rates are floats in [0, 1]. The estimators themselves are in
:mod:`mathsynth.evaluate.metrics`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mathsynth.contracts import ERROR_KINDS
from mathsynth.evaluate.errors import fit_step_accuracy, record_error_counts
from mathsynth.evaluate.metrics import ks_for, maj_at_k, pass_at_k
from mathsynth.stats import BOOTSTRAP_RESAMPLES, bootstrap_means, percentile_interval, wilson

__all__ = ["BREAKDOWNS", "SMALL_CELL", "problem_metrics", "compute_metrics"]

#: A cell with fewer problems than this is flagged ``small_cell``: its interval is wide (at 30
#: problems a 50% accuracy is +-17 points) and it should not be read on its own.
SMALL_CELL = 30
CI_METHOD = {"pass@1": "wilson", "pass@N": "wilson", "pass_ratio@N": "bootstrap", "pass@k": "bootstrap",
             "maj@k": "bootstrap", "bootstrap": {"over": "problems", "resamples": BOOTSTRAP_RESAMPLES, "seed": 0,
                                                 "interval": "percentile"}}

#: Output section -> meta field it groups by. A section appears only when some record has a
#: non-null value for the field; records without one are grouped under ``"unknown"``.
BREAKDOWNS: dict[str, str] = {"by_level": "level", "by_subject": "subject", "by_steps": "steps"}


def problem_metrics(record: Mapping[str, Any], ks: Sequence[int]) -> dict[str, Any]:
    """Per-problem metric values for one sample record (every k in ``ks`` must be <= its N).

    ``keys`` falls back to ``extracted`` when a record has no ``keys`` field (and vice versa).

    >>> rec = {"id": "p1", "verdicts": [True, False, False, True],
    ...        "extracted": ["4", "5", None, "4"], "keys": ["4", "5", None, "4"],
    ...        "greedy": {"verdict": True, "extracted": "4", "key": "4"}}
    >>> m = problem_metrics(rec, [1, 2, 4])
    >>> m["n"], m["c"], round(m["pass@k"]["2"], 6), m["maj@k"]["4"], m["no_answer"], m["greedy"]
    (4, 2, 0.833333, 1.0, 1, 1.0)
    """
    rid = record.get("id", "?")
    verdicts = [bool(v) for v in record["verdicts"]]
    n = len(verdicts)
    if n == 0:
        raise ValueError(f"record {rid!r} has no samples")
    extracted, keys = record.get("extracted"), record.get("keys")
    if extracted is None and keys is None:
        raise ValueError(f"record {rid!r} has neither 'extracted' nor 'keys'")
    extracted = list(keys if extracted is None else extracted)
    keys = extracted if keys is None else list(keys)
    if len(extracted) != n or len(keys) != n:
        raise ValueError(f"record {rid!r}: verdicts, extracted and keys must all have {n} entries")
    c = sum(verdicts)
    greedy = record.get("greedy")
    return {
        "id": rid,
        "n": n,
        "c": c,
        "pass@k": {str(k): pass_at_k(n, c, k) for k in ks},
        "maj@k": {str(k): maj_at_k(keys, verdicts, k) for k in ks},
        "pass@N": float(c > 0),
        "pass_ratio@N": c / n,
        "first": float(verdicts[0]),
        "no_answer": sum(1 for e in extracted if e is None),
        "greedy": None if greedy is None else float(bool(greedy.get("verdict"))),
        "greedy_no_answer": None if greedy is None else float(greedy.get("extracted") is None),
        "truncated": sum(1 for f in record.get("finish_reasons") or [] if f == "length"),
        "greedy_truncated": None if greedy is None else float(greedy.get("finish_reason") == "length"),
        "errors": record_error_counts(record),
    }


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return math.fsum(values) / len(values)


def _aggregate(per: list[dict[str, Any]], ks: Sequence[int], use_greedy: bool) -> dict[str, Any]:
    ns = [p["n"] for p in per]
    out: dict[str, Any] = {
        "n_problems": len(per),
        "n_samples": ns[0] if min(ns) == max(ns) else {"min": min(ns), "max": max(ns)},
        "pass@1": _mean(p["greedy" if use_greedy else "first"] for p in per),
        "pass@1_source": "greedy" if use_greedy else "first_sample",
        "pass@k": {str(k): _mean(p["pass@k"][str(k)] for p in per) for k in ks},
        "pass@N": _mean(p["pass@N"] for p in per),
        "pass_ratio@N": _mean(p["pass_ratio@N"] for p in per),
        "maj@k": {str(k): _mean(p["maj@k"][str(k)] for p in per) for k in ks},
        "no_answer_rate": sum(p["no_answer"] for p in per) / sum(ns),
    }
    out["truncated_rate"] = sum(p["truncated"] for p in per) / sum(ns)
    if use_greedy:
        out["greedy_no_answer_rate"] = _mean(p["greedy_no_answer"] for p in per)
        out["greedy_truncated_rate"] = _mean(p["greedy_truncated"] for p in per)
    out["ci95"] = _intervals(per, ks, use_greedy)
    out["ci_method"] = CI_METHOD
    out["small_cell"] = len(per) < SMALL_CELL
    if all(p.get("errors") is not None for p in per):
        # Shares of all samples: calculation / reasoning errors, no answer, correct (they sum to 1).
        out["errors"] = {t: sum(p["errors"][t] for p in per) / sum(ns) for t in ERROR_KINDS}
    return out


def _intervals(per: list[dict[str, Any]], ks: Sequence[int], use_greedy: bool) -> dict[str, Any]:
    """95% intervals: Wilson for the 0/1 per-problem metrics, a seeded bootstrap over problems for
    the sample averages (one set of resamples for all of them)."""
    n = len(per)
    first = int(round(sum(p["greedy" if use_greedy else "first"] for p in per)))
    cols = [[p["pass_ratio@N"] for p in per]]
    cols += [[p["pass@k"][str(k)] for p in per] for k in ks]
    cols += [[p["maj@k"][str(k)] for p in per] for k in ks]
    dist = bootstrap_means(np.array(cols).T)
    ci = [list(percentile_interval(dist[:, j])) for j in range(dist.shape[1])]
    m = len(ks)
    return {"pass@1": list(wilson(first, n)), "pass@N": list(wilson(int(sum(p["pass@N"] for p in per)), n)),
            "pass_ratio@N": ci[0], "pass@k": {str(k): ci[1 + i] for i, k in enumerate(ks)},
            "maj@k": {str(k): ci[1 + m + i] for i, k in enumerate(ks)}}


def _group_order(name: str) -> tuple[int, float, str]:
    """Numeric group names first (numerically), then text, then "unknown"."""
    if name == "unknown":
        return (2, 0.0, name)
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def compute_metrics(records: Iterable[Mapping[str, Any]], ks: Sequence[int] | None = None) -> dict[str, Any]:
    """Overall and per-level/subject/steps metrics for a set of sample records.

    ``ks`` defaults to :func:`ks_for` of the smallest N among the records; explicit ks larger than
    that N are dropped so every reported mean covers the same problems. ``pass@1`` is the greedy
    accuracy when every record has a ``greedy`` entry, else the first sample's accuracy (the
    unbiased sampled estimate is ``pass@k["1"]``). ``n_samples`` is N, or ``{"min", "max"}``
    when records differ. ``no_answer_rate`` is the share of all samples with no extracted answer.

    >>> recs = [
    ...     {"id": "a", "meta": {"level": 1}, "verdicts": [True, True],
    ...      "extracted": ["1", "1"], "keys": ["1", "1"]},
    ...     {"id": "b", "meta": {"level": 5}, "verdicts": [False, True],
    ...      "extracted": [None, "2"], "keys": [None, "2"]},
    ... ]
    >>> m = compute_metrics(recs)
    >>> m["overall"]["pass@k"], m["overall"]["maj@k"], m["overall"]["pass@1_source"]
    ({'1': 0.75, '2': 1.0}, {'1': 0.75, '2': 1.0}, 'first_sample')
    >>> sorted(m), m["by_level"]["5"]["no_answer_rate"]
    (['by_level', 'overall'], 0.5)
    >>> compute_metrics([])
    Traceback (most recent call last):
    ...
    ValueError: compute_metrics: no sample records given (is samples.jsonl empty?)
    """
    records = list(records)
    if not records:
        raise ValueError("compute_metrics: no sample records given (is samples.jsonl empty?)")
    min_n = min(len(r["verdicts"]) for r in records)
    if min_n == 0:
        raise ValueError("compute_metrics: a record has no samples (empty 'verdicts')")
    if ks is None:
        ks = ks_for(min_n)
    else:
        if any(k < 1 for k in ks):
            raise ValueError(f"compute_metrics: every k must be >= 1, got {list(ks)}")
        ks = sorted({int(k) for k in ks if k <= min_n})
    per = [problem_metrics(r, ks) for r in records]
    use_greedy = all(r.get("greedy") is not None for r in records)
    result: dict[str, Any] = {"overall": _aggregate(per, ks, use_greedy)}
    metas = [r.get("meta") or {} for r in records]
    for section, field in BREAKDOWNS.items():
        if all(meta.get(field) is None for meta in metas):
            continue
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for meta, p in zip(metas, per, strict=True):
            value = meta.get(field)
            groups["unknown" if value is None else str(value)].append(p)
        result[section] = {g: _aggregate(groups[g], ks, use_greedy) for g in sorted(groups, key=_group_order)}
    if "by_steps" in result:
        result["step_fit"] = fit_step_accuracy([(meta.get("steps"), p["c"], p["n"])
                                                for meta, p in zip(metas, per, strict=True)])
    return result
