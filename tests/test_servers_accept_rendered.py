"""Every stack's rendered configs, loaded by the real servers from Debian's packages.

Done-when of issue 2: PostgreSQL 15, PgBouncer and Redis accept each rendered file and report the
planned values through SHOW, SHOW CONFIG and CONFIG GET. A stack that targets another PostgreSQL
major than the installed one is re-planned and re-rendered for the installed major.
"""
from __future__ import annotations

import pytest
import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

from tunestack.servers import installed_pg_major
from tests.realservers import (postgres_check_config, psql, start_pgbouncer,
                               start_postgres, start_redis)
from tunestack import stackfile
from tunestack.plan import build_plan
from tunestack.postgres.catalog import catalog
from tunestack.render import Layout, render_plan
from tunestack.units import pg_value_in_base_units

pytestmark = pytest.mark.servers
STACKS = stackfile.stack_names()
# Moved by the test harness to free loopback values; everything else is as rendered.
MOVED = {"listen_addresses", "port"}
START_LIMIT_KB = 8 * 1024 * 1024  # plans with more shared_buffers are checked with `postgres -C`


def _plan_for_installed(name):
    spec = stackfile.load(stackfile.stack_path(name), name=name)
    return build_plan(spec, pg_version=installed_pg_major())


@pytest.mark.parametrize("stack", STACKS)
def test_postgres_reports_planned_values(stack, server_dir):
    plan = _plan_for_installed(stack)
    files = render_plan(plan, Layout(secrets_dir=str(server_dir / "secrets"), data_dir=str(server_dir)))
    gucs = catalog(plan.spec.postgres.version)
    planned = {k: s.text for k, s in plan.postgres.items() if k not in MOVED}
    sb_kb = pg_value_in_base_units(plan.postgres["shared_buffers"].text, "kB")
    if sb_kb > START_LIMIT_KB:
        reported = postgres_check_config(server_dir, files["postgresql.conf"], list(planned))
    else:
        server = start_postgres(server_dir, files["postgresql.conf"])
        try:
            reported = {k: psql(server.port, f"SHOW {k}").strip() for k in planned}
            # pg_stat_statements is preloaded: the extension works without a restart.
            psql(server.port, "CREATE EXTENSION pg_stat_statements")
            assert int(psql(server.port, "SELECT count(*) >= 0 FROM pg_stat_statements")
                       .strip() == "t") == 1
            # Per-role timeouts land on the roles, not the cluster.
            psql(server.port, "CREATE ROLE app LOGIN; CREATE ROLE jobs LOGIN; CREATE ROLE migrator LOGIN")
            for stmt in files["roles.sql"].splitlines():
                if stmt.startswith("ALTER ROLE"):
                    psql(server.port, stmt.split("--")[0])
            rolconfig = psql(server.port, "SELECT rolconfig FROM pg_roles WHERE rolname = 'app'")
            for name, s in plan.postgres_roles["app"].items():
                assert f"{name}={s.text}" in rolconfig
            assert psql(server.port, "SHOW statement_timeout").strip() == "0", "must not be cluster-wide"
        finally:
            server.stop()
    mismatches = {k: (planned[k], reported[k]) for k in planned if not gucs[k].same(str(planned[k]), reported[k])}
    assert not mismatches, f"planned vs reported: {mismatches}"


@pytest.mark.parametrize("stack", STACKS)
def test_pgbouncer_reports_planned_values(stack, server_dir):
    plan = _plan_for_installed(stack)
    files = render_plan(plan, Layout(secrets_dir=str(server_dir), data_dir=str(server_dir)))
    server = start_pgbouncer(server_dir, files["pgbouncer.ini"], '"tunestack_admin" "test-only-password"\n')
    try:
        rows = psql(server.port, "SHOW CONFIG", db="pgbouncer", user="tunestack_admin",
                    password="test-only-password")
    finally:
        server.stop()
    config = {line.split("|")[0]: line.split("|")[1] for line in rows.splitlines() if "|" in line}
    moved = {"listen_addr", "listen_port"}
    expected = {k: s.text for k, s in plan.pgbouncer.items() if k not in moved}
    actual = {k: config.get(k) for k in expected}
    assert actual == expected


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("role", ["cache", "queue"])
def test_redis_reports_planned_values(stack, role, server_dir):
    plan = _plan_for_installed(stack)
    layout = Layout(secrets_dir=str(server_dir / "secrets"), data_dir=str(server_dir / "data"))
    files = render_plan(plan, layout)
    (server_dir / "secrets").mkdir()
    (server_dir / "secrets" / f"redis-{role}.conf").write_text("requirepass test-only-password\n")
    (server_dir / "data" / f"redis-{role}").mkdir(parents=True)
    conf = server_dir / f"redis-{role}.conf"
    conf.write_text(files[f"redis-{role}.conf"])
    server = start_redis(server_dir, conf)
    try:
        client = redis_py.Redis(host="127.0.0.1", port=server.port, password="test-only-password",
                                decode_responses=True)
        settings = plan.redis[role]
        for key in ("maxmemory", "maxmemory-policy", "appendonly", "timeout", "tcp-keepalive", "save"):
            assert client.config_get(key)[key] == settings[key].text, key
        if role == "queue":
            assert client.config_get("appendfsync")["appendfsync"] == "everysec"
        # requirepass is in force: no password, no access.
        with pytest.raises(redis_py.AuthenticationError):
            redis_py.Redis(host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), 0)).ping()
    finally:
        server.stop()


@pytest.mark.parametrize("stack", STACKS)
def test_haproxy_accepts_rendered_config(stack, server_dir):
    import shutil
    import subprocess

    plan = _plan_for_installed(stack)
    files = render_plan(plan, Layout(run_dir=str(server_dir)))
    cfg = server_dir / "haproxy.cfg"
    cfg.write_text(files["haproxy.cfg"])
    res = subprocess.run([shutil.which("haproxy") or "/usr/sbin/haproxy", "-c", "-f", str(cfg)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    weights = [int(line.split("weight")[1].split()[0]) for line in files["haproxy.cfg"].splitlines()
               if line.strip().startswith("server ")]
    assert len(weights) == len(plan.replicas)
