"""Memory recommender: shared_buffers, effective_cache_size, maintenance_work_mem, work_mem,
huge_pages, autovacuum_work_mem. Formulas follow pgtune (le0pard/pgtune, configurationSlice.js,
2026 algorithm); see tests/postgres/test_memory.py for the cited cases."""
from __future__ import annotations

import math

from ..units import GB_IN_KB, MB_IN_KB, format_kb
from .inputs import PgInputs, Rec

WORK_MEM_FLOOR_KB = 4 * MB_IN_KB          # pgtune raised its floor from 64kB to 4MB in 2026
MAINTENANCE_CAP_KB = 8 * GB_IN_KB         # pgtune's cap on Linux
AUTOVACUUM_WORK_MEM_KB = 2 * GB_IN_KB
HUGE_PAGES_FROM_KB = 2 * GB_IN_KB         # pgtune: huge_pages=try once shared_buffers >= 2GB
DEFAULT_MAX_WORKER_PROCESSES = 8          # PostgreSQL's default, used when parallelism is not set


def shared_buffers_kb(i: PgInputs) -> int:
    return i.memory_kb // 16 if i.workload == "desktop" else i.memory_kb // 4


def recommend(i: PgInputs, parallel_workers: int | None) -> dict[str, Rec]:
    mem = i.memory_kb
    of = i.memory_note or f"{format_kb(mem)} of memory"
    sb = shared_buffers_kb(i)
    out: dict[str, Rec] = {}
    share = "1/16" if i.workload == "desktop" else "25%"
    out["shared_buffers"] = Rec(format_kb(sb), f"{share} of {of} (pgtune, {i.workload})", sb)

    ecs = mem // 4 if i.workload == "desktop" else mem * 3 // 4
    share = "25%" if i.workload == "desktop" else "75%"
    out["effective_cache_size"] = Rec(format_kb(ecs), f"{share} of {of}: what the OS cache can hold", ecs)

    maint = mem // 8 if i.workload == "dw" else mem // 16
    reason = f"{'1/8' if i.workload == 'dw' else '1/16'} of {of}"
    if maint >= MAINTENANCE_CAP_KB:
        maint = MAINTENANCE_CAP_KB
        reason += ", capped at 8GB (pgtune)"
    out["maintenance_work_mem"] = Rec(format_kb(maint), reason, maint)

    workers = parallel_workers if parallel_workers is not None else DEFAULT_MAX_WORKER_PROCESSES
    base = (mem - sb) / ((i.max_connections + workers) * 3)
    divisor = {"web": 1, "oltp": 1, "dw": 2, "mixed": 2, "desktop": 6}[i.workload]
    wm = math.floor(base / divisor) if divisor > 1 else math.floor(base)
    if i.db_size == "less_ram":
        wm = math.floor(wm * 1.3)
    elif i.db_size == "greater_ram":
        wm = math.floor(wm * 0.9)
    reason = (f"(memory − shared_buffers) / (3 × ({i.max_connections} connections + {workers} workers))"
              + (f" / {divisor} for {i.workload}" if divisor > 1 else ""))
    if wm < WORK_MEM_FLOOR_KB:
        wm = WORK_MEM_FLOOR_KB
        reason += "; raised to pgtune's 4MB floor"
    out["work_mem"] = Rec(format_kb(wm), reason, wm)

    if sb >= HUGE_PAGES_FROM_KB:
        out["huge_pages"] = Rec("try", "shared_buffers ≥ 2GB: use huge pages when the kernel has them")
    else:
        out["huge_pages"] = Rec("off", "shared_buffers < 2GB: huge pages gain little")

    if maint >= AUTOVACUUM_WORK_MEM_KB:
        out["autovacuum_work_mem"] = Rec(
            format_kb(AUTOVACUUM_WORK_MEM_KB),
            "maintenance_work_mem ≥ 2GB: keep each autovacuum worker at 2GB (pgtune)",
            AUTOVACUUM_WORK_MEM_KB)
    return out
