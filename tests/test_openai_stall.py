"""The openai backend's stall detector against servers on 127.0.0.1: one that accepts connections
and never answers, and the scripted server of test_openai_backend (slow replies, Retry-After)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from test_openai_backend import KEY, chat, make, server  # noqa: F401, F811 (server is a fixture)

from mathsynth.backends.openai_backend import OpenAIGenerator


class HungServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (a wedged server)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)  # hold it open, read nothing, say nothing

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_hung_server_fails_loudly_within_the_stall_timeout():
    from mathsynth.backends.base import StalledServer

    hung = HungServer()
    try:
        g = OpenAIGenerator("m", hung.url, api_key=KEY, request_timeout=60, max_retries=6, stall_timeout=1.0)
        t0 = time.monotonic()
        with pytest.raises(StalledServer, match=r"127\.0\.0\.1.*sent no reply for \d+ s while 3 request"):
            g.generate([chat(f"q{i}") for i in range(3)])
        assert time.monotonic() - t0 < 5  # not 60 s x 7 attempts
    finally:
        hung.close()


def test_stall_timeout_defaults_by_host_and_waits_do_not_count(server):  # noqa: F811
    from mathsynth.backends.openai_backend import STALL_LOCAL, STALL_REMOTE

    assert make(server).stall_timeout == STALL_LOCAL
    assert OpenAIGenerator("gpt-4-turbo", api_key=KEY).stall_timeout == STALL_REMOTE
    # A 429 with Retry-After longer than the stall timeout: nothing is in flight while we wait.
    server.script = [{"status": 429, "headers": {"Retry-After": "1.5"}}]
    out = make(server, stall_timeout=0.8).generate([chat("q")])
    assert out[0][0].ok
    # Replies that keep coming (each slow, fewer slots than requests) are no stall either.
    server.delay = 0.4
    out = make(server, stall_timeout=0.8, max_concurrency=2).generate([chat(f"s{i}") for i in range(6)])
    assert all(c[0].ok for c in out)


def test_cli_eval_against_a_hung_server_exits_3_naming_it(tmp_path):
    import subprocess
    import sys

    hung = HungServer()
    try:
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "mathsynth.cli", "eval", "--model", f"openai:m@{hung.url}",
                            "--benchmark", "demo", "--limit", "2", "--stall-timeout", "2", "--no-cache",
                            "--out", str(tmp_path / "e")], capture_output=True, text=True, timeout=300)
        took = time.monotonic() - t0
    finally:
        hung.close()
    assert r.returncode == 3, r.stderr
    assert hung.url in r.stderr and "sent no reply" in r.stderr and "Traceback" not in r.stderr
    assert took < 60
