"""The load balancer in front of the app replicas. Pure."""
from __future__ import annotations

from ..stackfile.spec import AppSpec
from .placement import LB_BIND_WHY, Placement
from .setting import Setting, policy, seconds

MIN_MAXCONN = 256
SURGE_SLOTS = 2          # old and new generation of one replica side by side (Docker, one host)
MAXCONN_PER_THREAD = 4   # requests queue at the load balancer, not in kernel backlogs


def loadbalancer_settings(app: AppSpec, placement: Placement, fleet_threads: int, health_path: str,
                          source_of) -> dict[str, Setting]:
    return {
        "bind": policy(placement["haproxy"].listen, LB_BIND_WHY[placement.target]),
        "port": Setting(app.lb_port, "the entry point (stack: app.lb_port)", source_of("app.lb_port")),
        "maxconn": Setting(max(MIN_MAXCONN, MAXCONN_PER_THREAD * fleet_threads),
                           f"4 × the fleet's {fleet_threads} web threads, at least {MIN_MAXCONN}: requests queue "
                           "at the load balancer, not in kernel backlogs",
                           rule=f"4 × the fleet's web threads, at least {MIN_MAXCONN}: requests queue at the load "
                                "balancer, not in kernel backlogs"),
        "timeout_server": seconds(app.request_timeout_ms, "the request timeout"),
        "health_path": policy(health_path, "the first health path of the stack"),
        "retries": policy(3, "a refused connection (a replica stopping or replaced) is retried, on another "
                             "server (option redispatch): HAProxy docs, retries / option redispatch"),
        "retry_on": policy("conn-failure empty-response",
                           "a request that a stopping replica accepted and closed without an answer is sent "
                           "again, on another server; only GET and HEAD (safe methods, RFC 9110 9.2.1), never "
                           "a POST twice: HAProxy docs, retry-on / http-request disable-l7-retry"),
        "check_interval_ms": policy(1000, "health check every second, down after 2 failures, up after 2 "
                                          "successes: a stopping replica leaves the pool within ~2 s"),
        "surge_slots": policy(SURGE_SLOTS, "server slots per replica name resolved through Docker's DNS: the "
                                           "old and the new generation both serve during a replacement"),
    }
