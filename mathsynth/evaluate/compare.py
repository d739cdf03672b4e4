"""Paired comparison of eval runs on the same problems (``mathsynth compare A B``).

Two evaluations of one benchmark share their problems, so the fair question is "how many problems
did B get right that A did not, and vice versa", not "do two independent intervals overlap": most
problems are right (or wrong) under both runs, and a paired test removes that shared part of the
noise. Greedy Pass@1 (one 0/1 outcome per problem) gets McNemar's exact test; PassRatio@N and
Pass@N get a paired bootstrap over problems (:func:`mathsynth.stats.paired_compare`).
"""

from __future__ import annotations

from pathlib import Path

from mathsynth.contracts import SAMPLES_FILE
from mathsynth.errors import MathsynthError
from mathsynth.io import read_jsonl
from mathsynth.stats import paired_compare

#: metric -> whether it is a 0/1 outcome per problem (McNemar) or an average (bootstrap)
COMPARED = {"pass@1": True, "pass_ratio@N": False, "pass@N": True}


def problem_values(run_dir: str | Path) -> dict[str, dict[str, float]]:
    """Per-problem values of an eval run: ``{id: {"pass@1", "pass_ratio@N", "pass@N"}}``.

    ``pass@1`` is the greedy answer's verdict when the run decoded one, else the first sample's
    (the same rule as ``metrics.json``).

    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "samples.jsonl").write_text(json.dumps({"id": "a", "verdicts": [True, False]}) + "\\n")
    >>> problem_values(d)
    {'a': {'pass@1': 1.0, 'pass_ratio@N': 0.5, 'pass@N': 1.0}}
    """
    path = Path(run_dir) / SAMPLES_FILE
    if not path.exists():
        raise MathsynthError(f"{path}: no samples file (is {run_dir} an eval run folder?)")
    out = {}
    for rec in read_jsonl(path, tolerate_truncated_tail=True):
        v = [bool(x) for x in rec.get("verdicts") or []]
        g = rec.get("greedy")
        first = bool(g.get("verdict")) if g else (v[0] if v else False)
        out[str(rec["id"])] = {"pass@1": float(first), "pass_ratio@N": sum(v) / len(v) if v else 0.0,
                               "pass@N": float(any(v))}
    return out


def compare_values(a: dict[str, dict], b: dict[str, dict], a_label: str, b_label: str,
                   metrics: tuple[str, ...] = tuple(COMPARED), seed: int = 0) -> list[dict]:
    """Paired comparisons (b minus a) on the problems both runs hold, one dict per metric.

    >>> a = {str(i): {"pass@1": float(i < 10)} for i in range(100)}
    >>> b = {str(i): {"pass@1": float(i < 30)} for i in range(100)}
    >>> c = compare_values(a, b, "base", "student", ("pass@1",))[0]
    >>> round(c["diff"], 2), c["b_only"], c["a_only"], c["p_value"] < 1e-5, c["test"]
    (0.2, 20, 0, True, 'mcnemar-exact')
    """
    common = sorted(set(a) & set(b))
    if not common:
        raise MathsynthError(f"{a_label} and {b_label} share no problem ids: they cannot be compared")
    out = []
    for metric in metrics:
        if metric not in a[common[0]] or metric not in b[common[0]]:
            continue
        res = paired_compare([a[i][metric] for i in common], [b[i][metric] for i in common],
                             binary=COMPARED.get(metric, False), seed=seed)
        out.append({"a": a_label, "b": b_label, "metric": metric, **res,
                    "only_in_a": len(set(a) - set(b)), "only_in_b": len(set(b) - set(a))})
    return out


def compare_runs(a_dir: str | Path, b_dir: str | Path, a_label: str | None = None,
                 b_label: str | None = None) -> list[dict]:
    """:func:`compare_values` of two eval run folders (labels default to the folder paths)."""
    return compare_values(problem_values(a_dir), problem_values(b_dir), a_label or str(a_dir),
                          b_label or str(b_dir))


def describe(c: dict) -> str:
    """One line for a comparison: the difference in points with its interval and the test.

    >>> describe({"a": "base", "b": "student", "metric": "pass@1", "diff": 0.031, "ci95": [0.01, 0.052],
    ...           "p_value": 0.004, "test": "mcnemar-exact", "n_problems": 1000, "mde": 0.02})
    'student - base, pass@1: +3.1 pp [+1.0, +5.2] (p = 0.004, mcnemar-exact, 1000 problems; significant at 5%; detectable ~2.0 pp)'
    """
    lo, hi = c["ci95"]
    sig = "significant at 5%" if c["p_value"] < 0.05 else "not significant at 5%"
    p = f"p = {c['p_value']:.3g}" if c["p_value"] >= 1e-4 else "p < 1e-4"
    return (f"{c['b']} - {c['a']}, {c['metric']}: {100 * c['diff']:+.1f} pp [{100 * lo:+.1f}, {100 * hi:+.1f}] "
            f"({p}, {c['test']}, {c['n_problems']} problems; {sig}; detectable ~{100 * c['mde']:.1f} pp)")
