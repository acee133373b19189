"""Every port the stack listens on, once: the canary slot (app port + 100) included."""
from __future__ import annotations

from ..checker import Checker
from ..schema import NS

# pgBackRest's TLS servers listen here (its default) on the db host and the repository host when a
# Docker stack keeps its backups on another host (plan/backupserver.py): no other service may.
PGBACKREST_TLS_PORT = 8432


def _ha_ports(ha, pg_port: int, shared: bool) -> list[tuple[str, list, int]]:
    """Patroni's nodes, their REST APIs and etcd (stackfile/spec.py HaSpec.node_ports)."""
    if not ha.enabled:
        return []
    out = []
    for i, (node, rest) in enumerate(ha.node_ports(pg_port, shared)):
        if shared:
            out.append((f"PostgreSQL node {i} (postgres.port + {1 + i})", [f"{NS}:postgres", "port"], node))
        out.append((f"Patroni's REST API of node {i}", [f"{NS}:postgres", "patroni_port"], rest))
        if not shared:
            break
    out.append((f"the standbys' read-only service (postgres.port + {ha.replica_service_port(pg_port, shared) - pg_port})",
                [f"{NS}:postgres", "port"], ha.replica_service_port(pg_port, shared)))
    return out + [("etcd's clients", [f"{NS}:postgres", "etcd_port"], ha.etcd_port),
                  ("etcd's peers (etcd_port + 1)", [f"{NS}:postgres", "etcd_port"], ha.etcd_port + 1)]


def _queue_ha_ports(queue_ha, queue_port: int, shared: bool) -> list[tuple[str, list, int]]:
    """The queue's replicas and Sentinels (stackfile/spec.py QueueHaSpec)."""
    out = []
    if shared:
        out += [(f"queue Redis replica {i} (redis.queue.port + {i})", [f"{NS}:redis", "queue", "port"], port)
                for i, port in enumerate(queue_ha.node_ports(queue_port, shared)) if i]
    for i, port in enumerate(queue_ha.sentinel_ports(shared)):
        out.append((f"Redis Sentinel {i}" + (f" (sentinel_port + {i})" if i else ""),
                    [f"{NS}:redis", "queue", "sentinel_port"], port))
        if not shared:
            break
    return out


def _monitoring_ports(monitoring) -> list[tuple[str, list, int]]:
    if not monitoring.enabled:
        return []
    return [(name.replace("_", " "), [f"{NS}:monitoring", "ports", name], port) for name, port in monitoring.ports]


def ports(ck: Checker, hosts, pg, bouncer, cache, queue, app, ha, queue_ha, monitoring) -> None:
    taken = [("postgres", [f"{NS}:postgres", "port"], pg.port),
             ("pgbouncer", [f"{NS}:pgbouncer", "port"], bouncer.port),
             ("redis cache", [f"{NS}:redis", "cache", "port"], cache.port),
             ("redis queue", [f"{NS}:redis", "queue", "port"], queue.port),
             ("app", [f"{NS}:app", "port"], app.port),
             ("load balancer", [f"{NS}:app", "lb_port"], app.lb_port)]
    # A canary beside stable listens on the app port + 100: the local stack's always, a Docker
    # stack's when one app machine holds every replica (plan/placement.py), on that machine.
    taken.append(("the canary (app port + 100)", [f"{NS}:app", "port"], app.canary_port))
    taken.append(("pgBackRest's TLS server", [f"{NS}:backup"], PGBACKREST_TLS_PORT))
    taken += _ha_ports(ha, pg.port, sum(h.count for h in hosts) == 1)
    taken += _queue_ha_ports(queue_ha, queue.port, sum(h.count for h in hosts) == 1)
    taken += _monitoring_ports(monitoring)
    used: dict[int, tuple[str, list]] = {}
    for label, path, port in taken:
        if port > 65535:
            ck.problem(path, app.port, "an app port up to 65435: the canary listens 100 above it", "pick a lower app port")
        elif port in used and "canary" in label:   # blame the key that sits on the canary's port
            ck.problem(used[port][1], port, f"a port other than {port}: a canary beside stable listens on the app port + 100",
                       "pick another port")
        elif port in used and "pgBackRest" in label:   # and on pgBackRest's, which no key sets
            ck.problem(used[port][1], port, f"a port other than {port}: pgBackRest's TLS server listens there when "
                                            "backups cross hosts", "pick another port")
        elif port in used:
            ck.problem(path, port, f"a port not already taken by {used[port][0]}", "pick another port")
        used.setdefault(port, (label, path))
