"""The Node reference app stops gracefully behind a proxy that keeps connections alive (HAProxy).

Node's `server.close()` ends only the keep-alive connections idle at that moment (Node docs,
http `server.close()`). A connection whose request was in flight at SIGTERM used to stay open: its
answer said `keep-alive`, the proxy sent more requests on it, and the worker lived on until
keepAliveTimeout (65 s), past the container's 30 s stop timeout, whose SIGKILL then failed a request
(CI: 1 of 2,719 requests failed while the dev stack's Node replica was replaced). The answer in
flight must close its connection, and the app must be gone long before the stop timeout."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time

import pytest

from tunestack.local import appbuild
from tunestack.poll import wait_until
from tunestack.servers import which

STOP_TIMEOUT_S = 30   # components/_container.py: an app container's graceful stop before SIGKILL


@pytest.fixture(scope="module")
def node_app(tmp_path_factory):
    out = tmp_path_factory.mktemp("node-app")
    appbuild.build_reference_app("node", out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def started(node_app):
    """The web (a cluster of two workers) with no backing service: its answers here need none. Its
    page waits 1 s, then answers the injected 500 before it would reach the database."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "2", "APP_EXTRA_LATENCY_MS": "1000",
           "APP_FAULT_RATE": "1", "DATABASE_URL": "postgres://app@127.0.0.1:1/app",
           "REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_CACHE_URL": "redis://127.0.0.1:1/1"}
    proc = subprocess.Popen([which("node"), str(node_app / "server.js")], cwd=node_app, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def health():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/health")
                return conn.getresponse().status == 200
            except OSError:
                return False
            finally:
                conn.close()
        wait_until(health, 30, "the Node app's /health")
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_a_request_in_flight_at_sigterm_is_answered_and_closes_its_connection(started):
    proc, port = started
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/health")
    first = conn.getresponse()
    first.read()
    assert first.getheader("Connection") == "keep-alive", "the proxy's connection is kept alive while serving"
    conn.request("GET", "/")            # in flight for a second
    time.sleep(0.3)
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 500 and answer.getheader("X-Track"), "the request in flight is answered by the app"
    assert answer.getheader("Connection") == "close", "its answer tells the proxy to send nothing more on it"
    proc.wait(timeout=STOP_TIMEOUT_S)
    took = time.monotonic() - signalled
    assert proc.returncode == 0, f"the app ended with {proc.returncode}, not a clean stop"
    assert took < STOP_TIMEOUT_S / 3, f"the app took {took:.1f} s to stop: a container stop would kill it"

