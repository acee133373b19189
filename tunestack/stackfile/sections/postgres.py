"""tunestack:postgres: the major, the workload, timeouts, WAL sizes and overrides of settings the
stack does not own."""
from __future__ import annotations

import difflib

from ...postgres.catalog import catalog
from ...postgres.wal import WAL_DISK_SHARE
from ...units import GIB, MIB, pg_value_in_base_units
from ..checker import Checker, given, present
from ..schema import NS
from ..spec import PostgresSpec

KEY = f"{NS}:postgres"
MAX_WAL_RATE = 4 * GIB    # per second: above any one disk's sequential writes
MIN_WAL_DISK = 128 * MIB  # 60 % of it holds four 16 MB segments
# postgresql.conf settings the stack sets through its own keys (or the deploy sets): an override
# would break ports, sockets, files or the budgets.
OWNED_SETTINGS = {"port": "postgres.port", "listen_addresses": "the hosts' addresses",
                  "data_directory": "the deploy", "config_file": "the deploy", "hba_file": "the deploy",
                  "ident_file": "the deploy", "unix_socket_directories": "the deploy",
                  "unix_socket_permissions": "the deploy", "unix_socket_group": "the deploy",
                  "shared_preload_libraries": "tunestack (pg_stat_statements)",
                  "password_encryption": "tunestack (scram-sha-256)"}


def _override(ck: Checker, gucs: dict, version: int, setting: str, value) -> str | None:
    """The override's text as postgresql.conf takes it, or None after a problem."""
    path = [KEY, "overrides", setting]
    text = ("on" if value else "off") if isinstance(value, bool) else str(value)
    if setting in OWNED_SETTINGS:
        owner = OWNED_SETTINGS[setting]
        ck.problem(path, value, f"a setting not set by {owner}",
                   "remove the override" + (f"; set {owner} instead" if "." in owner else ""))
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text) or len(text) > 1024:
        ck.problem(path, value, "a value on one line, without control characters, at most 1024 characters",
                   "write the value as PostgreSQL shows it, e.g. '64MB'")
        return None
    guc = gucs.get(setting)
    if guc is None:
        close = difflib.get_close_matches(setting, list(gucs), n=1)
        ck.problem(path, value, f"a PostgreSQL {version} setting", f"did you mean '{close[0]}'?" if close else "remove it")
        return None
    complaint = guc.check(text)
    if complaint:
        ck.problem(path, value, f"PostgreSQL {version}: {complaint}", "pick a value inside PostgreSQL's range")
        return None
    return text


def _wal(ck: Checker, c: dict, overrides: dict) -> tuple[int | None, int | None]:
    """WAL per second and the WAL disk: within what one server writes and what holds a checkpoint's
    WAL; an override of max_wal_size may not ignore the disk."""
    rate = ck.size([KEY, "wal_rate"], c.get("wal_rate"))
    disk = ck.size([KEY, "wal_disk"], c.get("wal_disk"))
    if rate and rate > MAX_WAL_RATE:
        ck.problem([KEY, "wal_rate"], c["wal_rate"], "at most 4GB/s: more WAL than one server's disk writes",
                   "write the WAL your primary writes per second at peak, e.g. 16MB (pg_stat_wal.wal_bytes)")
    if disk and disk < MIN_WAL_DISK:
        ck.problem([KEY, "wal_disk"], c["wal_disk"], "at least 128MiB: 60 % of it holds max_wal_size, which needs "
                   "four 16 MB WAL segments (PostgreSQL refuses less)", "write the size of the disk pg_wal is on")
    elif disk and "max_wal_size" in overrides:
        wanted = pg_value_in_base_units(overrides["max_wal_size"], "MB") * MIB
        if wanted > disk * WAL_DISK_SHARE:
            ck.problem([KEY, "overrides", "max_wal_size"], overrides["max_wal_size"],
                       f"at most 60 % of wal_disk ({c['wal_disk']}): checkpoints must fit on the WAL disk "
                       "(timescaledb-tune)", "lower the override, or remove it and let wal_disk cap max_wal_size")
    return rate, disk


def postgres(ck: Checker) -> PostgresSpec:
    c = ck.config[KEY]
    version = c["version"]
    gucs = catalog(version)
    overrides = {}
    for setting, value in (c.get("overrides") or {}).items():
        text = _override(ck, gucs, version, setting, value)
        if text is not None:
            overrides[setting] = text
    statement = ck.duration([KEY, "statement_timeout"], c.get("statement_timeout"))
    lock = ck.duration([KEY, "lock_timeout"], c.get("lock_timeout"))
    if statement is not None and lock is not None and statement and lock >= statement:
        ck.problem([KEY, "lock_timeout"], c.get("lock_timeout"),
                   "less than statement_timeout (PostgreSQL docs: otherwise it is pointless)",
                   "lower lock_timeout below statement_timeout")
    wal_rate, wal_disk = _wal(ck, c, overrides)
    return PostgresSpec(
        version=version, workload=c["workload"], overrides=overrides, built_with=tuple(c.get("built_with") or ()),
        statement_timeout_ms=statement, lock_timeout_ms=lock, wal_rate_bytes=wal_rate, wal_disk_bytes=wal_disk,
        **given(c, db_size="db_size", port="port", admin_connections="admin_connections"),
        **present(idle_in_transaction_timeout_ms=ck.duration([KEY, "idle_in_transaction_timeout"],
                                                             c.get("idle_in_transaction_timeout"), whole_seconds=True),
                  slow_query_ms=ck.duration([KEY, "slow_query"], c.get("slow_query"))))
