"""Parallelism recommender (pgtune): only from 4 cores on; nothing is written below that."""
from __future__ import annotations

import math

from .inputs import PgInputs, Rec

MIN_CPUS = 4


def recommend(i: PgInputs) -> dict[str, Rec]:
    if i.cpus is None or i.cpus < MIN_CPUS:
        return {}
    per_gather = math.ceil(i.cpus / 2)
    gather_reason = f"half of {i.cpus} cores"
    if i.workload != "dw" and per_gather >= 4:
        per_gather = 4
        gather_reason = "half the cores, at most 4 outside dw"
    out = {
        "max_worker_processes": Rec(str(i.cpus), f"one per core ({i.cpus})", i.cpus),
        "max_parallel_workers_per_gather": Rec(str(per_gather), gather_reason, per_gather),
        "max_parallel_workers": Rec(str(i.cpus), f"one per core ({i.cpus})", i.cpus),
    }
    maint = min(4, math.ceil(i.cpus / 2))
    out["max_parallel_maintenance_workers"] = Rec(str(maint), "half the cores, at most 4", maint)
    return out


def worker_count(recs: dict[str, Rec]) -> int | None:
    """How many worker processes work_mem must leave room for, or None for PostgreSQL's default."""
    rec = recs.get("max_worker_processes")
    return int(rec.number) if rec else None
