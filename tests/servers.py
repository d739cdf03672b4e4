"""Real servers for tests: the llama.cpp OpenAI-compatible server and a fault-injecting proxy.

Both listen on 127.0.0.1 only, on free ports, and are started and stopped by the tests.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` serving one GGUF file on 127.0.0.1 (one request at a time)."""

    def __init__(self, gguf: str, n_ctx: int = 2048):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", str(n_ctx), "--verbose", "False"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited: {self.proc.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("llama.cpp server did not come up within 180 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


FAULTS = ("drop", "429", "500", "slow", "truncated", "empty_choices")


class FaultProxy:
    """An HTTP proxy in front of ``upstream`` that injects faults chosen by ``schedule``.

    ``schedule(index, body) -> fault or None`` is asked for every POST (index counts from 0).
    Faults: ``drop`` (close the connection, no reply), ``429`` (with Retry-After), ``500``,
    ``slow`` (wait ``slow_seconds`` before forwarding, past the client's timeout), ``truncated``
    (half of the real JSON body), ``empty_choices`` (the real reply with ``choices: []``).
    ``forwarded`` lists the bodies that reached the server; ``delivered`` those whose real
    reply went back to the client intact.
    """

    def __init__(self, upstream_port: int, schedule: Callable[[int, dict], str | None],
                 slow_seconds: float = 4.0, retry_after: float = 1.0):
        self.upstream_port, self.schedule = upstream_port, schedule
        self.slow_seconds, self.retry_after = slow_seconds, retry_after
        self.lock = threading.Lock()
        self.count = 0
        self.faults: list[str] = []
        self.forwarded: list[dict] = []
        self.delivered: list[dict] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _reply(self, status: int, data: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _forward(self, method: str, body: bytes | None) -> tuple[int, bytes]:
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=300)
                try:
                    conn.request(method, self.path, body=body, headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    return resp.status, resp.read()
                finally:
                    conn.close()

            def do_GET(self):
                status, data = self._forward("GET", None)
                self._reply(status, data)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                with proxy.lock:
                    index = proxy.count
                    proxy.count += 1
                fault = proxy.schedule(index, body)
                if fault:
                    with proxy.lock:
                        proxy.faults.append(fault)
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault == "429":
                    return self._reply(429, b'{"error": {"message": "rate limited"}}',
                                       {"Retry-After": str(proxy.retry_after)})
                if fault == "500":
                    return self._reply(500, b'{"error": {"message": "internal error"}}')
                if fault == "slow":
                    time.sleep(proxy.slow_seconds)
                status, data = self._forward("POST", raw)
                with proxy.lock:
                    proxy.forwarded.append(body)
                if fault == "truncated":
                    return self._reply(status, data[: len(data) // 2])
                if fault == "empty_choices" and status == 200:
                    reply = json.loads(data)
                    reply["choices"] = []
                    return self._reply(status, json.dumps(reply).encode())
                try:
                    self._reply(status, data)
                except OSError:  # the client gave up (timeout): the reply is lost, as in real life
                    return
                if fault != "slow" and status == 200:
                    with proxy.lock:
                        proxy.delivered.append(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
