"""End to end on the real services (issue 4): up, verify, change settings, up again, verify again,
the data is still there, down. Plus: a config PostgreSQL rejects leaves the running stack as it
was, and a value changed by hand on a running server is caught by verify.

Runs a copy of the local stack on its own ports and state folder, through the real CLI."""
from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests import appmetrics
from tunestack.throwaway import ThrowawayStack
from tunestack.paths import ROOT

pytestmark = pytest.mark.servers
STACK = "e2e"


@pytest.fixture(scope="module")
def env():
    stack = ThrowawayStack(STACK, 25432, say=lambda m: None)  # own ports and state; up is part of the test
    yield stack
    stack.__exit__(None, None, None)


def cli(env, *args):
    return env.cli(*args)


def edit(env, change):
    env.edit(change)


def sql(env, query):
    run_dir = env.state / STACK / "run" / "postgres"
    res = subprocess.run(["psql", "-h", str(run_dir), "-p", "25432", "-U", "postgres", "-d", "app", "-AtX", "-c", query],
                         user="postgres" if os.geteuid() == 0 else None, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:25437{path}", timeout=5) as r:
        return r.status, json.loads(r.read())


def test_lifecycle(env):
    up = cli(env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "web:" in up.stdout and "25437" in up.stdout
    status, body = get("/")
    assert status == 200
    verify = cli(env, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert " 0 failed" in verify.stdout

    sql(env, "CREATE TABLE IF NOT EXISTS marker (v text); INSERT INTO marker VALUES ('kept')")

    # Change settings of every kind: a reloadable one (slow query log), a restart-only one
    # (max_wal_senders), Redis memory (CONFIG SET) and app threads (environment → restart).
    def change(c):
        c["tunestack:postgres"]["slow_query"] = "1s"
        c["tunestack:postgres"]["overrides"] = {"max_wal_senders": 5}
        c["tunestack:redis"]["cache"]["memory"] = "320MiB"
        c["tunestack:app"]["threads"] = 2
    edit(env, change)
    up = cli(env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    # Less memory left for PostgreSQL on the shared host also moves shared_buffers: a restart.
    restart = next(line for line in up.stdout.splitlines() if "postgres: " in line)
    assert "restart (" in restart and "max_wal_senders" in restart and "shared_buffers" in restart
    verify = cli(env, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "expected 1s, actual 1s" in verify.stdout and "expected 5, actual 5" in verify.stdout
    assert sql(env, "SELECT v FROM marker") == "kept"
    assert get("/")[0] == 200

    # A hand-made change on a running server is caught.
    pw = json.loads((env.state / STACK / "secrets" / "passwords.json").read_text())["redis-cache"]
    import redis as redis_py
    redis_py.Redis(port=25434, password=pw).config_set("maxmemory-policy", "allkeys-random")
    verify = cli(env, "verify")
    assert verify.returncode == 1
    rows = re.split(r"\n(?=  (?:PASS|FAIL)  )", verify.stdout)   # a row and its wrapped expected/actual
    assert any(row.lstrip().startswith("FAIL") and "maxmemory-policy-cache" in row and "allkeys-random" in row
               for row in rows)

    # `up` repairs the drift without losing data.
    up = cli(env, "up")
    assert up.returncode == 0, up.stderr
    assert cli(env, "verify").returncode == 0


def test_the_app_serves_every_metric_the_alerts_read(env):
    """The guides' targets as alerts (p95, pool use, cache hit rate, queue depth) read the Python
    app's own metrics: every worker's, whichever answers the scrape (prometheus_client multiprocess)."""
    for _ in range(6):
        assert get("/")[0] == 200
    with urllib.request.urlopen("http://127.0.0.1:25436/_tunestack/metrics", timeout=5) as r:
        text = r.read().decode()
    assert not appmetrics.missing(env.plan(), text)
    # Six requests, spread over the workers, all counted in one scrape.
    assert float(re.search(r'^tunestack_http_requests_total\{code="2xx"\} (\S+)', text, re.M).group(1)) >= 6


def test_broken_config_leaves_running_stack_as_it_was(env):
    if not (env.state / STACK / "state.json").exists():
        assert cli(env, "up").returncode == 0
    pid_file = env.state / STACK / "data" / "postgres" / "postmaster.pid"
    pid_before = pid_file.read_text().splitlines()[0]
    conf_before = (env.state / STACK / "etc" / "postgresql.conf").read_text()

    # A library tunestack itself loads is not the stack file's to change: refused before anything runs.
    def preload(c):
        c["tunestack:postgres"]["overrides"] = {"shared_preload_libraries": "pg_stat_statements,no_such_library"}
    edit(env, preload)
    up = cli(env, "up")
    assert up.returncode == 2 and "shared_preload_libraries" in up.stderr and "Traceback" not in up.stderr

    # A value inside PostgreSQL's range that the server still refuses at start: ssl without a
    # certificate. The preflight's throwaway server says so, and nothing changes.
    def broken(c):
        c["tunestack:postgres"]["overrides"] = {"ssl": True}
    edit(env, broken)
    up = cli(env, "up")
    assert up.returncode == 1
    assert 'could not load server certificate file "server.crt"' in up.stderr  # PostgreSQL's own message
    assert "nothing was changed" in up.stderr
    assert pid_file.read_text().splitlines()[0] == pid_before
    assert (env.state / STACK / "etc" / "postgresql.conf").read_text() == conf_before
    assert get("/")[0] == 200

    down = cli(env, "down")
    assert down.returncode == 0 and "data kept" in down.stdout
    assert "not running" in cli(env, "status").stdout
