"""What a PostgreSQL server may allocate at worst, term by term. Pure; the stack plans size
work_mem with it and the host budgets add it up.

- shared_buffers, once;
- query memory: every backend and every parallel worker runs one sort and one hash node at once,
  each with its own allowance: work_mem × (1 + hash_mem_multiplier) (PostgreSQL docs, work_mem and
  hash_mem_multiplier: "each such operation ... several running concurrently"; parallel workers
  each get their own);
- autovacuum: each worker's autovacuum_work_mem (or maintenance_work_mem), of which VACUUM uses at
  most 1GB on PostgreSQL 16 and older (docs, autovacuum_work_mem; PostgreSQL 17 lifted it);
- maintenance on an admin connection: one CREATE INDEX or manual VACUUM with maintenance_work_mem
  (a parallel one shares it among its workers: docs, maintenance_work_mem);
- per process: private memory (catalog and plan caches) and, unless huge pages are certain, the
  page tables that map shared_buffers in 4kB pages (8 bytes per page per process).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..units import GB_IN_KB, KB, format_bytes_human

# Andres Freund, "Measuring the memory overhead of a Postgres connection" (2020): about 1.5-2 MiB
# of private memory per idle backend once page tables are set apart.
BACKEND_PRIVATE_BYTES = 2 * KB * KB
PAGE_BYTES = 4096            # x86-64 base page
HUGE_PAGE_BYTES = 2 * 1024 * 1024   # x86-64 default huge page (Hugepagesize)
PAGE_TABLE_ENTRY_BYTES = 8   # one entry per mapped page, per process
# checkpointer, background writer, WAL writer, autovacuum launcher, logical replication launcher
BACKGROUND_PROCESSES = 5
VACUUM_CAP_BYTES = GB_IN_KB * KB   # dead-tuple memory VACUUM can use, PostgreSQL ≤ 16
VACUUM_CAP_UNTIL = 16
ADMIN_MAINTENANCE_OPS = 1    # migrations build one index at a time


def hash_mem_multiplier(version: int) -> float:
    """PostgreSQL's default: 1.0 in 13 and 14, 2.0 from 15 (release notes 15)."""
    return 1.0 if version <= 14 else 2.0


@dataclass(frozen=True)
class Footprint:
    shared_bytes: int                 # shared_buffers
    fixed_private_bytes: int          # private memory that does not depend on work_mem
    work_mem_factor: float            # private bytes per byte of work_mem
    terms: tuple[str, ...]            # the arithmetic, term by term

    def total(self, work_mem_bytes: int) -> int:
        return int(self.shared_bytes + self.private(work_mem_bytes))

    def private(self, work_mem_bytes: int) -> int:
        return int(self.fixed_private_bytes + self.work_mem_factor * work_mem_bytes)


def footprint(values: dict[str, object], version: int) -> Footprint:
    """`values`: planned settings as numbers (memory in bytes), PostgreSQL's defaults for the absent."""
    def get(name, default):
        v = values.get(name)
        return default if v is None else v

    sb = int(get("shared_buffers", 128 * KB * KB))
    maint = int(get("maintenance_work_mem", 64 * KB * KB))
    av_mem = int(get("autovacuum_work_mem", -1))
    av_mem = maint if av_mem <= 0 else av_mem
    if version <= VACUUM_CAP_UNTIL:
        av_mem = min(av_mem, VACUUM_CAP_BYTES)
    av_workers = int(get("autovacuum_max_workers", 3))
    conns = int(get("max_connections", 100))
    parallel = min(int(get("max_parallel_workers", 8)), int(get("max_worker_processes", 8)))
    hmm = float(get("hash_mem_multiplier", hash_mem_multiplier(version)))
    huge_certain = str(get("huge_pages", "try")) == "on"
    # Each process maps shared_buffers: one page-table entry per page it touches, at the page size
    # the server really uses (2 MiB huge pages only when `on` guarantees them).
    page_bytes = HUGE_PAGE_BYTES if huge_certain else PAGE_BYTES
    page_tables = sb // page_bytes * PAGE_TABLE_ENTRY_BYTES
    processes = conns + parallel + av_workers + BACKGROUND_PROCESSES
    per_process = BACKEND_PRIVATE_BYTES + page_tables
    fixed = av_workers * av_mem + ADMIN_MAINTENANCE_OPS * maint + processes * per_process
    h = format_bytes_human
    terms = (
        f"{h(sb)} shared_buffers",
        f"({conns} connections + {parallel} parallel workers) × work_mem × (1 sort + {hmm:g} hash_mem_multiplier)",
        f"{av_workers} autovacuum × {h(av_mem)}" + (" (VACUUM's 1 GiB cap, PostgreSQL ≤ 16)"
                                                    if version <= VACUUM_CAP_UNTIL and av_mem == VACUUM_CAP_BYTES else ""),
        f"{ADMIN_MAINTENANCE_OPS} admin maintenance × {h(maint)}",
        f"{processes} processes × {h(per_process)} (private + page tables for {h(sb)} in "
        + ("2 MiB huge pages" if huge_certain else "4 kB pages") + ")",
    )
    return Footprint(sb, fixed, (conns + parallel) * (1 + hmm), terms)


def describe(fp: Footprint, work_mem_bytes: int) -> str:
    terms = list(fp.terms)
    terms[1] = terms[1].replace("work_mem", f"{format_bytes_human(work_mem_bytes)} work_mem", 1)
    return " + ".join(terms)
