"""The openai backend against a real llama.cpp server on 127.0.0.1: directly, through a
fault-injecting proxy, and across a SIGKILL of the eval (the response cache serves the finished part)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import deque

import pytest
from servers import FAULTS, FaultProxy, LlamaServer

from mathsynth.config import EvalConfig
from mathsynth.data import load_benchmark
from mathsynth.evaluate.runner import run_eval
from mathsynth.io import read_jsonl

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


@pytest.fixture(scope="module")
def llama_server():
    from mathsynth.backends.models import embedded_gguf

    srv = LlamaServer(str(embedded_gguf()))
    yield srv
    srv.stop()


def _cli_args(*args):
    return [sys.executable, "-m", "mathsynth.cli", *args]


def _records(out):
    return list(read_jsonl(out / "samples.jsonl"))


def test_cli_eval_against_real_llama_server(tmp_path, llama_server):
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    model = f"openai:smollm2@{llama_server.url}"
    args = ["eval", "--model", model, "--benchmark", "demo", "--limit", "3", "--n", "2", "--max-tokens", "32",
            "--cache-path", str(cache)]
    r = subprocess.run(_cli_args(*args, "--out", str(out)), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    recs = _records(out)
    assert len(recs) == 3 and len({x["id"] for x in recs}) == 3
    for rec in recs:
        assert len(rec["completions"]) == 2 and all(rec["completions"])
        assert set(rec["finish_reasons"]) <= {"stop", "length"}
        assert all(0 < t <= 32 for t in rec["completion_tokens"])
    run = json.loads((out / "metrics.json").read_text())["run"]
    assert run["backend"]["cache_misses"] == 6 and run["backend"]["cache_hits"] == 0
    config = (out / "config.json").read_text()
    assert llama_server.url in config and "api_key" not in config

    # Same settings into a fresh folder: every completion comes from the cache, none from the server.
    r = subprocess.run(_cli_args(*args, "--out", str(tmp_path / "again")), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())["run"]["backend"]
    assert again["cache_hits"] == 6 and again["cache_misses"] == 0
    assert [x["completions"] for x in _records(tmp_path / "again")] == [x["completions"] for x in recs]


def test_faults_leave_a_finished_job_with_failures_recorded(tmp_path, llama_server):
    problems = load_benchmark("demo", limit=6)
    doomed = problems[2].question  # every request for this problem gets HTTP 500
    pending = deque(FAULTS)
    state = {"doom": True, "clean": 0}

    def schedule(index, body):
        if doomed in json.dumps(body, ensure_ascii=False) and state["doom"]:
            return "500"
        state["clean"] += 1
        if pending and state["clean"] % 2 == 0:  # every other healthy request gets the next fault
            return pending.popleft()
        return None

    proxy = FaultProxy(llama_server.port, schedule, slow_seconds=8.0, retry_after=1.0)
    try:
        cfg = EvalConfig(model=f"openai:smollm2@{proxy.url}", benchmark="demo", limit=6, n=2, max_tokens=24,
                         out=str(tmp_path / "run"), cache_path=str(tmp_path / "c.sqlite"), request_timeout=6,
                         max_retries=4, max_concurrency=4)
        metrics = run_eval(cfg, show_progress=False)
        assert sorted(proxy.faults.count(f) > 0 for f in FAULTS) == [True] * len(FAULTS), proxy.faults
        recs = _records(tmp_path / "run")
        assert [x["id"] for x in recs] == [p.id for p in problems]  # each once, in order
        for rec in recs:
            assert len(rec["completions"]) == len(rec["finish_reasons"]) == len(rec["errors"]) == 2
            if rec["question"] == doomed:
                assert rec["finish_reasons"] == ["error", "error"]
                assert all("500" in e for e in rec["errors"]) and rec["verdicts"] == [False, False]
            else:
                assert "error" not in rec["finish_reasons"] and rec["errors"] == [None, None]
        assert metrics["run"]["problems_with_failed_samples"] == 1
        assert metrics["run"]["backend"]["retries"] >= len(FAULTS)

        # The server recovers: a rerun retries only the failed problem's two samples.
        state["doom"] = False
        before = proxy.count
        metrics = run_eval(cfg, show_progress=False)
        assert proxy.count - before == 2
        recs = _records(tmp_path / "run")
        assert sorted(x["id"] for x in recs) == sorted(p.id for p in problems)
        assert all("error" not in x["finish_reasons"] for x in recs)
        assert metrics["run"]["problems_with_failed_samples"] == 0
    finally:
        proxy.stop()


def test_sigkill_mid_run_then_rerun_is_served_from_cache(tmp_path, llama_server):
    proxy = FaultProxy(llama_server.port, lambda index, body: None)
    out, cache = tmp_path / "run", tmp_path / "c.sqlite"
    args = _cli_args("eval", "--model", f"openai:smollm2@{proxy.url}", "--benchmark", "demo", "--limit", "6",
                     "--n", "2", "--max-tokens", "24", "--max-concurrency", "2", "--out", str(out),
                     "--cache-path", str(cache))
    try:
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while len(proxy.delivered) < 5 and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert p.poll() is None, "the run finished before it could be killed"
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        first = proxy.count
        r = subprocess.run(args, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        backend = json.loads((out / "metrics.json").read_text())["run"]["backend"]
        assert backend["cache_hits"] + backend["cache_misses"] == 12
        assert backend["cache_hits"] >= 3  # the finished part of the killed run
        # Every sample the rerun asked the server for was missing from the cache; nothing paid twice.
        assert proxy.count - first == backend["cache_misses"]
        recs = _records(out)
        assert len(recs) == 6 and len({x["id"] for x in recs}) == 6
        assert all(len(x["completions"]) == 2 and "error" not in x["finish_reasons"] for x in recs)
    finally:
        proxy.stop()


def test_max_cost_stops_cleanly_and_resumes(tmp_path, llama_server):
    # Price the local model steeply so a budget of $0.05 runs out part-way.
    recipe = tmp_path / "r.yaml"
    recipe.write_text("eval:\n  prices:\n    smollm2: [1000.0, 1000.0]\n")
    out, cache = tmp_path / "run", tmp_path / "c.sqlite"
    base = _cli_args("eval", "--recipe", str(recipe), "--model", f"openai:smollm2@{llama_server.url}",
                     "--benchmark", "demo", "--limit", "4", "--n", "1", "--max-tokens", "16",
                     "--max-concurrency", "1", "--batch-size", "1", "--out", str(out), "--cache-path", str(cache))
    r = subprocess.run([*base, "--max-cost", "0.25"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 3 and "max-cost" in r.stderr and "Traceback" not in r.stderr, r.stderr  # rerun to finish
    done = _records(out) if (out / "samples.jsonl").exists() else []
    assert 0 < len(done) < 4
    r = subprocess.run([*base, "--max-cost", "100"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    recs = _records(out)
    assert [x["id"] for x in recs][: len(done)] == [x["id"] for x in done] and len(recs) == 4
