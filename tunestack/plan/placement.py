"""Where every service listens, how its clients reach it, and what each host publishes.

Decided once, here, for the three shapes tunestack runs: services as packages on hosts (the local
stack and bare hosts), Docker on one host, and Docker on many hosts. The planner, the renders, the
Pulumi program and the checks all ask this object; none of them decides it again.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..choices import TARGETS
from ..stackfile.spec import HostSpec, StackSpec
from ..targets import is_local_stack
from .rollout import canary_takes_every_replica

LISTEN_WHY = {
    "hosts": "the host's private address only",
    "docker": "every interface inside the container; the host publishes the port on its private address "
              "only for clients on other hosts",
}
LB_BIND_WHY = {"hosts": "the cache host's private address",
               "docker": "inside the container; published on the cache host's address"}
# Which host role runs each service, and who its clients are.
SERVICE_ROLE = {"postgres": "db", "pgbouncer": "db", "redis-cache": "cache", "redis-queue": "cache",
                "haproxy": "cache"}


def service_role(spec: StackSpec, service: str, docker: bool) -> str:
    """SERVICE_ROLE, but for containers with standbys (postgres.replicas): PgBouncer runs beside the
    load balancer, whose primary service reaches whichever node leads, so that losing a db machine,
    the primary's included, never takes the pooler with it."""
    if service == "pgbouncer" and docker and spec.ha.enabled:
        return "cache"
    return SERVICE_ROLE[service]


def runs_pgbouncer(spec: StackSpec, host: HostSpec, docker: bool) -> bool:
    return spec.host_with(service_role(spec, "pgbouncer", docker)).name == host.name


def container_name(stack: str, service: str) -> str:
    """The container (and private-network alias) of a service: `<stack>-<service>`."""
    return f"{stack}-{service}"


@dataclass(frozen=True)
class Spot:
    """One service's place: its host, where it binds, how clients reach it, what is published."""
    service: str
    host: HostSpec
    listen: str
    reach: str                 # the address its clients connect to
    publish: str | None        # Docker: the host address its port is published on; None = not published


@dataclass(frozen=True)
class ReplicaSpot:
    """One app replica, as the load balancer sees it."""
    name: str
    host: HostSpec
    index: int                 # position in the fleet, 0-based
    machine: int               # which of the host entry's `count` machines
    address: str               # how the load balancer reaches it
    port: int
    publish: str | None        # Docker: published on this address for a load balancer on another host


@dataclass(frozen=True)
class Placement:
    stack: str
    target: str
    spots: dict[str, Spot]
    replicas: tuple[ReplicaSpot, ...]
    canary: ReplicaSpot | None     # the canary's own slot beside the stable replicas, or None
    app_bind: str                  # the address app servers bind

    @property
    def docker(self) -> bool:
        return self.target == "docker"

    @property
    def app_slots(self) -> tuple[ReplicaSpot, ...]:
        """Every app server the load balancer has: the replicas, then the canary's slot if any."""
        return self.replicas + ((self.canary,) if self.canary else ())

    @property
    def listen_why(self) -> str:
        return LISTEN_WHY[self.target]

    def __getitem__(self, service: str) -> Spot:
        return self.spots[service]


def place(spec: StackSpec, target: str) -> Placement:
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: one of {TARGETS}")
    docker = target == "docker"
    app_hosts = spec.app_hosts()

    def only_clients_here(host: HostSpec) -> bool:
        return all(h.name == host.name for h in app_hosts)

    spots: dict[str, Spot] = {}
    for service in SERVICE_ROLE:
        role = service_role(spec, service, docker)
        host = spec.host_with(role)
        if service == "haproxy":   # the entry point: users reach it on the host's address
            listen = "0.0.0.0" if docker else host.address
            spots[service] = Spot(service, host, listen, host.address, host.address if docker else None)
            continue
        if service == "postgres" and docker and spec.ha.enabled:
            spots[service] = cluster_spot(spec, host)
            continue
        listen = ("*" if role == "db" else "0.0.0.0") if docker else host.address
        # Docker clients on the same host use the private network's alias; others the host address.
        same_host = service == "postgres" or only_clients_here(host)   # PgBouncer is postgres' client
        reach = container_name(spec.name, service) if docker and same_host else host.address
        published = docker and (not only_clients_here(host) or not host.is_local)
        spots[service] = Spot(service, host, listen, reach, host.address if published else None)

    lb_host = spots["haproxy"].host
    replicas = []
    for host in app_hosts:
        for machine in range(host.count):
            name = container_name(spec.name, f"app-web-{len(replicas) + 1}")
            beside_lb = docker and host.name == lb_host.name
            address = host.addresses[machine] if host.addresses else host.address
            replicas.append(ReplicaSpot(name, host, len(replicas), machine, name if beside_lb else address,
                                        spec.app.port, None if beside_lb or not docker else address))
    canary = None
    if not docker and is_local_stack(spec):
        canary = ReplicaSpot(container_name(spec.name, "app-canary"), app_hosts[0], len(replicas), 0,
                             app_hosts[0].address, spec.app.canary_port, None)
    elif docker and canary_takes_every_replica(len(replicas), spec.rollout.steps):
        canary = docker_canary_slot(spec, app_hosts[0], lb_host, len(replicas))
    app_bind = "127.0.0.1" if app_hosts[0].is_local and not docker else "0.0.0.0"
    return Placement(spec.name, target, spots, tuple(replicas), canary, app_bind)


def cluster_spot(spec: StackSpec, db: HostSpec) -> Spot:
    """PostgreSQL under Patroni in containers: every node listens on all of its container's
    interfaces and publishes its port on its own machine's address (the other nodes stream from
    it, the load balancer checks it); clients reach the load balancer's primary service by the
    alias <stack>-postgres on the cache host's private network."""
    return Spot("postgres", db, "*", container_name(spec.name, "postgres"), db.addresses[0] if db.addresses else db.address)


def docker_canary_slot(spec: StackSpec, host: HostSpec, lb_host: HostSpec, index: int) -> ReplicaSpot:
    """A canary container of its own on the first app machine, beside the stable replica(s): reached
    by its name on the load balancer's host, else published on the app port + 100 of its machine
    (the stable replica holds the app port there)."""
    name = container_name(spec.name, "app-web-canary")
    if host.name == lb_host.name:
        return ReplicaSpot(name, host, index, 0, name, spec.app.port, None)
    address = host.addresses[0] if host.addresses else host.address
    return ReplicaSpot(name, host, index, 0, address, spec.app.canary_port, address)
