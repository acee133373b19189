"""`tunestack advise` on a real local stack (issue #17): an idle window gets no advice; then five
real workloads at once (sorts that spill, a connection storm through PgBouncer, a cache filled past
maxmemory and read back, a queue whose workers are stopped, bulk writes that force checkpoints),
and advise proposes the matching stack-file change for each; `--write` puts them in the stack file
with its comments kept, and `review` shows the settings they move."""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

import pytest
import redis as redis_py

from tunestack.local import LocalStack
from tunestack.paths import ROOT
from tunestack.throwaway import ThrowawayStack
from tunestack.servers import pg_bin

pytestmark = pytest.mark.servers
STACK = "advice"
BASE = 19432   # its own ports: 19432-19437, the canary 19536
WINDOW_S = 17  # advise needs 15 s between its samples


def advise(stack, *args):
    res = stack.cli("advise", "--json", *args)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)


def as_postgres(stack, *command, timeout=120):
    """A command as the service user through the stack's socket folder (only it may enter)."""
    res = subprocess.run(command, user="postgres" if os.geteuid() == 0 else None, capture_output=True, text=True,
                         timeout=timeout, env={**os.environ, "PGHOST": str(stack.dir / "run" / "postgres"),
                                               "PGPORT": str(BASE), "PGUSER": "postgres", "PGDATABASE": "app"})
    assert res.returncode == 0, res.stderr[-2000:]


def spill_sorts(stack):
    """Sorts larger than work_mem (4MB here) write temporary files (PostgreSQL docs, work_mem)."""
    for _ in range(6):
        as_postgres(stack, "psql", "-XAtq", "-c",
                    "SELECT count(*) FROM (SELECT random() AS r FROM generate_series(1, 1500000) ORDER BY 1) s")


def connection_storm(stack, tmp):
    """24 clients through PgBouncer's pool of 4 + 1 reserve, each query 0.2 s: clients queue."""
    script = tmp / "sleep.sql"
    script.write_text("SELECT pg_sleep(0.2);\n")
    subprocess.run([pg_bin("pgbench"), "-n", "-c", "24", "-j", "2", "-T", "10", "-f", str(script),
                    "-h", "127.0.0.1", "-p", str(BASE + 1), "-U", "app", "app"],
                   env={**os.environ, "PGPASSWORD": stack.password("app")}, capture_output=True, timeout=90)


def overfill_cache(stack):
    """400 values of 1 MB into a 192 MiB cache (allkeys-lru), then 1,000 reads of them."""
    cache = redis_py.Redis(port=BASE + 2, password=stack.password("redis-cache"), socket_timeout=10)
    value = os.urandom(1024 * 1024)
    for i in range(400):
        cache.set(f"advice:{i}", value)
    rng = random.Random(17)
    for _ in range(1000):
        cache.get(f"advice:{rng.randrange(400)}")


def back_up_queue(stack):
    """The job workers stopped; 600 jobs arrive."""
    LocalStack(STACK, root=stack.state).rpc().supervisor.stopProcess("jobs")
    queue = redis_py.Redis(port=BASE + 3, password=stack.password("redis-queue"), socket_timeout=10)
    queue.lpush("jobs", *[json.dumps({"at": time.time(), "n": i}) for i in range(600)])


def force_checkpoints(stack):
    """pgbench's tables at scale 8 (~130 MB of WAL) against a max_wal_size of 48MB."""
    as_postgres(stack, pg_bin("pgbench"), "-i", "-s", "8", "-q")


@pytest.fixture(scope="module")
def advised(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("advice")

    def small(c):
        c["tunestack:hosts"][0]["memory"] = "8GiB"          # room for a larger work_mem
        c["tunestack:postgres"]["wal_rate"] = "64kB"        # a small max_wal_size (48MB): forced checkpoints
    with ThrowawayStack(STACK, BASE, small, say=lambda m: None) as stack:
        path = stack.stacks / f"Pulumi.{STACK}.yaml"
        path.write_text("# the advice test's stack: its comments must survive --write\n" + path.read_text())
        original = path.read_text()
        first = advise(stack)
        assert first["findings"] == [] and "not enough data yet" in first["not_enough_data"][0]
        time.sleep(WINDOW_S)   # an idle window: the measurement interval itself, not a wait for readiness
        idle = advise(stack)
        idle_at = time.monotonic()
        workloads = [threading.Thread(target=w, args=a) for w, a in (
            (spill_sorts, (stack,)), (connection_storm, (stack, tmp)), (overfill_cache, (stack,)),
            (back_up_queue, (stack,)), (force_checkpoints, (stack,)))]
        for t in workloads:
            t.start()
        for t in workloads:
            t.join(timeout=180)
        while time.monotonic() - idle_at < WINDOW_S:   # the window must be long enough to count
            time.sleep(1)
        since = int(time.monotonic() - idle_at) + 10   # the idle sample starts it; the first is older
        busy = advise(stack, "--since", f"{since}s", "--write")
        LocalStack(STACK, root=stack.state).rpc().supervisor.startProcess("jobs")
        written = path.read_text()
        yield {"idle": idle, "busy": busy, "original": original, "written": written, "tmp": tmp}


def changes(report) -> dict:
    found = {tuple(f["key"]): f["value"] for f in report["findings"]}

    class Said(dict):
        def __missing__(self, key):
            raise AssertionError(f"no advice on {key}: findings {sorted(found)}, not enough data "
                                 f"{report['not_enough_data']}")
    return Said(found)


def test_an_idle_stack_gets_no_advice(advised):
    assert advised["idle"]["findings"] == [] and advised["idle"]["window_s"] >= 15


def test_sorts_that_spill_raise_work_mem(advised):
    value = changes(advised["busy"])[("tunestack:postgres", "overrides", "work_mem")]
    assert int(value.removesuffix("MB")) > 4


def test_pool_waits_under_a_storm_lower_app_threads(advised):
    assert changes(advised["busy"])[("tunestack:app", "threads")] == 2   # local runs 4 threads per worker


def test_a_cache_that_evicts_under_load_gets_more_memory(advised):
    assert changes(advised["busy"])[("tunestack:redis", "cache", "memory")] == "512MiB"


def test_a_queue_that_backs_up_gets_more_job_concurrency(advised):
    assert changes(advised["busy"])[("tunestack:app", "jobs", "concurrency")] == 8


def test_forced_checkpoints_set_the_wal_rate(advised):
    value = changes(advised["busy"])[("tunestack:postgres", "wal_rate")]
    assert int(value.removesuffix("MB")) >= 1


def test_every_finding_names_measurement_source_change_and_effect(advised):
    for f in advised["busy"]["findings"]:
        assert f["measurement"] and f["rule"] and f["change"] and f["effect"]
        assert any(src in f["rule"] for src in ("docs", "wiki", "manual")), f["rule"]


def test_write_keeps_comments_and_review_shows_the_settings_moving(advised):
    """advise --write edits the stack file; a pull request's review shows each setting it moves."""
    assert advised["busy"]["written"]
    original, written = advised["original"], advised["written"]
    assert written != original
    repo = advised["tmp"] / "repo"
    for name in ("tunestack", "configs"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "stacks").mkdir()
    git = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin"}
    for text, message in ((original, "before"), (written, "advise --write")):
        (repo / "stacks" / f"Pulumi.{STACK}.yaml").write_text(text)
        if message == "before":
            subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=git)
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=git)
        subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, check=True, env=git)
    res = subprocess.run([sys.executable, "-m", "tunestack", "review", "--base", "HEAD~1", "--head", "HEAD", "--json"],
                         cwd=repo, capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)})
    assert res.returncode == 0, res.stderr[-3000:]
    moved = {(c["section"], c["name"]) for s in json.loads(res.stdout)["stacks"] for c in s["changes"]}
    for setting in (("postgresql.conf", "work_mem"), ("postgresql.conf", "max_wal_size"),
                    ("redis cache", "maxmemory"), ("web env", "GUNICORN_THREADS"), ("jobs env", "JOB_CONCURRENCY")):
        assert setting in moved, (setting, sorted(moved))
    # ruamel.yaml's round trip: the file's own comments stay
    assert written.splitlines()[0] == "# the advice test's stack: its comments must survive --write"


def test_the_apps_own_view_is_read(advised):
    """The app area: the Python app's metrics (its DB pool's use) read beside the servers' counters."""
    app = advised["busy"]["app"]
    assert "error" not in app and {"db_pool_in_use", "db_pool_max"} <= set(app)
