"""The Python app: Gunicorn's process count and the environment each process runs with (a Rails
app is checked by test_rails.py)."""
import pytest

from tunestack.poll import poll
from verify.helpers import listener_pids

SERVICE = "web"


@pytest.fixture(autouse=True)
def only_gunicorn(plan):
    if plan.spec.app.framework != "python":
        pytest.skip("the stack's app is not Gunicorn")


def _master(host, plan):
    """The Gunicorn master of this stack: the holder of the app port whose parent does not hold it."""
    pids = listener_pids(host, plan.app["port"].value)
    procs = [host.process.get(pid=p) for p in pids]
    masters = [p for p in procs if p.ppid not in pids]
    assert len(masters) == 1, f"one Gunicorn master expected on the app port, found {len(masters)}"
    return masters[0]


def _environ(host, pid):
    raw = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    return dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)


def test_worker_processes(host, plan, record):
    master = _master(host, plan)
    expected = plan.app["workers"].value
    workers = poll(lambda: len(host.process.filter(ppid=master.pid)) == expected and expected, timeout=30)
    record(expected, len(host.process.filter(ppid=master.pid)), bool(workers))


@pytest.mark.parametrize("key", ["WEB_CONCURRENCY", "GUNICORN_THREADS", "DB_POOL", "DATABASE_URL", "REDIS_URL",
                                 "REDIS_CACHE_CONNECT_TIMEOUT",
                                 "REDIS_CACHE_URL", "SENTRY_TRACES_SAMPLE_RATE", "DB_STATEMENT_TIMEOUT"])
def test_web_environment(host, plan, record, key):
    env = _environ(host, _master(host, plan).pid)
    record(plan.web_env[key].text, env.get(key))


def test_threads_per_worker(host, plan, record):
    master = _master(host, plan)
    worker = host.process.filter(ppid=master.pid)[0]
    env = _environ(host, worker.pid)
    record(plan.app["threads"].text, env.get("GUNICORN_THREADS"))
