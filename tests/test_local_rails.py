"""The Rails reference app on the local stack (issue #13): Puma, Sidekiq and Active Record from
Debian's packages, brought up through the real CLI as `local-rails` is, checked at run time by
verify, and rolled out: a faulty canary goes back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from tunestack.paths import ROOT
from tunestack.poll import poll
from tunestack.throwaway import ThrowawayStack

from tests.queueha import queue_master_lost_trial, with_queue_replica

pytestmark = pytest.mark.servers
STACK = "rails"
BASE = 28432   # its own ports: 28432–28437, the canary 28536


@pytest.fixture(scope="module")
def stack():
    base = BASE

    def gates(c):
        c["tunestack:rollout"]["gates"] = {"max_error_rate": 0.01, "max_p95_ms": 500, "min_requests": 15}
        with_queue_replica(c, base)
    with ThrowawayStack(STACK, BASE, gates, say=lambda m: None, source="local-rails") as s:
        yield s


def get(path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{BASE + 5}{path}", timeout=10) as r:
        return r.status, json.loads(r.read()), r.headers


def sql(stack, query: str) -> str:
    run_dir = stack.dir / "run" / "postgres"
    res = subprocess.run(["psql", "-h", str(run_dir), "-p", str(BASE), "-U", "postgres", "-d", "app", "-AtX", "-c", query],
                         user="postgres" if os.geteuid() == 0 else None, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_verify_checks_puma_sidekiq_and_active_record_at_run_time(stack):
    res = stack.cli("verify")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " 0 failed" in res.stdout and "could not run" not in res.stdout
    passed = [line.split()[1] for line in res.stdout.splitlines() if line.strip().startswith("PASS")]
    for check, param in (("test_puma_workers_and_booted_workers", ""), ("test_puma_max_threads", ""),
                         ("test_sidekiq_registry", "concurrency"), ("test_sidekiq_registry", "queues"),
                         ("test_active_record", "db_pool"), ("test_active_record", "prepared_statements"),
                         ("test_job_session", ""), ("test_web_session_timeouts", "statement_timeout"),
                         ("test_request_timeout_is_rack_timeouts", ""), ("test_allocator_in_every_web_process", ""),
                         ("test_yjit", ""), ("test_sentry_rates", ""),
                         # issue #26, point 12: Puma and Sidekiq on their planned cores
                         ("test_puma_and_sidekiq_run_on_their_cpu_sets", "")):
        assert any(p.startswith(check + "[") and param in p for p in passed), f"{check} {param} did not pass"


def test_no_token_reaches_a_command_line_while_verify_and_advise_run(stack):
    """Issue #23: verify and advise put Puma's control token into curl's arguments, where `nobody`
    read it from /proc and stopped Puma with it. Now nobody polling /proc finds no secret."""
    from tests.argvwatch import nobody_watching

    secrets = json.loads((stack.state / STACK / "secrets" / "passwords.json").read_text())
    with nobody_watching(secrets) as seen:
        assert stack.cli("verify").returncode == 0
        assert stack.cli("advise", "--json").returncode == 0
    assert seen["rounds"] > 10, "the watcher really read /proc while the commands ran"
    assert seen["found"] == {}


def test_nobody_cannot_reach_pumas_control_app(stack):
    """Issue #23: `nobody` called Puma's /stop with a token read from /proc. The control app now
    has no port at all; its socket is in a folder only root enters: root reads /stats through it,
    `nobody` cannot even connect, and Puma keeps running."""
    plan = stack.plan()
    control = stack.dir / "run" / "control"
    sock = control / plan.app["control_socket"].value
    assert control.stat().st_mode & 0o077 == 0 and control.stat().st_uid == 0
    stats = subprocess.run(["curl", "-fsS", "-m", "5", "--unix-socket", str(sock), "http://localhost/stats"],
                           capture_output=True, text=True, timeout=10)
    assert stats.returncode == 0 and "max_threads" in stats.stdout, stats.stderr
    web_before = json.loads(stack.cli("status", "--json").stdout)["programs"]["web"]["pid"]
    stop = subprocess.run(["runuser", "-u", "nobody", "--", "curl", "-sS", "-m", "5", "--unix-socket", str(sock),
                           "http://localhost/stop"], capture_output=True, text=True, timeout=10)
    assert stop.returncode != 0 and "ok" not in stop.stdout
    # the port the control app used to listen on (the app port + 200) is closed
    assert subprocess.run(["curl", "-sS", "-m", "3", f"http://127.0.0.1:{BASE + 4 + 200}/stats"],
                          capture_output=True, timeout=10).returncode != 0
    assert get("/")[0] == 200
    assert json.loads(stack.cli("status", "--json").stdout)["programs"]["web"]["pid"] == web_before


def test_a_request_runs_a_sidekiq_job_that_writes_as_the_jobs_role(stack):
    before = int(sql(stack, "SELECT count(*) FROM hits"))
    status, body, headers = get("/")
    assert status == 200 and body["hits"] == before and headers["X-Track"] == "stable"
    assert poll(lambda: int(sql(stack, "SELECT count(*) FROM hits")) > before, timeout=30), "the job never wrote"
    # the jobs role has its own timeouts; the app role keeps the web request's
    jobs = sql(stack, "SELECT array_to_string(rolconfig, ',') FROM pg_roles WHERE rolname = 'jobs'")
    assert "statement_timeout=2min" in jobs and "lock_timeout=5s" in jobs


def test_a_faulty_canary_is_rolled_back(stack):
    res = subprocess.run([sys.executable, "-m", "tunestack", "rollout", "--stack", STACK, "--version", "v2-bad",
                          "--env", "APP_FAULT_RATE=0.5", "--steps", "50,100", "--bake", "4s", "--load", "20"],
                         cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "rolling back" in res.stdout and "error rate" in res.stdout
    assert get("/version")[1]["track"] == "stable"


def test_the_app_serves_every_metric_the_alerts_read(stack):
    """Puma's workers count into the queue Redis: a scrape answered by any worker reports them all,
    under the names every reference app uses (tunestack/plan/alerts.py)."""
    from tests import appmetrics

    for _ in range(6):
        assert get("/")[0] == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{BASE + 4}/_tunestack/metrics", timeout=10) as r:
        text = r.read().decode()
    assert not appmetrics.missing(stack.plan(), text)
    import re
    assert float(re.search(r'^tunestack_http_requests_total\{code="2xx"\} (\S+)', text, re.M).group(1)) >= 6


@pytest.mark.parametrize("service", ["pgbouncer", "redis-queue"])
def test_no_job_is_lost_when_a_backend_is_killed(stack, service):
    """Issue #23: Sidekiq under the same drill as the other reference apps (tests/jobfaults.py)."""
    from tests.jobfaults import drill

    result = drill(stack, service, rate=20)
    print(result)
    assert result["restarted"] and result["served"] > 25, result
    assert result["lost"] == 0 and result["drained"], result
    assert result["jobs_state"] == "RUNNING", "Sidekiq recovered by itself"


def test_the_queues_master_lost_loses_no_acknowledged_sidekiq_job(stack):
    queue_master_lost_trial(stack, heal=False)
