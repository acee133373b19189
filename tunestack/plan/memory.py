"""Memory and CPU per host: the OS reserve, each service's share, and container limits.

Pure: host shapes and sizes in, bytes and cores out."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..stackfile.spec import HostSpec, RedisInstanceSpec
from ..units import GIB, MIB, format_bytes_human
PGBOUNCER_MEMORY = 128 * MIB    # one event loop, ~4 kB of buffers per connection: a small fixed slice
HAPROXY_MEMORY = 128 * MIB      # the load balancer runs on the cache host


def os_reserve_bytes(memory: int) -> int:
    """Memory left to the kernel, page tables and sshd: 1/16 of the host, 128 MiB to 2 GiB."""
    return max(128 * MIB, min(2 * GIB, memory // 16))


def share_host(host: HostSpec, redis_bytes: int) -> dict[str, int]:
    """The memory each big service on `host` may plan with, by service: redis, postgres, app.

    Redis gets what the stack sets aside for both instances; PgBouncer and HAProxy a fixed slice.
    PostgreSQL and the app split the rest evenly when they share a host."""
    free = host.memory_bytes - os_reserve_bytes(host.memory_bytes)
    shares: dict[str, int] = {}
    if "cache" in host.roles:
        shares["redis"] = redis_bytes
        free -= redis_bytes + HAPROXY_MEMORY
    if "db" in host.roles:
        free -= PGBOUNCER_MEMORY
    if "db" in host.roles and "app" in host.roles:
        shares["postgres"] = free // 2
        shares["app"] = free - shares["postgres"]
    elif "db" in host.roles:
        shares["postgres"] = free
    elif "app" in host.roles:
        shares["app"] = free
    return shares


MIN_POSTGRES_MEMORY = 128 * MIB   # PostgreSQL's own default shared_buffers: less is no plan at all


def share_shortfalls(host: HostSpec, shares: dict[str, int]) -> list[tuple[str, int, int]]:
    """(service, share, minimum) for every share too small to plan with: Redis set aside more than
    the host can give. The planner stops on these before any recommender runs."""
    minimum = {"postgres": MIN_POSTGRES_MEMORY, "app": 1}
    return [(k, v, minimum[k]) for k, v in shares.items() if k in minimum and v < minimum[k]]


def overcommit_warning(host: HostSpec) -> str | None:
    if "db" in host.roles and "cache" in host.roles:
        return (f"host {host.name} runs PostgreSQL and the persisted Redis queue: PostgreSQL wants "
                "vm.overcommit_memory=2 (PostgreSQL docs, \"Linux Memory Overcommit\"), Redis needs 1 (Redis docs, "
                "admin: \"Make sure to set the Linux kernel overcommit memory setting to 1\"); protect the "
                "postmaster with oom_score_adj=-1000 instead")
    return None


@dataclass(frozen=True)
class ContainerLimit:
    service: str          # postgres | pgbouncer | redis-cache | redis-queue | haproxy | web | jobs
    memory_bytes: int
    cpus: float
    reason: str
    shm_bytes: int = 0    # /dev/shm inside the container (0: Docker's 64 MB default)
    sysctls: tuple[tuple[str, str], ...] = ()   # namespaced kernel settings (plan.kernel), set per container
    nofile: int = 0       # open-file limit (plan.service_limits LimitNOFILE); 0: Docker's default

    def to_json(self) -> dict:
        return {"service": self.service, "memory_bytes": self.memory_bytes, "cpus": self.cpus,
                "reason": self.reason, "shm_bytes": self.shm_bytes, "sysctls": dict(self.sysctls),
                "nofile": self.nofile}


@dataclass(frozen=True)
class AppProcesses:
    """What the app stage decided for one app host, as the limits need it."""
    web_workers: int
    web_bytes: int        # workers × memory per worker (+ master)
    job_processes: int
    jobs_bytes: int


JOB_CPU_PER_PROCESS = 0.25   # job processes wait on I/O (DB, Redis, HTTP): a quarter core each …
JOB_CPU_MAX_SHARE = 0.5      # … and never more than half of the app's CPUs
# … except Sidekiq: one Ruby process runs under one GVL, and a busy one takes that whole core. Puma
# counts its workers from the cores left (puma discussion #3087: split the cores between the apps).
SIDEKIQ_CPU_PER_PROCESS = 1.0


def job_cpus(app_cpus: float, processes: int, framework: str) -> float:
    """The CPUs an app host's job processes take from its web workers."""
    each = SIDEKIQ_CPU_PER_PROCESS if framework == "rails" else JOB_CPU_PER_PROCESS
    return min(app_cpus * JOB_CPU_MAX_SHARE, processes * each) if processes else 0.0


def cpu_shares(host: HostSpec, redis_roles: tuple[str, ...], job_processes: int,
               framework: str = "python", pgbouncer: bool | None = None,
               helpers: dict[str, float] | None = None) -> dict[str, float]:
    """The CPUs each container on `host` may use (Docker's `cpus`), decided before any worker count:
    where a limit caps a service, its workers, pools and parallelism are sized from it.

    Single-threaded helpers (PgBouncer, each Redis, HAProxy) get an eighth of the host, at most a
    core; PostgreSQL and the app split the rest evenly when they share a host; job processes take a
    quarter core each (Sidekiq a whole one), at most half of the app's part; web gets the remainder.
    `helpers`: fixed slices of other containers on the host (the monitoring ones), set aside first."""
    small = min(1.0, host.cpus / 8)
    shares: dict[str, float] = dict(helpers or {})
    if _runs_pgbouncer(host, pgbouncer):
        shares["pgbouncer"] = small
    if "cache" in host.roles:
        shares.update({f"redis-{role}": small for role in redis_roles})
        shares["haproxy"] = small
    rest = host.cpus - sum(shares.values())
    big = [r for r in ("db", "app") if r in host.roles]
    each = rest / len(big) if big else 0
    if "db" in host.roles:
        shares["postgres"] = _cpus(each)
    if "app" in host.roles:
        jobs = job_cpus(each, job_processes, framework)
        shares["web"] = _cpus(each - jobs)
        if job_processes:
            shares["jobs"] = _cpus(jobs)
    return {k: _cpus(v) for k, v in shares.items()}


def whole_cores(cpus: float) -> int:
    """The core count a per-core rule sees in a container capped at `cpus` (at least one)."""
    return max(1, round(cpus))


def _runs_pgbouncer(host: HostSpec, pgbouncer: bool | None) -> bool:
    """PgBouncer runs on the db host (placement.service_role says where else); None: the db host."""
    return "db" in host.roles if pgbouncer is None else pgbouncer


def container_limits(host: HostSpec, shares: dict[str, int], redis: tuple[RedisInstanceSpec, ...],
                     app: AppProcesses | None, cpus: dict[str, float]) -> list[ContainerLimit]:
    """Memory and CPU caps of every container on a host (`cpus` from cpu_shares). They add up to at
    most the host."""
    limits: list[ContainerLimit] = []
    if "pgbouncer" in cpus:
        limits.append(ContainerLimit("pgbouncer", PGBOUNCER_MEMORY, cpus["pgbouncer"], "single-threaded: one core at most"))
    if "cache" in host.roles:
        for inst in redis:
            limits.append(ContainerLimit(f"redis-{inst.role}", inst.memory_bytes, cpus[f"redis-{inst.role}"],
                                         "memory set aside for the instance; Redis runs one main thread"))
        limits.append(ContainerLimit("haproxy", HAPROXY_MEMORY, cpus["haproxy"], "one event loop"))
    big = [r for r in ("db", "app") if r in host.roles]
    if "db" in host.roles:
        # PostgreSQL's parallel queries share memory through /dev/shm (dynamic_shared_memory_type
        # posix); Docker's 64 MB default makes parallel hash joins fail. A quarter of the
        # container, counted inside its memory limit (tmpfs pages are charged to the container).
        limits.append(ContainerLimit("postgres", shares["postgres"], cpus["postgres"],
                                     "the memory set aside for PostgreSQL"
                                     + (", half the remaining cores" if len(big) > 1 else "")
                                     + "; /dev/shm a quarter of it for parallel queries",
                                     shm_bytes=max(64 * MIB, shares["postgres"] // 4 // MIB * MIB)))
    if "app" in host.roles and app is not None:
        limits.append(ContainerLimit("web", app.web_bytes, cpus["web"],
                                     "workers × memory per worker (+ master); workers sized from these CPUs"))
        if app.job_processes:
            limits.append(ContainerLimit("jobs", app.jobs_bytes, cpus["jobs"],
                                         "job processes × memory per process; a quarter core per process"))
    return limits


def _cpus(x: float) -> float:
    return max(0.01, math.floor(x * 100) / 100)  # round down: limits never add up past the host


def postgres_memory_note(host: HostSpec, shares: dict[str, int]) -> str:
    """How PostgreSQL's memory was arrived at, for the reasons of the memory settings."""
    others = "".join(f" − {k}" for k in shares if k != "postgres")
    return (f"the {format_bytes_human(shares['postgres'])} set aside for PostgreSQL on {host.name} "
            f"({format_bytes_human(host.memory_bytes)} host − {format_bytes_human(os_reserve_bytes(host.memory_bytes))} "
            f"OS reserve{others})")


def memory_items(host: HostSpec, postgres_worst: tuple[int, str] | None, redis: tuple[RedisInstanceSpec, ...],
                 app: tuple[str, int] | None, pgbouncer: bool | None = None) -> list[tuple[str, int]]:
    """Worst-case memory of everything on `host`, item by item, for the host's memory budget."""
    items = [("OS reserve", os_reserve_bytes(host.memory_bytes))]
    if "db" in host.roles and postgres_worst:
        worst, how = postgres_worst
        items.append((f"PostgreSQL worst case ({how})", worst))
    if _runs_pgbouncer(host, pgbouncer):
        items.append(("PgBouncer", PGBOUNCER_MEMORY))
    if "cache" in host.roles:
        labels = {"cache": "Redis cache (maxmemory + headroom)", "queue": "Redis queue (maxmemory + fork headroom)"}
        items += [(labels[inst.role], inst.memory_bytes) for inst in redis]
        items.append(("HAProxy", HAPROXY_MEMORY))
    if "app" in host.roles and app:
        items.append(app)
    return items
