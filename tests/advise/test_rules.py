"""advise's rules on made-up samples: each condition gives its stack-file change, an idle stack
gives none, and reset counters, short windows or unreadable servers give "not enough data"."""
import pytest

from tunestack.advise.rules import advise
from tunestack.plan import plan_stack

MIB = 1024**2


@pytest.fixture(scope="module")
def plan():
    return plan_stack("local")


def sample(at=0.0, **areas):
    base = {"at": at,
            "postgres": {"temp_files": 0, "temp_bytes": 0, "blks_hit": 0, "blks_read": 0, "deadlocks": 0,
                         "xact_commit": 0, "stats_reset": 1.0, "checkpoints_timed": 0, "checkpoints_requested": 0,
                         "wal_bytes": 0},
            "pgbouncer": {"cl_waiting": 0, "maxwait_s": 0.0, "total_wait_time_us": 0, "total_xact_count": 0},
            "redis_cache": {"evicted_keys": 0, "keyspace_hits": 0, "keyspace_misses": 0, "maxmemory": 192 * MIB},
            "redis_queue": {"evicted_keys": 0},
            "queue": {"depth": 0}}
    for area, values in areas.items():
        base[area] = {**base[area], **values}
    return base


def changes(plan, before, after):
    findings, no_data = advise(before, after, plan)
    return {f.key: f.value for f in findings}, [n.area for n in no_data]


def test_an_idle_stack_gets_no_advice(plan):
    assert changes(plan, sample(0), sample(300)) == ({}, [])


def test_spills_raise_work_mem_above_twice_the_average_file():
    """PostgreSQL docs (work_mem, log_temp_files): a sort larger than work_mem writes temp files; in
    memory it takes about twice its size on disk."""
    after = sample(300, postgres={"temp_files": 20, "temp_bytes": 20 * 100 * MIB})
    found, _ = changes(plan_stack("prod"), sample(0), after)
    assert found == {("tunestack:postgres", "overrides", "work_mem"): "256MB"}   # 2 × 100 MiB → a power of two


def test_spills_get_as_much_work_mem_as_the_memory_budget_allows(plan):
    """local: 20 connections + 8 parallel workers × (1 sort + 2 hash) must fit beside shared_buffers
    in the memory set aside for PostgreSQL: 8 MB, not the 64 MB the spills ask for."""
    after = sample(300, postgres={"temp_files": 20, "temp_bytes": 20 * 30 * MIB})
    findings, _ = advise(sample(0), after, plan)
    assert [(f.key, f.value) for f in findings] == [(("tunestack:postgres", "overrides", "work_mem"), "8MB")]
    assert "as much as fits: 64 MB would not" in findings[0].effect


def test_spills_from_index_builds_are_maintenance_work_mems_not_work_mems():
    """Issue #26, PostgreSQL docs (maintenance_work_mem): CREATE INDEX, ALTER TABLE … ADD PRIMARY KEY,
    CLUSTER and REINDEX sort in maintenance_work_mem; their temp files said nothing about work_mem,
    which advise raised anyway. pg_stat_statements' temp blocks by statement tell them apart."""
    after = sample(300, postgres={"temp_files": 6, "temp_bytes": 6 * 41 * MIB,
                                  "temp_blks_maintenance": 30_000, "temp_blks_all": 31_000})
    before = sample(0, postgres={"temp_blks_maintenance": 0, "temp_blks_all": 0})
    found, _ = changes(plan_stack("prod"), before, after)
    assert found == {("tunestack:postgres", "overrides", "maintenance_work_mem"): "128MB"}   # 2 × 41 MiB → 128


def test_spills_from_queries_still_raise_work_mem():
    after = sample(300, postgres={"temp_files": 20, "temp_bytes": 20 * 100 * MIB,
                                  "temp_blks_maintenance": 1_000, "temp_blks_all": 200_000})
    before = sample(0, postgres={"temp_blks_maintenance": 0, "temp_blks_all": 0})
    found, _ = changes(plan_stack("prod"), before, after)
    assert found == {("tunestack:postgres", "overrides", "work_mem"): "256MB"}


def test_pool_waits_lower_threads(plan):
    """PostgreSQL wiki (Number Of Database Connections) + PgBouncer manual (SHOW POOLS, SHOW STATS)."""
    after = sample(300, pgbouncer={"total_xact_count": 1000, "total_wait_time_us": 1000 * 200_000, "cl_waiting": 8})
    found, _ = changes(plan, sample(0), after)
    assert found == {("tunestack:app", "threads"): plan.spec.app.threads // 2}


def test_a_cache_that_evicts_and_misses_grows(plan):
    after = sample(300, redis_cache={"evicted_keys": 5000, "keyspace_hits": 300, "keyspace_misses": 700})
    found, _ = changes(plan, sample(0), after)
    assert found == {("tunestack:redis", "cache", "memory"): "512MiB"}   # 256 MiB × 1.5 → the next power of two


def test_a_cache_that_evicts_but_hits_is_left_alone(plan):
    after = sample(300, redis_cache={"evicted_keys": 5000, "keyspace_hits": 900, "keyspace_misses": 100})
    assert changes(plan, sample(0), after) == ({}, [])


def test_a_growing_queue_doubles_job_concurrency(plan):
    found, _ = changes(plan, sample(0, queue={"depth": 10}), sample(300, queue={"depth": 800}))
    assert found == {("tunestack:app", "jobs", "concurrency"): 2 * plan.spec.app.jobs.concurrency}


def test_requested_checkpoints_set_the_wal_rate(plan):
    """PostgreSQL docs (WAL Configuration): checkpoints requested by WAL volume mean max_wal_size is small."""
    after = sample(100, postgres={"checkpoints_requested": 6, "checkpoints_timed": 0, "wal_bytes": 100 * 5 * MIB})
    found, _ = changes(plan, sample(0), after)
    assert found == {("tunestack:postgres", "wal_rate"): "8MB"}   # 5 MiB/s → the next power of two


def test_no_advice_without_evidence(plan):
    reset = sample(300, postgres={"temp_files": 20, "temp_bytes": 600 * MIB, "stats_reset": 2.0})
    found, no_data = changes(plan, sample(0), reset)
    assert not found and "postgres: temp files" in no_data
    found, no_data = changes(plan, sample(0), sample(10, queue={"depth": 5000}))   # under 15 s apart
    assert not found and no_data == ["every area"]
    down = sample(300, redis_cache={"error": "Connection refused"})
    found, no_data = changes(plan, sample(0), down)
    assert not found and "redis cache" in no_data


def test_tables_autovacuum_leaves_behind_get_a_smaller_scale_factor(plan):
    """PostgreSQL docs (Routine Vacuuming): autovacuum waits for threshold + 20 % of a table dead."""
    before = sample(0, postgres={"tables": {"hits": [100_000, 5_000, 3]}})
    after = sample(300, postgres={"tables": {"hits": [100_000, 40_000, 3]}})
    found, _ = changes(plan, before, after)
    assert found == {("tunestack:postgres", "overrides", "autovacuum_vacuum_scale_factor"): 0.05}
    vacuumed = sample(300, postgres={"tables": {"hits": [100_000, 40_000, 4]}})   # autovacuum ran: no advice
    assert changes(plan, before, vacuumed) == ({}, [])


def test_long_idle_transactions_shorten_the_timeout(plan):
    after = sample(300, postgres={"idle_in_transaction": 2, "idle_in_transaction_oldest_s": 45})
    found, _ = changes(plan, sample(0), after)
    assert found == {("tunestack:postgres", "idle_in_transaction_timeout"): "30s"}


def test_top_statements_are_the_windows_own():
    from tunestack.advise.rules import top_statements

    before = sample(0, postgres={"statements": {"1": [10, 100.0, 10, 0, "SELECT a"], "2": [5, 900.0, 5, 0, "SELECT b"]}})
    after = sample(300, postgres={"statements": {"1": [110, 2100.0, 110, 8, "SELECT a"], "2": [5, 900.0, 5, 0, "SELECT b"],
                                                 "3": [1, 50.0, 1, 0, "SELECT c"]}})
    top = top_statements(before["postgres"], after["postgres"])
    assert [(s["query"], s["calls"], s["total_ms"], s["mean_ms"]) for s in top] == [("SELECT a", 100, 2000.0, 20.0),
                                                                                      ("SELECT c", 1, 50.0, 50.0)]


def test_notes_need_a_person_not_a_change():
    from tunestack.advise.rules import notes

    before = sample(0, postgres={"blks_hit": 0, "blks_read": 0, "deadlocks": 0})
    after = sample(300, postgres={"blks_hit": 90_000, "blks_read": 10_000, "deadlocks": 2},
                   redis_cache={"mem_fragmentation_ratio": 2.1, "used_memory": 200 * MIB})
    said = notes(before, after)
    assert any("90.0% of 100000 block reads" in n for n in said)
    assert any("2 deadlocks" in n for n in said)
    assert any("redis cache: fragmentation 2.10" in n for n in said)
    assert notes(sample(0), sample(300)) == []
