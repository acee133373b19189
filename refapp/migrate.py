"""The reference app's migration: its one table, created by the role that owns the schema.

Run it as the migrator (DATABASE_URL names the user, DATABASE_PASSWORD its password), straight to
PostgreSQL: `python3 -m refapp.migrate`. The app role reads and writes the table through the
default privileges the deploy granted it; it cannot create tables itself (PostgreSQL 15+)."""
from __future__ import annotations

import os
from urllib.parse import urlparse

import psycopg

from . import secret


def main() -> None:
    url = urlparse(os.environ["DATABASE_URL"])
    with psycopg.connect(host=url.hostname, port=url.port or 5432, dbname=url.path.lstrip("/"), user=url.username,
                         password=secret("DATABASE_PASSWORD"), connect_timeout=10, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS hits (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
    print("migrated")


if __name__ == "__main__":
    main()
