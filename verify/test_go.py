"""The Go app at run time, from its own report (GET /_tunestack/runtime): the database/sql pool in
force, GOMAXPROCS and the memory limit the Go runtime took, one process on the app port, the job
workers (the sessions' timeouts: test_runtime_sessions.py)."""
import pytest

from verify.helpers import listener_pids, process_env, process_report

SERVICE = "web"
# What the report calls each planned variable; durations in seconds, the plan keeps milliseconds.
POOL = {"DB_MAX_OPEN_CONNS": "max_open_conns", "DB_MAX_IDLE_CONNS": "max_idle_conns",
        "DB_CONN_MAX_LIFETIME": "conn_max_lifetime_seconds", "DB_CONN_MAX_IDLE_TIME": "conn_max_idle_time_seconds"}
RUNTIME = {"GOMAXPROCS": "gomaxprocs", "GOMEMLIMIT": "memory_limit"}


@pytest.fixture(autouse=True)
def only_go(plan):
    if plan.spec.app.framework != "go":
        pytest.skip("the stack's app is not Go")


def expected(setting):
    return setting.value / 1000 if setting.unit == "ms" else setting.value


@pytest.mark.parametrize("process", ["web", "jobs"])
@pytest.mark.parametrize("variable", [*POOL, *RUNTIME])
def test_in_force(host, plan, secrets_dir, record, process, variable):
    """Go's database/sql docs (SetMaxOpenConns, SetMaxIdleConns, SetConnMaxLifetime,
    SetConnMaxIdleTime) and the runtime (GOMAXPROCS, GOMEMLIMIT: runtime/debug.SetMemoryLimit)."""
    setting = process_env(plan, process)[variable]
    key = POOL.get(variable) or RUNTIME[variable]
    record(f"{expected(setting)} ({setting.text})", process_report(host, plan, secrets_dir, process)[key],
           process_report(host, plan, secrets_dir, process)[key] == expected(setting))


def test_one_process_serves(host, plan, record):
    """One Go process uses every core through goroutines: a single holder of the app port."""
    pids = listener_pids(host, plan.app["port"].value)
    record(1, len(pids))


def test_job_workers(host, plan, secrets_dir, record):
    seen = process_report(host, plan, secrets_dir, "jobs")
    record(f"{plan.jobs_env['JOB_CONCURRENCY'].value} workers, queue bound {plan.jobs_env['JOB_QUEUE_BOUND'].value}",
           f"{seen['concurrency']} workers, queue bound {seen['queue_bound']}")
