"""Alerts on PostgreSQL and the hosts, on the names real exporters export, thresholds from the plan.
Pure.

- prometheus-community/postgres_exporter 0.11 (Debian's prometheus-postgres-exporter): `pg_up`,
  `pg_stat_activity_count`, `pg_stat_activity_max_tx_duration{state}`, `pg_stat_database_deadlocks` by default, and from the
  queries file the plan renders (`postgres-exporter-queries.yml`, its --extend.query-path):
  `pg_database_xid_age{datname}` and `pg_wal_bytes`.
- prometheus/node_exporter (`node_filesystem_avail_bytes`, `node_filesystem_size_bytes`,
  `node_memory_MemAvailable_bytes`, `node_memory_MemTotal_bytes`, `node_cpu_seconds_total`).
- Prometheus itself: `up` for every scrape target.
"""
from __future__ import annotations

import math

NEAR_LIMIT = 0.8
DISK_FREE_MIN = 0.15        # policy: time to act before PostgreSQL stops on a full disk (PANIC on WAL)
# The queries file postgres_exporter reads (--extend.query-path): a metric per column, prefixed by
# the query's name (postgres_exporter README, "Adding new metrics via a config file").
EXPORTER_QUERIES = {
    "pg_database_xid": {
        "query": "SELECT datname, age(datfrozenxid)::float8 AS age FROM pg_database WHERE datallowconn",
        "metrics": [{"datname": {"usage": "LABEL", "description": "database"}},
                    {"age": {"usage": "GAUGE", "description": "transactions since the oldest unfrozen one"}}]},
    "pg_wal": {
        "query": "SELECT coalesce(sum(size), 0)::float8 AS bytes FROM pg_ls_waldir()",
        "metrics": [{"bytes": {"usage": "GAUGE", "description": "bytes of WAL in pg_wal"}}]},
    # pg_stat_archiver: a failure newer than the last success; and how long the oldest segment
    # waiting for archive_command has waited (its .ready file in pg_wal/archive_status).
    "pg_archiver": {
        "query": "SELECT (last_failed_time IS NOT NULL AND last_failed_time >= coalesce(last_archived_time, "
                 "'-infinity'))::int::float8 AS failing, coalesce((SELECT extract(epoch FROM now() - "
                 "min(modification)) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'), 0)::float8 "
                 "AS oldest_ready_seconds FROM pg_stat_archiver",
        "metrics": [{"failing": {"usage": "GAUGE", "description": "1 while archive_command fails since its last "
                                                                  "success"}},
                    {"oldest_ready_seconds": {"usage": "GAUGE", "description": "seconds the oldest WAL segment "
                                                                               "has waited to be archived"}}]},
}


def postgres_alerts(max_connections: int, reserved: int, freeze_max_age: int, max_wal_bytes: int,
                    longest_statement_ms: int, idle_timeout_ms: int = 0) -> list[dict]:
    """`reserved`: connections only superusers (and pg_use_reserved_connections) may take;
    `idle_timeout_ms`: idle_in_transaction_session_timeout (0: none)."""
    usable = max_connections - reserved
    near = math.floor(usable * NEAR_LIMIT)
    long_s = max(60, 2 * longest_statement_ms // 1000)
    return [
        # A stopped server makes postgres_exporter slow (2-4 s a scrape, measured on 0.11): with a
        # short scrape interval the scrape times out, and pg_up is never stored; its job's `up` is.
        {"alert": "PostgresDown", "expr": 'pg_up == 0 or up{job="postgres"} == 0', "for": "1m", "severity": "critical",
         "summary": "postgres_exporter cannot reach PostgreSQL (or cannot answer in time because of it)"},
        {"alert": "PostgresConnectionsNearMax", "expr": f"sum(pg_stat_activity_count) > {near}",
         "for": "5m", "severity": "warning",
         "summary": f"more than {near} sessions: 80% of the {usable} that max_connections {max_connections} "
                    f"leaves once {reserved} are reserved; beyond it new logins fail"},
        {"alert": "PostgresLongTransaction", "for": "2m", "severity": "warning",
         "expr": f'max(pg_stat_activity_max_tx_duration{{state=~"active|idle in transaction"}}) > {long_s}',
         "summary": f"a transaction open for over {long_s}s, twice the longest statement any role may run: "
                    "it holds back vacuum (the xmin horizon) and may hold locks"},
        idle_in_transaction(idle_timeout_ms),
        {"alert": "PostgresDeadlocks", "for": "0m", "severity": "warning",
         "expr": "sum(increase(pg_stat_database_deadlocks[10m])) > 0",
         "summary": "PostgreSQL broke a deadlock in the last 10 minutes and rolled back one of the transactions: "
                    "two code paths take the same locks in different orders (the server log names the queries)"},
        {"alert": "PostgresXidAgeHigh", "for": "30m", "severity": "warning",
         "expr": f"max(pg_database_xid_age) > {2 * freeze_max_age}",
         "summary": f"a database's oldest unfrozen transaction is over {2 * freeze_max_age} transactions old, "
                    f"twice autovacuum_freeze_max_age ({freeze_max_age}): anti-wraparound vacuum is not keeping up "
                    "(PostgreSQL docs, 25.1.5: the server stops assigning XIDs near 2^31)"},
        {"alert": "PostgresWalPiling", "for": "15m", "severity": "warning",
         "expr": f"max(pg_wal_bytes) > {2 * max_wal_bytes}",
         "summary": f"pg_wal holds over twice max_wal_size ({max_wal_bytes} bytes): WAL is kept for a failing "
                    "archive_command or an unused replication slot, and will fill the disk"},
    ]


def idle_in_transaction(timeout_ms: int) -> dict:
    """PostgreSQL ends a session idle in a transaction at the timeout, so an alert above it could never
    fire: it fires at half of it (60s where no timeout is set). The transaction's age stands in for
    the time idle: postgres_exporter reports the oldest transaction per state."""
    at = timeout_ms // 2000 if timeout_ms else 60
    return {"alert": "PostgresIdleInTransaction", "for": "0m", "severity": "warning",
            "expr": f'max(pg_stat_activity_max_tx_duration{{state="idle in transaction"}}) > {at}',
            "summary": f"a session has sat in an open transaction for over {at}s"
                       + (f", half of idle_in_transaction_session_timeout ({timeout_ms // 1000}s), at which "
                          "PostgreSQL ends it" if timeout_ms else "") + ": the app lost track of a transaction; "
                       "it holds locks and holds back vacuum meanwhile"}


def backup_alerts(archive_timeout_s: int, newest_max_age_s: int) -> list[dict]:
    """Archiving and backups (plan/backup.py): archive_command failing, WAL waiting longer than the
    RPO allows, and a newest backup older than the policy (node_exporter's textfile collector
    reads what `tunestack backup` writes: the Prometheus way for batch jobs)."""
    lag = 5 * archive_timeout_s
    return [
        {"alert": "PostgresArchiveFailing", "expr": "max(pg_archiver_failing) == 1", "for": "5m",
         "severity": "critical",
         "summary": "archive_command fails since its last success: WAL piles up in pg_wal and point-in-time "
                    "recovery stops at the last archived segment (pgbackrest check says why)"},
        {"alert": "PostgresArchiveLagging", "expr": f"max(pg_archiver_oldest_ready_seconds) > {lag}", "for": "5m",
         "severity": "warning",
         "summary": f"a WAL segment has waited over {lag}s to be archived, five times archive_timeout "
                    f"({archive_timeout_s}s): a lost db host would lose more committed work than the RPO"},
        {"alert": "BackupStale", "for": "30m", "severity": "critical",
         # none known: unless the node exporter that reports it is down (TargetDown says that)
         "expr": f"time() - max(tunestack_backup_last_success_timestamp_seconds) > {newest_max_age_s} "
                 'or (absent(tunestack_backup_last_success_timestamp_seconds) unless on() (up{job="node"} == 0))',
         "summary": f"the newest backup is over {newest_max_age_s // 3600}h old (or none is known): a scheduled "
                    "backup failed; restores reach back only as far as the last one (tunestack backup --list)"},
    ]


MEMORY_AVAILABLE_MIN = 0.1  # policy: below it the kernel reclaims page cache PostgreSQL reads from, then kills
CPU_BUSY_MAX = 0.9          # policy: above it for 15 minutes, requests queue for a core


def host_alerts() -> list[dict]:
    return [
        # A canary's target answers only during a rollout, whose own gates judge it.
        {"alert": "TargetDown", "expr": 'up{track!="canary"} == 0', "for": "2m", "severity": "critical",
         "summary": "Prometheus cannot scrape a target: every alert on its metrics is blind"},
        {"alert": "DiskSpaceLow", "for": "10m", "severity": "critical",
         "expr": 'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs"} / '
                 f'node_filesystem_size_bytes{{fstype!~"tmpfs|overlay|squashfs"}} < {DISK_FREE_MIN:g}',
         "summary": f"a filesystem has less than {DISK_FREE_MIN:.0%} free: PostgreSQL stops when WAL cannot be "
                    "written, Redis when its AOF cannot"},
        {"alert": "HostMemoryLow", "for": "5m", "severity": "critical",
         "expr": f"node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < {MEMORY_AVAILABLE_MIN:g}",
         "summary": f"a host has less than {MEMORY_AVAILABLE_MIN:.0%} of its memory available: the page cache "
                    "shrinks first, then the kernel's OOM killer ends a server (the host budget no longer holds)"},
        {"alert": "HostCpuSaturated", "for": "15m", "severity": "warning",
         "expr": f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[5m])) > {CPU_BUSY_MAX:g}',
         "summary": f"a host's cores have been over {CPU_BUSY_MAX:.0%} busy for 15 minutes: requests wait for a "
                    "core, and latency grows with the load"},
    ]


def plan_postgres_alerts(postgres: dict, roles: dict, gucs: dict) -> list[dict]:
    """postgres_alerts from the plan's settings and roles; a setting the plan leaves alone at its
    default (`gucs`: the major's catalog)."""
    def value(name: str) -> int:
        if name in postgres:
            return int(postgres[name].value)
        return int(float(gucs[name].default)) if name in gucs and gucs[name].default else 0
    longest = max((int(r["statement_timeout"].value) for r in roles.values() if "statement_timeout" in r), default=0)
    return postgres_alerts(value("max_connections"), value("superuser_reserved_connections")
                           + value("reserved_connections"), value("autovacuum_freeze_max_age"),
                           int(postgres["max_wal_size"].value), longest,
                           value("idle_in_transaction_session_timeout")) + host_alerts()
