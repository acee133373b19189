"""Config text lives only in configs/ templates, shared by the local stack, the Pulumi components
and the images (issue #22): the same rules (no trust, escaped values) reach every target."""
import pytest

from tunestack.local.control import hba_files
from tunestack.local.folders import StateFolders
from tunestack.local.secrets import secret_files
from tunestack.paths import ROOT
from tunestack.render import render_text


def test_the_postgres_image_runs_the_bootstrap_sql_its_template_renders():
    """images/postgres/bootstrap.sql is what the image copies at build time; it must be the
    template's render, so the roles, grants and session settings are the local stack's too."""
    rendered = render_text("bootstrap.sql.j2", passwords_from_files=True, secrets_dir="/etc/tunestack/secrets")
    assert (ROOT / "images" / "postgres" / "bootstrap.sql").read_text() == rendered


def test_the_postgres_image_runs_the_monitoring_login_sql_its_template_renders_from_bootstrap_and_alone():
    """images/postgres/monitor-role.sql: bootstrap.sql runs it from beside itself (psql's \\ir), and
    tunestack-live runs it alone on a cluster's primary, so it keeps the password out of statistics
    and logs itself."""
    alone = render_text("monitor-role.sql.j2", secrets_dir="/etc/tunestack/secrets")
    assert (ROOT / "images" / "postgres" / "monitor-role.sql").read_text() == alone
    assert "\\ir monitor-role.sql" in (ROOT / "images" / "postgres" / "bootstrap.sql").read_text().splitlines()
    assert alone.index("SET log_statement = 'none';") < alone.index("ALTER ROLE tunestack_monitor")


@pytest.mark.parametrize("passwords_from_files", [True, False])
def test_bootstrap_keeps_passwords_out_of_statistics_and_logs(passwords_from_files):
    sql = render_text("bootstrap.sql.j2", passwords_from_files=passwords_from_files, secrets_dir="/s",
                      verifiers={"app": "SCRAM-SHA-256$4096:x$y:z", "jobs": "v", "migrator": "w"})
    head = sql.split("ALTER ROLE", 1)[0]
    for guard in ("SET pg_stat_statements.track = 'none';", "SET log_statement = 'none';",
                  "SET log_min_duration_statement = -1;", "SET log_min_error_statement = 'panic';"):
        assert guard in head


def test_a_verifier_is_quoted_as_a_sql_literal():
    sql = render_text("bootstrap.sql.j2", passwords_from_files=False, verifiers={"app": "a'b", "jobs": "j", "migrator": "m"})
    assert "ALTER ROLE app PASSWORD 'a''b';" in sql


@pytest.mark.parametrize("local_stack,clients", [(True, "127.0.0.1/32"), (False, "all")])
def test_pg_hba_never_trusts(local_stack, clients):
    hba = render_text("pg_hba.conf.j2", local_stack=local_stack, ident_map="tunestack" if local_stack else None,
                      clients=clients)
    rules = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    assert rules[0][:4] == ["local", "all", "postgres", "peer"]
    if local_stack:   # base backups (pg_basebackup): the same superuser over the same private socket
        assert rules.pop(1)[:4] == ["local", "replication", "postgres", "peer"]
    assert rules[1] == ["host", "all", "all", clients, "scram-sha-256"]
    assert not any("trust" in rule for rule in rules)


def test_the_local_stack_maps_its_user_to_the_superuser_by_peer(tmp_path):
    files = hba_files(StateFolders(tmp_path / "s", "postgres"))
    assert "local all postgres peer map=tunestack" in files["pg_hba.conf"]
    assert files["pg_ident.conf"] == "tunestack postgres postgres\n"


def test_secret_files_escape_for_their_format():
    pw = {"app": 'a"b', "jobs": "j", "admin": "x", "migrator": "m", "redis-cache": "c c", "redis-queue": "q",
          "runtime": "r", "redis-sentinel": "s"}
    files = secret_files(pw)["service-secrets"]
    # PgBouncer manual (auth_file): a double quote inside a field is doubled.
    assert files["pgbouncer-userlist.txt"].splitlines()[0] == '"app" "a""b"'
    # redis.conf: a value with a space is double-quoted (sdssplitargs).
    assert files["redis-cache.conf"] == 'requirepass "c c"\n'
    # the queue's nodes log in to each other with it too (redis.queue.replicas)
    assert files["redis-queue.conf"] == "requirepass q\n# a replica logs in to its master with the queue's password " \
                                        "(every node may become either)\nmasterauth q\n"



def test_a_state_folder_that_cannot_be_made_is_the_environment_not_a_traceback():
    """Issue #24: a user whose home does not exist got `PermissionError: '/nonexistent'`. Now exit 3
    saying what to do (--state-dir); /proc stands in for a place no one may create folders in."""
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    from tunestack.errors import EnvironmentProblem

    with pytest.raises(EnvironmentProblem, match="--state-dir"):
        StateFolders(Path("/proc/nowhere/local"), None).make()
    res = subprocess.run([sys.executable, "-m", "tunestack", "up", "-s", "local", "--state-dir", "/proc/nowhere"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 3 and "cannot make the state folder /proc/nowhere/local" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
