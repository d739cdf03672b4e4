"""``scale.json``: one point per (student, benchmark) read from the eval folders, paired comparisons
(each student vs the base, real vs synthetic at equal size, a second training seed vs the first) and
scaling fits of each metric against log data size with intervals that resample problems jointly
across sizes; ``result.json``: the pre-registered primary outcome, machine-readable."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mathsynth.contracts import (
    BASE,
    HEADLINE_METRICS,
    METRICS_FILE,
    RESULT_FILE,
    SAMPLES_FILE,
    SCALE_FILE,
    eval_dir,
)
from mathsynth.evaluate.compare import compare_values, problem_values
from mathsynth.io import atomic_write_json
from mathsynth.recipe import StudyConfig
from mathsynth.stats import slope_bootstrap

#: Metrics read from the sampled eval when a study has one (the greedy eval has one answer each).
SAMPLED_METRICS = ("pass_ratio@N", "pass@N", "pass@k", "maj@k")
_GROUP_KEYS = (*HEADLINE_METRICS, "n_problems", "errors", "ci95", "small_cell")


def _metrics(path: Path) -> dict | None:
    f = path / METRICS_FILE
    return json.loads(f.read_text(encoding="utf-8")) if f.exists() else None


def _point(root: Path, label: str, data: str, size: int, seed: int, bench: str, prompt: str | None = None
           ) -> dict[str, Any]:
    main_dir = eval_dir(root, label, bench, prompt)
    m = _metrics(main_dir) or {}
    o = m.get("overall", {})
    point = {"label": label, "data": data, "size": size, "seed": seed, "benchmark": bench, "prompt": prompt,
             "eval_dir": str(main_dir.relative_to(root)),
             **{k: o.get(k) for k in (*HEADLINE_METRICS, "no_answer_rate", "truncated_rate", "pass@k", "maj@k",
                                      "pass@1_source", "n_problems")},
             "ci95": dict(o.get("ci95") or {}), "errors": o.get("errors"), "step_fit": m.get("step_fit")}
    sm = _metrics(eval_dir(root, label, bench, prompt, sampled=True))
    if sm is not None:  # PassRatio@N, Pass@N, pass@k, maj@k, error types and the step fit from the samples
        so = sm["overall"]
        point.update({k: so.get(k) for k in SAMPLED_METRICS})
        point["ci95"].update({k: v for k, v in (so.get("ci95") or {}).items() if k in SAMPLED_METRICS})
        point.update(sampled_problems=so.get("n_problems"), n_samples=so.get("n_samples"),
                     errors=so.get("errors"), step_fit=sm.get("step_fit"))
    for section in ("by_level", "by_steps"):
        point[section] = {g: {k: v.get(k) for k in _GROUP_KEYS} for g, v in (m.get(section) or {}).items()}
    return point


def fit_log_linear(sizes: list[float], values: list[float]) -> dict[str, float | None] | None:
    """Least squares ``value = intercept + slope * log10(size)``, with R² (None when the values are
    all equal: a constant has no R²). No interval: used for derived values (Acc_step) only.

    >>> f = fit_log_linear([100, 1000, 10000], [0.1, 0.2, 0.3])
    >>> round(f["slope"], 6), round(f["intercept"], 6), round(f["r2"], 6)
    (0.1, -0.1, 1.0)
    >>> fit_log_linear([100, 1000], [0.2, 0.2])["r2"] is None
    True
    """
    pts = [(math.log10(s), v) for s, v in zip(sizes, values, strict=True) if s > 0 and v is not None]
    if len({x for x, _ in pts}) < 2:
        return None
    n = len(pts)
    mx, my = sum(x for x, _ in pts) / n, sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for _, y in pts)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in pts)
    return {"slope": slope, "intercept": intercept, "r2": 1.0 - ss_res / ss_tot if ss_tot > 1e-15 else None}


class _Values:
    """Per-problem values of every eval folder, loaded once: greedy Pass@1 from the main eval, the
    sample metrics from the sampled eval when there is one."""

    def __init__(self, root: Path):
        self.root, self._cache = root, {}

    def get(self, label: str, bench: str, prompt: str | None = None) -> dict[str, dict] | None:
        key = (label, bench, prompt)
        if key not in self._cache:
            main = eval_dir(self.root, label, bench, prompt)
            vals = problem_values(main) if (main / SAMPLES_FILE).exists() else None
            sdir = eval_dir(self.root, label, bench, prompt, sampled=True)
            if vals is not None and (sdir / SAMPLES_FILE).exists():
                sv = problem_values(sdir)
                vals = {i: {"pass@1": v["pass@1"], **({k: sv[i][k] for k in ("pass_ratio@N", "pass@N")}
                                                      if i in sv else {})} for i, v in vals.items()}
            self._cache[key] = vals
        return self._cache[key]


def _compare(values: _Values, a: tuple, b: tuple, bench: str, kind: str) -> list[dict]:
    va, vb = values.get(a[0], bench, a[1]), values.get(b[0], bench, b[1])
    if not va or not vb:
        return []
    out = []
    for metric in HEADLINE_METRICS:
        # the sampled eval covers a subset: compare a metric on the problems that have it in both runs
        ids = [i for i in va if metric in va[i] and metric in vb.get(i, {})]
        if ids:
            la = a[0] + (f"~{a[1]}" if a[1] else "")
            lb = b[0] + (f"~{b[1]}" if b[1] else "")
            out += [{**c, "benchmark": bench, "kind": kind}
                    for c in compare_values({i: va[i] for i in ids}, {i: vb[i] for i in ids}, la, lb, (metric,))]
    return out


def _slope_fit(values: _Values, series: list[tuple[int, str]], bench: str, metric: str) -> dict | None:
    vals = [values.get(label, bench) for _, label in series]
    if len(series) < 2 or any(v is None for v in vals):
        return None
    ids = sorted(set.intersection(*[{i for i, x in v.items() if metric in x} for v in vals]))
    if not ids:
        return None
    matrix = np.array([[v[i][metric] for v in vals] for i in ids])
    return {**slope_bootstrap([s for s, _ in series], matrix), "n_problems": len(ids)}


def write_scale_summary(root: Path, cfg: StudyConfig, runs: list) -> dict:
    """Collect every eval of the study into ``root/scale.json`` (and ``result.json`` when the recipe
    names a ``primary_outcome``); ``runs`` are the study's :class:`~mathsynth.scale.study.StudentRun`."""
    base_seed = cfg.train.get("seed")
    values = _Values(root)
    points, comparisons, fits = [], [], {}
    for b in cfg.benchmarks:
        bases = [None] + list(cfg.base_formats)
        points += [_point(root, BASE, BASE, 0, base_seed, b, f) for f in bases]
        for r in runs:
            points.append(_point(root, r.label, r.data, int(r.size or 0), r.seed, b))
            for f in bases:
                comparisons += _compare(values, (BASE, f), (r.label, None), b, "student vs base")
        by_key = {(r.data, r.size, r.seed): r.label for r in runs}
        for r in runs:
            if r.data == "real" and ("synthetic", r.size, base_seed) in by_key:
                comparisons += _compare(values, (by_key[("synthetic", r.size, base_seed)], None), (r.label, None), b,
                                        "real vs synthetic at equal size")
            if r.data == "synthetic" and r.seed != base_seed and ("synthetic", r.size, base_seed) in by_key:
                comparisons += _compare(values, (by_key[("synthetic", r.size, base_seed)], None), (r.label, None), b,
                                        "training seed vs training seed")
        for data in ("synthetic", "real"):
            series = sorted((int(r.size), r.label) for r in runs if r.data == data and r.seed == base_seed and r.size)
            for metric in HEADLINE_METRICS:
                fit = _slope_fit(values, series, b, metric)
                if fit is not None:
                    fits[f"{b}/{data}/{metric}"] = fit
            pts = {p["label"]: p for p in points if p["benchmark"] == b}
            acc = [(pts[lbl].get("step_fit") or {}).get("acc_step") for _, lbl in series]
            fit = fit_log_linear([s for s, _ in series], acc) if series else None
            if fit is not None:
                fits[f"{b}/{data}/acc_step"] = fit
    # N of the sampled eval when the recipe sets one, else of the main eval (as scale.json always had it)
    n_from = cfg.sampled if cfg.sampled is not None and cfg.sampled.model_fields_set else cfg.eval
    summary = {"model": cfg.model, "n": n_from.get("n"), "benchmarks": cfg.benchmarks,
               "sizes": sorted(cfg.sizes or []), "real": cfg.real, "points": points, "fits": fits,
               "comparisons": comparisons, "primary_outcome": cfg.primary_outcome}
    atomic_write_json(root / SCALE_FILE, summary)
    if cfg.primary_outcome:
        atomic_write_json(root / RESULT_FILE, primary_result(summary, cfg, runs))
    return summary


def primary_result(summary: dict, cfg: StudyConfig, runs: list) -> dict:
    """The pre-registered outcome: the slope per doubling of ``bench/data/metric``, in points.

    >>> from mathsynth.recipe import StudyConfig
    >>> s = {"fits": {"b/synthetic/pass@1": {"slope_per_doubling": 0.02, "slope_per_doubling_ci95": [0.01, 0.03],
    ...      "p_value": 0.001, "n_problems": 1000}}}
    >>> primary_result(s, StudyConfig(out="x", primary_outcome="b/synthetic/pass@1", sizes=[1, 2]), [])["estimate"]
    2.0
    """
    key = cfg.primary_outcome
    fit = summary["fits"].get(key)
    out = {"primary_outcome": f"{key}: slope of {key.rsplit('/', 1)[-1]} per doubling of the training data (pp)",
           "estimate": None, "ci95": None, "p_value": None, "test_problems": None,
           "sizes": sorted(cfg.sizes or []), "seeds": sorted({cfg.train.get("seed"),
                                                              *cfg.repeat_seeds})}
    if fit is not None:
        lo, hi = fit["slope_per_doubling_ci95"]
        out.update(estimate=round(100 * fit["slope_per_doubling"], 3), ci95=[round(100 * lo, 3), round(100 * hi, 3)],
                   p_value=fit["p_value"], test_problems=fit["n_problems"])
    return out
