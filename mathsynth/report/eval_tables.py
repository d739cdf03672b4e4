"""Tables of one or more evaluation runs (``metrics.json``); all shares are shown in percent.

Like the plot builders, each returns None when no run carries the data, so it is skipped.
"""

from __future__ import annotations

from pathlib import Path

from mathsynth.report.doc import Link, Table, pct, rel_href
from mathsynth.report.eval_plots import BREAKDOWN_AXIS, _curve, errors_of, groups, step_fit_of
from mathsynth.report.load import ERROR_KINDS, HEADLINE, EvalRun, group_key, num
from mathsynth.report.plots import ERROR_LABELS, common_n, metric_label


def _s(x: object) -> str:
    return "-" if x is None or isinstance(x, dict | list) else str(x)


def _link(r: EvalRun, out_dir: Path) -> Link:
    return Link(r.path.name or str(r.path), rel_href(r.path / "metrics.json", out_dir))


def overview_table(runs: list[EvalRun], out_dir: Path) -> Table:
    """One row per run: what ran (model, benchmark, split, prompt, N) and its headline metrics.

    >>> from pathlib import Path
    >>> r = EvalRun(Path("ev"), "m", {"overall": {"n_problems": 2, "n_samples": 4, "pass@1": 0.5,
    ...     "maj@k": {"1": 0.5, "4": 0.75}}, "run": {"model": "m", "benchmark": "gsm8k"}})
    >>> t = overview_table([r], Path("."))
    >>> dict(zip(t.columns, t.rows[0]))["maj@N %"], dict(zip(t.columns, t.rows[0]))["Pass@1 %"]
    ('75.0', '50.0')
    """
    cols = ["run", "folder", "model", "benchmark", "split", "prompt", "problems", "N"]
    cols += [f"{metric_label(m)} %" for m in HEADLINE] + ["maj@N %", "no answer %", "Pass@1 from"]
    rows = []
    for r in runs:
        ov = r.metrics["overall"]
        run = r.metrics.get("run") if isinstance(r.metrics.get("run"), dict) else {}
        maj = _curve(ov.get("maj@k"))
        rows.append([r.label, _link(r, out_dir), _s(run.get("model")), _s(run.get("benchmark")),
                     _s(run.get("split")), _s(run.get("prompt")), _s(ov.get("n_problems")),
                     _s(ov.get("n_samples"))]
                    + [pct(num(ov.get(m))) for m in HEADLINE]
                    + [pct(maj[-1][1] if maj else None), pct(num(ov.get("no_answer_rate"))),
                       _s(ov.get("pass@1_source"))])
    return Table("Runs", cols, rows,
                 note="Pass@1: accuracy of one sample; PassRatio@N: share of the N samples that are correct; "
                      "Pass@N: share of problems with at least one correct sample (oracle); maj@N: majority "
                      "vote over N samples.")


def passk_table(runs: list[EvalRun]) -> Table | None:
    """pass@k and maj@k for every k, a column pair per run.

    >>> from pathlib import Path
    >>> r = EvalRun(Path("ev"), "m", {"overall": {"pass@k": {"1": 0.5, "2": 0.75}}})
    >>> passk_table([r]).rows
    [['1', '50.0', '-'], ['2', '75.0', '-']]
    """
    curves = [(r, dict(_curve(r.metrics["overall"].get("pass@k"))), dict(_curve(r.metrics["overall"].get("maj@k"))))
              for r in runs]
    curves = [c for c in curves if c[1] or c[2]]
    if not curves:
        return None
    ks = sorted({k for _, p, m in curves for k in (*p, *m)})
    cols = ["k"]
    for r, _, _ in curves:
        cols += [f"{r.label}: pass@k %", f"{r.label}: maj@k %"]
    rows = [[str(k)] + [x for _, p, m in curves for x in (pct(p.get(k)), pct(m.get(k)))] for k in ks]
    return Table("pass@k and maj@k", cols, rows)


def breakdown_table(runs: list[EvalRun], key: str) -> Table | None:
    """Headline metrics per group of ``key`` (and error shares where reported), a row per group and run.

    >>> from pathlib import Path
    >>> r = EvalRun(Path("ev"), "m", {"overall": {}, "by_level": {"2": {"n_problems": 3, "pass@1": 0.5}}})
    >>> breakdown_table([r], "by_level").rows
    [['2', '3', '50.0', '-', '-', '-']]
    """
    have = [(r, groups(r, key)) for r in runs]
    have = [(r, g) for r, g in have if g]
    if not have:
        return None
    with_errors = any(errors_of(v) for _, gs in have for v in gs.values())
    multi = len(have) > 1
    n = common_n(r.metrics["overall"].get("n_samples") for r, _ in have)
    cols = [BREAKDOWN_AXIS.get(key, key)] + (["run"] if multi else []) + ["problems"]
    cols += [f"{metric_label(m, n)} %" for m in HEADLINE] + ["no answer %"]
    if with_errors:
        cols += [f"{ERROR_LABELS[k]} %" for k in ERROR_KINDS[1:3]]
    rows = []
    names = sorted({g for _, gs in have for g in gs}, key=group_key)
    for g in names:
        for r, gs in have:
            if g not in gs:
                continue
            v = gs[g]
            row = [g] + ([r.label] if multi else []) + [_s(v.get("n_problems"))]
            row += [pct(num(v.get(m))) for m in HEADLINE] + [pct(num(v.get("no_answer_rate")))]
            if with_errors:
                e = errors_of(v) or {}
                row += [pct(e.get(k)) for k in ERROR_KINDS[1:3]]
            rows.append(row)
    return Table(f"By {BREAKDOWN_AXIS.get(key, key)}", cols, rows)


def errors_table(runs: list[EvalRun]) -> Table | None:
    """Shares of all samples by outcome (correct, calculation error, reasoning error, no answer), per run."""
    have = [(r, errors_of(r.metrics["overall"])) for r in runs]
    have = [(r, e) for r, e in have if e]
    if not have:
        return None
    cols = ["run"] + [f"{ERROR_LABELS[k]} %" for k in ERROR_KINDS]
    return Table("Error types", cols, [[r.label] + [pct(e[k]) for k in ERROR_KINDS] for r, e in have],
                 note="Shares of all samples. Calculation error: wrong final answer with an arithmetic step "
                      "found wrong; reasoning error: wrong final answer although every step checks out.")


def step_fit_table(runs: list[EvalRun]) -> Table | None:
    """Fitted Acc_step and RMSE per run, with observed vs fitted accuracy at each step count."""
    have = [(r, step_fit_of(r.metrics)) for r in runs]
    have = [(r, f) for r, f in have if f]
    if not have:
        return None
    steps = sorted({s for _, (_, _, obs) in have for s, _ in obs})
    cols = ["run", "", "Acc_step %", "RMSE pp"] + [f"s={s}" for s in steps]
    rows = []
    for r, (acc, rmse, obs) in have:
        o = dict(obs)
        rmse_s = "-" if rmse is None else f"{100 * rmse:.1f}"
        rows.append([r.label, "observed", pct(acc), rmse_s] + [pct(o.get(s)) for s in steps])
        rows.append([r.label, "fit Acc_step^s", "", ""] + [pct(acc ** s) for s in steps])
    return Table("Step fit: Acc_final = Acc_step ^ s", cols, rows,
                 note="Accuracy in %, by the number of reasoning steps s in the GSM8K reference solution.")
