"""Asynchronous I/O recommender, PostgreSQL 18 (pgtune): io_uring on Linux when the server is built
with liburing, else the worker method with a pool sized by cores."""
from __future__ import annotations

import math

from .inputs import PgInputs, Rec

PG_DEFAULT_IO_WORKERS = 3


def recommend(i: PgInputs) -> dict[str, Rec]:
    if i.version < 18:
        return {}
    if i.liburing and not i.io_uring_blocked:
        return {"io_method": Rec("io_uring", "Linux: io_uring submits reads without helper processes (pgtune)")}
    why = i.io_uring_blocked or "the server is not built with liburing (postgres.built_with)"
    out = {"io_method": Rec("worker", f"{why}: I/O worker processes, PostgreSQL 18's default")}
    if i.cpus is not None:
        workers = min(32, max(PG_DEFAULT_IO_WORKERS, math.floor(i.cpus / 4)))
        if workers > PG_DEFAULT_IO_WORKERS:   # pgtune prints it only above PostgreSQL's default
            out["io_workers"] = Rec(str(workers), f"a quarter of {i.cpus} cores, 3 to 32 (pgtune)", workers)
    return out
