"""Kernel settings the services ask for. Pure.

Linux caps every listen() backlog at net.core.somaxconn without a word (listen(2): "If the backlog
argument is greater than the value in /proc/sys/net/core/somaxconn, then it is silently truncated").
So the plan names each listening service's backlog, and the somaxconn its network namespace needs
to honour it. On Docker each container has its own namespace, so the value is set per container
(`sysctls`); on hosts it is the host's. verify reads what the namespace really has.
"""
from __future__ import annotations

from .setting import Setting

LINUX_SOMAXCONN_DEFAULT = 4096     # Linux ≥ 5.4 (it was 128 before): kernel docs, ip-sysctl
SOMAXCONN_MAX = 65535              # the sysctl's ceiling
PGBOUNCER_BACKLOG_DEFAULT = 128    # PgBouncer manual: listen_backlog
REDIS_TCP_BACKLOG = 511            # redis.conf: tcp-backlog default
PUMA_BACKLOG = 1024                # Puma: the binder's default backlog
GUNICORN_BACKLOG = 2048            # Gunicorn docs: backlog
POSTGRES_BACKLOG_PER_CONNECTION = 2  # PostgreSQL listens with 2 × MaxConnections (pqcomm.c)


def pgbouncer_backlog(max_client_conn: int) -> Setting:
    """Room for every client of the fleet to connect at once (a deploy reconnects them all). In
    steps (Linux's default somaxconn, then powers of two), because PgBouncer reads listen_backlog
    only at start: a few more clients must not cost a restart."""
    value = LINUX_SOMAXCONN_DEFAULT
    while value < max_client_conn and value < SOMAXCONN_MAX:
        value *= 2
    value = min(SOMAXCONN_MAX, value)
    # The reason names no client count: it lands in the start-only file, where a changed word
    # would mean a restart.
    return Setting(value, f"max_client_conn clients may all reconnect at once (a deploy); in steps from Linux's "
                          f"default {LINUX_SOMAXCONN_DEFAULT} (PgBouncer's own is {PGBOUNCER_BACKLOG_DEFAULT}; it "
                          "reads this only at start)")


def listen_backlogs(max_connections: int, pgbouncer_backlog_value: int, lb_maxconn: int,
                    framework: str) -> dict[str, tuple[int, str]]:
    """The backlog each listening service asks the kernel for, and why."""
    web = (PUMA_BACKLOG, "Puma's default backlog") if framework == "rails" else (
        GUNICORN_BACKLOG, "Gunicorn's default backlog")
    return {
        "postgres": (POSTGRES_BACKLOG_PER_CONNECTION * max_connections,
                     f"PostgreSQL listens with 2 × max_connections ({max_connections})"),
        "pgbouncer": (pgbouncer_backlog_value, "PgBouncer's planned listen_backlog"),
        "redis-cache": (REDIS_TCP_BACKLOG, "Redis' default tcp-backlog"),
        "redis-queue": (REDIS_TCP_BACKLOG, "Redis' default tcp-backlog"),
        "haproxy": (lb_maxconn, "HAProxy's backlog defaults to the frontend's maxconn"),
        "web": web,
    }


def somaxconn(backlog: int, why: str) -> Setting:
    """At least the service's backlog; never below Linux's own default."""
    value = min(SOMAXCONN_MAX, max(backlog, LINUX_SOMAXCONN_DEFAULT))
    reason = (f"≥ the listen backlog {backlog} ({why}); Linux truncates a larger backlog to it"
              + (f"; Linux's default {LINUX_SOMAXCONN_DEFAULT} already allows it" if backlog <= LINUX_SOMAXCONN_DEFAULT
                 else ""))
    return Setting(value, reason)


def kernel_settings(backlogs: dict[str, tuple[int, str]]) -> dict[str, dict[str, Setting]]:
    """Per service: the sysctls its network namespace needs, and the backlog they serve (`listen_backlog`,
    what verify compares the namespace's value with)."""
    return {service: {"net.core.somaxconn": somaxconn(backlog, why),
                      "listen_backlog": Setting(backlog, why)}
            for service, (backlog, why) in backlogs.items()}
