"""The local stack with a standby (stacks/Pulumi.local-ha.yaml, issue #28), brought up through the
real CLI on ports of its own: Patroni leads with a synchronous standby, `verify` checks the cluster,
`failover` moves the primary while a client writes through PgBouncer without one failed write or
one lost commit, `failover` refuses what it cannot do (exit 2), and under faults (the leader's node
lost, etcd gone) writes resume within the plan's RTO with every acknowledged
commit kept (rpo 0). Each fault prints its measured RTO (the longest time without a commit) and RPO."""
from __future__ import annotations

import json
import os
import subprocess
import time

import psycopg
import pytest

from tunestack.commitwriter import CREATE_TABLE, CommitWriter
from tunestack.poll import wait_until
from tunestack.servers import which
from tunestack.throwaway import ThrowawayStack

from bench.failover import FAULTS, fault_trial, ha_ports
from tests.queueha import queue_master_lost_trial


pytestmark = pytest.mark.servers
BASE = 12432   # PgBouncer 12433, Redis cache 12434, app 12436, LB 12437; primary 12442, nodes 12443-4,
               # Patroni 12452-3, etcd 12462-3, queue 12472-3, Sentinels 12482-4, the canary 12536


@pytest.fixture(scope="module")
def stack():
    with ThrowawayStack("ha", BASE, edit=lambda c: ha_ports(c, BASE), source="local-ha", say=lambda m: None) as s:
        yield s


@pytest.fixture(scope="module")
def acked(stack):
    """The table the writers fill, made by the schema's owner."""
    with psycopg.connect(host="127.0.0.1", port=BASE + 10, dbname="app", user="migrator",
                         password=stack.password("migrator"), autocommit=True) as migrator:
        migrator.execute(CREATE_TABLE)
        migrator.execute("GRANT INSERT, SELECT ON acked TO app")


def cluster(stack) -> dict[str, str]:
    res = stack.cli("status", "--json")
    assert res.returncode == 0, res.stderr
    return {m["name"]: m["role"] for m in json.loads(res.stdout)["cluster"]}


def test_up_brings_a_leader_and_a_synchronous_standby(stack):
    assert sorted(cluster(stack).values()) == ["leader", "sync_standby"]


def test_verify_passes_with_the_cluster_checks(stack):
    res = stack.cli("verify")
    assert res.returncode == 0, res.stdout[-3000:]
    for check in ("test_one_leader_and_every_node_running", "test_a_synchronous_standby_when_rpo_is_0",
                  "test_the_primary_service_reaches_the_leader", "test_etcd_is_healthy"):
        assert f"PASS  {check}" in res.stdout


def test_failover_under_writes_through_pgbouncer_fails_none_and_loses_none(stack, acked):
    before = cluster(stack)
    writer = CommitWriter(BASE + 1, stack.password("app"), seconds=60)
    thread = writer.start()
    wait_until(lambda: len(writer.acked) >= 200, 30, "the writer committing through PgBouncer")
    res = stack.cli("failover", "--json")
    settle = len(writer.acked)
    wait_until(lambda: len(writer.acked) >= settle + 100, 30, "writes going on")
    writer.stop_flag.set()
    thread.join(10)
    assert res.returncode == 0, res.stderr
    moved = json.loads(res.stdout)
    after = cluster(stack)
    assert before[moved["from"]] == "leader" and after[moved["to"]] == "leader"
    with psycopg.connect(host="127.0.0.1", port=BASE + 10, dbname="app", user="migrator",
                         password=stack.password("migrator")) as conn:
        have = {r[0] for r in conn.execute("SELECT id FROM acked")}
    print(f"\nfailover {moved['from']} → {moved['to']}: clients held {moved['clients_held_s']}s, "
          f"{len(writer.errors)} failed writes, {len(set(writer.acked) - have)} of {len(writer.acked)} lost")
    assert writer.errors == [] and set(writer.acked) <= have


def test_failover_to_a_node_that_is_not_a_standby_is_refused(stack):
    leader = next(n for n, role in cluster(stack).items() if role == "leader")
    for target, words in ((leader, "not a healthy standby"), ("nope", "not a node of this stack")):
        res = stack.cli("failover", "--to", target)
        assert res.returncode == 2 and words in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert cluster(stack)[leader] == "leader", "nothing moved"


@pytest.mark.parametrize("fault", FAULTS)
def test_writes_resume_within_the_rto_and_no_acknowledged_commit_is_lost(stack, acked, fault):
    """Lost node (bench/failover.py): nothing of it answers, its leader key expires (ttl), the
    synchronous standby promotes, HAProxy's /primary check moves; restarted, the old primary rejoins
    as a standby (pg_rewind). rpo 0: Patroni promotes only the synchronous standby, which has every
    commit."""
    result = fault_trial(stack, fault, seconds_after=1)
    rto = stack.plan().ha["rto"].value / 1000
    print(f"\n{fault}: RTO {result['stall_s']}s (the plan's {rto:g}s), RPO {result['lost']} of "
          f"{result['acknowledged']} acknowledged commits lost, {result['failed_writes']} failed writes")
    assert result["lost"] == 0 and result["stall_s"] <= rto


def test_with_etcd_gone_no_node_takes_writes_and_none_is_lost(stack, acked):
    """The one etcd member of a one-machine stack stopped: the primary cannot renew its leader key, so
    Patroni demotes it within retry_timeout and no node accepts writes (no split brain: nobody may
    lead without the consensus store). etcd back: a leader again, every acknowledged commit there."""
    conf = str(stack.dir / "etc" / "supervisord.conf")
    ctl = [which("supervisorctl"), "-c", conf]
    writer = CommitWriter(BASE + 10, stack.password("app"), first_id=int(time.time() * 1000) * 1000, seconds=150)
    thread = writer.start()
    wait_until(lambda: len(writer.acked) >= 50, 30, "the writer committing")
    ha = stack.plan().ha
    subprocess.run([*ctl, "stop", "etcd-0"], check=True, capture_output=True)
    stopped = time.monotonic()
    try:
        bound = ha["retry_timeout"].value + 2 * ha["loop_wait"].value + 5
        wait_until(lambda: writer.outages, bound, "writes refused once the primary demotes")
        nodes = [n.port for n in ha["nodes"].value]
        sock = str(stack.dir / "run" / "postgres")
        writable = [p for p in nodes if subprocess.run(
            ["psql", "-h", sock, "-p", str(p), "-U", "postgres", "-Atc", "SELECT pg_is_in_recovery()"],
            user="postgres" if os.geteuid() == 0 else None, capture_output=True, text=True).stdout.strip() == "f"]
        assert writable == [], f"nodes still taking writes without etcd: {writable}"
    finally:
        subprocess.run([*ctl, "start", "etcd-0"], capture_output=True)
        started = time.monotonic()
    wait_until(lambda: writer.outages and len(writer.outages[-1]) == 2, 120, "writes resuming with etcd back")
    writer.stop(thread)
    with psycopg.connect(host="127.0.0.1", port=BASE + 10, dbname="app", user="migrator",
                         password=stack.password("migrator")) as conn:
        have = {r[0] for r in conn.execute("SELECT id FROM acked WHERE id >= %s", (writer.first_id,))}
    print(f"\netcd stopped: writes refused {writer.outages[0][0] - stopped:.1f}s later (retry_timeout "
          f"{ha['retry_timeout'].value}s), no node writable; etcd started: writes back {writer.outages[-1][1] - started:.1f}s "
          f"later; {len(set(writer.acked) - have)} of {len(writer.acked)} acknowledged commits lost")
    assert set(writer.acked) <= have
    wait_until(lambda: sorted(cluster(stack).values()) == ["leader", "sync_standby"], 120, "the cluster whole again")



def test_up_brings_the_queue_a_streaming_replica_under_three_sentinels(stack):
    res = stack.cli("status", "--json")
    queue = json.loads(res.stdout)["queue"]
    assert sorted(n["role"] for n in queue) == ["master", "replica"]
    assert [n["link"] for n in queue if n["role"] == "replica"] == ["up"]


def test_the_queues_master_lost_under_load_loses_no_acknowledged_job(stack):
    """SIGSTOP of the queue's master, SIGKILL once the Sentinels elect its replica: every job the app
    answered 200 for (it names the job) is in the new master's queue (tests/queueha.py)."""
    queue_master_lost_trial(stack)

def test_down_then_up_brings_the_same_cluster_back_with_every_commit(stack, acked):
    """A stopped local-ha started again: the first `up` must succeed (it once failed on pgBackRest's
    archive lock, held by both nodes' archive-push right after start, when stanza-create ran on a
    stanza that was already there), and every row written before `down` is still there."""
    with psycopg.connect(host="127.0.0.1", port=BASE + 10, dbname="app", user="migrator",
                         password=stack.password("migrator")) as conn:
        before = conn.execute("SELECT count(*) FROM acked").fetchone()[0]
    assert before > 0
    res = stack.cli("down")
    assert res.returncode == 0, res.stdout + res.stderr
    res = stack.cli("up")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    wait_until(lambda: sorted(cluster(stack).values()) == ["leader", "sync_standby"], 120, "the cluster whole again")
    with psycopg.connect(host="127.0.0.1", port=BASE + 10, dbname="app", user="migrator",
                         password=stack.password("migrator")) as conn:
        assert conn.execute("SELECT count(*) FROM acked").fetchone()[0] == before


def test_up_again_changes_nothing(stack):
    res = stack.cli("up")
    assert res.returncode == 0 and "[ha] no changes" in res.stdout, res.stdout
