"""The recommenders composed in pgtune's order: the standalone mode's output."""
from __future__ import annotations

from . import aio, autovacuum, memory, parallel, planner_costs, wal
from .inputs import PgInputs, Rec

# pgtune's output order (configurationView postgresqlConfig), for the versions tunestack supports.
PGTUNE_ORDER = (
    "max_connections", "shared_buffers", "effective_cache_size", "maintenance_work_mem",
    "checkpoint_completion_target", "wal_buffers", "default_statistics_target", "random_page_cost",
    "effective_io_concurrency", "work_mem", "huge_pages", "jit", "wal_compression",
    "autovacuum_max_workers", "autovacuum_work_mem", "io_method", "io_workers", "min_wal_size", "max_wal_size",
    "max_worker_processes", "max_parallel_workers_per_gather", "max_parallel_workers",
    "max_parallel_maintenance_workers", "wal_level", "max_wal_senders",
)


def recommend(i: PgInputs) -> dict[str, Rec]:
    """Every tuned setting with its reason, in pgtune's order."""
    par = parallel.recommend(i)
    recs: dict[str, Rec] = {"max_connections": Rec(str(i.max_connections), "the connections the server must accept "
                                                  "(--connections; pgtune's default per workload)", i.max_connections)}
    recs.update(memory.recommend(i, parallel.worker_count(par)))
    recs.update(wal.recommend(i))
    recs.update(planner_costs.recommend(i))
    recs.update(autovacuum.recommend(i))
    recs.update(aio.recommend(i))
    recs.update(par)
    return {name: recs[name] for name in PGTUNE_ORDER if name in recs}
