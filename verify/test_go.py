"""The Go app at run time, from its own report (GET /_tunestack/runtime): the database/sql pool in
force, GOMAXPROCS and the memory limit the Go runtime took, one process on the app port, and the
timeouts a web request's and a job's PostgreSQL sessions see."""
import pytest

from verify.helpers import app_runtime, job_runtime, listener_pids, once

SERVICE = "web"
TOKEN = "runtime-token"
# What the report calls each planned variable; durations in seconds, the plan keeps milliseconds.
POOL = {"DB_MAX_OPEN_CONNS": "max_open_conns", "DB_MAX_IDLE_CONNS": "max_idle_conns",
        "DB_CONN_MAX_LIFETIME": "conn_max_lifetime_seconds", "DB_CONN_MAX_IDLE_TIME": "conn_max_idle_time_seconds"}
RUNTIME = {"GOMAXPROCS": "gomaxprocs", "GOMEMLIMIT": "memory_limit"}


@pytest.fixture(autouse=True)
def only_go(plan):
    if plan.spec.app.framework != "go":
        pytest.skip("the stack's app is not Go")


def report(host, plan, secrets_dir, process: str) -> dict:
    port = plan.app["port"].value
    if process == "jobs":
        return job_runtime(host, port, secrets_dir, TOKEN)
    return once(host, "go-runtime", port, make=lambda: app_runtime(host, port, secrets_dir, TOKEN))


def env_of(plan, process: str) -> dict:
    return plan.web_env if process == "web" else plan.jobs_env


def expected(setting):
    return setting.value / 1000 if setting.unit == "ms" else setting.value


@pytest.mark.parametrize("process", ["web", "jobs"])
@pytest.mark.parametrize("variable", [*POOL, *RUNTIME])
def test_in_force(host, plan, secrets_dir, record, process, variable):
    """Go's database/sql docs (SetMaxOpenConns, SetMaxIdleConns, SetConnMaxLifetime,
    SetConnMaxIdleTime) and the runtime (GOMAXPROCS, GOMEMLIMIT: runtime/debug.SetMemoryLimit)."""
    setting = env_of(plan, process)[variable]
    key = POOL.get(variable) or RUNTIME[variable]
    record(f"{expected(setting)} ({setting.text})", report(host, plan, secrets_dir, process)[key],
           report(host, plan, secrets_dir, process)[key] == expected(setting))


def test_one_process_serves(host, plan, record):
    """One Go process uses every core through goroutines: a single holder of the app port."""
    pids = listener_pids(host, plan.app["port"].value)
    record(1, len(pids))


@pytest.mark.parametrize("process", ["web", "jobs"])
@pytest.mark.parametrize("name", ["statement_timeout", "lock_timeout"])
def test_session_timeouts(host, plan, secrets_dir, record, process, name):
    seen = report(host, plan, secrets_dir, process)
    role = plan.jobs_role if process == "jobs" else "app"
    record(f"{plan.postgres_roles[role][name].text} (role {role})", f"{seen[name]} (role {seen['database_user']})")


def test_job_workers(host, plan, secrets_dir, record):
    seen = report(host, plan, secrets_dir, "jobs")
    record(f"{plan.jobs_env['JOB_CONCURRENCY'].value} workers, queue bound {plan.jobs_env['JOB_QUEUE_BOUND'].value}",
           f"{seen['concurrency']} workers, queue bound {seen['queue_bound']}")


def test_request_timeout(host, plan, secrets_dir, record):
    """net/http's TimeoutHandler answers a request still running then."""
    want, seen = expected(plan.web_env["REQUEST_TIMEOUT"]), report(host, plan, secrets_dir, "web")["request_timeout"]
    record(f"{want:g} s", f"{seen:g} s", want == seen)
