"""The Docker target's own config files (render_container_bases): what a server reads only at start
is the container's, the rest is delivered live; no setting is in both (issue #11)."""
import re

import pytest

from tunestack.plan import plan_stack
from tunestack.postgres.catalog import catalog
from tunestack.render import PGBOUNCER_AT_START, render_container_bases

STACKS = ["dev", "local", "staging", "prod"]
SETTING = re.compile(r"^(\w+) = ", re.M)


@pytest.mark.parametrize("stack", STACKS)
def test_postgres_start_and_live_settings_split_by_context(stack):
    """PostgreSQL docs (pg_settings.context): `postmaster` settings change only at a server start.
    TLS (plan.tls) comes with the container too: its certificate files are the container's, and
    pg_hba.conf takes TLS only from the first second."""
    plan = plan_stack(stack, target="docker")
    tls = set(plan.tls["postgres"].settings) if "postgres" in plan.tls else set()
    files = render_container_bases(plan)
    start = set(SETTING.findall(files["postgresql.conf"])) - {"include_if_exists"}
    live = set(SETTING.findall(files["postgresql.live.conf"]))
    gucs = catalog(plan.spec.postgres.version)
    assert start | live == set(plan.postgres) and not start & live
    assert {gucs[k].context for k in start - tls} == {"postmaster"} and tls <= start
    assert "postmaster" not in {gucs[k].context for k in live}
    assert "include_if_exists = '/etc/tunestack/live/postgresql.conf'" in files["postgresql.conf"]


@pytest.mark.parametrize("stack", STACKS)
def test_pgbouncer_live_file_is_one_section_without_a_header(stack):
    """PgBouncer resets a section that appears twice: the live file is key = value lines only,
    included at the end of the container's one [pgbouncer] section."""
    plan = plan_stack(stack, target="docker")
    files = render_container_bases(plan)
    live = files["pgbouncer.live.ini"]
    assert "[" not in "".join(line for line in live.splitlines() if not line.startswith(";"))
    tls = {k for k in plan.pgbouncer if "_tls_" in k}   # with the container's certificate files
    assert set(SETTING.findall(live)) == set(plan.pgbouncer) - set(PGBOUNCER_AT_START) - tls
    assert tls == ({"client_tls_sslmode", "client_tls_cert_file", "client_tls_key_file", "client_tls_ca_file",
                    "server_tls_sslmode", "server_tls_ca_file"} if plan.tls else set())
    start = files["pgbouncer.ini"]
    assert len(re.findall(r"^\[pgbouncer\]$", start, re.M)) == 1 and start.rstrip().endswith("%include /etc/tunestack/live/pgbouncer.ini")


def test_start_only_files_change_only_with_a_start_only_value():
    """A start-only file is a container input: a changed byte replaces the container. Raising the
    fleet (max_client_conn, pools: reloadable) changes reasons everywhere, never these files."""
    from dataclasses import replace

    from tunestack import stackfile
    from tunestack.plan import build_plan

    spec = stackfile.load(stackfile.stack_path("dev"), name="dev")
    more = replace(spec, pgbouncer=replace(spec.pgbouncer, max_client_conn=300),
                   postgres=replace(spec.postgres, overrides={"work_mem": "8MB"}))
    before, after = (render_container_bases(build_plan(s, target="docker")) for s in (spec, more))
    assert before["pgbouncer.live.ini"] != after["pgbouncer.live.ini"]
    assert before["postgresql.live.conf"] != after["postgresql.live.conf"]
    assert before["pgbouncer.ini"] == after["pgbouncer.ini"]
    assert before["postgresql.conf"] == after["postgresql.conf"]
