"""PostgreSQL under Patroni on the test bed (issue #28): two db machines, etcd on three, deployed by
the Pulumi program through the replay over SSH, and the faults the issue names, each under a
bounded write load through PgBouncer that records every commit it got back. With rpo 0 every
acknowledged commit must be there afterwards; each fault prints its measured RTO (first failed or
stalled write to the first successful one) and RPO (acknowledged commits lost).

Faults: the leader's postmaster killed, its Patroni killed (the node's container dies and its
restart policy brings it back), the whole leader host lost (its network link down: nothing of it
answers), the leader partitioned from etcd and its standby while clients still reach it (never two
primaries: the old one must take no write once the new one does), a planned switchover behind
PgBouncer's PAUSE (0 failed writes), an etcd member lost (nothing happens), and the queue's master
lost (Sentinel elects its replica; no job an answer named is lost)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from tests.multihost.bed import Bed, sh
from tests.multihost.ha import HOSTS, HaBed, answers, deploy
from tunestack.etcdauth import auth_enabled
from tunestack.poll import poll, wait_until

pytestmark = pytest.mark.multihost


@pytest.fixture(scope="module")
def ha(engine, tmp_path_factory):
    bed = Bed(HOSTS, subnet=9)
    path_before = os.environ["PATH"]
    try:
        bed.start()
        os.environ["PATH"] = bed.env["PATH"]   # the docker SDK's ssh:// runs `ssh` from PATH
        replay, plan, stack_file = deploy(bed, engine.url, tmp_path_factory.mktemp("ha"))
        h = HaBed(bed, replay, plan, tmp_path_factory.mktemp("ha-ca"))
        h.stack_file = stack_file
        h.direct(h.leader(), "CREATE TABLE IF NOT EXISTS acked (id bigint PRIMARY KEY, at timestamptz DEFAULT now())")
        h.direct(h.leader(), "GRANT INSERT, SELECT ON acked TO app")
        yield h
    finally:
        os.environ["PATH"] = path_before
        bed.stop()


def stored(h: HaBed, ids: list[int]) -> set[int]:
    rows = h.direct(h.leader(), "SELECT id FROM acked WHERE id = ANY(%s)", params=(ids,))
    return {r[0] for r in rows}


def new_ids() -> int:
    return int(time.time() * 1000) * 1000


def test_the_cluster_forms_with_a_synchronous_standby_and_etcd_locked(ha):
    wait_until(ha.whole, 120, "a leader and a synchronous standby")
    for m in ha.plan.ha["etcd members"].value:
        assert auth_enabled(m.client_url, cafile=str(ha.ca)), f"etcd {m.name} accepts anyone"
        # across machines: TLS only, and a peer must show a certificate from the stack's CA
        assert answers(f"{m.client_url}/version", str(ha.ca))
        assert not answers(f"http://{m.address}:{m.client_port}/version"), f"etcd {m.name} serves plain HTTP"
        assert not answers(f"{m.peer_url}/members", str(ha.ca)), f"etcd {m.name} takes a peer with no certificate"
    for n in ha.nodes:   # Patroni's REST API: HTTPS only
        assert answers(f"{n.api_url}/liveness", str(ha.ca))
        assert not answers(f"http://{n.address}:{n.rest_port}/liveness"), f"{n.name}'s API serves plain HTTP"
    leader = ha.leader()
    assert wait_until(lambda: ha.proxy_sends_to(leader.name), 30, "the proxy on the leader")
    # the standby streams over TLS (pg_hba: hostssl replication)
    rows = ha.direct(leader, "SELECT ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)", user="migrator")
    assert rows == [(True,)], rows


def test_prometheus_reads_every_node_member_and_sentinel_across_machines_with_least_rights(ha):
    """Issue #29 with standbys on containers: Prometheus (HTTPS on the cache host, verified with the
    stack's CA) scrapes every target the plan names and each is up: each Patroni's and etcd
    member's /metrics over HTTPS on its machine, PostgreSQL through the proxy to the primary as
    tunestack_monitor (made by the primary, pg_monitor, no superuser), each queue node and Sentinel
    over TLS as redis_exporter's ACL user, and a node exporter on each of the five machines."""
    from tunestack.monitoring.api import Prometheus
    from tunestack.plan.monitoring import MONITOR_CONNECTIONS, api_url

    prometheus = Prometheus(api_url(ha.plan, "prometheus"), ha.ca.read_text())
    planned = {(t.kind, t.name) for t in ha.plan.monitoring["targets"].value}

    last: list = []

    def all_up():
        targets = prometheus.targets()
        last[:] = [(t.job, t.name, t.health, t.error) for t in targets if t.health != "up"]
        seen = {(t.job, t.name): t.health for t in targets}
        return seen if set(seen) == planned and set(seen.values()) == {"up"} else None
    seen = poll(all_up, 120, 1)
    assert seen, f"not every planned target up within 120 s; not up: {last}"
    assert {kind for kind, _ in seen} >= {"patroni", "etcd", "sentinel", "redis", "postgres", "node"}
    assert sum(kind == "node" for kind, _ in seen) == len(HOSTS)
    # the servers answer their exporters, not only the exporters Prometheus
    assert [v for _, v in prometheus.query("pg_up")] == [1]
    queue_and_sentinels = len(ha.plan.queue_ha["nodes"].value) + len(ha.plan.queue_ha["sentinels"].value)
    redis_up = prometheus.query("redis_up")
    assert len(redis_up) == 1 + queue_and_sentinels and {v for _, v in redis_up} == {1}, redis_up
    assert [v for _, v in prometheus.query("min(redis_sentinel_master_ckquorum_status)")] == [1]
    assert [v for _, v in prometheus.query("sum(patroni_primary)")] == [1]   # Patroni's own view, one leader
    role = ha.direct(ha.leader(), "SELECT rolsuper, rolconnlimit, pg_has_role('tunestack_monitor', 'pg_monitor', "
                                  "'member') FROM pg_roles WHERE rolname = 'tunestack_monitor'")
    assert role == [(False, MONITOR_CONNECTIONS, True)]


def test_failover_on_containers_behind_pgbouncer_fails_no_write(ha):
    """`tunestack failover --target docker`, as an operator runs it: through the machines' engines
    over SSH, PgBouncer holding the clients while Patroni moves the primary."""
    wait_until(ha.whole, 120, "a whole cluster")
    leader = ha.leader()
    candidate = next(n for n in ha.nodes if n.name != leader.name)
    writer = ha.writer(new_ids(), seconds=90)
    thread = writer.start()
    wait_until(lambda: len(writer.acked) >= 100, 30, "the writer committing through PgBouncer")
    result = ha.cli("failover", "--to", candidate.name, "--format", "json")
    count = len(writer.acked)
    wait_until(lambda: len(writer.acked) >= count + 100, 30, "writes going on after the switchover")
    writer.stop(thread)
    lost = set(writer.acked) - stored(ha, writer.acked)
    print(f"\nfailover {leader.name} → {candidate.name}: clients held {result['clients_held_s']:.1f}s, "
          f"{len(writer.errors)} failed writes, {len(lost)} of {len(writer.acked)} acknowledged commits lost")
    assert (result["from"], result["to"]) == (leader.name, candidate.name)
    assert ha.leader().name == candidate.name
    assert writer.errors == [] and not lost


def _postmaster_killed(ha: HaBed, leader):
    node = ha.container(ha.host_of[leader.name], leader.name)
    pid = node.exec_run(["sh", "-c", "head -1 $PGDATA/postmaster.pid"]).output.decode().strip()
    node.exec_run(["kill", "-9", pid])
    return lambda: None


def _patroni_killed(ha: HaBed, leader):
    node = ha.container(ha.host_of[leader.name], leader.name)
    node.exec_run(["pkill", "-9", "-f", "bin/patroni"])
    return lambda: None


def _host_lost(ha: HaBed, leader):
    host = ha.bed.hosts[ha.host_of[leader.name]]
    link = f"{host.netns}-i"[:15]
    sh("ip", "-n", host.netns, "link", "set", link, "down")
    return lambda: sh("ip", "-n", host.netns, "link", "set", link, "up")


FAULTS = {"postmaster killed": _postmaster_killed, "patroni killed": _patroni_killed, "host lost": _host_lost}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_writes_resume_within_the_rto_and_no_acknowledged_commit_is_lost(ha, fault):
    wait_until(ha.whole, 180, "a whole cluster")
    leader = ha.leader()
    writer = ha.writer(new_ids(), seconds=150)
    thread = writer.start()
    wait_until(lambda: len(writer.acked) >= 100, 30, "the writer committing through PgBouncer")
    at = time.monotonic()
    heal = FAULTS[fault](ha, leader)
    try:
        # writes stall or fail, then resume: the longest gap between acknowledged commits is the RTO
        wait_until(lambda: writer.commit_times and writer.commit_times[-1] > at + 1
                   and (time.monotonic() - writer.commit_times[-1]) < 0.5 and writer.longest_stall_s(at) > 0.5,
                   90, "writes to stall and resume")
    finally:
        heal()
    count = len(writer.acked)
    wait_until(lambda: len(writer.acked) >= count + 50, 30, "writes going on")
    writer.stop(thread)
    wait_until(ha.whole, 180, "the old primary back as a standby")
    lost = set(writer.acked) - stored(ha, writer.acked)
    rto = ha.plan.ha["rto"].value / 1000
    stall = writer.longest_stall_s(at)
    print(f"\n{fault} ({leader.name}): RTO {stall:.1f}s (the plan's {rto:g}s), RPO {len(lost)} of "
          f"{len(writer.acked)} acknowledged commits lost, {len(writer.errors)} failed writes")
    assert not lost and stall <= rto


def test_a_partitioned_primary_takes_no_write_once_another_leads(ha):
    """The leader's host cut off from the other db host and the cache host (etcd's quorum, its
    standby, the proxy) but not from this machine, which keeps writing to it directly: it must
    stop acknowledging before the new primary acknowledges anything (no split brain), demote, and
    rejoin once the partition heals."""
    wait_until(ha.whole, 180, "a whole cluster")
    leader = ha.leader()
    host = ha.bed.hosts[ha.host_of[leader.name]]
    others = [h.address for n, h in ha.bed.hosts.items() if n in ("db1", "db2", "cache") and h is not host]
    through_bouncer = ha.writer(new_ids(), seconds=150)
    direct = ha.writer(new_ids() + 500_000, seconds=150)
    direct.host, direct.port = leader.address, leader.port
    threads = [through_bouncer.start(), direct.start()]
    wait_until(lambda: len(through_bouncer.acked) >= 50 and len(direct.acked) >= 50, 30, "both writers committing")
    # Before Docker's rules see a packet: every packet from the others as it arrives (raw
    # PREROUTING, ahead of the published ports' DNAT), every packet to them as it leaves (mangle
    # POSTROUTING: the containers' forwarded ones and the host's own).
    rules = [(table, chain, flag, a) for a in others
             for table, chain, flag in (("raw", "PREROUTING", "-s"), ("mangle", "POSTROUTING", "-d"))]
    cut = time.monotonic()
    for table, chain, flag, address in rules:
        sh("ip", "netns", "exec", host.netns, "iptables", "-t", table, "-I", chain, flag, address, "-j", "DROP")
    try:
        wait_until(lambda: through_bouncer.commit_times and through_bouncer.commit_times[-1] > cut + 1
                   and through_bouncer.longest_stall_s(cut) > 0.5, 90, "another node to take writes")
        # it stops being the primary once it cannot renew its leader key (retry_timeout); its fast
        # shutdown may then wait out its walsender (wal_sender_timeout) before it answers as a standby
        old = ha.apis()[leader.name]
        bound = ha.plan.ha["retry_timeout"].value + 2 * ha.plan.ha["loop_wait"].value + 5
        wait_until(lambda: old.request("GET", "/primary", timeout=3)[0] != 200, bound, f"{leader.name} to step down")
    finally:
        for table, chain, flag, address in rules:
            sh("ip", "netns", "exec", host.netns, "iptables", "-t", table, "-D", chain, flag, address, "-j", "DROP",
               check=False)
    for w, t in zip((through_bouncer, direct), threads):
        w.stop(t)
    first_new = through_bouncer.resumed_at(cut)   # the new primary's first acknowledged write
    last_old = max(direct.commit_times, default=0)
    wait_until(ha.whole, 180, "the old primary back as a standby")
    lost = (set(through_bouncer.acked) | set(direct.acked)) - stored(ha, through_bouncer.acked + direct.acked)
    print(f"\npartition of {leader.name}: its last acknowledged write {last_old - cut:+.1f}s after the cut, the new "
          f"primary's first {first_new - cut:+.1f}s; {len(lost)} of {len(through_bouncer.acked) + len(direct.acked)} "
          "acknowledged commits lost")
    assert last_old < first_new, "two primaries acknowledged writes"
    assert not lost


def test_an_etcd_member_lost_changes_nothing(ha):
    wait_until(ha.whole, 180, "a whole cluster")
    leader = ha.leader()
    member = next(m for m in ha.plan.ha["etcd members"].value if m.host == "cache")
    writer = ha.writer(new_ids(), seconds=60)
    thread = writer.start()
    wait_until(lambda: len(writer.acked) >= 50, 30, "the writer committing")
    etcd = ha.container("cache", member.name)
    at = time.monotonic()
    etcd.stop(timeout=10)
    try:
        time.sleep(0)   # the writer goes on; a loop of Patroni's must pass with one member gone
        count = len(writer.acked)
        wait_until(lambda: len(writer.acked) >= count + 200, 60, "writes going on without the member")
    finally:
        etcd.start()
    writer.stop(thread)
    lost = set(writer.acked) - stored(ha, writer.acked)
    stall = writer.longest_stall_s(at)
    print(f"\netcd member {member.name} lost: longest write stall {stall:.2f}s, {len(writer.errors)} failed writes, "
          f"{len(lost)} lost; leader unchanged: {ha.leader().name == leader.name}")
    assert writer.errors == [] and not lost and ha.leader().name == leader.name
    assert stall < 1.0


def test_the_proxy_reaches_only_the_leader(ha):
    wait_until(ha.whole, 180, "a whole cluster")
    leader = ha.leader()
    assert ha.proxy_sends_to(leader.name)
    standby = next(n for n in ha.nodes if n.name != leader.name)
    res = subprocess.run(["psql", f"host={standby.address} port={standby.port} dbname=app user=migrator "
                                  f"sslmode=verify-full sslrootcert={ha.ca}", "-Atc", "SELECT pg_is_in_recovery()"],
                         capture_output=True, text=True, timeout=20,
                         env={**os.environ, "PGPASSWORD": ha.password("migrator")})
    assert res.stdout.strip() == "t", res.stderr


def test_the_queue_streams_to_its_replica_over_tls_under_three_sentinels(ha):
    wait_until(ha.queue_whole, 90, "the queue's master streaming to its replica")
    master = ha.queue_master()
    assert master is not None and master.name == ha.plan.queue_ha["nodes"].value[0].name
    for node in ha.plan.queue_ha["nodes"].value:   # TLS only: a plaintext PING gets no PONG
        assert not plaintext_pong(node.address, node.port), f"{node.name} answers plaintext"
    for m in ha.plan.queue_ha["sentinels"].value:
        assert not plaintext_pong(m.address, m.port), f"{m.name} answers plaintext"
        assert ha.redis(m.address, m.port, "redis-sentinel").ping()
    status = ha.cli("status", "--format", "json")   # what an operator sees: through the machines' engines
    assert [(q["name"], q["role"]) for q in status["queue"]] == [(n.name, r) for n, r in zip(
        ha.plan.queue_ha["nodes"].value, ("master", "replica"))]
    assert sorted(m["role"] for m in status["postgres"]) == ["leader", "sync_standby"]
    names = {c["name"]: (c["state"], c["health"]) for c in status["containers"]}
    assert all(names[s.name] == ("running", "healthy") for s in ha.plan.queue_ha["sentinels"].value), names


def plaintext_pong(address: str, port: int) -> bool:
    with socket.create_connection((address, port), timeout=3) as conn:
        conn.sendall(b"PING\r\n")
        try:
            return conn.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False


def test_the_queues_master_lost_loses_no_acknowledged_job(ha):
    """Sentinel's failover on containers across machines: the master's process frozen (it answers
    nothing) until the Sentinels elect its replica, then killed; every job an answer 200 named must
    be on the new master. The job worker is stopped for the trial, so the queue only grows."""
    from bench.queuefault import JobClient

    wait_until(ha.queue_whole, 90, "the queue whole before the fault")
    old = ha.queue_master()
    host = "cache" if old.machine == 0 else "cache2"
    node = ha.container(host, old.name)
    jobs = [c for c in ha.bed.client(ha.bed.hosts["app1"]).containers.list()
            if c.labels.get("tunestack.service") == "jobs"]
    for c in jobs:
        c.stop(timeout=30)
    lb = f"http://{ha.bed.hosts['cache'].address}:{ha.plan.loadbalancer['port'].value}/"
    try:
        with JobClient(lb, threads=4, rate=20, limit_s=150) as client:
            wait_until(lambda: len(client.acknowledged()) >= 50, 60, "jobs being queued")
            at = time.monotonic()
            # from outside: inside its container redis-server is PID 1, which ignores SIGSTOP there
            os.kill(node.attrs["State"]["Pid"], signal.SIGSTOP)
            try:
                wait_until(lambda: (ha.queue_master() or old).name != old.name, 60, "the Sentinels electing the replica")
            finally:
                node.kill()
            elected = time.monotonic()
            wait_until(lambda: client.ok_after(elected), 60, "jobs queued again on the new master")
            client.stop.wait(1)
        acknowledged = client.acknowledged()
        lost = acknowledged - ha.queued_jobs()
        rto = client.longest_gap_s(at)
        failed = sum(1 for _, s, _ in client.outcomes if s != 200)
    finally:
        node.start()
        for c in jobs:
            c.start()
    bound = ha.plan.queue_ha["down-after-milliseconds"].value / 1000 + 10
    print(f"\nqueue master {old.name} lost: RTO {rto:.1f}s (bound {bound:g}s), {len(lost)} of {len(acknowledged)} "
          f"acknowledged jobs lost, {failed} failed requests")
    assert not lost and len(acknowledged) >= 50
    assert rto <= bound
    wait_until(ha.queue_whole, 120, "the old master back as a replica")
