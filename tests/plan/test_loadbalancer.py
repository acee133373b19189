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
    lb = loadbalancer_settings(s.app, place(s, "hosts"), threads, 4, 3000, "/health", lambda k: "default")
    assert lb["maxconn"].value == maxconn


@pytest.mark.parametrize("timeout_ms,text", [(30_000, "31"), (20_000, "21"), (15_000, "16")])
def test_server_timeout_is_a_second_above_the_request_timeout(timeout_ms, text):
    """Issue #26: HAProxy's `timeout server` equal to the app's request timeout made the load
    balancer's 504 race the app's own timeout error; the app must answer first."""
    s = spec("local")
    app = AppSpec("python", 4, 128 * 1024**2, request_timeout_ms=timeout_ms)
    lb = loadbalancer_settings(app, place(s, "hosts"), 10, 4, 3000, "/health", lambda k: "default")
    assert (lb["timeout_server"].value, lb["timeout_server"].text) == (timeout_ms + 1000, text)


@pytest.mark.parametrize("replica_threads,queue_ms,request_ms,http_request,queued_ms", [
    (6, 3000, 15_000, "10", 3000), (40, 12_000, 30_000, "10", 12_000),
    (3, 1000, 5_000, "5", 3000)])   # never less than a replaced replica's 2 health checks 1 s apart (+1 s)
def test_requests_queue_at_the_load_balancer_for_what_the_chain_leaves(replica_threads, queue_ms, request_ms,
                                                                       http_request, queued_ms):
    """Issue #26, HAProxy docs: with only a global maxconn HAProxy never queues; a server's maxconn
    makes the excess wait in HAProxy's queue, bounded by `timeout queue` (then 503). Each replica
    takes what it serves at once; the queue waits what the timeout chain leaves; `timeout
    http-request` gives a client 10 s (no more than the request timeout) to send its headers."""
    s = spec("local")
    app = AppSpec("python", 4, 128 * 1024**2, request_timeout_ms=request_ms)
    lb = loadbalancer_settings(app, place(s, "hosts"), 10, replica_threads, queue_ms, "/health", lambda k: "default")
    assert lb["server_maxconn"].value == replica_threads
    assert lb["timeout_queue"].value == queued_ms and lb["timeout_queue"].text == str(queued_ms // 1000)
    assert lb["timeout_http_request"].text == http_request
