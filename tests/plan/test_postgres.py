"""PostgreSQL stage: pgtune with the stack's memory and connections, the work_mem fit, overrides
and per-role timeouts."""
from dataclasses import replace

import pytest

from tunestack.plan import build_plan, worst_case
from tunestack.plan.postgres import fit_work_mem, role_settings
from tunestack.plan.setting import Setting, size_kb
from tunestack.stackfile.spec import PostgresSpec
from tunestack.units import pg_value_in_base_units

from .helpers import GIB, MIB, spec

KB = 1024


def settings(sb_mb, wm_kb, maint_mb, conns, av_workers=None, av_mem_kb=None):
    out = {"shared_buffers": size_kb(sb_mb * 1024, ""), "work_mem": size_kb(wm_kb, ""),
           "maintenance_work_mem": size_kb(maint_mb * 1024, ""), "max_connections": Setting(conns, "")}
    if av_workers is not None:
        out["autovacuum_max_workers"] = Setting(av_workers, "")
    if av_mem_kb is not None:
        out["autovacuum_work_mem"] = Setting(av_mem_kb * KB if av_mem_kb > 0 else -1, "", text=str(av_mem_kb))
    return out


@pytest.mark.parametrize("s,expected_kb", [
    # postgresqltuner: shared_buffers + max_connections × work_mem × 150% + autovacuum workers × maint
    (settings(1024, 4096, 256, 100), 1024 * 1024 + 100 * 4096 * 1.5 + 3 * 256 * 1024),
    (settings(2048, 10000, 512, 36, av_workers=5), 2048 * 1024 + 36 * 10000 * 1.5 + 5 * 512 * 1024),
    # autovacuum_work_mem replaces maintenance_work_mem per worker when set; -1 means "use maint"
    (settings(2048, 10000, 4096, 36, av_mem_kb=1024 * 1024), 2048 * 1024 + 36 * 10000 * 1.5 + 3 * 1024 * 1024),
    (settings(2048, 10000, 512, 36, av_mem_kb=-1), 2048 * 1024 + 36 * 10000 * 1.5 + 3 * 512 * 1024),
])
def test_worst_case(s, expected_kb):
    assert worst_case(s)[0] == int(expected_kb * KB)


@pytest.mark.parametrize("conns,memory_mib,fits,expected_kb", [
    (36, 2048, True, None),          # pgtune's work_mem fits: keep it
    # session pooling on a small host: (1024 − 256 − 3 × 64) MiB / (400 × 1.5) = 983 kB
    (400, 1024, False, 983),
    (400, 460, False, 64),           # nothing left: PostgreSQL's own 64kB minimum
    (300, 1400, False, None),        # in between: as large as fits
])
def test_work_mem_fits_the_memory_set_aside(conns, memory_mib, fits, expected_kb):
    # Deliberate difference from pgtune (README): the stack's memory budget beats pgtune's 4MB floor.
    s = settings(256, 4096, 64, conns)
    fitted = fit_work_mem(s, memory_mib * MIB)
    assert (fitted is None) == fits
    if fitted is not None:
        if expected_kb:
            assert fitted.value == expected_kb * KB
        else:
            assert worst_case({**s, "work_mem": fitted})[0] <= memory_mib * MIB
        assert fitted.text.endswith("kB") and "lowered from pgtune's 4MB" in fitted.reason


@pytest.mark.parametrize("request_ms,statement,lock,expected", [
    # PostgreSQL docs (runtime-config-client): set per role; lock_timeout below statement_timeout.
    (20_000, None, None, ("10s", "3333ms")),
    (30_000, None, None, ("15s", "5s")),
    (2_000, None, None, ("1s", "1s")),            # lock_timeout never below 1 s
    (30_000, 5_000, 1_000, ("5s", "1s")),         # the stack file wins
])
def test_role_timeouts(request_ms, statement, lock, expected):
    roles = role_settings(PostgresSpec(16, "web", statement_timeout_ms=statement, lock_timeout_ms=lock), request_ms)
    assert (roles["app"]["statement_timeout"].text, roles["app"]["lock_timeout"].text) == expected
    assert roles["migrator"]["statement_timeout"].text == "0"
    assert roles["migrator"]["lock_timeout"].value == roles["app"]["lock_timeout"].value


def test_overrides_are_typed_and_marked():
    s = spec("staging")
    s = replace(s, postgres=replace(s.postgres, overrides={"work_mem": "64MB", "checkpoint_timeout": "15min",
                                                          "random_page_cost": "1.1"}))
    pg = build_plan(s).postgres
    assert (pg["work_mem"].value, pg["work_mem"].text, pg["work_mem"].source) == (64 * MIB, "64MB", "override")
    assert (pg["checkpoint_timeout"].value, pg["checkpoint_timeout"].unit) == (15 * 60_000, "ms")
    assert pg["random_page_cost"].value == 1.1
    assert "tunestack would set" in pg["work_mem"].reason


def test_timeouts_per_role_not_cluster_wide():
    # PostgreSQL docs (runtime-config-client): statement_timeout in postgresql.conf is not recommended.
    plan = build_plan(spec("staging"))
    assert "statement_timeout" not in plan.postgres and "lock_timeout" not in plan.postgres
    roles = plan.postgres_roles["app"]
    assert roles["statement_timeout"].text == "10s"  # half the 20 s request timeout
    assert roles["lock_timeout"].text == "3333ms"    # below statement_timeout (PostgreSQL docs)
    assert plan.postgres["idle_in_transaction_session_timeout"].text == "1min"
    assert plan.postgres["shared_preload_libraries"].value == "pg_stat_statements"


def test_postgres_worst_case_follows_postgresqltuner():
    # postgresqltuner: shared_buffers + max_connections × work_mem × 150% + autovacuum workers × maint.
    plan = build_plan(spec("staging"))
    kb = {k: pg_value_in_base_units(plan.postgres[k].text, "kB")
          for k in ("shared_buffers", "work_mem", "maintenance_work_mem")}
    conns = int(plan.postgres["max_connections"].value)
    worst, _ = worst_case(plan.postgres)
    assert worst == int((kb["shared_buffers"] + conns * kb["work_mem"] * 1.5 + 3 * kb["maintenance_work_mem"]) * 1024)
    assert worst <= plan.spec.host_with("db").memory_bytes


def test_memory_settings_are_bytes_and_text_as_pgtune_writes_it():
    pg = build_plan(spec("prod")).postgres
    assert pg["shared_buffers"].unit == "bytes" and pg["shared_buffers"].value % (8 * KB) == 0
    assert pg["shared_buffers"].value == pg_value_in_base_units(pg["shared_buffers"].text, "kB") * KB


def test_other_pg_version_replans_version_gates():
    plan = build_plan(spec("prod"), pg_version=14)
    assert plan.postgres["wal_compression"].value == "on"
    assert build_plan(spec("prod")).postgres["wal_compression"].value == "lz4"


def test_memory_note_names_the_share():
    plan = build_plan(spec("staging"))   # dedicated db host: everything but the OS reserve and PgBouncer
    assert plan.postgres["shared_buffers"].reason.startswith("25% of the ")
    assert "OS reserve" in plan.postgres["shared_buffers"].reason
    assert plan.postgres["shared_buffers"].value == pytest.approx(
        (32 * GIB - 2 * GIB - 128 * MIB) / 4, rel=0.001)
