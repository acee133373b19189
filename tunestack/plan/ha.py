"""PostgreSQL with standbys under Patroni, etcd as its consensus store, and the load balancer's
primary service every client connects through. Pure.

Sources: Patroni docs ("Dynamic configuration", "YAML configuration", "REST API": GET /primary
answers 200 on the leader only), PostgreSQL docs 27.2 "Log-Shipping Standby Servers" and 20.6
"Replication" (hot_standby_feedback, max_standby_streaming_delay, max_slot_wal_keep_size), etcd
FAQ (odd cluster sizes), Pigsty's HA failure model (RTO phases)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import Problem, StackError
from ..postgres.patroni import CHECK_S, ETCD_ELECTION_S, MIN_MAX_CONNECTIONS, PROMOTE_S, RECONNECT_S, timings
from ..stackfile.sections.ha import machines
from ..stackfile.spec import HostSpec, StackSpec
from ..units import MIB, format_bytes_human
from .connections import PGTUNE_MIN_CONNECTIONS
from .setting import Setting, chosen, policy

PATRONI_MEMORY = 64 * MIB   # one Python process per node
ETCD_MEMORY = 256 * MIB     # etcd holding Patroni's few keys, with its default snapshot count
ETCD_QUOTA = 256 * MIB      # --quota-backend-bytes: Patroni's keys need kilobytes; the disk it may take
SLOT_WAL_SHARE = 0.3        # of the WAL disk a lagging standby's slot may hold before it is cut loose
# Patroni passes these on the postmaster's command line from its dynamic configuration (DCS), so
# every node runs with the same values (Patroni: postgresql/config.py CMDLINE_OPTIONS); a node's
# own file cannot change them.
DCS_PARAMETERS = ("max_connections", "max_wal_senders", "max_prepared_transactions", "max_locks_per_transaction",
                  "track_commit_timestamp", "max_replication_slots", "max_worker_processes", "wal_level",
                  "wal_log_hints", "wal_keep_size")
SCOPE_SUFFIX = "-pg"
REPLICA_LAG_BYTES = 16 * MIB


@dataclass(frozen=True)
class PgNode:
    name: str          # Patroni's member name: <stack>-pg-<i>
    host: str          # the stack file's host entry
    machine: int       # which of its `count` machines
    address: str       # where the node listens and how the others reach it
    port: int
    rest_port: int
    tls: bool = False  # its REST API serves HTTPS (nodes on several machines: plan/tls.py)

    @property
    def api_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}:{self.rest_port}"

    def to_json(self) -> dict:
        return vars(self).copy()


@dataclass(frozen=True)
class EtcdMember:
    name: str
    host: str
    machine: int
    address: str
    client_port: int
    peer_port: int
    tls: bool = False   # client and peer traffic over TLS (members on several machines: plan/tls.py)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://{self.address}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://{self.address}:{self.peer_port}"

    def to_json(self) -> dict:
        return vars(self).copy()


def _address(host: HostSpec, machine: int) -> str:
    return host.addresses[machine] if host.addresses else "127.0.0.1"


def pg_nodes(spec: StackSpec) -> tuple[PgNode, ...]:
    """Node i on machine i of the db host entry (stackfile/sections/ha.py checks its count), or all
    on the one machine of a one-machine stack."""
    ha, db = spec.ha, spec.host_with("db")
    shared = machines(spec.hosts) == 1
    return tuple(PgNode(f"{spec.name}-pg-{i}", db.name, 0 if shared else i, _address(db, 0 if shared else i),
                        port, rest)
                 for i, (port, rest) in enumerate(ha.node_ports(spec.postgres.port, shared)))


def _machines_in_order(spec: StackSpec) -> list[tuple[HostSpec, int]]:
    """Every machine, db first (they exist already), then cache, then the rest."""
    rank = {"db": 0, "cache": 1}
    hosts = sorted(spec.hosts, key=lambda h: min(rank.get(r, 2) for r in h.roles))
    return [(h, i) for h in hosts for i in range(h.count)]


def etcd_members(spec: StackSpec) -> tuple[EtcdMember, ...]:
    """The stack file's etcd_hosts (a name taken twice: its next machine), else 3 distinct machines,
    else the one machine of a one-machine stack."""
    ha, by_name = spec.ha, {h.name: h for h in spec.hosts}
    if ha.etcd_hosts:
        seen: dict[str, int] = {}
        picked = []
        for name in ha.etcd_hosts:
            picked.append((by_name[name], seen.get(name, 0)))
            seen[name] = seen.get(name, 0) + 1
    else:
        every = _machines_in_order(spec)
        picked = every[:3] if len(every) >= 3 else every[:1]
    return tuple(EtcdMember(f"{spec.name}-etcd-{i}", h.name, m, _address(h, m), ha.etcd_port, ha.etcd_port + 1)
                 for i, (h, m) in enumerate(picked))


def patroni_settings(spec: StackSpec) -> dict[str, Setting]:
    """Patroni's dynamic configuration from postgres.rto and postgres.rpo."""
    ha, source_of = spec.ha, spec.source_of
    t = timings(ha.rto_ms // 1000)
    rto = chosen(ha.rto_ms, "postgres.rto", source_of, "30s, Pigsty's pg_rto: a lost primary is replaced within "
                                                       "half a minute")
    out = {
        "rto": replace(rto, text=f"{ha.rto_ms // 1000}s", unit="ms"),
        "ttl": Setting(t.ttl, f"rto {ha.rto_ms // 1000}s − loop_wait {t.loop_wait}s − promotion {PROMOTE_S}s − "
                              f"health check {CHECK_S}s − etcd election {ETCD_ELECTION_S}s (a lost machine that held "
                              f"etcd's leader: the new one renews every lease) − reconnection {RECONNECT_S}s: the "
                              "leader key outlives a dead primary this long at most; shorter means sooner failover "
                              "and more false ones (a stalled primary loses its key)",
                       rule="what the RTO leaves after loop_wait, promotion, health check, etcd election and "
                            "reconnection"),
        "loop_wait": Setting(t.loop_wait, "a tenth of the RTO (at least 1 s, Patroni's minimum): how soon a standby "
                                          "notices the leader key is gone", rule="a tenth of the RTO"),
        "retry_timeout": Setting(t.retry_timeout, f"the most Patroni's rule loop_wait + 2 × retry_timeout ≤ ttl "
                                                  f"allows ({t.loop_wait} + 2 × {t.retry_timeout} ≤ {t.ttl}): etcd or "
                                                  "network trouble shorter than this never demotes the primary",
                                 rule="the most loop_wait + 2 × retry_timeout ≤ ttl allows (Patroni docs)"),
        "primary_start_timeout": Setting(t.primary_start_timeout, f"rto {ha.rto_ms // 1000}s − 2 × loop_wait − promotion "
                                         f"{PROMOTE_S}s − health check {CHECK_S}s − reconnection {RECONNECT_S}s: how long Patroni tries to start a "
                                         "crashed primary again in place before a standby takes over; Patroni's "
                                         "default 300 s would break the RTO"
                                         + ("" if ha.rpo_bytes == 0 else ", and an asynchronous standby that takes "
                                            "over may lack up to the rpo of committed work"),
                                         rule="what the RTO leaves after two loops, promotion, health check and "
                                              "reconnection"),
        "worst-case rto": Setting(t.worst_rto_s * 1000, f"ttl {t.ttl}s + etcd election + loop_wait {t.loop_wait}s + "
                                                        "promotion + health check + reconnection, from the last "
                                                        "leader-key renewal",
                                  text=f"{t.worst_rto_s}s", unit="ms"),
    }
    return {**out, **durability(spec)}


def durability(spec: StackSpec) -> dict[str, Setting]:
    ha = spec.ha
    rpo_key = "postgres.rpo"
    if ha.rpo_bytes == 0:
        return {
            "rpo": chosen(0, rpo_key, spec.source_of, "0: no acknowledged commit is lost in a failover"),
            "synchronous_mode": policy(True, "every commit waits until a standby has flushed it: each commit pays a "
                                             "round trip to the standby and its WAL flush; Patroni promotes only "
                                             "that standby"),
            "synchronous_mode_strict": policy(False, "with no standby left the primary goes on alone rather than "
                                                     "stop writing; Patroni then fails over to no one until a "
                                                     "standby has caught up, so nothing acknowledged is lost"),
            "maximum_lag_on_failover": policy(0, "only the synchronous standby may take over"),
        }
    return {
        "rpo": replace(chosen(ha.rpo_bytes, rpo_key, spec.source_of, ""), text=format_bytes_human(ha.rpo_bytes),
                       unit="bytes"),
        "synchronous_mode": policy(False, "commits do not wait for a standby: no latency cost, and a failover may "
                                          "lose up to the RPO of acknowledged commits"),
        "synchronous_mode_strict": policy(False, "asynchronous replication"),
        "maximum_lag_on_failover": Setting(ha.rpo_bytes, "postgres.rpo: a standby further behind never takes over",
                                           "stack file", text=str(ha.rpo_bytes), unit="bytes"),
    }


def standby_settings(spec: StackSpec, wal_disk_bytes: int | None) -> dict[str, Setting]:
    """postgresql.conf on every node: standbys that serve reads, WAL kept for the ones behind."""
    nodes = spec.ha.nodes
    out = {
        "hot_standby": policy("on", "standbys answer read-only queries (DATABASE_REPLICA_URL)"),
        "hot_standby_feedback": policy("on", "a long read on a standby is not cancelled by the primary's vacuum; the "
                                             "cost is bloat on the primary while it runs"),
        "max_standby_streaming_delay": Setting(30_000, "PostgreSQL's default 30s: a standby holds WAL replay at "
                                                       "most this long for a conflicting read, which bounds its lag",
                                               "policy", text="30s", unit="ms"),
        "max_wal_senders": Setting(nodes + 4, f"{nodes - 1} standby(s), a node rejoining, pg_basebackup and "
                                              "pgBackRest, with room for one more", rule="the standbys + 4"),
        "max_replication_slots": Setting(nodes + 4, "one slot per node (Patroni keeps one for each member) and "
                                                    "room for a rejoining node", rule="the nodes + 4"),
        "wal_log_hints": policy("on", "pg_rewind brings a failed primary back as a standby (Patroni use_pg_rewind)"),
        "wal_keep_size": policy("128MB", "Patroni's default: a standby without a slot yet (one rejoining) finds the "
                                         "last 128MB of WAL; slots keep what the others still need"),
    }
    if wal_disk_bytes:
        cap = int(wal_disk_bytes * SLOT_WAL_SHARE) // MIB
        out["max_slot_wal_keep_size"] = Setting(
            cap * MIB, f"{SLOT_WAL_SHARE:.0%} of postgres.wal_disk: a standby that far behind loses its slot (and is "
                       "rebuilt) before pg_wal fills the disk and stops the primary", text=f"{cap}MB", unit="bytes",
            rule=f"{SLOT_WAL_SHARE:.0%} of the WAL disk")
    return out


def connection_floor(spec: StackSpec) -> tuple[int, str]:
    """Fewer max_connections than Patroni accepts would leave every node on Patroni's 100."""
    if spec.ha.enabled:
        return MIN_MAX_CONNECTIONS, f"Patroni's minimum of {MIN_MAX_CONNECTIONS} (it runs 100 below that)"
    return PGTUNE_MIN_CONNECTIONS, "pgtune's minimum of 20"


def _on_machine(spec: StackSpec) -> dict[str, tuple[int, int]]:
    """Host entry → (PostgreSQL nodes, etcd members) on its busiest machine."""
    nodes, members = pg_nodes(spec), etcd_members(spec)
    out = {}
    for h in spec.hosts:
        per = [(sum(1 for n in nodes if (n.host, n.machine) == (h.name, m)),
                sum(1 for e in members if (e.host, e.machine) == (h.name, m))) for m in range(h.count)]
        out[h.name] = max(per)
    return out


def ha_shares(spec: StackSpec, shares: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Each host's shares once Patroni and etcd take theirs: etcd from PostgreSQL's share or the
    app's (the cache host's free memory is its budget's), and the nodes on one machine split
    PostgreSQL's share evenly. A node's share below PostgreSQL's minimum is the planner's
    shortfall (share_shortfalls): replicas on a host without room for them."""
    if not spec.ha.enabled:
        return shares
    out = {}
    for name, (nodes, members) in _on_machine(spec).items():
        share = dict(shares[name])
        if "postgres" in share:
            share["postgres"] = (share["postgres"] - members * ETCD_MEMORY - nodes * PATRONI_MEMORY) // max(1, nodes)
        elif "app" in share:
            share["app"] -= members * ETCD_MEMORY
        out[name] = share
    return out


def ha_memory_items(spec: StackSpec, pg_worst: tuple[int, str]) -> dict[str, list[tuple[str, int]]]:
    """What Patroni, the standbys and etcd add to each host's memory budget (memory.memory_items
    has the first PostgreSQL server already)."""
    if not spec.ha.enabled:
        return {}
    worst, how = pg_worst
    out: dict[str, list[tuple[str, int]]] = {}
    for name, (nodes, members) in _on_machine(spec).items():
        items = [(f"PostgreSQL node {i + 1} worst case ({how})", worst) for i in range(1, nodes)]
        items += [("Patroni", PATRONI_MEMORY)] * nodes + [("etcd member", ETCD_MEMORY)] * members
        out[name] = items
    return out


def ha_alerts(spec: StackSpec, scope: str, members: int) -> list[dict]:
    """On Patroni's own metrics (its REST API's GET /metrics: patroni_primary, patroni_sync_standby,
    patroni_xlog_location, patroni_xlog_replayed_location, patroni_postgres_timeline) and etcd's
    (etcd_server_has_leader): what an on-call person acts on. A count or sum over series that are
    all gone (every member down, none scraped) is no value at all, not 0: `or vector(0)` makes it 0,
    or the alert could not fire when things are worst."""
    ha = spec.ha
    lag = ha.rpo_bytes or 16 * MIB
    on = f'{{scope="{scope}"}}'
    alerts = [
        {"alert": "PostgresNoPrimary", "expr": f"(sum(patroni_primary{on}) or vector(0)) < 1", "for": "1m", "severity": "critical",
         "summary": "no node is the primary: writes fail until Patroni elects one (patronictl list says why)"},
        {"alert": "PostgresReplicaLagging", "for": "2m", "severity": "warning",
         "expr": f"max(patroni_xlog_location{on}) - min(patroni_xlog_replayed_location{on} and on(instance) "
                 f"patroni_replica{on} == 1) > {lag}",
         "summary": f"a standby has replayed over {format_bytes_human(lag)} less than the primary wrote"
                    + (": beyond the RPO, it may not take over" if ha.rpo_bytes else ": its reads are stale")},
        {"alert": "PostgresFailoverHappened", "for": "0m", "severity": "warning",
         "expr": f"changes(max(patroni_postgres_timeline{on})[15m:1m]) > 0",
         "summary": "the timeline moved: a failover or switchover happened in the last 15 minutes; check why "
                    "(patronictl history) and that the old primary rejoined"},
        {"alert": "EtcdMemberDown", "for": "1m", "severity": "warning",
         "expr": f'(count(etcd_server_has_leader{{job="etcd"}} == 1) or vector(0)) < {members}',
         "summary": f"fewer than {members} etcd members answer with a leader: "
                    + ("one more lost and Patroni demotes the primary (no quorum)" if members > 1
                       else "Patroni demotes the primary while etcd is down")},
    ]
    if ha.rpo_bytes == 0:
        alerts.insert(1, {"alert": "PostgresNoSynchronousStandby", "for": "1m", "severity": "critical",
                          "expr": f"(sum(patroni_sync_standby{on}) or vector(0)) < 1",
                          "summary": "no synchronous standby: commits are acknowledged by the primary alone, and "
                                     "Patroni fails over to no one until a standby is synchronous again"})
    return alerts


def with_ha(plan):
    """The plan with section `ha` (Patroni's nodes and dynamic configuration, etcd's members) and
    the standby settings in postgresql.conf; a plan without replicas unchanged."""
    spec = plan.spec
    if not spec.ha.enabled:
        return plan
    if plan.placement.docker and machines(spec.hosts) == 1:
        raise StackError([Problem(spec.path, "config → tunestack:postgres → replicas", spec.ha.replicas,
                                  "0 for containers on one machine: the Pulumi program runs one node per db "
                                  "machine, and standbys beside their primary die with it",
                                  "give the db host count: replicas + 1 with one address each, or try a failover "
                                  "on one machine with the local-ha stack (`tunestack up --stack local-ha`)")])
    nodes, members = pg_nodes(spec), etcd_members(spec)
    if "etcd" in plan.tls:   # across machines: etcd's traffic and Patroni's REST API leave the host
        nodes, members = tuple(replace(n, tls=True) for n in nodes), tuple(replace(m, tls=True) for m in members)
    scope = f"{spec.name}{SCOPE_SUFFIX}"
    ha = {
        "scope": policy(scope, "Patroni's cluster name (its keys in etcd live under /service/<scope>)"),
        "nodes": Setting(nodes, f"the primary and {spec.ha.replicas} standby(s), "
                                + ("all on the one machine (a trial: a lost machine loses all)" if nodes[0].machine
                                   == nodes[-1].machine else "one machine each"), "computed",
                         text=",".join(n.name for n in nodes)),
        "etcd members": Setting(members, f"{len(members)} member(s) on distinct machines: "
                                         + ("a quorum survives losing one" if len(members) > 1 else
                                            "one machine, one member (a trial)"), "computed",
                                text=",".join(e.name for e in members)),
        **patroni_settings(spec),
        "watchdog": policy("off", "these machines have no /dev/watchdog, so nothing resets a hung Patroni whose "
                                  "PostgreSQL still runs as primary; the load balancer takes it out (a hung Patroni "
                                  "fails the /primary check) while a standby takes over after ttl, and once it "
                                  "wakes it may serve until its Patroni's next loop demotes it (Patroni 3.1+, which "
                                  "tunestack pins, keeps it from the leader race: PR #2787): load softdog and set "
                                  "watchdog: required where that matters"),
        "replica port": Setting(spec.ha.replica_service_port(spec.postgres.port, machines(spec.hosts) == 1),
                                "the load balancer's read-only service: the standbys, or the primary when no "
                                "standby is fit to serve (DATABASE_REPLICA_URL through PgBouncer's app_replica)",
                                rule="postgres.port + 1, above the nodes on a shared machine"),
        "replica lag at most": Setting(REPLICA_LAG_BYTES, "a standby further behind than 16 MiB of WAL (seconds at "
                                                          "peak) serves no reads: Patroni's GET /replica?lag= answers "
                                                          "503 for it", "policy", text="16MiB", unit="bytes"),
        "primary check": policy("GET /primary", "the load balancer sends clients to the node whose Patroni answers "
                                                "200 on /primary (Patroni REST API); replicas answer 503"),
        **({"tls": policy("etcd peers and clients, Patroni's REST API", "the members and nodes are on several "
                          "machines: etcd's peer and client traffic is TLS, each peer verified against the stack's "
                          "CA (--peer-client-cert-auth); Patroni's REST API serves HTTPS, and the proxy's checks "
                          "and Patroni's own requests verify it")} if "etcd" in plan.tls else {}),
    }
    postgres = {**plan.postgres, **standby_settings(spec, spec.postgres.wal_disk_bytes)}
    containers = ha_container_limits(spec, plan.containers) if plan.placement.docker else plan.containers
    return replace(plan, ha=ha, postgres=postgres, alerts=plan.alerts + ha_alerts(spec, scope, len(members)),
                   containers=containers,
                   web_env=with_replica_url(plan.web_env), jobs_env=with_replica_url(plan.jobs_env))


ETCD_CPUS = 0.25   # Patroni's few keys: a heartbeat per loop_wait per node


def ha_container_limits(spec: StackSpec, containers: dict[str, list]) -> dict[str, list]:
    """Containers with standbys: each node's container holds Patroni beside PostgreSQL (its share
    was taken from PostgreSQL's, ha_shares), and each etcd member is a container of its own."""
    from .memory import ContainerLimit

    out = {}
    members = {e.host for e in etcd_members(spec)}
    for host, limits in containers.items():
        limits = [replace(c, memory_bytes=c.memory_bytes + PATRONI_MEMORY, reason=c.reason + "; Patroni beside it")
                  if c.service == "postgres" else c for c in limits]
        if host in members:
            limits.append(ContainerLimit("etcd", ETCD_MEMORY, ETCD_CPUS, "etcd holding Patroni's keys"))
        out[host] = limits
    return out


REPLICA_DATABASE = "app_replica"   # PgBouncer's database for reads on the standbys


def with_replica_url(env: dict[str, Setting]) -> dict[str, Setting]:
    """DATABASE_REPLICA_URL beside DATABASE_URL: the same role through the same PgBouncer, to its
    read-only database (Rails: connects_to reading:; others: a second pool for reads)."""
    url = env["DATABASE_URL"].value
    return {**env, "DATABASE_REPLICA_URL": Setting(
        url.rsplit("/", 1)[0] + f"/{REPLICA_DATABASE}",
        "reads that may be a little stale, through PgBouncer to the standbys (replica lag at most 16MiB); "
        "writes there fail (read-only)", "computed")}
