"""The synthesis view of the sample browser: a hand-made folder with every kind of reject, a real
symbolic run and a real LLM-teacher run (llama.cpp in process), in headless Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, data_dir, needs_data
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
from mathsynth.report.synth_data import synth_payload

SEED = "Natalia sold clips to 48 of her friends in April, and then half as many in May. How many in all?"
NEW = "Omar sold 30 pens in June and half as many in July. How many pens did he sell?"


def _unit(i: int, **kw) -> dict:
    return {"id": f"syn/gsm8k/train/{i}/0", "seed_id": f"gsm8k/train/{i}", "mode": "question-verify",
            "teacher": "openai:teacher", "style": "gsm8k", "seed_question": SEED,
            "raw_question": f"CREATED QUESTION:\n{NEW}\nVERIFICATION AND MODIFICATION:\nAll principles hold.\n"
                            f"FINAL CREATED QUESTION:\n{NEW}", **kw}


def write_synth(folder: Path) -> Path:
    """A synth folder as the synth stage leaves it: generated.jsonl plus the final files."""
    folder.mkdir(parents=True, exist_ok=True)
    ok = {"status": "candidate", "question": NEW, "solution": "He sold 30/2 = 15 in July, 30 + 15 = 45.",
          "answer": "45", "agreement": 1.0, "answers": ["30/2 = 15, 30 + 15 = 45. 45", "15 + 30 = 45. 45"],
          "answer_rejects": [None, None], "checks": {"steps_checked": 2, "agreement": 1.0, "answers": 2}}
    gen = [
        _unit(0, **ok),
        _unit(1, **ok),  # dedup removes it: the same question as unit 0
        _unit(2, **{**ok, "question": NEW.replace("pens", "cups")}),  # decontamination rejects it
        _unit(3, status="rejected", stage="question", reason="no header found", raw_question="Sure! Here you go."),
        _unit(4, question=NEW, status="rejected", stage="consistency", reason="answers agree 0.50 < 0.75",
              agreement=0.5, answers=["30 + 15 = 45. 45", "30 + 30 = 60. 60"], answer_rejects=[None, None]),
        _unit(5, question=NEW, status="rejected", stage="arithmetic", reason="wrong arithmetic step: 30/2 = 16",
              agreement=1.0, answers=["He sold 30/2 = 16, so 46. 46", "30/2 = 16; 46. 46"],
              answer_rejects=[None, None], checks={"steps_checked": 0, "wrong_steps_skipped": 2,
                                                   "first_wrong_step": "30/2 = 16", "agreement": 1.0}),
        _unit(6, question=NEW, status="rejected", stage="answer", reason="no parsable answer",
              answers=["I do not know.", "Maybe."], answer_rejects=["no FINAL ANSWER", "no FINAL ANSWER"]),
    ]
    lines = [json.dumps(g) for g in gen]
    (folder / "generated.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "questions.jsonl").write_text(json.dumps({"id": gen[0]["id"], "question": NEW}) + "\n")
    rejects = [{"id": g["id"], "stage": g["stage"], "reason": g["reason"]} for g in gen if g["status"] == "rejected"]
    rejects.append({"id": gen[1]["id"], "stage": "dedup", "reason": f"exact duplicate of {gen[0]['id']}",
                    "duplicate_of": gen[0]["id"]})
    rejects.append({"id": gen[2]["id"], "stage": "decontamination", "reason": "ngram match with test problem "
                    "gsm8k/test/7", "test_id": "gsm8k/test/7", "score": 0.62})
    (folder / "rejects.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rejects))
    (folder / "stats.json").write_text(json.dumps({"units": 7, "accepted": 1, "rejected": 6,
                                                   "acceptance_rate": 1 / 7, "rejects_by_stage": dict(
                                                       Counter(r["stage"] for r in rejects))}))
    return folder


def test_synth_payload_merges_final_verdicts(tmp_path):
    index, details = synth_payload(load_inputs([write_synth(tmp_path / "s")]).synths[0])
    by = {i["id"].split("/")[3]: (i, d) for i, d in zip(index, details, strict=True)}
    assert by["0"][0]["st"] == "accepted" and by["0"][0]["sq"] == SEED
    assert (by["1"][0]["sg"], by["1"][0]["dup"]) == ("dedup", "syn/gsm8k/train/0/0")
    assert (by["2"][0]["tid"], by["2"][0]["sc"]) == ("gsm8k/test/7", 0.62)
    text, _, _, ws, we = by["5"][1]["ans"][0]
    assert text[ws:we] == "30/2 = 16"
    assert by["6"][1]["ans"][1][2] == "no FINAL ANSWER" and "VERIFICATION" in by["4"][1]["raw"]


def test_report_has_synthesis_section(tmp_path):
    res = build_report([write_synth(tmp_path / "s")], tmp_path / "rep")
    md = Path(res["md"]).read_text()
    assert "## Synthesis runs" in md and "7 synthesis items" in md
    assert "| rejected at question | rejected at answer | rejected at consistency | rejected at arithmetic |" in md


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = chrome(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


@needs_chromium
@pytest.mark.timeout(180)
def test_synth_browser_reasons_and_duplicates(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    res = write_browser(load_inputs([write_synth(tmp_path / "s")]), tmp_path)
    open_page(driver, res["path"])
    assert shown(driver, "s-count") == 7
    choose(driver, "s-status", "rejected")
    wait_count(driver, 6, "s-count")
    for stage, n in [("dedup", 1), ("arithmetic", 1), ("question", 1), ("decontamination", 1)]:
        choose(driver, "s-stage", stage)
        wait_count(driver, n, "s-count")
    driver.find_element(By.CSS_SELECTOR, "#s-list .item .head").click()  # the contaminated one
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#s-list .reject"))
    assert "gsm8k/test/7, score 0.62" in driver.find_element(By.CSS_SELECTOR, "#s-list .reject").text
    choose(driver, "s-stage", "arithmetic")
    wait_count(driver, 1, "s-count")
    driver.find_element(By.CSS_SELECTOR, "#s-list .item .head").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#s-list mark.wrong"))
    detail = driver.find_element(By.CSS_SELECTOR, "#s-list .detail").text
    assert SEED in detail and NEW in detail and "VERIFICATION AND MODIFICATION" in detail
    assert {m.text for m in driver.find_elements(By.CSS_SELECTOR, "#s-list mark.wrong")} == {"30/2 = 16"}
    # "duplicate of X": one click shows X beside the duplicate (whose reason names X).
    choose(driver, "s-stage", "dedup")
    wait_count(driver, 1, "s-count")
    driver.find_element(By.CSS_SELECTOR, "#s-list .item .head").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#s-list button.jump"))
    driver.find_element(By.CSS_SELECTOR, "#s-list button.jump").click()
    wait_count(driver, 2, "s-count")
    pids = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#s-list .item .pid")]
    assert pids == ["syn/gsm8k/train/0/0", "syn/gsm8k/train/1/0"]
    assert_not_blank(driver.get_screenshot_as_png())
    assert js_errors(driver) == []


def _synth_cli(out: Path, *args: str) -> Path:
    env = dict(os.environ)
    if data_dir() is not None:
        env["MATHSYNTH_DATA_DIR"] = str(data_dir())
    proc = subprocess.run([sys.executable, "-m", "mathsynth.cli", "synth", *args, "--no-embeddings", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@needs_data
@needs_chromium
@pytest.mark.timeout(300)
def test_synth_browser_on_a_real_symbolic_run(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out = _synth_cli(tmp_path / "sym", "--seeds", "gsm8k:train", "--teacher", "symbolic", "--per-seed", "1",
                     "--limit", "20")
    stats = json.loads((out / "stats.json").read_text())
    res = build_report([out], tmp_path / "rep")
    open_page(driver, res["browser"])
    assert shown(driver, "s-count") == stats["units"] == 20
    for stage, n in stats["rejects_by_stage"].items():
        choose(driver, "s-stage", stage)
        wait_count(driver, n, "s-count")
    choose(driver, "s-stage", "")
    choose(driver, "s-status", "accepted")
    wait_count(driver, stats["accepted"], "s-count")
    first = json.loads((out / "questions.jsonl").read_text().splitlines()[0])
    driver.find_element(By.CSS_SELECTOR, "#s-list .item .head").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#s-list .detail pre"))
    detail = driver.find_element(By.CSS_SELECTOR, "#s-list .detail").text
    assert first["question"] in detail and "Kept solution" in detail
    assert_not_blank(driver.get_screenshot_as_png())
    assert js_errors(driver) == []


@pytest.mark.slow
@needs_chromium
@pytest.mark.timeout(900)
def test_synth_browser_on_a_real_llm_teacher_run(driver, tmp_path):
    pytest.importorskip("llama_cpp")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    seeds = "gsm8k:train" if data_dir() is not None else "demo"
    out = _synth_cli(tmp_path / "llm", "--seeds", seeds, "--teacher", "llamacpp:smollm2-135m", "--limit", "2",
                     "--answers", "2", "--max-tokens", "256", "--cache-path", str(tmp_path / "c.sqlite"))
    gen = [json.loads(line) for line in (out / "generated.jsonl").read_text().splitlines()]
    res = build_report([out], tmp_path / "rep")
    open_page(driver, res["browser"])
    assert shown(driver, "s-count") == len(gen) == 2
    driver.find_element(By.CSS_SELECTOR, "#s-list .item .head").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#s-list .detail details pre"))
    teacher = driver.find_element(By.CSS_SELECTOR, "#s-list .detail details pre").text
    assert " ".join(teacher.split()) == " ".join(gen[0]["raw_question"].split())  # the teacher's words, as text
    if gen[0]["status"] == "rejected":
        assert gen[0]["reason"] in driver.find_element(By.CSS_SELECTOR, "#s-list .detail .reject").text
    assert js_errors(driver) == []


@needs_chromium
@pytest.mark.timeout(180)
def test_one_page_holds_samples_and_synthesis(driver, tmp_path):
    from selenium.webdriver.common.by import By

    ev = write_eval(tmp_path / "ev", "m", [["correct", "reasoning"], ["calculation", "truncated"]])
    res = build_report([ev, write_synth(tmp_path / "s")], tmp_path / "rep")
    open_page(driver, res["browser"])
    assert shown(driver) == 2
    driver.find_element(By.ID, "tab-synth").click()
    assert driver.execute_script("return document.getElementById('view-samples').hidden") is True
    assert shown(driver, "s-count") == 7
    driver.find_element(By.ID, "tab-samples").click()
    assert driver.execute_script("return document.getElementById('view-synth').hidden") is True
    assert js_errors(driver) == []
