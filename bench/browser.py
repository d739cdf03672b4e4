"""Benchmark: the sample browser for a large eval (default 5,000 problems x 16 samples) in headless Chromium.

Records are synthetic (made here, deterministic): GSM8K-like worked solutions of 300-1,000 characters
with numbers, arithmetic steps (some wrong), a final "The answer is" line, some cut off at the token
limit; real model output compresses about as well (prose with numbers). They are written as eval
folders (``samples.jsonl`` + ``metrics.json``), then :func:`mathsynth.report.browser.write_browser`
builds the page (timed), and Chromium opens it from file:// and reports, from the page's own
Performance entries: first contentful paint, the moment the problem list is rendered and usable
(``ms-ready``) and painted (``ms-painted``), the load event (every data chunk parsed); then the time to open a problem (its chunk
decoded, 16 samples x runs rendered), to apply a filter, and to search all completions.

Usage::

    PYTHONPATH=. .venv/bin/python bench/browser.py [--problems 5000] [--n 16] [--runs 1] [--keep DIR]

Needs /usr/bin/chromium and /usr/bin/chromedriver (``apt-get install chromium chromium-driver``)
and selenium (the dev extra). The last line printed is
``browser: P problems x N samples x R runs, S MB, first paint F ms, list painted L ms``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mathsynth.report.browser import write_browser  # noqa: E402
from mathsynth.report.load import load_inputs  # noqa: E402

WORDS = ["she", "buys", "bags", "of", "apples", "each", "costs", "dollars", "the", "farmer", "has", "cows", "sells", "eggs", "per", "day", "week", "total", "how", "many", "more", "than", "twice", "half", "remaining", "left", "after", "giving", "away", "friends", "share", "equally", "price", "discount", "percent", "saves", "spends", "earns", "hours", "minutes", "trip", "miles", "speed", "average", "tickets", "students", "class", "books", "pages", "reads", "first", "then", "next", "finally", "so", "therefore", "altogether"]
NAMES = ("Janet", "Tom", "Priya", "Mia", "Carlos", "Aiko", "Omar", "Lena")


def _sentence(rng: random.Random, wrong: bool) -> tuple[str, str]:
    """A sentence with one arithmetic step, and that step's text."""
    a, b = rng.randint(2, 99), rng.randint(2, 40)
    op = rng.choice("+-*")
    val = a + b if op == "+" else a - b if op == "-" else a * b
    if wrong:
        val += rng.choice((-3, -1, 1, 2, 10))
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16)))
    step = f"{a} {op} {b} = {val}"
    return f"{rng.choice(NAMES)} {words}, so {step} {rng.choice(WORDS)}.", step


def completion(rng: random.Random, gold: int) -> tuple[str, str | None, bool, str, list | None]:
    """(text, extracted, verdict, finish reason, span of the wrong step) of one synthetic sample."""
    wrong_step = rng.random() < 0.3
    parts = [_sentence(rng, wrong_step and i == 1) for i in range(rng.randint(3, 8))]
    text = " ".join(p for p, _ in parts)
    start = text.find(parts[1][1]) if wrong_step else -1
    span = [start, start + len(parts[1][1])] if start >= 0 else None
    if rng.random() < 0.08:  # cut off at the token limit: no final answer
        cut = rng.randint(200, 600)
        return text[:cut], None, False, "length", span if span and span[1] <= cut else None
    answer = gold if rng.random() < 0.45 else gold + rng.randint(1, 20)
    return text + f"\nThe answer is: {answer}.", str(answer), answer == gold, "stop", span


def _kind(c: tuple) -> str:
    text, extracted, verdict, finish, span = c
    return ("correct" if verdict else "truncated" if finish == "length" else "no_answer" if extracted is None
            else "calculation" if span else "reasoning")


def write_run(folder: Path, model: str, problems: int, n: int, seed: int, stored_steps: bool) -> None:
    rng = random.Random(seed)
    qrng = random.Random(0)  # the same questions in every run
    folder.mkdir(parents=True, exist_ok=True)
    right = 0
    with open(folder / "samples.jsonl", "w", encoding="utf-8") as fh:
        for i in range(problems):
            gold = qrng.randint(5, 500)
            question = " ".join(_sentence(qrng, False)[0] for _ in range(qrng.randint(2, 4))) + " How many?"
            comps = [completion(rng, gold) for _ in range(n)]
            right += sum(c[2] for c in comps)
            # What the eval stage can store per sample (it runs the step checker anyway): then the
            # report need not re-check 80,000 completions.
            stored = {"error_types": [_kind(c) for c in comps],
                      "first_wrong_step": [None if c[2] else c[4] for c in comps]} if stored_steps else {}
            fh.write(json.dumps({**stored,
                "id": f"bench/test/{i}", "benchmark": "bench", "split": "test", "question": question,
                "gold": str(gold), "meta": {"steps": qrng.randint(1, 8)},
                "completions": [c[0] for c in comps], "extracted": [c[1] for c in comps],
                "verdicts": [c[2] for c in comps], "finish_reasons": [c[3] for c in comps],
                "rules": ["answer_is" if c[1] else None for c in comps], "keys": [c[1] for c in comps],
                "errors": [None] * n, "greedy": None}) + "\n")
    (folder / "metrics.json").write_text(json.dumps({
        "run": {"model": model, "benchmark": "bench"},
        "overall": {"n_problems": problems, "n_samples": n, "pass_ratio@N": right / (problems * n)}}))


def measure(page: Path, profile: Path) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--window-size=1280,900", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        t0 = time.perf_counter()
        driver.get(page.resolve().as_uri())  # returns after the load event
        wall = time.perf_counter() - t0
        perf = driver.execute_script("""
            const nav = performance.getEntriesByType('navigation')[0];
            const fcp = performance.getEntriesByName('first-contentful-paint')[0];
            const ready = performance.getEntriesByName('ms-ready')[0];
            const painted = performance.getEntriesByName('ms-painted')[0];
            return {fcp: fcp ? fcp.startTime : null, ready: ready ? ready.startTime : null,
                    list_painted: painted ? painted.startTime : null,
                    dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd};""")
        open_ms = driver.execute_async_script("""
            const done = arguments[arguments.length - 1], t = performance.now();
            document.querySelector('.prob .head').click();
            (function poll() { if (document.querySelector('.prob .sample')) done(performance.now() - t);
                               else setTimeout(poll, 5); })();""")
        filter_ms = driver.execute_script("""
            const t = performance.now(), s = document.getElementById('e-pattern');
            s.value = 'none'; s.dispatchEvent(new Event('change'));
            return performance.now() - t;""")
        search_ms = driver.execute_async_script("""
            const done = arguments[arguments.length - 1], t = performance.now();
            document.getElementById('e-qc').checked = true;
            const q = document.getElementById('e-q'); q.value = 'farmer'; q.dispatchEvent(new Event('input'));
            const c = document.getElementById('e-count');
            (function poll() { if (/^Showing/.test(c.textContent) && performance.now() - t > 250)
                                   done(performance.now() - t);
                               else setTimeout(poll, 10); })();""")
        return {**perf, "wall_s": wall, "open_ms": open_ms, "filter_ms": filter_ms,
                "search_ms_incl_200ms_debounce": search_ms}
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", type=int, default=5000)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--runs", type=int, default=1, help="eval runs side by side (base, students)")
    ap.add_argument("--keep", type=Path, help="write the folders and the page here instead of a temp dir")
    ap.add_argument("--no-stored-steps", action="store_true",
                    help="records without per-sample error types and wrong-step spans: the report runs the "
                         "step checker on every wrong sample (what older samples.jsonl files need)")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-browser-"))
    try:
        t0 = time.perf_counter()
        folders = []
        for r in range(args.runs):
            folders.append(work / f"run{r}")
            write_run(folders[-1], "base" if r == 0 else f"student-{r}", args.problems, args.n, seed=r + 1,
                      stored_steps=not args.no_stored_steps)
        print(f"records: {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        res = write_browser(load_inputs(folders), work / "report")
        print(f"write_browser: {time.perf_counter() - t0:.1f}s, {res['bytes'] / 1e6:.1f} MB, "
              f"{res['problems']} problems, {res['samples']} samples")
        m = measure(res["path"], work / "chromium-profile")
        print("chromium:", json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in m.items()}))
        print(f"browser: {args.problems} problems x {args.n} samples x {args.runs} runs, {res['bytes'] / 1e6:.1f} MB, "
              f"first paint {m['fcp']:.0f} ms, list painted {m['list_painted']:.0f} ms")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
