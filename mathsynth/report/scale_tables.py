"""Tables of a scaling study (``scale.json``): the points, the log-linear fits, real vs synthetic."""

from __future__ import annotations

from pathlib import Path

from mathsynth.report.doc import Cell, Link, Table, pct, pp, rel_href
from mathsynth.report.eval_plots import errors_of, step_fit_of
from mathsynth.report.load import HEADLINE, ScaleStudy, num
from mathsynth.report.plots import metric_label
from mathsynth.report.scale_plots import _n, benchmarks, kinds, points


def _size(p: dict) -> str:
    s = num(p.get("size"))
    return "base" if p["data"] == "base" else ("-" if s is None else f"{s:g}")


def _eval_link(study: ScaleStudy, p: dict, out_dir: Path) -> Cell:
    """A link to the point's metrics.json when its eval folder is there (it may not be copied along)."""
    rel = p.get("eval_dir")
    if not isinstance(rel, str) or not rel:
        return "-"
    target = (study.path / rel / "metrics.json") if study.path else None
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
    cols = ["benchmark", "data", "size"] + [f"{metric_label(m, n)} %" for m in HEADLINE]
    cols += ["no answer %", "Acc_step %", "calculation err %", "reasoning err %", "eval"]
    rows = []
    for p in pts:
        sf, e = step_fit_of(p), errors_of(p) or {}
        rows.append([p["benchmark"], p["data"], _size(p)] + [pct(num(p.get(m))) for m in HEADLINE]
                    + [pct(num(p.get("no_answer_rate"))), pct(sf[0] if sf else None),
                       pct(e.get("calculation")), pct(e.get("reasoning")), _eval_link(study, p, out_dir)])
    return Table("Points", cols, rows, note="Size: number of fine-tuning examples; base: the model before "
                                            "fine-tuning. Shares in %.")


def fits_table(study: ScaleStudy) -> Table | None:
    """The log-linear fits ``metric ~ intercept + slope * log10(size)`` stored in the study.

    >>> s = ScaleStudy(None, "m", {"points": [], "fits": {"g/real/pass@1": {"slope": 0.05, "intercept": 0.1,
    ...     "r2": 0.97}}})
    >>> fits_table(s).rows
    [['g', 'real', 'Pass@1', '+5.0', '10.0', '0.970']]
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
        r2 = num(f.get("r2"))
        rows.append([bench, kind, metric_label(metric, _n(study)), pp(num(f.get("slope"))),
                     pct(num(f.get("intercept"))), "-" if r2 is None else f"{r2:.3f}"])
    if not rows:
        return None
    return Table("Log-linear fits", ["benchmark", "data", "metric", "slope (pp per 10× data)",
                                     "intercept %", "R²"], rows,
                 note="metric ≈ intercept + slope · log10(size): the slope is the gain from ten times "
                      "more fine-tuning data.")


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
            rows.append([bench, "base"] + [x for m in HEADLINE for x in (pct(num(base.get(m))), "", "")])
        sizes = sorted({s for k, s in by if k in ("synthetic", "real")})
        for s in sizes:
            syn, real = by.get(("synthetic", s), {}), by.get(("real", s), {})
            row = [bench, f"{s:g}"]
            for m in HEADLINE:
                a, b = num(syn.get(m)), num(real.get(m))
                row += [pct(a), pct(b), pp(a - b if a is not None and b is not None else None)]
            rows.append(row)
    if not rows:
        return None
    cols = ["benchmark", "size"]
    for m in HEADLINE:
        label = metric_label(m, _n(study))
        cols += [f"{label} synthetic %", f"{label} real %", "Δ pp"]
    return Table("Synthetic vs real data at equal sizes", cols, rows,
                 note="Δ = synthetic − real, in percentage points; the base row is the model before "
                      "fine-tuning.")
