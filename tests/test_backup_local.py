"""Backups and restores on the local stack, counted (issue #27 point 5): rows written, a backup,
more rows, a destructive change, and a restore to just before it brings back exactly the rows
committed before the target and none after. Also the disaster (the data folder deleted outright),
a backup while the app serves under load, and bad targets refused before anything is touched.

Runs a copy of the local stack on its own ports and state folder, through the real CLI, with the
real pgBackRest."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from tunestack.loadgen import Load
from tunestack.paths import ROOT
from tunestack.poll import wait_until
from tunestack.throwaway import ThrowawayStack

pytestmark = pytest.mark.servers
BASE = 13432   # its own ports: 13432-13437


@pytest.fixture(scope="module")
def stack():
    with ThrowawayStack("drill", BASE, say=lambda m: None) as s:
        yield s


def sql(stack, query: str) -> str:
    res = subprocess.run(["psql", "-h", str(stack.dir / "run" / "postgres"), "-p", str(BASE), "-U", "postgres",
                          "-d", "app", "-AtX", "-v", "ON_ERROR_STOP=1", "-c", query],
                         user="postgres" if os.geteuid() == 0 else None, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def run_json(stack, *args):
    res = stack.cli(*args, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)


def archived_through_now(stack) -> None:
    """Close the current WAL segment and wait until the archive holds it: what archive_timeout
    does within a minute on its own."""
    segment = sql(stack, "SELECT pg_walfile_name(pg_switch_wal())")
    wait_until(lambda: sql(stack, "SELECT last_archived_wal FROM pg_stat_archiver") >= segment, 60,
               f"{segment} archived")


def queue(stack):
    import redis

    return redis.Redis(host="127.0.0.1", port=BASE + 3, password=stack.password("redis-queue"), socket_timeout=5)


def test_restore_to_just_before_a_drop_brings_back_exactly_the_rows_committed_before_it(stack):
    sql(stack, "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 1000)")
    queue(stack).rpush("drill:jobs", *range(100))   # a list no worker reads: jobs that exist nowhere else
    first = run_json(stack, "backup", "--type", "full")
    queue(stack).rpush("drill:jobs", *range(100, 150))
    # what BackupStale reads, as node_exporter's textfile collector would serve it
    exposition = (stack.dir / "metrics" / "tunestack_backup.prom").read_text()
    stale = next(a for a in stack.plan().alerts if a["alert"] == "BackupStale")
    for name in set(re.findall(r"\btunestack_backup_\w+", stale["expr"])):
        assert re.search(rf'^{name}{{stanza="drill",type="full"}} \d', exposition, re.M), exposition
    assert first["type"] == "full" and os.path.exists(first["redis_queue_snapshot"])
    sql(stack, "INSERT INTO orders SELECT generate_series(1001, 1500)")
    target = sql(stack, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    sql(stack, "INSERT INTO orders SELECT generate_series(1501, 1700)")   # after the target: must not come back
    sql(stack, "DROP TABLE orders")
    pid = sql(stack, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")

    restored = run_json(stack, "restore", "--to", target, "--into", "before-drop")
    assert restored["tables"]["public.orders"] == 1500
    assert restored["backup"] == first["label"] and restored["in_recovery"] is False
    # nothing running was touched: the table is still gone, the same server still runs
    assert sql(stack, "SELECT to_regclass('orders') IS NULL") == "t"
    assert sql(stack, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'") == pid

    replaced = run_json(stack, "restore", "--to", target, "--replace", "--queue", "--yes")
    assert replaced["replaced"] and replaced["tables"]["public.orders"] == 1500
    # Redis has no point in time: the queue is back as the backup found it, every job of it
    assert queue(stack).lrange("drill:jobs", 0, -1) == [str(i).encode() for i in range(100)]
    assert os.path.isdir(replaced["redis_queue"]["old_folder_kept_in"])
    assert sql(stack, "SELECT count(*), max(id) FROM orders") == "1500|1500"
    assert os.path.isdir(replaced["old_data_kept_in"])   # kept: the dropped table's cluster is still there
    sql(stack, "INSERT INTO orders VALUES (1501)")      # it takes writes again
    # The new timeline's history reaches the repository: a later restore can never reuse its ID.
    timeline = int(sql(stack, "SELECT timeline_id FROM pg_control_checkpoint()"))
    assert timeline >= 2
    history = f"{timeline:08X}.history"
    wait_until(lambda: any(stack.dir.glob(f"backup/archive/drill/*/{history}")), 60, f"{history} archived")
    listing = run_json(stack, "backup", "--list")
    assert replaced["backup_after"] in [b["label"] for b in listing["backups"]]


def test_after_the_data_folder_is_deleted_latest_brings_back_every_archived_row(stack):
    sql(stack, "CREATE TABLE IF NOT EXISTS ledger (id int); INSERT INTO ledger SELECT generate_series(1, 5000)")
    archived_through_now(stack)
    postmaster = int((stack.dir / "data" / "postgres" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)   # the server we started, by its PID
    subprocess.run(["rm", "-rf", str(stack.dir / "data" / "postgres")], check=True)

    restored = run_json(stack, "restore", "--to", "latest", "--replace", "--yes")
    assert restored["tables"]["public.ledger"] == 5000
    assert restored["old_data_kept_in"] is None
    assert sql(stack, "SELECT count(*) FROM ledger") == "5000"
    sql(stack, "INSERT INTO ledger VALUES (5001)")
    archived_through_now(stack)   # the third timeline's WAL is archived: no collision with an earlier one
    verify = stack.cli("verify")
    assert verify.returncode == 0, verify.stdout


def test_a_backup_while_the_app_serves_fails_no_request(stack):
    url = f"http://127.0.0.1:{BASE + 5}/"
    with Load(url, threads=4, limit_s=120) as load:
        wait_until(lambda: len(load.results) >= 20, 30, "the load running")
        taken = run_json(stack, "backup", "--type", "full")
        served = len(load.results)
    assert taken["type"] == "full"
    assert served >= 50 and load.failed == 0, f"{load.failed} of {served} requests failed during the backup"


@pytest.mark.parametrize("to,says", [
    ("2099-01-01T00:00:00Z", "in the future"),
    ("2000-01-01T00:00:00Z", "before the oldest backup ended"),
    ("2026-12-06 10:00:00", "no time zone"),
    ("0/FFFFFFFF", "past the server's current one"),
    ("soon", "allowed: latest"),
])
def test_a_target_no_backup_reaches_is_refused_and_nothing_is_touched(stack, to, says):
    before = sorted(os.listdir(stack.dir / "restore"))
    postmaster = (stack.dir / "data" / "postgres" / "postmaster.pid").read_text()
    res = stack.cli("restore", "--to", to, "--replace", "--yes")
    assert res.returncode == 2, res.stdout + res.stderr
    assert says in res.stderr and "Traceback" not in res.stderr
    assert sorted(os.listdir(stack.dir / "restore")) == before
    assert (stack.dir / "data" / "postgres" / "postmaster.pid").read_text() == postmaster


def test_queue_without_replace_is_refused(stack):
    res = stack.cli("restore", "--to", "latest", "--queue")
    assert res.returncode == 2 and "goes with --replace" in res.stderr


def test_a_restore_folder_that_exists_is_never_written_over(stack):
    (stack.dir / "restore" / "taken").mkdir(exist_ok=True)
    res = stack.cli("restore", "--to", "latest", "--into", "taken")
    assert res.returncode == 2 and "exists already" in res.stderr


@pytest.mark.parametrize("command", [["backup"], ["restore", "--to", "latest"]])
def test_a_stack_of_remote_hosts_is_refused_before_anything_is_touched(command):
    res = subprocess.run([sys.executable, "-m", "tunestack", *command, "--stack", "prod"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 2 and "remote hosts (db, cache, app)" in res.stderr and "Traceback" not in res.stderr
