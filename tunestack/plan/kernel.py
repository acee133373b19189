"""Kernel settings the services ask for. Pure.

Linux caps every listen() backlog at net.core.somaxconn without a word (listen(2): "If the backlog
argument is greater than the value in /proc/sys/net/core/somaxconn, then it is silently truncated").
So the plan names each listening service's backlog, and the somaxconn its network namespace needs
to honour it. On Docker each container has its own namespace, so the value is set per container
(`sysctls`); on hosts it is the host's. verify reads what the namespace really has.
"""
from __future__ import annotations

from ..units import MIB, ceil_div, round_up
from .setting import Setting

LINUX_SOMAXCONN_DEFAULT = 4096     # Linux ≥ 5.4 (it was 128 before): kernel docs, ip-sysctl
SOMAXCONN_MAX = 65535              # the sysctl's ceiling
PGBOUNCER_BACKLOG_DEFAULT = 128    # PgBouncer manual: listen_backlog
REDIS_TCP_BACKLOG = 511            # redis.conf: tcp-backlog default
PUMA_BACKLOG = 1024                # Puma: the binder's default backlog
GUNICORN_BACKLOG = 2048            # Gunicorn docs: backlog
NODE_BACKLOG = 511                 # Node.js docs: server.listen backlog default
POSTGRES_BACKLOG_PER_CONNECTION = 2  # PostgreSQL listens with 2 × MaxConnections (pqcomm.c)


def pgbouncer_backlog(max_client_conn: int) -> Setting:
    """Room for every client of the fleet to connect at once (a deploy reconnects them all). In
    steps (Linux's default somaxconn, then powers of two), because PgBouncer reads listen_backlog
    only at start: a few more clients must not cost a restart."""
    value = LINUX_SOMAXCONN_DEFAULT
    while value < max_client_conn and value < SOMAXCONN_MAX:
        value *= 2
    value = min(SOMAXCONN_MAX, value)
    # The reason names no client count: it lands in the start-only file, where a changed word
    # would mean a restart.
    return Setting(value, f"max_client_conn clients may all reconnect at once (a deploy); in steps from Linux's "
                          f"default {LINUX_SOMAXCONN_DEFAULT} (PgBouncer's own is {PGBOUNCER_BACKLOG_DEFAULT}; it "
                          "reads this only at start)")


def listen_backlogs(max_connections: int, pgbouncer_backlog_value: int, lb_maxconn: int,
                    framework: str) -> dict[str, tuple[int, str]]:
    """The backlog each listening service asks the kernel for, and why."""
    web = {"rails": (PUMA_BACKLOG, "Puma's default backlog"), "python": (GUNICORN_BACKLOG, "Gunicorn's default backlog"),
           "node": (NODE_BACKLOG, "Node's default listen backlog (net.Server.listen)"),
           "go": (LINUX_SOMAXCONN_DEFAULT, "Go listens with the namespace's somaxconn (net package)")}[framework]
    return {
        "postgres": (POSTGRES_BACKLOG_PER_CONNECTION * max_connections,
                     f"PostgreSQL listens with 2 × max_connections ({max_connections})"),
        "pgbouncer": (pgbouncer_backlog_value, "PgBouncer's planned listen_backlog"),
        "redis-cache": (REDIS_TCP_BACKLOG, "Redis' default tcp-backlog"),
        "redis-queue": (REDIS_TCP_BACKLOG, "Redis' default tcp-backlog"),
        "haproxy": (lb_maxconn, "HAProxy's backlog defaults to the frontend's maxconn"),
        "web": web,
    }


def somaxconn(backlog: int, why: str) -> Setting:
    """At least the service's backlog; never below Linux's own default."""
    value = min(SOMAXCONN_MAX, max(backlog, LINUX_SOMAXCONN_DEFAULT))
    reason = (f"≥ the listen backlog {backlog} ({why}); Linux truncates a larger backlog to it"
              + (f"; Linux's default {LINUX_SOMAXCONN_DEFAULT} already allows it" if backlog <= LINUX_SOMAXCONN_DEFAULT
                 else ""))
    covered = backlog <= LINUX_SOMAXCONN_DEFAULT
    rule = (f"Linux's default {LINUX_SOMAXCONN_DEFAULT} already allows the service's listen backlog" if covered
            else "≥ the service's listen backlog; Linux truncates a larger backlog to it")
    return Setting(value, reason, rule=rule)


def kernel_settings(backlogs: dict[str, tuple[int, str]]) -> dict[str, dict[str, Setting]]:
    """Per service: the sysctls its network namespace needs, and the backlog they serve (`listen_backlog`,
    what verify compares the namespace's value with)."""
    return {service: {"net.core.somaxconn": somaxconn(backlog, why),
                      "listen_backlog": Setting(backlog, why)}
            for service, (backlog, why) in backlogs.items()}


# --- The host: memory overcommit, huge pages, transparent huge pages, file limits ------------------
HUGE_PAGE_BYTES = 2 * MIB                  # x86-64's default huge page (Hugepagesize)
# PostgreSQL's shared memory beyond shared_buffers: buffer descriptors and other per-buffer arrays
# (~3 %), WAL buffers, fixed structures, and lock and process slots per connection. Checked against
# the real servers' `postgres -C shared_memory_size_in_huge_pages` (PostgreSQL 15+) in the tests.
SHARED_OVERHEAD_SHARE = 0.03
SHARED_FIXED_BYTES = 16 * MIB
SHARED_PER_CONNECTION_BYTES = 64 * 1024
PG_MAX_FILES_PER_PROCESS = 1000            # PostgreSQL's default max_files_per_process
REDIS_MAXCLIENTS = 10_000                  # redis.conf default maxclients
REDIS_FD_RESERVE = 32                      # Redis docs (clients): maxclients + 32 descriptors
NOFILE_SPARE = 64                          # PgBouncer manual: listening sockets, logs, DNS on top of connections


def _blocks(n: int) -> int:
    return round_up(n, 1024)


def nr_hugepages(shared_buffers: int, wal_buffers: int, max_connections: int) -> Setting:
    """PostgreSQL docs, "Linux Huge Pages": reserve the server's whole shared memory in huge pages,
    or huge_pages = try silently falls back to 4 kB pages (and page tables in every backend)."""
    need = shared_buffers * (1 + SHARED_OVERHEAD_SHARE) + wal_buffers + SHARED_FIXED_BYTES \
        + max_connections * SHARED_PER_CONNECTION_BYTES
    pages = ceil_div(int(need), HUGE_PAGE_BYTES)
    return Setting(pages, f"PostgreSQL's shared memory (shared_buffers + ~3 % + wal_buffers + per-connection slots) "
                          f"in 2 MiB pages; PostgreSQL 15+ tells it exactly: postgres -C shared_memory_size_in_huge_pages")


# Writeback for a db host (kernel docs, vm.rst: dirty_background_bytes, dirty_bytes). The ratio
# defaults (10 % / 20 % of RAM) let gigabytes of dirty pages pile up on a large host, all flushed at
# a checkpoint's fsync; bytes sized to what the storage writes in well under a second keep
# writeback steady. Never above the defaults' own share of the host's memory.
DIRTY_BACKGROUND_BYTES = {"hdd": 64 * MIB, "ssd": 256 * MIB, "nvme": 512 * MIB}
DIRTY_BYTES_FACTOR = 4            # writers block only at 4 × the background threshold
DEFAULT_DIRTY_BACKGROUND_RATIO = 10
DB_SWAPPINESS = 1                 # swap only to avoid an OOM kill, never PostgreSQL's caches


def writeback(memory_bytes: int, storage: str) -> dict[str, Setting]:
    background = min(DIRTY_BACKGROUND_BYTES.get(storage, DIRTY_BACKGROUND_BYTES["ssd"]),
                     memory_bytes * DEFAULT_DIRTY_BACKGROUND_RATIO // 100)
    return {
        "vm.dirty_background_bytes": Setting(background, f"background writeback from {background // MIB} MiB of dirty "
                                                         f"pages ({storage}), not 10 % of RAM: a checkpoint's fsync "
                                                         "never meets gigabytes at once (kernel docs, vm.rst)",
                                             unit="bytes",
                                             rule="by storage (hdd 64 MiB, ssd 256 MiB, nvme 512 MiB), at most 10 % "
                                                  "of RAM: a checkpoint's fsync never meets gigabytes at once"),
        "vm.dirty_bytes": Setting(background * DIRTY_BYTES_FACTOR,
                                  "writers block at 4 × the background threshold, not 20 % of RAM (kernel docs, vm.rst)",
                                  unit="bytes"),
        "vm.swappiness": Setting(DB_SWAPPINESS, "swap only to avoid an OOM kill, never PostgreSQL's working set "
                                                "(kernel docs, vm.rst: swappiness)"),
    }


def reserved_huge_pages(postgres: dict[str, Setting]) -> dict[str, Setting]:
    """Where pgtune says `try`, the plan reserves the db host's huge pages (nr_hugepages), so `on`:
    PostgreSQL then refuses to start without them (PostgreSQL docs, huge_pages), where `try` would
    fall back to 4 kB pages, strand the reserved ones and, under overcommit mode 2, fail allocations."""
    if postgres["huge_pages"].value != "try":
        return postgres
    return {**postgres, "huge_pages": Setting(
        "on", "the db host reserves PostgreSQL's shared memory in huge pages (vm.nr_hugepages): without them it "
              "fails at start, instead of stranding the reserved pages as try would (PostgreSQL docs, huge_pages)")}


def host_kernel(roles: tuple[str, ...], memory_bytes: int, used_bytes: int, hugepages: Setting | None,
                somaxconn_value: Setting, storage: str = "ssd") -> dict[str, Setting]:
    """What one host's kernel should have, by the services it runs. Memory overcommit: PostgreSQL
    docs ("Linux Memory Overcommit") want mode 2 so the OOM killer never takes the postmaster;
    Redis docs (admin) want mode 1 so a fork for a snapshot or AOF rewrite never fails. A host with
    both gets Redis' mode and PostgreSQL's OOMScoreAdjust=-1000 (service_limits)."""
    out: dict[str, Setting] = {"net.core.somaxconn": somaxconn_value}
    redis = "cache" in roles
    if "db" in roles and hugepages is not None:
        out["vm.nr_hugepages"] = hugepages
    if redis:
        out["vm.overcommit_memory"] = Setting(1, "Redis forks for snapshots and AOF rewrites: with overcommit "
                                                 "mode 1 a fork never fails for want of memory (Redis docs, admin)")
    elif "db" in roles:
        out["vm.overcommit_memory"] = Setting(2, "no overcommit: an allocation fails in one backend instead of the "
                                                 "OOM killer taking the postmaster (PostgreSQL docs, Linux Memory "
                                                 "Overcommit)")
        huge = hugepages.value * HUGE_PAGE_BYTES if hugepages is not None else 0
        # Huge pages are not counted in the commit limit: CommitLimit = swap + (RAM − huge pages) × ratio.
        ratio = min(100, max(50, ceil_div(100 * int((used_bytes - huge) * 1.1), memory_bytes - huge)))
        out["vm.overcommit_ratio"] = Setting(ratio, f"the host's planned worst case outside huge pages + 10 %, as a "
                                                    f"share of the memory outside them (at least the default 50)")
    if "db" in roles:
        out.update(writeback(memory_bytes, storage))
    if redis or "db" in roles:
        out["transparent_hugepage"] = Setting("never", (
            "Redis docs (latency): THP makes forks slow and copy-on-write costly" if redis else
            "PostgreSQL maps its shared memory itself (huge_pages); THP only adds compaction stalls"))
    return out


def service_limits(pgbouncer_nofile: Setting, lb_maxconn: int, shared_db_and_redis: bool) -> dict[str, dict[str, Setting]]:
    """The systemd drop-in (LimitNOFILE, OOMScoreAdjust) or container ulimit of each server."""
    redis = Setting(_blocks(REDIS_MAXCLIENTS + REDIS_FD_RESERVE),
                    f"maxclients {REDIS_MAXCLIENTS} + 32 (Redis docs, clients: Redis lowers maxclients to fit "
                    "the limit)")
    out = {
        "postgres": {"LimitNOFILE": Setting(_blocks(PG_MAX_FILES_PER_PROCESS + NOFILE_SPARE),
                                            f"each backend may open max_files_per_process ({PG_MAX_FILES_PER_PROCESS}) "
                                            "files, plus sockets and pipes")},
        "pgbouncer": {"LimitNOFILE": pgbouncer_nofile},
        "redis-cache": {"LimitNOFILE": redis},
        "redis-queue": {"LimitNOFILE": redis},
        "haproxy": {"LimitNOFILE": Setting(_blocks(2 * lb_maxconn + NOFILE_SPARE),
                                           f"two descriptors per connection (client and server) × maxconn "
                                           f"{lb_maxconn} (HAProxy docs, ulimit-n)",
                                           rule="two descriptors per connection (client and server) × maxconn, "
                                                "rounded up to 1024 (HAProxy docs, ulimit-n)")},
    }
    if shared_db_and_redis:
        out["postgres"]["OOMScoreAdjust"] = Setting(-1000, "overcommit mode 1 for Redis on this host: keep the OOM "
                                                           "killer away from the postmaster (PostgreSQL docs)")
        # PostgreSQL docs (Linux Memory Overcommit): with the postmaster protected, its children
        # reset their own score, or a runaway backend could never be killed.
        out["postgres"]["Environment"] = Setting(
            "PG_OOM_ADJUST_FILE=/proc/self/oom_score_adj PG_OOM_ADJUST_VALUE=0",
            "backends go back to a normal OOM score: only the postmaster is protected, a runaway backend can "
            "still be killed (PostgreSQL docs, Linux Memory Overcommit)")
    return out
