"""Tables of one or more evaluation runs (``metrics.json``); all shares are shown in percent.

Like the plot builders, each returns None when no run carries the data, so it is skipped.
"""

from __future__ import annotations

from pathlib import Path

from mathsynth.contracts import HEADLINE_METRICS, METRICS_FILE
from mathsynth.report.doc import Link, Table, pct, rel_href
from mathsynth.report.eval_plots import BREAKDOWN_AXIS, _curve, errors_of, groups, observed_steps
from mathsynth.report.intervals import DASH, PASS1_SOURCES, interval_note, pair, pass1_source, pct_ci, value
from mathsynth.report.load import EvalRun, error_kinds, group_key, num
from mathsynth.report.plots import common_n, error_label, metric_label


def _s(x: object) -> str:
    return "-" if x is None or isinstance(x, dict | list) else str(x)


def _link(r: EvalRun, out_dir: Path) -> Link:
    return Link(r.path.name or str(r.path), rel_href(r.path / METRICS_FILE, out_dir))


def pass1_header(cells: list, n: int | None = None) -> str:
    """The Pass@1 column header, naming how it was measured when all cells agree.

    >>> pass1_header([{"pass@1_source": "greedy"}]), pass1_header([{}])
    ('Pass@1 (greedy) %', 'Pass@1 %')
    """
    src = pass1_source(cells)
    return f"{metric_label('pass@1', n)}{f' ({src})' if src else ''} %"


def headline_headers(cells: list, n: int | None = None) -> list[str]:
    """Column headers of the three headline metrics, Pass@1 labelled greedy / first sample.

    >>> headline_headers([{"pass@1_source": "greedy"}], 8)
    ['Pass@1 (greedy) %', 'PassRatio@8 %', 'Pass@8 %']
    """
    return [pass1_header(cells, n)] + [f"{metric_label(m, n)} %" for m in HEADLINE_METRICS[1:]]


def overview_table(runs: list[EvalRun], out_dir: Path) -> Table:
    """One row per run: what ran (model, benchmark, split, prompt, N) and its headline metrics with
    their 95% intervals where the file records them.

    >>> from pathlib import Path
    >>> r = EvalRun(Path("ev"), "m", {"overall": {"n_problems": 2, "n_samples": 4, "pass@1": 0.5,
    ...     "pass@1_source": "greedy", "ci95": {"pass@1": [0.1, 0.9]},
    ...     "maj@k": {"1": 0.5, "4": 0.75}}, "run": {"model": "m", "benchmark": "gsm8k"}})
    >>> t = overview_table([r], Path("."))
    >>> dict(zip(t.columns, t.rows[0]))["maj@N %"], dict(zip(t.columns, t.rows[0]))["Pass@1 (greedy) %"]
    ('75.0', '50.0 [10.0, 90.0]')
    """
    overalls = [r.metrics["overall"] for r in runs]
    truncated = any(num(ov.get("truncated_rate")) is not None for ov in overalls)
    cols = ["run", "folder", "model", "benchmark", "split", "prompt", "problems", "N"]
    cols += headline_headers(overalls) + ["maj@N %", "no answer %"]
    cols += (["truncated %"] if truncated else []) + ["Pass@1 from"]
    rows = []
    for r, ov in zip(runs, overalls, strict=True):
        run = r.metrics.get("run") if isinstance(r.metrics.get("run"), dict) else {}
        maj = _curve(ov.get("maj@k"))
        src = ov.get("pass@1_source")
        rows.append([r.label, _link(r, out_dir), _s(run.get("model")), _s(run.get("benchmark")),
                     _s(run.get("split")), _s(run.get("prompt")), _s(ov.get("n_problems")),
                     _s(ov.get("n_samples"))]
                    + [value(ov, m) for m in HEADLINE_METRICS]
                    + [value(ov, "maj@k", maj[-1][0]) if maj else "-", pct(num(ov.get("no_answer_rate")))]
                    + ([pct(num(ov.get("truncated_rate")))] if truncated else [])
                    + [PASS1_SOURCES.get(src, _s(src)) if isinstance(src, str) else "-"])
    return Table("Runs", cols, rows, note=interval_note(overalls,
                 "Pass@1: accuracy of one answer (the greedy one, or the first sample); PassRatio@N: share "
                 "of the N samples that are correct; Pass@N: share of problems with at least one correct "
                 "sample (oracle); maj@N: majority vote over N samples; truncated: samples cut at the "
                 "token limit."))


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
    rows = [[str(k)] + [x for r, _, _ in curves for x in (value(r.metrics["overall"], "pass@k", k),
                                                          value(r.metrics["overall"], "maj@k", k))]
            for k in ks]
    return Table("pass@k and maj@k", cols, rows,
                 note=interval_note([r.metrics["overall"] for r, _, _ in curves]))


def breakdown_table(runs: list[EvalRun], key: str) -> Table | None:
    """Headline metrics per group of ``key`` (and error shares where reported), a row per group and run;
    values carry their 95% intervals and a dagger on cells with too few problems.

    >>> from pathlib import Path
    >>> r = EvalRun(Path("ev"), "m", {"overall": {}, "by_level": {"2": {"n_problems": 3, "pass@1": 0.5,
    ...     "ci95": {"pass@1": [0.1, 0.9]}, "small_cell": True}}})
    >>> breakdown_table([r], "by_level").rows
    [['2', '3', '50.0 [10.0, 90.0]†', '-', '-', '-']]
    """
    have = [(r, groups(r, key)) for r in runs]
    have = [(r, g) for r, g in have if g]
    if not have:
        return None
    cells = [v for _, gs in have for v in gs.values()]
    kinds = [k for k in error_kinds(errors_of(v) for v in cells) if k != "correct"]
    multi = len(have) > 1
    n = common_n(r.metrics["overall"].get("n_samples") for r, _ in have)
    cols = [BREAKDOWN_AXIS.get(key, key)] + (["run"] if multi else []) + ["problems"]
    cols += headline_headers([r.metrics["overall"] for r, _ in have], n) + ["no answer %"]
    cols += [f"{error_label(k)} %" for k in kinds if k != "no_answer"]
    rows = []
    names = sorted({g for _, gs in have for g in gs}, key=group_key)
    for g in names:
        for r, gs in have:
            if g not in gs:
                continue
            v = gs[g]
            row = [g] + ([r.label] if multi else []) + [_s(v.get("n_problems"))]
            row += [value(v, m) for m in HEADLINE_METRICS] + [pct(num(v.get("no_answer_rate")))]
            e = errors_of(v) or {}
            row += [pct(e.get(k)) for k in kinds if k != "no_answer"]
            rows.append(row)
    return Table(f"By {BREAKDOWN_AXIS.get(key, key)}", cols, rows, note=interval_note(cells))


def errors_table(runs: list[EvalRun]) -> Table | None:
    """Shares of all samples by outcome (correct, calculation error, reasoning error, truncated, no
    answer, and any kind a newer producer adds), per run.

    >>> from pathlib import Path
    >>> r = EvalRun(Path("ev"), "m", {"overall": {"errors": {"correct": .5, "truncated": .2, "no_answer": .3}}})
    >>> t = errors_table([r]); t.columns, t.rows
    (['run', 'correct %', 'truncated (token limit) %', 'no answer %'], [['m', '50.0', '20.0', '30.0']])
    """
    have = [(r, errors_of(r.metrics["overall"])) for r in runs]
    have = [(r, e) for r, e in have if e]
    if not have:
        return None
    kinds = error_kinds(e for _, e in have)
    cols = ["run"] + [f"{error_label(k)} %" for k in kinds]
    return Table("Error types", cols, [[r.label] + [pct(e.get(k)) for k in kinds] for r, e in have],
                 note="Shares of all samples. Calculation error: wrong final answer with an arithmetic step "
                      "found wrong; reasoning error: wrong final answer although every step checks out; "
                      "truncated: the sample hit the token limit.")


def step_fit_table(runs: list[EvalRun]) -> Table | None:
    """Fitted Acc_step (with its 95% interval) and RMSE per run, with observed vs fitted accuracy at
    each step count; a fit the producer could not make (``acc_step`` null) shows "—".

    >>> from pathlib import Path
    >>> r = EvalRun(Path("ev"), "m", {"overall": {}, "step_fit": {"acc_step": None, "ci95": None}})
    >>> step_fit_table([r]).rows
    [['m', 'observed', '—', '-'], ['m', 'fit Acc_step^s', '—', '']]
    >>> r = EvalRun(Path("ev"), "m", {"overall": {}, "step_fit": None, "by_steps": {"2": {"pass_ratio@N": 0.0}}})
    >>> step_fit_table([r]).rows[0]
    ['m', 'observed', '—', '-', '0.0']
    """
    have = []
    for r in runs:
        sf = r.metrics.get("step_fit")
        if sf is None and "step_fit" in r.metrics and groups(r, "by_steps"):
            sf = {}  # step counts known but no fit possible (nothing correct): show "—", never 0
        if isinstance(sf, dict):
            acc = num(sf.get("acc_step"))
            ci = pair(sf.get("ci95"))
            have.append((r, acc, ci, num(sf.get("rmse")), observed_steps(r.metrics, _curve(sf.get("by_steps")))))
    if not have:
        return None
    steps = sorted({s for *_, obs in have for s, _, _ in obs})
    cols = ["run", "", "Acc_step %", "RMSE pp"] + [f"s={s}" for s in steps]
    rows = []
    for r, acc, ci, rmse, obs in have:
        o = {s: (y, c) for s, y, c in obs}
        rmse_s = "-" if rmse is None else f"{100 * rmse:.1f}"
        acc_s = DASH if acc is None else pct_ci(acc, ci)
        rows.append([r.label, "observed", acc_s, rmse_s] + [pct_ci(*o[s]) if s in o else "-" for s in steps])
        rows.append([r.label, "fit Acc_step^s", DASH if acc is None else "", ""]
                    + [DASH if acc is None else pct(acc ** s) for s in steps])
    return Table("Step fit: Acc_final = Acc_step ^ s", cols, rows,
                 note="Accuracy in %, by the number of reasoning steps s in the GSM8K reference solution; "
                      "[lo, hi]: 95% interval; —: no fit possible (too few step groups or no variation).")
