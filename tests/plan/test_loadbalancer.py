"""Load balancer stage."""
import pytest

from tunestack.plan.loadbalancer import loadbalancer_settings
from tunestack.plan.placement import place
from tunestack.stackfile.spec import AppSpec

from .helpers import spec


@pytest.mark.parametrize("threads,maxconn", [(10, 256), (64, 256), (65, 260), (1000, 4000)])
def test_maxconn_queues_at_the_load_balancer(threads, maxconn):
    # HAProxy docs (maxconn): excess connections wait in HAProxy's queue, not the kernel backlog;
    # four per web thread, at least 256.
    s = spec("local")
    lb = loadbalancer_settings(s.app, place(s, "hosts"), threads, "/health", lambda k: "default")
    assert lb["maxconn"].value == maxconn


@pytest.mark.parametrize("timeout_ms,text", [(30_000, "30"), (20_000, "20")])
def test_server_timeout_is_the_request_timeout(timeout_ms, text):
    s = spec("local")
    app = AppSpec("python", 4, 128 * 1024**2, request_timeout_ms=timeout_ms)
    lb = loadbalancer_settings(app, place(s, "hosts"), 10, "/health", lambda k: "default")
    assert (lb["timeout_server"].value, lb["timeout_server"].text) == (timeout_ms, text)
