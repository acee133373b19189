"""Memory stage: the OS reserve, each service's share of a host, and container limits."""
from dataclasses import replace

import pytest

from tunestack.errors import BudgetError
from tunestack.plan import build_plan
from tunestack.plan.memory import (HAPROXY_MEMORY, PGBOUNCER_MEMORY, AppProcesses, container_limits,
                                   os_reserve_bytes, overcommit_warning, share_host)
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


@pytest.mark.parametrize("roles,redis,expected", [
    (("db",), 0, {"postgres": 32 * GIB - 2 * GIB - PGBOUNCER_MEMORY}),
    (("app",), 0, {"app": 30 * GIB}),
    (("cache",), 8 * GIB, {"redis": 8 * GIB}),
    # db + app share what is left half and half (dev shape)
    (("db", "cache", "app"), 2 * GIB, {"redis": 2 * GIB,
                                        "postgres": (28 * GIB - HAPROXY_MEMORY - PGBOUNCER_MEMORY) // 2,
                                        "app": (28 * GIB - HAPROXY_MEMORY - PGBOUNCER_MEMORY + 1) // 2}),
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
    limits = container_limits(h, shares, redis, AppProcesses(4, 2 * GIB, 1, 512 * MIB))
    by = {c.service: c for c in limits}
    assert set(by) == {"pgbouncer", "redis-cache", "redis-queue", "haproxy", "postgres", "web", "jobs"}
    assert sum(c.cpus for c in limits) <= h.cpus
    assert sum(c.memory_bytes for c in limits) <= h.memory_bytes
    assert by["postgres"].memory_bytes == shares["postgres"]
    assert by["web"].cpus > by["jobs"].cpus   # cores follow the process count: 4 web workers, 1 job process


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
