"""PostgreSQL: SHOW for every planned setting, pg_stat_statements loaded, per-role timeouts, and
with TLS, no session from the network in plaintext."""
import pytest

from tunestack.hafiles import NodePaths, node_archive_command
from tunestack.postgres.catalog import catalog
from verify.conftest import plan_of
from verify.helpers import postgres_settings, psql

SERVICE = "postgres"


def pytest_generate_tests(metafunc):
    if "setting" in metafunc.fixturenames:
        metafunc.parametrize("setting", list(plan_of(metafunc.config).postgres))


def test_setting(host, plan, secrets_dir, record, setting):
    planned = plan.postgres[setting].text
    port = plan.postgres["port"].value
    settings = postgres_settings(host, secrets_dir, port)
    actual = settings.get(setting, "(not a setting of this server)")
    if plan.ha and setting in ("port", "archive_command"):
        planned = node_setting(plan, setting, settings)
    record(planned, actual, catalog(plan.spec.postgres.version)[setting].same(planned, actual))


def node_setting(plan, setting: str, settings: dict) -> str:
    """With standbys, clients reach the leader through the primary service (postgres.port), which
    listens on a port of its own; each node's archive_command names its own data folder and port
    (hafiles.node_archive_command)."""
    node = next(n for n in plan.ha["nodes"].value if str(n.port) == settings["port"])
    if setting == "port":
        return str(node.port)
    return node_archive_command(plan, node, NodePaths(settings["data_directory"], "", "", "", "", "", ""))["archive_command"]


def test_pg_stat_statements_loaded(host, plan, secrets_dir, record):
    port = plan.postgres["port"].value
    rows = psql(host, secrets_dir, port, "SELECT count(*) >= 0 FROM pg_stat_statements").strip()
    record("t", rows)


@pytest.mark.parametrize("name", ["statement_timeout", "lock_timeout"])
def test_app_role_timeout(host, plan, secrets_dir, record, name):
    port = plan.postgres["port"].value
    config = psql(host, secrets_dir, port, "SELECT array_to_string(rolconfig, ',') FROM pg_roles WHERE rolname = 'app'")
    record(f"{name}={plan.postgres_roles['app'][name].text}", config.strip(),
           f"{name}={plan.postgres_roles['app'][name].text}" in config)


def test_network_sessions_are_encrypted(host, plan, secrets_dir, record):
    """Where PostgreSQL serves TLS (plan.tls), every session from the network, PgBouncer's server
    connections among them, is encrypted (pg_stat_ssl)."""
    if "postgres" not in plan.tls:
        pytest.skip("PostgreSQL serves no TLS in this stack: its clients are all on its host")
    said = psql(host, secrets_dir, plan.postgres["port"].value,
                "SELECT count(*) FILTER (WHERE NOT s.ssl) || ' of ' || count(*) FROM pg_stat_ssl s "
                "JOIN pg_stat_activity a USING (pid) WHERE a.client_addr IS NOT NULL").strip()
    plaintext, _, total = said.partition(" of ")
    record("0 in plaintext", f"{plaintext} in plaintext (of {total})", plaintext == "0")
