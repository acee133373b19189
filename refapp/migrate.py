"""The reference app's migrations: `refapp/migrations/NNN_name.sql`, applied in order, each once,
each in its own transaction, recorded in `schema_migrations` (as Rails and most frameworks do).

The app image contract's migrate command (`tunestack-migrate`) runs this as the migrator, straight
to PostgreSQL (DATABASE_URL names the user; the password comes from DATABASE_PASSWORD or the file
DATABASE_PASSWORD_FILE names, /dev/stdin when the deploy pipes it in). The migrator role's
lock_timeout (the plan's) makes a migration that waits on a busy table fail fast instead of
queueing every request behind its lock. An advisory lock keeps two migrators from racing. The app
role reads and writes the tables through the default privileges the deploy granted it."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg

from . import database_keywords, secret

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK = 7_302_501   # pg_advisory_lock key: one migrator at a time


def pending(applied: set[str]) -> list[Path]:
    return [p for p in sorted(MIGRATIONS.glob("*.sql")) if p.stem not in applied]


def main() -> int:
    with psycopg.connect(**database_keywords(os.environ["DATABASE_URL"]), password=secret("DATABASE_PASSWORD"),
                         connect_timeout=10, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        todo = pending(applied)
        for path in todo:
            try:
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (path.stem,))
            except psycopg.Error as exc:
                print(f"migration {path.name} failed, nothing of it applied: {exc}".strip(), file=sys.stderr)
                return 1
            print(f"applied {path.name}")
    print(f"migrated ({len(todo)} applied, {len(applied)} already there)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
