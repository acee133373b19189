"""What `verify` runs for a stack, from its plan alone, without touching a host: one pytest run
over SSH for a stack on hosts, one per machine (with that machine's DOCKER_HOST) for a Docker
stack on remote hosts."""
import pytest

from tunestack.checks.runs import VerifyOptions, verify_runs
from tunestack.checks.runs import testinfra_options as passed_through
from tunestack.checks.ssh import ssh_fix
from tunestack.errors import UsageError


def flag(cmd, name):
    return cmd[cmd.index(name) + 1]


def test_a_stack_on_hosts_is_one_run_over_ssh(tmp_path):
    (run,) = verify_runs("staging", VerifyOptions(), tmp_path)
    assert run.hosts == ("ssh://deploy@10.20.1.10,ssh://deploy@10.20.1.20,ssh://deploy@10.20.2.11,"
                         "ssh://deploy@10.20.2.12,ssh://deploy@10.20.2.13")
    assert (flag(run.cmd, "--stack"), flag(run.cmd, "--target"), flag(run.cmd, "--secrets-dir")) == \
        ("staging", "hosts", "/etc/tunestack/secrets")
    assert run.report == tmp_path / "report.json"


def test_a_docker_stack_is_one_run_per_machine_with_its_engine(tmp_path):
    runs = verify_runs("staging", VerifyOptions(target="docker"), tmp_path)
    assert [r.machine for r in runs] == ["db (ssh://deploy@10.20.1.10)", "cache (ssh://deploy@10.20.1.20)",
                                         "app-1 (ssh://deploy@10.20.2.11)", "app-2 (ssh://deploy@10.20.2.12)",
                                         "app-3 (ssh://deploy@10.20.2.13)"]
    db, cache, app1 = runs[0], runs[1], runs[2]
    assert db.hosts == ("ssh://deploy@10.20.1.10,docker://postgres@staging-postgres,"
                        "docker://postgres@staging-pgbouncer")
    assert cache.hosts == ("ssh://deploy@10.20.1.20,docker://redis@staging-redis-cache,"
                           "docker://redis@staging-redis-queue,docker://haproxy@staging-lb")
    assert app1.hosts.startswith("ssh://deploy@10.20.2.11,docker://app@") and app1.env["DOCKER_HOST"] == \
        "ssh://deploy@10.20.2.11"
    assert len({r.report for r in runs}) == 5


def test_given_hosts_are_checked_before_use(tmp_path):
    with pytest.raises(UsageError, match="--hosts 'ssh://-oProxyCommand=x'"):
        verify_runs("prod", VerifyOptions(hosts="ssh://-oProxyCommand=x"), tmp_path)


def test_testinfra_options_pass_through_with_one_junit_file_per_machine():
    opts = VerifyOptions(ssh_config="/c", ssh_identity_file="/k", sudo=True, junit_xml="/out/verify.xml")
    assert passed_through(opts, "app-2") == ["--ssh-config=/c", "--ssh-identity-file=/k", "--sudo",
                                                "--junit-xml=/out/verify-app-2.xml"]


@pytest.mark.parametrize("stderr,fix", [
    ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@", "ssh-keygen -R 10.0.0.1"),
    ("Host key verification failed.", "not the one on record"),
    ("deploy@10.0.0.1: Permission denied (publickey).", "the SSH user or key is refused"),
    ("ssh: connect to host 10.0.0.1 port 22: Connection timed out", "does not answer over SSH"),
])
def test_ssh_failures_say_what_to_fix(stderr, fix):
    assert fix in ssh_fix(stderr, "10.0.0.1")


@pytest.mark.parametrize("row", [
    {"ok": True, "check": "test_config[local-maxmemory-cache]", "expected": "201326592", "actual": "201326592"},
    {"ok": False, "check": "test_settings_in_force[local-shared_preload_libraries]",
     "expected": "pg_stat_statements,auto_explain", "actual": "pg_stat_statements"},
    {"ok": True, "check": "x" * 90, "expected": "a b c " * 20, "actual": "1234567890123456789012345678901234567890"},
])
def test_verify_rows_fit_80_columns_without_splitting_a_word(row):
    """Issue #24: 98 of 103 lines of verify were over 80 columns."""
    from tunestack.cli.verify import row_lines

    lines = row_lines(row, 80)
    assert lines[0].split()[:2] == ["PASS" if row["ok"] else "FAIL", row["check"]]
    words = " ".join(lines[1:]).split() if len(lines) > 1 else lines[0].split()[2:]
    assert " ".join(words) == f"expected {row['expected']}, actual {row['actual']}".replace("  ", " ").strip()
    assert all(len(line) <= 80 for line in lines if row["check"] not in line)


def test_what_a_server_reported_reaches_the_terminal_escaped():
    from tunestack.cli.verify import row_lines

    row = {"ok": False, "check": "test_x", "expected": "on", "actual": "off\r  PASS  test_x  expected on, actual on"}
    assert "\r" not in "\n".join(row_lines(row, 200)) and "\\r" in row_lines(row, 200)[0]
