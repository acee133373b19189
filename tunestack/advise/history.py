"""advise from the stack's own Prometheus (issue #29), where tunestack:monitoring runs one: the
counters as Prometheus stored them at the start of a window of hours to days, in place of a sample
advise took itself. The same rules then compare them with a sample taken now: both are the
servers' own cumulative counters, read by the exporters then and by advise now.

The window starts at the latest of: now less `--since`, the time the running plan was applied (a
window that spans a plan change mixes two configurations), and Prometheus' oldest sample of the
database. Counters Prometheus does not hold (pg_stat_statements, per-table dead tuples) are not
compared: their rules say "not enough data"."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..monitoring.api import MonitoringUnreachable, Prometheus

# sample key → the query for its value, per area of advise/snapshot.py; the exporters' own names
# (postgres_exporter 0.11, spreaker's PgBouncer exporter, redis_exporter with the scrape's role).
POSTGRES = {"temp_files": "pg_stat_database_temp_files", "temp_bytes": "pg_stat_database_temp_bytes",
            "blks_hit": "pg_stat_database_blks_hit", "blks_read": "pg_stat_database_blks_read",
            "deadlocks": "pg_stat_database_deadlocks", "xact_commit": "pg_stat_database_xact_commit",
            "stats_reset": "pg_stat_database_stats_reset"}
CHECKPOINTS = {"checkpoints_timed": "pg_stat_bgwriter_checkpoints_timed_total",
               "checkpoints_requested": "pg_stat_bgwriter_checkpoints_req_total"}
PGBOUNCER = {"total_wait_time_us": "pgbouncer_stats_waiting_duration_microseconds_total",
             "total_xact_count": "pgbouncer_stats_transactions_total"}
REDIS = {"evicted_keys": "redis_evicted_keys_total", "keyspace_hits": "redis_keyspace_hits_total",
         "keyspace_misses": "redis_keyspace_misses_total", "used_memory": "redis_memory_used_bytes",
         "maxmemory": "redis_memory_max_bytes", "uptime_in_seconds": "redis_uptime_in_seconds",
         "mem_fragmentation_ratio": "redis_mem_fragmentation_ratio", "blocked_clients": "redis_blocked_clients",
         "aof_rewrite_in_progress": "redis_aof_rewrite_in_progress"}
# One series per area whose first sample in the window starts that area's history.
FIRST_SAMPLES = ('pg_stat_database_xact_commit{datname="app"}', "pgbouncer_up", 'redis_up{role="cache"}',
                 'redis_up{role="queue"}', "tunestack_job_queue_depth")


def queries() -> dict[str, dict[str, str]]:
    """Each area's keys and the query that reads it (summed where the exporter splits by pool)."""
    app_db, role = '{datname="app"}', '{role="%s"}'
    return {
        "postgres": {**{k: f"max({m}{app_db})" for k, m in POSTGRES.items()},
                     **{k: f"max({m})" for k, m in CHECKPOINTS.items()}},
        "pgbouncer": {k: f'sum({m}{{database="app"}})' for k, m in PGBOUNCER.items()},
        "redis_cache": {k: f"max({m}{role % 'cache'})" for k, m in REDIS.items()},
        "redis_queue": {k: f"max({m}{role % 'queue'})" for k, m in REDIS.items()},
        "queue": {"depth": "max(tunestack_job_queue_depth)"},
    }


@dataclass(frozen=True)
class HistoryWindow:
    start: float
    why: str     # which bound set the start


def window_start(prometheus: Prometheus, now: float, since_s: float, applied_at: float | None,
                 interval_s: float) -> HistoryWindow:
    """The latest of the three bounds, and which it was."""
    step = f"[{int(since_s)}s:{max(1, int(interval_s))}s]"
    firsts = [prometheus.query(f"min(min_over_time(timestamp({s}){step}))", at=now) for s in FIRST_SAMPLES]
    oldest = [max(rows[0][1] for rows in firsts)] if all(firsts) else []
    bounds = [(now - since_s, f"--since {int(since_s)} s")]
    if applied_at:
        bounds.append((applied_at, "the running plan was applied then"))
    if oldest:
        bounds.append((oldest[0], "Prometheus' oldest samples of every area in the window"))
    start, why = max(bounds)
    return HistoryWindow(start, why)


def sample_at(prometheus: Prometheus, at: float) -> dict:
    """The areas' counters as Prometheus held them at `at`; an area it holds nothing of says so."""
    out: dict = {"at": at, "source": "prometheus"}
    for area, keys in queries().items():
        values = {}
        for key, query in keys.items():
            rows = prometheus.query(query, at=at)
            if rows:   # a timestamp never set (stats never reset) is NaN there, 0 in advise's own samples
                values[key] = 0.0 if math.isnan(rows[0][1]) else rows[0][1]
        out[area] = values if values else {"error": f"Prometheus holds no sample of it at {at:.0f}"}
    return out


def baseline_from(prometheus_address: str, now: float, since_s: float, applied_at: float | None,
                  interval_s: float) -> tuple[dict, HistoryWindow] | None:
    """The window's first sample from Prometheus, or None when it does not answer."""
    prometheus = Prometheus(prometheus_address)
    try:
        window = window_start(prometheus, now, since_s, applied_at, interval_s)
        return sample_at(prometheus, window.start), window
    except MonitoringUnreachable:
        return None
