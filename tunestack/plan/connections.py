"""Connections end to end: the fleet's clients (with the rollout surge), PgBouncer's server pool and
reserve, max_client_conn, PostgreSQL's max_connections and PgBouncer's file descriptors.

Pure: per-host client counts and the db host's shape in, counts out."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..stackfile.spec import HostSpec, PgBouncerSpec, TrafficSpec
from ..units import round_up
from .kernel import NOFILE_SPARE
from .setting import Setting

SUPERUSER_RESERVED = 3          # PostgreSQL's default superuser_reserved_connections
PGTUNE_MIN_CONNECTIONS = 20     # pgtune refuses fewer (max_wal_senders must stay below it)
BURST = 2                       # peaks within the peak: Poisson arrivals are busier than their mean
MIN_POOL = 2                    # one slow query never holds the only connection


@dataclass(frozen=True)
class Fleet:
    app_hosts: int          # machines, counts included
    clients: int            # DB connections the whole fleet may open
    surge_hosts: int        # extra machines while old and new run side by side
    surge_per_host: int     # clients of the widest host
    with_surge: int
    canary: int = 0         # clients of a canary that runs beside stable, besides the surge


def fleet(per_host_clients: dict[str, int], counts: dict[str, int], max_surge_percent: int,
          canary_host: str | None = None) -> Fleet:
    """`per_host_clients`: host name → DB connections one machine opens; `counts`: machines per host;
    `canary_host`: where a canary runs in a slot of its own beside stable (Docker), if it does: at
    its promotion the old, the new and the canary generation run at once."""
    machines = sum(counts.values())
    clients = sum(per_host_clients[h] * counts[h] for h in counts)
    widest = max(per_host_clients.values())
    surge = math.ceil(machines * max_surge_percent / 100) if max_surge_percent else 0
    canary = per_host_clients[canary_host] if canary_host else 0
    return Fleet(machines, clients, surge, widest, clients + surge * widest + canary, canary)


@dataclass(frozen=True)
class Connections:
    pool: Setting            # default_pool_size
    reserve: int
    server: int              # pool + reserve: max_db_connections
    max_client_conn: Setting
    max_connections: Setting
    nofile: Setting          # PgBouncer's LimitNOFILE


# A data warehouse runs few long queries, each with parallel workers on the same cores (PostgreSQL
# docs, parallel query): one connection per physical core, not the wiki's 2 × cores for short ones.
FEW_LONG_QUERIES = ("dw",)


def server_pool(bouncer: PgBouncerSpec, db: HostSpec, clients: int, workload: str = "web") -> Setting:
    """PostgreSQL wiki, "Number Of Database Connections": active connections ≈ 2 × cores + spindles
    for many short queries; a data warehouse's few long ones get one per core (their parallel
    workers take the rest). Session mode gives every client its own server connection."""
    if bouncer.default_pool_size:
        return Setting(bouncer.default_pool_size, "set in the stack file", "override")
    if bouncer.pool_mode == "session":
        return Setting(clients, "session mode: every client holds a server connection")
    spindles = 1 if db.storage == "hdd" else 0
    # The wiki counts physical cores: "core count should not include HT threads".
    cores = db.physical_cores
    if workload in FEW_LONG_QUERIES:
        pool = max(1, cores)
        why = (f"{cores} physical db cores, one connection each: a data warehouse's few long queries run "
               "parallel workers on the rest (PostgreSQL docs, parallel query)")
        rule = "one per physical db core for a data warehouse (few long queries, parallel workers)"
        return Setting(min(pool, clients), why if pool <= clients else why + f", cut to the {clients} clients",
                       rule=rule)
    pool = 2 * cores + spindles
    why = f"PostgreSQL wiki: 2 × {cores} physical db cores" + (
        f" ({db.cpus} vCPUs / {db.threads_per_core} threads per core)" if db.threads_per_core > 1 else "") + (
        " + 1 spindle" if spindles else "")
    rule = "PostgreSQL wiki: 2 × the db host's physical cores" + (" + 1 spindle" if spindles else "")
    if pool > clients:
        pool, why = clients, why + f", cut to the {clients} clients that exist"
        rule = "no more than the clients that exist"
    return Setting(pool, why, rule=rule)


def by_load(cores: Setting, bouncer: PgBouncerSpec, traffic: TrafficSpec | None) -> Setting:
    """The pool the load needs, by Little's law (busy connections = arrival rate × time each holds
    one), twice that for bursts, never more than the cores rule allows (more active connections
    than cores only queue inside PostgreSQL). Without `traffic.db_time_per_request` the cores rule
    stands; a pool set in the stack file or session mode is left alone."""
    if traffic is None or traffic.db_time_ms is None or cores.source == "override" or bouncer.pool_mode == "session":
        return cores
    busy = traffic.peak_rps * traffic.db_time_ms / 1000
    wanted = max(MIN_POOL, math.ceil(BURST * busy))
    load = (f"Little's law: {traffic.peak_rps:g} req/s × {traffic.db_time_ms:g} ms of database time = {busy:.1f} "
            f"busy connections at peak, × {BURST} for bursts = {wanted}")
    if wanted < cores.value:
        return Setting(wanted, f"{load} (at least {MIN_POOL}), below the cores' {cores.value} ({cores.reason})",
                       rule="Little's law: peak rate × database time per request × 2, bounded by the cores rule")
    return Setting(cores.value, f"{cores.reason}; the load would keep {wanted} busy ({load}): the cores bound it, "
                                "and requests wait in PgBouncer at peak", rule=cores.rule)


def plan_connections(bouncer: PgBouncerSpec, db: HostSpec, clients: int, admin_connections: int,
                     workload: str = "web", traffic: TrafficSpec | None = None,
                     floor: tuple[int, str] = (PGTUNE_MIN_CONNECTIONS, "pgtune's minimum of 20")) -> Connections:
    """`floor`: the fewest max_connections the server may get, and whose rule it is."""
    pool = by_load(server_pool(bouncer, db, clients, workload), bouncer, traffic)
    reserve = max(1, pool.value // 5)
    server = pool.value + reserve
    if bouncer.max_client_conn:
        max_client = Setting(bouncer.max_client_conn, "set in the stack file", "override")
    else:
        max_client = Setting(clients + max(10, math.ceil(clients * 0.1)),
                             f"{clients} fleet connections incl. rollout surge + 10% (at least 10) for admin "
                             "and stats clients")
    derived = server + admin_connections + SUPERUSER_RESERVED
    why = (f"{pool.value} pool + {reserve} reserve (PgBouncer) + {admin_connections} direct (admin, "
           f"migration, monitoring) + {SUPERUSER_RESERVED} superuser_reserved_connections")
    rule = ("PgBouncer's pool + reserve + direct admin/migration connections + "
            f"superuser_reserved_connections, at least {floor[1]}")
    if derived < floor[0]:
        derived, why = floor[0], why + f" = {derived}, raised to {floor[1]}"
    nofile = max_client.value + server + NOFILE_SPARE
    nofile_setting = Setting(round_up(nofile, 1024),
                             f"max_client_conn {max_client.value} + {server} server connections + 64 (PgBouncer "
                             "manual: fds exceed max_client_conn), rounded up to 1024",
                             rule="max_client_conn + server connections + 64 (PgBouncer manual: fds exceed "
                                  "max_client_conn), rounded up to 1024")
    return Connections(pool, reserve, server, max_client, Setting(derived, why, rule=rule), nofile_setting)
