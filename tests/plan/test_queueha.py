"""The queue Redis with replicas and three Sentinels (plan/queueha.py, issue #28): where the nodes
and Sentinels run, Sentinel's settings, the apps' queue settings, the memory, the alerts."""
from dataclasses import replace

import pytest

from tunestack.errors import StackError
from tunestack.plan import build_plan
from tunestack.plan.queueha import SENTINEL_MEMORY, queue_nodes, sentinel_members
from tunestack.stackfile.spec import QueueHaSpec

from .helpers import spec


def staging_queue(replicas=1):
    s = spec("staging")
    cache = next(h for h in s.hosts if "cache" in h.roles)
    grown = replace(cache, count=replicas + 1, addresses=tuple(f"10.20.9.{10 + i}" for i in range(replicas + 1)))
    return replace(s, hosts=tuple(grown if h is cache else h for h in s.hosts),
                   queue_ha=QueueHaSpec(replicas=replicas))


def test_a_stack_without_queue_replicas_has_no_sentinel():
    plan = build_plan(spec("local"))
    assert plan.queue_ha == {}
    assert "REDIS_SENTINELS" not in plan.web_env and plan.web_env["REDIS_URL"].value.startswith("redis://127.0.0.1:")


def test_local_ha_runs_the_replica_and_three_sentinels_on_ports_of_their_own():
    plan = build_plan(spec("local-ha"))
    assert [n.port for n in plan.queue_ha["nodes"].value] == [16780, 16781]   # redis.queue.port + i
    assert [s.port for s in plan.queue_ha["sentinels"].value] == [26780, 26781, 26782]


def test_three_sentinels_agree_by_a_majority():
    """Redis Sentinel docs: a quorum of 2 of 3, and a failover needs a majority, so one Sentinel cut
    off alone never fails over."""
    plan = build_plan(spec("local-ha"))
    assert len(plan.queue_ha["sentinels"].value) == 3 and plan.queue_ha["quorum"].value == 2


def test_every_client_finds_the_master_through_the_sentinels_and_waits_for_a_replica():
    plan = build_plan(spec("local-ha"))
    for env in (plan.web_env, plan.jobs_env):
        assert env["REDIS_URL"].value == "redis://local-ha-queue/0"   # a name, no address to go stale
        assert env["REDIS_SENTINELS"].value == "127.0.0.1:26780,127.0.0.1:26781,127.0.0.1:26782"
        assert env["REDIS_SENTINEL_MASTER"].value == "local-ha-queue"
        assert env["REDIS_WAIT_REPLICAS"].value == 1   # Redis docs, WAIT: acknowledged by a replica


def test_each_queue_node_gets_its_own_machine_and_the_sentinels_three_distinct_ones():
    s = staging_queue(replicas=1)
    nodes, sentinels = queue_nodes(s), sentinel_members(s)
    assert [n.address for n in nodes] == ["10.20.9.10", "10.20.9.11"]
    assert {n.port for n in nodes} == {s.redis_queue.port}
    assert len({(m.host, m.machine) for m in sentinels}) == 3
    # the master's machine holds at most one Sentinel: losing it leaves two, still a majority
    assert sum(1 for m in sentinels if m.address == nodes[0].address) <= 1


def test_the_replica_and_sentinels_count_in_the_one_machines_memory():
    plan = build_plan(spec("local-ha"))
    items = dict((k, v) for k, v in plan.hosts[0].memory_items if k.startswith("Redis queue replica"))
    assert items == {"Redis queue replica 1": plan.spec.redis_queue.memory_bytes}
    assert [b for k, b in plan.hosts[0].memory_items if k == "Redis Sentinel"] == [SENTINEL_MEMORY] * 3


def test_sentinels_elsewhere_count_on_their_own_hosts():
    plan = build_plan(staging_queue(replicas=1))
    per_host = {h.name: sum(1 for k, _ in h.memory_items if k == "Redis Sentinel") for h in plan.hosts}
    assert per_host["db"] == 1 and per_host["cache"] == 1   # one per machine: the busiest machine counts


def test_containers_refuse_queue_replicas_on_one_machine():
    """A replica beside its master on one engine dies with it: containers need a cache machine each."""
    with pytest.raises(StackError) as err:
        build_plan(replace(spec("local"), queue_ha=QueueHaSpec(replicas=1)), target="docker")
    problem = err.value.problems[0]
    assert "queue → replicas" in str(problem.key_path) and "one cache machine per queue node" in problem.allowed


def test_containers_run_a_node_per_cache_machine_over_tls_with_a_sentinel_container_each():
    s = staging_queue()
    plan = build_plan(replace(s, app=replace(s.app, framework="python")), target="docker")
    nodes = plan.queue_ha["nodes"].value
    assert [n.machine for n in nodes] == [0, 1] and len({n.address for n in nodes}) == 2
    assert set(plan.tls["redis-queue"].ip_addresses) >= {n.address for n in nodes}
    assert plan.redis["queue"]["tls-replication"].text == "yes"
    sentinels = {m.address for m in plan.queue_ha["sentinels"].value}
    assert set(plan.tls["redis-sentinel"].ip_addresses) == {"127.0.0.1", *sentinels}
    assert plan.web_env["REDIS_URL"].text.startswith("rediss://")
    for host in {m.host for m in plan.queue_ha["sentinels"].value}:
        assert plan.container(host, "sentinel").memory_bytes == SENTINEL_MEMORY


def test_alerts_watch_the_replica_count_and_failovers():
    names = {a["alert"] for a in build_plan(spec("local-ha")).alerts}
    assert {"RedisQueueReplicaMissing", "RedisQueueFailedOver", "RedisQueueEnqueueUnreplicated"} <= names
