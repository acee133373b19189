"""Planner and I/O recommender: costs by storage, statistics by workload, jit by version (pgtune)."""
from __future__ import annotations

from .inputs import PgInputs, Rec

_IO_CONCURRENCY = {"hdd": 2, "ssd": 200, "san": 300, "nvme": 1000}


def recommend(i: PgInputs) -> dict[str, Rec]:
    out = {}
    stats = 500 if i.workload == "dw" else 100
    out["default_statistics_target"] = Rec(
        str(stats), "dw: finer statistics for large scans" if stats == 500 else "PostgreSQL's default", stats)
    if i.db_size == "less_ram":
        rpc, why = 1.1, "data fits in memory: random reads cost nearly as much as sequential"
    elif i.storage == "hdd":
        rpc, why = 4, "spinning disk: random reads cost 4× sequential"
    elif i.workload == "dw":
        rpc, why = 4, "dw data larger than memory: keep PostgreSQL's default cost"
    else:
        rpc, why = 1.1, f"{i.storage}: random reads cost nearly as much as sequential"
    out["random_page_cost"] = Rec(str(rpc), why, rpc)
    eio = _IO_CONCURRENCY[i.storage]
    out["effective_io_concurrency"] = Rec(str(eio), f"{i.storage}: concurrent I/O requests it serves well", eio)
    if i.version >= 12 and i.workload in ("web", "oltp", "mixed"):
        out["jit"] = Rec("off", "short queries: JIT compilation costs more than it saves")
    return out
