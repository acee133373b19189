"""PostgreSQL stage: pgtune with the stack's memory and connections, the work_mem fit, overrides
and per-role timeouts."""
from dataclasses import replace

import pytest

from tunestack.plan import build_plan, worst_case
from tunestack.plan.postgres import role_settings
from tunestack.postgres.pgtune import recommend
from tunestack.plan.setting import Setting, size_kb
from tunestack.stackfile.spec import PostgresSpec
from tunestack.units import pg_value_in_base_units

from .helpers import GIB, MIB, spec

KB = 1024


@pytest.mark.parametrize("stack,workload,conns", [("prod", "oltp", 300), ("staging", "oltp", 300), ("dev", "web", 200)])
def test_pooled_work_mem_is_at_most_pgtunes_at_the_workload_default(stack, workload, conns):
    """pgtune divides by max_connections; a pooled stack has few, so a stack plan takes at most
    pgtune's value at the workload's own default connection count (pgtune: web 200, oltp 300)."""
    plan = build_plan(spec(stack))
    pg = plan.postgres
    inputs = plan.postgres_inputs
    assert inputs.workload == workload and inputs.max_connections < conns
    at_default = recommend(replace(inputs, max_connections=conns))["work_mem"].number * KB
    assert pg["work_mem"].value <= at_default
    assert f"pgtune's value at {conns} connections" in pg["work_mem"].reason


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_work_mem_leaves_the_page_cache_effective_cache_size_counts_on(stack):
    """Worst case (sort + hash per backend and parallel worker, autovacuum, maintenance, page tables)
    ≤ memory − effective_cache_size: the planner's cache estimate stays true at peak."""
    plan = build_plan(spec(stack))
    pg = plan.postgres
    worst, how = worst_case(pg, plan.spec.postgres.version)
    memory = plan.postgres_inputs.memory_kb * KB
    assert worst - pg["shared_buffers"].value <= memory - pg["effective_cache_size"].value
    assert "hash_mem_multiplier" in how and "parallel workers" in how and "page tables" in how


def test_a_host_too_small_for_its_connections_goes_below_pgtunes_floor():
    """Session pooling with many connections on a small host: the 4MB floor would overcommit it,
    so the memory wins, down to PostgreSQL's 64kB minimum (README, deliberate difference)."""
    s = spec("staging")
    db = s.host_with("db")
    s = replace(s, hosts=tuple(replace(h, memory_bytes=4 * GIB, cpus=2) if h is db else h for h in s.hosts),
                pgbouncer=replace(s.pgbouncer, pool_mode="session"))
    plan = build_plan(s)
    worst, _ = worst_case(plan.postgres, plan.spec.postgres.version)
    assert plan.postgres["work_mem"].value < 4 * MIB and "overcommit" in plan.postgres["work_mem"].reason
    assert worst <= plan.postgres_inputs.memory_kb * KB


@pytest.mark.parametrize("request_ms,statement,lock,expected", [
    # PostgreSQL docs (runtime-config-client): set per role; lock_timeout below statement_timeout.
    (20_000, None, None, ("10s", "3333ms")),
    (30_000, None, None, ("15s", "5s")),
    (2_000, None, None, ("1s", "1s")),            # lock_timeout never below 1 s
    (30_000, 5_000, 1_000, ("5s", "1s")),         # the stack file wins
])
def test_role_timeouts(request_ms, statement, lock, expected):
    roles = role_settings(PostgresSpec(16, "web", statement_timeout_ms=statement, lock_timeout_ms=lock), request_ms)
    assert (roles["app"]["statement_timeout"].text, roles["app"]["lock_timeout"].text) == expected
    assert roles["migrator"]["statement_timeout"].text == "0"
    assert roles["migrator"]["lock_timeout"].value == roles["app"]["lock_timeout"].value


def test_overrides_are_typed_and_marked():
    s = spec("staging")
    s = replace(s, postgres=replace(s.postgres, overrides={"work_mem": "64MB", "checkpoint_timeout": "15min",
                                                          "random_page_cost": "1.1"}))
    pg = build_plan(s).postgres
    assert (pg["work_mem"].value, pg["work_mem"].text, pg["work_mem"].source) == (64 * MIB, "64MB", "override")
    assert (pg["checkpoint_timeout"].value, pg["checkpoint_timeout"].unit) == (15 * 60_000, "ms")
    assert pg["random_page_cost"].value == 1.1
    assert "tunestack would set" in pg["work_mem"].reason


def test_timeouts_per_role_not_cluster_wide():
    # PostgreSQL docs (runtime-config-client): statement_timeout in postgresql.conf is not recommended.
    plan = build_plan(spec("staging"))
    assert "statement_timeout" not in plan.postgres and "lock_timeout" not in plan.postgres
    roles = plan.postgres_roles["app"]
    assert roles["statement_timeout"].text == "10s"  # half the 20 s request timeout
    assert roles["lock_timeout"].text == "3333ms"    # below statement_timeout (PostgreSQL docs)
    assert plan.postgres["idle_in_transaction_session_timeout"].text == "1min"
    assert plan.postgres["shared_preload_libraries"].value == "pg_stat_statements"


def test_memory_settings_are_bytes_and_text_as_pgtune_writes_it():
    pg = build_plan(spec("prod")).postgres
    assert pg["shared_buffers"].unit == "bytes" and pg["shared_buffers"].value % (8 * KB) == 0
    assert pg["shared_buffers"].value == pg_value_in_base_units(pg["shared_buffers"].text, "kB") * KB


def test_other_pg_version_replans_version_gates():
    plan = build_plan(spec("prod"), pg_version=14)
    assert plan.postgres["wal_compression"].value == "on"
    assert build_plan(spec("prod")).postgres["wal_compression"].value == "lz4"


def test_memory_note_names_the_share():
    plan = build_plan(spec("staging"))   # dedicated db host: everything but the OS reserve and PgBouncer
    assert plan.postgres["shared_buffers"].reason.startswith("25% of the ")
    assert "OS reserve" in plan.postgres["shared_buffers"].reason
    assert plan.postgres["shared_buffers"].value == pytest.approx(
        (32 * GIB - 2 * GIB - 128 * MIB) / 4, rel=0.001)


@pytest.mark.parametrize("target,method", [("hosts", "io_uring"), ("docker", "worker")])
def test_io_uring_only_where_the_runtime_allows_it(target, method):
    """Issue #26: Docker 25's default seccomp profile blocks io_uring_setup/enter/register
    (moby/moby profiles/seccomp/default.json); PostgreSQL 18 in a container gets the worker method
    even when its build has liburing. On a bare host with liburing, pgtune's io_uring."""
    s = spec("prod")
    s = replace(s, postgres=replace(s.postgres, version=18, built_with=("lz4", "liburing")))
    plan = build_plan(s, target=target)
    assert plan.postgres["io_method"].value == method
    if target == "docker":
        assert "seccomp" in plan.postgres["io_method"].reason


@pytest.mark.parametrize("storage,workers,limit", [
    ("hdd", 3, None), ("ssd", 3, 1000), ("nvme", 3, 2000), ("nvme", 4, 2666), ("ssd", 6, 2000)])
def test_autovacuum_cost_budget_grows_with_storage_and_workers(storage, workers, limit):
    """Issue #26, PostgreSQL docs (autovacuum_vacuum_cost_limit): one budget, 200 by default, shared
    by every autovacuum worker: made for spinning disks, it lets vacuum fall behind on flash."""
    from tunestack.postgres.operations import vacuum_cost_limit

    rec = vacuum_cost_limit(storage, workers)
    assert (rec.number if rec else None) == limit
