"""The Python reference app enforces its request timeout (issue #26, point 3): Gunicorn's `timeout`
is a worker heartbeat under gthread, not a request limit (Gunicorn docs, "timeout"), so the app
keeps a deadline of REQUEST_TIMEOUT (the plan's web env) and answers 503 once it is spent, without
waiting on anything further."""
import json
import time

import pytest

from tunestack.plan import plan_stack


def call(app, environ=None):
    said = {}

    def start_response(status, headers):
        said["status"] = status
    body = b"".join(app({"PATH_INFO": "/", **(environ or {})}, start_response))
    return said["status"], json.loads(body)


def test_a_request_past_its_timeout_is_answered_503_at_once(monkeypatch):
    from refapp import app as refapp

    monkeypatch.setenv("REQUEST_TIMEOUT", "0.05")
    monkeypatch.setenv("APP_EXTRA_LATENCY_MS", "100")   # the request spends its time before the database
    monkeypatch.setattr(refapp, "_resources", lambda: pytest.fail("reached the database after its deadline"))
    started = time.monotonic()
    status, body = call(refapp.application)
    assert status == "503 Service Unavailable" and body["error"].startswith("request timeout")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("stack", ["local", "dev"])
def test_the_plan_gives_the_python_app_its_request_timeout(stack):
    plan = plan_stack(stack)
    timeout = plan.web_env["REQUEST_TIMEOUT"]
    assert (timeout.value, timeout.text) == (plan.spec.app.request_timeout_ms, str(plan.spec.app.request_timeout_ms // 1000))
