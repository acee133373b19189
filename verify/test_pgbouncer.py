"""PgBouncer: SHOW CONFIG for every planned setting and the open-file limit of the process."""
from verify.conftest import plan_of
from verify.helpers import listener_pids, once, psql

SERVICE = "pgbouncer"


def pytest_generate_tests(metafunc):
    if "key" in metafunc.fixturenames:
        metafunc.parametrize("key", list(plan_of(metafunc.config).pgbouncer))


def _show_config(host, plan, secrets_dir):
    port = plan.pgbouncer["listen_port"].value

    def read():
        out = psql(host, secrets_dir, port, "SHOW CONFIG", db="pgbouncer", user="tunestack_admin")
        return {line.split("|")[0]: line.split("|")[1] for line in out.splitlines() if "|" in line}
    return once(host, "pgbouncer", port, make=read)


def test_config(host, plan, secrets_dir, record, key):
    record(plan.pgbouncer[key].text, _show_config(host, plan, secrets_dir).get(key))
