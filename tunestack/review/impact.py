"""What a change does to running servers, from the changed settings alone (pure): which need a
PostgreSQL or PgBouncer restart, a change on the host (kernel, limits), a rolling restart of the
app, or a replacement of containers; which settings drop sharply (a risky decrease); and what
changed in the stack file's own shape (hosts, counts, instance types, workload)."""
from __future__ import annotations

from ..choices import PG_VERSIONS
from ..postgres.catalog import catalog
from ..render import PGBOUNCER_AT_START

RISKY_DROP = 0.25     # a setting that loses a quarter or more of its value is worth a second look
# Sections whose settings live in resources, not in the servers' own files.
APP_SECTIONS = ("app", "web env", "jobs env")


def restarts(changes) -> list[str]:
    """One line per kind of disruption the changes cause, naming the settings behind it."""
    postmaster = {name for name, guc in catalog(PG_VERSIONS[-1]).items() if guc.context == "postmaster"}
    kinds: dict[str, list[str]] = {}

    def add(kind: str, name: str) -> None:
        kinds.setdefault(kind, []).append(name)
    for c in changes:
        if c.section == "postgresql.conf" and c.name in postmaster:
            add("PostgreSQL restart", c.name)
        elif c.section == "pgbouncer.ini" and c.name in PGBOUNCER_AT_START:
            add("PgBouncer restart", c.name)
        elif c.section.startswith(("host kernel", "kernel ", "limits ")):
            add("host change (kernel or limits, applied by the operator)", f"{c.section}: {c.name}")
        elif c.section in APP_SECTIONS:
            add("rolling app restart", f"{c.section}: {c.name}")
        elif c.section.startswith("redis ") and c.name in ("port", "bind"):
            add("Redis restart", f"{c.section}: {c.name}")
    return [f"{kind}: {', '.join(names)}" for kind, names in kinds.items()]


def risky_decrease(change) -> bool:
    """A number that falls by RISKY_DROP or more (max_wal_size 24GB → 12GB, a pool halved)."""
    old, new = change.old, change.new
    if change.kind != "changed" or isinstance(old, bool) or isinstance(new, bool):
        return False
    if not isinstance(old, (int, float)) or not isinstance(new, (int, float)) or old <= 0:
        return False
    return (old - new) / old >= RISKY_DROP


SHAPE_KEYS = ("roles", "count", "instance_type", "cpus", "memory", "storage")


def stack_file_changes(base: dict | None, head: dict | None) -> list[str]:
    """What changed in the stack file's shape, host by host, then the workload: what a reviewer
    reads first."""
    if not base or not head:
        return []
    out = []
    old_hosts = {h.get("name"): h for h in base.get("tunestack:hosts") or [] if isinstance(h, dict)}
    new_hosts = {h.get("name"): h for h in head.get("tunestack:hosts") or [] if isinstance(h, dict)}
    for name in sorted(set(old_hosts) | set(new_hosts), key=str):
        old, new = old_hosts.get(name), new_hosts.get(name)
        if old is None or new is None:
            out.append(f"host {name} {'added' if old is None else 'removed'}")
            continue
        for key in SHAPE_KEYS:
            if old.get(key) != new.get(key):
                out.append(f"host {name}: {key} {old.get(key, '—')} → {new.get(key, '—')}")
    for section, key in (("tunestack:postgres", "version"), ("tunestack:postgres", "workload"),
                         ("tunestack:app", "framework"), ("tunestack:traffic", "peak_rps")):
        a, b = (base.get(section) or {}).get(key), (head.get(section) or {}).get(key)
        if a != b:
            out.append(f"{section.split(':')[1]}.{key}: {a} → {b}")
    return out
