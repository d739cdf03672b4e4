"""The sample browser (browser.html): its data, escaping, and the page itself in headless Chromium on
hand-made eval runs (exact counts) and a real eval of the embedded model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_browser_support import (
    assert_not_blank,
    choose,
    chrome,
    js_errors,
    needs_chromium,
    open_page,
    shown,
    wait_count,
    write_eval,
)

from mathsynth.report import build_report
from mathsynth.report.browser import write_browser
from mathsynth.report.load import load_inputs
from mathsynth.report.samples import eval_columns, eval_payload

# Problem i of the base run (A) and the student (B): the kinds of its 4 samples.
C, W, T, R = "correct", "calculation", "truncated", "reasoning"
BASE = [[C, C, C, C], [W, R, W, R], [C, W, R, R], [R, C, C, W], [T, R, W, R], [C, C, R, C],
        [W, W, W, W], [R, R, C, R], [C, C, C, C], [R, T, W, R], [C, R, C, R], [W, R, R, R]]
STUDENT = [[C, C, C, C], [C, C, R, C], [W, W, R, R], [C, C, C, W], [C, R, C, R], [R, R, R, C],
           [W, C, W, W], [C, C, C, R], [C, C, C, T], [R, R, W, R], [C, C, C, C], [W, R, R, R]]
STUDENT_GREEDY = [C, C, W, C, C, R, W, C, C, R, C, "hostile"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hand")
    a = write_eval(root / "base", "base-model", BASE, hostile_question=5)
    b = write_eval(root / "student", "student-model", STUDENT, greedy=STUDENT_GREEDY, hostile_question=5)
    return a, b


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]


def _pass1(rec: dict) -> bool:
    return bool(rec["greedy"]["verdict"]) if rec.get("greedy") else bool(rec["verdicts"][0])


def test_payload_kinds_spans_and_columns(runs):
    a, b = runs
    cols = eval_columns(load_inputs([a, b]).evals, [])
    assert [c.label for c in cols] == ["base-model", "student-model"]
    index, details = eval_payload(cols)
    assert len(index) == 12 and [p["id"] for p in index] == [f"hand/test/{i}" for i in range(12)]
    assert details[0]["sol"].startswith("It sells 10 apples")
    for i, p in enumerate(index):
        for j, pats in enumerate((BASE, STUDENT)):
            c, n, p1, kinds = p["r"][j]
            assert (c, n) == (pats[i].count(C), 4)
            assert kinds == {k: pats[i].count(k) for k in set(pats[i])}
    # The calculation error's first wrong step is located exactly; a truncated sample says so.
    s = details[1]["runs"][0]["s"][0]
    assert s[5] == "calculation" and s[0][s[6]:s[7]] == "4 * 3 = 13"
    t = details[4]["runs"][0]["s"][0]
    assert t[5] == "truncated" and t[4] == "length" and t[1] is None
    assert details[2]["runs"][1]["g"][5] == "calculation"  # the student's greedy answer, classified too


def test_page_keeps_hostile_text_inert(runs, tmp_path):
    res = write_browser(load_inputs(list(runs)), tmp_path)
    page = res["path"].read_text()
    # Only the page's own elements: three scripts (meta, index, code) plus the data chunks.
    chunks = len(re.findall(r'<script type="text/plain" data-chunk=', page))
    assert page.count("<script") == 3 + chunks and page.count("</script>") == 3 + chunks
    assert "<img" not in page and "onerror" in page  # the text is there, escaped, never as markup
    assert "Content-Security-Policy" in page and "http://" not in page and "https://" not in page
    assert res["problems"] == 12 and res["runs"] == 2 and res["samples"] == 96


def test_report_links_the_browser(runs, tmp_path):
    res = build_report(list(runs), tmp_path / "rep")
    assert res["browser"] == tmp_path / "rep" / "browser.html" and res["browser"].is_file()
    html, md = Path(res["html"]).read_text(), Path(res["md"]).read_text()
    assert '<a href="browser.html">Open the sample browser' in html
    assert "](browser.html)" in md and "## Sample browser" in md
    assert "<script" not in html  # the report itself stays script-free


def test_no_browser_without_samples(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "metrics.json").write_text(json.dumps({"overall": {"pass@1": 0.5}}))
    res = build_report([ev], tmp_path / "rep")
    assert res["browser"] is None and "Sample browser" not in Path(res["md"]).read_text()


def test_study_columns_take_samples_from_the_sampled_twin(tmp_path):
    """A scaling study evaluates each student greedily (one answer) and, in ``<eval>@sampled``, with N
    samples: the browser shows the N samples with the greedy answer beside them."""
    study = tmp_path / "study"
    for label, kinds, greedy in [("base", BASE[:3], [C, W, R]), ("synthetic-64", STUDENT[:3], [C, C, W])]:
        rel = "base/hand" if label == "base" else f"{label}/eval/hand"
        write_eval(study / rel, label, [[g] for g in greedy])  # the greedy eval: its one answer
        write_eval(study / (rel + "@sampled"), label, kinds)
    points = [{"label": "base", "data": "base", "size": 0, "benchmark": "hand", "eval_dir": "base/hand"},
              {"label": "synthetic-64", "data": "synthetic", "size": 64, "benchmark": "hand",
               "eval_dir": "synthetic-64/eval/hand"}]
    (study / "scale.json").write_text(json.dumps({"model": "m", "points": points}))
    got = load_inputs([study])
    cols = eval_columns(got.evals, got.studies)
    assert [c.label for c in cols] == ["base", "synthetic-64"]
    index, details = eval_payload(cols)
    assert [p["r"][1][:3] for p in index] == [[4, 4, 1], [3, 4, 1], [0, 4, 0]]  # c, N, greedy verdict
    assert [d["runs"][0]["g"][5] for d in details] == ["correct", "calculation", "reasoning"]
    assert all(len(d["runs"][j]["s"]) == 4 for d in details for j in (0, 1))


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = chrome(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


@needs_chromium
@pytest.mark.timeout(300)
@pytest.mark.parametrize("compress", [False, True])
def test_browser_filters_flips_and_samples(runs, driver, tmp_path, compress):
    from selenium.webdriver.common.by import By

    a, b = runs
    # Compressed, in chunks of 5: problem 11 sits in the third chunk, decoded on first open.
    res = write_browser(load_inputs([a, b]), tmp_path, compress=compress, chunk=5)
    assert ('data-enc="gz"' in res["path"].read_text()) == compress
    open_page(driver, res["path"])
    assert shown(driver) == 12
    ra, rb = _records(a), _records(b)

    # Verdict pattern of the base run: none of the 4 samples right.
    choose(driver, "e-pattern", "none")
    wait_count(driver, sum(not any(r["verdicts"]) for r in ra))
    choose(driver, "e-run", "1")  # the same pattern, for the student
    wait_count(driver, sum(not any(r["verdicts"]) for r in rb))
    choose(driver, "e-pattern", "some")
    wait_count(driver, sum(0 < sum(r["verdicts"]) < 4 for r in rb))
    choose(driver, "e-pattern", "")
    choose(driver, "e-error", "truncated")
    wait_count(driver, sum("length" in r["finish_reasons"] for r in rb))
    choose(driver, "e-error", "")
    choose(driver, "e-run", "0")

    # Flips by Pass@1 (first sample for the base, greedy for the student), and the paired counts.
    fixed = [i for i in range(12) if not _pass1(ra[i]) and _pass1(rb[i])]
    broken = [i for i in range(12) if _pass1(ra[i]) and not _pass1(rb[i])]
    assert fixed and broken
    choose(driver, "e-flip", "fixed")
    wait_count(driver, len(fixed))
    ids = driver.execute_script("return [...document.querySelectorAll('#e-list .prob .pid')].map(e => e.textContent)")
    assert ids == [f"hand/test/{i}" for i in fixed]
    assert int(driver.find_element(By.CSS_SELECTOR, "#e-paired td.fixed").get_attribute("data-n")) == len(fixed)
    assert int(driver.find_element(By.CSS_SELECTOR, "#e-paired td.broken").get_attribute("data-n")) == len(broken)
    choose(driver, "e-flip", "broken")
    wait_count(driver, len(broken))
    choose(driver, "e-basis", "any")  # flips of "any sample right"
    wait_count(driver, sum(any(x["verdicts"]) and not any(y["verdicts"]) for x, y in zip(ra, rb, strict=True)))
    choose(driver, "e-basis", "p1")
    choose(driver, "e-flip", "")

    # Sorting by the student's pass ratio, lowest first.
    choose(driver, "e-run", "1")
    choose(driver, "e-sort", "asc")
    ids = driver.execute_script("return [...document.querySelectorAll('#e-list .prob .pid')].map(e => e.textContent)")
    ratios = [sum(rb[int(i.rsplit('/', 1)[1])]["verdicts"]) for i in ids]
    assert ratios == sorted(ratios)
    choose(driver, "e-sort", "")

    # Free-text search of a question, then of completions.
    box = driver.find_element(By.ID, "e-q")
    box.send_keys("sells 17 apples")
    wait_count(driver, 1)
    box.clear()
    box.send_keys("__pwned = 1")  # only in the student's greedy answer to problem 11
    wait_count(driver, 0)
    driver.find_element(By.ID, "e-qc").click()
    wait_count(driver, 1)
    assert driver.find_element(By.CSS_SELECTOR, "#e-list .prob .pid").text == "hand/test/11"
    box.clear()
    driver.find_element(By.ID, "e-qc").click()
    wait_count(driver, 12)

    # Open problem 11: 4 samples per run, plus the student's greedy answer; the wrong step is marked.
    row = driver.find_element(By.CSS_SELECTOR, '.prob[data-i="11"] .head')
    driver.execute_script("arguments[0].scrollIntoView()", row)
    row.click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, '.prob[data-i="11"] .sample'))
    cols = driver.find_elements(By.CSS_SELECTOR, '.prob[data-i="11"] .col')
    assert [len(c.find_elements(By.CSS_SELECTOR, ".sample")) for c in cols] == [4, 5]
    marks = driver.find_elements(By.CSS_SELECTOR, '.prob[data-i="11"] mark.wrong')
    assert marks and {m.text for m in marks} == {"4 * 3 = 13"}
    detail = driver.find_element(By.CSS_SELECTOR, '.prob[data-i="11"] .detail').text
    assert "#### 21" in detail and "</script><script>window.__pwned = 1</script>" in detail
    # Hostile text stayed text: no element was made from it, nothing ran.
    assert driver.execute_script("return document.images.length") == 0
    assert driver.execute_script("return window.__pwned === undefined")
    assert_not_blank(driver.get_screenshot_as_png())
    assert js_errors(driver) == []


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, small_model):
    """A real eval of the embedded model (3 demo problems, 2 samples, greedy first) and, on the same
    problems, a run of the instant fake backend: two columns to compare."""
    from mathsynth.backends.fake import FakeGenerator
    from mathsynth.config import EvalConfig
    from mathsynth.evaluate.runner import run_eval

    root = tmp_path_factory.mktemp("real")
    cfg = EvalConfig(model="smollm2-135m", benchmark="demo", limit=3, n=2, max_tokens=64, greedy_first=True,
                     out=str(root / "base"))
    run_eval(cfg, generator=small_model, show_progress=False)
    fake = cfg.model_copy(update={"model": "fake", "out": str(root / "fake")})
    run_eval(fake, generator=FakeGenerator(lambda req, i: f"2 + 2 = {4 + i}. The answer is: 23."),
             show_progress=False)
    return root / "base", root / "fake"


@pytest.mark.slow  # generation by the real model: minutes on a busy 2-core machine
@needs_chromium
@pytest.mark.timeout(3600)
def test_browser_on_a_real_eval_of_the_embedded_model(real_runs, driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, fake = real_runs
    res = build_report([base, fake], tmp_path / "rep")
    open_page(driver, res["browser"])
    assert shown(driver) == 3
    rb, rf = _records(base), _records(fake)
    assert [r["id"] for r in rb] == [r["id"] for r in rf]
    # Error types of the real samples, as the eval stage classified them (its metrics.json agrees).
    from mathsynth.evaluate.errors import classify

    kinds = [{classify(c, v, x, f) for c, v, x, f in zip(r["completions"], r["verdicts"], r["extracted"],
                                                         r["finish_reasons"], strict=True)} for r in rb]
    for kind in ("reasoning", "truncated", "no_answer"):
        if any(kind in k for k in kinds):
            choose(driver, "e-error", kind)
            wait_count(driver, sum(kind in k for k in kinds))
    choose(driver, "e-error", "")
    choose(driver, "e-flip", "fixed")  # A = the model, B = the fake run that always answers 23
    wait_count(driver, sum(not _pass1(a) and _pass1(b) for a, b in zip(rb, rf, strict=True)))
    choose(driver, "e-flip", "")
    box = driver.find_element(By.ID, "e-q")
    box.send_keys(rb[1]["question"][:40])
    wait_count(driver, 1)
    row = driver.find_element(By.CSS_SELECTOR, "#e-list .prob .head")
    row.click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#e-list .col"))
    cols = driver.find_elements(By.CSS_SELECTOR, "#e-list .col")
    assert [len(c.find_elements(By.CSS_SELECTOR, ".sample")) for c in cols] == [3, 3]  # greedy + N = 2
    texts = [e.text for e in cols[0].find_elements(By.CSS_SELECTOR, ".sample pre")]
    norm = [" ".join(t.replace(" [… output stopped at the token limit]", "").split()) for t in texts]
    want = [rb[1]["greedy"]["completion"], *rb[1]["completions"]]
    assert norm == [" ".join(t.split()) for t in want]
    truncated = [f == "length" for f in [rb[1]["greedy"]["finish_reason"], *rb[1]["finish_reasons"]]]
    shown_trunc = ["cut off at the token limit" in e.text for e in cols[0].find_elements(By.CSS_SELECTOR, ".sample .sh")]
    assert shown_trunc == truncated
    assert_not_blank(driver.get_screenshot_as_png())
    assert js_errors(driver) == []
