"""TLS between hosts (plan/tls.py): which servers serve it, the names their certificates carry,
what servers and clients are told. The servers' own behaviour is checked on the test bed
(tests/multihost) and by verify/test_tls.py."""
from dataclasses import replace

import pytest

from tunestack.plan import build_plan
from tunestack.plan.tls import CA_FILE, CERT_FILE, KEY_FILE
from tunestack.render import Layout, render_plan, render_text
from tunestack.stackfile.spec import HostSpec

from .helpers import spec

ALL_LOCAL = HostSpec("one", ("db", "cache", "app"), 1, 8, 64 * 1024**3, "ssd", "stack file")
DB = HostSpec("db", ("db",), 1, 8, 32 * 1024**3, "ssd", "stack file", addresses=("10.9.0.10",))
CACHE = HostSpec("cache", ("cache",), 1, 4, 16 * 1024**3, "ssd", "stack file", addresses=("cache.internal",))
APPS = HostSpec("app", ("app",), 2, 4, 8 * 1024**3, "ssd", "stack file", addresses=("10.9.0.20", "10.9.0.21"))


def plan_of(*hosts, target="docker"):
    return build_plan(replace(spec("staging"), name="t", hosts=tuple(hosts)), target=target)


@pytest.mark.parametrize("hosts,target,served", [
    # one machine: nothing leaves it, nothing to encrypt
    ((ALL_LOCAL,), "docker", []),
    ((ALL_LOCAL,), "hosts", []),
    # clients on other hosts: every server they reach serves TLS only
    # and pgBackRest's two servers: the repository on the cache host, the agent beside PostgreSQL
    ((DB, CACHE, APPS), "docker", ["backup-agent", "backup-repo", "pgbouncer", "postgres", "redis-cache",
                                   "redis-queue"]),
])
def test_which_servers_serve_tls(hosts, target, served):
    assert sorted(plan_of(*hosts, target=target).tls) == served


def test_a_certificate_carries_every_name_its_clients_connect_to():
    tls = plan_of(DB, CACHE, APPS).tls
    # PgBouncer's clients: app hosts by address; the checks inside its container on loopback
    assert tls["pgbouncer"].dns_names == ("t-pgbouncer", "localhost")
    assert tls["pgbouncer"].ip_addresses == ("127.0.0.1", "10.9.0.10")
    # PostgreSQL's: PgBouncer and the migrations by its alias on the private network
    assert "t-postgres" in tls["postgres"].dns_names
    # a host known by name gets a DNS name, not an IP address entry
    assert tls["redis-queue"].dns_names == ("t-redis-queue", "localhost", "cache.internal")
    assert tls["redis-queue"].ip_addresses == ("127.0.0.1",)


def test_clients_verify_the_server_and_its_name():
    """libpq docs (34.19, SSL support): only verify-full checks both the chain and the host name."""
    plan = plan_of(DB, CACHE, APPS)
    for env in (plan.web_env, plan.jobs_env):
        assert env["DATABASE_URL"].text.endswith(f"@10.9.0.10:6432/app?sslmode=verify-full&sslrootcert={CA_FILE}")
        assert env["REDIS_URL"].text.startswith("rediss://cache.internal:")
        assert env["REDIS_CACHE_URL"].text.startswith("rediss://cache.internal:")
        assert env["REDIS_TLS_CA_FILE"].text == CA_FILE
    assert plan.migrate_env["DATABASE_URL"].text == f"postgres://migrator@t-postgres:5432/app?sslmode=verify-full" \
                                                   f"&sslrootcert={CA_FILE}"
    assert plan.pgbouncer["server_tls_sslmode"].text == "verify-full"
    assert plan.pgbouncer["server_tls_ca_file"].text == CA_FILE


def test_servers_refuse_plaintext():
    """PgBouncer docs: client_tls_sslmode=require refuses a client without TLS. Redis docs (TLS):
    `port 0` turns the plaintext port off; tls-port serves TLS."""
    plan = plan_of(DB, CACHE, APPS)
    assert plan.pgbouncer["client_tls_sslmode"].text == "require"
    assert (plan.postgres["ssl"].text, plan.postgres["ssl_cert_file"].text, plan.postgres["ssl_key_file"].text) \
        == ("on", CERT_FILE, KEY_FILE)
    conf = render_plan(plan, Layout())["redis-queue.conf"].splitlines()
    port = plan.redis["queue"]["port"].text
    assert "port 0" in conf and f"tls-port {port}" in conf and f"port {port}" not in conf
    assert 'tls-auth-clients no' in conf


def test_pg_hba_takes_only_tls_from_the_network():
    """PostgreSQL docs (21.1, pg_hba.conf): `hostssl` matches only TLS connections; the first line
    that matches decides, so `hostnossl … reject` first refuses every plaintext one."""
    lines = [ln for ln in render_text("pg_hba.conf.j2", local_stack=False, ident_map=None, clients="all",
                                      ssl_only=True).splitlines() if ln and not ln.startswith("#")]
    assert lines == ["local all postgres peer", "hostnossl all all all reject", "hostssl all all all scram-sha-256"]


def test_without_tls_nothing_changes_for_clients():
    plan = plan_of(ALL_LOCAL)
    assert "sslmode" not in plan.web_env["DATABASE_URL"].text
    assert plan.web_env["REDIS_URL"].text.startswith("redis://") and "REDIS_TLS_CA_FILE" not in plan.web_env
    assert "ssl" not in plan.postgres and "client_tls_sslmode" not in plan.pgbouncer
