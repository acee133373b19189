"""Backups across hosts on the test bed (issue #27, point 5): the staging shape keeps its pgBackRest
repository on the cache host, in the repository server; PostgreSQL on the db host archives to it
over TLS, and backups run there, reading the data through the agent in the PostgreSQL container.
A restore drill counts rows, and the repository is shown to survive the db host."""
import json
import socket
import ssl
import subprocess
import sys

import pytest

from tests.multihost.test_staging_shape import ca_pem
from tunestack.backup.docker import DockerBackups
from tunestack.poll import wait_until

pytestmark = pytest.mark.multihost


def psql(bed, sql: str) -> str:
    """SQL as postgres in the db host's PostgreSQL container, over its own socket."""
    res = bed.client(bed.hosts["db"]).containers.get("bed-postgres").exec_run(
        ["psql", "-AtX", "-v", "ON_ERROR_STOP=1", "-d", "app", "-c", sql], user="postgres")
    assert res.exit_code == 0, res.output.decode()
    return res.output.decode().strip()


def backups_of(bed) -> DockerBackups:
    return DockerBackups(bed.client(bed.hosts["db"]), "bed", bed.client(bed.hosts["cache"]))


def test_the_repository_lives_on_the_cache_host_and_the_first_up_took_a_full_backup(staging):
    bed, replay, plan, _ = staging
    assert "run bed-backup-repo-stanza" in replay.steps
    assert [v.name for v in bed.client(bed.hosts["cache"]).volumes.list(filters={"name": "bed-backup-repo-data"})]
    assert not bed.client(bed.hosts["db"]).volumes.list(filters={"name": "bed-postgres-backups"}), \
        "nothing of the repository on the db host: losing it loses no backup"
    first = backups_of(bed).backups()
    assert first and first[0].type == "full"
    # pgBackRest's own end-to-end check from the repository host: config, TLS both ways, a WAL
    # switch archived from the db host.
    backups_of(bed).pgbackrest("--log-level-console=warn", "--archive-timeout=60", "check")


def without_a_client_certificate(address: str, port: int, ca: str) -> str:
    """What a TLS client that trusts the stack's CA but shows no certificate of its own gets."""
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False   # the names are the containers'; the CA is what matters here
    with socket.create_connection((address, port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                tls.sendall(b"{}\n")
                data = tls.recv(100)
                return f"answered {data!r}" if data else "closed"
        except (ssl.SSLError, ConnectionError) as exc:
            return f"refused: {exc}"


def test_neither_server_answers_a_client_without_a_certificate_of_the_stack(staging, tmp_path):
    """pgBackRest's TLS servers admit a client by its certificate's CN (tls-server-auth): one that
    shows none gets nothing, from outside both hosts."""
    bed, replay, plan, _ = staging
    ca = tmp_path / "ca.crt"
    ca.write_text(ca_pem(replay))
    for setting in ("repository server", "database agent"):
        server = plan.backup[setting].value
        got = without_a_client_certificate(server.address, server.port, str(ca))
        assert got == "closed" or got.startswith("refused"), (setting, got)


def test_a_restore_across_hosts_returns_exactly_the_rows_committed_before_the_drop(staging):
    """1,000 rows, a differential backup run on the cache host, 500 more, the target, 200 more,
    DROP TABLE: the restore on the db host, into a new volume, proven in a throwaway container that
    reads the repository server over TLS, holds exactly the 1,500 rows committed before the target.
    The running server is untouched."""
    bed, *_ = staging
    backups = backups_of(bed)
    started = psql(bed, "SELECT pg_postmaster_start_time()")
    psql(bed, "CREATE TABLE drill (v int); INSERT INTO drill SELECT generate_series(1, 1000)")
    made = backups.backup("diff")
    assert made.type == "diff"
    psql(bed, "INSERT INTO drill SELECT generate_series(1001, 1500)")
    target = psql(bed, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    psql(bed, "INSERT INTO drill SELECT generate_series(1501, 1700)")
    psql(bed, "DROP TABLE drill")
    segment = psql(bed, "SELECT pg_walfile_name(pg_switch_wal())")
    assert wait_until(lambda: psql(bed, "SELECT last_archived_wal FROM pg_stat_archiver") >= segment, 120,
                      "the segment with the DROP archived on the cache host")
    assert psql(bed, "SELECT failed_count FROM pg_stat_archiver") == "0"
    db_engine, volume = bed.client(bed.hosts["db"]), "bed-restore-drill"
    try:
        restored = backups.restore(target, volume)
        print(f"restore across hosts: {restored}", flush=True)
        assert restored["tables"]["public.drill"] == 1500, restored
    finally:
        for v in db_engine.volumes.list(filters={"name": volume}):
            v.remove(force=True)
    assert psql(bed, "SELECT pg_postmaster_start_time()") == started, "the running server was not restarted"
    assert psql(bed, "SELECT to_regclass('public.drill') IS NULL") == "t"
    assert not db_engine.containers.list(all=True, filters={"label": "tunestack.service=restore-check"})


def test_backup_and_restore_across_hosts_from_the_command_line(staging):
    """`tunestack backup|restore --stack bed --target docker` reach both hosts over SSH as a user
    runs them: the backup list as JSON, a target before the oldest backup refused with exit 2."""
    bed, _, _, stacks = staging
    env = {**bed.env, "TUNESTACK_STACKS_DIR": str(stacks)}
    env.pop("DOCKER_HOST", None)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tunestack", *args, "--stack", "bed", "--target", "docker"],
                              capture_output=True, text=True, env=env, timeout=600)
    made = cli("backup", "--type", "incr", "--json")
    assert made.returncode == 0, made.stderr
    assert "bed-backup-repo" in made.stderr   # where it ran, in the progress line
    listed = cli("backup", "--list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(made.stdout)["label"] == json.loads(listed.stdout)[-1]["label"]
    early = cli("restore", "--to", "2020-01-01T00:00:00Z")
    assert early.returncode == 2 and "before the oldest backup ended" in early.stderr and "Traceback" not in early.stderr


def test_cron_runs_the_plans_schedule_in_the_repository_server_only(staging):
    """The schedule runs where backups run (the repository host), as root's cron from a root-owned
    file that no service user can change, and not also in the PostgreSQL container."""
    bed, *_ = staging
    server = bed.client(bed.hosts["cache"]).containers.get("bed-backup-repo")
    postgres = bed.client(bed.hosts["db"]).containers.get("bed-postgres")
    assert server.exec_run(["pgrep", "-x", "cron"]).exit_code == 0, "cron runs in the repository server"
    assert server.exec_run(["stat", "-c", "%U %a", "/etc/cron.d/tunestack-backup"]).output.decode().split() \
        == ["root", "644"]
    assert "--type=diff" in server.exec_run(["cat", "/etc/cron.d/tunestack-backup"]).output.decode()
    assert postgres.exec_run(["pgrep", "-x", "cron"]).exit_code != 0, "one schedule, not two"
