"""Issue #29, with standbys: the alerts only a stack with replicas renders (plan/ha.py,
plan/queueha.py), fired for real on a scratch copy of local-ha (Patroni with a synchronous standby
and one etcd member; the queue with a replica under three Sentinels) with its monitoring, as
test_alerts_fire_for_real.py does for the single-node stack: each fault is produced on the real
servers, Alertmanager delivers the alert to a receiver on loopback, the fault is undone and the
alert delivered resolved.

- a standby that stops replaying while the primary writes: PostgresReplicaLagging;
- two of the three Sentinels stopped: RedisSentinelQuorumLost, and RedisDown for each;
- the queue's replica stopped while jobs are queued: RedisQueueReplicaMissing, RedisDown and
  RedisQueueEnqueueUnreplicated (every job queued meanwhile is still done);
- `tunestack failover`, and the queue's master lost under load: PostgresFailoverHappened and
  RedisQueueFailedOver (no acknowledged job lost);
- the synchronous standby's node stopped: PostgresNoSynchronousStandby;
- etcd stopped: EtcdMemberDown, and PostgresNoPrimary once Patroni demotes the primary.

Each load is bounded in count and time; what a fault stops is started again even when the test fails."""
from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest

from bench.failover import ha_ports
from bench.queuefault import JobClient, queue_master_lost
from tests.monitoring.alerting import Monitored
from tests.monitoring.test_alerts_fire_for_real import Scenario, run_phase
from tunestack.choices import MONITORING_PORTS
from tunestack.poll import wait_until
from tunestack.throwaway import ThrowawayStack

pytestmark = pytest.mark.servers
BASE = 23432   # 23432-23437; primary service 23442, nodes 23443-4; Patroni 23452-3; etcd 23462-3;
               # queue 23472-3; Sentinels 23482-4; monitoring 23492-23497; the canary 23536


@pytest.fixture(scope="module")
def mon(receiver):
    def monitored(c):
        ha_ports(c, BASE)
        c["tunestack:monitoring"].update(scrape_interval="1s", receiver=receiver.url,
                                         ports={name: BASE + 60 + i for i, (name, _) in enumerate(MONITORING_PORTS)})
    with ThrowawayStack("hawatched", BASE, monitored, say=lambda m: None, source="local-ha", monitoring=True) as stack:
        m = Monitored(stack)
        m.compress_rules()
        yield m


def members(mon) -> dict[str, dict]:
    res = mon.stack.cli("status", "--json")
    assert res.returncode == 0, res.stderr
    return {m["name"]: m for m in json.loads(res.stdout)["cluster"]}


def whole(mon) -> bool:
    return sorted(m["role"] for m in members(mon).values()) == ["leader", "sync_standby"]


def patroni_program(name: str) -> str:
    return f"patroni-{name.rsplit('-', 1)[1]}"


class StandbyStopsReplaying(Scenario):
    """The synchronous standby's startup process (the one that replays WAL) stopped, as a replay
    stuck behind a lock would be, while the primary writes past the rule's lag: its walreceiver
    still receives and flushes, so commits go on (synchronous_commit on). Not pg_wal_replay_pause():
    Patroni resumes a paused replay within a loop."""
    alerts = [("PostgresReplicaLagging", {})]

    def induce(self):
        standby = next(n for n, m in members(self.mon).items() if m["role"] == "sync_standby")
        postmaster = (self.mon.stack.dir / "data" / "patroni" / standby / "postmaster.pid").read_text().split()[0]
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        self.startup = next(int(c) for c in children if "startup" in Path(f"/proc/{c}/cmdline").read_text())
        os.kill(self.startup, signal.SIGSTOP)
        lag = self.mon.plan.spec.ha.rpo_bytes or 16 << 20
        with self.mon.postgres() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS alert_lag (n int, pad text)")
            for _ in range(lag // (16 << 20) + 3):   # about 16 MB of WAL each
                conn.execute("INSERT INTO alert_lag SELECT g, repeat('x', 300) FROM generate_series(1, 50000) g")

    def undo(self):
        with contextlib.suppress(AttributeError, ProcessLookupError):
            os.kill(self.startup, signal.SIGCONT)
        with self.mon.postgres() as conn:
            conn.execute("DROP TABLE IF EXISTS alert_lag")


class SentinelsLost(Scenario):
    """Two of three Sentinels stopped: the last cannot reach a majority (SENTINEL CKQUORUM)."""
    alerts = [("RedisSentinelQuorumLost", {}), ("RedisDown", {"role": "sentinel"})]   # induce names each

    def induce(self):
        sentinels = self.mon.plan.queue_ha["sentinels"].value
        self.alerts = [("RedisSentinelQuorumLost", {})] + [
            ("RedisDown", {"role": "sentinel", "name": s.name}) for s in sentinels[1:]]
        for i in range(1, len(sentinels)):
            self.mon.ctl("stop", f"sentinel-{i}")

    def undo(self):
        for i in range(1, len(self.mon.plan.queue_ha["sentinels"].value)):
            self.mon.ctl("start", f"sentinel-{i}")


class QueueReplicaStopped(Scenario):
    """The queue's replica stopped while the app queues jobs (each GET / queues one): the master
    streams to no one and every enqueue is counted unreplicated. Every job queued is done after."""
    alerts = [("RedisQueueReplicaMissing", {}), ("RedisQueueEnqueueUnreplicated", {}), ("RedisDown", {"role": "queue"})]

    def induce(self):
        replica = self.mon.plan.queue_ha["nodes"].value[1]
        self.alerts = [("RedisQueueReplicaMissing", {}), ("RedisQueueEnqueueUnreplicated", {}),
                       ("RedisDown", {"role": "queue", "name": replica.name})]
        self.mon.ctl("stop", "redis-queue-1")
        self.client = JobClient(f"http://127.0.0.1:{self.mon.plan.loadbalancer['port'].value}/", threads=2, rate=5,
                                limit_s=120).__enter__()

    def undo(self):
        with contextlib.suppress(AttributeError):
            self.client.__exit__(None, None, None)
        self.mon.ctl("start", "redis-queue-1")

    def check_after(self):
        queue = self.mon.redis("queue")
        wait_until(lambda: queue.llen("jobs") == 0, 120, "the worker to do every job queued without a replica")
        assert self.client.acknowledged(), "no job was queued while the replica was stopped"


class PrimaryMoved(Scenario):
    """`tunestack failover`: the standby promoted, the timeline moves."""
    alerts = [("PostgresFailoverHappened", {})]

    def induce(self):
        res = self.mon.stack.cli("failover", "--json")
        assert res.returncode == 0, res.stderr

    def undo(self):
        wait_until(lambda: whole(self.mon), 120, "the old primary back as the synchronous standby")


class QueueMasterLost(Scenario):
    """The queue's master stopped (SIGSTOP, then killed) under load: the Sentinels promote the
    replica (bench/queuefault.py; no job a 200 named is lost)."""
    alerts = [("RedisQueueFailedOver", {"role": "queue"})]

    def induce(self):
        result = queue_master_lost(self.mon.stack, rate=10, seconds_after=1, heal=False)
        assert result["lost"] == 0, result

    def undo(self):
        roles = lambda: [r["role"] for r in json.loads(self.mon.stack.cli("status", "--json").stdout)["queue"]]   # noqa: E731
        wait_until(lambda: sorted(roles()) == ["master", "replica"], 120, "the old master back as a replica")


class StandbyNodeStopped(Scenario):
    """The synchronous standby's Patroni stopped (its PostgreSQL with it): no synchronous standby;
    Patroni's non-strict mode lets the primary commit alone."""
    alerts = [("PostgresNoSynchronousStandby", {})]

    def induce(self):
        self.program = patroni_program(next(n for n, m in members(self.mon).items() if m["role"] == "sync_standby"))
        self.mon.ctl("stop", self.program)

    def undo(self):
        self.mon.ctl("start", self.program)
        wait_until(lambda: whole(self.mon), 120, "the standby synchronous again")


class EtcdGone(Scenario):
    """The one etcd member stopped: Patroni cannot renew the leader key and demotes the primary
    within retry_timeout (test_local_ha.py measures that no node takes writes)."""
    alerts = [("EtcdMemberDown", {}), ("PostgresNoPrimary", {})]

    def induce(self):
        self.mon.ctl("stop", "etcd-0")

    def undo(self):
        self.mon.ctl("start", "etcd-0")
        wait_until(lambda: whole(self.mon), 120, "a leader and a synchronous standby again")


def test_every_target_of_the_cluster_is_scraped(mon):
    """Each Patroni, etcd, both queue nodes and each Sentinel up, read as planned (the Sentinels by
    redis_exporter as the monitoring user: redis_up 1 needs its login and INFO)."""
    targets = {t["labels"]["name"]: t for t in mon.prometheus("/api/v1/targets")["activeTargets"]}
    plan = mon.plan
    names = [n.name for n in plan.ha["nodes"].value] + [m.name for m in plan.ha["etcd members"].value] + \
            [n.name for n in plan.queue_ha["nodes"].value] + [s.name for s in plan.queue_ha["sentinels"].value]
    wait_until(lambda: all(t["health"] == "up" for t in mon.prometheus("/api/v1/targets")["activeTargets"]
                           if t["labels"]["name"] in names), 30, "every cluster target up")
    assert set(names) <= set(targets)
    up = mon.prometheus("/api/v1/query?query=redis_up")["result"]
    assert {r["metric"]["name"]: r["value"][1] for r in up if r["metric"].get("role") == "sentinel"} == \
        {s.name: "1" for s in plan.queue_ha["sentinels"].value}


def test_a_standby_behind_two_sentinels_lost_and_the_queue_replica_stopped(mon, receiver):
    run_phase(receiver, [StandbyStopsReplaying(mon), SentinelsLost(mon), QueueReplicaStopped(mon)])


def test_a_failover_of_each(mon, receiver):
    run_phase(receiver, [PrimaryMoved(mon), QueueMasterLost(mon)])


def test_the_synchronous_standby_stopped(mon, receiver):
    run_phase(receiver, [StandbyNodeStopped(mon)])


def test_etcd_stopped(mon, receiver):
    run_phase(receiver, [EtcdGone(mon)])
