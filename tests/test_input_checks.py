"""Length and content checks before work starts: a prompt that cannot fit the model's context is
answered "prompt_too_long" without generating (real model), and synthesis refuses a seed question
far too long to be one (it would otherwise reach sft.jsonl)."""

from __future__ import annotations

import json
import time

import pytest

from mathsynth.config import EvalConfig, SynthConfig
from mathsynth.evaluate.runner import run_eval
from mathsynth.io import read_jsonl
from mathsynth.synth.runner import run_synth


def _bench(path, questions):
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": q, "answer": "4"}) + "\n"
                            for i, q in enumerate(questions)))
    return str(path)


@pytest.mark.slow
def test_prompt_past_the_context_is_recorded_without_generating(tmp_path, small_model):
    ctx = small_model.context_length
    assert ctx and ctx >= 2048
    huge = "Count the apples. " * (ctx // 2)  # about 2.5 tokens a repeat: well past the context
    bench = _bench(tmp_path / "b.jsonl", ["What is 2 + 2?", huge, "x" * (50 * ctx)])
    t0 = time.monotonic()
    m = run_eval(EvalConfig(model="smollm2-135m", benchmark=bench, n=2, max_tokens=16, greedy_first=True,
                            out=str(tmp_path / "e"), cache=False), generator=small_model, show_progress=False)
    took = time.monotonic() - t0
    recs = {r["id"]: r for r in read_jsonl(tmp_path / "e" / "samples.jsonl")}
    assert recs["q0"]["finish_reasons"] != ["prompt_too_long"] * 2 and recs["q0"]["completions"][0]
    for q in ("q1", "q2"):
        r = recs[q]
        assert r["finish_reasons"] == ["prompt_too_long"] * 2 and r["completions"] == ["", ""]
        assert r["greedy"]["finish_reason"] == "prompt_too_long"
        assert all("prompt too long" in e and f"context of {ctx:,} tokens" in e for e in r["errors"])
        assert r["error_types"] == ["no_answer", "no_answer"] and r["verdicts"] == [False, False]
    assert m["run"]["finish_reasons"]["prompt_too_long"] == 4  # the N samples; the greedy ones aside
    assert m["run"]["problems_with_failed_samples"] == 0  # final, not retried by a rerun
    assert took < 120  # nothing was generated for the long prompts (a 50*ctx-char text is not tokenized)


def test_synth_refuses_a_huge_seed_before_any_work(tmp_path):
    seeds = _bench(tmp_path / "s.jsonl", ["Tom has 3 boxes with 4 pens each. How many pens does he have?",
                                          "Tom has 3 boxes. " * 300_000])  # ~5 MB
    stats = run_synth(SynthConfig(seeds=seeds, teacher="symbolic", per_seed=1, out=str(tmp_path / "o"),
                                  decontam_embeddings=False, decontam_benchmarks=[]), show_progress=False)
    rejects = list(read_jsonl(tmp_path / "o" / "rejects.jsonl"))
    long = [r for r in rejects if r["seed_id"].endswith("1")]
    assert stats["rejects_by_stage"].get("length") == 1 and len(long) == 1
    assert "seed question too long" in long[0]["reason"]
    assert all(len(json.dumps(x)) < 10_000 for x in read_jsonl(tmp_path / "o" / "sft.jsonl"))
    assert all(len(json.dumps(x)) < 10_000 for x in read_jsonl(tmp_path / "o" / "generated.jsonl"))
