"""Memory stage: the OS reserve, each service's share of a host, and container limits."""
from dataclasses import replace

import pytest

from tunestack.errors import BudgetError
from tunestack.plan import build_plan
from tunestack.plan.memory import (AppProcesses, container_limits, cpu_shares,
                                   os_reserve_bytes, overcommit_warning, share_host, whole_cores)
from tunestack.stackfile.spec import RedisInstanceSpec

from .helpers import GIB, MIB, host, spec


@pytest.mark.parametrize("memory,reserve", [
    (1 * GIB, 128 * MIB),     # floor: the kernel and sshd need ~128 MiB however small the host
    (4 * GIB, 256 * MIB),     # 1/16
    (16 * GIB, 1 * GIB),
    (256 * GIB, 2 * GIB),     # cap: page tables do not grow with 1/16 of a big host
])
def test_os_reserve(memory, reserve):
    assert os_reserve_bytes(memory) == reserve


# A 32 GiB host keeps 2 GiB for the OS; PgBouncer (on the db host) and HAProxy (on the cache host)
# each get a fixed 128 MiB slice: one event loop and a few kB of buffers per connection.
@pytest.mark.parametrize("roles,redis,expected", [
    (("db",), 0, {"postgres": 30 * GIB - 128 * MIB}),
    (("app",), 0, {"app": 30 * GIB}),
    (("cache",), 8 * GIB, {"redis": 8 * GIB}),
    # db + app share what is left half and half (dev shape): 32 − 2 − 2 (Redis) GiB − 256 MiB
    (("db", "cache", "app"), 2 * GIB, {"redis": 2 * GIB, "postgres": 14 * GIB - 128 * MIB,
                                        "app": 14 * GIB - 128 * MIB}),
])
def test_share_host(roles, redis, expected):
    assert share_host(host(8, 32, roles), redis) == expected


@pytest.mark.parametrize("roles,warns", [(("db", "cache"), True), (("db", "app"), False), (("cache",), False)])
def test_overcommit_warning_only_where_postgres_meets_the_persisted_queue(roles, warns):
    # PostgreSQL docs (kernel resources) want overcommit_memory=2; Redis' admin guide wants 1.
    assert bool(overcommit_warning(host(4, 8, roles))) == warns


def test_container_limits_never_add_up_past_the_host():
    h = host(4, 8, ("db", "cache", "app"))
    shares = share_host(h, 768 * MIB)
    redis = (RedisInstanceSpec("cache", 512 * MIB, "allkeys-lru", 6379), RedisInstanceSpec("queue", 256 * MIB,
                                                                                           "noeviction", 6380))
    limits = container_limits(h, shares, redis, AppProcesses(4, 2 * GIB, 1, 512 * MIB),
                              cpu_shares(h, ("cache", "queue"), 1))
    by = {c.service: c for c in limits}
    assert set(by) == {"pgbouncer", "redis-cache", "redis-queue", "haproxy", "postgres", "web", "jobs"}
    assert sum(c.cpus for c in limits) <= h.cpus
    assert sum(c.memory_bytes for c in limits) <= h.memory_bytes
    assert by["postgres"].memory_bytes == shares["postgres"]
    assert by["web"].cpus > by["jobs"].cpus


@pytest.mark.parametrize("cpus,roles,jobs,expected", [
    # dev's shape: helpers an eighth each (0.5), PostgreSQL and the app half the rest, one job process a quarter core
    (4, ("db", "cache", "app"), 1, {"pgbouncer": 0.5, "redis-cache": 0.5, "redis-queue": 0.5, "haproxy": 0.5,
                                    "postgres": 1.0, "web": 0.75, "jobs": 0.25}),
    # an app host alone: job processes never take more than half
    (2, ("app",), 8, {"web": 1.0, "jobs": 1.0}),
    (16, ("app",), 2, {"web": 15.5, "jobs": 0.5}),
    # a db host: PgBouncer at most one core
    (16, ("db",), 0, {"pgbouncer": 1.0, "postgres": 15.0}),
])
def test_cpu_shares(cpus, roles, jobs, expected):
    assert cpu_shares(host(cpus, 64, roles), ("cache", "queue"), jobs) == expected


@pytest.mark.parametrize("cpus,cores", [(0.25, 1), (0.75, 1), (1.0, 1), (3.75, 4), (7.5, 8), (15.0, 15)])
def test_whole_cores_a_per_core_rule_sees(cpus, cores):
    assert whole_cores(cpus) == cores


def test_workers_pools_and_parallelism_follow_the_container_cpus_on_docker():
    """Issue #11: dev's web container is capped below a core, so Gunicorn's 2 × cores + 1 counts
    one core, not the host's 4; PostgreSQL's container gets 1 CPU, so the PostgreSQL wiki's pool
    (2 × cores) counts one core too. On hosts (no cap) the host's cores count."""
    docker, hosts = build_plan(spec("dev"), target="docker"), build_plan(spec("dev"))
    web = docker.container("dev", "web")
    assert docker.app["workers"].value == 2 * whole_cores(web.cpus) + 1 == 3
    assert "web container" in docker.app["workers"].reason
    assert hosts.app["workers"].value == 2 * 4 + 1
    assert docker.pgbouncer["default_pool_size"].value == 2 * whole_cores(docker.container("dev", "postgres").cpus)


def test_memory_budget_on_shared_host():
    s = spec("dev")
    s = replace(s, redis_cache=replace(s.redis_cache, memory_bytes=6 * GIB))
    with pytest.raises(BudgetError) as err:
        build_plan(s)
    assert "memory on dev" in str(err.value)


def test_colocated_host_shares_memory_and_warns_about_overcommit():
    plan = build_plan(spec("dev"))
    assert "set aside for PostgreSQL on dev" in plan.postgres["shared_buffers"].reason
    assert any("overcommit" in w for w in plan.warnings)


@pytest.mark.parametrize("cpus,jobs,expected", [
    # A Sidekiq process runs Ruby under one GVL and a busy one takes that core (puma discussion
    # #3087: split the cores between the apps on a host) …
    (16, 2, {"web": 14.0, "jobs": 2.0}),
    # … never more than half of the app's part.
    (4, 3, {"web": 2.0, "jobs": 2.0}),
])
def test_cpu_shares_give_each_sidekiq_process_a_core(cpus, jobs, expected):
    assert cpu_shares(host(cpus, 64, ("app",)), ("cache", "queue"), jobs, "rails") == expected
