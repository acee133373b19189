"""Property tests over random hosts: 1–128 cores, 512 MiB–1 TiB, every storage, workload and version.

An accepted plan has no broken budget and no value outside PostgreSQL's range; no host crashes
the planner (a rejection is a BudgetError with arithmetic, never another exception)."""
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunestack import stackfile
from tunestack.errors import BudgetError
from tunestack.plan import build_plan, worst_case
from tunestack.postgres.catalog import catalog

MIB = 1024**2
BASE = stackfile.load(stackfile.stack_path("staging"), name="staging")

hosts = st.fixed_dictionaries({
    "cpus": st.integers(1, 128),
    "memory": st.integers(512, 1024 * 1024).map(lambda m: m * MIB),
    "storage": st.sampled_from(["ssd", "hdd", "san", "nvme"]),
})
pg = st.fixed_dictionaries({
    "workload": st.sampled_from(["web", "oltp", "dw", "mixed", "desktop"]),
    "version": st.sampled_from([13, 14, 15, 16, 17, 18]),
    "db_size": st.sampled_from(["less_ram", "mid_ram", "greater_ram"]),
    "pool_mode": st.sampled_from(["session", "transaction", "statement"]),
})


def with_db(h, p):
    db = BASE.host_with("db")
    hosts_ = tuple(replace(x, cpus=h["cpus"], memory_bytes=h["memory"], storage=h["storage"]) if x is db else x
                   for x in BASE.hosts)
    return replace(BASE, hosts=hosts_,
                   postgres=replace(BASE.postgres, workload=p["workload"], version=p["version"], db_size=p["db_size"]),
                   pgbouncer=replace(BASE.pgbouncer, pool_mode=p["pool_mode"]))


def assert_sound(plan):
    assert not plan.violations
    gucs = catalog(plan.spec.postgres.version)
    for name, s in plan.postgres.items():
        assert gucs[name].check(s.text) is None, (name, s.text)
    db = plan.spec.host_with("db")
    # The worst case counts sort + hash_mem_multiplier × hash per backend and parallel worker,
    # autovacuum (VACUUM's 1GB cap up to 16), admin maintenance and per-process page tables.
    worst, how = worst_case(plan.postgres, plan.spec.postgres.version)
    assert "hash_mem_multiplier" in how and "admin maintenance" in how and "processes" in how
    assert worst <= db.memory_bytes   # the host budget (every service's worst case) holds it all


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts, pg)
def test_dedicated_db_host_gets_a_sound_plan_or_is_too_small_even_at_64kb_work_mem(h, p):
    """Only what no work_mem can fix rejects a dedicated db host: its processes' private memory and
    page tables alone (e.g. session pooling, 175 connections on 512 MiB)."""
    try:
        plan = build_plan(with_db(h, p))
    except BudgetError as err:
        (v,) = err.violations
        assert v.name == "memory on db" and "× 64 KiB work_mem" in v.arithmetic, v.arithmetic
        return
    assert_sound(plan)


@settings(max_examples=200, deadline=None)
@given(hosts, pg, st.integers(64, 4096), st.integers(1, 16), st.integers(1, 50))
def test_shared_host_is_planned_or_rejected_with_arithmetic(h, p, worker_mib, threads, concurrency):
    spec = BASE
    one = replace(spec.host_with("db"), name="all", roles=("db", "cache", "app"), count=1, cpus=h["cpus"],
                  memory_bytes=h["memory"], storage=h["storage"], addresses=())
    spec = replace(spec, hosts=(one,),
                   postgres=replace(spec.postgres, workload=p["workload"], version=p["version"]),
                   app=replace(spec.app, memory_per_worker_bytes=worker_mib * MIB, threads=threads,
                               jobs=replace(spec.app.jobs, concurrency=concurrency)),
                   redis_cache=replace(spec.redis_cache, memory_bytes=64 * MIB),
                   redis_queue=replace(spec.redis_queue, memory_bytes=32 * MIB))
    try:
        plan = build_plan(spec)
    except BudgetError as err:
        assert err.violations and all(v.arithmetic and v.fix for v in err.violations)
        return
    assert_sound(plan)
    for b in plan.budgets:
        assert b.used <= b.limit
