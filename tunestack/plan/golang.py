"""Go services (database/sql): pool limits per process, GOMAXPROCS and GOMEMLIMIT, the job worker
pool. Pure. Sources: Go's database/sql docs (SetMaxOpenConns, SetMaxIdleConns, SetConnMaxLifetime,
SetConnMaxIdleTime), the Go GC guide (GOMEMLIMIT), the guides this project grew from (MaxOpenConns
25, MaxIdleConns 5, ConnMaxLifetime 5-30 min, ConnMaxIdleTime 5 min, a pool of 10 job workers)."""
from __future__ import annotations

import math

from ..stackfile.spec import AppSpec
from ..units import MIB
from .setting import Setting

GOMEMLIMIT_SHARE = 0.9     # Go GC guide: a soft limit a little under the memory the process may use
IDLE_SHARE = 0.2           # the guides: 5 idle of 25 open
MIN_IDLE = 2               # database/sql's own default MaxIdleConns
JOB_QUEUE_PER_WORKER = 10  # in-memory backlog per worker; beyond it jobs stay in Redis


def go_web_env(app: AppSpec, cores: int, process_bytes: int, pool: int) -> dict[str, Setting]:
    idle = max(MIN_IDLE, math.ceil(pool * IDLE_SHARE))
    return {
        "DB_MAX_OPEN_CONNS": Setting(pool, f"{app.threads} concurrent requests + {app.db_pool_headroom} headroom "
                                           "(database/sql: SetMaxOpenConns; the connection budget counts it)"),
        "DB_MAX_IDLE_CONNS": Setting(min(idle, pool), "a fifth of the open limit, at least database/sql's default 2 "
                                                      "(SetMaxIdleConns; never above MaxOpenConns)"),
        **lifetimes(app),
        **runtime(cores, process_bytes),
    }


def go_jobs_env(app: AppSpec, cores: int, process_bytes: int, pool: int) -> dict[str, Setting]:
    workers = app.jobs.concurrency   # JOB_CONCURRENCY, as for every framework: the size of the worker pool
    return {
        "JOB_QUEUE_BOUND": Setting(workers * JOB_QUEUE_PER_WORKER, f"{JOB_QUEUE_PER_WORKER} waiting jobs per worker in "
                                                                   "memory; the rest wait in the queue Redis"),
        "DB_MAX_OPEN_CONNS": Setting(pool, f"{workers} workers + {app.db_pool_headroom} headroom"),
        "DB_MAX_IDLE_CONNS": Setting(min(pool, max(MIN_IDLE, math.ceil(pool * IDLE_SHARE))),
                                     "a fifth of the open limit, at least 2"),
        **lifetimes(app),
        **runtime(cores, process_bytes),
    }


def go_duration(ms: int) -> str:
    """As Go's time.ParseDuration reads it: 30m, 90s, 1500ms (it has no "min")."""
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def lifetimes(app: AppSpec) -> dict[str, Setting]:
    lifetime, idle = app.go_conn_max_lifetime_ms, app.go_conn_max_idle_ms
    return {
        "DB_CONN_MAX_LIFETIME": Setting(lifetime, "recycle connections before PgBouncer's server_lifetime "
                                                  "(SetConnMaxLifetime)", text=go_duration(lifetime), unit="ms"),
        "DB_CONN_MAX_IDLE_TIME": Setting(idle, "close a connection idle this long (SetConnMaxIdleTime)",
                                         text=go_duration(idle), unit="ms"),
    }


def runtime(cores: int, process_bytes: int) -> dict[str, Setting]:
    limit_mib = int(process_bytes * GOMEMLIMIT_SHARE) // MIB
    return {
        # Go 1.19 reads the host's cores, not a container's CPU quota: set it.
        "GOMAXPROCS": Setting(max(1, cores), f"the {max(1, cores)} cores this process gets (Go < 1.25 ignores "
                                             "container CPU limits)"),
        "GOMEMLIMIT": Setting(limit_mib * MIB, "90 % of the memory set aside per process (Go GC guide: a soft "
                                                   "limit under the hard one)", text=f"{limit_mib}MiB", unit="bytes"),
    }
