"""What a PostgreSQL server may allocate at worst, term by term (tunestack/postgres/footprint.py).
Expected values are worked by hand from the cited rules, not read off the code."""
import pytest

from tunestack.postgres.footprint import footprint, hash_mem_multiplier

MIB, GIB = 1024**2, 1024**3


@pytest.mark.parametrize("version,multiplier", [(13, 1.0), (14, 1.0), (15, 2.0), (18, 2.0)])
def test_hash_mem_multiplier_default(version, multiplier):
    # PostgreSQL 15 release notes: hash_mem_multiplier's default went from 1.0 to 2.0.
    assert hash_mem_multiplier(version) == multiplier


def test_every_backend_and_parallel_worker_runs_a_sort_and_a_hash():
    """PostgreSQL docs (work_mem): each sort or hash node may use work_mem, hash nodes
    hash_mem_multiplier × work_mem; parallel workers each have their own allowance."""
    fp = footprint({"shared_buffers": 0, "max_connections": 10, "max_parallel_workers": 4,
                    "max_worker_processes": 8}, 16)
    assert fp.work_mem_factor == (10 + 4) * (1 + 2.0)
    # max_parallel_workers cannot exceed max_worker_processes (docs, max_parallel_workers).
    assert footprint({"max_connections": 10, "max_parallel_workers": 16, "max_worker_processes": 4}, 16) \
        .work_mem_factor == (10 + 4) * 3


@pytest.mark.parametrize("version,av_mem,counted", [
    # PostgreSQL docs (autovacuum_work_mem): VACUUM collects at most 1GB of dead tuples up to 16;
    # PostgreSQL 17 (TidStore) lifted the limit.
    (16, 2 * GIB, 1 * GIB), (13, 4 * GIB, 1 * GIB), (17, 2 * GIB, 2 * GIB), (16, 512 * MIB, 512 * MIB),
])
def test_autovacuum_memory_counts_what_vacuum_can_use(version, av_mem, counted):
    base = {"shared_buffers": 0, "max_connections": 0, "max_parallel_workers": 0, "autovacuum_max_workers": 3,
            "maintenance_work_mem": 0, "huge_pages": "on"}
    without = footprint({**base, "autovacuum_work_mem": 0}, version).fixed_private_bytes
    assert footprint({**base, "autovacuum_work_mem": av_mem}, version).fixed_private_bytes - without == 3 * counted


def test_page_tables_count_per_process_at_the_page_size_in_use():
    """x86-64 maps shared_buffers in 4kB pages with an 8-byte entry per page in every process that
    touches it: 32 GiB → 64 MiB per backend (the issue's ≈63 MB). With huge_pages = on the pages are
    2 MiB, so 128 KiB per backend (issue #26: a 1 TiB host counted 229 GiB of page tables)."""
    common = {"shared_buffers": 32 * GIB, "max_connections": 10, "max_parallel_workers": 0,
              "autovacuum_max_workers": 0, "maintenance_work_mem": 0}
    small_pages = footprint({**common, "huge_pages": "try"}, 17).fixed_private_bytes
    huge_pages = footprint({**common, "huge_pages": "on"}, 17).fixed_private_bytes
    processes = 10 + 0 + 0 + 5   # connections + workers + autovacuum + background processes
    assert small_pages - huge_pages == processes * (64 * MIB - 128 * 1024)
    assert "in 2 MiB huge pages" in " ".join(footprint({**common, "huge_pages": "on"}, 17).terms)


def test_admin_maintenance_and_private_memory():
    fp = footprint({"shared_buffers": 0, "max_connections": 0, "max_parallel_workers": 0,
                    "autovacuum_max_workers": 0, "maintenance_work_mem": 1 * GIB, "huge_pages": "on"}, 17)
    # one CREATE INDEX with maintenance_work_mem + 5 background processes × 2 MiB private (Freund 2020)
    # (no shared_buffers: no page tables for them)
    assert fp.fixed_private_bytes == 1 * GIB + 5 * 2 * MIB
