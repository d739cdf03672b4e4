"""Plots of a scaling study (``scale.json``): metrics against fine-tuning data size, per benchmark.

Synthetic and real data are separate series (the paper's real-vs-synthetic comparison); the base
model, which saw no fine-tuning data, is a horizontal dashed line. Each function returns the PNG
path, or None when the study has no data for that plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps

from mathsynth.contracts import HEADLINE_METRICS
from mathsynth.report.eval_plots import _stacked, errors_of, step_fit_ci, step_fit_of
from mathsynth.report.intervals import ci_of
from mathsynth.report.load import ScaleStudy, error_kinds, group_key, num
from mathsynth.report.plots import (
    data_color,
    headline_axes,
    legend_from,
    log_ticks,
    metric_label,
    new_figure,
    percent_axis,
    save,
    yerr,
)

GROUP_AXIS = {"by_level": "MATH level", "by_steps": "GSM8K steps"}


def points(study: ScaleStudy, benchmark: str | None = None) -> list[dict]:
    """The study's points (optionally of one benchmark), base first, then by data kind and size.

    >>> s = ScaleStudy(None, "m", {"points": [{"data": "real", "size": 2, "benchmark": "b"},
    ...     {"data": "base", "size": 0, "benchmark": "b"}, {"data": "real", "size": 1, "benchmark": "b"}]})
    >>> [(p["data"], p["size"]) for p in points(s, "b")]
    [('base', 0), ('real', 1), ('real', 2)]
    """
    pts = [p for p in study.data["points"] if benchmark is None or p["benchmark"] == benchmark]
    rank = {"base": 0, "synthetic": 1, "real": 2}
    return sorted(pts, key=lambda p: (rank.get(p["data"], 3), p["data"], num(p.get("size")) or 0))


def kinds(pts: list[dict]) -> list[str]:
    """Fine-tuning data kinds present (base excluded): synthetic and real first, others after.

    >>> kinds([{"data": "real"}, {"data": "base"}, {"data": "mix"}, {"data": "synthetic"}])
    ['synthetic', 'real', 'mix']
    """
    found = {p["data"] for p in pts if p["data"] != "base"}
    order = [k for k in ("synthetic", "real") if k in found]
    return order + sorted(found - set(order))


def benchmarks(study: ScaleStudy) -> list[str]:
    """Benchmarks in the study: the declared order, then any only seen in points.

    >>> benchmarks(ScaleStudy(None, "m", {"benchmarks": ["b"], "points": [{"benchmark": "a"}]}))
    ['b', 'a']
    """
    declared = study.data.get("benchmarks")
    out = [b for b in declared if isinstance(b, str)] if isinstance(declared, list) else []
    out += sorted({p["benchmark"] for p in study.data["points"]} - set(out))
    return out


def fit_of(study: ScaleStudy, benchmark: str, kind: str, metric: str) -> tuple[float, float, float | None] | None:
    """(slope, intercept, r2) of ``metric ~ intercept + slope * log10(size)``, or None if not fitted.

    >>> s = ScaleStudy(None, "m", {"fits": {"g/real/pass@1": {"slope": 0.1, "intercept": 0.2, "r2": 0.9}}})
    >>> fit_of(s, "g", "real", "pass@1"), fit_of(s, "g", "synthetic", "pass@1")
    ((0.1, 0.2, 0.9), None)
    """
    fits = study.data.get("fits")
    f = fits.get(f"{benchmark}/{kind}/{metric}") if isinstance(fits, dict) else None
    if not isinstance(f, dict) or num(f.get("slope")) is None or num(f.get("intercept")) is None:
        return None
    return num(f["slope"]), num(f["intercept"]), num(f.get("r2"))


def _series(pts: list[dict], kind: str, value, ci=None) -> list[tuple[float, float, tuple | None]]:
    """(size, value, 95% interval or None) of the points of one data kind, by size."""
    out = []
    for p in pts:
        size, y = num(p.get("size")), value(p)
        if p["data"] == kind and size and size > 0 and y is not None:
            out.append((size, y, ci(p) if ci else None))
    return sorted(out, key=lambda t: t[0])


def _points(ax, ser, fmt: str, c: str, **kw) -> None:
    """Measured points with their 95% error bars (none where the file records no interval)."""
    xs, ys, cis = zip(*ser, strict=True)
    ax.errorbar(xs, ys, yerr=yerr(list(ys), list(cis)), fmt=fmt, color=c, capsize=3, **kw)


def _base(pts: list[dict], value, ci=None) -> tuple[float, tuple | None] | None:
    """The base model's value (and interval) for a horizontal reference line."""
    vals = [(value(p), ci(p) if ci else None) for p in pts if p["data"] == "base"]
    vals = [v for v in vals if v[0] is not None]
    return vals[0] if vals else None


def _base_line(ax, base, c: str, **kw) -> None:
    """The base model as a dashed line with its 95% interval as a light band."""
    y, ci = base
    ax.axhline(y, color=c, **kw)
    if ci is not None:
        ax.axhspan(ci[0], ci[1], color=c, alpha=0.1, linewidth=0)


def _n(study: ScaleStudy) -> int | None:
    n = study.data.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def plot_metrics_vs_size(study: ScaleStudy, benchmark: str, path: Path) -> Path | None:
    """Pass@1, PassRatio@N and Pass@N against data size (log x): points, fitted lines, base line.

    >>> import tempfile, pathlib
    >>> s = ScaleStudy(None, "m", {"points": [{"data": "base", "size": 0, "benchmark": "g", "pass@1": .1},
    ...     {"data": "real", "size": 10, "benchmark": "g", "pass@1": .2},
    ...     {"data": "real", "size": 100, "benchmark": "g", "pass@1": .3}]})
    >>> plot_metrics_vs_size(s, "g", pathlib.Path(tempfile.mkdtemp()) / "m.png").name
    'm.png'
    """
    pts = points(study, benchmark)
    fig = new_figure(13, 4.6)
    # Pass@N sits far above Pass@1: own y scales keep each trend readable.
    axes = headline_axes(fig, _n(study), sharey=False)
    sizes: list[float] = []
    drawn = False
    for ax, m in zip(axes, HEADLINE_METRICS, strict=True):
        value = lambda p, m=m: num(p.get(m))  # noqa: E731
        ci = lambda p, m=m: ci_of(p, m)  # noqa: E731
        for i, kind in enumerate(kinds(pts)):
            ser = _series(pts, kind, value, ci)
            if not ser:
                continue
            drawn = True
            xs, ys, _ = zip(*ser, strict=True)
            sizes += xs
            c = data_color(kind, i + 2)
            _points(ax, ser, "os^D"[i % 4], c, label=f"{kind} data" if ax is axes[0] else None)
            fit = fit_of(study, benchmark, kind, m)
            if fit:
                slope, icpt, r2 = fit
                gx = np.geomspace(min(xs), max(xs), 50)
                r2s = f", R² {r2:.2f}" if r2 is not None else ""
                ax.plot(gx, icpt + slope * np.log10(gx), "-", color=c, alpha=0.7,
                        label=f"{kind} fit: {100 * slope:+.1f} pp per 10× data "
                              f"({100 * slope * np.log10(2):+.1f} per doubling){r2s}")
            elif len(ser) > 1:
                ax.plot(xs, ys, ":", color=c, alpha=0.6)
        b = _base(pts, value, ci)
        if b is not None:
            drawn = True
            _base_line(ax, b, data_color("base"), linestyle="--", label="base model (no fine-tuning)")
        ax.set_xlabel("fine-tuning examples (log scale)")
        legend_from(ax, [ax], fontsize="small", loc="best")
    if not drawn:
        return None
    for ax in axes:
        # Limits only after everything is drawn, so each panel autoscales to its own data.
        percent_axis(ax)
        log_ticks(ax, sizes)
    axes[0].set_ylabel("accuracy")
    bars = any(ci_of(p, m) for p in pts for m in HEADLINE_METRICS)
    fig.suptitle(f"{study.label} on {benchmark}: accuracy vs data size"
                 + (" (bars and bands: 95% intervals)" if bars else ""))
    return save(fig, path)


def plot_groups_vs_size(study: ScaleStudy, benchmark: str, key: str, path: Path,
                        metric: str = "pass@1") -> Path | None:
    """``metric`` per MATH level or GSM8K step count (``key``) against size; a panel per data kind."""
    pts = points(study, benchmark)

    def group_names(p: dict) -> list[str]:
        g = p.get(key)
        return [k for k, v in g.items() if isinstance(v, dict)] if isinstance(g, dict) else []

    ks = [k for k in kinds(pts) if any(group_names(p) for p in pts if p["data"] == k)]
    if not ks:
        return None
    names = sorted({g for p in pts for g in group_names(p)}, key=group_key)
    cmap = colormaps["viridis"]  # ordered groups (levels, step counts): a sequential, CVD-safe map
    fig = new_figure(min(15, 1 + 5.5 * len(ks)), 4.6)
    axes = fig.subplots(1, len(ks), sharey=True, squeeze=False)[0]
    for ax, kind in zip(axes, ks, strict=True):
        sizes: list[float] = []
        for j, g in enumerate(names):
            c = cmap(j / max(1, len(names) - 1) * 0.9)
            value = lambda p, g=g: num((p.get(key) or {}).get(g, {}).get(metric))  # noqa: E731
            ci = lambda p, g=g: ci_of((p.get(key) or {}).get(g), metric)  # noqa: E731
            ser = _series(pts, kind, value, ci)
            if ser:
                xs, ys, _ = zip(*ser, strict=True)
                sizes += xs
                _points(ax, ser, "-o", c, markersize=4, label=g, elinewidth=0.8, alpha=0.9)
            b = _base(pts, value)
            if b is not None:
                ax.axhline(b[0], color=c, linestyle="--", linewidth=0.8, alpha=0.6)
        log_ticks(ax, sizes)
        ax.set_title(f"{kind} data", fontsize="medium")
        ax.set_xlabel("fine-tuning examples (log scale)")
    for ax in axes:  # shared y: limits once all panels are drawn
        percent_axis(ax)
    axes[0].set_ylabel(metric_label(metric, _n(study)))
    legend_from(axes[-1], axes, title=GROUP_AXIS.get(key, key), fontsize="small", loc="center left",
                bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(f"{study.label} on {benchmark}: {metric_label(metric, _n(study))} per "
                 f"{GROUP_AXIS.get(key, key)} vs data size (dashed: base model)")
    return save(fig, path)


def plot_acc_step_vs_size(study: ScaleStudy, path: Path) -> Path | None:
    """Fitted per-step accuracy Acc_step against size, a line per benchmark and data kind."""
    pts = points(study)
    value = lambda p: (step_fit_of(p) or (None,))[0]  # noqa: E731
    ci = step_fit_ci
    fig = new_figure(8, 4.8)
    ax = fig.subplots()
    sizes: list[float] = []
    drawn = False
    for bi, bench in enumerate(benchmarks(study)):
        bpts = [p for p in pts if p["benchmark"] == bench]
        style = ("-o", "-s", "-^", "-D")[bi % 4]
        for i, kind in enumerate(kinds(bpts)):
            ser = _series(bpts, kind, value, ci)
            if ser:
                xs, _, _ = zip(*ser, strict=True)
                sizes += xs
                _points(ax, ser, style, data_color(kind, i + 2), label=f"{bench}, {kind} data")
                drawn = True
        b = _base(bpts, value, ci)
        if b is not None:
            _base_line(ax, b, data_color("base"), linestyle=("--", "-.", ":")[bi % 3],
                       label=f"{bench}, base model")
            drawn = True
    if not drawn:
        return None
    log_ticks(ax, sizes)
    ax.yaxis.set_major_formatter(lambda v, _p: f"{100 * v:.0f}%")
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("fine-tuning examples (log scale)")
    ax.set_ylabel("Acc_step (fitted per-step accuracy)")
    ax.set_title(f"{study.label}: per-step accuracy from Acc_final = Acc_step ^ s")
    ax.legend(fontsize="small")
    return save(fig, path)


def plot_errors_vs_size(study: ScaleStudy, benchmark: str, path: Path) -> Path | None:
    """Error-type stacked bars per size: a panel for the base model and one per data kind."""
    pts = [p for p in points(study, benchmark) if errors_of(p)]
    panels = (["base"] if any(p["data"] == "base" for p in pts) else []) + kinds(pts)
    if not panels:
        return None
    counts = [sum(p["data"] == k for p in pts) for k in panels]
    fig = new_figure(min(15, 3 + 0.9 * sum(counts) + 1.2 * len(panels)), 4.8)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False, width_ratios=[c + 0.6 for c in counts])[0]
    for ax, kind in zip(axes, panels, strict=True):
        kp = [p for p in pts if p["data"] == kind]
        _stacked(ax, np.arange(len(kp)), [errors_of(p) for p in kp], 0.7, horizontal=False,
                 legend=ax is axes[0])
        ax.set_xticks(np.arange(len(kp)))
        ax.set_xticklabels(["base" if kind == "base" else f"{num(p.get('size')):g}" for p in kp])
        ax.set_title("base model" if kind == "base" else f"{kind} data", fontsize="medium")
        ax.set_xlabel("" if kind == "base" else "fine-tuning examples")
        percent_axis(ax, top=1.0)
    axes[0].set_ylabel("share of samples")
    fig.legend(loc="outside lower center", ncols=max(1, len(error_kinds(errors_of(p) for p in pts))),
               fontsize="small")
    fig.suptitle(f"{study.label} on {benchmark}: error types vs data size")
    return save(fig, path)
