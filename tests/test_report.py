"""mathsynth.report: reports from real eval folders and a hand-made scaling study, checked on disk and
in a headless browser; bad input gives a MathsynthError naming the file."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, data_dir, needs_data

from mathsynth.errors import MathsynthError
from mathsynth.report import build_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_eval(out: Path, benchmark: str, *extra: str) -> Path:
    """A real eval folder from the instant ``fake`` backend, made through the CLI like a user would."""
    env = dict(os.environ)
    if data_dir() is not None:
        env["MATHSYNTH_DATA_DIR"] = str(data_dir())
    cmd = [sys.executable, "-m", "mathsynth.cli", "eval", "--model", "fake", "--benchmark", benchmark,
           "--n", "4", "--out", str(out), *extra]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "metrics.json").is_file()
    return out


@pytest.fixture(scope="module")
def demo_eval(tmp_path_factory) -> Path:
    return run_eval(tmp_path_factory.mktemp("ev") / "demo", "demo")


def _group(acc: float) -> dict:
    return {"pass@1": acc, "pass_ratio@N": acc * 0.9, "pass@N": min(1.0, acc * 2), "n_problems": 5}


def _errors(acc: float) -> dict:
    rest = 1 - acc
    return {"correct": acc, "calculation": rest / 2, "reasoning": rest / 3, "no_answer": rest / 6}


def write_scale(folder: Path, *, model: str = "tiny-model") -> Path:
    """A small scale.json per the producer's spec: base plus synthetic and real at two sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    points = []
    for data, size, acc in [("base", 0, 0.10), ("synthetic", 250, 0.20), ("synthetic", 1000, 0.30),
                            ("real", 250, 0.18), ("real", 1000, 0.24)]:
        points.append({
            "data": data, "size": size, "benchmark": "gsm8k", "eval_dir": f"evals/gsm8k-{data}-{size}",
            "pass@1": acc, "pass_ratio@N": acc * 0.9, "pass@N": min(1.0, 2 * acc), "no_answer_rate": 0.05,
            "by_level": {},
            "by_steps": {str(s): _group(acc ** (s / 3)) for s in (2, 3, 4)},
            "errors": _errors(acc),
            "step_fit": {"acc_step": acc ** (1 / 3), "rmse": 0.01,
                         "by_steps": {str(s): acc ** (s / 3) for s in (2, 3, 4)}},
        })
        # MATH points carry levels but, like the producer, no step fit and no error split.
        points.append({
            "data": data, "size": size, "benchmark": "math500", "eval_dir": f"evals/math500-{data}-{size}",
            "pass@1": acc / 2, "pass_ratio@N": acc / 2.2, "pass@N": acc, "no_answer_rate": 0.1,
            "by_level": {str(lv): _group(acc / lv) for lv in (1, 2, 3, 4, 5)}, "by_steps": {},
            "errors": None, "step_fit": None,
        })
    fits = {f"{b}/{k}/{m}": {"slope": 0.1, "intercept": -0.05, "r2": 1.0}
            for b in ("gsm8k", "math500") for k in ("synthetic", "real")
            for m in ("pass@1", "pass_ratio@N", "pass@N")}
    spec = {"model": model, "n": 4, "benchmarks": ["gsm8k", "math500"], "sizes": [250, 1000],
            "points": points, "fits": fits}
    (folder / "scale.json").write_text(json.dumps(spec, indent=1))
    return folder


def _ci(cell: dict, half: float = 0.05) -> dict:
    """The interval keys a newer producer adds to an aggregate cell: value ± ``half``, clipped to [0, 1]."""
    ci = {m: [max(0.0, cell[m] - half), min(1.0, cell[m] + half)] for m in ("pass@1", "pass_ratio@N", "pass@N")
          if m in cell}
    return {**cell, "ci95": ci, "ci_method": {"pass@1": "wilson", "pass@N": "wilson",
                                              "pass_ratio@N": "bootstrap"},
            "small_cell": cell.get("n_problems", 100) < 30}


def write_scale_with_intervals(folder: Path) -> Path:
    """The same study as a newer producer writes it: intervals, small cells, Pass@1 source, slope
    statistics, a constant series (r2 null), a failed step fit (acc_step null) and paired comparisons."""
    write_scale(folder)
    spec = json.loads((folder / "scale.json").read_text())
    for p in spec["points"]:
        p.update(_ci(p))
        p["pass@1_source"] = "greedy"
        p["by_steps"] = {g: _ci(v) for g, v in p["by_steps"].items()}
        p["by_level"] = {g: _ci(v) for g, v in p["by_level"].items()}
        if p["step_fit"]:
            a = p["step_fit"]["acc_step"]
            p["step_fit"].update(ci95=[a - 0.02, a + 0.02], method="binomial-mle")
        if p["benchmark"] == "gsm8k" and p["data"] == "base":
            p["step_fit"] = {"acc_step": None, "ci95": None, "method": "binomial-mle"}
    for key, f in spec["fits"].items():
        f.update(slope_ci95=[0.04, 0.16], slope_per_doubling=0.0301, slope_per_doubling_ci95=[0.012, 0.048],
                 p_value=0.0004)
        if key == "math500/real/pass@N":
            f.update(slope=0.0, r2=None, p_value=1.0, slope_ci95=[0.0, 0.0], slope_per_doubling=0.0,
                     slope_per_doubling_ci95=[0.0, 0.0])
    spec["comparisons"] = [
        {"a": "base", "b": "synthetic-1000", "benchmark": "gsm8k", "metric": "pass@1", "diff": 0.2,
         "ci95": [0.12, 0.28], "p_value": 0.00002, "test": "mcnemar-exact", "n_problems": 120, "a_only": 3,
         "b_only": 27},
        {"a": "real-1000", "b": "synthetic-1000", "benchmark": "gsm8k", "metric": "pass_ratio@N", "diff": 0.054,
         "ci95": [-0.01, 0.118], "p_value": 0.11, "test": "paired-bootstrap", "n_problems": 120}]
    (folder / "scale.json").write_text(json.dumps(spec, indent=1))
    return folder


def img_sources(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', html)


def check_report(res: dict, out: Path) -> tuple[str, str]:
    """Both files exist, every <img> is an existing non-empty PNG, the md links the same PNGs."""
    html_path, md_path = Path(res["html"]), Path(res["md"])
    assert html_path == out / "report.html" and md_path == out / "report.md"
    html, md = html_path.read_text(), md_path.read_text()
    srcs = img_sources(html)
    assert srcs, "no plots in the report"
    for src in srcs:
        assert src.startswith("plots/") and "://" not in src
        png = out / src
        assert png.is_file() and png.stat().st_size > 1000, src
        assert png.read_bytes()[:8] == PNG_MAGIC, src
    assert sorted(srcs) == sorted(Path(p).relative_to(out).as_posix() for p in res["plots"])
    assert sorted(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)) == sorted(srcs)
    assert "<script" not in html and "http://" not in html and "https://" not in html
    return html, md


def test_demo_eval_report(demo_eval, tmp_path):
    out = tmp_path / "rep"
    res = build_report([demo_eval], out, title="Demo report")
    html, md = check_report(res, out)
    names = {Path(p).name for p in res["plots"]}
    assert {"eval_passk.png", "eval_by_level.png", "eval_by_steps.png", "eval_by_subject.png"} <= names
    assert "<title>Demo report</title>" in html and "<table>" in html
    assert "### Runs" in md and "| fake / demo |" in md
    assert "### By MATH level" in md and "### pass@k and maj@k" in md
    # The metrics table values are the file's values, in percent.
    # (with the 95% interval in brackets where the file records one).
    overall = json.loads((demo_eval / "metrics.json").read_text())["overall"]
    ci = overall.get("ci95", {}).get("pass@1")
    cell = f"{100 * overall['pass@1']:.1f}" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")
    assert f"| {cell} |" in md


@needs_data
def test_eval_reports_side_by_side(tmp_path):
    math = run_eval(tmp_path / "ev_math", "math500", "--limit", "20")
    gsm = run_eval(tmp_path / "ev_gsm", "gsm8k", "--limit", "20")
    out = tmp_path / "rep"
    res = build_report([math, gsm], out)
    html, md = check_report(res, out)
    assert "fake / math500" in md and "fake / gsm8k" in md
    names = {Path(p).name for p in res["plots"]}
    assert {"eval_passk.png", "eval_by_level.png", "eval_by_steps.png"} <= names
    metrics = json.loads((gsm / "metrics.json").read_text())
    # errors / step_fit are newer keys: their plots appear exactly when the metrics carry them.
    assert ("eval_errors.png" in names) == bool(metrics["overall"].get("errors"))
    assert ("eval_step_fit.png" in names) == bool(metrics.get("step_fit"))


def test_scale_report(tmp_path):
    study = write_scale(tmp_path / "study")
    # One point's eval folder is present: the points table links its metrics.json.
    (study / "evals" / "gsm8k-real-250").mkdir(parents=True)
    (study / "evals" / "gsm8k-real-250" / "metrics.json").write_text('{"overall": {}}')
    out = tmp_path / "rep"
    res = build_report([study], out)
    html, md = check_report(res, out)
    names = {Path(p).name for p in res["plots"]}
    assert {"scale1_gsm8k_metrics.png", "scale1_math500_metrics.png", "scale1_gsm8k_by_steps.png",
            "scale1_math500_by_level.png", "scale1_gsm8k_errors.png", "scale1_acc_step.png"} == names
    for title in ("### Points", "### Log-linear fits", "### Synthetic vs real data at equal sizes"):
        assert title in md
    assert "| gsm8k | 1000 | 30.0 | 24.0 | +6.0 |" in md  # Pass@1 synthetic vs real, Δ in pp
    # A file without interval keys: bare values; the slope per doubling is derived (x log10 2).
    assert "| gsm8k | synthetic | Pass@1 | +10.0 | +3.0 | -5.0 | 1.000 | - |" in md
    assert not re.search(r"\d \[[-+]?\d", md.split("### Points")[1].split("###")[0])
    assert '<a href="../study/evals/gsm8k-real-250/metrics.json">' in html


def test_scale_report_shows_intervals(tmp_path):
    study = write_scale_with_intervals(tmp_path / "study")
    out = tmp_path / "rep"
    res = build_report([study], out)
    html, md = check_report(res, out)
    # Points: value [lo, hi] in percent, Pass@1 labelled greedy, the failed step fit as a dash.
    assert "| benchmark | data | size | Pass@1 (greedy) % | PassRatio@4 % | Pass@4 % |" in md
    assert "| gsm8k | synthetic | 1000 | 30.0 [25.0, 35.0] | 27.0 [22.0, 32.0] | 60.0 [55.0, 65.0] |" in md
    assert "| gsm8k | base | base | 10.0 [5.0, 15.0] | 9.0 [4.0, 14.0] | 20.0 [15.0, 25.0] | 5.0 | — |" in md
    # The fit: per 10x and per doubling with intervals, R² and p; a constant series has R² "—".
    assert ("| gsm8k | synthetic | Pass@1 | +10.0 [+4.0, +16.0] | +3.0 [+1.2, +4.8] | -5.0 | 1.000 | <0.001 |"
            in md)
    assert "| math500 | real | Pass@4 | +0.0 [+0.0, +0.0] | +0.0 [+0.0, +0.0] | -5.0 | — | 1.000 |" in md
    assert "### Paired comparisons" in md
    assert ("| gsm8k | Pass@1 | base | synthetic-1000 | +20.0 [+12.0, +28.0] | <0.001 | mcnemar-exact | 120 | 3 | 27 |"
            in md)
    assert ("| gsm8k | PassRatio@N | real-1000 | synthetic-1000 | +5.4 [-1.0, +11.8] | 0.110 | paired-bootstrap "
            "| 120 | - | - |") in md
    # The same cells in HTML, right-aligned like any number.
    assert '<td class="num">30.0 [25.0, 35.0]</td>' in html and '<td class="num">—</td>' in html


def test_eval_report_intervals_small_cells_and_error_kinds(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    overall = _ci({"n_problems": 200, "n_samples": 4, "pass@1": 0.25, "pass_ratio@N": 0.2, "pass@N": 0.5,
                   "pass@k": {"1": 0.2, "2": 0.3, "4": 0.5}, "maj@k": {"1": 0.2, "4": 0.26},
                   "no_answer_rate": 0.1, "truncated_rate": 0.08, "pass@1_source": "first_sample"})
    overall["ci95"].update({"pass@k": {"1": [0.15, 0.25], "2": [0.24, 0.36], "4": [0.43, 0.57]},
                            "maj@k": {"1": [0.15, 0.25], "4": [0.2, 0.32]}})
    # Error kinds come from the file: "truncated" and a kind this report has never heard of.
    overall["errors"] = {"no_answer": 0.02, "looping": 0.05, "truncated": 0.08, "reasoning": 0.4,
                         "calculation": 0.25, "correct": 0.2}
    by_steps = {str(s): _ci({"n_problems": n, "pass@1": 0.5 / s, "pass_ratio@N": 0.4 / s, "pass@N": 0.9 / s})
                for s, n in ((2, 150), (3, 12))}
    (ev / "metrics.json").write_text(json.dumps({
        "overall": overall, "by_steps": by_steps, "run": {"model": "m", "benchmark": "gsm8k"},
        "step_fit": {"acc_step": None, "ci95": None, "method": "binomial-mle"}}))
    out = tmp_path / "rep"
    res = build_report([ev], out)
    html, md = check_report(res, out)
    assert "| Pass@1 (first sample) % |" in md and "| 25.0 [20.0, 30.0] | 20.0 [15.0, 25.0] |" in md
    assert "| 4 | 50.0 [43.0, 57.0] | 26.0 [20.0, 32.0] |" in md  # pass@k and maj@k at k = 4
    assert "| 8.0 | first sample |" in md  # truncated %, then how Pass@1 was measured
    # The 12-problem step group is flagged small, the 150-problem one is not; the note says why.
    assert "| 3 | 12 | 16.7 [11.7, 21.7]† |" in md and "| 2 | 150 | 25.0 [20.0, 30.0] |" in md
    assert "† fewer than 30 problems" in md
    cols = re.search(r"### Error types\n\n(\|.*\|)\n", md).group(1)
    assert cols == ("| run | correct % | calculation error % | reasoning error % | truncated (token limit) % | "
                    "no answer % | looping % |")
    assert "| m / gsm8k | observed | — |" in md  # the step fit the producer could not make
    assert "eval_errors.png" in {Path(p).name for p in res["plots"]}


def test_compare_file_in_report(tmp_path):
    cmp = tmp_path / "cmp.json"
    cmp.write_text(json.dumps({"comparisons": [
        {"a": "base", "b": "student", "benchmark": "demo", "metric": "pass@N", "diff": -0.03125,
         "ci95": [-0.1, 0.04], "p_value": 1.0, "test": "mcnemar-exact", "n_problems": 32, "a_only": 2,
         "b_only": 1}]}))
    out = tmp_path / "rep"
    res = build_report([write_scale(tmp_path / "study"), cmp], out)
    md = Path(res["md"]).read_text()
    assert "### Paired comparisons: cmp" in md
    assert "| demo | Pass@N | base | student | -3.1 [-10.0, +4.0] | 1.000 | mcnemar-exact | 32 | 2 | 1 |" in md
    (tmp_path / "bad.json").write_text('{"points": []}')
    with pytest.raises(MathsynthError, match="'comparisons' list"):
        build_report([tmp_path / "bad.json"], tmp_path / "rep2")


def test_mixed_report_and_escaping(demo_eval, tmp_path):
    study = write_scale(tmp_path / "study", model="<b>evil</b> & co")
    out = tmp_path / "rep"
    res = build_report([demo_eval, study], out, title="A <script> title")
    html, _ = check_report(res, out)
    assert "<b>evil</b>" not in html and "&lt;b&gt;evil&lt;/b&gt; &amp; co" in html
    assert "<script>" not in html and "A &lt;script&gt; title" in html
    names = {Path(p).name for p in res["plots"]}
    assert "eval_passk.png" in names and "scale1_gsm8k_metrics.png" in names


def test_missing_optional_keys_skip_plots(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "metrics.json").write_text(json.dumps({"overall": {"n_problems": 3, "pass@1": 0.5}}))
    study = tmp_path / "study"
    study.mkdir()
    (study / "scale.json").write_text(json.dumps({"points": [
        {"data": "real", "size": 100, "benchmark": "gsm8k", "pass@1": "n/a"}]}))
    out = tmp_path / "rep"
    res = build_report([ev, study], out)
    assert res["plots"] == []
    md = Path(res["md"]).read_text()
    assert "| ev |" in md and "### Points" in md  # label falls back to the folder name


@pytest.mark.parametrize("content, why", [
    ('{"overall": ', "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"run": {}}', "no 'overall' object"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_bad_metrics_names_file(tmp_path, content, why):
    ev = tmp_path / "ev"
    ev.mkdir()
    f = ev / "metrics.json"
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(MathsynthError, match=re.escape(str(f))) as exc:
        build_report([ev], tmp_path / "rep")
    assert why in str(exc.value)


@pytest.mark.parametrize("spec, why", [
    ({"model": "m"}, "'points' list"),
    ({"points": [1]}, "points[0]"),
    ({"points": [{"data": "real", "benchmark": "gsm8k"}]}, "'size'"),
    ({"points": [{"data": "real", "size": 5}]}, "'benchmark'"),
])
def test_bad_scale_names_file(tmp_path, spec, why):
    study = tmp_path / "study"
    study.mkdir()
    (study / "scale.json").write_text(json.dumps(spec))
    with pytest.raises(MathsynthError, match=re.escape(str(study / "scale.json"))) as exc:
        build_report([study], tmp_path / "rep")
    assert why in str(exc.value)


def test_folder_without_results(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MathsynthError, match=re.escape(str(empty)) + ".*neither metrics.json"):
        build_report([empty], tmp_path / "rep")
    with pytest.raises(MathsynthError, match="no such folder"):
        build_report([tmp_path / "missing"], tmp_path / "rep")
    with pytest.raises(MathsynthError, match="no result folders"):
        build_report([], tmp_path / "rep")
    assert not (tmp_path / "rep" / "report.html").exists()


def test_report_imports_no_stage():
    """Architecture rule: the report reads result files only (no evaluate/synth/train/scale imports)."""
    forbidden = ("mathsynth.evaluate", "mathsynth.synth", "mathsynth.train", "mathsynth.scale")
    for path in sorted((REPO / "mathsynth" / "report").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _browser_skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} missing (apt-get install chromium)"
    if not CHROMEDRIVER.exists():
        return f"{CHROMEDRIVER} missing (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium missing (pip install selenium)"
    return None


@pytest.mark.timeout(180)
@pytest.mark.skipif(_browser_skip_reason() is not None, reason=str(_browser_skip_reason()))
def test_report_renders_in_headless_chromium(demo_eval, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    study = write_scale(tmp_path / "study")
    out = tmp_path / "rep"
    res = build_report([demo_eval, study], out)
    expected = sorted(Path(p).relative_to(out).as_posix() for p in res["plots"])

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        driver.get(Path(res["html"]).resolve().as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        imgs = driver.execute_script(
            "return Array.from(document.images).map(i => ({src: i.getAttribute('src'), complete: i.complete,"
            " w: i.naturalWidth, h: i.naturalHeight}))")
        assert sorted(i["src"] for i in imgs) == expected
        broken = [i for i in imgs if not (i["complete"] and i["w"] > 0 and i["h"] > 0)]
        assert not broken, f"plots that did not load: {broken}"
        assert driver.execute_script("return document.querySelectorAll('table').length") >= 5
    finally:
        driver.quit()
