"""Plots of one or more evaluation runs (``metrics.json``): overlays with a legend naming each run.

Each function writes one PNG and returns its path, or returns None when no run has the data it
needs (older metrics files lack ``errors`` and ``step_fit``), so the report just skips that plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mathsynth.contracts import HEADLINE_METRICS
from mathsynth.report.intervals import ci_of, pair
from mathsynth.report.load import EvalRun, error_kinds, group_key, num
from mathsynth.report.plots import (
    ERROR_COLORS,
    ERRORBAR,
    color,
    common_n,
    error_color,
    error_label,
    headline_axes,
    log_ticks,
    metric_label,
    new_figure,
    percent_axis,
    save,
    text_color,
    yerr,
)

BREAKDOWN_AXIS = {"by_level": "MATH level", "by_steps": "GSM8K reasoning steps", "by_subject": "subject"}


def _curve(d: object) -> list[tuple[int, float]]:
    """``{"1": v, "2": v}`` as sorted (k, value) pairs, dropping keys or values that are not numbers."""
    if not isinstance(d, dict):
        return []
    pts = []
    for k, v in d.items():
        try:
            kk = int(k)
        except (TypeError, ValueError):
            continue
        if num(v) is not None and kk > 0:
            pts.append((kk, float(v)))
    return sorted(pts)


def groups(run: EvalRun, key: str) -> dict[str, dict]:
    """The breakdown groups of a run (e.g. ``by_level``) that are objects; {} when absent.

    >>> groups(EvalRun(None, "r", {"by_level": {"1": {"pass@1": 1}, "2": "junk"}}), "by_level")
    {'1': {'pass@1': 1}}
    """
    g = run.metrics.get(key)
    return {str(k): v for k, v in g.items() if isinstance(v, dict)} if isinstance(g, dict) else {}


def errors_of(d: object) -> dict[str, float] | None:
    """The numeric shares of an ``errors`` object, in display order (see ``error_kinds``), or None.

    Kinds are whatever the producer wrote (``truncated`` was added later; others may follow).

    >>> errors_of({"errors": {"no_answer": 0.1, "correct": 0.5, "calculation": 0.4, "note": "x"}})
    {'correct': 0.5, 'calculation': 0.4, 'no_answer': 0.1}
    >>> errors_of({"errors": None})
    """
    e = d.get("errors") if isinstance(d, dict) else None
    if not isinstance(e, dict):
        return None
    shares = {str(k): num(v) for k, v in e.items() if num(v) is not None}
    return {k: shares[k] for k in error_kinds([shares])} or None


def _n(runs: list[EvalRun]) -> int | None:
    return common_n(r.metrics["overall"].get("n_samples") for r in runs)


def plot_passk(runs: list[EvalRun], path: Path) -> Path | None:
    """pass@k (solid) and maj@k (dashed) against k on a log2 axis, one colour per run.

    >>> import tempfile, pathlib
    >>> r = EvalRun(pathlib.Path("."), "m", {"overall": {"pass@k": {"1": .2, "4": .5}, "maj@k": {"1": .2, "4": .3}}})
    >>> plot_passk([r], pathlib.Path(tempfile.mkdtemp()) / "k.png").stat().st_size > 0
    True
    """
    fig = new_figure(8, 4.8)
    ax = fig.subplots()
    ks: set[int] = set()
    drawn = False
    banded = False
    for i, r in enumerate(runs):
        ov = r.metrics["overall"]
        pk, mk = _curve(ov.get("pass@k")), _curve(ov.get("maj@k"))
        if pk:
            ax.plot(*zip(*pk, strict=True), "-o", color=color(i), label=f"{r.label}: pass@k")
            banded |= _band(ax, ov, "pass@k", pk, color(i))
        if mk:
            ax.plot(*zip(*mk, strict=True), "--s", color=color(i), alpha=0.8, markersize=4,
                    label=f"{r.label}: maj@k")
            banded |= _band(ax, ov, "maj@k", mk, color(i))
        ks.update(k for k, _ in pk + mk)
        drawn = drawn or bool(pk or mk)
    if not drawn:
        return None
    log_ticks(ax, ks, base=2)
    percent_axis(ax)
    ax.set_xlabel("k (samples per problem, log scale)")
    ax.set_ylabel("accuracy")
    ax.set_title("pass@k (any of k correct) and maj@k (majority vote of k correct)"
                 + ("; bands: 95% intervals" if banded else ""))
    ax.legend(fontsize="small")
    return save(fig, path)


def _band(ax, cell: dict, metric: str, curve: list[tuple[int, float]], c: str) -> bool:
    """Shade the 95% interval of a pass@k / maj@k curve where the file records one per k."""
    cis = [(k, ci_of(cell, metric, k)) for k, _ in curve]
    cis = [(k, ci) for k, ci in cis if ci is not None]
    if not cis:
        return False
    ax.fill_between([k for k, _ in cis], [ci[0] for _, ci in cis], [ci[1] for _, ci in cis], color=c,
                    alpha=0.15, linewidth=0)
    return True


def plot_breakdown(runs: list[EvalRun], key: str, path: Path) -> Path | None:
    """Grouped bars of Pass@1, PassRatio@N and Pass@N per group of ``key`` (e.g. ``by_level``).

    >>> import tempfile, pathlib
    >>> r = EvalRun(pathlib.Path("."), "m", {"overall": {}, "by_level": {"1": {"pass@1": .5, "pass@N": .9}}})
    >>> plot_breakdown([r], "by_level", pathlib.Path(tempfile.mkdtemp()) / "b.png").name
    'b.png'
    """
    have = [(i, r, groups(r, key)) for i, r in enumerate(runs)]
    have = [h for h in have if h[2]]
    if not have:
        return None
    names = sorted({g for _, _, gs in have for g in gs}, key=group_key)
    many = len(names) > 8 or any(len(n) > 8 for n in names)
    fig = new_figure(max(10, 0.55 * len(names) * 3 * max(1, len(have)) ** 0.5), 4.6 if not many else 5.4)
    axes = headline_axes(fig, _n([r for _, r, _ in have]))
    x = np.arange(len(names))
    width = 0.8 / len(have)
    for j, (i, r, gs) in enumerate(have):
        for ax, m in zip(axes, HEADLINE_METRICS, strict=True):
            ys = [num(gs.get(g, {}).get(m)) for g in names]
            err = yerr(ys, [ci_of(gs.get(g), m) for g in names])
            ax.bar(x - 0.4 + width * (j + 0.5), [y or 0.0 for y in ys], width, color=color(i),
                   label=r.label if ax is axes[0] else None, yerr=err, error_kw=ERRORBAR)
    for ax in axes:
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=35 if many else 0, ha="right" if many else "center",
                           fontsize="small" if many else None)
        ax.set_xlabel(BREAKDOWN_AXIS.get(key, key))
        percent_axis(ax)
    axes[0].set_ylabel("accuracy")
    fig.legend(loc="outside upper center", ncols=min(4, len(have)), fontsize="small")
    return save(fig, path)


def _stacked(ax, x, shares: list[dict[str, float] | None], width: float, horizontal: bool,
             legend: bool) -> None:
    bottom = np.zeros(len(shares))
    kinds = error_kinds(shares)
    unknown = [k for k in kinds if k not in ERROR_COLORS]
    for kind in kinds:
        vals = np.array([(s or {}).get(kind, 0.0) for s in shares])
        draw = ax.barh if horizontal else ax.bar
        kw = {"left": bottom} if horizontal else {"bottom": bottom}
        c = error_color(kind, unknown.index(kind) if kind in unknown else 0)
        bars = draw(x, vals, width, color=c, label=error_label(kind) if legend else None, **kw)
        # Print the share inside segments big enough to hold it; small slivers stay unlabelled.
        ax.bar_label(bars, labels=[f"{100 * v:.0f}%" if v >= 0.07 else "" for v in vals],
                     label_type="center", fontsize="small", color=text_color(c))
        bottom += vals


def plot_errors(runs: list[EvalRun], path: Path) -> Path | None:
    """One stacked bar per run: shares of samples correct / calculation / reasoning error / no answer.

    >>> import tempfile, pathlib
    >>> r = EvalRun(pathlib.Path("."), "m", {"overall": {"errors": {"correct": .6, "reasoning": .4}}})
    >>> plot_errors([r], pathlib.Path(tempfile.mkdtemp()) / "e.png").name
    'e.png'
    >>> plot_errors([EvalRun(pathlib.Path("."), "m", {"overall": {}})], pathlib.Path("unused.png"))
    """
    have = [(r, errors_of(r.metrics["overall"])) for r in runs]
    have = [(r, e) for r, e in have if e]
    if not have:
        return None
    fig = new_figure(9, 1.8 + 0.5 * len(have))
    ax = fig.subplots()
    y = np.arange(len(have))[::-1]
    _stacked(ax, y, [e for _, e in have], 0.6, horizontal=True, legend=True)
    ax.set_yticks(y)
    ax.set_yticklabels([r.label for r, _ in have])
    percent_axis(ax, "x", top=1.0)
    ax.set_xlabel("share of all samples")
    ax.set_title("Error types (calculation: a step's arithmetic is wrong; reasoning: every step right, "
                 "answer wrong)", fontsize="medium")
    fig.legend(loc="outside lower center", ncols=5, fontsize="small")
    return save(fig, path)


def plot_errors_by(runs: list[EvalRun], key: str, path: Path) -> Path | None:
    """Error-type stacked bars per group of ``key``, one panel per run that reports them."""
    have = []
    for r in runs:
        gs = {g: errors_of(v) for g, v in groups(r, key).items()}
        gs = {g: e for g, e in gs.items() if e}
        if gs:
            have.append((r, gs))
    if not have:
        return None
    width_per = max(3.5, 0.5 * max(len(gs) for _, gs in have) + 1)
    fig = new_figure(min(16, max(8, width_per * len(have))), 4.6)
    axes = fig.subplots(1, len(have), sharey=True, squeeze=False)[0]
    for ax, (r, gs) in zip(axes, have, strict=True):
        names = sorted(gs, key=group_key)
        _stacked(ax, np.arange(len(names)), [gs[g] for g in names], 0.7, horizontal=False,
                 legend=ax is axes[0])
        ax.set_xticks(np.arange(len(names)))
        ax.set_xticklabels(names, rotation=35 if len(names) > 8 else 0, fontsize="small")
        ax.set_xlabel(BREAKDOWN_AXIS.get(key, key))
        ax.set_title(r.label, fontsize="medium")
        percent_axis(ax, top=1.0)
    axes[0].set_ylabel("share of samples")
    fig.legend(loc="outside upper center", ncols=5, fontsize="small")
    return save(fig, path)


def step_fit_of(d: object) -> tuple[float, float | None, list[tuple[int, float]]] | None:
    """(Acc_step, rmse, observed (steps, accuracy) pairs) from a ``step_fit`` object, or None.

    >>> step_fit_of({"step_fit": {"acc_step": 0.9, "rmse": 0.01, "by_steps": {"3": 0.7, "2": 0.8}}})
    (0.9, 0.01, [(2, 0.8), (3, 0.7)])
    """
    sf = d.get("step_fit") if isinstance(d, dict) else None
    if not isinstance(sf, dict) or num(sf.get("acc_step")) is None:
        return None
    return num(sf["acc_step"]), num(sf.get("rmse")), _curve(sf.get("by_steps"))


def step_fit_ci(d: object) -> tuple[float, float] | None:
    """The 95% interval of Acc_step recorded with the fit, or None.

    >>> step_fit_ci({"step_fit": {"acc_step": 0.9, "ci95": [0.85, 0.93]}}), step_fit_ci({"step_fit": None})
    ((0.85, 0.93), None)
    """
    sf = d.get("step_fit") if isinstance(d, dict) else None
    return pair(sf.get("ci95")) if isinstance(sf, dict) else None


def fitted_metric(d: object) -> str:
    """The metric the step fit was made on (PassRatio@N unless the producer says otherwise).

    >>> fitted_metric({"step_fit": {"metric": "pass@1"}}), fitted_metric({})
    ('pass@1', 'pass_ratio@N')
    """
    sf = d.get("step_fit") if isinstance(d, dict) else None
    m = sf.get("metric") if isinstance(sf, dict) else None
    return m if isinstance(m, str) else "pass_ratio@N"


def observed_steps(d: dict, obs: list[tuple[int, float]]) -> list[tuple[int, float, tuple | None]]:
    """(steps, accuracy, 95% interval) per step count: the fit's own observed values, else the
    ``by_steps`` groups' fitted metric; intervals come from those groups' ``ci95``.

    >>> observed_steps({"by_steps": {"2": {"pass_ratio@N": 0.5, "ci95": {"pass_ratio@N": [0.4, 0.6]}}}}, [])
    [(2, 0.5, (0.4, 0.6))]
    """
    metric = fitted_metric(d)
    gs = d.get("by_steps") if isinstance(d.get("by_steps"), dict) else {}
    if not obs:
        obs = _curve({k: v.get(metric) for k, v in gs.items() if isinstance(v, dict)})
    return [(s, y, ci_of(gs.get(str(s)), metric)) for s, y in obs]


def plot_step_fit(runs: list[EvalRun], path: Path) -> Path | None:
    """Observed accuracy per GSM8K step count (dots, 95% bars) and the fitted Acc_final = Acc_step^s
    (line, with the band Acc_step's interval gives where recorded)."""
    have = []
    for i, r in enumerate(runs):
        f = step_fit_of(r.metrics)
        if f:
            acc, rmse, obs = f
            have.append((i, r, (acc, rmse, observed_steps(r.metrics, obs))))
    if not have:
        return None
    fig = new_figure(8, 4.8)
    ax = fig.subplots()
    steps = [s for _, _, (_, _, obs) in have for s, _, _ in obs] or [1, 8]
    s = np.linspace(min(1, min(steps)), max(steps), 200)
    for i, r, (acc, rmse, obs) in have:
        if obs:
            ys = [y for _, y, _ in obs]
            ax.errorbar([x for x, _, _ in obs], ys, yerr=yerr(ys, [ci for _, _, ci in obs]), fmt="o",
                        color=color(i), capsize=3, label=f"{r.label}: observed")
        extra = f", RMSE {100 * rmse:.1f} pp" if rmse is not None else ""
        ci = step_fit_ci(r.metrics)
        cis = f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else ""
        ax.plot(s, acc ** s, "-", color=color(i), alpha=0.8,
                label=f"{r.label}: fit $Acc_{{step}}^s$, Acc_step = {100 * acc:.1f}%{cis}{extra}")
        if ci:
            ax.fill_between(s, ci[0] ** s, ci[1] ** s, color=color(i), alpha=0.15, linewidth=0)
    # The producer says which metric it fitted (PassRatio@N by default: the least noisy per group).
    fitted = {fitted_metric(r.metrics) for _, r, _ in have}
    only = fitted.pop() if len(fitted) == 1 else None
    name = metric_label(only, _n([r for _, r, _ in have])) if isinstance(only, str) else "observed"
    ax.set_xlabel("reasoning steps s in the reference solution")
    ax.set_ylabel(f"final-answer accuracy ({name})")
    ax.set_title("Accuracy vs reasoning steps: Acc_final = Acc_step ^ s (bars, bands: 95% intervals)"
                 if any(step_fit_ci(r.metrics) for _, r, _ in have) else
                 "Accuracy vs reasoning steps: Acc_final = Acc_step ^ s")
    percent_axis(ax)
    ax.set_xticks(sorted(set(steps)))
    ax.legend(fontsize="small")
    return save(fig, path)
