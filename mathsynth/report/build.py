"""Assemble the report: load the folders, make the plots and tables, write HTML and Markdown."""

from __future__ import annotations

import time
from pathlib import Path

from mathsynth.io import atomic_write_text
from mathsynth.report import eval_plots as ep
from mathsynth.report import eval_tables as et
from mathsynth.report import scale_plots as sp
from mathsynth.report import scale_tables as st
from mathsynth.report.doc import Plot, Section
from mathsynth.report.load import EvalRun, ScaleStudy, load_dirs, slug
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
        _plot(sec, ep.plot_breakdown(runs, key, plots / f"eval_{key}.png"),
              f"Pass@1, PassRatio@N and Pass@N per {name}"
              + (", bars grouped by run." if sum(bool(ep.groups(r, key)) for r in runs) > 1 else "."),
              written)
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
              "measurements, solid lines the fitted log-linear trends, the dashed line the base model.",
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
    return sec


def build_report(dirs: list[str | Path], out: str | Path, *, title: str | None = None) -> dict:
    """Read eval and scaling-study folders and write ``out/report.html``, ``out/report.md``, ``out/plots/``.

    Returns ``{"html": path, "md": path, "plots": [paths]}``. Raises
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
    evals, studies = load_dirs(dirs)
    out = Path(out)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    sections: list[Section] = []
    if evals:
        sections += _eval_section(evals, out, plots, written)
    for i, study in enumerate(studies, start=1):
        sections.append(_scale_section(study, i, out, plots, written))
    title = title or "mathsynth report"
    intro = [f"Built from {len(evals)} evaluation run(s) and {len(studies)} scaling study(ies): "
             + ", ".join(str(Path(d)) for d in dirs) + "."]
    footer = f"Generated by mathsynth report on {time.strftime('%Y-%m-%d %H:%M:%S %Z')}."
    html_path, md_path = out / "report.html", out / "report.md"
    atomic_write_text(html_path, to_html(title, intro, sections, out, footer))
    atomic_write_text(md_path, to_markdown(title, intro, sections, out, footer))
    return {"html": html_path, "md": md_path, "plots": written}
