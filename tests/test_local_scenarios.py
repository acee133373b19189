"""The local stack under the changes that used to lose data or service (issue #10), with rows and
keys counted before and after: a cache/queue port swap, two `up`s at once, and a PostgreSQL
restart under load."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import redis

from tunestack.loadgen import Load
from tunestack.lock import stack_lock
from tunestack.paths import ROOT
from tunestack.throwaway import ThrowawayStack

pytestmark = pytest.mark.servers


def queue(stack, port):
    pw = json.loads((stack.dir / "secrets" / "passwords.json").read_text())["redis-queue"]
    return redis.Redis(host="127.0.0.1", port=port, password=pw, socket_timeout=5)


def test_port_swap_keeps_the_queue(tmp_path):
    base = 22432
    with ThrowawayStack("swap", base, say=lambda m: None) as stack:
        q = queue(stack, base + 3)
        q.rpush("jobs-kept", *range(1000))
        stack.edit(lambda c: (c["tunestack:redis"]["cache"].__setitem__("port", base + 3),
                              c["tunestack:redis"]["queue"].__setitem__("port", base + 2)))
        up = stack.cli("up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "redis-queue: restart" in up.stdout and "redis-cache: restart" in up.stdout
        moved = queue(stack, base + 2)
        assert moved.llen("jobs-kept") == 1000, "the queue's data followed the queue"
        settings = {k: moved.config_get(k)[k] for k in ("appendonly", "maxmemory-policy", "dir")}
        assert settings == {"appendonly": "yes", "maxmemory-policy": "noeviction",
                            "dir": str(stack.dir / "data" / "redis-queue")}
        assert stack.cli("down").returncode == 0
        assert stack.cli("up").returncode == 0
        assert queue(stack, base + 2).llen("jobs-kept") == 1000, "and survives down and up"


def test_two_ups_at_once_run_one_after_the_other():
    base = 26432
    with ThrowawayStack("twice", base, say=lambda m: None) as stack:
        cmd = [sys.executable, "-m", "tunestack", "up", "--stack", "twice"]

        def start():
            return subprocess.Popen(cmd, cwd=ROOT, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)

        # Hold the stack as a long `up` would, so that both start while it is held: deterministic.
        with stack_lock(stack.dir / "lock", "up --stack twice (held by the test)", say=lambda m: None):
            stack.edit(lambda c: c["tunestack:postgres"].__setitem__("slow_query", "2s"))
            first, second = start(), start()
            third = subprocess.run([*cmd, "--lock-wait", "0.5"], cwd=ROOT, env=stack.env, capture_output=True,
                                   text=True, timeout=120)
            assert third.returncode == 3 and "held by `up --stack twice (held by the test)`" in third.stderr
            assert "Traceback" not in third.stderr
            time.sleep(1)   # both are queued behind the lock
        out1, out2 = first.communicate(timeout=300)[0], second.communicate(timeout=300)[0]
        assert first.returncode == 0, out1
        assert second.returncode == 0, out2
        assert "waiting up to 120s" in out1 and "waiting up to 120s" in out2
        # One ran after the other: the later one found the other holding the stack, or found it
        # already applied; neither failed with "tuple concurrently updated".
        assert "concurrently" not in out1 + out2
        assert stack.psql_socket("SHOW log_min_duration_statement").strip() == "2s"
        verify = stack.cli("verify")
        assert verify.returncode == 0, verify.stdout[-2000:]


def test_postgres_restart_under_load_fails_no_request():
    base = 24432
    with ThrowawayStack("restart", base, say=lambda m: None) as stack:
        stack.psql_socket("CREATE TABLE kept (v int); INSERT INTO kept SELECT generate_series(1, 500)")
        pid_before = stack.psql_socket("SELECT pg_backend_pid() IS NOT NULL")   # a live server
        stack.edit(lambda c: c["tunestack:postgres"].__setitem__("overrides", {"max_wal_senders": 5}))
        with Load(f"http://127.0.0.1:{base + 5}/", threads=3, limit_s=90) as load:
            time.sleep(2)   # load is flowing before the change
            up = stack.cli("up")
            time.sleep(2)   # and after it
        assert up.returncode == 0, up.stdout + up.stderr
        assert "postgres: restart (max_wal_senders" in up.stdout
        assert pid_before.strip() == "t"
        assert len(load.results) > 100, "the load really ran"
        assert load.failed == 0, f"{load.failed} of {len(load.results)} requests failed during the restart"
        assert stack.psql_socket("SELECT count(*) FROM kept").strip() == "500"
        assert stack.psql_socket("SHOW max_wal_senders").strip() == "5"
