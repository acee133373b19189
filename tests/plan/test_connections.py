"""Connections stage: fleet with rollout surge → PgBouncer server pool → max_connections."""
from dataclasses import replace

import pytest

from tunestack.plan import build_plan
from tunestack.plan.connections import fleet, plan_connections, server_pool
from tunestack.stackfile.spec import PgBouncerSpec

from .helpers import host, spec


@pytest.mark.parametrize("per_host,counts,surge,clients,surge_hosts,with_surge", [
    ({"a": 32}, {"a": 3}, 34, 96, 2, 160),      # ceil(3 × 34%) = 2 hosts at the widest host's 32
    ({"a": 10, "b": 20}, {"a": 1, "b": 2}, 25, 50, 1, 70),
    ({"a": 10}, {"a": 4}, 0, 40, 0, 40),        # no surge: old and new never run side by side
    ({"a": 7}, {"a": 1}, 100, 7, 1, 14),
])
def test_fleet_counts_every_machine_and_the_surge(per_host, counts, surge, clients, surge_hosts, with_surge):
    f = fleet(per_host, counts, surge)
    assert (f.clients, f.surge_hosts, f.with_surge) == (clients, surge_hosts, with_surge)


@pytest.mark.parametrize("mode,cpus,storage,clients,expected", [
    # PostgreSQL wiki "Number Of Database Connections": active ≈ 2 × cores + effective spindles.
    ("transaction", 8, "ssd", 500, 16),
    ("transaction", 8, "hdd", 500, 17),
    ("statement", 4, "nvme", 500, 8),
    ("transaction", 8, "ssd", 10, 10),     # never more server connections than clients exist
    ("session", 8, "ssd", 300, 300),       # PgBouncer manual: session mode pins a server per client
])
def test_server_pool(mode, cpus, storage, clients, expected):
    pool = server_pool(PgBouncerSpec(mode), host(cpus, 32, ("db",), storage), clients)
    assert pool.value == expected


def test_pool_override_wins_and_says_so():
    pool = server_pool(PgBouncerSpec("transaction", default_pool_size=40), host(8, 32, ("db",)), 500)
    assert (pool.value, pool.source) == (40, "override")


@pytest.mark.parametrize("pool_cpus,clients,admin,reserve,max_client,max_connections", [
    (8, 160, 10, 3, 176, 16 + 3 + 10 + 3),   # reserve = pool / 5; +10% clients; + superuser_reserved 3
    (1, 5, 0, 1, 15, 20),                    # at least 10 spare client slots; pgtune's minimum of 20
    (32, 1000, 5, 12, 1100, 64 + 12 + 5 + 3),
])
def test_connection_plan(pool_cpus, clients, admin, reserve, max_client, max_connections):
    c = plan_connections(PgBouncerSpec("transaction"), host(pool_cpus, 64, ("db",)), clients, admin)
    assert (c.reserve, c.max_client_conn.value, c.max_connections.value) == (reserve, max_client, max_connections)
    assert c.server == c.pool.value + c.reserve


@pytest.mark.parametrize("pool,max_client,nofile", [
    (15, 176, 1024),     # 176 + 18 server + 64 spare = 258 → one 1024 block
    (60, 1100, 2048),    # 1100 + 72 + 64 = 1236 → 2048
    (80, 2000, 3072),    # 2000 + 96 + 64 = 2160 → 3072
])
def test_file_descriptors_cover_clients_servers_and_spares(pool, max_client, nofile):
    # PgBouncer manual (max_client_conn): fds needed ≥ max_client_conn + server connections.
    c = plan_connections(PgBouncerSpec("transaction", default_pool_size=pool, max_client_conn=max_client),
                         host(8, 32, ("db",)), 10, 0)
    assert c.nofile.value == nofile and c.nofile.value >= max_client + c.server


def test_server_pool_follows_postgres_wiki_and_max_connections_follows_pools():
    # PostgreSQL wiki "Number Of Database Connections": active ≈ 2 × cores + spindles, where "core
    # count should not include HT threads".
    plan = build_plan(spec("staging"))  # m6i.2xlarge: 8 vCPUs, 2 threads per core (AWS), ssd
    pool = plan.pgbouncer["default_pool_size"].value
    reserve = plan.pgbouncer["reserve_pool_size"].value
    assert pool == 8
    assert int(plan.postgres["max_connections"].value) == pool + reserve + 10 + 3
    assert plan.pgbouncer["max_db_connections"].value == pool + reserve


def test_hdd_adds_a_spindle():
    s = spec("staging")
    db = s.host_with("db")
    s = replace(s, hosts=tuple(replace(h, storage="hdd") if h is db else h for h in s.hosts))
    assert build_plan(s).pgbouncer["default_pool_size"].value == 9   # 2 × 4 physical cores + 1


@pytest.mark.parametrize("cpus,threads,expected", [
    # PostgreSQL wiki: hyper-threads are not cores. 16 vCPUs at 2 threads per core are 8 cores.
    (16, 2, 16), (16, 1, 32), (1, 2, 2), (64, 4, 32)])
def test_pool_counts_physical_cores(cpus, threads, expected):
    db = replace(host(cpus, 32, ("db",)), threads_per_core=threads)
    assert server_pool(PgBouncerSpec("transaction"), db, 1000).value == expected


def test_fleet_connections_include_rollout_surge():
    # 3 app hosts × (3 workers × 5 + 1 × 12), surge 34% → 2 hosts; 4 cores less one for Sidekiq
    plan = build_plan(spec("staging"))
    budget = next(b for b in plan.budgets if b.name.startswith("fleet client connections"))
    per_host = 3 * 5 + 1 * 12
    assert budget.used == (3 + 2) * per_host
    assert plan.pgbouncer["max_client_conn"].value >= budget.used


def test_session_mode_gives_every_client_a_server_connection():
    s = spec("staging")
    s = replace(s, pgbouncer=replace(s.pgbouncer, pool_mode="session"))
    plan = build_plan(s)
    fleet_used = next(b for b in plan.budgets if b.name.startswith("fleet")).used
    assert plan.pgbouncer["default_pool_size"].value == fleet_used
    assert plan.web_env["DB_PREPARED_STATEMENTS"].text == "true"


def test_one_docker_host_budgets_every_replica_twice_whatever_max_surge_says():
    """Issue #11: replicas on one Docker host are replaced new-first and the old generations go
    last, so during an app change each replica's pools are open twice; PgBouncer must seat both."""
    s = spec("dev")
    s = replace(s, rollout=replace(s.rollout, max_surge_percent=0))
    plan = build_plan(s, target="docker")
    per_replica = (plan.app["workers"].value * plan.app["web_db_pool"].value
                   + plan.app["job_processes"].value * plan.app["job_db_pool"].value)
    fleet = next(b for b in plan.budgets if b.name.startswith("fleet client connections"))
    # dev's one replica twice, and (issue #26, point 6) the canary beside it during a rollout
    assert len(plan.placement.replicas) == 1 and plan.placement.canary is not None
    assert fleet.used == 3 * per_replica
    assert "+ the canary beside stable 25 = 75" in fleet.arithmetic


@pytest.mark.parametrize("workload,cpus,expected", [("web", 16, 16), ("oltp", 16, 16), ("dw", 16, 8),
                                                    ("dw", 128, 64)])
def test_a_data_warehouse_gets_one_connection_per_core(workload, cpus, expected):
    """Issue #26: a 128-CPU data warehouse got 2 × cores = 128 connections (256 with SMT counted),
    backwards for few long queries whose parallel workers use the same cores (PostgreSQL docs,
    parallel query); the wiki's 2 × cores is for many short ones. Hosts here run 2 threads per core."""
    from dataclasses import replace

    db = replace(host(cpus, 512, ("db",)), threads_per_core=2)
    assert server_pool(PgBouncerSpec("transaction"), db, 10_000, workload).value == expected


@pytest.mark.parametrize("rps,db_ms,cores_pool,expected", [
    # Little's law (L = λW): 800 req/s × 20 ms = 16 busy; × 2 for bursts = 32, above 2 × 8 cores: 16
    (800, 20, 16, 16),
    (5, 20, 16, 2),        # 0.1 busy: the floor of 2
    (100, 30, 16, 6),      # 3 busy × 2
    (100, 40, 8, 8),       # 4 × 2 = 8: equal to the cores rule
])
def test_the_pool_follows_the_load_bounded_by_the_cores(rps, db_ms, cores_pool, expected):
    """The issue's prod: 800 req/s already fills the 16-connection pool at 20 ms; a small stack's
    load needs far fewer than its cores allow, and max_connections follows the pool."""
    from tunestack.plan.connections import by_load
    from tunestack.plan.setting import Setting
    from tunestack.stackfile.spec import TrafficSpec

    traffic = TrafficSpec(peak_rps=rps, tracing_per_month=0, db_time_ms=db_ms)
    pool = by_load(Setting(cores_pool, "2 × cores", rule="cores"), PgBouncerSpec(pool_mode="transaction"), traffic)
    assert pool.value == expected
    assert "Little's law" in pool.reason and f"{rps:g} req/s × {db_ms:g} ms" in pool.reason


def test_without_a_database_time_or_with_a_set_pool_the_load_changes_nothing():
    from tunestack.plan.connections import by_load
    from tunestack.plan.setting import Setting
    from tunestack.stackfile.spec import TrafficSpec

    cores = Setting(16, "2 × cores")
    assert by_load(cores, PgBouncerSpec(pool_mode="transaction"), TrafficSpec(peak_rps=5, tracing_per_month=0)) is cores
    fixed = Setting(16, "set in the stack file", "override")
    busy = TrafficSpec(peak_rps=5, tracing_per_month=0, db_time_ms=20)
    assert by_load(fixed, PgBouncerSpec(pool_mode="transaction"), busy) is fixed
    assert by_load(cores, PgBouncerSpec(pool_mode="session"), busy) is cores


def test_max_connections_follows_a_smaller_pool():
    s = spec("staging")
    light = replace(s, traffic=replace(s.traffic, peak_rps=10, db_time_ms=20))
    before, after = build_plan(s), build_plan(light)
    assert after.pgbouncer["default_pool_size"].value == 2 < before.pgbouncer["default_pool_size"].value
    assert after.postgres["max_connections"].value <= before.postgres["max_connections"].value
