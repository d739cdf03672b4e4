"""Helpers for the sample-browser tests (no tests here): headless Chromium through selenium, and eval folders written
by hand in the exact schema of the eval stage's samples.jsonl (so counts can be checked exactly)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def browser_skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} missing (apt-get install chromium)"
    if not CHROMEDRIVER.exists():
        return f"{CHROMEDRIVER} missing (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium missing (pip install selenium)"
    return None


needs_chromium = pytest.mark.skipif(browser_skip_reason() is not None, reason=str(browser_skip_reason()))


def chrome(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


def open_page(driver, path: Path) -> None:
    """Load the page from file:// and wait until its script has rendered the list."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(Path(path).resolve().as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return window.__msReady === true"))


def shown(driver, count_id: str = "e-count") -> int:
    return int(driver.execute_script(f"return document.getElementById('{count_id}').dataset.n"))


def choose(driver, select_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, select_id)).select_by_value(value)


def wait_count(driver, expected: int, count_id: str = "e-count", timeout: float = 10) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: shown(d, count_id) == expected)


def js_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def assert_not_blank(png: bytes) -> None:
    """A screenshot with real content: many colours and no single colour covering nearly all of it."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    small = img.resize((img.width // 4, img.height // 4))
    colours = small.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20, "screenshot has almost no colours"
    top = max(c for c, _ in colours)
    assert top < 0.97 * small.width * small.height, "screenshot is (nearly) one colour"


def sample_text(kind: str, gold: int, i: int) -> tuple[str, str | None, bool, str]:
    """(completion, extracted, verdict, finish reason) of one hand-made sample of the given kind."""
    if kind == "correct":
        return f"We add {gold - i} + {i} = {gold}. The answer is: {gold}.", str(gold), True, "stop"
    if kind == "calculation":
        return f"First 2 + 2 = 4, then 4 * 3 = 13. The answer is: {gold + 1}.", str(gold + 1), False, "stop"
    if kind == "truncated":
        return "Let me think. 6 * 7 = 42 and then we", None, False, "length"
    if kind == "hostile":
        return ("</script><script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">"
                f" The answer is: {gold + 2}.", str(gold + 2), False, "stop")
    return f"We add 2 + 2 = 4. The answer is: {gold + 3}.", str(gold + 3), False, "stop"  # reasoning


def write_eval(folder: Path, model: str, patterns: list[list[str]], *, greedy: list[str] | None = None,
               hostile_question: int | None = None) -> Path:
    """An eval folder whose problem i has samples of the kinds in ``patterns[i]``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "samples.jsonl", "w", encoding="utf-8") as fh:
        for i, kinds in enumerate(patterns):
            gold = 10 + i
            samples = [sample_text(k, gold, j + 1) for j, k in enumerate(kinds)]
            q = f"Problem {i}: a shop sells {gold} apples. How many apples?"
            if i == hostile_question:
                q += " <img src=x onerror=\"window.__pwned=3\"> </script>"
            rec = {"id": f"hand/test/{i}", "benchmark": "hand", "split": "test", "question": q, "gold": str(gold),
                   "solution": f"It sells {gold} apples.\n#### {gold}",
                   "meta": {"steps": i % 3 + 1, "benchmark": "hand"},
                   "completions": [s[0] for s in samples], "extracted": [s[1] for s in samples],
                   "verdicts": [s[2] for s in samples], "finish_reasons": [s[3] for s in samples],
                   "rules": ["answer_is" if s[1] else None for s in samples], "keys": [s[1] for s in samples],
                   "errors": [None] * len(samples), "greedy": None}
            if greedy is not None:
                t, x, v, f = sample_text(greedy[i], gold, 0)
                rec["greedy"] = {"completion": t, "finish_reason": f, "extracted": x, "verdict": v,
                                 "rule": "answer_is" if x else None, "key": x}
            fh.write(json.dumps(rec) + "\n")
    (folder / "metrics.json").write_text(json.dumps({"run": {"model": model, "benchmark": "hand"},
                                                     "overall": {"n_problems": len(patterns)}}))
    return folder
