"""The stack planner's rules, each with its source."""
from dataclasses import replace

import pytest

from tunestack import stackfile
from tunestack.errors import BudgetError
from tunestack.planner import build_plan, postgres_worst_case, size_app
from tunestack.spec import HostSpec
from tunestack.units import pg_value_in_base_units

GIB = 1024**3


def spec(name="staging"):
    return stackfile.load(stackfile.stack_path(name), name=name)


def with_app(s, **kw):
    return replace(s, app=replace(s.app, **kw))


def host(cpus, mem_gib, roles=("app",)):
    return HostSpec("h", roles, 1, cpus, int(mem_gib * GIB), "ssd", "stack file")


@pytest.mark.parametrize("cpus,mem_gib,expected", [
    (2, 64, 5),    # Gunicorn docs "How many workers": (2 × cores) + 1
    (4, 64, 9),
    (8, 64, 12),   # Gunicorn docs: 4–12 workers serve thousands of req/s — soft cap 12
    (8, 1, 3),     # Heroku-style memory cap: (1 GiB − 128 MiB reserve − jobs) / 256 MiB
])
def test_gunicorn_workers_from_cores_and_memory(cpus, mem_gib, expected):
    s = with_app(spec("local"), memory_per_worker_bytes=256 * 1024**2,
                 jobs=replace(spec("local").app.jobs, processes=0))
    free = int(mem_gib * GIB) - max(128 * 1024**2, min(2 * GIB, int(mem_gib * GIB) // 16))
    assert size_app(s, host(cpus, mem_gib), free).workers == expected


@pytest.mark.parametrize("cpus,mem_gib,expected", [
    (4, 64, 4),   # Puma deployment docs: one worker per core
    (16, 64, 16),
    (16, 8, 7),   # memory: (8192 − 512 reserve − 1024 job − 768 master) MiB / 768 MiB = 7.67
])
def test_puma_workers_from_cores_and_memory(cpus, mem_gib, expected):
    s = spec("staging")
    free = int(mem_gib * GIB) - max(128 * 1024**2, min(2 * GIB, int(mem_gib * GIB) // 16))
    assert size_app(s, host(cpus, mem_gib), free).workers == expected


def test_db_pools_per_process_type():
    # Rails puma.rb template / GitLab DB_POOL_HEADROOM: pool = threads + headroom;
    # Sidekiq: pool = concurrency + headroom, set per process type.
    plan = build_plan(spec("staging"))
    assert plan.web_env["DB_POOL"].value == 3 + 2
    assert plan.jobs_env["DB_POOL"].value == 10 + 2
    assert plan.web_env["RAILS_MAX_THREADS"].value == plan.web_env["PUMA_MAX_THREADS"].value == 3
    assert plan.jobs_env["SIDEKIQ_CONCURRENCY"].value == 10


def test_server_pool_follows_postgres_wiki_and_max_connections_follows_pools():
    # PostgreSQL wiki "Number Of Database Connections": active ≈ 2 × cores + spindles.
    plan = build_plan(spec("staging"))  # m6i.2xlarge: 8 vCPU, ssd
    pool = plan.pgbouncer["default_pool_size"].value
    reserve = plan.pgbouncer["reserve_pool_size"].value
    assert pool == 16
    assert int(plan.postgres["max_connections"].value) == pool + reserve + 10 + 3
    assert plan.pgbouncer["max_db_connections"].value == pool + reserve


def test_hdd_adds_a_spindle():
    s = spec("staging")
    db = s.host_with("db")
    s = replace(s, hosts=tuple(replace(h, storage="hdd") if h is db else h for h in s.hosts))
    assert build_plan(s).pgbouncer["default_pool_size"].value == 17


def test_fleet_connections_include_rollout_surge():
    plan = build_plan(spec("staging"))  # 3 app hosts × (4 workers × 5 + 1 × 12), surge 34% → 2 hosts
    budget = next(b for b in plan.budgets if b.name.startswith("fleet client connections"))
    per_host = 4 * 5 + 1 * 12
    assert budget.used == (3 + 2) * per_host
    assert plan.pgbouncer["max_client_conn"].value >= budget.used


def test_session_mode_gives_every_client_a_server_connection():
    s = spec("staging")
    s = replace(s, pgbouncer=replace(s.pgbouncer, pool_mode="session"))
    plan = build_plan(s)
    fleet = next(b for b in plan.budgets if b.name.startswith("fleet")).used
    assert plan.pgbouncer["default_pool_size"].value == fleet
    assert plan.web_env["DB_PREPARED_STATEMENTS"].value == "true"


def test_pgbouncer_118_transaction_mode_disables_prepared_statements_and_advisory_locks():
    # runtime-rules §3.5: PgBouncer < 1.21 cannot track prepared statements; advisory locks are
    # session-level and break under transaction pooling.
    plan = build_plan(spec("staging"))
    assert plan.web_env["DB_PREPARED_STATEMENTS"].value == "false"
    assert plan.web_env["DB_ADVISORY_LOCKS"].value == "false"
    assert "max_prepared_statements" not in plan.pgbouncer
    s = spec("staging")
    plan = build_plan(replace(s, pgbouncer=replace(s.pgbouncer, version=(1, 24))))
    assert plan.pgbouncer["max_prepared_statements"].value == 200


def test_file_descriptor_limit_covers_clients_and_servers():
    # PgBouncer manual (max_client_conn): fds used exceed max_client_conn by the server connections.
    plan = build_plan(spec("prod"))
    need = plan.pgbouncer["max_client_conn"].value + plan.pgbouncer["max_db_connections"].value
    assert plan.pgbouncer_service["LimitNOFILE"].value >= need


def test_timeouts_per_role_not_cluster_wide():
    # PostgreSQL docs (runtime-config-client): statement_timeout in postgresql.conf is not recommended.
    plan = build_plan(spec("staging"))
    assert "statement_timeout" not in plan.postgres and "lock_timeout" not in plan.postgres
    roles = plan.postgres_roles["app"]
    assert roles["statement_timeout"].value == "10s"  # half the 20 s request timeout
    assert roles["lock_timeout"].value == "3333ms"    # below statement_timeout (PostgreSQL docs)
    assert plan.postgres["idle_in_transaction_session_timeout"].value == "1min"
    assert plan.postgres["shared_preload_libraries"].value == "pg_stat_statements"


def test_redis_roles():
    # Sidekiq wiki / runtime-rules §1.6, §4.4: queue noeviction + AOF everysec; cache evicts, no persistence.
    plan = build_plan(spec("prod"))
    q, c = plan.redis["queue"], plan.redis["cache"]
    assert (q["maxmemory-policy"].value, q["appendonly"].value, q["appendfsync"].value) == ("noeviction", "yes", "everysec")
    assert (c["maxmemory-policy"].value, c["appendonly"].value, c["save"].value) == ("allkeys-lfu", "no", "")
    # maxmemory in bytes, never a percentage (redis config.c), with headroom under the allotment.
    assert q["maxmemory"].value == 4 * GIB and c["maxmemory"].value == 12 * GIB


def test_max_connections_override_too_low_breaks_the_budget():
    s = spec("staging")
    s = replace(s, postgres=replace(s.postgres, overrides={"max_connections": "20"}))
    with pytest.raises(BudgetError) as err:
        build_plan(s)
    text = str(err.value)
    assert "server pools ≤ max_connections − reserved" in text and "≤ max_connections 20" in text
    assert "fix:" in text


def test_memory_budget_on_shared_host():
    s = spec("dev")
    s = replace(s, redis_cache=replace(s.redis_cache, memory_bytes=6 * GIB))
    with pytest.raises(BudgetError) as err:
        build_plan(s)
    assert "memory on dev" in str(err.value)


def test_postgres_worst_case_follows_postgresqltuner():
    # postgresqltuner: shared_buffers + max_connections × work_mem × 150% + autovacuum workers × maint.
    plan = build_plan(spec("staging"))
    kb = {k: pg_value_in_base_units(plan.postgres[k].value, "kB")
          for k in ("shared_buffers", "work_mem", "maintenance_work_mem")}
    conns = int(plan.postgres["max_connections"].value)
    worst, _ = postgres_worst_case(plan.postgres, 16)
    assert worst == int((kb["shared_buffers"] + conns * kb["work_mem"] * 1.5 + 3 * kb["maintenance_work_mem"]) * 1024)
    assert worst <= plan.spec.host_with("db").memory_bytes


def test_colocated_host_shares_memory_and_warns_about_overcommit():
    plan = build_plan(spec("dev"))
    assert "set aside for PostgreSQL on dev" in plan.postgres["shared_buffers"].reason
    assert any("overcommit" in w for w in plan.warnings)


def test_other_pg_version_replans_version_gates():
    plan = build_plan(spec("prod"), pg_version=14)
    assert plan.postgres["wal_compression"].value == "on"
    assert build_plan(spec("prod")).postgres["wal_compression"].value == "lz4"


def test_every_value_has_a_reason():
    for name in stackfile.stack_names():
        plan = build_plan(spec(name))
        for section, settings in plan.sections().items():
            for key, s in settings.items():
                assert s.reason.strip(), f"{name}: {section}.{key} has no reason"
