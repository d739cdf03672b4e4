"""Completions cut off at the token limit are "no answer" unless they state one; paired comparison
of two eval runs (`mathsynth compare`); intervals in metrics.json and the CLI summary."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

from mathsynth.config import EvalConfig
from mathsynth.evaluate.runner import run_eval
from mathsynth.grading import Grader, grade


@pytest.mark.parametrize("text,truncated,expected", [
    ("She has 3 + 4 = 7 apples, then she buys 12", True, None),          # cut off: no statement
    ("She has 3 + 4 = 7 apples, then she buys 12", False, "12"),         # finished: last number counts
    ("3 + 4 = 7. The answer is: 7. Now let me also check 8", True, "7"),  # stated before the cut
    ("3 + 4 = 7.\n#### 7\nAlso", True, "7"),
    (r"so the total is $\boxed{7}$ and then", True, "7"),
    (r"so the total is $\boxed{7", True, None),                           # the box never closed
])
def test_truncated_completions_need_a_final_answer_statement(text, truncated, expected):
    with Grader(workers=1) as g:
        r = g.grade_many([("7", text)], benchmark="gsm8k", truncated=[truncated])[0]
    assert r.extracted == expected
    assert r.correct == (expected == "7")


@pytest.mark.slow
def test_real_model_cut_off_at_the_token_limit(tmp_path, small_model):
    # The real 135M model with a tiny token budget: every completion stops at the limit.
    base = dict(model="smollm2-135m", benchmark="demo", limit=6, n=2, max_tokens=24, cache=False, seed=3)
    strict = run_eval(EvalConfig(**base, out=str(tmp_path / "strict")), generator=small_model, show_progress=False)
    old = run_eval(EvalConfig(**base, truncated_fallback=True, out=str(tmp_path / "old")), generator=small_model,
                   show_progress=False)
    recs = [json.loads(x) for x in (tmp_path / "strict" / "samples.jsonl").read_text().splitlines()]
    olds = [json.loads(x) for x in (tmp_path / "old" / "samples.jsonl").read_text().splitlines()]
    reasons = [f for r in recs for f in r["finish_reasons"]]
    assert reasons.count("length") >= 10
    assert strict["overall"]["truncated_rate"] == pytest.approx(reasons.count("length") / len(reasons))
    for r, o in zip(recs, olds, strict=True):
        assert r["completions"] == o["completions"]          # same text, graded two ways
        for rule, reason in zip(r["rules"], r["finish_reasons"], strict=True):
            assert reason != "length" or rule != "last_number"
    assert any(rule == "last_number" for o in olds for rule, f in zip(o["rules"], o["finish_reasons"], strict=True)
               if f == "length")
    errors = strict["overall"]["errors"]
    assert errors["truncated"] > 0 and errors["truncated"] >= errors["reasoning"]
    assert strict["overall"]["no_answer_rate"] >= old["overall"]["no_answer_rate"]


def test_grade_keeps_its_old_single_response_behaviour():
    assert grade("72", "She sold 48 + 24 = 72 clips. The answer is: 72").correct


def _run(tmp_path, name, right):
    from mathsynth.backends.fake import FakeGenerator

    def respond(req, i):  # problems listed in ``right`` answered correctly, others wrong
        return f"The answer is: {req.id in right and golds[req.id] or 'nope'}."

    from mathsynth.data import load_benchmark

    golds = {p.id: p.answer for p in load_benchmark("demo")}
    cfg = EvalConfig(model="fake", benchmark="demo", n=2, greedy_first=True, out=str(tmp_path / name))
    return run_eval(cfg, generator=FakeGenerator(respond), show_progress=False)


def test_compare_cli_pairs_problems(tmp_path):
    from mathsynth.data import load_benchmark

    ids = [p.id for p in load_benchmark("demo")]
    _run(tmp_path, "a", set(ids[:4]))
    m = _run(tmp_path, "b", set(ids[:20]))
    lo, hi = m["overall"]["ci95"]["pass@1"]
    assert lo < m["overall"]["pass@1"] == 20 / 32 < hi
    out = tmp_path / "cmp.json"
    r = subprocess.run([sys.executable, "-m", "mathsynth.cli", "compare", str(tmp_path / "a"), str(tmp_path / "b"),
                        "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "b - a, pass@1: +50.0 pp" in r.stdout and "mcnemar-exact" in r.stdout and "significant at 5%" in r.stdout
    comps = {c["metric"]: c for c in json.loads(out.read_text())["comparisons"]}
    assert comps["pass@1"]["b_only"] == 16 and comps["pass@1"]["a_only"] == 0
    assert comps["pass@1"]["p_value"] == pytest.approx(2 / 2 ** 16)
    assert comps["pass_ratio@N"]["test"] == "paired-bootstrap" and comps["pass_ratio@N"]["ci95"][0] > 0
    same = subprocess.run([sys.executable, "-m", "mathsynth.cli", "compare", str(tmp_path / "a"), str(tmp_path / "a")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "+0.0 pp" in same.stdout and "not significant" in same.stdout


def test_compare_refuses_runs_without_common_problems(tmp_path):
    for name, i in (("x", "p1"), ("y", "p2")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "samples.jsonl").write_text(json.dumps({"id": i, "verdicts": [True]}) + "\n")
    r = subprocess.run([sys.executable, "-m", "mathsynth.cli", "compare", str(tmp_path / "x"), str(tmp_path / "y")],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2 and "share no problem ids" in r.stderr and "Traceback" not in r.stderr
