"""The queue Redis with replicas, failed over by three Redis Sentinels, and every client finding
the master through them. Pure.

Sources: Redis docs, "High availability with Redis Sentinel" (quorum, down-after-milliseconds,
failover-timeout, parallel-syncs; three Sentinels on distinct machines; "Sentinel, Docker, NAT, and
possible issues"), "Sentinel client spec" (ask a Sentinel for the master, then check ROLE), WAIT
("the replicas acknowledged the write"), and "Replication" ("Safety of replication when master has
persistence turned off")."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import Problem, StackError
from ..stackfile.sections.ha import machines
from ..stackfile.spec import StackSpec
from ..units import MIB
from .ha import _address, _machines_in_order
from .setting import Setting, chosen, policy

SENTINEL_MEMORY = 16 * MIB          # one small redis-server process in Sentinel mode
QUORUM = 2                          # of 3: a majority, so a partitioned minority never fails over
DOWN_AFTER_MS = 5_000
FAILOVER_TIMEOUT_MS = 60_000
MASTER_SUFFIX = "-queue"


@dataclass(frozen=True)
class RedisNode:
    name: str          # <stack>-queue-<i>; node 0 is the first master
    host: str
    machine: int
    address: str
    port: int

    def to_json(self) -> dict:
        return vars(self).copy()


@dataclass(frozen=True)
class SentinelMember:
    name: str
    host: str
    machine: int
    address: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"

    def to_json(self) -> dict:
        return vars(self).copy()


def queue_nodes(spec: StackSpec) -> tuple[RedisNode, ...]:
    """Node i on machine i of the cache host entry (the section checks its count), or all on the one
    machine of a one-machine stack."""
    qha, cache = spec.queue_ha, spec.host_with("cache")
    shared = machines(spec.hosts) == 1
    return tuple(RedisNode(f"{spec.name}-queue-{i}", cache.name, 0 if shared else i, _address(cache, 0 if shared else i),
                           port) for i, port in enumerate(qha.node_ports(spec.redis_queue.port, shared)))


def sentinel_members(spec: StackSpec) -> tuple[SentinelMember, ...]:
    """Three distinct machines (db first, then cache, then the rest), or three on the one machine."""
    qha = spec.queue_ha
    shared = machines(spec.hosts) == 1
    every = _machines_in_order(spec)
    picked = [every[0]] * len(qha.sentinel_ports(shared)) if shared else every[:len(qha.sentinel_ports(shared))]
    return tuple(SentinelMember(f"{spec.name}-sentinel-{i}", h.name, m, _address(h, m), port)
                 for i, ((h, m), port) in enumerate(zip(picked, qha.sentinel_ports(shared))))


def master_name(spec: StackSpec) -> str:
    return f"{spec.name}{MASTER_SUFFIX}"


def sentinel_settings(spec: StackSpec) -> dict[str, Setting]:
    """What every Sentinel is told about the queue's master (sentinel.conf, SENTINEL SET)."""
    return {
        "quorum": Setting(QUORUM, "2 of the 3 Sentinels must agree the master is down, and a majority must "
                                  "authorise the failover: a Sentinel cut off alone never fails over", "policy"),
        "down-after-milliseconds": Setting(DOWN_AFTER_MS, "a master silent this long is down: Sentinel's default "
                                           "30 s would leave every enqueue failing for 30 s; shorter risks a failover "
                                           "on a pause (an AOF rewrite's fork of a 64 MiB queue takes milliseconds)",
                                           "policy", unit="ms"),
        "failover-timeout": Setting(FAILOVER_TIMEOUT_MS, "a failover that stalls is tried again after twice this "
                                    "(Sentinel docs); Sentinel's default 3 min would leave the queue without a master "
                                    "for 6", "policy", unit="ms"),
        "parallel-syncs": Setting(1, "one replica resynchronises with a new master at a time (Sentinel's default)",
                                  "policy"),
    }


def queue_ha_extra_memory(spec: StackSpec) -> dict[str, list[tuple[str, int]]]:
    """What the replicas and Sentinels add to each host's memory beyond the queue instance every
    cache machine already counts: the replicas sharing one machine, and the Sentinels."""
    if not spec.queue_ha.enabled:
        return {}
    out: dict[str, list[tuple[str, int]]] = {h.name: [] for h in spec.hosts}
    nodes = queue_nodes(spec)
    if nodes[0].machine == nodes[-1].machine:   # all on one machine
        out[nodes[0].host] += [(f"Redis queue replica {i}", spec.redis_queue.memory_bytes) for i in range(1, len(nodes))]
    on_machine: dict[tuple[str, int], int] = {}
    for s in sentinel_members(spec):
        on_machine[(s.host, s.machine)] = on_machine.get((s.host, s.machine), 0) + 1
    for h in spec.hosts:
        busiest = max((on_machine.get((h.name, m), 0) for m in range(h.count)), default=0)
        out[h.name] += [("Redis Sentinel", SENTINEL_MEMORY)] * busiest
    return out


def queue_ha_shares(spec: StackSpec, shares: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Each host's shares once the replicas and Sentinels take theirs, from the app's share where the
    host runs the app, else PostgreSQL's (a shortfall is the planner's: no room for them)."""
    extra = queue_ha_extra_memory(spec)
    out = {}
    for name, share in shares.items():
        share = dict(share)
        taken = sum(b for _, b in extra.get(name, []))
        if taken:
            share["app" if "app" in share else "postgres" if "postgres" in share else "redis"] -= taken
        out[name] = share
    return out


def queue_ha_alerts(spec: StackSpec, name: str) -> list[dict]:
    """On redis_exporter's names (redis_connected_slaves, redis_instance_info's role label) and the
    refapps' own counter of enqueues no replica acknowledged in time.

    The scrape config labels each Redis with its role in the stack (role="queue"), so Prometheus
    keeps the exporter's own role label (master or slave) as exported_role (Prometheus docs,
    scrape_config honor_labels: a clash renames the scraped label exported_<name>)."""
    replicas = spec.queue_ha.replicas
    return [
        {"alert": "RedisQueueReplicaMissing", "for": "1m", "severity": "critical",
         # the cache never has replicas (redis.cache.replicas is refused), so the most any master
         # streams to is the queue master's count
         "expr": f'(max(redis_connected_slaves and on(instance) redis_instance_info{{exported_role="master"}}) or vector(0)) '
                 f'< {replicas}',
         "summary": f"the queue's master streams to fewer than {replicas} replica(s): jobs are queued without a "
                    "replica's acknowledgement, and a lost master loses them"},
        {"alert": "RedisQueueFailedOver", "for": "0m", "severity": "warning",
         # the instance that is master now and was a replica in the last 15 minutes: a failover
         # moves the (exported) role label, so the series changes rather than its value
         "expr": 'redis_instance_info{exported_role="master"} and on(instance) '
                 'max_over_time(redis_instance_info{exported_role="slave"}[15m])',
         "summary": f"Sentinel made a replica the queue's master ({name}) in the last 15 minutes: check why "
                    "(SENTINEL MASTER, the old master's log) and that the old one rejoined as a replica"},
        {"alert": "RedisSentinelQuorumLost", "for": "1m", "severity": "critical",
         # SENTINEL CKQUORUM as each Sentinel answers it (redis_exporter): a majority of the Sentinels
         # must be reachable to authorize a failover
         "expr": "min(redis_sentinel_master_ckquorum_status) == 0",
         "summary": f"a Sentinel cannot reach a majority of the {len(sentinel_members(spec))} Sentinels: a lost "
                    "queue master would not be failed over"},
        {"alert": "RedisQueueEnqueueUnreplicated", "for": "5m", "severity": "warning",
         "expr": "sum(rate(tunestack_queue_unreplicated_total[5m])) > 0",
         "summary": "jobs are queued with no replica connected to wait for: a master lost now loses them"},
    ]


def with_queue_ha(plan):
    """The plan with section `queue_ha` (nodes, Sentinels and their settings) and the apps' queue
    settings pointed at Sentinel; a plan without queue replicas unchanged."""
    spec = plan.spec
    if not spec.queue_ha.enabled:
        return plan
    if plan.placement.docker:
        refuse_on_containers(spec)
    nodes, members, name = queue_nodes(spec), sentinel_members(spec), master_name(spec)
    tls = "redis-queue" in plan.tls   # across machines: replication and Sentinel's links are TLS too
    section = {
        "master name": policy(name, "the name every Sentinel and client knows the queue's master by"),
        "nodes": Setting(nodes, f"the master and {spec.queue_ha.replicas} replica(s), "
                                + ("all on the one machine (a trial: a lost machine loses all)"
                                   if nodes[0].machine == nodes[-1].machine else "one machine each"), "computed",
                         text=",".join(n.name for n in nodes)),
        "sentinels": Setting(members, "three Sentinels (Redis docs: the smallest setup that survives losing one), "
                                      + ("on the one machine (a trial)" if members[0].machine == members[-1].machine
                                         and members[0].host == members[-1].host else "on distinct machines"),
                             "computed", text=",".join(s.endpoint for s in members)),
        **sentinel_settings(spec),
        "port": chosen(spec.queue_ha.sentinel_port, "redis.queue.sentinel_port", spec.source_of, "Sentinel's own port"),
    }
    env = queue_env(spec, members, name, plan.web_env["REDIS_READ_TIMEOUT"].value, tls)
    redis = plan.redis
    if tls:
        redis = {**redis, "queue": {**redis["queue"], "tls-replication": policy(
            "yes", "a replica streams from a master on another machine: over TLS, verified against the stack's CA")}}
    containers = queue_ha_container_limits(spec, plan.containers) if plan.placement.docker else plan.containers
    return replace(plan, queue_ha=section, web_env={**plan.web_env, **env}, jobs_env={**plan.jobs_env, **env},
                   redis=redis, containers=containers, alerts=plan.alerts + queue_ha_alerts(spec, name))


FRAMEWORKS_ON_TLS_SENTINEL = ("python",)   # the reference apps that reach Sentinel over TLS


def refuse_on_containers(spec: StackSpec) -> None:
    """Containers put each queue node on a machine of its own, and their clients reach the
    Sentinels over TLS."""
    where = "config → tunestack:redis → queue → replicas"
    if machines(spec.hosts) == 1 or spec.host_with("cache").count < spec.queue_ha.nodes:
        raise StackError([Problem(spec.path, where, spec.queue_ha.replicas,
                                  "for containers, one cache machine per queue node (the master and each replica)",
                                  f"give the cache host count: {spec.queue_ha.nodes} with one address each, or try "
                                  "Sentinel on one machine with the local-ha stack")])
    if spec.app.framework not in FRAMEWORKS_ON_TLS_SENTINEL:
        raise StackError([Problem(spec.path, where, spec.queue_ha.replicas,
                                  "0 for the " + spec.app.framework + " reference app on containers: its Sentinel "
                                  "client does not speak TLS yet (the Python app's does)",
                                  "remove redis.queue.replicas for this framework on containers; the local stack "
                                  "runs it with Sentinel")])


SENTINEL_CPUS = 0.1   # a Sentinel pings each instance once a second


def queue_ha_container_limits(spec: StackSpec, containers: dict[str, list]) -> dict[str, list]:
    """A container per Sentinel on the hosts that run one (its memory is queue_ha_extra_memory's);
    the replicas' machines run the cache host's queue container."""
    from .memory import ContainerLimit

    hosts = {s.host for s in sentinel_members(spec)}
    return {host: limits + ([ContainerLimit("sentinel", SENTINEL_MEMORY, SENTINEL_CPUS, "Redis Sentinel")]
                            if host in hosts else [])
            for host, limits in containers.items()}


def queue_env(spec: StackSpec, members, name: str, read_timeout_ms: int, tls: bool = False) -> dict[str, Setting]:
    """The queue through Sentinel, and every enqueue acknowledged by a replica before it counts.
    `tls`: the nodes and Sentinels serve TLS only (rediss://, verified with REDIS_TLS_CA_FILE)."""
    wait_ms = read_timeout_ms // 2
    scheme = "rediss" if tls else "redis"
    return {
        "REDIS_URL": Setting(f"{scheme}://{name}/0", "the queue by its master's name: clients ask a Sentinel where it "
                                                     "is (REDIS_SENTINELS) and never hold a fixed address"
                                                     + ("; TLS to the Sentinels and the nodes" if tls else ""),
                             "computed"),
        "REDIS_SENTINELS": Setting(",".join(s.endpoint for s in members), "every Sentinel: a client asks the next "
                                   "when one does not answer (Sentinel client spec)", "computed"),
        "REDIS_SENTINEL_MASTER": policy(name, "the master's name in Sentinel"),
        "REDIS_WAIT_REPLICAS": Setting(1, "an enqueue answers only once a connected replica has the job (WAIT 1): a "
                                          "master lost right after loses no job a client was told was queued; with no "
                                          "replica connected the job is accepted and counted, as Patroni's non-strict "
                                          "synchronous mode commits without a standby", "policy"),
        "REDIS_WAIT_TIMEOUT_MS": Setting(wait_ms, f"half of REDIS_READ_TIMEOUT ({read_timeout_ms} ms): WAIT holds the "
                                         "connection, and a wait as long as the read timeout would end as a timeout "
                                         "error instead of an answer; a connected replica that has not acknowledged "
                                         "by then fails the enqueue (the client may retry) rather than count a job "
                                         "a failover could lose", "computed", unit="ms",
                                         rule="half of REDIS_READ_TIMEOUT"),
    }
