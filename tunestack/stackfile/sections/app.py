"""tunestack:app: the framework and its runtime, workers, threads, timeouts, the job processes,
and the keys only one framework reads (Ruby and Rails versions, Go's pool lifetimes, Node's heap)."""
from __future__ import annotations

from ...choices import PGBOUNCER_SERVER_LIFETIME_MS, RAILS_MIN_RUBY, RAILS_VERSIONS, RUBY_VERSIONS
from ...units import MIB, release
from ..checker import Checker, given, present
from ..schema import NS
from ..spec import DEFAULT_THREADS, AppSpec, JobsSpec

KEY = f"{NS}:app"
MIN_NODE_HEAP = 64 * MIB
# App keys that only one kind of app reads: given to another, they would be silently ignored.
FRAMEWORK_KEYS = {"ruby": ("rails",), "rails": ("rails",), "jemalloc": ("rails",), "go": ("go",), "node": ("node",)}


def _jobs(ck: Checker, c: dict, cache) -> JobsSpec:
    j = c.get("jobs", {})
    ck.note_given("app", j, "jobs.")
    if j.get("redis") == "cache":
        ck.problem([KEY, "jobs", "redis"], "cache", f"queue: the cache instance evicts keys ({cache.policy}) and would "
                   "drop jobs", "point jobs at the queue instance: redis: queue")
    return JobsSpec(**given(j, concurrency="concurrency", processes="processes", redis="redis"),
                    **present(memory_per_process_bytes=ck.size([KEY, "jobs", "memory_per_process"],
                                                               j.get("memory_per_process")),
                              statement_timeout_ms=ck.duration([KEY, "jobs", "statement_timeout"],
                                                               j.get("statement_timeout")),
                              lock_timeout_ms=ck.duration([KEY, "jobs", "lock_timeout"], j.get("lock_timeout"))))


def _job_timeouts(ck: Checker, c: dict, jobs: JobsSpec, request_ms: int | None) -> None:
    j = c.get("jobs", {})
    limit = request_ms if request_ms is not None else AppSpec.request_timeout_ms
    if jobs.lock_timeout_ms is not None and jobs.lock_timeout_ms > limit:
        # PostgreSQL grants conflicting locks in arrival order: web requests queue behind a job
        # that waits for a lock, so a job may not wait longer than a request may take.
        ck.problem([KEY, "jobs", "lock_timeout"], j["lock_timeout"],
                   f"at most the request timeout ({limit // 1000}s): web requests that need the same lock "
                   "queue behind a waiting job (PostgreSQL grants locks in arrival order)",
                   "lower app.jobs.lock_timeout, e.g. 5s; long jobs need statement_timeout, not lock waits")
    if jobs.statement_timeout_ms is not None and jobs.lock_timeout_ms is not None \
            and jobs.lock_timeout_ms >= jobs.statement_timeout_ms:
        ck.problem([KEY, "jobs", "lock_timeout"], j["lock_timeout"],
                   "less than app.jobs.statement_timeout (PostgreSQL docs: otherwise it is pointless)",
                   "lower app.jobs.lock_timeout below app.jobs.statement_timeout")


def _versions(ck: Checker, c: dict) -> dict:
    """Ruby and Rails as major.minor text, each one tunestack has rules for. A version YAML read as
    a number is refused: 3.10 would be the number 3.1."""
    versions = {}
    for name, known in (("ruby", RUBY_VERSIONS), ("rails", RAILS_VERSIONS)):
        if name not in c:
            continue
        if isinstance(c[name], float):
            ck.problem([KEY, name], c[name], f"one of {', '.join(known)}, in quotes: YAML reads an unquoted "
                       f"{c[name]} as a number (3.10 would be 3.1)", f"quote it: {name}: \"{c[name]}\"")
            continue
        versions[name] = text = str(c[name])
        if text not in known:
            ck.problem([KEY, name], c[name], f"one of {', '.join(known)} (the versions tunestack has "
                       f"{name.capitalize()} rules for)",
                       f"write the {name.capitalize()} the app runs, as major.minor, e.g. {known[1]!r}")
    ruby, rails = versions.get("ruby"), versions.get("rails")
    if ruby in RUBY_VERSIONS and rails in RAILS_VERSIONS and release(ruby) < release(RAILS_MIN_RUBY[rails]):
        ck.problem([KEY, "ruby"], ruby, f"Ruby {RAILS_MIN_RUBY[rails]} or newer: Rails {rails} runs on nothing older "
                   "(Rails guides, \"Upgrading Ruby on Rails\")", f"upgrade Ruby, or name the Rails the app runs")
    return versions


def go_settings(ck: Checker, g: dict) -> dict:
    # database/sql reads 0 as "forever", and the env carries whole milliseconds: at least a second.
    lifetime = ck.duration([KEY, "go", "conn_max_lifetime"], g.get("conn_max_lifetime"), minimum_ms=1000)
    idle = ck.duration([KEY, "go", "conn_max_idle_time"], g.get("conn_max_idle_time"), minimum_ms=1000)
    if lifetime is not None and lifetime >= PGBOUNCER_SERVER_LIFETIME_MS:
        # PgBouncer closes its server connection at server_lifetime; the app's connection to PgBouncer
        # should be recycled first so a fresh one lands on a fresh server connection.
        ck.problem([KEY, "go", "conn_max_lifetime"], g["conn_max_lifetime"],
                   f"less than PgBouncer's server_lifetime ({PGBOUNCER_SERVER_LIFETIME_MS // 60_000} min)",
                   "use 5m to 30m, as database/sql deployments behind PgBouncer do")
    if lifetime is not None and idle is not None and idle > lifetime:
        ck.problem([KEY, "go", "conn_max_idle_time"], g["conn_max_idle_time"],
                   "at most conn_max_lifetime (database/sql closes at whichever comes first)",
                   "lower conn_max_idle_time, e.g. 5m")
    return present(go_conn_max_lifetime_ms=lifetime, go_conn_max_idle_ms=idle)


def node_settings(ck: Checker, n: dict, c: dict) -> dict:
    heap = ck.size([KEY, "node", "max_old_space"], n.get("max_old_space"))
    per_process = ck.size([KEY, "memory_per_worker"], c["memory_per_worker"])
    if heap and heap < MIN_NODE_HEAP:
        ck.problem([KEY, "node", "max_old_space"], n["max_old_space"], "at least 64MiB: V8's own old space needs "
                   "tens of MiB before the app's objects", "remove it (75 % of memory_per_worker) or raise it")
    elif heap is not None and per_process is not None and heap >= per_process:
        ck.problem([KEY, "node", "max_old_space"], n["max_old_space"],
                   f"less than memory_per_worker ({c['memory_per_worker']}): the process also needs memory "
                   "outside V8's heap", "remove it (75 % of memory_per_worker) or raise memory_per_worker")
    return {**present(node_max_old_space_bytes=heap), **given(n, node_uses_threadpool="uses_threadpool")}


def app(ck: Checker, cache) -> AppSpec:
    c = ck.config[KEY]
    jobs = _jobs(ck, c, cache)
    request_ms = ck.duration([KEY, "request_timeout"], c.get("request_timeout"), whole_seconds=True, minimum_ms=1000)
    _job_timeouts(ck, c, jobs, request_ms)
    framework = c["framework"]
    for name, owner in FRAMEWORK_KEYS.items():
        if name in c and framework not in owner:
            ck.problem([KEY, name], c[name], f"a setting of a {' or '.join(owner)} app (this app is {framework})",
                       f"remove app.{name}, or set app.framework to {owner[0]}")
    versions = _versions(ck, c)
    runtime = go_settings(ck, c.get("go") or {}) if framework == "go" else \
        node_settings(ck, c.get("node") or {}, c) if framework == "node" else {}
    return AppSpec(framework=framework, threads=c.get("threads", DEFAULT_THREADS[framework]),
                   memory_per_worker_bytes=ck.size([KEY, "memory_per_worker"], c["memory_per_worker"]), jobs=jobs,
                   **given(c, max_workers="max_workers", port="port", lb_port="lb_port",
                           db_pool_headroom="db_pool_headroom", jemalloc="jemalloc"),
                   **versions, **runtime, **present(request_timeout_ms=request_ms))
