"""One sample of a stack's cumulative counters, read as verify reads a host: through a testinfra
host (local://, ssh://), with passwords read from files on that host. Cheap by design: four short
queries on PostgreSQL and PgBouncer's admin console, INFO on each Redis, one LLEN (bench/advise.py
measures them)."""
from __future__ import annotations

import json
import time

from ..probes import psql, puma_control, redis_cli

PG_DATABASE = ("SELECT temp_files, temp_bytes, blks_hit, blks_read, deadlocks, xact_commit, "
               "coalesce(extract(epoch FROM stats_reset), 0) FROM pg_stat_database WHERE datname = 'app'")
# PostgreSQL 17 moved checkpoint counts to pg_stat_checkpointer (release notes 17, "Monitoring").
CHECKPOINTS_17 = "SELECT num_timed, num_requested FROM pg_stat_checkpointer"
CHECKPOINTS_OLD = "SELECT checkpoints_timed, checkpoints_req FROM pg_stat_bgwriter"
WAL_BYTES = "SELECT wal_bytes FROM pg_stat_wal"       # PostgreSQL 14+
# The statements that cost the most so far (pg_stat_statements normalises constants away).
# Rows whose text may hold anything (a query with \r or \n, a quoted table name with |) come back as
# one JSON document: the parser never splits server text on lines or separators.
# advise's own reads of the statistics views are left out: idle, a stack's top statements were its own;
# so are postgres_exporter's (its role's), which would lead every idle stack's list.
NOT_THE_EXPORTER = "userid <> ALL (SELECT oid FROM pg_roles WHERE rolname = 'tunestack_monitor') "
STATEMENTS = ("SELECT coalesce(json_agg(s), '[]') FROM (SELECT queryid::text AS id, calls, total_exec_time AS ms, "
              "rows, temp_blks_written AS temp, left(query, 100) AS query FROM pg_stat_statements "
              "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'app') AND " + NOT_THE_EXPORTER +
              "AND query !~* 'pg_stat_(statements|database|bgwriter|checkpointer|wal|activity|user_tables)' "
              "AND query !~* '^\\s*show\\M' "
              "ORDER BY total_exec_time DESC LIMIT 20) s")
DEAD_TUPLES = ("SELECT coalesce(json_agg(t), '[]') FROM (SELECT relname AS name, n_live_tup AS live, "
               "n_dead_tup AS dead, autovacuum_count AS vacuums FROM pg_stat_user_tables "
               "WHERE n_dead_tup > 0 ORDER BY n_dead_tup DESC LIMIT 10) t")
IDLE_IN_TRANSACTION = ("SELECT count(*), coalesce(max(extract(epoch FROM now() - state_change)), 0) "
                       "FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'")
SERVER_VERSION = "SHOW server_version_num"
# Temp blocks by kind of statement (pg_stat_statements tracks utility statements by default): a
# CREATE INDEX, ALTER TABLE, CLUSTER, REINDEX, VACUUM or REFRESH that spills is maintenance_work_mem's,
# not work_mem's. advise's own statements read catalogs and write no temp files.
TEMP_BY_KIND = ("SELECT coalesce(sum(temp_blks_written) FILTER (WHERE query ~* "
                "'^\\s*(create|alter|cluster|reindex|vacuum|refresh)\\M'), 0), "
                "coalesce(sum(temp_blks_written), 0) FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'app')")


def _numbers(line: str) -> list[float]:
    return [float(x) if x else 0.0 for x in line.split("|")]


def postgres(host, secrets_dir: str, port: int) -> dict:
    version = int(psql(host, secrets_dir, port, SERVER_VERSION).strip())
    temp_files, temp_bytes, hit, read, deadlocks, commits, reset = _numbers(psql(host, secrets_dir, port, PG_DATABASE).strip())
    timed, requested = _numbers(psql(host, secrets_dir, port, CHECKPOINTS_17 if version >= 170000 else CHECKPOINTS_OLD).strip())
    out = {"temp_files": temp_files, "temp_bytes": temp_bytes, "blks_hit": hit, "blks_read": read,
           "deadlocks": deadlocks, "xact_commit": commits, "stats_reset": reset,
           "checkpoints_timed": timed, "checkpoints_requested": requested}
    if version >= 140000:
        out["wal_bytes"] = float(psql(host, secrets_dir, port, WAL_BYTES).strip() or 0)
    out["temp_blks_maintenance"], out["temp_blks_all"] = _numbers(psql(host, secrets_dir, port, TEMP_BY_KIND).strip())
    out["statements"] = {s["id"]: [float(s["calls"]), float(s["ms"]), float(s["rows"]), float(s["temp"]), s["query"]]
                         for s in json.loads(psql(host, secrets_dir, port, STATEMENTS))}
    out["tables"] = {t["name"]: [float(t["live"]), float(t["dead"]), float(t["vacuums"])]
                     for t in json.loads(psql(host, secrets_dir, port, DEAD_TUPLES))}
    idle, oldest = _numbers(psql(host, secrets_dir, port, IDLE_IN_TRANSACTION).strip())
    out["idle_in_transaction"], out["idle_in_transaction_oldest_s"] = idle, oldest
    return out


def pgbouncer(host, secrets_dir: str, port: int) -> dict:
    """SHOW POOLS (clients waiting now, the longest wait) and SHOW STATS (cumulative wait time and
    transactions) for the app database: PgBouncer manual, "SHOW POOLS" / "SHOW STATS"."""
    def rows(command: str) -> list[dict]:
        out = psql(host, secrets_dir, port, command, db="pgbouncer", user="tunestack_admin", header=True).splitlines()
        return [dict(zip(out[0].split("|"), line.split("|"))) for line in out[1:]] if out else []

    pools = [r for r in rows("SHOW POOLS") if r.get("database") == "app"]
    stats = [r for r in rows("SHOW STATS") if r.get("database") == "app"]
    return {"cl_waiting": sum(int(r.get("cl_waiting", 0)) for r in pools),
            "maxwait_s": max((float(r.get("maxwait", 0)) + float(r.get("maxwait_us", 0)) / 1e6 for r in pools), default=0.0),
            "total_wait_time_us": sum(float(r.get("total_wait_time", 0)) for r in stats),
            "total_xact_count": sum(float(r.get("total_xact_count", 0)) for r in stats)}


def redis(host, secrets_dir: str, role: str, port: int, tls: bool = False) -> dict:
    """INFO (Redis docs, "INFO"): the counters the cache and queue findings read."""
    out = redis_cli(host, secrets_dir, role, port, "INFO", tls=tls)
    info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("#"))
    keys = ("evicted_keys", "keyspace_hits", "keyspace_misses", "used_memory", "maxmemory", "uptime_in_seconds",
            "mem_fragmentation_ratio", "blocked_clients", "aof_rewrite_in_progress")
    return {k: float(info[k]) for k in keys if k in info}


def queue_depth(host, secrets_dir: str, port: int, key: str = "jobs", tls: bool = False) -> int:
    out = redis_cli(host, secrets_dir, "queue", port, "LLEN", key, tls=tls)
    return int(out.strip() or 0)


def app(host, plan, control_dir: str) -> dict:
    """The app's own view: Puma's stats (backlog and pool capacity per worker, through its control
    app's socket in the host's control folder) for Rails; the DB pool's use from the app's metrics otherwise."""
    import json
    import re

    if plan.spec.app.framework == "rails":
        stats = json.loads(puma_control(host, control_dir, plan.app["control_socket"].value, "/stats"))
        workers = [w["last_status"] for w in stats.get("worker_status", [])] or [stats]
        return {"puma_backlog": sum(w.get("backlog", 0) for w in workers),
                "puma_pool_capacity": sum(w.get("pool_capacity", 0) for w in workers),
                "puma_max_threads": sum(w.get("max_threads", 0) for w in workers)}
    text = host.check_output(f"curl -fsS -m 5 http://127.0.0.1:{plan.app['port'].value}/_tunestack/metrics")
    values = {m.group(1): float(m.group(2)) for m in
              re.finditer(r"^(tunestack_db_pool_(?:in_use|max)_connections) (\S+)$", text, re.M)}
    return {"db_pool_in_use": values.get("tunestack_db_pool_in_use_connections", 0.0),
            "db_pool_max": values.get("tunestack_db_pool_max_connections", 0.0)}


def sample_host(host, plan, secrets_dir: str, control_dir: str) -> dict:
    """Every area's counters from one host (a stack on this machine)."""
    return sample_areas({area: host for area in ("postgres", "pgbouncer", "redis_cache", "redis_queue", "queue", "app")},
                        plan, secrets_dir, control_dir)


def sample_areas(hosts: dict, plan, secrets_dir: str, control_dir: str, before_each=lambda area: None) -> dict:
    """Every area's counters, each read on its own host (`hosts[area]`): an area that cannot be
    read says why. `before_each(area)` prepares the connection (a Docker engine's address)."""
    sample: dict = {"at": time.time()}
    readers = {
        "postgres": lambda h: postgres(h, secrets_dir, plan.postgres["port"].value),
        "pgbouncer": lambda h: pgbouncer(h, secrets_dir, plan.pgbouncer["listen_port"].value),
        "redis_cache": lambda h: redis(h, secrets_dir, "cache", plan.redis["cache"]["port"].value,
                                       tls="redis-cache" in plan.tls),
        "redis_queue": lambda h: redis(h, secrets_dir, "queue", plan.redis["queue"]["port"].value,
                                       tls="redis-queue" in plan.tls),
        "queue": lambda h: {"depth": queue_depth(h, secrets_dir, plan.redis["queue"]["port"].value,
                                                 tls="redis-queue" in plan.tls)},
        "app": lambda h: app(h, plan, control_dir),
    }
    for area, read in readers.items():
        if area not in hosts:
            continue
        try:
            before_each(area)
            sample[area] = read(hosts[area])
        except Exception as exc:   # a server down or unreachable: no data for that area, never a guess
            sample[area] = {"error": str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}
    return sample
