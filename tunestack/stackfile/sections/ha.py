"""postgres.replicas, rpo, rto and etcd_hosts: PostgreSQL with standbys under Patroni. Refused here:
an RPO or RTO without a replica, an RTO below what Patroni's minimum ttl allows, PostgreSQL nodes
sharing a machine on a stack of several machines, and etcd members that are not 1, 3 or 5 distinct
machines (a quorum has to survive the loss of one)."""
from __future__ import annotations

from collections import Counter

from ...postgres.patroni import min_rto_s
from ..checker import Checker
from ..schema import NS
from ..spec import HaSpec, HostSpec

KEY = f"{NS}:postgres"
HA_KEYS = ("rpo", "rto", "etcd_hosts", "patroni_port", "etcd_port")
MAX_RTO_MS = 600_000
ETCD_SIZES = (1, 3, 5)   # etcd FAQ: odd sizes; 3 survives one lost member, 5 two


def machines(hosts: tuple[HostSpec, ...]) -> int:
    return sum(h.count for h in hosts)


def _rpo(ck: Checker, c: dict) -> int:
    value = c.get("rpo", 0)
    if value in (0, "0"):
        return 0
    return ck.size([KEY, "rpo"], value) or 0


def _rto(ck: Checker, c: dict) -> int:
    ms = ck.duration([KEY, "rto"], c.get("rto"), whole_seconds=True)
    if ms is None:
        return HaSpec.rto_ms
    if ms and not min_rto_s() * 1000 <= ms <= MAX_RTO_MS:
        ck.problem([KEY, "rto"], c["rto"], f"from {min_rto_s()}s to 10min: Patroni's leader key lives at least 20 s "
                   "(its minimum ttl), and a standby needs a loop, a promotion and a health check on top",
                   f"write {min_rto_s()}s or more, e.g. 30s")
    return ms


def _db_machines(ck: Checker, hosts: tuple[HostSpec, ...], replicas: int) -> None:
    """One machine per node, or one machine for everything (a local trial): standbys on the
    primary's machine die with it."""
    db = next(h for h in hosts if "db" in h.roles)
    if machines(hosts) > 1 and db.count != replicas + 1:
        index = hosts.index(db)
        ck.problem([f"{NS}:hosts", index, "count"], db.count,
                   f"{replicas + 1}: one machine per PostgreSQL node (postgres.replicas: {replicas} + the primary); "
                   "a standby on the primary's machine is lost with it",
                   f"set count: {replicas + 1} and one address per machine on host {db.name}")


def _etcd_hosts(ck: Checker, c: dict, hosts: tuple[HostSpec, ...]) -> tuple[str, ...]:
    names = tuple(c.get("etcd_hosts") or ())
    path = [KEY, "etcd_hosts"]
    if not names:
        if machines(hosts) == 2:
            ck.problem(path, "(unset)", "3 machines for etcd: a quorum has to survive losing one, and this stack "
                       "has 2", "add a host (an etcd member needs 256 MiB), or name 3 hosts in etcd_hosts")
        return ()
    count = {h.name: h.count for h in hosts}
    unknown = [n for n in names if n not in count]
    crowded = [n for n, k in Counter(names).items() if n in count and k > count[n]]
    if unknown:
        ck.problem(path, unknown[0], "a host of this stack file: " + ", ".join(count), "name hosts of the stack")
    elif crowded:
        ck.problem(path, crowded[0], f"at most {count[crowded[0]]} member(s) on host {crowded[0]} (its count): two "
                   "etcd members on one machine fall together, and the quorum with them", "name distinct hosts")
    elif len(names) not in ETCD_SIZES or (len(names) == 1 and machines(hosts) > 1):
        ck.problem(path, list(names), "3 or 5 hosts (1 only on a one-machine stack): an odd number, so a quorum "
                   "survives losing one (etcd FAQ)", "name 3 hosts")
    return names


def ha(ck: Checker, hosts: tuple[HostSpec, ...]) -> HaSpec:
    c = ck.config[KEY]
    replicas = c.get("replicas", 0)
    if not replicas:
        for key in HA_KEYS:
            if key in c:
                ck.problem([KEY, key], c[key], "only with postgres.replicas of 1 or more: "
                           + ("a synchronous commit needs a standby to wait for" if key == "rpo"
                              else "one server has nothing to fail over to"),
                           f"set postgres.replicas: 1, or remove {key}")
        return HaSpec()
    _db_machines(ck, hosts, replicas)
    return HaSpec(replicas=replicas, rpo_bytes=_rpo(ck, c), rto_ms=_rto(ck, c), etcd_hosts=_etcd_hosts(ck, c, hosts),
                  patroni_port=c.get("patroni_port", HaSpec.patroni_port),
                  etcd_port=c.get("etcd_port", HaSpec.etcd_port))

