"""The Node app at run time, from its own report (GET /_tunestack/runtime): the node-postgres pool
in force, the V8 heap limit, the cluster's worker processes, libuv's thread pool and the job loops
(the sessions' timeouts: test_runtime_sessions.py)."""
import pytest

from tunestack.poll import poll
from verify.helpers import listener_pids, process_env, process_report

SERVICE = "web"
POOL = {"PG_POOL_MAX": "pool_max", "PG_IDLE_TIMEOUT_MILLIS": "idle_timeout_millis",
        "PG_CONNECTION_TIMEOUT_MILLIS": "connection_timeout_millis"}
# V8's heap_size_limit is the old space plus the young generation: three semi-spaces of at most
# 16 MiB on 64-bit (V8 heap.cc: max_semi_space_size 16 MB; young = 3 × semi-space).
YOUNG_GENERATION_MAX = 3 * 16 * 1024**2


@pytest.fixture(autouse=True)
def only_node(plan):
    if plan.spec.app.framework != "node":
        pytest.skip("the stack's app is not Node")


@pytest.mark.parametrize("process", ["web", "jobs"])
@pytest.mark.parametrize("variable", list(POOL))
def test_pool_in_force(host, plan, secrets_dir, record, process, variable):
    """node-postgres docs (Pool: max, idleTimeoutMillis, connectionTimeoutMillis)."""
    record(process_env(plan, process)[variable].value, process_report(host, plan, secrets_dir, process)[POOL[variable]])


@pytest.mark.parametrize("process", ["web", "jobs"])
def test_heap_limit(host, plan, secrets_dir, record, process):
    """--max-old-space-size (Node.js docs) as V8 took it: its heap limit less the young generation."""
    old_mib = int(process_env(plan, process)["NODE_OPTIONS"].value.split("=")[1])
    limit = process_report(host, plan, secrets_dir, process)["heap_size_limit"]
    young = limit - old_mib * 1024**2
    record(f"old space {old_mib} MiB + young generation ≤ {YOUNG_GENERATION_MAX // 1024**2} MiB",
           f"heap_size_limit {limit / 1024**2:g} MiB", 0 <= young <= YOUNG_GENERATION_MAX)


def test_cluster_workers(host, plan, record):
    """The primary holds the port (node:cluster); WEB_CONCURRENCY workers are its children."""
    primaries = listener_pids(host, plan.app["port"].value)
    expected = plan.web_env["WEB_CONCURRENCY"].value

    def workers():
        return sum(len(host.process.filter(ppid=pid)) for pid in primaries)
    poll(lambda: workers() == expected, timeout=30)
    record(f"1 primary, {expected} workers", f"{len(primaries)} primary, {workers()} workers")


def test_libuv_threadpool(host, plan, secrets_dir, record):
    want = plan.web_env["UV_THREADPOOL_SIZE"].value if "UV_THREADPOOL_SIZE" in plan.web_env else 4
    record(want, process_report(host, plan, secrets_dir, "web")["uv_threadpool_size"])


def test_job_concurrency(host, plan, secrets_dir, record):
    record(plan.jobs_env["JOB_CONCURRENCY"].value, process_report(host, plan, secrets_dir, "jobs")["concurrency"])
