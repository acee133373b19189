"""The Go and Node reference apps on the local stack (issue #15): `local-go` and `local-node` brought
up through the real CLI, checked at run time by verify (pools, GOMAXPROCS, memory limits, process
counts, the timeouts a session sees), the metric names the alerts read served by the running app,
and one rollout with a faulty canary rolled back on each."""
from __future__ import annotations

import json
import re
import urllib.error
import subprocess
import sys
import urllib.request

import pytest

from tests import appmetrics
from tunestack.paths import ROOT
from tunestack.poll import poll
from tunestack.throwaway import ThrowawayStack

from tests.queueha import queue_master_lost_trial, with_queue_replica

pytestmark = pytest.mark.servers
# Own ports each: base..base+5, the canary at the app port + 100.
STACKS = {"local-go": ("gostack", 31432), "local-node": ("nodestack", 20432)}
# Checks each framework's verify must have passed (verify/test_go.py, verify/test_node.py).
RUNTIME_CHECKS = {
    "local-go": ["test_in_force[local-DB_MAX_OPEN_CONNS-web]", "test_in_force[local-DB_MAX_OPEN_CONNS-jobs]",
                 "test_in_force[local-DB_CONN_MAX_LIFETIME-web]", "test_in_force[local-GOMAXPROCS-web]",
                 "test_in_force[local-GOMEMLIMIT-jobs]", "test_one_process_serves[local]",
                 "test_session_timeouts[local-statement_timeout-jobs]", "test_request_timeout[local]"],
    "local-node": ["test_pool_in_force[local-PG_POOL_MAX-web]", "test_pool_in_force[local-PG_POOL_MAX-jobs]",
                   "test_pool_in_force[local-PG_CONNECTION_TIMEOUT_MILLIS-web]", "test_heap_limit[local-web]",
                   "test_cluster_workers[local]", "test_session_timeouts[local-lock_timeout-jobs]",
                   "test_request_timeout[local]"],
}


@pytest.fixture(scope="module", params=list(STACKS))
def stack(request):
    name, base = STACKS[request.param]

    def gates(c):
        c["tunestack:rollout"]["gates"] = {"max_error_rate": 0.01, "max_p95_ms": 500, "min_requests": 15}
        with_queue_replica(c, base)
    with ThrowawayStack(name, base, gates, say=lambda m: None, source=request.param) as s:
        s.source = request.param
        yield s


def get(stack, path: str, port: int | None = None):
    with urllib.request.urlopen(f"http://127.0.0.1:{port or stack.base + 5}{path}", timeout=10) as r:
        return r.status, r.read().decode(), r.headers


def test_verify_checks_the_app_at_run_time(stack):
    """...while `nobody` polls /proc: the runtime token verify sends never shows in any process's
    argv or readable environment (issue #23)."""
    from tests.argvwatch import nobody_watching

    secrets = json.loads((stack.dir / "secrets" / "passwords.json").read_text())
    with nobody_watching(secrets) as seen:
        res = stack.cli("verify")
    assert seen["rounds"] > 10 and seen["found"] == {}
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " 0 failed" in res.stdout and "could not run" not in res.stdout
    passed = {line.split()[1] for line in res.stdout.splitlines() if line.strip().startswith("PASS")}
    missing = [c for c in RUNTIME_CHECKS[stack.source] if c not in passed]
    assert not missing, f"did not pass: {missing}"


def test_a_request_reads_the_database_and_runs_a_job_as_the_jobs_role(stack):
    before = int(stack.psql_socket("SELECT count(*) FROM hits").strip())
    status, body, headers = get(stack, "/")
    assert status == 200 and json.loads(body)["hits"] == before and headers["X-Track"] == "stable"
    assert poll(lambda: int(stack.psql_socket("SELECT count(*) FROM hits").strip()) > before, timeout=30), \
        "the job never wrote"


def test_the_runtime_report_needs_the_token(stack):
    with pytest.raises(urllib.error.HTTPError) as e:
        get(stack, "/_tunestack/runtime", port=stack.base + 4)
    assert e.value.code == 404


def runtime_answer(stack, token: str) -> int:
    """The status the running web app answers a runtime report asked for with `token`."""
    request = urllib.request.Request(f"http://127.0.0.1:{stack.base + 4}/_tunestack/runtime",
                                     headers={"X-Tunestack-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def web_pid(stack) -> int:
    res = stack.cli("status", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["programs"]["web"]["pid"]


def test_the_runtime_token_is_new_after_every_up_and_the_old_one_is_refused(stack):
    """Issue #23: the tokens never rotated, so one capture worked forever. Each `up` writes a new
    one; the app reads it per request, so the web server keeps running and the old one stops working."""
    token_file = stack.dir / "secrets" / "runtime-token"
    captured, pid = token_file.read_text(), web_pid(stack)
    assert runtime_answer(stack, captured) == 200
    res = stack.cli("up")
    assert res.returncode == 0, res.stdout + res.stderr
    fresh = token_file.read_text()
    assert fresh != captured and token_file.stat().st_mode & 0o077 == 0
    assert runtime_answer(stack, captured) == 404
    assert runtime_answer(stack, fresh) == 200
    assert web_pid(stack) == pid, "rotating the token restarted the web server"
    assert "no changes" in res.stderr + res.stdout, "a token rotation is not a change to report or restart for:\n" + res.stdout


def test_the_app_serves_every_metric_the_alerts_read(stack):
    """Each app-side alert (p95, pool use, cache hit rate) names a metric the running app exports."""
    for _ in range(5):
        get(stack, "/")
    status, text, _ = get(stack, "/_tunestack/metrics", port=stack.base + 4)
    assert not appmetrics.missing(stack.plan(), text), "alerts read metrics the app does not export"
    assert re.search(r'^tunestack_http_requests_total\{code="2xx"\} [1-9]', text, re.M)


def test_a_faulty_canary_is_rolled_back(stack):
    res = subprocess.run([sys.executable, "-m", "tunestack", "rollout", "--stack", stack.name, "--version", "v2-bad",
                          "--env", "APP_FAULT_RATE=0.5", "--steps", "50,100", "--bake", "4s", "--load", "20"],
                         cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "rolling back" in res.stdout and "error rate" in res.stdout
    assert json.loads(get(stack, "/version")[1])["track"] == "stable"


def test_a_go_build_error_is_the_compilers_own_and_leaves_nothing(tmp_path, monkeypatch):
    """`up` builds before it touches anything: a broken app stops it with the compiler's message."""
    from tunestack.local import LocalStackError, appbuild

    broken = tmp_path / "src"
    broken.mkdir()
    (broken / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    monkeypatch.setattr(appbuild, "GO_APP", broken)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(LocalStackError, match="undefined: undefinedThing"):
        appbuild.build_reference_app("go", out)
    assert not any(out.iterdir())


@pytest.mark.parametrize("service", ["pgbouncer", "redis-queue"])
def test_no_job_is_lost_when_a_backend_is_killed(stack, service):
    """Issue #23: `kill -9` of PgBouncer or the queue Redis under load loses no job (the workers
    retry on a reliable queue) and the queue drains within a bound (tests/jobfaults.py)."""
    from tests.jobfaults import drill

    result = drill(stack, service)
    print(result)
    assert result["restarted"] and result["served"] > 50, result
    assert result["lost"] == 0 and result["drained"], result
    assert result["jobs_state"] == "RUNNING", "the worker recovered by itself"


def test_the_queues_master_lost_loses_no_acknowledged_job(stack):
    queue_master_lost_trial(stack, heal=False)


def test_putting_a_queue_with_replicas_back_is_refused_and_touches_nothing(stack):
    """One node's folder put back would be overwritten by its master's, or overwrite its replicas."""
    before = stack.cli("status", "--json").stdout
    res = stack.cli("restore", "--to", "latest", "--replace", "--queue", "--yes")
    assert res.returncode == 2 and "replicas under Sentinel" in res.stderr and "Traceback" not in res.stderr
    after = json.loads(stack.cli("status", "--json").stdout)
    assert {p: s["pid"] for p, s in after["programs"].items()} == \
        {p: s["pid"] for p, s in json.loads(before)["programs"].items()}, "nothing was restarted"
