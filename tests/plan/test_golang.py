"""Go services: database/sql pool limits, GOMAXPROCS and GOMEMLIMIT (plan/golang.py)."""
from dataclasses import replace

import pytest

from tunestack.plan import build_plan
from tunestack.plan.golang import go_jobs_env, go_web_env

from .helpers import spec

MIB = 1024**2


def go_app(**kw):
    s = spec("staging")
    return replace(s.app, framework="go", **kw)


@pytest.mark.parametrize("threads,headroom,open_,idle", [
    # database/sql docs: SetMaxIdleConns above MaxOpenConns is cut to it; its default is 2. The
    # guides run 25 open with 5 idle: a fifth.
    (23, 2, 25, 5), (20, 2, 22, 5), (3, 0, 3, 2), (1, 0, 1, 1),
])
def test_pool_limits(threads, headroom, open_, idle):
    app = go_app(threads=threads, db_pool_headroom=headroom)
    env = go_web_env(app, 4, 512 * MIB, threads + headroom)
    assert (env["DB_MAX_OPEN_CONNS"].value, env["DB_MAX_IDLE_CONNS"].value) == (open_, idle)
    assert env["DB_MAX_IDLE_CONNS"].value <= env["DB_MAX_OPEN_CONNS"].value


@pytest.mark.parametrize("cores,process_mib,gomaxprocs,limit", [
    # Go GC guide: GOMEMLIMIT a little under the memory the process may use (90 %); Go 1.19 does not
    # read a container's CPU quota, so GOMAXPROCS is the cores the plan gives the process.
    (4, 1024, 4, "921MiB"), (1, 256, 1, "230MiB"), (0, 512, 1, "460MiB")])
def test_runtime_limits(cores, process_mib, gomaxprocs, limit):
    env = go_web_env(go_app(), cores, process_mib * MIB, 10)
    assert (env["GOMAXPROCS"].value, env["GOMEMLIMIT"].text) == (gomaxprocs, limit)


def test_lifetimes_stay_below_pgbouncers_server_lifetime():
    # The guides: ConnMaxLifetime 5-30 min, ConnMaxIdleTime 5 min; PgBouncer's server_lifetime is 1 h.
    plan = build_plan(replace(spec("staging"), app=go_app()))
    env = plan.web_env
    assert env["DB_CONN_MAX_LIFETIME"].value < plan.pgbouncer["server_lifetime"].value
    assert (env["DB_CONN_MAX_LIFETIME"].text, env["DB_CONN_MAX_IDLE_TIME"].text) == ("30m", "5m")


@pytest.mark.parametrize("ms,text", [(1_800_000, "30m"), (90_000, "90s"), (1500, "1500ms"), (7_200_000, "2h")])
def test_durations_are_written_as_go_reads_them(ms, text):
    # Go docs (time.ParseDuration): units ns, us, ms, s, m, h; there is no "min".
    from tunestack.plan.golang import go_duration
    assert go_duration(ms) == text


def test_one_process_per_replica_and_the_budget_counts_its_pool():
    plan = build_plan(replace(spec("staging"), app=go_app(threads=23)))
    assert plan.app["workers"].value == 1 and "WEB_CONCURRENCY" not in plan.web_env
    fleet = next(b for b in plan.budgets if b.name.startswith("fleet client connections"))
    assert "1 web process × 25 pool" in fleet.arithmetic


def test_job_worker_pool_and_its_bound():
    env = go_jobs_env(go_app(jobs=replace(spec("staging").app.jobs, concurrency=10)), 2, 512 * MIB, 12)
    assert (env["JOB_QUEUE_BOUND"].value, env["DB_MAX_OPEN_CONNS"].value) == (100, 12)
