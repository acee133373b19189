"""Failover for real (issue #28), on loopback: etcd, two Patroni nodes and HAProxy's primary service,
started from the files tunestack renders for stacks/Pulumi.local-ha.yaml (tests/hacluster.py). A
client writes numbered rows through the primary service the whole time and records every commit it
got back; after each fault every one of them must be on the new primary (rpo: 0, a synchronous
standby), and the writes must resume within the plan's RTO.

Each fault prints its measured RTO (first failed write to first successful one) and RPO (acknowledged
commits missing afterwards)."""
import os
import signal
import tempfile
from pathlib import Path

import pytest

from tunestack.commitwriter import CommitWriter
from tunestack.hafiles import RESTAPI_USER
from tunestack.patroniapi import PatroniApi
from tunestack.poll import wait_until
from tunestack.switchover import switchover

from .hacluster import cleanup, start_cluster

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def cluster():
    work = Path(tempfile.mkdtemp(prefix="tunestack-ha-"))
    c = None
    try:
        c = start_cluster(work)
        yield c
    finally:
        if c is not None:
            c.stop()
        cleanup(work)


def _missing(cluster, acked: list[int]) -> int:
    """Acknowledged ids the new primary does not have."""
    leader = cluster.node(cluster.leader())
    have = set(map(int, cluster.psql(leader, "SELECT id FROM acked").split()))
    return len(set(acked) - have)


def _through_fault(cluster, fault, what: str) -> tuple[float, CommitWriter]:
    leader = cluster.node(cluster.leader())
    first = int(cluster.psql(leader, "SELECT coalesce(max(id), 0) FROM acked")) + 1_000_000   # ids never reused
    writer = CommitWriter(cluster.primary_port(), cluster.passwords["app"], first_id=first, seconds=120)
    thread = writer.start()
    wait_until(lambda: len(writer.acked) >= 200, 30, "the writer committing")
    assert not writer.errors, f"writes failed before the fault: {writer.errors[-3:]}"
    fault()
    wait_until(lambda: writer.outages and len(writer.outages[-1]) == 2, 90, f"writes resuming after {what}")
    settle = len(writer.acked)
    wait_until(lambda: len(writer.acked) >= settle + 100, 30, "writes going on")
    writer.stop_flag.set()
    thread.join(10)
    rto = max(b - a for a, b in writer.outages)
    missing = _missing(cluster, writer.acked)
    print(f"\n{what}: RTO {rto:.1f}s (first failed to first successful write), RPO {missing} of "
          f"{len(writer.acked)} acknowledged commits lost, {len(writer.errors)} failed writes")
    assert missing == 0, f"{missing} acknowledged commits lost with rpo 0"
    return rto, writer


def _rejoined(cluster, name: str) -> None:
    """The node back as the synchronous standby (pg_rewind when it was the primary)."""
    cluster.start_patroni(cluster.node(name))
    wait_until(lambda: cluster.sync_standby() == name, 120, f"{name} back as the synchronous standby")


def test_a_lost_primary_node_fails_over_within_the_rto_and_loses_no_acknowledged_commit(cluster):
    """kill -9 of the primary's Patroni and postmaster together: its machine gone, as the standby sees it.
    The leader key expires (ttl), the synchronous standby promotes, HAProxy's /primary check moves."""
    old = cluster.leader()
    standby = cluster.sync_standby()
    rto, _ = _through_fault(cluster, lambda: cluster.kill_node(cluster.node(old)), f"primary node {old} killed")
    assert cluster.leader() == standby
    assert rto <= cluster.plan.ha["rto"].value / 1000, f"RTO {rto:.1f}s over the plan's"
    _rejoined(cluster, old)


def test_a_killed_postmaster_comes_back_without_losing_an_acknowledged_commit(cluster):
    """kill -9 of the primary's postmaster only: Patroni notices within loop_wait and starts it again
    (crash recovery) or fails over; either way the writes resume within the RTO."""
    old = cluster.leader()
    pid = cluster.postmaster_pid(cluster.node(old))
    rto, _ = _through_fault(cluster, lambda: os.kill(pid, signal.SIGKILL), f"postmaster of {old} killed")
    assert rto <= cluster.plan.ha["rto"].value / 1000
    wait_until(lambda: cluster.sync_standby() is not None, 120, "a synchronous standby again")


def test_a_switchover_behind_pgbouncer_fails_no_request(cluster):
    """tunestack.switchover: PgBouncer's PAUSE holds the clients while Patroni moves the primary, RESUME
    sends them to the new one. A client of PgBouncer (as the apps are) sees no failed write at all."""
    old, new = cluster.leader(), cluster.sync_standby()
    leader = cluster.node(old)
    first = int(cluster.psql(leader, "SELECT coalesce(max(id), 0) FROM acked")) + 1_000_000
    writer = CommitWriter(cluster.bouncer.port, cluster.passwords["app"], first_id=first, seconds=60)
    thread = writer.start()
    wait_until(lambda: len(writer.acked) >= 200, 30, "the writer committing through PgBouncer")
    api = PatroniApi(f"http://{leader.address}:{leader.rest_port}", RESTAPI_USER, cluster.passwords["restapi"])
    with cluster.bouncer_admin() as admin:
        held = switchover(api, old, new, admin, cluster.serves_primary)
    settle = len(writer.acked)
    wait_until(lambda: len(writer.acked) >= settle + 100, 30, "writes going on")
    writer.stop_flag.set()
    thread.join(10)
    missing = _missing(cluster, writer.acked)
    print(f"\nswitchover {old} → {new} behind PgBouncer: clients held {held:.1f}s, {len(writer.errors)} failed "
          f"writes, {missing} of {len(writer.acked)} acknowledged commits lost")
    assert cluster.leader() == new and writer.errors == [] and missing == 0
    wait_until(lambda: cluster.sync_standby() == old, 120, f"{old} back as the synchronous standby")


def test_a_switchover_moves_the_primary_and_keeps_every_commit(cluster):
    """POST /switchover straight to Patroni, clients on the primary service without PgBouncer: they
    see the move as a short outage, and the standby is caught up before it promotes."""
    old, new = cluster.leader(), cluster.sync_standby()

    def switchover():
        status, body = cluster.rest(cluster.node(old), "/switchover", "POST", {"leader": old, "candidate": new},
                                    timeout=60)
        assert status == 200, body

    _through_fault(cluster, switchover, f"switchover {old} → {new}")
    assert cluster.leader() == new
    wait_until(lambda: cluster.sync_standby() == old, 120, f"{old} back as the synchronous standby")
