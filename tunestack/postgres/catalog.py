"""PostgreSQL's own catalog of settings, per major version: type, unit, valid range, enum values.

The base is `pg_settings` read from a real PostgreSQL 15 server (`data/pg15_settings.json`,
refreshed with `python -m tunestack.postgres.catalog --dump`). The other supported majors are
PostgreSQL 15 plus the differences listed below, taken from each major version's release notes
("Server Configuration" sections). Only settings the release notes name as added, removed or
changed in type are listed; ranges of unlisted settings are assumed unchanged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..choices import PG_VERSIONS as SUPPORTED_VERSIONS
from ..units import UnitError, pg_value_in_base_units


# name -> first major version that has it (absent before). Release notes of 14, 15, 16 and 17.
_ADDED_IN = {
    "client_connection_check_interval": 14, "compute_query_id": 14, "debug_discard_caches": 14,
    "default_toast_compression": 14, "enable_async_append": 14, "enable_memoize": 14,
    "huge_page_size": 14, "idle_session_timeout": 14, "in_hot_standby": 14,
    "log_recovery_conflict_waits": 14, "min_dynamic_shared_memory": 14,
    "recovery_init_sync_method": 14, "remove_temp_files_after_crash": 14, "ssl_crl_dir": 14,
    "track_wal_io_timing": 14, "vacuum_failsafe_age": 14, "vacuum_multixact_failsafe_age": 14,
    "archive_library": 15, "log_startup_progress_interval": 15, "recovery_prefetch": 15,
    "recursive_worktable_factor": 15, "shared_memory_size": 15,
    "shared_memory_size_in_huge_pages": 15, "stats_fetch_consistency": 15,
    "wal_decode_buffer_size": 15,
    "createrole_self_grant": 16, "debug_io_direct": 16, "debug_parallel_query": 16,
    "enable_presorted_aggregate": 16, "gss_accept_delegation": 16, "icu_validation_level": 16,
    "reserved_connections": 16, "scram_iterations": 16, "send_abort_for_crash": 16,
    "send_abort_for_kill": 16, "vacuum_buffer_usage_limit": 16,
    "allow_alter_system": 17, "commit_timestamp_buffers": 17, "enable_group_by_reordering": 17,
    "event_triggers": 17, "huge_pages_status": 17, "io_combine_limit": 17,
    "max_notify_queue_pages": 17, "summarize_wal": 17, "sync_replication_slots": 17,
    "synchronized_standby_slots": 17, "trace_connection_negotiation": 17, "transaction_timeout": 17,
    "wal_summary_keep_time": 17,
}
# name -> last major version that has it. Settings removed in 14, 15, 16 and 17.
_REMOVED_AFTER = {
    "force_parallel_mode": 15, "promote_trigger_file": 15, "vacuum_defer_cleanup_age": 15,
    "db_user_namespace": 16, "old_snapshot_threshold": 16, "trace_recovery_messages": 16,
}
# Settings that exist in 13/14 but are not in the PG15 catalog.
_ONLY_BEFORE_15 = {
    "stats_temp_directory": ["string", None, None, None, None, "sighup"],
}
_ONLY_IN_13 = {
    "operator_precedence_warning": ["bool", None, None, None, None, "user"],
    "vacuum_cleanup_index_scale_factor": ["real", None, "0", "1e+10", None, "user"],
}
# Settings added in 16/17 that a plan may emit (their catalog rows, from the 16/17 docs).
_LATER_ROWS = {
    "reserved_connections": ["integer", None, "0", "262143", None, "postmaster"],
    "transaction_timeout": ["integer", "ms", "0", "2147483647", None, "user"],
    "io_combine_limit": ["integer", "8kB", "1", "32", None, "user"],
    "debug_parallel_query": ["enum", None, None, None, ["off", "on", "regress"], "user"],
    "vacuum_buffer_usage_limit": ["integer", "kB", "0", "16777216", None, "user"],
    "scram_iterations": ["integer", None, "1", "2147483647", None, "user"],
    "summarize_wal": ["bool", None, None, None, None, "sighup"],
    "allow_alter_system": ["bool", None, None, None, None, "sighup"],
}
# wal_compression was a boolean until 15 took a method name (PG15 release notes).
_WAL_COMPRESSION_BOOL = ["bool", None, None, None, None, "superuser"]


_MEMORY_UNIT_BYTES = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2, "16MB": 16 * 1024**2}
_TIME_UNIT_MS = {"ms": 1, "s": 1000, "min": 60_000}


@dataclass(frozen=True)
class Guc:
    name: str
    vartype: str  # bool | integer | real | enum | string
    unit: str | None
    min: float | None
    max: float | None
    enumvals: tuple[str, ...] | None
    context: str

    def check(self, text: str) -> str | None:
        """None when `text` is a valid value for this setting, else what is allowed."""
        if self.vartype == "bool":
            if str(text).lower() in {"on", "off", "true", "false", "yes", "no", "1", "0"}:
                return None
            return "on or off"
        if self.vartype == "enum":
            if self.enumvals and str(text).lower() in {v.lower() for v in self.enumvals}:
                return None
            return "one of " + ", ".join(self.enumvals or ())
        if self.vartype == "string":
            return None
        allowed = self.describe_range()
        try:
            number = pg_value_in_base_units(str(text), self.unit)
        except UnitError as exc:
            return f"{allowed} ({exc})"
        if self.vartype == "integer":
            # PostgreSQL rounds a value given in another unit to the nearest base unit
            # (docs, "Parameter Names and Values"), e.g. wal_buffers = 13271kB → 1659 × 8kB.
            number = round(number)
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            return allowed
        return None

    def same(self, planned: str, reported: str) -> bool:
        """Whether the server's report (SHOW, postgres -C) is the planned value, units aside."""
        a, b = str(planned).strip().strip("'"), str(reported).strip().strip("'")
        if self.vartype == "bool":
            truthy = {"on", "true", "yes", "1"}
            return (a.lower() in truthy) == (b.lower() in truthy)
        if self.vartype in ("integer", "real"):
            x, y = pg_value_in_base_units(a, self.unit), pg_value_in_base_units(b, self.unit)
            if self.vartype == "integer":
                return round(x) == round(y)
            return abs(x - y) <= 1e-9 * max(1.0, abs(x))
        if self.vartype == "enum":
            return a.lower() == b.lower()
        return a == b

    def typed(self, text: str) -> tuple[object, str]:
        """A valid value as (number in base unit, unit): bytes for memory, ms for time, else the
        plain number or the text. Used once, when a stack-file override enters the plan."""
        if self.vartype not in ("integer", "real"):
            return text, ""
        number = pg_value_in_base_units(str(text), self.unit)
        if self.unit in _MEMORY_UNIT_BYTES:
            return (int(number * _MEMORY_UNIT_BYTES[self.unit]) if number >= 0 else int(number)), "bytes"
        if self.unit in _TIME_UNIT_MS:
            return (int(number * _TIME_UNIT_MS[self.unit]) if number >= 0 else int(number)), "ms"
        return (round(number) if self.vartype == "integer" else number), ""

    def describe_range(self) -> str:
        unit = f" × {self.unit}" if self.unit else ""
        lo = _plain(self.min)
        hi = _plain(self.max)
        return f"between {lo} and {hi}{unit}"


def _plain(x: float | None) -> str:
    if x is None:
        return "?"
    return str(int(x)) if x == int(x) else str(x)


@lru_cache(maxsize=1)
def _pg15_rows() -> dict[str, list]:
    text = resources.files("tunestack.data").joinpath("pg15_settings.json").read_text()
    return json.loads(text)


@lru_cache(maxsize=None)
def catalog(version: int) -> dict[str, Guc]:
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"PostgreSQL {version} is not supported; supported: {SUPPORTED_VERSIONS}")
    rows: dict[str, list] = dict(_pg15_rows())
    rows.update(_LATER_ROWS)
    if version < 15:
        rows.update(_ONLY_BEFORE_15)
        rows["wal_compression"] = _WAL_COMPRESSION_BOOL
    if version == 13:
        rows.update(_ONLY_IN_13)
    for name, first in _ADDED_IN.items():
        if version < first:
            rows.pop(name, None)
    for name, last in _REMOVED_AFTER.items():
        if version > last:
            rows.pop(name, None)
    result = {}
    for name, (vartype, unit, lo, hi, enumvals, context) in rows.items():
        result[name] = Guc(
            name=name, vartype=vartype, unit=unit,
            min=float(lo) if lo is not None else None,
            max=float(hi) if hi is not None else None,
            enumvals=tuple(enumvals) if enumvals else None,
            context=context,
        )
    return result


def _dump(port: int, host: str) -> None:  # pragma: no cover - maintenance helper
    import psycopg

    with psycopg.connect(host=host, port=port, dbname="postgres") as conn:
        rows = conn.execute(
            "select name, vartype, unit, min_val, max_val, enumvals, context from pg_settings order by name"
        ).fetchall()
    out = {r[0]: [r[1], r[2], r[3], r[4], r[5], r[6]] for r in rows}
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in out.items())
    print("{\n" + body + "\n}")


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser(description="Dump pg_settings of a running PostgreSQL 15 as JSON.")
    parser.add_argument("--dump", action="store_true", required=True)
    parser.add_argument("--host", default="/var/run/postgresql")
    parser.add_argument("--port", type=int, default=5432)
    args = parser.parse_args()
    _dump(args.port, args.host)
