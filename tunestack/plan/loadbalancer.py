"""The load balancer in front of the app replicas. Pure."""
from __future__ import annotations

from ..stackfile.spec import AppSpec
from .placement import LB_BIND_WHY, Placement
from .setting import Setting, policy, seconds

MIN_MAXCONN = 256
SURGE_SLOTS = 2          # old and new generation of one replica side by side (Docker, one host)
MAXCONN_PER_THREAD = 4   # requests queue at the load balancer, not in kernel backlogs


HTTP_REQUEST_MS = 10_000   # HAProxy docs (timeout http-request): a client has 10 s to send its headers
CHECK_INTERVAL_MS = 1000   # health check every second …
CHECK_RISE = 2             # … up after 2 successes
# A replaced replica is back after its checks pass: a request queued meanwhile waits for it, not a 503.
REPLACEMENT_WAIT_MS = CHECK_RISE * CHECK_INTERVAL_MS + 1000
SERVER_MARGIN_MS = 1_000   # the LB waits this much longer than the app's own request timeout


def queue_timeout(queue_ms: int) -> Setting:
    """HAProxy's `timeout queue` (HAProxy docs: unset, it is `timeout connect`): what the timeout
    chain leaves for waiting, so a request that could no longer finish is shed at once (503); but
    never less than a replaced replica needs to pass its health checks, or a one-replica stack
    would answer 503 during every replacement."""
    ms = max(queue_ms, REPLACEMENT_WAIT_MS)
    why = (f"the {queue_ms // 1000} s the timeout chain leaves for waiting: a request queued longer could not "
           "finish in time, so it is shed at once (503)") if ms == queue_ms else (
        f"{ms // 1000} s, more than the {queue_ms // 1000} s the timeout chain leaves: a replaced replica needs "
        f"{CHECK_RISE} health checks {CHECK_INTERVAL_MS // 1000} s apart before it serves, and requests wait for it")
    return seconds(ms, why, rule="what the timeout chain leaves for waiting, at least the time a replaced replica "
                                 "needs to pass its health checks")


def loadbalancer_settings(app: AppSpec, placement: Placement, fleet_threads: int, replica_threads: int,
                          queue_ms: int, health_path: str, source_of) -> dict[str, Setting]:
    """`replica_threads`: the requests one replica serves at once (its web processes × threads);
    `queue_ms`: what a request's timeout chain leaves for waiting (timeouts.TimeoutChain)."""
    return {
        "bind": policy(placement["haproxy"].listen, LB_BIND_WHY[placement.target]),
        "port": Setting(app.lb_port, "the entry point (stack: app.lb_port)", source_of("app.lb_port")),
        "maxconn": Setting(max(MIN_MAXCONN, MAXCONN_PER_THREAD * fleet_threads),
                           f"4 × the fleet's {fleet_threads} web threads, at least {MIN_MAXCONN}: room for the "
                           "requests queued at the load balancer (server maxconn) besides those served",
                           rule=f"4 × the fleet's web threads, at least {MIN_MAXCONN}: room for the requests "
                                "queued at the load balancer besides those served"),
        # HAProxy docs (maxconn on a server): beyond it, requests wait in HAProxy's queue for a free
        # slot, where `timeout queue` bounds the wait; without it they pile into the app's backlog.
        "server_maxconn": Setting(replica_threads, f"what one replica serves at once ({replica_threads} web "
                                                   "threads): more waits in HAProxy's queue, not in its backlog"),
        "timeout_queue": queue_timeout(queue_ms),
        "timeout_http_request": seconds(min(HTTP_REQUEST_MS, app.request_timeout_ms),
                                        "a client gets 10 s to send its request headers (HAProxy docs, timeout "
                                        "http-request: slow clients hold no connection slot)", "policy"),
        "timeout_server": seconds(app.request_timeout_ms + SERVER_MARGIN_MS,
                                  "a second above the app's own request timeout, so the app answers a slow request "
                                  "with its own error first; HAProxy's 504 is for a hung app",
                                  rule="the request timeout + 1 s"),
        "health_path": policy(health_path, "the first health path of the stack"),
        "retries": policy(3, "a refused connection (a replica stopping or replaced) is retried, on another "
                             "server (option redispatch): HAProxy docs, retries / option redispatch"),
        "retry_on": policy("conn-failure empty-response",
                           "a request that a stopping replica accepted and closed without an answer is sent "
                           "again, on another server; only GET and HEAD (safe methods, RFC 9110 9.2.1), never "
                           "a POST twice: HAProxy docs, retry-on / http-request disable-l7-retry"),
        "check_interval_ms": policy(CHECK_INTERVAL_MS, "health check every second, down after 2 failures, up after "
                                                       "2 successes: a stopping replica leaves the pool within ~2 s"),
        "surge_slots": policy(SURGE_SLOTS, "server slots per replica name resolved through Docker's DNS: the "
                                           "old and the new generation both serve during a replacement"),
    }
