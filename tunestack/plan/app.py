"""App servers: workers per host, threads, DB pools per process type, and the environment the
frameworks read. Pure: the app's stack-file section, a host shape and its memory share in."""
from __future__ import annotations

from dataclasses import dataclass

from ..stackfile.spec import AppSpec, HostSpec, PgBouncerSpec
from ..units import format_bytes_human
from .memory import whole_cores
from .sampling import Sampling
from .setting import Setting, policy, seconds

GIB = 1024**3
GUNICORN_SOFT_CAP = 12          # Gunicorn docs: 4–12 workers serve thousands of requests/s


@dataclass(frozen=True)
class AppSizing:
    workers: int
    workers_reason: str
    master_bytes: int
    web_pool: int
    job_pool: int
    per_host_clients: int
    memory_bytes: int  # web + jobs worst case on one app host

    def memory_text(self, app: AppSpec) -> str:
        return (f"app: {self.workers} web workers × {format_bytes_human(app.memory_per_worker_bytes)}"
                + (f" + master {format_bytes_human(self.master_bytes)}" if self.master_bytes else "")
                + f" + {app.jobs.processes} job processes × {format_bytes_human(app.jobs.memory_per_process_bytes)}")


def cpu_rule(app: AppSpec, cpus: int) -> tuple[int, str]:
    """Workers the cores allow: Puma one per core (Puma docs), Gunicorn 2 × cores + 1 (Gunicorn docs)."""
    if app.framework == "rails":
        workers, why = cpus, f"1 Puma worker per core ({cpus} cores)"
        if app.max_workers and workers > app.max_workers:
            workers, why = app.max_workers, why + f", capped at {app.max_workers} (max_workers)"
        return workers, why
    workers, why = 2 * cpus + 1, f"2 × {cpus} cores + 1 (Gunicorn docs)"
    cap = app.max_workers or GUNICORN_SOFT_CAP
    if workers > cap:
        workers, why = cap, why + f", capped at {cap}" + (
            " (max_workers)" if app.max_workers else " (Gunicorn docs: 4–12 workers)")
    return workers, why


def master_bytes(app: AppSpec) -> int:
    """Puma docs: the cluster master costs about as much as a worker, up to ~1 GB. Gunicorn's is small."""
    return min(GIB, app.memory_per_worker_bytes) if app.framework == "rails" else 0


def size_app(app: AppSpec, host: HostSpec, memory_for_app: int, web_cpus: float | None = None) -> AppSizing:
    """`web_cpus`: the web container's CPU limit where one caps it (Docker); the host's cores otherwise."""
    jobs_bytes = app.jobs.processes * app.jobs.memory_per_process_bytes
    cores = whole_cores(web_cpus) if web_cpus is not None else host.cpus
    by_cpu, cpu_why = cpu_rule(app, cores)
    if web_cpus is not None:
        cpu_why += f" of the web container's {web_cpus:g} CPUs"
    master = master_bytes(app)
    web_bytes = memory_for_app - jobs_bytes - master
    by_memory = max(0, web_bytes // app.memory_per_worker_bytes)
    if by_memory < by_cpu:
        workers = by_memory
        why = (f"memory: {format_bytes_human(max(0, web_bytes))} for web workers / "
               f"{format_bytes_human(app.memory_per_worker_bytes)} each (the CPU rule allows {by_cpu})")
    else:
        workers, why = by_cpu, cpu_why
    web_pool = app.threads + app.db_pool_headroom
    job_pool = app.jobs.concurrency + app.db_pool_headroom
    clients = workers * web_pool + app.jobs.processes * job_pool
    used = workers * app.memory_per_worker_bytes + master + jobs_bytes
    return AppSizing(workers, why, master, web_pool, job_pool, clients, used)


def app_settings(app: AppSpec, sizing: AppSizing, source_of) -> dict[str, Setting]:
    """The app section of the plan: what puma.rb / gunicorn.conf.py and the pools are built from."""
    return {
        "workers": Setting(sizing.workers, sizing.workers_reason),
        "threads": Setting(app.threads, "stack file" if app.threads else "default", source_of("app.threads")),
        "web_db_pool": Setting(sizing.web_pool, f"{app.threads} threads + {app.db_pool_headroom} headroom"),
        "job_db_pool": Setting(sizing.job_pool, f"{app.jobs.concurrency} job threads + {app.db_pool_headroom} headroom"),
        "job_processes": Setting(app.jobs.processes, "stack file", source_of("app.jobs.processes")),
        "job_concurrency": Setting(app.jobs.concurrency, "stack file", source_of("app.jobs.concurrency")),
        "request_timeout": seconds(app.request_timeout_ms, "stack file (default 30 s)",
                                   source_of("app.request_timeout")),
        # Puma: a worker silent this long is killed; twice the request timeout, so only hung ones are.
        "worker_timeout": seconds(2 * app.request_timeout_ms, "twice the request timeout: only hung workers"),
        "port": Setting(app.port, "stack file", source_of("app.port")),
    }


@dataclass(frozen=True)
class Endpoints:
    """How app processes reach their backends (from the placement)."""
    pgbouncer: str
    pgbouncer_port: int
    redis_queue: str
    redis_queue_port: int
    redis_cache: str
    redis_cache_port: int


def common_env(bouncer: PgBouncerSpec, ends: Endpoints, statement_ms: int, lock_ms: int,
               sampling: Sampling) -> dict[str, Setting]:
    """What web and job processes share: connection URLs (no passwords), timeouts, sampling."""
    transaction_pooling = bouncer.pool_mode != "session"
    prepared = not transaction_pooling or bouncer.version >= (1, 21)
    return {
        "DATABASE_URL": Setting(f"postgres://app@{ends.pgbouncer}:{ends.pgbouncer_port}/app",
                                "through PgBouncer; the password comes from the secret store"),
        "DB_STATEMENT_TIMEOUT": seconds(statement_ms, "mirrors ALTER ROLE app (seconds)"),
        "DB_LOCK_TIMEOUT": Setting(lock_ms, "mirrors ALTER ROLE app (seconds)", text=str(max(1, lock_ms // 1000)),
                                   unit="ms"),
        "DB_CONNECT_TIMEOUT": seconds(5000, "fail fast when PgBouncer is unreachable", "policy"),
        "DB_PREPARED_STATEMENTS": Setting(prepared,
                                          "PgBouncer < 1.21 in transaction mode cannot track prepared statements"
                                          if not prepared else "PgBouncer tracks them (or session mode)",
                                          text=str(prepared).lower()),
        "DB_ADVISORY_LOCKS": Setting(not transaction_pooling,
                                     "session advisory locks break under transaction pooling"
                                     if transaction_pooling else "session mode keeps them",
                                     text=str(not transaction_pooling).lower()),
        "REDIS_URL": Setting(f"redis://{ends.redis_queue}:{ends.redis_queue_port}/0", "the queue instance (noeviction)"),
        "REDIS_CACHE_URL": Setting(f"redis://{ends.redis_cache}:{ends.redis_cache_port}/0", "the cache instance"),
        "REDIS_CONNECT_TIMEOUT": seconds(5000, "seconds", "policy"),
        "REDIS_READ_TIMEOUT": seconds(1000, "seconds: a cache read slower than this is a miss", "policy"),
        "REDIS_WRITE_TIMEOUT": seconds(1000, "seconds", "policy"),
        "SENTRY_TRACES_SAMPLE_RATE": Setting(sampling.traces_rate, sampling.traces_reason),
        "SENTRY_PROFILES_SAMPLE_RATE": Setting(sampling.profiles_rate, sampling.profiles_reason),
        "SENTRY_TRACES_SAMPLER_RULES": Setting(
            tuple(f"{r['path']}={r['rate']:g}" for r in sampling.rules),
            "health checks at 0, then per-path rates; others use SENTRY_TRACES_SAMPLE_RATE"),
    }


def runtime_env(app: AppSpec) -> dict[str, Setting]:
    """Interpreter and allocator settings."""
    if app.framework != "rails":
        return {"MALLOC_ARENA_MAX": policy(2, "threaded workers: cap glibc arenas to curb fragmentation")}
    runtime = {
        "RUBY_YJIT_ENABLE": policy(1, "YJIT: 12–40% faster Ruby"),
        "RUBY_GC_HEAP_GROWTH_FACTOR": policy(1.1, "grow the heap gently: less memory per worker"),
        "RUBY_GC_HEAP_INIT_SLOTS": policy(600000, "fewer GCs while booting"),
    }
    if app.jemalloc:
        runtime["LD_PRELOAD"] = policy("libjemalloc.so.2", "jemalloc: less fragmentation in threaded Puma")
    else:
        runtime["MALLOC_ARENA_MAX"] = policy(2, "glibc without jemalloc: cap arenas to curb fragmentation")
    return runtime


def web_env(app: AppSpec, settings: dict[str, Setting], common: dict[str, Setting],
            source_of) -> dict[str, Setting]:
    threads = Setting(app.threads, "stack file", source_of("app.threads"))
    env = {"PORT": Setting(app.port, "stack file", source_of("app.port")),
           "WEB_CONCURRENCY": settings["workers"]}
    if app.framework == "rails":
        env.update({"RAILS_MAX_THREADS": threads, "RAILS_MIN_THREADS": threads,
                    "PUMA_MAX_THREADS": Setting(app.threads, "Puma reads its own variable, not RAILS_MAX_THREADS"),
                    "PUMA_MIN_THREADS": Setting(app.threads, "fixed-size thread pool")})
    else:
        env["GUNICORN_THREADS"] = threads
    env["DB_POOL"] = settings["web_db_pool"]
    env["REDIS_POOL_SIZE"] = Setting(app.threads, "one Redis connection per web thread")
    return {**env, **common, **runtime_env(app)}


def jobs_env(app: AppSpec, settings: dict[str, Setting], common: dict[str, Setting],
             source_of) -> dict[str, Setting]:
    concurrency = Setting(app.jobs.concurrency, "stack file", source_of("app.jobs.concurrency"))
    if app.framework == "rails":
        env = {"SIDEKIQ_CONCURRENCY": concurrency,
               "RAILS_MAX_THREADS": Setting(app.jobs.concurrency, "Sidekiq sizes its pools from it")}
    else:
        env = {"JOB_CONCURRENCY": concurrency}
    env["DB_POOL"] = settings["job_db_pool"]
    env["REDIS_POOL_SIZE"] = Setting(app.jobs.concurrency + 2, "job threads + heartbeat and fetcher")
    return {**env, **common, **runtime_env(app)}
