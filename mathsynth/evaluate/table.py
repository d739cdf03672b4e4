"""Human-readable summary tables of evaluation metrics (rich)."""

from __future__ import annotations

from typing import Any

from mathsynth.contracts import ERROR_KINDS


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.1f}"


def _ci(cell: dict, metric: str, k: str | None = None) -> str:
    """The 95% interval of a metric in a metrics cell, as "[lo, hi]" in percent ("" when absent)."""
    ci = (cell.get("ci95") or {}).get(metric)
    if k is not None:
        ci = (ci or {}).get(k)
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else ""


def summary_tables(metrics: dict) -> list:
    """rich Tables for the overall metrics and each breakdown present.

    >>> m = {"overall": {"n_problems": 2, "n_samples": 4, "pass@1": 0.5, "pass@k": {"1": 0.5, "4": 1.0},
    ...      "pass@N": 1.0, "pass_ratio@N": 0.5, "maj@k": {"1": 0.5, "4": 0.5}, "no_answer_rate": 0.0}}
    >>> len(summary_tables(m))
    1
    """
    from rich.table import Table

    ov = metrics["overall"]
    n = ov.get("n_samples")
    run = metrics.get("run", {})
    title = f"{run.get('model', '')} on {run.get('benchmark', '')}".strip() if run else "evaluation"
    t = Table(title=f"{title} - {ov['n_problems']} problems, N={n}")
    t.add_column("metric")
    t.add_column("value %", justify="right")
    t.add_column("95% interval", justify="right")
    t.add_row(f"Pass@1 ({ov.get('pass@1_source', '')})", _pct(ov.get("pass@1")), _ci(ov, "pass@1"))
    for k, v in ov.get("pass@k", {}).items():
        t.add_row(f"pass@{k}", _pct(v), _ci(ov, "pass@k", k))
    for k, v in ov.get("maj@k", {}).items():
        t.add_row(f"maj@{k}", _pct(v), _ci(ov, "maj@k", k))
    t.add_row(f"Pass@{n} (oracle)", _pct(ov.get("pass@N")), _ci(ov, "pass@N"))
    t.add_row(f"PassRatio@{n}", _pct(ov.get("pass_ratio@N")), _ci(ov, "pass_ratio@N"))
    t.add_row("no answer", _pct(ov.get("no_answer_rate")), "")
    if ov.get("truncated_rate") is not None:
        t.add_row("stopped at the token limit", _pct(ov.get("truncated_rate")), "")
    errors = ov.get("errors") or {}
    for kind in (k for k in ERROR_KINDS if k not in ("correct", "no_answer")):
        if kind in errors:
            t.add_row(f"{kind} errors (of samples)", _pct(errors[kind]), "")
    if "step_fit" in metrics:
        fit = metrics.get("step_fit") or {}
        ci = fit.get("ci95")
        t.add_row("Acc_step (fit Acc = Acc_step^s)", _pct(fit.get("acc_step")) if fit.get("acc_step") is not None
                  else "—", f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")
    tables = [t]
    for key, label in (("by_level", "MATH level"), ("by_subject", "subject"), ("by_steps", "GSM8K steps")):
        groups = metrics.get(key)
        if not groups:
            continue
        b = Table(title=f"by {label}")
        for col in (label, "problems", "Pass@1 %", "95% interval", "PassRatio %", "Pass@N %"):
            b.add_column(col, justify="right" if col != label else "left")

        def order(item: tuple[str, Any]) -> tuple:
            k = item[0]
            return (0, int(k), "") if str(k).isdigit() else (1, 0, str(k))

        for name, g in sorted(groups.items(), key=order):
            small = " *" if g.get("small_cell") else ""
            b.add_row(str(name), f"{g.get('n_problems')}{small}", _pct(g.get("pass@1")), _ci(g, "pass@1"),
                      _pct(g.get("pass_ratio@N")), _pct(g.get("pass@N")))
        if any(g.get("small_cell") for g in groups.values()):
            b.caption = "* fewer than 30 problems: a wide interval, do not read alone"
        tables.append(b)
    backend = run.get("backend")
    if backend:
        r = Table(title="backend")
        r.add_column("counter")
        r.add_column("value", justify="right")
        for k, v in backend.items():
            r.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
        tables.append(r)
    return tables
