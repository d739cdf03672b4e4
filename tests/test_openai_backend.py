"""The openai backend against a scripted OpenAI-compatible HTTP server on 127.0.0.1 (no network).

Each test gives the server a script of replies (status, body, headers, delay) consumed in order;
once the script is used up the server answers successfully, with ``n`` choices unless it is told
to ignore ``n`` like llama.cpp's server does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mathsynth.backends.base import BudgetExceeded, GenerationRequest, SamplingParams, row_seed
from mathsynth.backends.openai_backend import OpenAIGenerator, normalize_base_url
from mathsynth.backends.pricing import find_price, merge_prices
from mathsynth.backends.ratelimit import RateLimiter, TokenBucket, parse_retry_after
from mathsynth.errors import MathsynthError

KEY = "sk-test-SECRET-0123456789"


class ScriptedServer:
    """OpenAI-compatible server whose replies follow ``script`` (then succeed)."""

    def __init__(self):
        self.script: list[dict] = []
        self.rule = None  # optional fn(body) -> reply dict or None, consulted before the script
        self.ignore_n = False
        self.delay = 0.0
        self.prompt_tokens = 10
        self.lock = threading.Lock()
        self.calls: list[dict] = []  # {"t", "path", "body", "auth"}
        self.active = self.max_active = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with owner.lock:
                    owner.calls.append({"t": time.monotonic(), "path": self.path, "body": body,
                                        "auth": self.headers.get("Authorization")})
                    owner.active += 1
                    owner.max_active = max(owner.max_active, owner.active)
                    reply = (owner.rule(body) if owner.rule else None) or (
                        owner.script.pop(0) if owner.script else {})
                try:
                    time.sleep(reply.get("delay", owner.delay))
                    status = reply.get("status", 200)
                    payload = reply.get("body")
                    if payload is None:
                        payload = owner.success(self.path, body) if status == 200 else {
                            "error": {"message": f"scripted {status}"}}
                    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                finally:
                    # Count the request as finished before replying, so the client can never
                    # start its next request while this one still counts as active.
                    with owner.lock:
                        owner.active -= 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.get("headers", {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False  # a handler still sleeping past a client timeout must not block close

            def handle_error(self, request, client_address):
                pass  # the client hung up (timeout test): expected

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def success(self, path: str, body: dict) -> dict:
        n = 1 if self.ignore_n else body.get("n", 1)
        chat = path.endswith("/chat/completions")
        choices = []
        for i in range(n):
            text = f"answer seed={body.get('seed')} i={i}"
            choices.append({"index": i, "finish_reason": "stop",
                            **({"message": {"role": "assistant", "content": text}} if chat else {"text": text})})
        usage = {"prompt_tokens": self.prompt_tokens, "completion_tokens": 5 * n,
                 "total_tokens": self.prompt_tokens + 5 * n}
        return {"id": "x", "object": "chat.completion" if chat else "text_completion", "model": body["model"],
                "choices": choices, "usage": usage}

    def bodies(self, path_suffix: str = "") -> list[dict]:
        return [c["body"] for c in self.calls if c["path"].endswith(path_suffix)]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.close()


def make(server, model="test-model", **kw) -> OpenAIGenerator:
    opts = {"api_key": KEY, "backoff_base": 0.01, "backoff_max": 0.05, "request_timeout": 5.0} | kw
    return OpenAIGenerator(model, server.url, **opts)


def chat(id_, text="What is 1+1?", **params) -> GenerationRequest:
    return GenerationRequest(id_, SamplingParams(**params), messages=({"role": "user", "content": text},))


def test_chat_success_with_usage_params_and_callbacks(server):
    g = make(server)
    done, prog = [], []
    out = g.generate([chat("q1", n=2, temperature=0.7, max_tokens=64, stop=("\n\n",), seed=3),
                      chat("q2", n=1)], progress=lambda r, t: prog.append((r, t)),
                     on_complete=lambda r, i, c: done.append((r, i, c.text)))
    assert [len(o) for o in out] == [2, 1]
    first = server.bodies()[0] if server.bodies()[0]["n"] == 2 else server.bodies()[1]
    assert first["model"] == "test-model" and first["stop"] == ["\n\n"] and first["max_tokens"] == 64
    assert first["seed"] == row_seed(3, "q1", 0) and first["temperature"] == 0.7
    assert first["messages"] == [{"role": "user", "content": "What is 1+1?"}]
    other = [b for b in server.bodies() if b is not first][0]
    assert "stop" not in other  # an empty stop list is omitted, not sent as []
    assert [c.text for c in out[0]] == [f"answer seed={row_seed(3, 'q1', 0)} i=0",
                                        f"answer seed={row_seed(3, 'q1', 0)} i=1"]
    # One usage (10 prompt, 10 completion tokens) shared by two choices: completion tokens split evenly.
    assert [(c.prompt_tokens, c.completion_tokens, c.finish_reason) for c in out[0]] == [(10, 5, "stop")] * 2
    assert sorted(done) == sorted([(0, 0, out[0][0].text), (0, 1, out[0][1].text), (1, 0, out[1][0].text)])
    assert sorted(prog) == [(1, 5), (1, 10)]
    assert server.calls[0]["auth"] == f"Bearer {KEY}"
    s = g.stats
    assert (s["requests_sent"], s["retries"], s["failed"]) == (2, 0, 0)
    assert (s["prompt_tokens"], s["completion_tokens"], s["cost_usd"], s["priced"]) == (20, 15, 0.0, False)
    assert "unpriced" in s["note"]


def test_raw_prompt_uses_legacy_completions_and_maps_finish_reason(server):
    server.script = [{"body": {"choices": [{"index": 0, "text": "Ans", "finish_reason": "length"}]}},
                     {"body": {"choices": [{"index": 0, "text": "B", "finish_reason": "content_filter"}]}}]
    g = make(server, max_concurrency=1)
    out = g.generate([GenerationRequest("p", prompt="USER: 2+2? ASSISTANT:"),
                      GenerationRequest("p2", prompt="x")])
    assert server.calls[0]["path"] == "/v1/completions"
    assert server.calls[0]["body"]["prompt"] == "USER: 2+2? ASSISTANT:"
    assert [(o[0].text, o[0].finish_reason) for o in out] == [("Ans", "length"), ("B", "stop")]
    assert out[0][0].prompt_tokens == 0  # no usage in the reply: unknown, not guessed


@pytest.mark.parametrize("headers,wait", [({"Retry-After": "0.3"}, 0.3), ({"retry-after-ms": "200"}, 0.2)])
def test_429_honours_retry_after(server, headers, wait):
    server.script = [{"status": 429, "headers": headers}]
    g = make(server, backoff_base=0.0)  # so any wait comes from the header
    out = g.generate([chat("q")])
    assert out[0][0].ok
    t0, t1 = server.calls[0]["t"], server.calls[1]["t"]
    assert t1 - t0 >= wait - 0.01
    assert g.stats["retries"] == 1 and g.stats["requests_sent"] == 2


def test_500_then_success(server):
    server.script = [{"status": 500}, {"status": 503}]
    out = make(server).generate([chat("q")])
    assert out[0][0].ok and len(server.calls) == 3


def test_slow_reply_times_out_then_succeeds(server):
    server.script = [{"delay": 1.5}]
    g = make(server, request_timeout=0.3)
    t0 = time.monotonic()
    out = g.generate([chat("q")])
    assert out[0][0].ok and len(server.calls) == 2
    assert time.monotonic() - t0 < 1.4  # did not wait for the slow reply


def test_malformed_replies_are_retried(server):
    server.script = [{"body": b'{"choices": [{"index": 0, "mess'},  # truncated JSON
                     {"body": {"choices": []}},
                     {"body": {"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}}]
    g = make(server)
    out = g.generate([chat("q")])
    assert out[0][0].ok and len(server.calls) == 4 and g.stats["retries"] == 3


def test_empty_choices_until_retries_run_out(server):
    server.rule = lambda body: {"body": {"choices": []}}
    out = make(server, max_retries=1).generate([chat("q", n=2)])
    assert [c.error for c in out[0]] == ["malformed response after 2 attempts: no choices"] * 2


def test_non_retryable_400_only_hits_its_request(server):
    server.rule = lambda body: ({"status": 400, "body": {"error": {"message": "context too long"}}}
                                if "bad" in body["messages"][0]["content"] else None)
    g = make(server)
    out = g.generate([chat("a"), chat("b", text="bad one"), chat("c")])
    assert [o[0].ok for o in out] == [True, False, True]
    assert out[1][0].finish_reason == "error" and out[1][0].error == "HTTP 400: context too long"
    assert sum("bad" in b["messages"][0]["content"] for b in server.bodies()) == 1  # not retried
    assert g.stats["failed"] == 1


def test_exhausted_retries_drop_nothing(server):
    server.rule = lambda body: {"status": 500} if "bad" in body["messages"][0]["content"] else None
    g = make(server, max_retries=2)
    seen = []
    out = g.generate([chat("a", n=2), chat("b", text="bad", n=2), chat("c", n=2)],
                     on_complete=lambda r, i, c: seen.append((r, i)))
    assert [len(o) for o in out] == [2, 2, 2]
    assert [c.error for c in out[1]] == ["HTTP 500 after 3 attempts: scripted 500"] * 2
    assert all(c.ok for c in out[0] + out[2])
    assert sorted(seen) == [(r, i) for r in range(3) for i in range(2)]
    assert g.stats["failed"] == 2 and g.stats["retries"] == 2


def test_connection_refused_becomes_error_completion():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    g = OpenAIGenerator("m", f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=1, backoff_base=0.01)
    out = g.generate([chat("q", n=3, temperature=0)])
    assert [c.finish_reason for c in out[0]] == ["error"] * 3 and g.stats["failed"] == 3
    assert out[0][0].error.startswith("connection error after 2 attempts")


def test_server_ignoring_n_gets_per_sample_requests(server):
    server.ignore_n = True
    g = make(server)
    out = g.generate([chat("q", n=3, temperature=0.8, seed=7)])
    calls = server.bodies()
    assert [b["n"] for b in calls] == [3, 1, 1]
    seeds = [b["seed"] for b in calls]
    assert seeds[0] == row_seed(7, "q", 0) and sorted(seeds[1:]) == sorted(row_seed(7, "q", i) for i in (1, 2))
    assert len({c.text for c in out[0]}) == 3
    # The generator now knows: later requests are split from the start, honouring sample_offset.
    server.calls.clear()
    req = GenerationRequest("r", SamplingParams(n=2, temperature=0.8, seed=7), prompt="hi", sample_offset=4)
    g.generate([chat("q2", n=2, temperature=0.8, seed=7)])
    assert [b["n"] for b in server.bodies()] == [1, 1]
    server.calls.clear()
    g.generate([req])  # the legacy endpoint is probed separately
    assert [b["n"] for b in server.bodies()][0] == 2
    assert {b["seed"] for b in server.bodies()} == {row_seed(7, "r", 4), row_seed(7, "r", 5)}


def test_greedy_asks_once_and_replicates(server):
    out = make(server).generate([chat("q", n=3, temperature=0)])
    assert len(server.calls) == 1 and server.calls[0]["body"]["n"] == 1
    assert len({c.text for c in out[0]}) == 1 and len(out[0]) == 3 and out[0][0] is not out[0][1]


def test_concurrency_is_bounded(server):
    server.delay = 0.1
    out = make(server, max_concurrency=3).generate([chat(f"q{i}") for i in range(12)])
    assert len(out) == 12 and all(o[0].ok for o in out)
    assert 2 <= server.max_active <= 3


def test_token_bucket_math_with_fake_clock():
    now = [100.0]
    b = TokenBucket(120, clock=lambda: now[0])  # 120/min = 2 per second, burst of 120
    assert [b.reserve(1) for _ in range(120)] == [0.0] * 120
    assert b.reserve(1) == pytest.approx(0.5) and b.reserve(1) == pytest.approx(1.0)
    now[0] += 1.0  # two units refilled: the debt of 2 is paid
    assert b.reserve(1) == pytest.approx(0.5)
    now[0] += 1000  # the level never exceeds the capacity
    assert b.reserve(120) == 0.0 and b.reserve(1) == pytest.approx(0.5)
    lim = RateLimiter(tpm=600, clock=lambda: now[0])  # 10 tokens per second
    assert lim.reserve(600) == 0.0 and lim.reserve(100) == pytest.approx(10.0)
    lim.correct(estimated=700, actual=100)  # the estimate was 600 too high: given back
    assert lim.reserve(10) == 0.0
    assert RateLimiter().reserve(10**9) == 0.0
    with pytest.raises(MathsynthError):
        TokenBucket(0)


def test_rate_limit_spaces_requests(server):
    g = make(server, rpm=600, max_concurrency=8)  # 10 requests per second
    g._limiter.requests.level = 0.0  # start with an empty bucket so the spacing shows at once
    g.generate([chat(f"q{i}") for i in range(4)])
    times = sorted(c["t"] for c in server.calls)
    assert times[-1] - times[0] >= 0.25  # 4 requests at 10/s: >= 0.3 s apart end to end


def test_tokens_per_minute_corrected_by_real_usage(server):
    g = make(server, tpm=100_000)
    g._limiter = RateLimiter(tpm=100_000, clock=lambda: 0.0)  # a frozen clock: no refill muddles the sums
    g.generate([chat("q", max_tokens=1000)])
    bucket = g._limiter.tokens
    # Estimated ~1003 tokens, really used 15 (10 prompt + 5 completion): the rest was given back.
    assert bucket.capacity - bucket.level == 15


def test_max_cost_stops_after_in_flight_requests(server):
    server.delay, server.prompt_tokens = 0.3, 1
    g = make(server, max_concurrency=2, max_cost=1.0, prices={"test-model": (1_000_000, 0)})  # $1 a request
    done = []
    with pytest.raises(BudgetExceeded) as exc:
        g.generate([chat(f"q{i}") for i in range(5)], on_complete=lambda r, i, c: done.append(r))
    assert sorted(done) == [0, 1]  # both in-flight requests finished and were delivered
    assert len(server.calls) == 2
    msg = str(exc.value)
    assert "spent $2.0000 of --max-cost $1.00; 2 of 5 requests finished" in msg and "higher --max-cost" in msg
    assert g.stats["cost_usd"] == pytest.approx(2.0) and g.stats["priced"]
    with pytest.raises(BudgetExceeded):  # still over budget: nothing more is sent
        g.generate([chat("again")])
    assert len(server.calls) == 2


def test_zero_budget_sends_nothing(server):
    g = make(server, max_cost=0, prices={"test-model": (1, 1)})
    with pytest.raises(BudgetExceeded, match="0 of 1 requests finished"):
        g.generate([chat("q")])
    assert server.calls == []


def test_known_model_is_priced(server):
    g = make(server, model="gpt-4o-2024-08-06")
    g.generate([chat("q")])
    assert g.stats["cost_usd"] == pytest.approx((10 * 2.5 + 5 * 10) / 1e6) and g.stats["priced"]
    assert find_price("gpt-4o-mini-2024-07-18") == (0.15, 0.6)
    assert find_price("custom", merge_prices({"custom": (1, 2)})) == (1.0, 2.0)


def test_api_key_never_leaks(server, caplog):
    server.script = [{"status": 401, "body": {"error": {"message": f"Incorrect API key provided: {KEY}."}}}]
    g = make(server)
    with caplog.at_level(logging.DEBUG):
        out = g.generate([chat("q")])
    err = out[0][0].error
    assert err.startswith("HTTP 401") and "Incorrect API key" in err and KEY not in err
    assert KEY not in repr(g) and KEY not in json.dumps(g.describe()) and KEY not in repr(vars(g))
    assert KEY not in str(g.stats) and KEY not in caplog.text
    assert set(g.describe()) >= {"backend", "model", "base_url", "max_concurrency", "rpm", "tpm",
                                 "request_timeout", "max_retries"}


def test_key_resolution(server, monkeypatch):
    monkeypatch.delenv("MATHSYNTH_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MathsynthError, match="MATHSYNTH_API_KEY"):
        OpenAIGenerator("gpt-4o")
    with pytest.raises(MathsynthError, match="no API key"):
        OpenAIGenerator("gpt-4o", "https://api.openai.com/v1/")
    OpenAIGenerator("local", server.url).generate([chat("q")])  # local server: a dummy key is fine
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-env")
    monkeypatch.setenv("MATHSYNTH_API_KEY", "sk-mathsynth-env")
    OpenAIGenerator("local", server.url).generate([chat("q")])
    assert server.calls[-1]["auth"] == "Bearer sk-mathsynth-env"
    with pytest.raises(MathsynthError, match="no known price"):
        OpenAIGenerator("gpt-99", max_cost=5.0)


def test_identity_and_url_normalisation(server):
    g = OpenAIGenerator("m", server.url + "/", api_key=KEY)
    assert g.cache_identity() == {"backend": "openai", "model": "m", "base_url": server.url}
    assert normalize_base_url("http://Example.com:8000") == "http://example.com:8000/v1"
    with pytest.raises(MathsynthError):
        normalize_base_url("http://user:pw@host/v1")
    assert parse_retry_after({"Retry-After": "99999"}) == 600.0
    g.close()


def test_generate_inside_running_event_loop(server):
    g = make(server)

    async def main():
        return g.generate([chat("q")])

    assert asyncio.run(main())[0][0].ok
