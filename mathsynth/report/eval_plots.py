"""Plots of one or more evaluation runs (``metrics.json``): overlays with a legend naming each run.

Each function writes one PNG and returns its path, or returns None when no run has the data it
needs (older metrics files lack ``errors`` and ``step_fit``), so the report just skips that plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mathsynth.report.load import ERROR_KINDS, HEADLINE, EvalRun, group_key, num
from mathsynth.report.plots import (
    ERROR_COLORS,
    ERROR_LABELS,
    color,
    common_n,
    headline_axes,
    log_ticks,
    metric_label,
    new_figure,
    percent_axis,
    save,
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
    """An ``errors`` object with at least one numeric share, or None.

    >>> errors_of({"errors": {"correct": 0.5, "calculation": 0.5}})
    {'correct': 0.5, 'calculation': 0.5, 'reasoning': 0.0, 'no_answer': 0.0}
    >>> errors_of({"errors": None})
    """
    e = d.get("errors") if isinstance(d, dict) else None
    if not isinstance(e, dict) or all(num(e.get(k)) is None for k in ERROR_KINDS):
        return None
    return {k: num(e.get(k)) or 0.0 for k in ERROR_KINDS}


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
    for i, r in enumerate(runs):
        ov = r.metrics["overall"]
        pk, mk = _curve(ov.get("pass@k")), _curve(ov.get("maj@k"))
        if pk:
            ax.plot(*zip(*pk, strict=True), "-o", color=color(i), label=f"{r.label}: pass@k")
        if mk:
            ax.plot(*zip(*mk, strict=True), "--s", color=color(i), alpha=0.8, markersize=4,
                    label=f"{r.label}: maj@k")
        ks.update(k for k, _ in pk + mk)
        drawn = drawn or bool(pk or mk)
    if not drawn:
        return None
    log_ticks(ax, ks, base=2)
    percent_axis(ax)
    ax.set_xlabel("k (samples per problem, log scale)")
    ax.set_ylabel("accuracy")
    ax.set_title("pass@k (any of k correct) and maj@k (majority vote of k correct)")
    ax.legend(fontsize="small")
    return save(fig, path)


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
        for ax, m in zip(axes, HEADLINE, strict=True):
            ys = [num(gs.get(g, {}).get(m)) for g in names]
            ax.bar(x - 0.4 + width * (j + 0.5), [y or 0.0 for y in ys], width, color=color(i),
                   label=r.label if ax is axes[0] else None)
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
    for kind in ERROR_KINDS:
        vals = np.array([(s or {}).get(kind, 0.0) for s in shares])
        draw = ax.barh if horizontal else ax.bar
        kw = {"left": bottom} if horizontal else {"bottom": bottom}
        bars = draw(x, vals, width, color=ERROR_COLORS[kind], label=ERROR_LABELS[kind] if legend else None,
                    **kw)
        # Print the share inside segments big enough to hold it; small slivers stay unlabelled.
        ax.bar_label(bars, labels=[f"{100 * v:.0f}%" if v >= 0.07 else "" for v in vals],
                     label_type="center", fontsize="x-small", color="white")
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
    fig.legend(loc="outside lower center", ncols=4, fontsize="small")
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
    fig.legend(loc="outside upper center", ncols=4, fontsize="small")
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


def plot_step_fit(runs: list[EvalRun], path: Path) -> Path | None:
    """Observed accuracy per GSM8K step count (dots) and the fitted Acc_final = Acc_step^s (line)."""
    have = [(i, r, step_fit_of(r.metrics)) for i, r in enumerate(runs)]
    have = [h for h in have if h[2]]
    if not have:
        return None
    fig = new_figure(8, 4.8)
    ax = fig.subplots()
    steps = [s for _, _, (_, _, obs) in have for s, _ in obs] or [1, 8]
    s = np.linspace(min(1, min(steps)), max(steps), 200)
    for i, r, (acc, rmse, obs) in have:
        if obs:
            ax.plot(*zip(*obs, strict=True), "o", color=color(i), label=f"{r.label}: observed")
        extra = f", RMSE {100 * rmse:.1f} pp" if rmse is not None else ""
        ax.plot(s, acc ** s, "-", color=color(i), alpha=0.8,
                label=f"{r.label}: fit $Acc_{{step}}^s$, Acc_step = {100 * acc:.1f}%{extra}")
    # The producer says which metric it fitted (PassRatio@N by default: the least noisy per group).
    fitted = {r.metrics["step_fit"].get("metric") for _, r, _ in have}
    only = fitted.pop() if len(fitted) == 1 else None
    name = metric_label(only, _n([r for _, r, _ in have])) if isinstance(only, str) else "observed"
    ax.set_xlabel("reasoning steps s in the reference solution")
    ax.set_ylabel(f"final-answer accuracy ({name})")
    ax.set_title("Accuracy vs reasoning steps: Acc_final = Acc_step ^ s")
    percent_axis(ax)
    ax.set_xticks(sorted(set(steps)))
    ax.legend(fontsize="small")
    return save(fig, path)
