"""The jobs role cannot take the web's seats (issue #26), on a real PgBouncer in front of a real
PostgreSQL. PgBouncer manual: pools are per user and database, and `max_user_connections` in
[users] caps every pool of a user; `max_db_connections` caps the database. Without the cap, job
threads running long statements held default_pool_size server connections and left the web one."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import psycopg
import pytest

from tests.realservers import psql, start_pgbouncer, start_postgres
from tunestack import stackfile
from tunestack.plan import build_plan
from tunestack.render import Layout, render_plan

pytestmark = pytest.mark.servers
PASSWORDS = {"app": "test-only-app", "jobs": "test-only-jobs", "tunestack_admin": "test-only-admin"}
JOB_CLIENTS = 12          # far more job threads than seats
JOB_SECONDS = 8           # a long job statement, bounded
WEB_CLIENTS = 3


def active(pg_port: int) -> dict[str, int]:
    rows = psql(pg_port, "SELECT usename, count(*) FROM pg_stat_activity WHERE state = 'active' "
                         "AND query LIKE 'SELECT pg_sleep%' GROUP BY usename", db="app")
    return {u: int(n) for u, n in (line.split("|") for line in rows.splitlines())}


def test_long_job_statements_leave_the_web_its_seats(server_dir):
    pg = start_postgres(server_dir / "pg", "max_connections = 40\n")
    try:
        psql(pg.port, "CREATE DATABASE app")
        for role in ("app", "jobs"):
            psql(pg.port, f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORDS[role]}'")
        spec = stackfile.load(stackfile.stack_path("local"), name="local")
        plan = build_plan(replace(spec, postgres=replace(spec.postgres, port=pg.port)))
        cap = plan.pgbouncer_users["jobs"]["max_user_connections"].value
        seats = plan.pgbouncer["max_db_connections"].value
        assert cap + WEB_CLIENTS <= seats, "the local plan leaves the web at least three seats"
        ini = render_plan(plan, Layout(secrets_dir=str(server_dir)))["pgbouncer.ini"]
        userlist = "".join(f'"{u}" "{p}"\n' for u, p in PASSWORDS.items())
        (server_dir / "bouncer").mkdir()
        bouncer = start_pgbouncer(server_dir / "bouncer", ini, userlist)
        try:
            _storm(pg.port, bouncer.port, cap)
        finally:
            bouncer.stop()
    finally:
        pg.stop()


def _query(port: int, user: str, seconds: float, errors: list) -> None:
    try:
        with psycopg.connect(host="127.0.0.1", port=port, dbname="app", user=user, password=PASSWORDS[user],
                             connect_timeout=10, prepare_threshold=None, autocommit=True) as conn:
            conn.execute(f"SELECT pg_sleep({seconds})")
    except psycopg.Error as exc:
        errors.append(f"{user}: {exc}")


def _storm(pg_port: int, bouncer_port: int, cap: int) -> None:
    errors: list[str] = []
    jobs = [threading.Thread(target=_query, args=(bouncer_port, "jobs", JOB_SECONDS, errors))
            for _ in range(JOB_CLIENTS)]
    for t in jobs:
        t.start()
    try:
        deadline = time.monotonic() + 5
        while active(pg_port).get("jobs", 0) < cap and time.monotonic() < deadline:
            time.sleep(0.1)
        web = [threading.Thread(target=_query, args=(bouncer_port, "app", 2, errors)) for _ in range(WEB_CLIENTS)]
        for t in web:
            t.start()
        seen = {"app": 0, "jobs": 0}
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and any(t.is_alive() for t in web):
            now = active(pg_port)
            seen = {u: max(seen[u], now.get(u, 0)) for u in seen}
            time.sleep(0.1)
        for t in web:
            t.join(timeout=15)
    finally:
        for t in jobs:
            t.join(timeout=JOB_SECONDS * (JOB_CLIENTS // cap + 2))
    assert not [e for e in errors if e.startswith("app")], errors
    assert seen["jobs"] <= cap, f"the jobs role held {seen['jobs']} server connections, over its cap {cap}"
    assert seen["app"] == WEB_CLIENTS, f"the web got {seen['app']} seats at once while jobs ran, not {WEB_CLIENTS}"
