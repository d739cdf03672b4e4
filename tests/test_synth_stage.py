"""The synth stage: symbolic end to end, teacher logic with a fake teacher, a real llama.cpp teacher,
resume without duplicates."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import needs_data

from mathsynth.backends.fake import FakeGenerator
from mathsynth.config import SynthConfig
from mathsynth.io import read_jsonl
from mathsynth.synth.runner import run_synth

QUESTION_KEYS = {"id", "seed_id", "question", "solution", "answer", "mode", "teacher", "agreement", "checks"}


def _check_outputs(out, stats):
    questions = list(read_jsonl(out / "questions.jsonl"))
    rejects = list(read_jsonl(out / "rejects.jsonl"))
    sft = list(read_jsonl(out / "sft.jsonl"))
    generated = list(read_jsonl(out / "generated.jsonl"))
    assert len({g["id"] for g in generated}) == len(generated) == stats["units"]
    assert len(questions) == len(sft) == stats["accepted"]
    assert len(questions) + len(rejects) == stats["units"]
    assert all(set(q) == QUESTION_KEYS for q in questions)
    assert all(r["reason"] and r["stage"] for r in rejects)
    for q, s in zip(questions, sft, strict=True):
        assert s["id"] == q["id"] and s["messages"][0]["role"] == "user" and q["question"] in s["messages"][0]["content"]
        assert s["messages"][1]["content"].endswith(f"The answer is: {q['answer']}.")
    return questions, rejects


@needs_data
def test_symbolic_synthesis_end_to_end_and_rerun(tmp_path):
    out = tmp_path / "s"
    cfg = SynthConfig(seeds="gsm8k:train", teacher="symbolic", limit=40, per_seed=2, out=str(out),
                      decontam_embeddings=False)
    stats = run_synth(cfg, show_progress=False)
    questions, rejects = _check_outputs(out, stats)
    assert stats["units"] == 80 and stats["accepted"] > 10
    from mathsynth.grading import check_steps

    assert all(check_steps(q["solution"]).ok for q in questions)
    from mathsynth.data import load_benchmark

    seeds = {p.id: p.question for p in load_benchmark("gsm8k", split="train", limit=40)}
    gen = [json.loads(x) for x in (out / "generated.jsonl").read_text().splitlines()]
    assert all(r["seed_question"] == seeds[r["seed_id"]] for r in gen)  # the browser shows it beside the new one
    before = (out / "generated.jsonl").read_text()
    again = run_synth(cfg, show_progress=False)  # nothing left to do: same files
    assert (out / "generated.jsonl").read_text() == before and again["accepted"] == stats["accepted"]


def _teacher(wrong_step=False, disagree=False):
    def respond(req, i):
        text = req.messages[-1]["content"]
        if req.id.endswith("/answer"):
            if disagree and i % 2:
                return "SOLUTION:\nShe has 5 + 4 = 9 apples.\nFINAL ANSWER:\n9"
            step = "3 * 4 = 13" if wrong_step else "3 * 4 = 12"
            return f"SOLUTION:\nShe buys {step} apples.\nFINAL ANSWER:\n{step.split('= ')[1]}"
        assert "CREATED QUESTION" in text  # the question prompt asks for the paper's sections
        return ("CREATED QUESTION:\nMia buys 3 bags with 4 apples each. How many apples does she buy?\n"
                "VERIFICATION AND MODIFICATION:\nThe question complies with all principles; no change.\n"
                "FINAL CREATED QUESTION:\nMia buys 3 bags with 4 apples each. How many apples does she buy?")
    return FakeGenerator(respond)


@pytest.mark.parametrize("kwargs, stage", [({}, None), ({"wrong_step": True}, "arithmetic"),
                                          ({"disagree": True}, "consistency")])
def test_teacher_pipeline_filters(tmp_path, kwargs, stage):
    out = tmp_path / "t"
    cfg = SynthConfig(seeds="demo", teacher="fake", limit=1, per_seed=1, answers=4, min_agreement=0.75,
                      out=str(out), decontam_embeddings=False, decontam_benchmarks=[])
    stats = run_synth(cfg, generator=_teacher(**kwargs), show_progress=False)
    questions, rejects = _check_outputs(out, stats)
    rec = json.loads((out / "generated.jsonl").read_text().splitlines()[0])
    # the M answers as written, each with its parsed answer (the browser's agreement view)
    assert [a["answer"] for a in rec["answers"]] == (["12", "9", "12", "9"] if kwargs.get("disagree") else
                                                       ["13" if kwargs.get("wrong_step") else "12"] * 4)
    assert all("FINAL ANSWER" in a["text"] and a["reject"] is None for a in rec["answers"])
    assert rec["seed_question"] and rec["seed_question"] != rec["question"]
    if stage is None:
        assert len(questions) == 1 and questions[0]["answer"] == "12" and questions[0]["agreement"] == 1.0
    else:
        assert [r["stage"] for r in rejects] == [stage]


def test_crash_mid_write_then_resume_has_no_duplicates(tmp_path):
    out = tmp_path / "t"
    cfg = SynthConfig(seeds="demo", teacher="fake", limit=4, per_seed=2, answers=2, batch_size=2,
                      out=str(out), decontam_embeddings=False, decontam_benchmarks=[])
    gen = _teacher()
    run_synth(cfg, generator=gen, show_progress=False)
    lines = (out / "generated.jsonl").read_text().splitlines(keepends=True)
    (out / "generated.jsonl").write_text("".join(lines[:3]) + lines[3][:20])  # a crash mid-line
    gen.calls = 0
    stats = run_synth(cfg, generator=gen, show_progress=False)
    assert gen.calls == 2 * 5  # 5 units redone: a question and an answer request each
    _check_outputs(out, stats)
    # The 8 units' questions are identical text: dedup keeps one.
    assert stats["accepted"] == 1 and stats["rejects_by_stage"] == {"dedup": 7}


@pytest.mark.slow
def test_cli_synth_with_real_llama_teacher(tmp_path):
    from servers import LlamaServer

    from mathsynth.backends.models import embedded_gguf

    srv = LlamaServer(str(embedded_gguf()))
    try:
        out = tmp_path / "s"
        r = subprocess.run([sys.executable, "-m", "mathsynth.cli", "synth", "--seeds", "demo", "--limit", "2",
                            "--per-seed", "1", "--answers", "2", "--max-tokens", "96",
                            "--teacher", f"openai:smollm2@{srv.url}", "--no-embeddings", "--out", str(out),
                            "--cache-path", str(tmp_path / "c.sqlite")], capture_output=True, text=True, timeout=600)
    finally:
        srv.stop()
    assert r.returncode == 0, r.stderr
    stats = json.loads((out / "stats.json").read_text())
    _check_outputs(out, stats)
    assert stats["units"] == 2 and stats["backend"]["cache_misses"] >= 2


@pytest.mark.slow
def test_sigkill_mid_synthesis_then_rerun_has_no_duplicates(tmp_path):
    import os
    import signal
    import time

    from servers import LlamaServer

    from mathsynth.backends.models import embedded_gguf

    srv = LlamaServer(str(embedded_gguf()))
    out = tmp_path / "s"
    args = [sys.executable, "-m", "mathsynth.cli", "synth", "--seeds", "demo", "--limit", "6", "--per-seed", "1",
            "--answers", "1", "--max-tokens", "48", "--teacher", f"openai:smollm2@{srv.url}", "--no-embeddings",
            "--out", str(out), "--cache-path", str(tmp_path / "c.sqlite"), "--recipe", str(tmp_path / "r.yaml")]
    (tmp_path / "r.yaml").write_text("synth:\n  batch_size: 1\n")  # one unit per chunk: written one by one
    try:
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gen = out / "generated.jsonl"
        deadline = time.monotonic() + 300
        while p.poll() is None and time.monotonic() < deadline:
            if gen.exists() and len(gen.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        assert p.poll() is None, "finished before it could be killed"
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        first = len(gen.read_text().splitlines())
        assert 2 <= first < 6
        r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    finally:
        srv.stop()
    assert r.returncode == 0, r.stderr
    stats = json.loads((out / "stats.json").read_text())
    _check_outputs(out, stats)  # each unit exactly once in generated.jsonl, questions + rejects
    assert stats["units"] == 6
