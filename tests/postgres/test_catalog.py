"""PostgreSQL's valid ranges per major, read from each real server's pg_settings (13-18)."""
import pytest

from tunestack.postgres.catalog import catalog


@pytest.mark.parametrize("name,value,ok", [
    ("work_mem", "64kB", True), ("work_mem", "32kB", False),          # work_mem min is 64kB (pg_settings)
    ("shared_buffers", "128kB", True), ("shared_buffers", "64kB", False),
    ("effective_io_concurrency", "1000", True), ("effective_io_concurrency", "1001", False),
    ("random_page_cost", "1.1", True), ("random_page_cost", "-1", False),
    ("huge_pages", "try", True), ("huge_pages", "maybe", False),
    ("jit", "off", True), ("jit", "sometimes", False),
    ("wal_buffers", "13271kB", True),  # PostgreSQL rounds to whole 8kB pages
    ("checkpoint_timeout", "15min", True), ("checkpoint_timeout", "2d", False),  # max 1d
])
def test_ranges_pg15(name, value, ok):
    assert (catalog(15)[name].check(value) is None) == ok


def test_version_gates():
    # Release notes: reserved_connections is new in 16, transaction_timeout in 17,
    # idle_session_timeout in 14; old_snapshot_threshold was removed in 17.
    assert "reserved_connections" not in catalog(15) and "reserved_connections" in catalog(16)
    assert "transaction_timeout" not in catalog(16) and "transaction_timeout" in catalog(17)
    assert "idle_session_timeout" not in catalog(13) and "idle_session_timeout" in catalog(14)
    assert "old_snapshot_threshold" in catalog(16) and "old_snapshot_threshold" not in catalog(17)
    # PG15 release notes: wal_compression takes a method; before, it was a boolean.
    assert catalog(14)["wal_compression"].check("lz4") is not None
    assert catalog(15)["wal_compression"].check("lz4") is None
    # PG18 release notes: asynchronous I/O (io_method, io_workers).
    assert "io_method" not in catalog(17) and catalog(18)["io_method"].check("io_uring") is None


def test_build_optional_values_are_listed_for_every_build():
    """lz4 is an enum value only on servers built --with-lz4; whether the target has it is the stack's
    postgres.built_with, so the catalog of a major lists it whatever build it was read from."""
    for major in (15, 16, 17, 18):
        assert catalog(major)["wal_compression"].check("lz4") is None


@pytest.mark.parametrize("name,planned,shown,same", [
    ("shared_buffers", "432MB", "432MB", True),
    ("work_mem", "15798kB", "15798kB", True),
    ("idle_in_transaction_session_timeout", "60s", "1min", True),
    ("wal_buffers", "13271kB", "13272kB", True),   # rounded to 1659 × 8kB
    ("random_page_cost", "1.1", "1.1", True),
    ("work_mem", "4MB", "8MB", False),
])
def test_same_compares_units(name, planned, shown, same):
    assert catalog(15)[name].same(planned, shown) is same
