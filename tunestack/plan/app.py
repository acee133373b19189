"""App servers: workers per host, threads, DB pools per process type, and the environment the
frameworks read. Pure: the app's stack-file section, a host shape and its memory share in."""
from __future__ import annotations

from dataclasses import dataclass

from ..stackfile.spec import AppSpec, HostSpec, PgBouncerSpec
from ..units import GIB, format_bytes_human, plural
from .memory import job_cpus, whole_cores
from .golang import go_jobs_env, go_web_env
from .node import node_env, node_workers
from .ruby import DEFAULT_RAILS, DEFAULT_RUBY, rails_prepared_statements, ruby_runtime
from .sampling import Sampling
from .setting import Setting, chosen, policy, seconds

GUNICORN_SOFT_CAP = 12          # Gunicorn docs: 4–12 workers serve thousands of requests/s


@dataclass(frozen=True)
class AppSizing:
    workers: int            # what Puma / Gunicorn are told (Puma: 0 is single mode)
    workers_reason: str
    master_bytes: int
    web_pool: int
    job_pool: int
    per_host_clients: int
    memory_bytes: int  # web + jobs worst case on one app host
    processes: int = 0      # web processes that serve requests (single mode: 1)
    process_bytes: int = 0  # each web process (and each job process) with its runtime's extra (YJIT)
    jobs_process_bytes: int = 0
    cores: int = 1          # the cores the web processes' rule saw (GOMAXPROCS, libuv's pool)
    core_sets: tuple[str, str] | None = None   # Rails on a host: (web, jobs) CPU lists, e.g. ("0", "1")

    def memory_text(self, app: AppSpec) -> str:
        single = self.workers == 0 and self.processes == 1
        return (f"app: {'1 Puma process (single mode)' if single else f'{self.processes} web workers'} × "
                f"{format_bytes_human(self.process_bytes)}"
                + (f" + master {format_bytes_human(self.master_bytes)}" if self.master_bytes else "")
                + f" + {plural(app.jobs.processes, 'job process', 'job processes')} × "
                  f"{format_bytes_human(self.jobs_process_bytes)}")


PUMA_CLUSTER_MIN = 2   # Puma docs (deployment.md): fewer than 2 workers, run single mode (workers 0)


def cpu_rule(app: AppSpec, cpus: int) -> tuple[int, str]:
    """Workers the cores allow: Puma one per core (Puma docs), Gunicorn 2 × cores + 1 (Gunicorn docs),
    Node one per core (cluster), Go one process that uses them all (GOMAXPROCS)."""
    if app.framework == "go":
        return 1, "one Go process: its goroutines run on every core it gets (GOMAXPROCS)"
    if app.framework in ("rails", "node"):
        workers, why = (cpus, f"1 Puma worker per core ({cpus} cores)") if app.framework == "rails" else node_workers(cpus)
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


def runtime_extra_bytes(app: AppSpec) -> int:
    """What the runtime adds to each Ruby process beyond the app's own memory (YJIT's)."""
    return ruby_runtime(ruby_version(app)[0]).yjit_bytes if app.framework == "rails" else 0


def ruby_version(app: AppSpec) -> tuple[str, str]:
    return (app.ruby, app.ruby_source) if app.ruby else (DEFAULT_RUBY, "default: Debian 12's Ruby, as the reference "
                                                                    "image and the local hosts have")


def web_cores(app: AppSpec, host: HostSpec, web_cpus: float | None) -> tuple[int, str]:
    """The cores the web workers' per-core rule sees: the container's CPU limit on Docker (the jobs'
    share is already carved out), else the host's cores less what Sidekiq processes take."""
    if web_cpus is not None:
        return whole_cores(web_cpus), f" of the web container's {web_cpus:g} CPUs"
    taken = job_cpus(host.cpus, app.jobs.processes, app.framework) if app.framework == "rails" else 0
    if not taken:
        return host.cpus, ""
    cores = max(1, int(host.cpus - taken))
    return cores, (f", of {host.cpus} cores less {taken:g} for {app.jobs.processes} Sidekiq process(es): one core "
                   "each (one GVL per process)")


def size_app(app: AppSpec, host: HostSpec, memory_for_app: int, web_cpus: float | None = None) -> AppSizing:
    """`web_cpus`: the web container's CPU limit where one caps it (Docker); the host's cores otherwise."""
    extra = runtime_extra_bytes(app)
    process_bytes = app.memory_per_worker_bytes + extra
    jobs_process_bytes = app.jobs.memory_per_process_bytes + extra
    jobs_bytes = app.jobs.processes * jobs_process_bytes
    cores, cores_why = web_cores(app, host, web_cpus)
    by_cpu, cpu_why = cpu_rule(app, cores)
    cpu_why += cores_why
    master = master_bytes(app)
    by_memory = max(0, (memory_for_app - jobs_bytes - master) // process_bytes)
    if by_memory < by_cpu:
        workers = by_memory
        why = (f"memory: {format_bytes_human(max(0, memory_for_app - jobs_bytes - master))} for web workers / "
               f"{format_bytes_human(process_bytes)} each (the CPU rule allows {by_cpu})")
    else:
        workers, why = by_cpu, cpu_why
    processes = workers
    if app.framework == "rails" and workers < PUMA_CLUSTER_MIN:
        # Single mode: one process serves the threads, with no master beside it.
        master, workers = 0, 0
        processes = min(1, max(0, (memory_for_app - jobs_bytes) // process_bytes))
        why = f"single mode (Puma docs: fewer than {PUMA_CLUSTER_MIN} workers): " + why
    web_pool = app.threads + app.db_pool_headroom
    job_pool = app.jobs.concurrency + app.db_pool_headroom
    clients = processes * web_pool + app.jobs.processes * job_pool
    used = processes * process_bytes + master + jobs_bytes
    return AppSizing(workers, why, master, web_pool, job_pool, clients, used, processes, process_bytes,
                     jobs_process_bytes, cores, core_sets(app, host, web_cpus))


def cpu_list(first: int, last: int) -> str:
    """A CPU list as taskset(1) and /proc/PID/status (Cpus_allowed_list) write it."""
    return str(first) if first == last else f"{first}-{last}"


def core_sets(app: AppSpec, host: HostSpec, web_cpus: float | None) -> tuple[str, str] | None:
    """Rails on a host (not a container, whose CPU limit already divides): the cores web_cores gave
    Puma, and the rest, Sidekiq's. The division is what sized the workers; only CPU sets make it
    real, or the scheduler runs Sidekiq on Puma's core whenever jobs queue up."""
    if app.framework != "rails" or web_cpus is not None or not app.jobs.processes:
        return None
    cores, _ = web_cores(app, host, None)
    if cores >= host.cpus:
        return None
    return cpu_list(0, cores - 1), cpu_list(cores, host.cpus - 1)


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
        "port": chosen(app.port, "app.port", source_of, "the app servers' usual port"),
        **(rails_settings(app, sizing) if app.framework == "rails" else {}),
    }


PUMA_CONTROL_SOCKET = "puma.sock"   # in the host's control folder (render.Layout.control_dir)
SIDEKIQ_SHUTDOWN_S = 25          # Sidekiq's default :timeout:, under the 30 s a process manager waits


def rails_settings(app: AppSpec, sizing: AppSizing) -> dict[str, Setting]:
    """What puma.rb and sidekiq.yml carry beyond the common app settings."""
    version, version_source = ruby_version(app)
    ruby = ruby_runtime(version)
    return {
        "ruby_version": Setting(version, version_source),
        "yjit": Setting(ruby.yjit, ruby.yjit_reason, text=str(ruby.yjit).lower()),
        "rails_version": Setting(app.rails or DEFAULT_RAILS, "stack file" if app.rails else "default: Debian 12's Rails"),
        "web_processes": Setting(sizing.processes, "single mode: one process" if sizing.workers == 0
                                 else "one per Puma worker"),
        "control_socket": policy(PUMA_CONTROL_SOCKET,
                                 "Puma's control app (stats for verify and advise): a unix socket in a folder only "
                                 "root enters, so no local user can reach /stop (no port, no token to capture)"),
        "job_shutdown_timeout": policy(SIDEKIQ_SHUTDOWN_S, "Sidekiq's default: running jobs get 25 s at a stop, "
                                                           "inside the 30 s before a kill"),
        "job_queues": policy(("default",), "the queue the app's jobs use"),
        **({"cpu_sets": Setting(sizing.core_sets, CPU_SETS_WHY, text=f"web {sizing.core_sets[0]}, jobs {sizing.core_sets[1]}",
                                rule="Puma on the cores its workers were sized for, Sidekiq on the rest (taskset)")}
           if sizing.core_sets else {}),
    }


CPU_SETS_WHY = ("Puma on the cores its workers were sized for, Sidekiq on the rest (taskset(1)): one GVL per core, "
                "and queued jobs never take the web's cores (measured: bench/rails.py)")


@dataclass(frozen=True)
class Endpoints:
    """How app processes reach their backends (from the placement)."""
    pgbouncer: str
    pgbouncer_port: int
    redis_queue: str
    redis_queue_port: int
    redis_cache: str
    redis_cache_port: int


def prepared_statements(app: AppSpec, bouncer: PgBouncerSpec) -> Setting:
    """Rails by its version and PgBouncer's (plan/ruby.py); other drivers close statements at the
    protocol level, so PgBouncer ≥ 1.21 tracking them is enough."""
    if app.framework == "rails":
        rails = app.rails or DEFAULT_RAILS
        prepared, why = rails_prepared_statements(rails, bouncer.version, bouncer.pool_mode)
        return Setting(prepared, why, text=str(prepared).lower())
    prepared = bouncer.pool_mode == "session" or bouncer.version >= (1, 21)
    return Setting(prepared, "PgBouncer < 1.21 in transaction mode cannot track prepared statements"
                   if not prepared else "PgBouncer tracks them (or session mode)", text=str(prepared).lower())


def common_env(app: AppSpec, bouncer: PgBouncerSpec, ends: Endpoints, statement_ms: int, lock_ms: int,
               sampling: Sampling, db_connect_timeout: Setting) -> dict[str, Setting]:
    """What web and job processes share: connection URLs (no passwords), timeouts, sampling."""
    transaction_pooling = bouncer.pool_mode != "session"
    return {
        "DATABASE_URL": Setting(database_url("app", ends),
                                "through PgBouncer; the password comes from the secret store"),
        "DB_STATEMENT_TIMEOUT": seconds(statement_ms, "mirrors ALTER ROLE app (seconds)"),
        "DB_LOCK_TIMEOUT": Setting(lock_ms, "mirrors ALTER ROLE app (seconds)", text=str(max(1, lock_ms // 1000)),
                                   unit="ms"),
        "DB_CONNECT_TIMEOUT": db_connect_timeout,
        "DB_PREPARED_STATEMENTS": prepared_statements(app, bouncer),
        "DB_ADVISORY_LOCKS": Setting(not transaction_pooling,
                                     "session advisory locks break under transaction pooling"
                                     if transaction_pooling else "session mode keeps them",
                                     text=str(not transaction_pooling).lower()),
        "REDIS_URL": Setting(f"redis://{ends.redis_queue}:{ends.redis_queue_port}/0", "the queue instance (noeviction)"),
        "REDIS_CACHE_URL": Setting(f"redis://{ends.redis_cache}:{ends.redis_cache_port}/0", "the cache instance"),
        "REDIS_CONNECT_TIMEOUT": seconds(5000, "seconds: the queue; a job must not be lost to a slow connect",
                                         "policy"),
        "REDIS_CACHE_CONNECT_TIMEOUT": seconds(1000, "seconds: a cache that cannot be reached in 1 s is a miss, and "
                                                     "the request goes on to the database instead of waiting 5 s",
                                               "policy"),
        "REDIS_READ_TIMEOUT": seconds(1000, "seconds: a cache read slower than this is a miss", "policy"),
        "REDIS_WRITE_TIMEOUT": seconds(1000, "seconds", "policy"),
        "SENTRY_TRACES_SAMPLE_RATE": Setting(sampling.traces_rate, sampling.traces_reason),
        "SENTRY_PROFILES_SAMPLE_RATE": Setting(sampling.profiles_rate, sampling.profiles_reason,
                                               rule="the monthly profiling budget over the sampled transactions "
                                                    "(Sentry docs: relative to every sampled transaction), "
                                                    "two significant digits"),
        "SENTRY_TRACES_SAMPLER_RULES": Setting(
            tuple(f"{r['path']}={r['rate']:g}" for r in sampling.rules),
            "health checks at 0, then per-path rates; others use SENTRY_TRACES_SAMPLE_RATE"),
    }


def runtime_env(app: AppSpec) -> dict[str, Setting]:
    """Interpreter and allocator settings, by the app's Ruby version where it is Ruby."""
    if app.framework in ("go", "node"):
        return {}   # their runtimes' own settings are in golang.py / node.py
    if app.framework != "rails":
        return {"MALLOC_ARENA_MAX": policy(2, "threaded workers: cap glibc arenas to curb fragmentation")}
    version = ruby_version(app)[0]
    ruby = ruby_runtime(version)
    runtime: dict[str, Setting] = {}
    # Off means absent: Ruby 3.1 turns YJIT on when RUBY_YJIT_ENABLE is set at all, even to 0.
    if ruby.yjit:
        runtime["RUBY_YJIT_ENABLE"] = policy(1, f"YJIT on Ruby {version}: 12–40% faster Ruby (the guides)")
        runtime["RUBYOPT"] = Setting(ruby.rubyopt, ruby.yjit_reason + "; counted in each process's memory")
    runtime["RUBY_GC_HEAP_GROWTH_FACTOR"] = policy(1.1, "grow the heap gently: less memory per worker")
    if ruby.gc_init_slots:
        runtime["RUBY_GC_HEAP_INIT_SLOTS"] = policy(600000, f"fewer GCs while booting (read by Ruby < 3.3)")
    if app.jemalloc:
        runtime["LD_PRELOAD"] = policy("libjemalloc.so.2", "jemalloc: less fragmentation in threaded Puma")
    else:
        runtime["MALLOC_ARENA_MAX"] = policy(2, "glibc without jemalloc: cap arenas to curb fragmentation")
    return runtime


def web_env(app: AppSpec, settings: dict[str, Setting], common: dict[str, Setting],
            source_of, sizing: AppSizing, bind: str = "127.0.0.1") -> dict[str, Setting]:
    """`bind`: the address app servers listen on (placement.app_bind)."""
    threads = Setting(app.threads, "stack file", source_of("app.threads"))
    env = {"PORT": Setting(app.port, "stack file", source_of("app.port")),
           "WEB_CONCURRENCY": settings["workers"]}
    if app.framework == "rails":
        env.update({"RAILS_ENV": policy("production", "the app runs as in production"),
                    "RAILS_MAX_THREADS": threads, "RAILS_MIN_THREADS": threads,
                    "PUMA_MAX_THREADS": Setting(app.threads, "Puma reads its own variable, not RAILS_MAX_THREADS"),
                    "PUMA_MIN_THREADS": Setting(app.threads, "fixed-size thread pool"),
                    # Puma docs: worker_timeout "is not a request timeout"; rack-timeout is, and
                    # reads this variable itself (rack-timeout README).
                    "RACK_TIMEOUT_SERVICE_TIMEOUT": seconds(app.request_timeout_ms, "the request timeout, enforced "
                                                            "inside the app (Puma has none)")})
    elif app.framework == "python":
        env["GUNICORN_THREADS"] = threads
        # Gunicorn's `timeout` is a worker heartbeat under gthread, not a request limit (Gunicorn
        # docs, "timeout"): the app keeps its own deadline (refapp/app.py).
        env["REQUEST_TIMEOUT"] = seconds(app.request_timeout_ms, "the request timeout, enforced inside the app: "
                                                               "every wait bounded by what is left of it")
    elif app.framework == "go":
        del env["WEB_CONCURRENCY"]   # one process
        env.update(go_web_env(app, sizing.cores, sizing.process_bytes, sizing.web_pool))
        env["REQUEST_TIMEOUT"] = seconds(app.request_timeout_ms, "the request timeout, enforced inside the app "
                                                               "(net/http: http.TimeoutHandler)")
    else:
        env.update(node_env(app, sizing.web_pool, sizing.process_bytes, sizing.cores,
                            common["DB_CONNECT_TIMEOUT"].value, app.threads))
        env["REQUEST_TIMEOUT"] = seconds(app.request_timeout_ms, "the request timeout, enforced inside the app "
                                                               "(Node.js http: server.requestTimeout)")
    if app.framework in ("go", "node"):
        # Go and Node read their listen address from the environment (Puma and Gunicorn from their
        # rendered files): loopback on the local stack, every interface in a container.
        env["BIND"] = Setting(f"{bind}:{app.port}", "where the app listens: loopback on one host, every "
                                                    "interface inside a container (the load balancer reaches it)")
    env["DB_POOL"] = settings["web_db_pool"]
    env["REDIS_POOL_SIZE"] = Setting(app.threads, "one Redis connection per web thread")
    return {**env, **common, **runtime_env(app)}


JOBS_ROLE = "jobs"


def migrate_env(postgres_host: str, port: int) -> dict[str, Setting]:
    """The app image's migrate command: straight to PostgreSQL as migrator, never through PgBouncer
    (DDL and advisory locks need a session; transaction pooling would hand them to another client)."""
    return {"DATABASE_URL": Setting(f"postgres://migrator@{postgres_host}:{port}/app",
                                    "straight to PostgreSQL as migrator, the schema's owner; its role's "
                                    "lock_timeout (postgres role migrator) stops a migration that would queue "
                                    "requests behind a lock")}


def database_url(role: str, ends: Endpoints) -> str:
    """A role's connection URL through PgBouncer; never a password (the secret store has it)."""
    return f"postgres://{role}@{ends.pgbouncer}:{ends.pgbouncer_port}/app"


def jobs_env(app: AppSpec, settings: dict[str, Setting], common: dict[str, Setting],
             source_of, ends: Endpoints, jobs_role: dict[str, Setting] | None, sizing: AppSizing) -> dict[str, Setting]:
    concurrency = Setting(app.jobs.concurrency, "stack file", source_of("app.jobs.concurrency"))
    if app.framework == "rails":
        # Sidekiq 6 reads its concurrency from -c or sidekiq.yml (rendered), never SIDEKIQ_CONCURRENCY;
        # RAILS_MAX_THREADS is its fallback and what Rails' database.yml sizes the pool from.
        env = {"RAILS_ENV": policy("production", "the app runs as in production"),
               "RAILS_MAX_THREADS": Setting(app.jobs.concurrency, "Sidekiq's fallback for its concurrency "
                                                                  "(sidekiq.yml sets it)")}
    else:
        env = {"JOB_CONCURRENCY": concurrency}
    if app.framework == "go":
        env.update(go_jobs_env(app, sizing.cores, sizing.jobs_process_bytes, sizing.job_pool))
    elif app.framework == "node":
        env.update(node_env(app, sizing.job_pool, sizing.jobs_process_bytes, sizing.cores,
                            common["DB_CONNECT_TIMEOUT"].value, app.jobs.concurrency))
    env["DB_POOL"] = settings["job_db_pool"]
    env["REDIS_POOL_SIZE"] = Setting(app.jobs.concurrency + 2, "job threads + heartbeat and fetcher")
    own = dict(common)
    own["DATABASE_URL"] = Setting(database_url(JOBS_ROLE, ends), "through PgBouncer as the jobs role: its own timeouts, not a web request's")
    if jobs_role:
        own["DB_STATEMENT_TIMEOUT"] = seconds(jobs_role["statement_timeout"].value, "mirrors ALTER ROLE jobs (seconds)")
        own["DB_LOCK_TIMEOUT"] = Setting(jobs_role["lock_timeout"].value, "mirrors ALTER ROLE jobs (seconds)",
                                         text=str(max(1, jobs_role["lock_timeout"].value // 1000)), unit="ms")
    return {**env, **own, **runtime_env(app)}
