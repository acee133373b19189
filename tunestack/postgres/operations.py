"""Settings an expert adds beyond pgtune: what makes a server observable (how work_mem, autovacuum and
checkpoints are tuned afterwards), dead-peer detection, and autovacuum for data larger than memory.
Stack plans only; the standalone pgtune mode prints pgtune's list. Pure."""
from __future__ import annotations

from .inputs import PgInputs, Rec

# Dead clients and servers are noticed within idle + interval × count = 60 + 10 × 6 = 2 min, not
# Linux's 2 h 11 min (tcp(7): tcp_keepalive_time 7200 s, 9 probes every 75 s). PgBouncer uses the same.
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT = 60, 10, 6
LOG_LINE_PREFIX = "%m [%p] %q%u@%d/%a "   # time, pid; for sessions: user@database/application


# PostgreSQL docs (autovacuum_vacuum_cost_limit): one cost budget, 200 by default, shared by every
# autovacuum worker. Sized for spinning disks, it lets vacuum fall behind the lower scale factors on
# flash; the budget grows with the storage and, so each worker keeps its share, with the workers.
VACUUM_COST_LIMIT = {"ssd": 1000, "nvme": 2000, "san": 400}
PG_DEFAULT_AUTOVACUUM_WORKERS = 3


def vacuum_cost_limit(storage: str, workers: int) -> Rec | None:
    base = VACUUM_COST_LIMIT.get(storage)
    if base is None:
        return None   # hdd: PostgreSQL's 200 is made for it
    limit = base * max(workers, PG_DEFAULT_AUTOVACUUM_WORKERS) // PG_DEFAULT_AUTOVACUUM_WORKERS
    return Rec(str(limit), f"{storage}: {base} per 3 autovacuum workers, here {workers}: the cost budget is shared "
                           "by all of them, and PostgreSQL's 200 is made for spinning disks (PostgreSQL docs, "
                           "autovacuum_vacuum_cost_limit)", limit)


def recommend(i: PgInputs, io_concurrency: int) -> dict[str, Rec]:
    out = {
        "track_io_timing": Rec("on", "I/O time per query in pg_stat_statements and EXPLAIN (BUFFERS); cheap on "
                                     "modern clocks (PostgreSQL docs: check with pg_test_timing)"),
        "log_temp_files": Rec("0", "log every temporary file: a sort or hash that spilled past work_mem is how "
                                   "work_mem is tuned (PostgreSQL docs, log_temp_files)", 0),
        "log_autovacuum_min_duration": Rec("1s", "autovacuum runs over a second: the tables whose vacuum "
                                                 "needs tuning (PostgreSQL docs, log_autovacuum_min_duration)", 1000),
        "log_checkpoints": Rec("on", "checkpoint timing and cause (time or WAL size); off by default before "
                                    "PostgreSQL 15"),
        "log_line_prefix": Rec(LOG_LINE_PREFIX, "time, process, and for sessions user@database/application: "
                                                "a log line says whose query it was"),
        "maintenance_io_concurrency": Rec(str(io_concurrency), "as effective_io_concurrency: maintenance reads "
                                                               "the same storage (PostgreSQL 13+)", io_concurrency),
        "tcp_keepalives_idle": Rec(str(KEEPALIVE_IDLE_S), "a vanished client's backend ends within 2 min, not "
                                                          "Linux's 2 h (tcp(7))", KEEPALIVE_IDLE_S),
        "tcp_keepalives_interval": Rec(str(KEEPALIVE_INTERVAL_S), "probe every 10 s once idle", KEEPALIVE_INTERVAL_S),
        "tcp_keepalives_count": Rec(str(KEEPALIVE_COUNT), "6 lost probes: the peer is gone", KEEPALIVE_COUNT),
    }
    if i.db_size == "greater_ram":
        # PostgreSQL docs, autovacuum: a table is vacuumed after threshold + scale_factor × rows dead;
        # 20 % of a table larger than memory is a long wait and a long vacuum.
        why = "data larger than memory (postgres.db_size): vacuum big tables after {} of rows change, not {}"
        out["autovacuum_vacuum_scale_factor"] = Rec("0.05", why.format("5 %", "20 %"), 0.05)
        out["autovacuum_vacuum_insert_scale_factor"] = Rec("0.05", why.format("5 %", "20 %") + " (inserts)", 0.05)
        out["autovacuum_analyze_scale_factor"] = Rec("0.02", why.format("2 %", "10 %").replace("vacuum", "analyze", 1),
                                                      0.02)
    return out
