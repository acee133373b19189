"""App stage: workers, pools per process type, and the environment the frameworks read."""
from dataclasses import replace

import pytest

from tunestack.plan import build_plan
from tunestack.plan.app import cpu_rule, master_bytes, size_app
from tunestack.stackfile.spec import AppSpec, JobsSpec

from .helpers import GIB, MIB, host, spec, with_app


@pytest.mark.parametrize("framework,cpus,max_workers,expected", [
    ("rails", 4, None, 4),      # Puma deployment docs: one worker per core
    ("rails", 16, 8, 8),        # max_workers caps it
    ("python", 1, None, 3),     # Gunicorn docs "How many workers": (2 × cores) + 1
    ("python", 4, None, 9),
    ("python", 8, None, 12),    # Gunicorn docs: 4–12 workers serve thousands of req/s — soft cap 12
    ("python", 8, 6, 6),
])
def test_cpu_rule(framework, cpus, max_workers, expected):
    app = AppSpec(framework, 4, 256 * MIB, max_workers=max_workers)
    assert cpu_rule(app, cpus)[0] == expected


@pytest.mark.parametrize("framework,per_worker,expected", [
    ("rails", 512 * MIB, 512 * MIB),   # Puma docs: the master costs about as much as a worker …
    ("rails", 4 * GIB, GIB),           # … up to ~1 GB
    ("python", 512 * MIB, 0),          # Gunicorn's arbiter forks workers and holds little
])
def test_master_memory(framework, per_worker, expected):
    assert master_bytes(AppSpec(framework, 3, per_worker)) == expected


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
    assert size_app(s.app, host(cpus, mem_gib), free).workers == expected


@pytest.mark.parametrize("cpus,mem_gib,expected", [
    # Puma deployment docs: one worker per core; puma discussion #3087: cores shared with another
    # app are split, and staging's one Sidekiq process (one GVL) takes a whole core.
    (4, 64, 3),
    (16, 64, 15),
    # memory (Ruby 3.1: no YJIT): (8192 − 512 reserve − 1024 job − 768 master) MiB / 768 MiB = 7.6
    (16, 8, 7),
])
def test_puma_workers_from_cores_and_memory(cpus, mem_gib, expected):
    s = spec("staging")
    free = int(mem_gib * GIB) - max(128 * 1024**2, min(2 * GIB, int(mem_gib * GIB) // 16))
    assert size_app(s.app, host(cpus, mem_gib), free).workers == expected


@pytest.mark.parametrize("threads,concurrency,headroom,processes,workers,clients", [
    # Rails puma.rb / GitLab DB_POOL_HEADROOM: web pool = threads + headroom; Sidekiq: concurrency + headroom.
    (3, 10, 2, 1, 4, 4 * 5 + 1 * 12),
    (5, 5, 0, 2, 2, 2 * 5 + 2 * 5),
    (4, 4, 2, 0, 3, 3 * 6),
])
def test_clients_per_host(threads, concurrency, headroom, processes, workers, clients):
    app = AppSpec("rails", threads, 256 * MIB, JobsSpec(concurrency, processes, 256 * MIB), max_workers=workers,
                  db_pool_headroom=headroom)
    sizing = size_app(app, host(workers + processes, 64), 60 * GIB)
    assert (sizing.workers, sizing.web_pool, sizing.job_pool) == (workers, threads + headroom, concurrency + headroom)
    assert sizing.per_host_clients == clients


def test_memory_for_the_host_share_is_what_is_left():
    app = AppSpec("python", 4, 256 * MIB, JobsSpec(4, 1, 512 * MIB))
    free = 2 * GIB - 128 * MIB   # the OS reserve of a 2 GiB host: 1/16 (test_memory.py::test_os_reserve)
    sizing = size_app(app, host(8, 2), free)
    assert sizing.workers == (free - 512 * MIB) // (256 * MIB)
    assert "memory:" in sizing.workers_reason and "CPU rule allows 12" in sizing.workers_reason


def test_db_pools_per_process_type():
    # Rails puma.rb template / GitLab DB_POOL_HEADROOM: pool = threads + headroom;
    # Sidekiq: pool = concurrency + headroom, set per process type.
    plan = build_plan(spec("staging"))
    assert plan.web_env["DB_POOL"].value == 3 + 2
    assert plan.jobs_env["DB_POOL"].value == 10 + 2
    assert plan.web_env["RAILS_MAX_THREADS"].value == plan.web_env["PUMA_MAX_THREADS"].value == 3
    assert plan.jobs_env["RAILS_MAX_THREADS"].value == 10   # Sidekiq's fallback; sidekiq.yml sets it


def test_pgbouncer_118_transaction_mode_disables_prepared_statements_and_advisory_locks():
    # runtime-rules §3.5: PgBouncer < 1.21 cannot track prepared statements; advisory locks are
    # session-level and break under transaction pooling.
    plan = build_plan(spec("staging"))
    assert plan.web_env["DB_PREPARED_STATEMENTS"].value is False
    assert plan.web_env["DB_PREPARED_STATEMENTS"].text == "false"
    assert plan.web_env["DB_ADVISORY_LOCKS"].text == "false"
    assert "max_prepared_statements" not in plan.pgbouncer
    s = spec("staging")
    plan = build_plan(replace(s, pgbouncer=replace(s.pgbouncer, version=(1, 24))))
    assert plan.pgbouncer["max_prepared_statements"].value == 200


def test_env_mirrors_role_timeouts_in_seconds():
    plan = build_plan(spec("staging"))  # request timeout 20 s: statement 10 s, lock 3333 ms
    assert plan.web_env["DB_STATEMENT_TIMEOUT"].text == "10"
    assert plan.web_env["DB_LOCK_TIMEOUT"].text == "3"
    assert plan.web_env["DB_STATEMENT_TIMEOUT"].value == plan.postgres_roles["app"]["statement_timeout"].value


def test_puma_worker_timeout_is_twice_the_request_timeout():
    # Puma docs: worker_timeout is not a request timeout; twice it only reaps hung workers.
    plan = build_plan(spec("staging"))
    assert plan.app["worker_timeout"].value == 2 * plan.app["request_timeout"].value


@pytest.mark.parametrize("cpus,jobs,workers,processes", [
    # Puma docs (deployment.md): fewer than 2 workers → single mode (workers 0, one process, no master)
    (2, 1, 0, 1),     # 2 cores less one for the Sidekiq process
    (1, 0, 0, 1),
    (3, 1, 2, 2),     # cluster from 2 workers
    (8, 8, 4, 4),     # job processes never take more than half the cores
])
def test_puma_single_mode_below_two_workers(cpus, jobs, workers, processes):
    app = AppSpec("rails", 3, 256 * MIB, JobsSpec(5, jobs, 256 * MIB))
    sizing = size_app(app, host(cpus, 64), 60 * GIB)
    assert (sizing.workers, sizing.processes) == (workers, processes)
    assert (sizing.master_bytes == 0) == (workers == 0)


def test_single_mode_clients_and_memory_count_the_one_process():
    app = AppSpec("rails", 3, 256 * MIB, JobsSpec(5, 1, 256 * MIB), db_pool_headroom=2, ruby="3.0")
    sizing = size_app(app, host(2, 64), 60 * GIB)
    assert sizing.per_host_clients == 1 * (3 + 2) + 1 * (5 + 2)
    assert sizing.memory_bytes == 256 * MIB + 256 * MIB     # Ruby 3.0: no YJIT; no master


@pytest.mark.parametrize("ruby,extra_mib", [("3.0", 0), ("3.1", 0), ("3.2", 128), ("3.3", 128), ("3.4", 128)])
def test_yjit_memory_is_in_every_ruby_process(ruby, extra_mib):
    # No YJIT before 3.2 (none in 3.0, experimental in 3.1); 3.2–3.3: --yjit-exec-mem-size=64 plus
    # as much for metadata; 3.4: --yjit-mem-size=128 bounds both (Ruby 3.4 NEWS).
    app = AppSpec("rails", 3, 512 * MIB, JobsSpec(5, 2, 256 * MIB), ruby=ruby, max_workers=2)
    sizing = size_app(app, host(8, 64), 60 * GIB)
    assert sizing.process_bytes == (512 + extra_mib) * MIB
    assert sizing.memory_bytes == 2 * (512 + extra_mib) * MIB + 512 * MIB + 2 * (256 + extra_mib) * MIB


@pytest.mark.parametrize("stack", ["local", "local-go", "local-node", "local-rails", "prod"])
def test_a_cache_gives_up_sooner_than_the_queue(stack):
    """Issue #26: a 5 s connect timeout is long for a cache: a request waits 5 s for a miss it could
    take from the database at once. The cache gets 1 s; the queue keeps 5 s (a job must not be lost)."""
    from tunestack.plan import plan_stack

    env = plan_stack(stack).web_env
    assert env["REDIS_CACHE_CONNECT_TIMEOUT"].text == "1" and env["REDIS_CONNECT_TIMEOUT"].text == "5"


@pytest.mark.parametrize("framework,cpus,jobs,web_cpus,sets", [
    # Issue #26, point 12: the cores web_cores gives Puma (Puma deployment docs: one worker per
    # core) and the rest Sidekiq's (one GVL per process), as taskset(1) CPU lists
    ("rails", 2, 1, None, ("0", "1")),
    ("rails", 8, 2, None, ("0-5", "6-7")),
    ("rails", 8, 8, None, ("0-3", "4-7")),     # jobs never take more than half the cores
    ("rails", 1, 1, None, None),               # one core: nothing to divide
    ("rails", 4, 0, None, None),               # no Sidekiq: Puma has every core
    ("rails", 4, 1, 3.0, None),                # a container: Docker's CPU limit divides instead
    ("python", 4, 1, None, None),              # job processes take a quarter core: no whole core to pin
])
def test_cpu_sets_make_the_core_division_real(framework, cpus, jobs, web_cpus, sets):
    app = AppSpec(framework, 3, 256 * MIB, JobsSpec(5, jobs, 256 * MIB))
    sizing = size_app(app, host(cpus, 64), 60 * GIB, web_cpus)
    assert sizing.core_sets == sets
    if sets and jobs:   # Puma's workers were sized for exactly the web set's cores
        first, _, last = sets[0].partition("-")
        assert sizing.cores == int(last or first) + 1
