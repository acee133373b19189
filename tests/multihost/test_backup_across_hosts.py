"""Backups across hosts on the test bed (issue #27, point 5): the staging shape keeps its pgBackRest
repository on the cache host, in the repository server; PostgreSQL on the db host archives to it
over TLS, and backups run there, reading the data through the agent in the PostgreSQL container.
A restore drill counts rows, and the repository is shown to survive the db host."""
import json
import subprocess
import sys

import pytest

from tests.multihost.test_staging_shape import ca_pem
from tunestack.backup.docker import DockerBackups
from tunestack.backup.dockerqueue import QueueAccess
from tunestack.poll import wait_until

pytestmark = pytest.mark.multihost


def psql(bed, sql: str) -> str:
    """SQL as postgres in the db host's PostgreSQL container, over its own socket."""
    res = bed.client(bed.hosts["db"]).containers.get("bed-postgres").exec_run(
        ["psql", "-AtX", "-v", "ON_ERROR_STOP=1", "-d", "app", "-c", sql], user="postgres")
    assert res.exit_code == 0, res.output.decode()
    return res.output.decode().strip()


def backups_of(bed, plan=None) -> DockerBackups:
    queue = QueueAccess(bed.hosts["cache"].socket, plan.spec.redis_queue.port, "redis-queue" in plan.tls) if plan else None
    return DockerBackups("bed", bed.hosts["db"].socket, bed.hosts["cache"].socket, queue)


def queue_cli(bed, plan, *args: str) -> str:
    """redis-cli on the queue, in its container as redis, with the password read there from its file."""
    tls = "--tls --cacert /etc/tunestack/tls/ca.crt " if "redis-queue" in plan.tls else ""
    res = bed.client(bed.hosts["cache"]).containers.get("bed-redis-queue").exec_run(
        ["sh", "-c", 'REDISCLI_AUTH="$(cat /etc/tunestack/secrets/redis-queue-password)" redis-cli --no-auth-warning '
                     f'{tls}-p {plan.spec.redis_queue.port} ' + " ".join(args)], user="redis")
    assert res.exit_code == 0, res.output.decode()
    return res.output.decode().strip()


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


def client_certificate(replay, common_name: str) -> tuple[str, str]:
    """(certificate, key) PEM for a pgBackRest client named `common_name`, signed by the stack's CA
    (as anyone holding the CA key could make one)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    (ca,) = replay.run.of_type("tls:index/selfSignedCert:SelfSignedCert")
    ca_cert = x509.load_pem_x509_certificate(ca.plain_inputs["certPem"].encode())
    key_pem = ca.plain_inputs["privateKeyPem"]
    key_pem = key_pem["value"] if isinstance(key_pem, dict) else key_pem   # a secret, as the mocks keep it
    ca_key = serialization.load_pem_private_key(key_pem.encode(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def info_as(bed, replay, plan, common_name: str):
    """`pgbackrest info` against the repository server from a throwaway container of the
    PostgreSQL image on the cache host, as a client whose certificate says `common_name`."""
    from tests.docker.replay import tar_of

    repo = plan.backup["repository server"].value
    engine = bed.client(bed.hosts["cache"])
    network = next(iter(engine.containers.get(repo.name).attrs["NetworkSettings"]["Networks"]))
    cert, key = client_certificate(replay, common_name)
    conf = (f"[global]\nrepo1-host={repo.name}\nrepo1-host-type=tls\nrepo1-host-port={repo.port}\n"
            "repo1-host-ca-file=/c/ca.crt\nrepo1-host-cert-file=/c/client.crt\nrepo1-host-key-file=/c/client.key\n"
            "log-level-file=off\n")
    box = engine.containers.create(
        engine.containers.get(repo.name).image.id,
        ["sh", "-c", "chown -R postgres /c && chmod 0600 /c/client.key && setpriv --reuid=postgres --regid=postgres "
                     "--init-groups pgbackrest --config=/c/pgbackrest.conf --stanza=bed --output=json info"],
        entrypoint=[], network=network, extra_hosts={repo.name: repo.address})
    try:
        box.put_archive("/", tar_of({"/c/pgbackrest.conf": conf, "/c/ca.crt": ca_pem(replay), "/c/client.crt": cert,
                                     "/c/client.key": key}))
        box.start()
        code = box.wait(timeout=120)["StatusCode"]
        return code, box.logs().decode(errors="replace")
    finally:
        box.remove(force=True)


def test_the_repository_server_admits_only_the_agents_name(staging):
    """pgBackRest's TLS server authorises a client by its certificate's CN (tls-server-auth): even
    a certificate of the stack's own CA is refused under another name; the agent's name, the
    control, gets the stanza's backups."""
    bed, replay, plan, _ = staging
    agent = plan.backup["database agent"].value
    code, out = info_as(bed, replay, plan, "intruder")
    (refused,) = json.loads(out)   # `info` reports a repository it cannot read in its JSON, exit 0
    assert "access denied" in refused["repo"][0]["status"]["message"] and not refused["backup"], out
    code, out = info_as(bed, replay, plan, agent.name)
    (admitted,) = json.loads(out)
    assert code == 0 and admitted["status"]["code"] == 0 and admitted["backup"], out


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
    # no failure since the last success (the verify rule; a push before the stanza existed may fail once)
    assert psql(bed, "SELECT coalesce(last_failed_time < last_archived_time, true) FROM pg_stat_archiver") == "t"
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
    for name in ("DOCKER_HOST", "CI"):   # CI turns progress off; the progress line is checked below
        env.pop(name, None)

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


def test_the_queue_is_snapshotted_beside_a_backup_and_restored_as_it_was(staging):
    """The queue holds jobs that exist nowhere else: a backup keeps its snapshot in the repository
    on the cache host, under the backup's label; a restore with the queue brings back every job
    waiting then and none queued after, into a new volume, proven by loading it."""
    bed, _, plan, _ = staging
    backups = backups_of(bed, plan)
    queue_cli(bed, plan, "RPUSH", "drill:jobs", *[f"job{i}" for i in range(300)])
    made = backups.backup("incr")
    path = backups.queue.snapshot(made.label)
    assert path.endswith(f"{made.label}.rdb") and backups.queue.has_snapshot(made.label)
    owner = backups.runner.exec_run(["stat", "-c", "%U %a", path]).output.decode().split()
    assert owner == ["postgres", "600"]
    queue_cli(bed, plan, "RPUSH", "drill:later", *[f"job{i}" for i in range(100)])   # not in the snapshot
    live = queue_cli(bed, plan, "--scan")
    cache, volume = bed.client(bed.hosts["cache"]), "bed-restore-queue"
    try:
        restored = backups.restore("latest", volume, queue=True)
        print(f"restore with the queue: {restored}\nthe live queue's keys: {live.split()}", flush=True)
        assert restored["queue_snapshot_of"] == made.label, restored
        assert restored["queue_lists"].get("drill:jobs") == 300 and "drill:later" not in restored["queue_lists"], \
            (restored, live)
    finally:
        for engine, name in ((bed.client(bed.hosts["db"]), volume), (cache, f"{volume}-redis-queue")):
            for v in engine.volumes.list(filters={"name": name}):
                v.remove(force=True)
    assert int(queue_cli(bed, plan, "LLEN", "drill:jobs")) == 300, "the running queue was not touched"
    queue_cli(bed, plan, "DEL", "drill:jobs", "drill:later")
