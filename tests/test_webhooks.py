"""Webhooks of rollouts (issue #23): one deadline per delivery however slowly the receiver answers,
no redirects, an event id that survives retries, no credential or query in any message, and
delivery only once the stack's lock is released. Receivers are HTTP servers on loopback."""
from __future__ import annotations

import fcntl
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from tunestack.rollout.notify import EVENT_ID_HEADER, Webhook, check_url, masked


def serve(handle):
    """A receiver on loopback whose do_POST is `handle(handler)`; stopped after the test."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            handle(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def receiver():
    servers = []

    def start(handle):
        servers.append(serve(handle))
        return f"http://127.0.0.1:{servers[-1].server_port}"
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def answer(status, headers=None):
    def handle(h):
        h.rfile.read(int(h.headers["Content-Length"]))
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return handle


def test_a_receiver_that_drips_its_answer_cannot_hold_a_delivery(receiver):
    """One byte every second for a minute: the delivery gives up at its deadline, as a whole."""
    def drip(h):
        h.rfile.read(int(h.headers["Content-Length"]))
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(60):
            try:
                h.wfile.write(b"X")
                h.wfile.flush()
            except OSError:
                return
            time.sleep(1)
    said = []
    hook = Webhook(receiver(drip) + "/hook", say=said.append, deadline_s=2)
    hook({"event": "rollback"})
    started = time.monotonic()
    hook.flush()
    assert time.monotonic() - started < 6, "bounded by the deadline, not by the receiver"
    assert said and "not delivered" in said[0] and "no answer within 2 s" in said[0]


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/hook", "http://127.0.0.1:9/elsewhere"])
def test_a_redirect_is_never_followed(receiver, location):
    said = []
    hook = Webhook(receiver(answer(302, {"Location": location})) + "/hook", say=said.append, deadline_s=5)
    hook({"event": "promoted"})
    hook.flush()
    assert "302 (a redirect: not followed)" in said[0]


def test_retries_carry_the_same_event_id(receiver):
    seen = []

    def flaky(h):
        seen.append(h.headers[EVENT_ID_HEADER])
        answer(500 if len(seen) == 1 else 204)(h)
    said = []
    hook = Webhook(receiver(flaky) + "/hook", say=said.append, deadline_s=10)
    hook({"event": "promoted"})
    hook({"event": "paused"})
    hook.flush()
    assert said == [] and len(seen) == 3
    assert seen[0] == seen[1] != seen[2], "a retry is the same event; another event has its own id"


def test_messages_never_show_credentials_or_the_query(receiver):
    url = receiver(answer(500)).replace("http://", "http://bot:pa55word@") + "/hook?token=t0ken"
    said = []
    hook = Webhook(url, say=said.append, deadline_s=5)
    hook({"event": "rollback"})
    hook.flush()
    assert said and "pa55word" not in said[0] and "t0ken" not in said[0] and "bot" not in said[0]
    assert masked("https://u:p@hooks.example:8443/a/b?x=1") == "https://hooks.example:8443/a/b?…"


@pytest.mark.parametrize("url", ["ftp://hooks.example/x", "file:///etc/passwd", "https://", "http://a b/"])
def test_only_http_and_https(url):
    with pytest.raises(ValueError, match="http:// or https://"):
        check_url(url)


def test_the_rollout_command_delivers_after_releasing_the_lock(receiver, tmp_path):
    """The receiver checks the stack's lock while it is being told: free, so a slow receiver can
    hold no `up` or other rollout (`rollout --notify` through the command's own code)."""
    from tunestack.cli.rollout import _move
    from tunestack.rollout import Metrics, StateStore

    from .test_rollout_controller import RecordingEngine

    lock_free = []

    def check_lock(h):
        fd = os.open(tmp_path / "lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            lock_free.append(True)
        except BlockingIOError:
            lock_free.append(False)
        finally:
            os.close(fd)
        answer(204)(h)
    hook = Webhook(receiver(check_lock) + "/hook", say=print, deadline_s=5)
    rollout = SimpleNamespace(rollout={"gate_max_error_rate": SimpleNamespace(value=0.01),
                                       "gate_max_p95_ms": SimpleNamespace(value=200.0),
                                       "gate_min_requests": SimpleNamespace(value=10)})
    side = SimpleNamespace(lock_dir=tmp_path, store=StateStore(tmp_path / "rollout" / "rollout.json"), plan=rollout,
                           engine=lambda say: RecordingEngine([Metrics(100, 60, 50.0)]), failures=(), redact=str)
    args = SimpleNamespace(action="start", stack="local", lock_wait=5, version="v9", pause_at=None)
    assert _move(args, side, ([100], 0, {}), lambda m: None, hook, None) == 1
    assert lock_free == [True]
