"""Tables of a scaling study (``scale.json``): the points, the log-linear fits, real vs synthetic."""

from __future__ import annotations

import math
from pathlib import Path

from mathsynth.contracts import HEADLINE_METRICS, METRICS_FILE
from mathsynth.report.doc import Cell, Link, Table, pct, pp, rel_href
from mathsynth.report.eval_plots import errors_of, step_fit_ci, step_fit_of
from mathsynth.report.eval_tables import headline_headers
from mathsynth.report.intervals import DASH, PASS1_SOURCES, fmt_p, interval_note, pair, pct_ci, pp_ci, value
from mathsynth.report.load import ScaleStudy, error_kinds, num
from mathsynth.report.plots import error_label, metric_label
from mathsynth.report.scale_plots import _n, benchmarks, kinds, points


def _size(p: dict) -> str:
    s = num(p.get("size"))
    return "base" if p["data"] == "base" else ("-" if s is None else f"{s:g}")


def _eval_link(study: ScaleStudy, p: dict, out_dir: Path) -> Cell:
    """A link to the point's metrics.json when its eval folder is there (it may not be copied along)."""
    rel = p.get("eval_dir")
    if not isinstance(rel, str) or not rel:
        return "-"
    target = (study.path / rel / METRICS_FILE) if study.path else None
    if target is None or not target.is_file():
        return rel
    return Link(rel, rel_href(target, out_dir))


def points_table(study: ScaleStudy, out_dir: Path) -> Table | None:
    """Every point: benchmark, data kind, size, headline metrics, no-answer, Acc_step, error shares.

    >>> s = ScaleStudy(None, "m", {"n": 8, "points": [{"data": "real", "size": 500, "benchmark": "gsm8k",
    ...     "pass@1": 0.25}]})
    >>> points_table(s, Path(".")).rows[0][:4]
    ['gsm8k', 'real', '500', '25.0']
    """
    pts = [p for b in benchmarks(study) for p in points(study, b)]
    if not pts:
        return None
    n = _n(study)
    # Pass@1 is greedy or the first sample per point: one header when all agree, else a column.
    sources = {p.get("pass@1_source") for p in pts if isinstance(p.get("pass@1_source"), str)}
    # Repeated training seeds and base-model prompt formats are separate points: name them when present.
    extra = [k for k in ("seed", "prompt") if len({str(p.get(k)) for p in pts if p.get(k) is not None}) > 1]
    cols = ["benchmark", "data", "size"] + extra + headline_headers(pts, n)
    cols += ["Pass@1 from"] if len(sources) > 1 else []
    errs = [k for k in error_kinds(errors_of(p) for p in pts) if k not in ("correct", "no_answer")]
    cols += ["no answer %", "Acc_step %"] + [f"{error_label(k)} %" for k in errs] + ["eval"]
    rows = []
    for p in pts:
        sf, e = step_fit_of(p), errors_of(p) or {}
        src = p.get("pass@1_source")
        # No fit although step counts are known (nothing correct): "—", never a made-up 0.
        no_fit = isinstance(p.get("step_fit"), dict) or bool(p.get("by_steps")) and "step_fit" in p
        acc = pct_ci(sf[0], step_fit_ci(p)) if sf else (DASH if no_fit else "-")
        rows.append([p["benchmark"], p["data"], _size(p)] + [_s(p.get(k)) for k in extra]
                    + [value(p, m) for m in HEADLINE_METRICS]
                    + ([PASS1_SOURCES.get(src, str(src)) if src else "-"] if len(sources) > 1 else [])
                    + [pct(num(p.get("no_answer_rate"))), acc] + [pct(e.get(k)) for k in errs]
                    + [_eval_link(study, p, out_dir)])
    return Table("Points", cols, rows, note=interval_note(pts, "Size: number of fine-tuning examples; base: the "
                                                           "model before fine-tuning. Shares in %."))


def _s(x: object) -> str:
    return "-" if x is None else str(x)


def _fit_cells(f: dict) -> list[str]:
    """Slope per 10x and per doubling (each with its interval), intercept, R² and p of one fit."""
    slope = num(f.get("slope"))
    ci10 = pair(f.get("slope_ci95"))
    per2 = num(f.get("slope_per_doubling"))
    ci2 = pair(f.get("slope_per_doubling_ci95"))
    # A doubling is log10(2) of a decade: derive what an older file lacks (a linear rescaling, exact).
    if per2 is None and slope is not None:
        per2 = slope * math.log10(2)
    if ci2 is None and ci10 is not None and num(f.get("slope_per_doubling")) is None:
        ci2 = (ci10[0] * math.log10(2), ci10[1] * math.log10(2))
    r2 = num(f.get("r2"))
    r2s = (DASH if "r2" in f and f["r2"] is None else "-") if r2 is None else f"{r2:.3f}"
    return [pp_ci(slope, ci10), pp_ci(per2, ci2), pct(num(f.get("intercept"))), r2s, fmt_p(f.get("p_value"))]


def fits_table(study: ScaleStudy) -> Table | None:
    """The log-linear fits ``metric ~ intercept + slope * log10(size)`` stored in the study, with the
    slope per 10x and per doubling of the data, their 95% intervals, R² and the slope's p-value.

    >>> s = ScaleStudy(None, "m", {"points": [], "fits": {"g/real/pass@1": {"slope": 0.05, "intercept": 0.1,
    ...     "r2": 0.97, "slope_ci95": [0.01, 0.09], "p_value": 0.02}}})
    >>> fits_table(s).rows
    [['g', 'real', 'Pass@1', '+5.0 [+1.0, +9.0]', '+1.5 [+0.3, +2.7]', '10.0', '0.970', '0.020']]
    """
    fits = study.data.get("fits")
    if not isinstance(fits, dict) or not fits:
        return None
    rows = []
    for key in sorted(fits):
        f = fits[key]
        if not isinstance(f, dict):
            continue
        parts = str(key).split("/")
        bench, kind, metric = parts if len(parts) == 3 else (str(key), "-", "-")
        rows.append([bench, kind, metric_label(metric, _n(study))] + _fit_cells(f))
    if not rows:
        return None
    return Table("Log-linear fits", ["benchmark", "data", "metric", "slope pp per 10× data",
                                     "slope pp per doubling", "intercept %", "R²", "p (slope)"], rows,
                 note="metric ≈ intercept + slope · log10(size): the slope is the gain from ten times "
                      "more fine-tuning data (per doubling: times log10 2); [lo, hi]: 95% interval of the "
                      "slope; p: test of slope = 0; —: not defined (the values are constant).")


def comparisons_table(items: list[dict], title: str = "Paired comparisons") -> Table | None:
    """Paired differences between two runs on the same problems (B − A), with interval, p and test;
    for Pass@1 also the problems right only under A and only under B (the flips).

    >>> t = comparisons_table([{"a": "base", "b": "student", "benchmark": "gsm8k", "metric": "pass@1",
    ...     "diff": 0.05, "ci95": [0.01, 0.09], "p_value": 0.01, "test": "mcnemar-exact",
    ...     "n_problems": 200, "a_only": 4, "b_only": 14}])
    >>> t.rows
    [['gsm8k', 'Pass@1', 'base', 'student', '+5.0 [+1.0, +9.0]', '0.010', 'mcnemar-exact', '200', '4', '14']]
    """
    rows = []
    items = [c for c in items if isinstance(c, dict)]
    # What each comparison is for ("vs base", "real vs synthetic", ...), where the producer says.
    has_kind = any(isinstance(c.get("kind"), str) for c in items)
    for c in items:
        k = [c.get("a_only"), c.get("b_only")]
        rows.append(([str(c.get("kind", "-"))] if has_kind else [])
                    + [str(c.get("benchmark", "-")), metric_label(str(c.get("metric", "-"))), str(c.get("a", "-")),
                       str(c.get("b", "-")), pp_ci(num(c.get("diff")), pair(c.get("ci95"))), fmt_p(c.get("p_value")),
                       str(c.get("test", "-")), _count(c.get("n_problems"))] + [_count(x) for x in k])
    if not rows:
        return None
    return Table(title, (["comparison"] if has_kind else []) + [
        "benchmark", "metric", "A", "B", "B − A pp [95% CI]", "p", "test", "problems", "right only under A",
        "right only under B"], rows,
                 note="Paired on the same problems. mcnemar-exact: exact McNemar test on the problems whose "
                      "Pass@1 verdict differs (the two flip counts); paired-bootstrap: problems resampled "
                      "with both runs' values together.")


def _count(x: object) -> str:
    return str(x) if isinstance(x, int) and not isinstance(x, bool) else "-"


def real_vs_synthetic_table(study: ScaleStudy) -> Table | None:
    """Synthetic vs real data at equal sizes (the paper's Table 1 layout), with the difference.

    >>> s = ScaleStudy(None, "m", {"points": [
    ...     {"data": "synthetic", "size": 500, "benchmark": "g", "pass@1": 0.3},
    ...     {"data": "real", "size": 500, "benchmark": "g", "pass@1": 0.2}]})
    >>> real_vs_synthetic_table(s).rows[0][:5]
    ['g', '500', '30.0', '20.0', '+10.0']
    """
    rows = []
    for bench in benchmarks(study):
        pts = points(study, bench)
        if not {"synthetic", "real"} <= set(kinds(pts)):
            continue
        by: dict[tuple[str, float], dict] = {}
        for p in pts:
            by[(p["data"], num(p.get("size")) or 0.0)] = p
        base = next((p for p in pts if p["data"] == "base"), None)
        if base is not None:
            rows.append([bench, "base"] + [x for m in HEADLINE_METRICS for x in (value(base, m), "", "")])
        sizes = sorted({s for k, s in by if k in ("synthetic", "real")})
        for s in sizes:
            syn, real = by.get(("synthetic", s), {}), by.get(("real", s), {})
            row = [bench, f"{s:g}"]
            for m in HEADLINE_METRICS:
                a, b = num(syn.get(m)), num(real.get(m))
                row += [value(syn, m), value(real, m), pp(a - b if a is not None and b is not None else None)]
            rows.append(row)
    if not rows:
        return None
    cols = ["benchmark", "size"]
    for m in HEADLINE_METRICS:
        label = metric_label(m, _n(study))
        cols += [f"{label} synthetic %", f"{label} real %", "Δ pp"]
    return Table("Synthetic vs real data at equal sizes", cols, rows,
                 note=interval_note(points(study), "Δ = synthetic − real, in percentage points (paired "
                                    "tests, where the study ran them, are under Paired comparisons); the "
                                    "base row is the model before fine-tuning."))
