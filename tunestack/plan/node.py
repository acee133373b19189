"""Node services (node-postgres): processes per host, the pg pool per process, the V8 heap and
libuv's thread pool. Pure. Sources: Node.js docs (cluster: one worker per core;
--max-old-space-size), node-postgres docs (Pool: max 10, idleTimeoutMillis 10000,
connectionTimeoutMillis 0 = wait forever), libuv docs (UV_THREADPOOL_SIZE, default 4)."""
from __future__ import annotations

from ..stackfile.spec import AppSpec
from ..units import MIB
from .setting import Setting, policy

HEAP_SHARE = 0.75          # the rest of a process's memory: buffers, code, native allocations
LIBUV_DEFAULT_THREADS = 4
LIBUV_MAX_THREADS = 1024


def node_workers(cpus: int) -> tuple[int, str]:
    return cpus, f"one process per core ({cpus} cores; Node.js docs, cluster)"


def node_env(app: AppSpec, pool: int, process_bytes: int, cores: int, connect_ms: int,
             concurrency: int) -> dict[str, Setting]:
    heap_mib = app.node_max_old_space_bytes // MIB if app.node_max_old_space_bytes else \
        int(process_bytes * HEAP_SHARE) // MIB
    env = {
        "PG_POOL_MAX": Setting(pool, f"{concurrency} concurrent queries + {app.db_pool_headroom} headroom "
                                     "(node-postgres Pool max; the connection budget counts it)"),
        "PG_IDLE_TIMEOUT_MILLIS": policy(10_000, "node-postgres' default: an idle client closes after 10 s"),
        "PG_CONNECTION_TIMEOUT_MILLIS": Setting(connect_ms, "the timeout chain's DB connect (node-postgres waits "
                                                            "forever by default)"),
        "NODE_OPTIONS": Setting(f"--max-old-space-size={heap_mib}",
                                "stack file (app.node.max_old_space)" if app.node_max_old_space_bytes else
                                "75 % of the memory set aside per process for V8's old space (Node.js docs)"),
    }
    if app.node_uses_threadpool:
        size = min(LIBUV_MAX_THREADS, max(LIBUV_DEFAULT_THREADS, cores))
        env["UV_THREADPOOL_SIZE"] = Setting(size, f"the app uses libuv's pool (fs, crypto, dns.lookup): one thread "
                                                  f"per core, at least libuv's default {LIBUV_DEFAULT_THREADS}")
    return env
