"""What proves a restore: every table of the app's database with its exact row count (count(*),
not an estimate), counted by psql's \\gexec in one session, the same on every target."""
from __future__ import annotations

COUNT_TABLES = ("SELECT format('SELECT %L, count(*) FROM %I.%I', n.nspname || '.' || c.relname, n.nspname, c.relname) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
                "ORDER BY 1 \\gexec\n")


def parse_counts(text: str) -> dict[str, int]:
    """psql -At output of COUNT_TABLES: `schema.table|rows` lines (other lines ignored)."""
    out = {}
    for line in text.splitlines():
        table, sep, rows = line.rpartition("|")
        if sep and rows.strip().isdigit():
            out[table] = int(rows)
    return out
