"""Table-driven tests of the PostgreSQL recommenders, one table per area.

Expected values are pgtune's outputs (le0pard/pgtune, configurationSlice.js at 7caef27, as
tabulated in shared/reference/postgres-tuning.md §1.4 and §4), not values read off this code.
"""
import pytest

from dataclasses import replace

from tunestack.postgres import aio, autovacuum, memory, parallel, planner_costs, wal
from tunestack.postgres.inputs import PgInputs
from tunestack.postgres.pgtune import recommend

GB = 1024 * 1024  # kB


def inputs(mem_gb, cpus=8, workload="web", storage="ssd", version=17, conns=None, db_size="mid_ram"):
    default = {"web": 200, "oltp": 300, "dw": 40, "desktop": 20, "mixed": 100}[workload]
    return PgInputs(int(mem_gb * GB), cpus, storage, workload, version, conns or default, db_size)


# pgtune §4 "typical outputs": RAM / CPU / type → memory settings.
MEMORY_CASES = [
    # mem, cpus, type, conns, shared_buffers, effective_cache_size, maintenance, work_mem, huge_pages
    (1, 1, "web", None, "256MB", "768MB", "64MB", "4MB", "off"),
    (8, 8, "web", None, "2GB", "6GB", "512MB", "10082kB", "try"),
    (16, 1, "dw", None, "4GB", "12GB", "2GB", "43690kB", "try"),
    (32, 8, "desktop", None, "2GB", "8GB", "2GB", "62415kB", "try"),
    (256, 4, "oltp", 1000, "64GB", "192GB", "8GB", "66841kB", "try"),
]


@pytest.mark.parametrize("mem,cpus,workload,conns,sb,ecs,maint,wm,hp", MEMORY_CASES)
def test_memory_matches_pgtune(mem, cpus, workload, conns, sb, ecs, maint, wm, hp):
    i = inputs(mem, cpus, workload, conns=conns)
    recs = memory.recommend(i, parallel.worker_count(parallel.recommend(i)))
    got = tuple(recs[k].value for k in ("shared_buffers", "effective_cache_size", "maintenance_work_mem",
                                        "work_mem", "huge_pages"))
    assert got == (sb, ecs, maint, wm, hp)


@pytest.mark.parametrize("db_size,expected", [
    # pgtune 2026: work_mem × 1.3 when data fits in RAM, × 0.9 when it is over 3× RAM.
    ("mid_ram", "10082kB"), ("less_ram", "13106kB"), ("greater_ram", "9073kB")])
def test_work_mem_scales_with_data_size(db_size, expected):
    i = inputs(8, 8, "web", db_size=db_size)
    assert memory.recommend(i, 8)["work_mem"].value == expected


def test_maintenance_work_mem_capped_at_8gb_and_autovacuum_work_mem_appears():
    # pgtune: maintenance_work_mem cap 8GB on Linux; autovacuum_work_mem = 2GB once maint >= 2GB.
    recs = memory.recommend(inputs(512, 16, "dw"), 16)
    assert recs["maintenance_work_mem"].value == "8GB"
    assert recs["autovacuum_work_mem"].value == "2GB"
    assert "autovacuum_work_mem" not in memory.recommend(inputs(8), 8)


@pytest.mark.parametrize("cpus,workload,expected", [
    # pgtune: nothing below 4 cores; gather = ceil(cpu/2) capped at 4 except dw; maint ≤ 4.
    (2, "web", {}),
    (4, "web", {"max_worker_processes": "4", "max_parallel_workers_per_gather": "2",
                "max_parallel_workers": "4", "max_parallel_maintenance_workers": "2"}),
    (8, "web", {"max_worker_processes": "8", "max_parallel_workers_per_gather": "4",
                "max_parallel_workers": "8", "max_parallel_maintenance_workers": "4"}),
    (64, "dw", {"max_worker_processes": "64", "max_parallel_workers_per_gather": "32",
                "max_parallel_workers": "64", "max_parallel_maintenance_workers": "4"}),
    (5, "oltp", {"max_worker_processes": "5", "max_parallel_workers_per_gather": "3",
                 "max_parallel_workers": "5", "max_parallel_maintenance_workers": "3"}),
])
def test_parallelism(cpus, workload, expected):
    got = {k: r.value for k, r in parallel.recommend(inputs(16, cpus, workload)).items()}
    assert got == expected


@pytest.mark.parametrize("mem_gb,workload,version,expected", [
    # wal_buffers: 3% of shared_buffers, 16MB cap, snapped up from >14MB, 32kB floor.
    (8, "web", 17, {"wal_buffers": "16MB", "min_wal_size": "1GB", "max_wal_size": "4GB", "wal_compression": "lz4"}),
    (1, "web", 14, {"wal_buffers": "7864kB", "min_wal_size": "1GB", "max_wal_size": "4GB", "wal_compression": "on"}),
    (32, "oltp", 15, {"wal_buffers": "16MB", "min_wal_size": "2GB", "max_wal_size": "8GB", "wal_compression": "lz4"}),
    (32, "dw", 16, {"wal_buffers": "16MB", "min_wal_size": "4GB", "max_wal_size": "16GB", "wal_compression": "lz4"}),
    (2, "desktop", 13, {"wal_buffers": "3932kB", "min_wal_size": "100MB", "max_wal_size": "2GB",
                        "wal_compression": "on", "wal_level": "minimal", "max_wal_senders": "0"}),
])
def test_wal(mem_gb, workload, version, expected):
    recs = wal.recommend(inputs(mem_gb, 4, workload, version=version))
    assert recs["checkpoint_completion_target"].value == "0.9"
    assert {k: recs[k].value for k in expected} == expected
    assert ("wal_level" in recs) == (workload == "desktop")


@pytest.mark.parametrize("storage,workload,db_size,rpc,eio", [
    # pgtune: hdd 4 / flash 1.1; dw on flash keeps 4 unless data fits in RAM; eio by storage.
    ("hdd", "web", "mid_ram", "4", "2"),
    ("ssd", "web", "mid_ram", "1.1", "200"),
    ("san", "oltp", "mid_ram", "1.1", "300"),
    ("nvme", "web", "mid_ram", "1.1", "1000"),
    ("ssd", "dw", "mid_ram", "4", "200"),
    ("hdd", "dw", "less_ram", "1.1", "2"),
])
def test_planner_costs_by_storage(storage, workload, db_size, rpc, eio):
    recs = planner_costs.recommend(inputs(16, 8, workload, storage, db_size=db_size))
    assert (recs["random_page_cost"].value, recs["effective_io_concurrency"].value) == (rpc, eio)


@pytest.mark.parametrize("workload,stats,jit", [
    ("web", "100", "off"), ("oltp", "100", "off"), ("mixed", "100", "off"), ("dw", "500", None), ("desktop", "100", None)])
def test_statistics_and_jit(workload, stats, jit):
    recs = planner_costs.recommend(inputs(16, 8, workload))
    assert recs["default_statistics_target"].value == stats
    assert (recs["jit"].value if "jit" in recs else None) == jit


@pytest.mark.parametrize("cpus,expected", [(8, None), (16, "4"), (31, "4"), (32, "5"), (128, "5")])
def test_autovacuum_workers(cpus, expected):
    recs = autovacuum.recommend(inputs(64, cpus))
    assert (recs["autovacuum_max_workers"].value if recs else None) == expected


def test_full_pgtune_output_8gb_8cpu_web_ssd_pg17():
    """pgtune HEAD for 8GB, 8 CPUs, web, ssd, PG17, Linux, default connections, in its order."""
    expected = {
        "max_connections": "200", "shared_buffers": "2GB", "effective_cache_size": "6GB",
        "maintenance_work_mem": "512MB", "checkpoint_completion_target": "0.9", "wal_buffers": "16MB",
        "default_statistics_target": "100", "random_page_cost": "1.1", "effective_io_concurrency": "200",
        "work_mem": "10082kB", "huge_pages": "try", "jit": "off", "wal_compression": "lz4",
        "min_wal_size": "1GB", "max_wal_size": "4GB", "max_worker_processes": "8",
        "max_parallel_workers_per_gather": "4", "max_parallel_workers": "8",
        "max_parallel_maintenance_workers": "4",
    }
    got = {k: r.value for k, r in recommend(inputs(8, 8, "web")).items()}
    assert list(got.items()) == list(expected.items())


def test_full_pgtune_output_pg18_adds_io_method():
    """pgtune HEAD, PG18 on Linux: io_method = io_uring, printed after autovacuum_work_mem (§1.4/1.5)."""
    got = list(recommend(inputs(8, 8, "web", version=18)))
    assert got.index("io_method") == got.index("wal_compression") + 1
    assert got.index("io_method") < got.index("min_wal_size")
    assert recommend(inputs(8, 8, "web", version=18))["io_method"].value == "io_uring"
    assert "io_method" not in recommend(inputs(8, 8, "web", version=17))


def test_pgtune_without_a_cpu_count():
    """pgtune: cpuNum is optional; without it no parallel settings, no autovacuum_max_workers, and
    work_mem still leaves room for PostgreSQL's 8 default worker processes."""
    got = {k: r.value for k, r in recommend(inputs(8, None, "web")).items()}
    assert not {"max_worker_processes", "max_parallel_workers", "autovacuum_max_workers", "io_workers"} & set(got)
    assert got["work_mem"] == "10082kB"   # (8GB − 2GB) / (3 × (200 + 8))


@pytest.mark.parametrize("cpus,liburing,expected", [
    # pgtune: io_workers = min(32, max(3, floor(cpu/4))) for io_method = worker, printed only above 3.
    (8, False, ("worker", None)), (16, False, ("worker", "4")), (64, False, ("worker", "16")),
    (256, False, ("worker", "32")), (None, False, ("worker", None)), (64, True, ("io_uring", None)),
])
def test_io_workers(cpus, liburing, expected):
    recs = aio.recommend(replace(inputs(64, cpus, version=18), liburing=liburing))
    assert (recs["io_method"].value, recs["io_workers"].value if "io_workers" in recs else None) == expected


def test_wal_compression_follows_the_build():
    # pgtune warns that lz4 needs --with-lz4; a server built without it rejects the value.
    assert wal.recommend(replace(inputs(8, version=16), lz4=False))["wal_compression"].value == "pglz"


@pytest.mark.parametrize("workload,timeout_min,rate_mb_s,disk_gb,expected", [
    # PostgreSQL docs (WAL configuration): a checkpoint is forced when WAL since the last one reaches
    # max_wal_size; it spans (1 + checkpoint_completion_target) intervals of WAL. Sized so the timer,
    # not the volume, starts checkpoints: rate × timeout × 1.9, in whole 16MB segments.
    ("oltp", 5, None, None, "8GB"),       # pgtune's own size: the rate it implies, at its 5min
    ("oltp", 15, None, None, "24GB"),     # three times the interval, three times the WAL
    ("web", 10, None, None, "8GB"),
    ("web", 5, 20, None, "11408MB"),      # 20MB/s × 300 s × 1.9 = 11400MB → 713 segments
    ("oltp", 15, None, 20, "12GB"),       # timescaledb-tune: at most 60% of the WAL disk
])
def test_stack_max_wal_size_follows_rate_and_checkpoint_timeout(workload, timeout_min, rate_mb_s, disk_gb, expected):
    recs = wal.stack_wal_sizes(inputs(64, 8, workload), timeout_min * 60_000, rate_mb_s and rate_mb_s * 1024,
                               disk_gb and disk_gb * GB)
    assert recs["max_wal_size"].value == expected
    assert recs["min_wal_size"].number <= recs["max_wal_size"].number / 2


PG8_WEB_COMMON = {
    "max_connections": "200", "shared_buffers": "2GB", "effective_cache_size": "6GB", "maintenance_work_mem": "512MB",
    "checkpoint_completion_target": "0.9", "wal_buffers": "16MB", "default_statistics_target": "100",
    "random_page_cost": "1.1", "effective_io_concurrency": "200", "work_mem": "10082kB", "huge_pages": "try",
    "jit": "off", "min_wal_size": "1GB", "max_wal_size": "4GB",
}


@pytest.mark.parametrize("version,cpus,by_version", [
    # pgtune HEAD (shared/reference/postgres-tuning.md §1.4): versions only gate wal_compression
    # (on < 15, lz4 from 15) and io_method (18); cpuNum is optional (no parallel settings without it).
    (13, 8, {"wal_compression": "on"}), (14, 8, {"wal_compression": "on"}), (15, 8, {"wal_compression": "lz4"}),
    (16, 8, {"wal_compression": "lz4"}), (17, 8, {"wal_compression": "lz4"}),
    (18, 8, {"wal_compression": "lz4", "io_method": "io_uring"}),
    (13, None, {"wal_compression": "on"}), (18, None, {"wal_compression": "lz4", "io_method": "io_uring"}),
])
def test_pgtune_parity_8gb_web_every_version(version, cpus, by_version):
    parallel_settings = {"max_worker_processes": "8", "max_parallel_workers_per_gather": "4",
                         "max_parallel_workers": "8", "max_parallel_maintenance_workers": "4"} if cpus else {}
    got = {k: r.value for k, r in recommend(inputs(8, cpus, "web", version=version)).items()}
    assert got == {**PG8_WEB_COMMON, **by_version, **parallel_settings}


@pytest.mark.parametrize("rate_kb_s,max_wal,min_wal", [(64, "64MB", "32MB"), (1, "64MB", "32MB"), (256, "144MB", "64MB")])
def test_a_small_wal_rate_still_gives_sizes_postgres_accepts(rate_kb_s, max_wal, min_wal):
    """PostgreSQL (xlog.c): min_wal_size "must be at least twice wal_segment_size" (16MB segments),
    and min stays at most half of max. Found by advise's test bed: wal_rate 64kB gave 16MB."""
    recs = wal.stack_wal_sizes(inputs(8, 2, "web"), 5 * 60_000, rate_kb_s, None)
    assert (recs["max_wal_size"].value, recs["min_wal_size"].value) == (max_wal, min_wal)
