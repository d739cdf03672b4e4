"""Assemble the report: load the folders, make the plots and tables, write HTML and Markdown."""

from __future__ import annotations

import time
from pathlib import Path

from mathsynth.contracts import REJECT_STAGES
from mathsynth.io import atomic_write_text
from mathsynth.report import eval_plots as ep
from mathsynth.report import eval_tables as et
from mathsynth.report import scale_plots as sp
from mathsynth.report import scale_tables as st
from mathsynth.report.browser import write_browser
from mathsynth.report.doc import Link, Plot, Section, Table, pct, rel_href
from mathsynth.report.intervals import has_ci
from mathsynth.report.load import EvalRun, Inputs, ScaleStudy, SynthRun, load_inputs, slug
from mathsynth.report.render import to_html, to_markdown


def _plot(section: Section, path: Path | None, caption: str, written: list[Path]) -> None:
    if path is not None:
        section.add(Plot(path, caption))
        written.append(path)


def _eval_section(runs: list[EvalRun], out: Path, plots: Path, written: list[Path]) -> list[Section]:
    many = len(runs) > 1
    who = "each run" if many else "the run"
    main = Section("Evaluation runs")
    main.add(et.overview_table(runs, out))
    _plot(main, ep.plot_passk(runs, plots / "eval_passk.png"),
          f"pass@k and maj@k against k (log2 axis) for {who}.", written)
    main.add(et.passk_table(runs))
    out_sections = [main]
    for key in ("by_level", "by_steps", "by_subject"):
        name = ep.BREAKDOWN_AXIS[key]
        sec = Section(f"Evaluation by {name}")
        whiskers = has_ci(v for r in runs for v in ep.groups(r, key).values())
        _plot(sec, ep.plot_breakdown(runs, key, plots / f"eval_{key}.png"),
              f"Pass@1, PassRatio@N and Pass@N per {name}"
              + (", bars grouped by run" if sum(bool(ep.groups(r, key)) for r in runs) > 1 else "")
              + ("; whiskers: 95% intervals." if whiskers else "."), written)
        sec.add(et.breakdown_table(runs, key))
        _plot(sec, ep.plot_errors_by(runs, key, plots / f"eval_errors_{key}.png"),
              f"Error types per {name}.", written)
        if sec.items:
            out_sections.append(sec)
    err = Section("Error types")
    _plot(err, ep.plot_errors(runs, plots / "eval_errors.png"),
          f"Shares of all samples by outcome for {who}.", written)
    err.add(et.errors_table(runs))
    fit = Section("Accuracy vs reasoning steps")
    _plot(fit, ep.plot_step_fit(runs, plots / "eval_step_fit.png"),
          "Observed accuracy per GSM8K step count (dots) and the fitted Acc_final = Acc_step^s (lines).",
          written)
    fit.add(et.step_fit_table(runs))
    return out_sections + [s for s in (err, fit) if s.items]


def _scale_section(study: ScaleStudy, idx: int, out: Path, plots: Path, written: list[Path]) -> Section:
    d = study.data
    sec = Section(f"Scaling study: {study.label}")
    facts = [f"folder {study.path}"]
    if isinstance(d.get("n"), int):
        facts.append(f"N = {d['n']} samples per problem")
    if isinstance(d.get("sizes"), list):
        facts.append("sizes " + ", ".join(str(s) for s in d["sizes"]))
    sec.add("; ".join(facts) + ".")
    prefix = f"scale{idx}"
    used: set[str] = set()
    for bench in sp.benchmarks(study):
        # Distinct benchmarks may slug alike ("a/b", "a-b"); a counter keeps their PNGs apart.
        b = slug(bench)
        b = b if b not in used else f"{b}-{len(used)}"
        used.add(b)
        _plot(sec, sp.plot_metrics_vs_size(study, bench, plots / f"{prefix}_{b}_metrics.png"),
              f"{bench}: Pass@1, PassRatio@N and Pass@N against fine-tuning data size (log x); dots are "
              "measurements (whiskers: 95% intervals where recorded), solid lines the fitted log-linear "
              "trends, the dashed line the base model (band: its interval).",
              written)
        for key in ("by_level", "by_steps"):
            _plot(sec, sp.plot_groups_vs_size(study, bench, key, plots / f"{prefix}_{b}_{key}.png"),
                  f"{bench}: Pass@1 per {sp.GROUP_AXIS[key]} against data size.", written)
        _plot(sec, sp.plot_errors_vs_size(study, bench, plots / f"{prefix}_{b}_errors.png"),
              f"{bench}: error types per data size.", written)
    _plot(sec, sp.plot_acc_step_vs_size(study, plots / f"{prefix}_acc_step.png"),
          "Fitted per-step accuracy Acc_step against data size.", written)
    sec.add(st.points_table(study, out))
    sec.add(st.fits_table(study))
    sec.add(st.real_vs_synthetic_table(study))
    comps = d.get("comparisons")
    if isinstance(comps, list):
        sec.add(st.comparisons_table(comps))
    return sec


def _synth_section(synths: list[SynthRun], out: Path) -> Section:
    """Counts per synthesis folder; the browser shows every item and why it was rejected."""
    found = {str(k) for s in synths if isinstance(s.stats.get("rejects_by_stage"), dict)
             for k in s.stats["rejects_by_stage"]}
    stages = [k for k in REJECT_STAGES if k in found] + sorted(found - set(REJECT_STAGES))
    rows = []
    for s in synths:
        stats = s.stats
        by = stats.get("rejects_by_stage") if isinstance(stats.get("rejects_by_stage"), dict) else {}
        rate = stats.get("acceptance_rate")
        rows.append([s.label, Link(s.path.name or str(s.path), rel_href(s.path, out)),
                     *(str(stats.get(k, "-")) for k in ("units", "accepted", "rejected")),
                     pct(rate) if isinstance(rate, int | float) else "-"]
                    + [str(by.get(k, 0)) for k in stages])
    sec = Section("Synthesis runs")
    sec.add(Table("Synthesis", ["run", "folder", "units", "accepted", "rejected", "accepted %"]
                  + [f"rejected at {k}" for k in stages], rows,
                  note="From each folder's stats.json (empty when the run has not finished)."))
    return sec


def _browser_section(res: dict, out: Path) -> Section:
    sec = Section("Sample browser")
    what = []
    if res["problems"]:
        what.append(f"{res['problems']} problems with all {res['samples']} samples"
                    + (f" of {res['runs']} runs side by side, with the problems fixed and broken between "
                       "any two of them" if res["runs"] > 1 else ""))
    if res["synth_items"]:
        what.append(f"{res['synth_items']} synthesis items with why each was kept or rejected")
    sec.add("Every sample with its extracted answer, verdict and error type, filters and search, in one "
            "self-contained page (works offline, from file://): " + "; ".join(what) + ".")
    size = res["bytes"]
    size_s = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"
    sec.add(Link(f"Open the sample browser ({res['path'].name}, {size_s})", rel_href(res["path"], out)))
    return sec


def build_report(dirs: list[str | Path], out: str | Path, *, title: str | None = None) -> dict:
    """Read eval and scaling-study folders and write ``out/report.html``, ``out/report.md``, ``out/plots/``.

    Also writes ``out/browser.html``, the sample browser (see :mod:`mathsynth.report.browser`), when
    an eval folder has ``samples.jsonl`` or a synthesis folder is given, and links it from both reports.

    Returns ``{"html": path, "md": path, "plots": [paths], "browser": path or None}``. Raises
    :class:`~mathsynth.errors.MathsynthError` naming the file when a folder holds no result file or
    a JSON file is malformed; missing optional data only drops the plot or table that needs it.

    >>> import json, tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> (tmp / "ev").mkdir()
    >>> _ = (tmp / "ev" / "metrics.json").write_text(json.dumps({"overall": {
    ...     "n_problems": 4, "n_samples": 2, "pass@1": 0.5, "pass@k": {"1": 0.5, "2": 0.75},
    ...     "pass@N": 0.75, "pass_ratio@N": 0.5, "maj@k": {"1": 0.5, "2": 0.5}, "no_answer_rate": 0.0},
    ...     "run": {"model": "toy", "benchmark": "demo"}}))
    >>> res = build_report([tmp / "ev"], tmp / "rep", title="Toy")
    >>> [pathlib.Path(p).name for p in res["plots"]], pathlib.Path(res["html"]).name
    (['eval_passk.png'], 'report.html')
    >>> "| toy / demo |" in pathlib.Path(res["md"]).read_text()
    True
    """
    got: Inputs = load_inputs(dirs)
    evals, studies = got.evals, got.studies
    out = Path(out)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    title = title or "mathsynth report"
    footer = f"Generated by mathsynth report on {time.strftime('%Y-%m-%d %H:%M:%S %Z')}."
    written: list[Path] = []
    sections: list[Section] = []
    browser = write_browser(got, out, title=f"{title}: samples", footer=footer)
    if browser is not None:
        sections.append(_browser_section(browser, out))
    if evals:
        sections += _eval_section(evals, out, plots, written)
    for i, study in enumerate(studies, start=1):
        sections.append(_scale_section(study, i, out, plots, written))
    if got.comparisons:
        comp = Section("Paired comparisons")
        for c in got.comparisons:
            comp.add(st.comparisons_table(c.items, title=f"Paired comparisons: {c.label}"))
        if comp.items:
            sections.append(comp)
    if got.synths:
        sections.append(_synth_section(got.synths, out))
    intro = [f"Built from {len(evals)} evaluation run(s), {len(studies)} scaling study(ies) and "
             f"{len(got.synths)} synthesis run(s): " + ", ".join(str(Path(d)) for d in dirs) + "."]
    html_path, md_path = out / "report.html", out / "report.md"
    atomic_write_text(html_path, to_html(title, intro, sections, out, footer))
    atomic_write_text(md_path, to_markdown(title, intro, sections, out, footer))
    return {"html": html_path, "md": md_path, "plots": written,
            "browser": browser["path"] if browser else None}
