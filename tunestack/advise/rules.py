"""From two samples of a running stack to stack-file changes. Pure: samples and the plan in,
findings out. No advice without evidence: an area whose counters went backwards (a reset or a
restart), whose window is shorter than MIN_WINDOW_S, or which saw too little work to judge says
"not enough data", never a guess.

Each rule names its measurement (numbers and window), its source, the stack-file change and the
effect expected. The change is only proposed; `advise --write` puts it in the stack file, and
review and the budgets judge it like any other edit."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..units import MIB, format_bytes_human

# PostgreSQL flushes a backend's statistics at most once a second (pgstat.c, PGSTAT_MIN_INTERVAL),
# PgBouncer's SHOW STATS totals and Redis' INFO counters are live: a window under 15 s holds too
# few events to judge.
MIN_WINDOW_S = 15
MIN_TEMP_FILES = 5           # a handful of spills is a signal; one is an accident
MIN_TRANSACTIONS = 100       # pool waits judged over at least this many transactions
POOL_WAIT_MS = 50            # an average wait for a server connection above this is felt by requests
MIN_CACHE_READS = 200
CACHE_HIT_TARGET = 0.8       # the alerts' CacheHitRateLow threshold
MIN_QUEUE_GROWTH = 100       # jobs the queue gained over the window
MIN_CHECKPOINTS = 2


@dataclass(frozen=True)
class Finding:
    area: str
    measurement: str          # what was seen, with its numbers and window
    rule: str                 # the rule and its source
    key: tuple[str, ...]      # the stack-file key to change, under config
    value: object             # its new value
    effect: str               # what should follow

    @property
    def change(self) -> str:
        return f"{' → '.join(self.key)}: {self.value}"

    def to_json(self) -> dict:
        return {**asdict(self), "key": list(self.key), "change": self.change}


@dataclass(frozen=True)
class Window:
    seconds: float

    def __str__(self) -> str:
        return f"{self.seconds / 60:.1f} min" if self.seconds >= 120 else f"{self.seconds:.0f} s"


@dataclass(frozen=True)
class NoData:
    area: str
    why: str


def _delta(before: dict, after: dict, key: str) -> float | None:
    if key not in before or key not in after:
        return None
    return after[key] - before[key]


def _usable(area: str, before: dict, after: dict, keys: tuple[str, ...]) -> NoData | None:
    for sample in (before, after):
        if "error" in sample:
            return NoData(area, f"could not be read: {sample['error']}")
    if any(_delta(before, after, k) is None for k in keys):
        return NoData(area, "the counters are missing from a sample")
    if any(_delta(before, after, k) < 0 for k in keys) or _reset_at(before) != _reset_at(after):
        return NoData(area, "the counters were reset or the server restarted between the samples")
    return None


def _reset_at(sample: dict) -> int | None:
    """When the statistics were last reset, in whole seconds (0: never): a sample from Prometheus
    carries the exporter's rounding of the same time."""
    reset = sample.get("stats_reset")
    return None if reset is None else int(reset)


MAINTENANCE_CAP_MIB = 2048   # pgtune's own cap for maintenance_work_mem


def _mib_ceiling(n_bytes: float) -> int:
    """The next power of two in MiB: work_mem in steps an operator recognises."""
    return 2 ** math.ceil(math.log2(max(1.0, n_bytes / MIB)))


def work_mem(before: dict, after: dict, window: Window, plan) -> Finding | NoData | None:
    bad = _usable("postgres: temp files", before, after, ("temp_files", "temp_bytes"))
    if bad:
        return bad
    files, spilled = _delta(before, after, "temp_files"), _delta(before, after, "temp_bytes")
    if files < MIN_TEMP_FILES:
        return None
    maintenance = _delta(before, after, "temp_blks_maintenance") or 0   # samples from before it: 0
    every = _delta(before, after, "temp_blks_all") or 0
    if every and maintenance * 2 > every:   # most of the spill came from maintenance statements
        return Finding(
            "postgres: maintenance statements spill to disk",
            f"{int(files)} temporary files, {format_bytes_human(int(spilled))} in {window}, "
            f"{int(maintenance * 100 // every)}% of the blocks written by CREATE INDEX, ALTER TABLE, CLUSTER, "
            "REINDEX, VACUUM or REFRESH",
            "those statements sort in maintenance_work_mem, not work_mem (PostgreSQL docs, maintenance_work_mem): "
            "a larger work_mem would change nothing for them and cost every query's worst case",
            ("tunestack:postgres", "overrides", "maintenance_work_mem"),
            f"{min(MAINTENANCE_CAP_MIB, _mib_ceiling(spilled / files * 2))}MB",
            "an index build of that size sorts in memory; only these statements use it (at most "
            "autovacuum_max_workers + one admin operation at a time), and the plan's memory budget checks it")
    average = spilled / files
    current = plan.postgres["work_mem"].value
    wanted = max(_mib_ceiling(average * 2), current // MIB * 2)
    room = work_mem_room(plan) // MIB
    proposed = min(wanted, room)
    if proposed * MIB <= current:
        return NoData("postgres: temp files", f"{int(files)} temporary files in {window}, but no larger work_mem fits "
                                              "the memory set aside for PostgreSQL: give its host more memory, or "
                                              "run fewer connections")
    return Finding(
        "postgres: sorts and hashes spill to disk",
        f"{int(files)} temporary files, {format_bytes_human(int(spilled))} in all (average "
        f"{format_bytes_human(int(average))}) in {window}; work_mem is {plan.postgres['work_mem'].text}",
        "an operation whose data exceeds work_mem writes temporary files; raise work_mem above the size "
        "that spills, about twice the file (in memory a sort takes more room than on disk). PostgreSQL docs, "
        "work_mem and log_temp_files",
        ("tunestack:postgres", "overrides", "work_mem"), f"{proposed}MB",
        f"sorts and hashes up to about {proposed // 2} MiB stay in memory" + (
            f" (as much as fits: {wanted} MB would not)" if proposed < wanted else "")
        + "; the plan's memory budget checks that every connection's worst case still fits")


def work_mem_room(plan) -> int:
    """The largest work_mem whose worst case (every connection and parallel worker sorting and
    hashing at once, tunestack/postgres/footprint.py) fits the memory set aside for PostgreSQL."""
    from ..postgres.footprint import footprint

    fp = footprint({k: s.value for k, s in plan.postgres.items()}, plan.spec.postgres.version)
    memory = plan.postgres_inputs.memory_kb * 1024
    return max(0, int((memory - fp.shared_bytes - fp.fixed_private_bytes) / fp.work_mem_factor))


def pool_waits(before: dict, after: dict, window: Window, plan) -> Finding | NoData | None:
    bad = _usable("pgbouncer: pool waits", before, after, ("total_wait_time_us", "total_xact_count"))
    if bad:
        return bad
    xacts, waited_us = _delta(before, after, "total_xact_count"), _delta(before, after, "total_wait_time_us")
    if xacts < MIN_TRANSACTIONS and not after.get("cl_waiting"):
        return None
    average_ms = waited_us / 1000 / max(1.0, xacts)
    if average_ms < POOL_WAIT_MS and not after.get("cl_waiting"):
        return None
    threads = plan.spec.app.threads
    pool = plan.pgbouncer["default_pool_size"].value
    measured = (f"{int(xacts)} transactions waited {average_ms:.0f} ms on average for a server connection in "
                f"{window}; {int(after.get('cl_waiting', 0))} clients waiting at the end (longest "
                f"{after.get('maxwait_s', 0):.1f} s); pool {pool}")
    if threads > 1:
        fewer = max(1, threads // 2)
        return Finding(
            "pgbouncer: clients wait for a server connection", measured,
            "more client threads than the database can serve at once only queue in PgBouncer: with the pool "
            "sized to the database's cores (PostgreSQL wiki, \"Number Of Database Connections\"), send fewer "
            "concurrent queries (PgBouncer manual, SHOW POOLS: cl_waiting)",
            ("tunestack:app", "threads"), fewer,
            f"each app process holds at most {fewer} queries in flight; requests queue at the load balancer, "
            "where the gates and HAProxy see them, instead of inside PgBouncer")
    return Finding(
        "pgbouncer: clients wait for a server connection", measured,
        "the pool is the database's concurrency: raise it only while the database's cores keep up (PostgreSQL "
        "wiki, \"Number Of Database Connections\")",
        ("tunestack:pgbouncer", "default_pool_size"), pool + max(1, pool // 4),
        "a quarter more server connections; the plan's max_connections budget checks that they fit")


def cache_evictions(before: dict, after: dict, window: Window, plan) -> Finding | NoData | None:
    bad = _usable("redis cache", before, after, ("evicted_keys", "keyspace_hits", "keyspace_misses"))
    if bad:
        return bad
    evicted = _delta(before, after, "evicted_keys")
    hits, misses = _delta(before, after, "keyspace_hits"), _delta(before, after, "keyspace_misses")
    reads = hits + misses
    if evicted <= 0 or reads < MIN_CACHE_READS:
        return None
    rate = hits / reads
    if rate >= CACHE_HIT_TARGET:
        return None
    memory = plan.spec.redis_cache.memory_bytes
    proposed = _mib_ceiling(memory * 1.5)
    return Finding(
        "redis cache: evicts keys that are read again",
        f"{int(evicted)} keys evicted and a hit rate of {rate:.0%} over {int(reads)} reads in {window}; "
        f"maxmemory {format_bytes_human(int(after.get('maxmemory', 0)))}",
        f"a cache that evicts while its hit rate is under {CACHE_HIT_TARGET:.0%} is too small for its working set "
        "(Redis docs, \"Key eviction\": evicted_keys; the alerts' CacheHitRateLow)",
        ("tunestack:redis", "cache", "memory"), f"{proposed}MiB",
        f"room for half as many keys again ({format_bytes_human(memory)} → {proposed} MiB); the host's memory "
        "budget checks that it fits")


def queue_backlog(before: dict, after: dict, window: Window, plan) -> Finding | NoData | None:
    for sample in (before, after):
        if "error" in sample:
            return NoData("job queue", f"could not be read: {sample['error']}")
    grew = after["depth"] - before["depth"]
    if grew < MIN_QUEUE_GROWTH:
        return None
    concurrency = plan.spec.app.jobs.concurrency
    return Finding(
        "job queue: jobs arrive faster than they run",
        f"the queue grew by {grew} jobs to {after['depth']} in {window} with {concurrency} job threads",
        "a queue that grows for a whole window is short of workers (Sidekiq wiki, \"Scaling Sidekiq\": add "
        "concurrency while the database keeps up, then processes)",
        ("tunestack:app", "jobs", "concurrency"), concurrency * 2,
        "twice the job threads; the connection budget checks their pools against PgBouncer's max_client_conn")


def checkpoints(before: dict, after: dict, window: Window, plan) -> Finding | NoData | None:
    bad = _usable("postgres: checkpoints", before, after, ("checkpoints_timed", "checkpoints_requested"))
    if bad:
        return bad
    requested = _delta(before, after, "checkpoints_requested")
    timed = _delta(before, after, "checkpoints_timed")
    if requested < MIN_CHECKPOINTS or requested <= timed:
        return None
    wal = _delta(before, after, "wal_bytes")
    if not wal:
        return NoData("postgres: checkpoints", "no WAL volume to size max_wal_size from (PostgreSQL < 14)")
    seconds = window.seconds
    rate = _mib_ceiling(wal / seconds)
    return Finding(
        "postgres: checkpoints forced by WAL volume",
        f"{int(requested)} requested checkpoints against {int(timed)} timed in {window}, "
        f"{format_bytes_human(int(wal))} of WAL ({format_bytes_human(int(wal / seconds))}/s); max_wal_size is "
        f"{plan.postgres['max_wal_size'].text}",
        "checkpoints should come from checkpoint_timeout, not from max_wal_size (PostgreSQL docs, \"WAL "
        "Configuration\": \"checkpoints ... requested\" mean max_wal_size is too small); the plan sizes "
        "max_wal_size from the WAL rate",
        ("tunestack:postgres", "wal_rate"), f"{rate}MB",
        "max_wal_size sized for the measured WAL rate, so checkpoints come from the timer again")


DEAD_SHARE = 0.2              # autovacuum's own default scale factor: 20 % of a table dead
MIN_DEAD_ROWS = 10_000
IDLE_IN_TRANSACTION_S = 30    # a session idle this long inside a transaction holds locks and blocks vacuum


def dead_tuples(before: dict, after: dict, window: Window, plan) -> Finding | NoData | None:
    bad = _usable("postgres: dead tuples", before, after, ("xact_commit",))
    if bad:
        return bad
    lagging = [(name, live, dead) for name, (live, dead, vacuums) in after.get("tables", {}).items()
               if dead >= MIN_DEAD_ROWS and dead > DEAD_SHARE * max(live, 1)
               and vacuums <= before.get("tables", {}).get(name, [0, 0, vacuums])[2]]
    if not lagging:
        return None
    current = plan.postgres.get("autovacuum_vacuum_scale_factor")
    if current is not None and float(current.value) <= 0.05:
        return NoData("postgres: dead tuples", f"{len(lagging)} tables lag behind autovacuum at a scale factor of "
                                               f"{current.text} already: look at long transactions and "
                                               "autovacuum_max_workers")
    name, live, dead = max(lagging, key=lambda t: t[2])
    return Finding(
        "postgres: autovacuum falls behind",
        f"{len(lagging)} tables with more than {DEAD_SHARE:.0%} dead rows and no autovacuum in {window}; worst "
        f"{name}: {int(dead)} dead of {int(live)} live",
        "autovacuum starts on a table once threshold + scale_factor × rows are dead; busy tables need a smaller "
        "scale factor (PostgreSQL docs, \"Routine Vacuuming\": autovacuum_vacuum_scale_factor)",
        ("tunestack:postgres", "overrides", "autovacuum_vacuum_scale_factor"), 0.05,
        "autovacuum starts at 5 % dead rows instead of 20 %: shorter vacuums, less bloat")


def idle_in_transaction(before: dict, after: dict, window: Window, plan) -> Finding | NoData | None:
    if "error" in after:
        return None
    oldest = after.get("idle_in_transaction_oldest_s", 0)
    limit_ms = plan.postgres["idle_in_transaction_session_timeout"].value
    if not after.get("idle_in_transaction") or oldest < IDLE_IN_TRANSACTION_S or limit_ms <= IDLE_IN_TRANSACTION_S * 1000:
        return None
    return Finding(
        "postgres: sessions idle inside a transaction",
        f"{int(after['idle_in_transaction'])} sessions idle in a transaction, the oldest for {oldest:.0f} s; "
        f"idle_in_transaction_session_timeout is {plan.postgres['idle_in_transaction_session_timeout'].text}",
        "a transaction left open holds its locks and keeps vacuum from removing rows (PostgreSQL docs, "
        "idle_in_transaction_session_timeout)",
        ("tunestack:postgres", "idle_in_transaction_timeout"), f"{IDLE_IN_TRANSACTION_S}s",
        f"such sessions end after {IDLE_IN_TRANSACTION_S} s; the app sees an error instead of blocking others")


def top_statements(before: dict, after: dict, limit: int = 3) -> list[dict]:
    """What cost the server most in the window (pg_stat_statements): measurements, not advice."""
    if "error" in before or "error" in after:
        return []
    out = []
    for queryid, (calls, total_ms, rows, temp_blocks, text) in after.get("statements", {}).items():
        was = before.get("statements", {}).get(queryid, [0, 0, 0, 0, text])
        d_calls, d_ms = calls - was[0], total_ms - was[1]
        if d_calls > 0 and d_ms > 0:
            out.append({"query": text, "calls": int(d_calls), "total_ms": round(d_ms, 1),
                        "mean_ms": round(d_ms / d_calls, 2), "rows": int(rows - was[2]),
                        "temp_blocks_written": int(temp_blocks - was[3])})
    return sorted(out, key=lambda s: -s["total_ms"])[:limit]


PG_CACHE_HIT_MIN = 0.99     # an OLTP working set that fits shared_buffers + the page cache reads >99 % from memory
MIN_BLOCK_READS = 10_000
FRAGMENTATION_MAX = 1.5      # Redis docs (INFO, mem_fragmentation_ratio): above 1.5 the allocator wastes memory


def notes(before: dict, after: dict) -> list[str]:
    """What the counters show that needs a person rather than a stack-file change."""
    out = []
    pg_b, pg_a = before.get("postgres", {}), after.get("postgres", {})
    if not _usable("postgres", pg_b, pg_a, ("blks_hit", "blks_read", "deadlocks")):
        hit, read = _delta(pg_b, pg_a, "blks_hit"), _delta(pg_b, pg_a, "blks_read")
        if hit + read >= MIN_BLOCK_READS and hit / (hit + read) < PG_CACHE_HIT_MIN:
            out.append(f"postgres: {hit / (hit + read):.1%} of {int(hit + read)} block reads came from shared_buffers "
                       "(under 99 %): the working set outgrows memory, or a query scans more than it should "
                       "(see the top statements)")
        if _delta(pg_b, pg_a, "deadlocks") > 0:
            out.append(f"postgres: {int(_delta(pg_b, pg_a, 'deadlocks'))} deadlocks: transactions take the same "
                       "locks in different orders (PostgreSQL docs, \"Deadlocks\")")
    for role in ("cache", "queue"):
        info = after.get(f"redis_{role}", {})
        if info.get("mem_fragmentation_ratio", 0) > FRAGMENTATION_MAX and info.get("used_memory", 0) > 64 * MIB:
            out.append(f"redis {role}: fragmentation {info['mem_fragmentation_ratio']:.2f} (over {FRAGMENTATION_MAX}): "
                       "memory the allocator holds but does not use (Redis docs, INFO: mem_fragmentation_ratio; "
                       "activedefrag)")
        if info.get("blocked_clients", 0) and role == "cache":
            out.append(f"redis cache: {int(info['blocked_clients'])} clients blocked on a cache instance")
        if info.get("aof_rewrite_in_progress"):
            out.append(f"redis {role}: an AOF rewrite was running at the sample (a fork: memory and latency spike)")
    return out


RULES = (work_mem, pool_waits, cache_evictions, queue_backlog, checkpoints, dead_tuples, idle_in_transaction)
AREAS = {work_mem: "postgres", pool_waits: "pgbouncer", cache_evictions: "redis_cache", queue_backlog: "queue",
         checkpoints: "postgres", dead_tuples: "postgres", idle_in_transaction: "postgres"}


def advise(before: dict, after: dict, plan) -> tuple[list[Finding], list[NoData]]:
    seconds = after["at"] - before["at"]
    if seconds < MIN_WINDOW_S:
        return [], [NoData("every area", f"the samples are {seconds:.0f} s apart; at least {MIN_WINDOW_S} s "
                                         "are needed")]
    window = Window(seconds)
    findings, no_data = [], []
    for rule in RULES:
        area = AREAS[rule]
        result = rule(before.get(area, {"error": "not sampled"}), after.get(area, {"error": "not sampled"}), window, plan)
        if isinstance(result, Finding):
            findings.append(result)
        elif isinstance(result, NoData):
            no_data.append(result)
    return findings, no_data
