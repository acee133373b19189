"""What `up` does to each running service, as a pure policy: from the plan applied last time, the
new plan and the files that changed, which server reloads, which restarts, and why."""
from __future__ import annotations

from ..postgres.catalog import catalog
from ..render import PGBOUNCER_AT_START
from .monitoring import actions as monitoring_actions, monitoring_programs
from .sentinel import replica_programs, sentinel_programs

SERVICES_IN_ORDER = ("postgres", "pgbouncer", "redis-cache", "redis-queue", "web", "jobs", "haproxy", "backup-schedule")
# Services that need nothing from each other to start: each group starts at once, after the one
# before it is up (PostgreSQL first: its roles are made before anyone logs in).
START_TOGETHER = (("postgres",), ("pgbouncer", "redis-cache", "redis-queue"),
                  ("web", "jobs", "haproxy", "backup-schedule"))


def services_in_order(plan) -> tuple[str, ...]:
    """SERVICES_IN_ORDER with PostgreSQL's own programs (etcd's and Patroni's when it has standbys)
    and the queue's replicas and Sentinels when it has replicas."""
    from .cluster import postgres_programs

    rest = SERVICES_IN_ORDER[1:]
    at = rest.index("redis-queue") + 1
    return (postgres_programs(plan) + rest[:at] + replica_programs(plan) + sentinel_programs(plan) + rest[at:]
            + monitoring_programs(plan))


def start_groups(plan) -> tuple[tuple[str, ...], ...]:
    """START_TOGETHER with PostgreSQL's programs (etcd before the Patroni nodes, which wait for it),
    the queue's replicas beside its master and the Sentinels after them (`up` points the replicas
    at the master in between), all before the apps; monitoring last, once every login it uses exists
    and every target serves."""
    from .cluster import postgres_programs

    first = postgres_programs(plan)
    etcd = tuple(p for p in first if p.startswith("etcd-"))
    pg = ((etcd, tuple(p for p in first if p not in etcd)) if etcd else (first,))
    servers, apps = START_TOGETHER[1], START_TOGETHER[2]
    sentinels = (sentinel_programs(plan),) if plan.queue_ha else ()
    monitoring = (monitoring_programs(plan),) if monitoring_programs(plan) else ()
    return pg + (servers + replica_programs(plan),) + sentinels + (apps,) + monitoring


def postgres_ready_group(plan) -> int:
    """The index of the start group after which PostgreSQL serves (its last program's)."""
    from .cluster import postgres_programs

    return next(i for i, g in enumerate(start_groups(plan)) if postgres_programs(plan)[-1] in g)


# Redis settings `up` applies live with CONFIG SET: restarting with a changed appendonly loses data.
REDIS_LIVE = ("maxmemory", "maxmemory-policy", "appendonly", "timeout", "tcp-keepalive", "save", "appendfsync")


def postgres_action(plan, applied: dict | None) -> str:
    """A restart when a setting PostgreSQL reads only at start (context postmaster) changed."""
    gucs = catalog(plan.spec.postgres.version)
    before = {k: s["text"] for k, s in applied["settings"]["postgresql.conf"].items()} if applied else {}
    after = {k: s.text for k, s in plan.postgres.items()}
    keys = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    restart = [k for k in keys if k in gucs and gucs[k].context == "postmaster"]
    return f"restart ({', '.join(sorted(restart))} need a restart)" if restart else "reload"


def pgbouncer_action(plan, applied: dict | None) -> str:
    """A restart when a setting PgBouncer reads only at start changed (PgBouncer manual)."""
    before = applied["settings"]["pgbouncer.ini"] if applied else {}
    at_start = sorted(k for k in PGBOUNCER_AT_START
                      if k in plan.pgbouncer and before.get(k, {}).get("text") != plan.pgbouncer[k].text)
    return f"restart ({', '.join(at_start)} need a restart)" if applied and at_start else "reload"


def redis_action(plan, applied: dict | None, role: str, changed: set[str]) -> str:
    before = (applied or {}).get("settings", {}).get(f"redis {role}", {}).get("port", {}).get("value")
    if before not in (None, plan.redis[role]["port"].value) or f"service-secrets/redis-{role}.conf" in changed:
        # A new port or password: restart the instance from its own data folder. Its settings
        # follow its identity (the folder), never whichever process holds a port.
        return "restart (new port or password; data kept in its own folder)"
    # CONFIG SET is idempotent: applying the plan every time also repairs values changed by hand.
    return "config set"


def actions(plan, applied: dict | None, changed: set[str]) -> dict[str, str]:
    """What each running service needs, from the applied plan and the files that changed."""
    out: dict[str, str] = {}
    if changed & {"postgresql.conf", "pg_hba.conf", "pg_ident.conf"} or any(n.startswith("patroni-") for n in changed):
        out["postgres"] = postgres_action(plan, applied)
    if changed & {"pgbouncer.ini", "service-secrets/pgbouncer-userlist.txt"}:
        out["pgbouncer"] = pgbouncer_action(plan, applied)
    for role in ("cache", "queue"):
        out[f"redis-{role}"] = redis_action(plan, applied, role, changed)
    for program in replica_programs(plan):   # the queue's password file is theirs too
        out[program] = ("restart (new password)" if "service-secrets/redis-queue.conf" in changed else "config set")
    for program in sentinel_programs(plan):
        out[program] = "sentinel set"
    if "gunicorn.conf.py" in changed:
        out["web"] = "reload"
    if "puma.rb" in changed:     # preload_app!: only a restart loads a new puma.rb and code
        out["web"] = "restart (puma.rb changed)"
    if "sidekiq.yml" in changed:
        out["jobs"] = "restart (sidekiq.yml changed)"
    if "haproxy.cfg" in changed:
        out["haproxy"] = "reload"
    return out | monitoring_actions(plan, changed)
