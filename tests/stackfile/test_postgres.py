"""Bad input in tunestack:postgres: overrides of settings the stack owns or with values PostgreSQL refuses, timeouts.
Each case is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import pytest

from .badinput import PG, doc_with, raw, check

CASES = [
    ("override-newline", doc_with([PG, "overrides"], {"work_mem": "64MB\nlog_statement = 'all'"}),
     ["overrides → work_mem", "one line"]),
    ("override-port", doc_with([PG, "overrides"], {"port": 16432}), ["overrides → port", "postgres.port"]),
    ("override-listen", doc_with([PG, "overrides"], {"listen_addresses": "*"}), ["overrides → listen_addresses"]),
    ("override-preload", doc_with([PG, "overrides"], {"shared_preload_libraries": "evil"}),
     ["overrides → shared_preload_libraries"]),
    ("override-hba-file", doc_with([PG, "overrides"], {"hba_file": "/tmp/hba"}), ["overrides → hba_file"]),
    ("bare-duration", doc_with([PG, "slow_query"], 250), ["slow_query", "250", "duration"]),
    ("idle-tx-fraction", doc_with([PG, "idle_in_transaction_timeout"], "1500ms"),
     ["idle_in_transaction_timeout", "whole seconds"]),
    ("pg-version-string", doc_with([PG, "version"], "16"), ["version", "16"]),
    ("admin-negative", doc_with([PG, "admin_connections"], -1), ["admin_connections", "at least 0"]),
    ("override-bad-value", doc_with([PG, "overrides"], {"work_mem": "lots"}), ["overrides → work_mem", "lots"]),
    ("lock-above-statement", doc_with([PG, "lock_timeout"], "20s") .replace("slow_query", "statement_timeout: 10s\n    slow_query"),
     ["lock_timeout", "less than statement_timeout"]),
    ("workload-bool", raw("    workload: web", "    workload: yes"), ["workload", "True"]),
    # --- issue #23: a held-out set of hostile files ---------------------------------------------
    ("wal-rate-16TB", doc_with([PG, "wal_rate"], "16TB"), ["wal_rate", "16TB", "at most 4GB/s"]),
    ("wal-disk-1MB", doc_with([PG, "wal_disk"], "1MB"), ["wal_disk", "at least 128MiB"]),
    ("max-wal-size-over-its-disk", doc_with([PG, "overrides"], {"max_wal_size": "8GB"}).replace(
        "    slow_query", "    wal_disk: 4GiB\n    slow_query"), ["overrides → max_wal_size", "at most 60 % of wal_disk"])
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)
