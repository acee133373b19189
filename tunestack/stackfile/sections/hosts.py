"""tunestack:hosts: names, roles, counts, addresses, and each host's shape (an AWS instance type,
or cpus + memory)."""
from __future__ import annotations

import difflib
import ipaddress

from ...errors import MISSING
from ...targets import is_address
from ...units import MIB, TIB
from ..aws import UnknownInstanceType, known_types
from ..checker import Checker
from ..schema import NS
from ..spec import DEFAULT_STORAGE, LOOPBACK, HostSpec

MIN_DB_MEMORY = 512 * MIB   # pgtune refuses less than 512MB of memory
MAX_HOST_MEMORY = 16 * TIB  # 25% of it stays inside PostgreSQL's shared_buffers range
KEY = f"{NS}:hosts"


def _shape(ck: Checker, h: dict, p: list):
    """(cpus, memory bytes, source, threads per core, storage, instance storage), or None after a
    problem. Instance storage: what an instance type has ("" none: EBS only), None without a type."""
    storage = h.get("storage")
    if "instance_type" in h:
        try:
            shape = ck.resolver.resolve(h["instance_type"])
        except UnknownInstanceType:
            close = difflib.get_close_matches(h["instance_type"], known_types(), n=1)
            ck.problem(p + ["instance_type"], h["instance_type"], "a known AWS instance type",
                       f"did you mean '{close[0]}'?" if close else "use cpus and memory instead")
            return None
        return (shape.vcpus, shape.memory_mib * MIB, shape.source, shape.threads_per_core,
                storage or shape.instance_storage or DEFAULT_STORAGE, shape.instance_storage or "")
    missing = [k for k in ("cpus", "memory") if k not in h]
    if missing:
        ck.problem(p + [missing[0]], MISSING, "cpus and memory, or an instance_type",
                   f"add {' and '.join(missing)}, or an instance_type")
        return None
    return (h["cpus"], ck.size(p + ["memory"], h["memory"]), "stack file", h.get("threads_per_core", 1),
            storage or DEFAULT_STORAGE, None)


def _not_one_machine(address: str) -> str | None:
    """Why an address names no single machine: every address, a broadcast or a multicast group."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.is_unspecified:
        return "every address of a machine"
    if ip.is_multicast or (ip.version == 4 and ip == ipaddress.ip_address("255.255.255.255")):
        return "a broadcast or multicast address"
    return None


def _addresses(ck: Checker, h: dict, p: list, count: int) -> tuple[str, ...]:
    addresses = tuple(h.get("addresses", ()))
    for i, address in enumerate(addresses):
        if not is_address(address):
            ck.problem(p + ["addresses", i], address, "an IP address or a host name (RFC 1123)",
                       "write the host's private address, e.g. 10.0.1.10")
        elif _not_one_machine(address):
            ck.problem(p + ["addresses", i], address, f"the address of one machine, not {_not_one_machine(address)}",
                       "write the host's own private address, e.g. 10.0.1.10")
    if addresses and len(addresses) != count:
        ck.problem(p + ["addresses"], list(addresses), f"exactly {count} address(es), one per host",
                   "list one address per host or set count to match")
    return addresses


def _machines_wanted(ck: Checker, roles: list[str]) -> int:
    """The most machines a host with these roles may have: any for app hosts; one per PostgreSQL
    node (postgres.replicas) or queue node (redis.queue.replicas) for db and cache hosts, so that a
    replica never shares its primary's machine. The replica sections check the counts match."""
    if set(roles) == {"app"}:
        return 1 << 30
    config = ck.config
    limits = []
    if "db" in roles:
        limits.append(1 + _count(config.get(f"{NS}:postgres", {}).get("replicas", 0)))
    if "cache" in roles:
        queue = config.get(f"{NS}:redis", {}).get("queue", {})
        limits.append(1 + _count(queue.get("replicas", 0) if isinstance(queue, dict) else 0))
    return min(limits)


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _host(ck: Checker, h: dict, p: list) -> HostSpec | None:
    count = h.get("count", 1)
    if count > 1 and count > _machines_wanted(ck, h["roles"]):
        ck.problem(p + ["count"], count, "1 for hosts with the db or cache role, unless each machine runs a node: "
                   "postgres.replicas + 1 for db, redis.queue.replicas + 1 for cache",
                   "put db and cache on a host of their own with count 1, or set the replicas")
    addresses = _addresses(ck, h, p, count)
    if "instance_type" in h and ("cpus" in h or "memory" in h):
        ck.problem(p + ["instance_type"], h["instance_type"], "either instance_type or cpus + memory",
                   "remove cpus and memory, or remove instance_type")
        return None
    if "instance_type" in h and "threads_per_core" in h:
        ck.problem(p + ["threads_per_core"], h["threads_per_core"], "no threads_per_core beside an instance_type "
                   "(the instance type's own value counts)", "remove threads_per_core")
    shape = _shape(ck, h, p)
    if shape is None:
        return None
    cpus, mem, source, threads, storage, instance_storage = shape
    if threads > cpus:
        ck.problem(p + ["threads_per_core"], threads, f"at most the host's {cpus} CPUs",
                   "write the hardware threads per physical core: 2 with SMT (Intel, AMD), else 1")
    if mem > MAX_HOST_MEMORY:
        ck.problem(p + ["memory"], h.get("memory", h.get("instance_type")), "at most 16TiB",
                   "check the unit: sizes use kB/MB/GB/TB or KiB/MiB/GiB/TiB")
    if "db" in h["roles"] and 0 < mem < MIN_DB_MEMORY:
        ck.problem(p + ["memory"], h.get("memory", h.get("instance_type")),
                   "at least 512MiB on a db host (pgtune's minimum for PostgreSQL)", "give the db host more memory")
    return HostSpec(name=h["name"], roles=tuple(h["roles"]), count=count, cpus=cpus, memory_bytes=mem,
                    storage=storage, shape_source=source, instance_type=h.get("instance_type"),
                    addresses=addresses, threads_per_core=threads, ssh_user=h.get("ssh_user"),
                    instance_storage=instance_storage)


def hosts(ck: Checker) -> tuple[HostSpec, ...]:
    out, names = [], set()
    entries = ck.config[KEY]
    for idx, h in enumerate(entries):
        if h["name"] in names:
            ck.problem([KEY, idx, "name"], h["name"], "a name used once", "rename one of the hosts")
        names.add(h["name"])
        host = _host(ck, h, [KEY, idx])
        if host:
            out.append(host)
    for role in ("db", "cache"):
        holders = [h for h in entries if role in h["roles"]]
        if len(holders) != 1:
            ck.problem([KEY], [h["name"] for h in holders], f"exactly one host with role {role}",
                       f"give the {role} role to one host")
    if not any("app" in h["roles"] for h in entries):
        ck.problem([KEY], [h["name"] for h in entries], "at least one host with role app",
                   "add a host with roles: [app]")
    _machines(ck, entries)
    return tuple(out)


def _machines(ck: Checker, entries: list) -> None:
    """Each address is one machine of one host; a stack is on this machine or on others, not both
    (remote app hosts cannot reach a database on loopback)."""
    seen: dict[str, str] = {}
    for idx, h in enumerate(entries):
        for i, address in enumerate(h.get("addresses", ())):
            if address in seen:
                ck.problem([KEY, idx, "addresses", i], address, f"an address of its own (already {seen[address]})",
                           "one machine is one host of the stack: give it every role it runs, or fix the address")
            seen.setdefault(address, f"{h['name']}'s")
    local = [h["name"] for h in entries if not h.get("addresses") or set(h["addresses"]) <= LOOPBACK]
    remote = [h["name"] for h in entries if h.get("addresses") and not set(h["addresses"]) <= LOOPBACK]
    if local and remote:
        ck.problem([KEY], local, f"every host remote, or every host on this machine (remote: {', '.join(remote)})",
                   f"give {', '.join(local)} its private address: other hosts cannot reach this machine's loopback")
