"""PostgreSQL: pgtune's recommenders with the memory and connections the stack leaves it, then the
stack's own policies, overrides, and per-role timeouts. Pure."""
from __future__ import annotations

from dataclasses import replace

from ..postgres import operations, pgtune, wal
from ..postgres.footprint import VACUUM_CAP_BYTES, VACUUM_CAP_UNTIL, describe, footprint
from ..postgres.inputs import DEFAULT_CONNECTIONS
from ..postgres.memory import WORK_MEM_FLOOR_KB
from ..postgres.catalog import catalog
from ..postgres.inputs import PgInputs, Rec
from ..stackfile.spec import JobsSpec, PostgresSpec
from ..units import MIB, format_bytes_human, format_ms
from .connections import SUPERUSER_RESERVED
from .placement import Spot
from .setting import Setting, chosen, duration_ms, policy, size_kb

MIN_WORK_MEM_KB = 64            # PostgreSQL's own minimum for work_mem
MIN_LOCK_TIMEOUT_MS = 1000


def from_rec(name: str, rec: Rec, version: int) -> Setting:
    """A recommender's value as a typed setting: memory in bytes, counts as numbers."""
    unit = catalog(version)[name].unit
    if rec.number is not None and unit in ("kB", "8kB", "MB"):   # recommenders count memory in kB
        return Setting(int(rec.number) * 1024, rec.reason, text=rec.value, unit="bytes")
    return Setting(rec.number if rec.number is not None else rec.value, rec.reason, text=rec.value)


def worst_case(settings: dict[str, Setting], version: int) -> tuple[int, str]:
    """What the server may allocate at worst (postgres/footprint.py), in bytes, and the arithmetic."""
    fp = footprint({k: s.value for k, s in settings.items()}, version)
    wm = settings["work_mem"].value if "work_mem" in settings else 4 * MIB
    return fp.total(wm), describe(fp, wm)


def stack_work_mem(settings: dict[str, Setting], inputs: PgInputs, memory_bytes: int) -> Setting | None:
    """Deliberate differences from pgtune in stack plans (README, "work_mem"), None when pgtune's
    value stands:
    1. A pooled stack has few connections, and pgtune divides by them: at most pgtune's value for
       the workload's own default connection count (web 200, oltp 300, ...).
    2. What every backend and parallel worker may then allocate (sort + hash_mem_multiplier × hash)
       stays within memory − effective_cache_size, so the page cache effective_cache_size counts on
       is really there; not below pgtune's 4MB floor for that.
    3. Whatever it takes to fit the memory at all, down to PostgreSQL's own 64kB minimum."""
    pgtune_wm = settings["work_mem"].value
    wm, why = pgtune_wm, []
    default = DEFAULT_CONNECTIONS[inputs.workload]
    if inputs.max_connections < default:
        at_default = int(pgtune.recommend(replace(inputs, max_connections=default))["work_mem"].number) * 1024
        if at_default < wm:
            wm = at_default
            why.append(f"pgtune's value at {default} connections, its {inputs.workload} default ({inputs.max_connections} "
                       f"pooled connections would give {format_bytes_human(pgtune_wm)})")
    fp = footprint({k: s.value for k, s in settings.items()}, inputs.version)
    room = memory_bytes - settings["effective_cache_size"].value
    if fp.private(wm) > room:
        fit = max(WORK_MEM_FLOOR_KB * 1024, int((room - fp.fixed_private_bytes) / fp.work_mem_factor) // 1024 * 1024)
        if fit < wm:
            wm = fit
            why.append(f"private memory within {format_bytes_human(room)} (memory − effective_cache_size: the page cache "
                       f"it counts on stays free), not below pgtune's 4MB")
    if fp.total(wm) > memory_bytes:
        fit = max(MIN_WORK_MEM_KB * 1024,
                  int((memory_bytes - fp.shared_bytes - fp.fixed_private_bytes) / fp.work_mem_factor) // 1024 * 1024)
        if fit < wm:
            wm = fit
            why.append(f"lowered to fit {format_bytes_human(memory_bytes)} (pgtune's 4MB floor would overcommit this host)")
    if wm == pgtune_wm:
        return None
    setting = size_kb(wm // 1024, "; ".join(why) + f"; worst case {describe(fp, wm)} = {format_bytes_human(fp.total(wm))}")
    return replace(setting, rule="pgtune's value at the workload's default connections, lowered until every "
                                 "backend's and parallel worker's sorts and hashes fit the memory left beside "
                                 "shared_buffers and the page cache (tunestack plan shows the arithmetic)")


def postgres_settings(inputs: PgInputs, pg: PostgresSpec, spot: Spot, listen_why: str,
                      max_connections: Setting, memory_bytes: int, stack_path: str, source_of) -> dict[str, Setting]:
    settings: dict[str, Setting] = {
        "listen_addresses": policy(spot.listen, listen_why),
        "port": chosen(pg.port, "postgres.port", source_of, "PostgreSQL's own port"),
    }
    for name, rec in pgtune.recommend(inputs).items():
        settings[name] = Setting(max_connections.value, max_connections.reason, rule=max_connections.rule) if name == "max_connections" \
            else from_rec(name, rec, pg.version)
    timer = pg.overrides.get("checkpoint_timeout")
    timer_ms = catalog(pg.version)["checkpoint_timeout"].typed(timer)[0] if timer else wal.PG_CHECKPOINT_TIMEOUT_MS
    for name, rec in wal.stack_wal_sizes(inputs, timer_ms, pg.wal_rate_bytes and pg.wal_rate_bytes / 1024,
                                         pg.wal_disk_bytes and pg.wal_disk_bytes // 1024).items():
        settings[name] = from_rec(name, rec, pg.version)
    av = settings.get("autovacuum_work_mem")
    if av is not None and pg.version <= VACUUM_CAP_UNTIL and av.value > VACUUM_CAP_BYTES:
        settings["autovacuum_work_mem"] = size_kb(VACUUM_CAP_BYTES // 1024, "VACUUM uses at most 1GB for dead tuples on "
                                                  f"PostgreSQL {pg.version} (docs, autovacuum_work_mem): more is never used")
    fitted = stack_work_mem(settings, inputs, memory_bytes)
    if fitted:
        settings["work_mem"] = fitted
    eio = int(settings["effective_io_concurrency"].value) if "effective_io_concurrency" in settings else 1
    for name, rec in operations.recommend(inputs, eio).items():
        settings[name] = from_rec(name, rec, pg.version)
    workers = int(settings["autovacuum_max_workers"].value) if "autovacuum_max_workers" in settings else 3
    cost = operations.vacuum_cost_limit(inputs.storage, workers)
    if cost is not None:
        settings["autovacuum_vacuum_cost_limit"] = from_rec("autovacuum_vacuum_cost_limit", cost, pg.version)
    settings["superuser_reserved_connections"] = policy(SUPERUSER_RESERVED,
                                                        "PostgreSQL's default, made explicit for the budget")
    settings["shared_preload_libraries"] = policy("pg_stat_statements", "query statistics; needs a restart to load")
    settings["log_min_duration_statement"] = duration_ms(pg.slow_query_ms, "log slow queries (stack: slow_query)",
                                                         source_of("postgres.slow_query"))
    settings["log_lock_waits"] = policy("on", "log waits longer than deadlock_timeout")
    settings["idle_in_transaction_session_timeout"] = duration_ms(
        pg.idle_in_transaction_timeout_ms,
        "end sessions idle in a transaction: they block vacuum and hold locks; safe cluster-wide")
    settings["password_encryption"] = policy("scram-sha-256", "PgBouncer 1.18 authenticates with SCRAM")
    return apply_overrides(settings, pg, stack_path)


def apply_overrides(settings: dict[str, Setting], pg: PostgresSpec, stack_path: str) -> dict[str, Setting]:
    """Stack-file overrides replace computed values; every value is checked against PostgreSQL's
    range for the target version (the loader already refused bad overrides)."""
    gucs = catalog(pg.version)
    out = dict(settings)
    for name, text in pg.overrides.items():
        was = settings.get(name)
        why = f"override in {stack_path}" + (f"; tunestack would set {was.text} ({was.reason})" if was else "")
        value, unit = gucs[name].typed(text)
        out[name] = Setting(value, why, "override", text=text, unit=unit)
    for name, setting in out.items():
        complaint = gucs[name].check(setting.text)
        if complaint:  # a planner bug, not a user error: never write a value PostgreSQL rejects
            raise AssertionError(f"planned {name}={setting.text} outside PostgreSQL {pg.version}: {complaint}")
    return out


HUMAN_IDLE_SESSION_MS = 15 * 60_000
JOBS_STATEMENT_TIMEOUT_MS = 300_000   # a job may run for minutes; a runaway one still ends


def role_settings(pg: PostgresSpec, request_timeout_ms: int, jobs: JobsSpec = JobsSpec()) -> dict[str, dict[str, Setting]]:
    """Per-role timeouts: never cluster-wide (PostgreSQL docs, runtime-config-client). Web requests
    (app) and background jobs (jobs) connect as their own roles, so a job is not cancelled at a
    web request's statement_timeout."""
    if pg.statement_timeout_ms is not None:
        statement = duration_ms(pg.statement_timeout_ms, "stack file", "stack file")
    else:
        statement = duration_ms(request_timeout_ms // 2, f"half the {format_ms(request_timeout_ms)} request timeout")
    if pg.lock_timeout_ms is not None:
        lock = duration_ms(pg.lock_timeout_ms, "stack file", "stack file")
    else:
        lock = duration_ms(max(MIN_LOCK_TIMEOUT_MS, statement.value // 3),
                           "a third of statement_timeout: lock waits give up first")
    app = {"statement_timeout": statement, "lock_timeout": lock}
    migrator = {"statement_timeout": duration_ms(0, "migrations may run long; they connect directly", "policy"),
                "lock_timeout": duration_ms(lock.value, "DDL must not queue behind long locks")}
    if pg.version >= 17:
        # PostgreSQL 17: transaction_timeout ends a transaction however its statements are spaced.
        app["transaction_timeout"] = duration_ms(request_timeout_ms, f"a web request's transaction cannot outlive "
                                                                     f"the {format_ms(request_timeout_ms)} request")
    if pg.version >= 14:
        # Not for app or jobs: PgBouncer keeps their server connections idle by design.
        migrator["idle_session_timeout"] = duration_ms(HUMAN_IDLE_SESSION_MS, "a forgotten psql or migration session "
                                                                              "ends after 15 min idle: it holds a direct "
                                                                              "connection slot (PostgreSQL 14+)", "policy")
    return {
        "app": app,
        "jobs": {"statement_timeout": duration_ms(jobs.statement_timeout_ms, "stack file (app.jobs.statement_timeout)",
                                                  "stack file") if jobs.statement_timeout_ms is not None else
                 duration_ms(JOBS_STATEMENT_TIMEOUT_MS, "jobs run longer than requests: 5 min ends a runaway one",
                             "policy"),
                 "lock_timeout": duration_ms(jobs.lock_timeout_ms, "stack file (app.jobs.lock_timeout)", "stack file")
                 if jobs.lock_timeout_ms is not None else
                 duration_ms(lock.value, "the web role's: web requests queue behind a job that waits for a lock")},
        "migrator": migrator,
    }


# Docker 25's default seccomp profile blocks io_uring_setup, io_uring_enter and io_uring_register
# (moby/moby, profiles/seccomp/default.json), so PostgreSQL 18 in a container could not use it.
IO_URING_IN_DOCKER = "Docker's default seccomp profile (Docker 25+) blocks the io_uring system calls"


def pg_inputs(pg: PostgresSpec, cpus: int, storage: str, memory_bytes: int, max_connections: int,
              memory_note: str, docker: bool = False) -> PgInputs:
    return PgInputs(memory_kb=memory_bytes // 1024, cpus=cpus, storage=storage, workload=pg.workload,
                    version=pg.version, max_connections=max_connections, db_size=pg.db_size,
                    memory_note=memory_note, lz4="lz4" in pg.built_with, liburing="liburing" in pg.built_with,
                    io_uring_blocked=IO_URING_IN_DOCKER if docker else "")
