"""Stack spec → plan. The only place where a runtime setting is computed.

Order matters and follows the dependencies: host memory is shared out first, then the app's
workers and pools, then the connection budget (fleet → PgBouncer → max_connections), then
PostgreSQL's memory settings through the pgtune recommenders, then Redis, sampling, budgets and
alerts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .budgets import Budget
from .errors import BudgetError
from .postgres import pgtune
from .postgres.catalog import catalog
from .postgres.inputs import PgInputs
from .sampling import Sampling, plan_sampling
from .setting import Setting, fixed
from .rollout_split import Split, beside, reachable_weights, split
from .spec import HostSpec, StackSpec
from .units import (GB_IN_KB, MB_IN_KB, format_bytes_human, format_kb, format_ms, format_seconds,
                    pg_value_in_base_units)

MIB = 1024**2
GIB = 1024**3
SUPERUSER_RESERVED = 3          # PostgreSQL's default superuser_reserved_connections
PGTUNE_MIN_CONNECTIONS = 20     # pgtune refuses fewer (max_wal_senders must stay below it)
GUNICORN_SOFT_CAP = 12          # Gunicorn docs: 4–12 workers serve thousands of requests/s
CACHE_MAXMEMORY_SHARE = 0.75    # no persistence: leave room for fragmentation only
QUEUE_MAXMEMORY_SHARE = 0.5     # AOF rewrite forks copy-on-write: up to 2× in write-heavy cases
WORK_MEM_WORST_CASE = 1.5       # postgresqltuner's default --wmp: work_mem × 150% per connection
PGBOUNCER_MEMORY = 128 * MIB     # one event loop, ~4 kB of buffers per connection: a small fixed slice
HAPROXY_MEMORY = 128 * MIB      # the load balancer runs on the cache host


def os_reserve_bytes(memory: int) -> int:
    """Memory left to the kernel, page tables and sshd: 1/16 of the host, 128 MiB to 2 GiB."""
    return max(128 * MIB, min(2 * GIB, memory // 16))


@dataclass
class HostPlan:
    name: str
    roles: tuple[str, ...]
    count: int
    cpus: int
    memory_bytes: int
    shape_source: str
    addresses: tuple[str, ...]
    memory_items: list[tuple[str, int]] = field(default_factory=list)  # worst case per service

    def to_json(self) -> dict:
        return {"name": self.name, "roles": list(self.roles), "count": self.count, "cpus": self.cpus,
                "memory_bytes": self.memory_bytes, "shape_source": self.shape_source,
                "addresses": list(self.addresses),
                "memory_items": [{"item": k, "bytes": v} for k, v in self.memory_items]}


@dataclass(frozen=True)
class ContainerLimit:
    service: str          # postgres | pgbouncer | redis-cache | redis-queue | haproxy | web | jobs
    memory_bytes: int
    cpus: float
    reason: str

    def to_json(self) -> dict:
        return {"service": self.service, "memory_bytes": self.memory_bytes, "cpus": self.cpus,
                "reason": self.reason}


@dataclass
class Plan:
    stack: str
    spec: StackSpec
    target: str
    hosts: list[HostPlan]
    postgres: dict[str, Setting]
    postgres_roles: dict[str, dict[str, Setting]]
    pgbouncer: dict[str, Setting]
    pgbouncer_service: dict[str, Setting]
    redis: dict[str, dict[str, Setting]]
    app: dict[str, Setting]
    web_env: dict[str, Setting]
    jobs_env: dict[str, Setting]
    sampling: Sampling
    rollout: dict[str, Setting]
    budgets: list[Budget]
    alerts: list[dict]
    warnings: list[str]
    containers: dict[str, list[ContainerLimit]] = field(default_factory=dict)  # per host name
    splits: dict[int, Split] = field(default_factory=dict)  # weight → replicas and LB weights
    loadbalancer: dict[str, Setting] = field(default_factory=dict)
    replicas: list[dict] = field(default_factory=list)  # app replicas: name, host, address, track, weight

    @property
    def violations(self) -> list[Budget]:
        return [b for b in self.budgets if not b.ok]

    def sections(self) -> dict[str, dict[str, Setting]]:
        """Every setting by service, in the order they are shown and diffed."""
        out = {"postgresql.conf": self.postgres}
        for role, settings in self.postgres_roles.items():
            out[f"postgres role {role}"] = settings
        out["pgbouncer.ini"] = self.pgbouncer
        out["pgbouncer service"] = self.pgbouncer_service
        for role, settings in self.redis.items():
            out[f"redis {role}"] = settings
        out["app"] = self.app
        out["web env"] = self.web_env
        out["jobs env"] = self.jobs_env
        out["rollout"] = self.rollout
        out["loadbalancer"] = self.loadbalancer
        return out

    def to_json(self) -> dict:
        return {
            "stack": self.stack,
            "hosts": [h.to_json() for h in self.hosts],
            "settings": {name: {k: s.to_json() for k, s in section.items()}
                         for name, section in self.sections().items()},
            "sampling_rules": list(self.sampling.rules),
            "budgets": [b.to_json() for b in self.budgets],
            "containers": {h: [c.to_json() for c in cs] for h, cs in self.containers.items()},
            "rollout_splits": {str(w): vars(sp) for w, sp in self.splits.items()},
            "replicas": self.replicas,
            "alerts": self.alerts,
            "warnings": self.warnings,
        }


# --- app -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AppSizing:
    workers: int
    workers_reason: str
    master_bytes: int
    web_pool: int
    job_pool: int
    per_host_clients: int
    memory_bytes: int  # web + jobs worst case on one app host


def size_app(spec: StackSpec, host: HostSpec, memory_for_app: int) -> AppSizing:
    app = spec.app
    jobs_bytes = app.jobs.processes * app.jobs.memory_per_process_bytes
    if app.framework == "rails":
        cpu_rule, cpu_why = host.cpus, f"1 Puma worker per core ({host.cpus} cores)"
        # Puma docs: the master costs about as much as a worker, up to ~1 GB.
        master = min(GIB, app.memory_per_worker_bytes)
    else:
        cpu_rule, cpu_why = 2 * host.cpus + 1, f"2 × {host.cpus} cores + 1 (Gunicorn docs)"
        master = 0
        cap = app.max_workers or GUNICORN_SOFT_CAP
        if cpu_rule > cap:
            cpu_rule, cpu_why = cap, cpu_why + f", capped at {cap}" + (
                " (max_workers)" if app.max_workers else " (Gunicorn docs: 4–12 workers)")
    if app.framework == "rails" and app.max_workers and cpu_rule > app.max_workers:
        cpu_rule, cpu_why = app.max_workers, cpu_why + f", capped at {app.max_workers} (max_workers)"
    web_bytes = memory_for_app - jobs_bytes - master
    mem_rule = max(0, web_bytes // app.memory_per_worker_bytes)
    if mem_rule < cpu_rule:
        workers = mem_rule
        why = (f"memory: {format_bytes_human(max(0, web_bytes))} for web workers / "
               f"{format_bytes_human(app.memory_per_worker_bytes)} each (the CPU rule allows {cpu_rule})")
    else:
        workers, why = cpu_rule, cpu_why
    web_pool = app.threads + app.db_pool_headroom
    job_pool = app.jobs.concurrency + app.db_pool_headroom
    clients = workers * web_pool + app.jobs.processes * job_pool
    used = workers * app.memory_per_worker_bytes + master + jobs_bytes
    return AppSizing(workers, why, master, web_pool, job_pool, clients, used)


# --- the plan ------------------------------------------------------------------------------------
TARGETS = ("hosts", "docker")


def container_name(stack: str, service: str) -> str:
    return f"{stack}-{service}"


def build_plan(spec: StackSpec, pg_version: int | None = None, strict: bool = True,
               target: str = "hosts") -> Plan:
    """Plan a validated stack. `pg_version` re-plans for another major (e.g. the installed one).

    `target` says where the services run: "hosts" (packages on the hosts; servers listen on the
    host's private address) or "docker" (containers; servers listen inside the container, the host
    publishes ports on its private address only for clients on other hosts, and clients on the
    same host reach a service by its container name on the private network).
    With `strict`, a broken budget raises BudgetError; otherwise it is returned in `violations`.
    """
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: one of {TARGETS}")
    if pg_version is not None and pg_version != spec.postgres.version:
        spec = replace(spec, postgres=replace(spec.postgres, version=pg_version))
    warnings: list[str] = []
    db_host = spec.host_with("db")
    cache_host = spec.host_with("cache")
    app_hosts = spec.app_hosts()
    docker = target == "docker"
    listen_db = "*" if docker else db_host.address
    listen_cache = "0.0.0.0" if docker else cache_host.address
    listen_why = ("every interface inside the container; the host publishes the port on its private address "
                  "only for clients on other hosts" if docker else "the host's private address only")

    def reach(service: str, host: HostSpec) -> str:
        """The address app processes use for a service on `host`."""
        if docker and all(h.name == host.name for h in app_hosts):
            return container_name(spec.name, service)
        return host.address

    # 1. Share out each host's memory between the services it runs.
    allot: dict[str, dict[str, int]] = {}
    for h in spec.hosts:
        free = h.memory_bytes - os_reserve_bytes(h.memory_bytes)
        shares: dict[str, int] = {}
        if "cache" in h.roles:
            shares["redis"] = spec.redis_cache.memory_bytes + spec.redis_queue.memory_bytes
            free -= shares["redis"] + HAPROXY_MEMORY
        if "db" in h.roles:
            free -= PGBOUNCER_MEMORY
        if "db" in h.roles and "app" in h.roles:
            shares["postgres"] = free // 2
            shares["app"] = free - shares["postgres"]
        elif "db" in h.roles:
            shares["postgres"] = free
        elif "app" in h.roles:
            shares["app"] = free
        allot[h.name] = shares
        if "db" in h.roles and "cache" in h.roles:
            warnings.append(
                f"host {h.name} runs PostgreSQL and the persisted Redis queue: PostgreSQL wants "
                "vm.overcommit_memory=2, Redis needs 1 (runtime-rules §8.2); protect the postmaster "
                "with oom_score_adj=-1000 instead")

    # 2. App workers and pools, per app host shape.
    sizings = {h.name: size_app(spec, h, allot[h.name]["app"]) for h in app_hosts}
    total_app_hosts = sum(h.count for h in app_hosts)
    fleet_clients = sum(sizings[h.name].per_host_clients * h.count for h in app_hosts)
    widest = max(app_hosts, key=lambda h: sizings[h.name].per_host_clients)
    surge_hosts = (math.ceil(total_app_hosts * spec.rollout.max_surge_percent / 100)
                   if spec.rollout.max_surge_percent else 0)
    surge_clients = surge_hosts * sizings[widest.name].per_host_clients
    fleet_with_surge = fleet_clients + surge_clients

    # 3. PgBouncer server pool (PostgreSQL wiki: active connections ≈ 2 × cores + spindles).
    b = spec.pgbouncer
    spindles = 1 if db_host.storage == "hdd" else 0
    if b.pool_mode == "session":
        pool, pool_why = fleet_with_surge, "session mode: every client holds a server connection"
    else:
        pool = 2 * db_host.cpus + spindles
        pool_why = f"PostgreSQL wiki: 2 × {db_host.cpus} db cores" + (" + 1 spindle" if spindles else "")
        if pool > fleet_with_surge:
            pool, pool_why = fleet_with_surge, pool_why + f", cut to the {fleet_with_surge} clients that exist"
    pool_source = "computed"
    if b.default_pool_size:
        pool, pool_why, pool_source = b.default_pool_size, "set in the stack file", "override"
    reserve = max(1, pool // 5)
    server_conns = pool + reserve
    client_need = fleet_with_surge + max(10, math.ceil(fleet_with_surge * 0.1))
    if b.max_client_conn:
        max_client = Setting(b.max_client_conn, "set in the stack file", "override")
    else:
        max_client = Setting(client_need, f"{fleet_with_surge} fleet connections incl. rollout surge "
                                          f"+ 10% (at least 10) for admin and stats clients")
    nofile = int(max_client.value) + server_conns + 64
    nofile_rounded = math.ceil(nofile / 1024) * 1024

    # 4. max_connections from the pools, never a constant.
    pg = spec.postgres
    derived_max = server_conns + pg.admin_connections + SUPERUSER_RESERVED
    max_conn_why = (f"{pool} pool + {reserve} reserve (PgBouncer) + {pg.admin_connections} direct admin/"
                    f"migration + {SUPERUSER_RESERVED} superuser_reserved_connections")
    if derived_max < PGTUNE_MIN_CONNECTIONS:
        derived_max, max_conn_why = PGTUNE_MIN_CONNECTIONS, max_conn_why + f" = {server_conns + pg.admin_connections + SUPERUSER_RESERVED}, raised to pgtune's minimum of 20"

    # 5. PostgreSQL through the pgtune recommenders, with the memory set aside for it.
    pg_mem = allot[db_host.name]["postgres"]
    others = [k for k in allot[db_host.name] if k != "postgres"]
    note = (f"the {format_bytes_human(pg_mem)} set aside for PostgreSQL on {db_host.name} "
            f"({format_bytes_human(db_host.memory_bytes)} host − {format_bytes_human(os_reserve_bytes(db_host.memory_bytes))} OS reserve"
            + "".join(f" − {k}" for k in others) + ")")
    inputs = PgInputs(memory_kb=pg_mem // 1024, cpus=db_host.cpus, storage=db_host.storage,
                      workload=pg.workload, version=pg.version, max_connections=derived_max,
                      db_size=pg.db_size, memory_note=note)
    postgres: dict[str, Setting] = {
        "listen_addresses": fixed(listen_db, listen_why),
        "port": fixed(pg.port, "stack file"),
    }
    for name, rec in pgtune.recommend(inputs).items():
        postgres[name] = Setting(rec.value, max_conn_why if name == "max_connections" else rec.reason)
    # Deliberate difference from pgtune: its 4MB work_mem floor can overcommit a small host with
    # many connections (session pooling). In a stack plan the memory budget wins, down to
    # PostgreSQL's own 64kB minimum.
    worst, _ = postgres_worst_case(postgres, pg.version)
    if worst > pg_mem:
        wm_kb = int(float(pg_value_in_base_units(str(postgres["work_mem"].value), "kB")))
        others_kb = (worst // 1024) - derived_max * wm_kb * WORK_MEM_WORST_CASE
        fit_kb = max(64, int((pg_mem // 1024 - others_kb) / (derived_max * WORK_MEM_WORST_CASE)))
        if fit_kb < wm_kb:
            postgres["work_mem"] = Setting(
                format_kb(fit_kb),
                f"lowered from pgtune's {format_kb(wm_kb)} so that {derived_max} connections × work_mem × 1.5 "
                f"fit in {format_bytes_human(pg_mem)} (pgtune's floor would overcommit this host)")
    postgres["superuser_reserved_connections"] = fixed(SUPERUSER_RESERVED, "PostgreSQL's default, made explicit for the budget")
    postgres["shared_preload_libraries"] = fixed("pg_stat_statements", "query statistics; needs a restart to load")
    postgres["log_min_duration_statement"] = Setting(format_ms(pg.slow_query_ms), "log slow queries (stack: slow_query)")
    postgres["log_lock_waits"] = fixed("on", "log waits longer than deadlock_timeout")
    postgres["idle_in_transaction_session_timeout"] = Setting(
        format_ms(pg.idle_in_transaction_timeout_ms),
        "end sessions idle in a transaction: they block vacuum and hold locks; safe cluster-wide")
    postgres["password_encryption"] = fixed("scram-sha-256", "PgBouncer 1.18 authenticates with SCRAM")
    computed_postgres = dict(postgres)
    for name, text in pg.overrides.items():
        was = computed_postgres.get(name)
        why = f"override in {spec.path}" + (f"; tunestack would set {was.value} ({was.reason})" if was else "")
        postgres[name] = Setting(text, why, "override")
    gucs = catalog(pg.version)
    for name, setting in postgres.items():
        complaint = gucs[name].check(str(setting.value))
        if complaint:  # a planner bug, not a user error: never write a value PostgreSQL rejects
            raise AssertionError(f"planned {name}={setting.value} outside PostgreSQL {pg.version}: {complaint}")

    # Per-role timeouts: never cluster-wide (PostgreSQL docs, runtime-config-client).
    statement_ms = pg.statement_timeout_ms if pg.statement_timeout_ms is not None else spec.app.request_timeout_ms // 2
    statement_why = ("stack file" if pg.statement_timeout_ms is not None
                     else f"half the {format_ms(spec.app.request_timeout_ms)} request timeout")
    lock_ms = pg.lock_timeout_ms if pg.lock_timeout_ms is not None else max(1000, statement_ms // 3)
    lock_why = "stack file" if pg.lock_timeout_ms is not None else "a third of statement_timeout: lock waits give up first"
    roles = {
        "app": {"statement_timeout": Setting(format_ms(statement_ms), statement_why),
                "lock_timeout": Setting(format_ms(lock_ms), lock_why)},
        "migrator": {"statement_timeout": fixed("0", "migrations may run long; they connect directly"),
                     "lock_timeout": Setting(format_ms(lock_ms), "DDL must not queue behind long locks")},
    }

    # 6. PgBouncer settings.
    bouncer: dict[str, Setting] = {
        "listen_addr": fixed(listen_db, listen_why),
        "listen_port": fixed(b.port, "stack file"),
        "auth_type": fixed("scram-sha-256", "passwords never cross the wire"),
        "pool_mode": Setting(b.pool_mode, "stack file"),
        "default_pool_size": Setting(pool, pool_why, pool_source),
        "reserve_pool_size": Setting(reserve, "a fifth of the pool for bursts (at least 1)"),
        "reserve_pool_timeout": fixed(5, "seconds a client waits before the reserve opens (PgBouncer default)"),
        "max_db_connections": Setting(server_conns, "pool + reserve: the hard cap on server connections"),
        "max_client_conn": max_client,
        "server_idle_timeout": fixed(600, "PgBouncer default: close server connections idle 10 min"),
        "server_lifetime": fixed(3600, "PgBouncer default: recycle server connections hourly"),
        "query_wait_timeout": Setting(spec.app.request_timeout_ms // 1000,
                                      "a client queued longer than the request timeout has given up"),
        "idle_transaction_timeout": Setting(pg.idle_in_transaction_timeout_ms // 1000,
                                            "aligned with idle_in_transaction_session_timeout"),
        "ignore_startup_parameters": fixed("extra_float_digits", "sent by common drivers; harmless"),
    }
    if b.version >= (1, 21):
        bouncer["max_prepared_statements"] = fixed(200, "PgBouncer ≥ 1.21 tracks protocol-level prepared statements")
    service = {"LimitNOFILE": Setting(nofile_rounded, f"max_client_conn {max_client.value} + {server_conns} server "
                                      f"connections + 64 (PgBouncer manual: fds exceed max_client_conn), rounded up to 1024")}

    # 7. Redis instances.
    redis = {}
    for inst, share in ((spec.redis_cache, CACHE_MAXMEMORY_SHARE), (spec.redis_queue, QUEUE_MAXMEMORY_SHARE)):
        maxmemory = int(inst.memory_bytes * share)
        common = {
            "bind": fixed(listen_cache, listen_why),
            "port": fixed(inst.port, "stack file"),
            "maxmemory": Setting(maxmemory, f"{int(share * 100)}% of the {format_bytes_human(inst.memory_bytes)} set aside: "
                                 + ("room for fragmentation" if inst.role == "cache" else "AOF rewrite forks copy-on-write, up to 2×")),
            "maxmemory-policy": Setting(inst.policy, "cache: evict any key under pressure" if inst.role == "cache"
                                        else "queue: never drop a job (Sidekiq requires noeviction)"),
            "timeout": fixed(0, "pooled clients keep connections; never close them"),
            "tcp-keepalive": fixed(300, "detect dead peers (Redis default)"),
        }
        if inst.role == "cache":
            common["appendonly"] = fixed("no", "a cache is rebuilt, not restored")
            common["save"] = fixed("", "no snapshots for a cache")
        else:
            common["appendonly"] = fixed("yes", "jobs survive a restart")
            common["appendfsync"] = fixed("everysec", "lose at most about 1 s of jobs (Redis docs)")
            common["save"] = fixed("3600 1 300 100 60 10000", "RDB snapshots for backups (Redis defaults)")
        redis[inst.role] = common

    # 8. App settings and the environment the frameworks read.
    sampling = plan_sampling(spec.traffic)
    warnings.extend(sampling.warnings)
    first = sizings[app_hosts[0].name]
    if len({(s.workers, s.web_pool) for s in sizings.values()}) > 1:
        warnings.append("app hosts differ in shape; the env file uses the first host's workers")
    a = spec.app
    app = {
        "workers": Setting(first.workers, first.workers_reason),
        "threads": Setting(a.threads, "stack file" if a.threads else "default"),
        "web_db_pool": Setting(first.web_pool, f"{a.threads} threads + {a.db_pool_headroom} headroom"),
        "job_db_pool": Setting(first.job_pool, f"{a.jobs.concurrency} job threads + {a.db_pool_headroom} headroom"),
        "job_processes": Setting(a.jobs.processes, "stack file"),
        "job_concurrency": Setting(a.jobs.concurrency, "stack file"),
        "request_timeout_s": Setting(a.request_timeout_ms // 1000, "stack file (default 30 s)"),
        "port": fixed(a.port, "stack file"),
    }
    db_url = f"postgres://app@{reach('pgbouncer', db_host)}:{b.port}/app"
    transaction_pooling = b.pool_mode != "session"
    prepared = not transaction_pooling or b.version >= (1, 21)
    common_env: dict[str, Setting] = {
        "DATABASE_URL": Setting(db_url, "through PgBouncer; the password comes from the secret store"),
        "DB_STATEMENT_TIMEOUT": Setting(statement_ms // 1000, "mirrors ALTER ROLE app (seconds)"),
        "DB_LOCK_TIMEOUT": Setting(max(1, lock_ms // 1000), "mirrors ALTER ROLE app (seconds)"),
        "DB_CONNECT_TIMEOUT": fixed(5, "fail fast when PgBouncer is unreachable"),
        "DB_PREPARED_STATEMENTS": Setting(str(prepared).lower(),
                                          "PgBouncer < 1.21 in transaction mode cannot track prepared statements"
                                          if not prepared else "PgBouncer tracks them (or session mode)"),
        "DB_ADVISORY_LOCKS": Setting(str(not transaction_pooling).lower(),
                                     "session advisory locks break under transaction pooling"
                                     if transaction_pooling else "session mode keeps them"),
        "REDIS_URL": Setting(f"redis://{reach('redis-queue', cache_host)}:{spec.redis_queue.port}/0", "the queue instance (noeviction)"),
        "REDIS_CACHE_URL": Setting(f"redis://{reach('redis-cache', cache_host)}:{spec.redis_cache.port}/0", "the cache instance"),
        "REDIS_CONNECT_TIMEOUT": fixed(5, "seconds"),
        "REDIS_READ_TIMEOUT": fixed(1, "seconds: a cache read slower than this is a miss"),
        "REDIS_WRITE_TIMEOUT": fixed(1, "seconds"),
        "SENTRY_TRACES_SAMPLE_RATE": Setting(sampling.traces_rate, sampling.traces_reason),
        "SENTRY_PROFILES_SAMPLE_RATE": Setting(sampling.profiles_rate, sampling.profiles_reason),
        "SENTRY_TRACES_SAMPLER_RULES": Setting(
            ",".join(f"{r['path']}={r['rate']:g}" for r in sampling.rules),
            "health checks at 0, then per-path rates; others use SENTRY_TRACES_SAMPLE_RATE"),
    }
    if a.framework == "rails":
        runtime = {
            "RUBY_YJIT_ENABLE": fixed(1, "YJIT: 12–40% faster Ruby"),
            "RUBY_GC_HEAP_GROWTH_FACTOR": fixed(1.1, "grow the heap gently: less memory per worker"),
            "RUBY_GC_HEAP_INIT_SLOTS": fixed(600000, "fewer GCs while booting"),
        }
        if a.jemalloc:
            runtime["LD_PRELOAD"] = fixed("libjemalloc.so.2", "jemalloc: less fragmentation in threaded Puma")
        else:
            runtime["MALLOC_ARENA_MAX"] = fixed(2, "glibc without jemalloc: cap arenas to curb fragmentation")
    else:
        runtime = {"MALLOC_ARENA_MAX": fixed(2, "threaded workers: cap glibc arenas to curb fragmentation")}
    threads = Setting(a.threads, "stack file")
    web_env = {"PORT": fixed(a.port, "stack file"),
               "WEB_CONCURRENCY": Setting(first.workers, first.workers_reason)}
    if a.framework == "rails":
        web_env.update({"RAILS_MAX_THREADS": threads, "RAILS_MIN_THREADS": threads,
                        "PUMA_MAX_THREADS": Setting(a.threads, "Puma reads its own variable, not RAILS_MAX_THREADS"),
                        "PUMA_MIN_THREADS": Setting(a.threads, "fixed-size thread pool")})
    else:
        web_env["GUNICORN_THREADS"] = threads
    web_env["DB_POOL"] = Setting(first.web_pool, app["web_db_pool"].reason)
    web_env["REDIS_POOL_SIZE"] = Setting(a.threads, "one Redis connection per web thread")
    web_env.update(common_env)
    web_env.update(runtime)
    jobs_env: dict[str, Setting] = {}
    if a.framework == "rails":
        jobs_env["SIDEKIQ_CONCURRENCY"] = Setting(a.jobs.concurrency, "stack file")
        jobs_env["RAILS_MAX_THREADS"] = Setting(a.jobs.concurrency, "Sidekiq sizes its pools from it")
    else:
        jobs_env["JOB_CONCURRENCY"] = Setting(a.jobs.concurrency, "stack file")
    jobs_env["DB_POOL"] = Setting(first.job_pool, app["job_db_pool"].reason)
    jobs_env["REDIS_POOL_SIZE"] = Setting(a.jobs.concurrency + 2, "job threads + heartbeat and fetcher")
    jobs_env.update(common_env)
    jobs_env.update(runtime)

    rollout = {
        "steps": Setting(",".join(map(str, spec.rollout.steps)), "stack file"),
        "bake_s": Setting(spec.rollout.bake_ms // 1000, "stack file"),
        "max_surge_hosts": Setting(surge_hosts, f"{spec.rollout.max_surge_percent}% of {total_app_hosts} app hosts, rounded up"),
        "gate_max_error_rate": Setting(spec.rollout.gates.max_error_rate, "stack file (default 1%)"),
        "gate_max_p95_ms": Setting(spec.rollout.gates.max_p95_ms, "stack file (default 200 ms)"),
        "gate_min_requests": Setting(spec.rollout.gates.min_requests, "no data fails the gate"),
    }

    # 9. Budgets, from the final values (overrides included).
    final_max_conn = int(float(postgres["max_connections"].value))
    reserved = int(float(postgres.get("reserved_connections", Setting(0, "")).value))
    budgets = [
        Budget("fleet client connections ≤ PgBouncer max_client_conn", fleet_with_surge, int(max_client.value),
               f"{total_app_hosts} app hosts × {first.per_host_clients} "
               f"({first.workers} workers × {first.web_pool} pool + {a.jobs.processes} job processes × {first.job_pool} pool)"
               f" + surge {surge_hosts} host(s) × {sizings[widest.name].per_host_clients} = {fleet_with_surge} "
               f"≤ max_client_conn {max_client.value}",
               "raise pgbouncer.max_client_conn, or lower app threads, job concurrency or rollout.max_surge",
               "connections"),
        Budget("server pools ≤ max_connections − reserved", server_conns + pg.admin_connections,
               final_max_conn - SUPERUSER_RESERVED - reserved,
               f"pool {pool} + reserve {reserve} + admin {pg.admin_connections} = {server_conns + pg.admin_connections} "
               f"≤ max_connections {final_max_conn} − {SUPERUSER_RESERVED} superuser_reserved − {reserved} reserved "
               f"= {final_max_conn - SUPERUSER_RESERVED - reserved}",
               "remove the max_connections override or raise it, or lower pgbouncer.default_pool_size",
               "connections"),
    ]
    if sampling.monthly_units > spec.traffic.tracing_per_month * 1.0001:
        budgets.append(Budget("traced volume ≤ tracing budget", sampling.monthly_units, spec.traffic.tracing_per_month,
                              f"per-path rules alone expect {sampling.monthly_units:,.0f} {spec.traffic.tracing_unit}/month",
                              "lower the rates or shares of traffic.sampling_rules, or raise the budget",
                              spec.traffic.tracing_unit))
    hosts = []
    for h in spec.hosts:
        hp = HostPlan(h.name, h.roles, h.count, h.cpus, h.memory_bytes, h.shape_source, h.addresses)
        hp.memory_items.append(("OS reserve", os_reserve_bytes(h.memory_bytes)))
        if "db" in h.roles:
            worst, how = postgres_worst_case(postgres, pg.version)
            hp.memory_items.append((f"PostgreSQL worst case ({how})", worst))
            hp.memory_items.append(("PgBouncer", PGBOUNCER_MEMORY))
        if "cache" in h.roles:
            hp.memory_items.append(("Redis cache (maxmemory + headroom)", spec.redis_cache.memory_bytes))
            hp.memory_items.append(("Redis queue (maxmemory + fork headroom)", spec.redis_queue.memory_bytes))
            hp.memory_items.append(("HAProxy", HAPROXY_MEMORY))
        if "app" in h.roles:
            s = sizings[h.name]
            hp.memory_items.append((f"app: {s.workers} web workers × {format_bytes_human(a.memory_per_worker_bytes)}"
                                    + (f" + master {format_bytes_human(s.master_bytes)}" if s.master_bytes else "")
                                    + f" + {a.jobs.processes} job processes × {format_bytes_human(a.jobs.memory_per_process_bytes)}",
                                    s.memory_bytes))
            if s.workers < 1:
                budgets.append(Budget(f"memory on {h.name}: at least one web worker", 1, 0,
                                      f"{format_bytes_human(allot[h.name]['app'])} for the app − jobs − master leaves "
                                      f"no room for one {format_bytes_human(a.memory_per_worker_bytes)} worker",
                                      "give the host more memory, or lower memory_per_worker or job processes",
                                      "workers"))
        used = sum(v for _, v in hp.memory_items)
        budgets.append(Budget(f"memory on {h.name}", used, h.memory_bytes,
                              " + ".join(f"{k} {format_bytes_human(v)}" for k, v in hp.memory_items)
                              + f" = {format_bytes_human(used)} ≤ {format_bytes_human(h.memory_bytes)}",
                              "give the host more memory, or lower Redis memory, app workers or PostgreSQL overrides",
                              "bytes"))
        hosts.append(hp)

    alerts = _alerts(spec, server_conns, int(max_client.value), redis, fleet_with_surge)
    containers = {h.name: _container_limits(spec, h, allot[h.name], sizings.get(h.name)) for h in spec.hosts}
    weights = sorted({0, *spec.rollout.steps, spec.rollout.canary_weight})
    # The local stack rolls out beside the stable app (one canary slot); elsewhere replicas are split.
    canary_slot = not docker and all(h.is_local for h in spec.hosts)
    splits = {w: beside(w) if canary_slot else split(total_app_hosts, w) for w in weights}
    for w in spec.rollout.steps:
        sp = splits[w]
        weights_text = f"HAProxy weights {sp.stable_server_weight}:{sp.canary_server_weight}"
        if canary_slot:
            rollout[f"split_{w}"] = Setting(f"stable + canary beside it, {weights_text}",
                                            f"{w}% by load-balancer weights alone: the canary runs beside stable")
        else:
            rollout[f"split_{w}"] = Setting(
                f"{sp.stable} stable / {sp.canary} canary, {weights_text}",
                f"{w}% of {total_app_hosts} replicas: nearest whole count {sp.canary} ({sp.replica_weight:.0f}% by "
                f"replicas), load-balancer weights bring it to {sp.lb_weight:.0f}%")
    rollout["canary_weight"] = Setting(spec.rollout.canary_weight, "the rollout state in the stack config")
    current = splits[spec.rollout.canary_weight]
    replicas = []
    index = 0
    for h in app_hosts:
        for k in range(h.count):
            track = "canary" if not canary_slot and index < current.canary else "stable"
            name = container_name(spec.name, f"app-web-{index + 1}")
            address = (h.addresses[k] if h.addresses else "127.0.0.1")
            replicas.append({"name": name, "host": h.name, "index": index, "track": track,
                             "address": name if docker and len(app_hosts) == 1 and h.count == 1 and "cache" in h.roles
                             else address,
                             "port": a.port,
                             "weight": current.canary_server_weight if track == "canary" else current.stable_server_weight})
            index += 1
    if canary_slot:
        replicas.append({"name": container_name(spec.name, "app-canary"), "host": app_hosts[0].name, "index": index,
                         "track": "canary", "address": "127.0.0.1", "port": a.port + 100,
                         "weight": current.canary_server_weight})
        rollout["canary_port"] = Setting(a.port + 100, "the app port + 100: the local canary slot")
    fleet_threads = sum(sizings[h.name].workers * h.count for h in app_hosts) * a.threads
    loadbalancer = {
        "bind": fixed("0.0.0.0" if docker else cache_host.address,
                      "inside the container; published on the cache host's address" if docker
                      else "the cache host's private address"),
        "port": fixed(a.lb_port, "the entry point (stack: app.lb_port)"),
        "maxconn": Setting(max(256, 4 * fleet_threads), f"4 × the fleet's {fleet_threads} web threads: requests queue "
                           "at the load balancer, not in kernel backlogs"),
        "timeout_server_s": Setting(a.request_timeout_ms // 1000, "the request timeout"),
        "health_path": fixed(spec.traffic.health_paths[0], "the first health path of the stack"),
    }
    if total_app_hosts < 10 and any(0 < w < 100 for w in spec.rollout.steps) and not canary_slot:
        reachable = ", ".join(f"{x:g}%" for x in reachable_weights(total_app_hosts))
        warnings.append(f"{total_app_hosts} app replica(s): replica counts alone reach only {reachable}; "
                        + ("load-balancer weights make the other steps exact" if total_app_hosts > 1
                           else "a canary replaces the only replica, so steps below 100% need more replicas"))
    plan = Plan(stack=spec.name, spec=spec, target=target, hosts=hosts, postgres=postgres, postgres_roles=roles,
                pgbouncer=bouncer, pgbouncer_service=service, redis=redis, app=app, web_env=web_env,
                jobs_env=jobs_env, sampling=sampling, rollout=rollout, budgets=budgets, alerts=alerts,
                warnings=warnings, containers=containers, splits=splits,
                loadbalancer=loadbalancer, replicas=replicas)
    if strict and plan.violations:
        raise BudgetError(spec.name, plan.violations)
    return plan


def _kb(settings: dict[str, Setting], name: str, version: int, default_kb: int) -> int:
    if name not in settings:
        return default_kb
    guc = catalog(version)[name]
    number = pg_value_in_base_units(str(settings[name].value), guc.unit)
    per_unit_kb = {"kB": 1, "8kB": 8, "MB": 1024}.get(guc.unit or "", 1)
    return int(number * per_unit_kb)


def postgres_worst_case(settings: dict[str, Setting], version: int) -> tuple[int, str]:
    """postgresqltuner's worst case: shared_buffers + max_connections × work_mem × 150%
    + autovacuum_max_workers × (autovacuum_work_mem or maintenance_work_mem). Bytes."""
    sb = _kb(settings, "shared_buffers", version, 128 * 1024)
    wm = _kb(settings, "work_mem", version, 4 * 1024)
    maint = _kb(settings, "maintenance_work_mem", version, 64 * 1024)
    avw = settings.get("autovacuum_work_mem")
    av_mem = _kb(settings, "autovacuum_work_mem", version, maint) if avw and str(avw.value) != "-1" else maint
    conns = int(float(settings["max_connections"].value))
    av_workers = int(float(settings["autovacuum_max_workers"].value)) if "autovacuum_max_workers" in settings else 3
    total_kb = sb + conns * wm * WORK_MEM_WORST_CASE + av_workers * av_mem
    how = (f"{format_kb(sb)} shared_buffers + {conns} × {format_kb(wm)} work_mem × 1.5 + "
           f"{av_workers} × {format_kb(av_mem)} autovacuum")
    return int(total_kb * 1024), how


def _container_limits(spec: StackSpec, host: HostSpec, shares: dict[str, int],
                      sizing: AppSizing | None) -> list[ContainerLimit]:
    """Memory and CPU caps of every container on a host. They add up to at most the host."""
    small = min(1.0, host.cpus / 8)  # single-threaded helpers: an eighth of the host, at most a core
    limits: list[ContainerLimit] = []
    if "db" in host.roles:
        limits.append(ContainerLimit("pgbouncer", PGBOUNCER_MEMORY, small, "single-threaded: one core at most"))
    if "cache" in host.roles:
        for inst in (spec.redis_cache, spec.redis_queue):
            limits.append(ContainerLimit(f"redis-{inst.role}", inst.memory_bytes, small,
                                         "memory set aside for the instance; Redis runs one main thread"))
        limits.append(ContainerLimit("haproxy", HAPROXY_MEMORY, small, "one event loop"))
    rest = host.cpus - sum(c.cpus for c in limits)
    big = [r for r in ("db", "app") if r in host.roles]
    each = rest / len(big) if big else 0
    if "db" in host.roles:
        limits.append(ContainerLimit("postgres", shares["postgres"], _cpus(each),
                                     "the memory set aside for PostgreSQL" + (", half the remaining cores" if len(big) > 1 else "")))
    if "app" in host.roles and sizing is not None:
        jobs_mem = spec.app.jobs.processes * spec.app.jobs.memory_per_process_bytes
        web_mem = sizing.memory_bytes - jobs_mem
        procs = sizing.workers + spec.app.jobs.processes
        web_cpus = each * (sizing.workers / procs) if procs else each
        limits.append(ContainerLimit("web", web_mem, _cpus(web_cpus), "workers × memory per worker (+ master)"))
        if spec.app.jobs.processes:
            limits.append(ContainerLimit("jobs", jobs_mem, _cpus(each - web_cpus),
                                         "job processes × memory per process"))
    return limits


def _cpus(x: float) -> float:
    return max(0.01, math.floor(x * 100) / 100)  # round down: limits never add up past the host


def _alerts(spec: StackSpec, server_conns: int, max_client: int, redis: dict, fleet: int) -> list[dict]:
    g = spec.rollout.gates
    queue_max = int(redis["queue"]["maxmemory"].value)
    cache_max = int(redis["cache"]["maxmemory"].value)
    depth = max(100, 10 * spec.app.jobs.concurrency * max(1, spec.app.jobs.processes)
                * sum(h.count for h in spec.app_hosts()))
    return [
        {"alert": "PgBouncerServerPoolSaturated",
         "expr": f"sum(pgbouncer_pools_server_active_connections) > {math.floor(server_conns * 0.8)}",
         "for": "5m", "severity": "warning",
         "summary": f"server connections above 80% of the planned {server_conns} (pool + reserve)"},
        {"alert": "PgBouncerClientsNearLimit",
         "expr": f"sum(pgbouncer_pools_client_active_connections + pgbouncer_pools_client_waiting_connections) > {math.floor(max_client * 0.8)}",
         "for": "5m", "severity": "warning",
         "summary": f"client connections above 80% of max_client_conn {max_client} (fleet plans {fleet})"},
        {"alert": "AppLatencyP95High",
         "expr": f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > {g.max_p95_ms / 1000:g}",
         "for": "10m", "severity": "warning", "summary": f"p95 latency above {g.max_p95_ms:g} ms (rollout gate)"},
        {"alert": "AppErrorRateHigh",
         "expr": f"sum(rate(http_requests_total{{status=~\"5..\"}}[5m])) / sum(rate(http_requests_total[5m])) > {g.max_error_rate:g}",
         "for": "5m", "severity": "critical", "summary": f"5xx rate above {g.max_error_rate:.2%} (rollout gate)"},
        {"alert": "RedisQueueMemoryHigh",
         "expr": f"redis_memory_used_bytes{{role=\"queue\"}} > {int(queue_max * 0.8)}",
         "for": "5m", "severity": "critical",
         "summary": "queue Redis above 80% of maxmemory: at 100% noeviction rejects new jobs"},
        {"alert": "RedisCacheMemoryHigh",
         "expr": f"redis_memory_used_bytes{{role=\"cache\"}} > {int(cache_max * 0.95)}",
         "for": "15m", "severity": "info", "summary": "cache Redis at maxmemory: evicting (expected, watch hit rate)"},
        {"alert": "JobQueueBacklog",
         "expr": f"sum(sidekiq_queue_size) > {depth}" if spec.app.framework == "rails"
                 else f"sum(job_queue_depth) > {depth}",
         "for": "10m", "severity": "warning",
         "summary": f"more than {depth} queued jobs: 10 per job thread in the fleet"},
    ]


def plan_stack(name_or_path: str, *, is_path: bool = False, pg_version: int | None = None,
               strict: bool = True, resolver=None, target: str = "hosts") -> Plan:
    from . import stackfile

    path = name_or_path if is_path else stackfile.stack_path(name_or_path)
    spec = stackfile.load(path, resolver=resolver, name=None if is_path else name_or_path)
    return build_plan(spec, pg_version=pg_version, strict=strict, target=target)


__all__ = ["Plan", "HostPlan", "build_plan", "plan_stack", "postgres_worst_case", "os_reserve_bytes",
           "MB_IN_KB", "GB_IN_KB", "format_seconds"]
