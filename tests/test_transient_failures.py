"""Transient versus final failures: a teacher or model request that fails (server down, 5xx after
retries) is recorded as retryable and redone by the next run; the CLI exits 3 with a rerun hint
while any record failed. Real llama.cpp server behind a fault-injecting proxy on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from servers import FaultProxy, LlamaServer

from mathsynth.backends.base import Completion
from mathsynth.backends.fake import FakeGenerator
from mathsynth.config import SynthConfig
from mathsynth.errors import EXIT_INCOMPLETE
from mathsynth.io import read_jsonl
from mathsynth.synth.runner import run_synth

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def flaky_server():
    """A real llama.cpp server behind a proxy that answers 500 to every request while ``down``."""
    from mathsynth.backends.models import embedded_gguf

    srv = LlamaServer(str(embedded_gguf()))
    state = {"down": True}
    proxy = FaultProxy(srv.port, lambda i, body: "500" if state["down"] else None)
    yield proxy, state
    proxy.stop()
    srv.stop()


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mathsynth.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


@pytest.mark.slow
def test_synth_teacher_failures_are_retried_by_the_next_run(tmp_path, flaky_server):
    proxy, state = flaky_server
    recipe = tmp_path / "r.yaml"
    recipe.write_text("synth:\n  max_retries: 0\n  request_timeout: 300\n")
    out = tmp_path / "s"
    args = ["synth", "--seeds", "demo", "--limit", "2", "--per-seed", "1", "--answers", "2", "--max-tokens", "64",
            "--teacher", f"openai:smollm2@{proxy.url}", "--no-embeddings", "--out", str(out), "--recipe",
            str(recipe), "--cache-path", str(tmp_path / "c.sqlite")]
    state["down"] = True
    r = _cli(*args, cwd=tmp_path)
    assert r.returncode == EXIT_INCOMPLETE, r.stderr
    assert "2 unit(s) failed at the teacher" in r.stderr and "rerun the same command" in r.stderr
    gen = list(read_jsonl(out / "generated.jsonl"))
    assert [g["status"] for g in gen] == ["failed", "failed"] and all(g["retryable"] for g in gen)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["failed"] == 2 and stats["units"] == 0  # not final rejects: no verdict yet
    assert list(read_jsonl(out / "rejects.jsonl")) == []

    state["down"] = False
    r = _cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    gen = list(read_jsonl(out / "generated.jsonl"))
    assert len(gen) == 2 and len({g["id"] for g in gen}) == 2
    assert all(g["status"] in ("candidate", "rejected") and "retryable" not in g for g in gen)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["failed"] == 0 and stats["units"] == 2


@pytest.mark.slow
def test_eval_whose_samples_failed_exits_3_then_resumes(tmp_path, flaky_server):
    proxy, state = flaky_server
    out = tmp_path / "e"
    args = ["eval", "--model", f"openai:smollm2@{proxy.url}", "--benchmark", "demo", "--limit", "2",
            "--max-tokens", "32", "--max-retries", "0", "--out", str(out), "--cache-path", str(tmp_path / "c.sqlite")]
    state["down"] = True
    r = _cli(*args, cwd=tmp_path)
    assert r.returncode == EXIT_INCOMPLETE, r.stderr
    assert "2 of 2 problem(s) have samples that failed" in r.stderr
    state["down"] = False
    r = _cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    recs = list(read_jsonl(out / "samples.jsonl"))
    assert len(recs) == 2 and not any(e for rec in recs for e in rec.get("errors") or [])


class _AnswerFails(FakeGenerator):
    """Questions come back; the first answer request of each unit fails (a transport error)."""

    def __init__(self, fail: bool):
        super().__init__(lambda req, i: ("FINAL CREATED QUESTION:\nTom has 3 boxes of 4 pens. How many pens?"
                                         if not req.id.endswith("/answer") else
                                         "SOLUTION:\n3 * 4 = 12\nFINAL ANSWER:\n12"))
        self.fail = fail

    def generate(self, requests, progress=None, on_complete=None):
        out = super().generate(requests, progress, on_complete)
        if self.fail:
            for req, comps in zip(requests, out, strict=True):
                if req.id.endswith("/answer"):
                    comps[0] = Completion("", "error", error="ConnectionError: refused")
        return out


def test_a_failed_answer_request_makes_the_unit_retryable(tmp_path):
    cfg = SynthConfig(seeds="demo", teacher="fake", mode="question-plain", limit=2, answers=3, out=str(tmp_path),
                      decontam_embeddings=False, decontam_benchmarks=[])
    stats = run_synth(cfg, generator=_AnswerFails(True), show_progress=False)
    gen = list(read_jsonl(tmp_path / "generated.jsonl"))
    assert stats["failed"] == 2 and [g["stage"] for g in gen] == ["answer", "answer"]
    assert all(g["status"] == "failed" and "ConnectionError" in g["reason"] for g in gen)
    stats = run_synth(cfg, generator=_AnswerFails(False), show_progress=False)
    assert stats["failed"] == 0 and stats["units"] == 2
    assert {g["status"] for g in read_jsonl(tmp_path / "generated.jsonl")} <= {"candidate", "rejected"}
