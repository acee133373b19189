"""Day-2 changes on the dev stack's real containers (issue #11). Each change is a new run of the
Pulumi program; the replay applies the difference the way `pulumi up` would (tests/docker/replay.py).
Rows and queue keys are counted before and after, and requests through the load balancer during."""
import json
import re
import urllib.request

import pytest
import yaml

from components.mockrun import run_program
from tests.docker.replay import CONTAINER, Replay, plain
from tunestack import stackfile
from tunestack.loadgen import Load
from tunestack.poll import wait_until

pytestmark = pytest.mark.docker
ENTRY = "http://127.0.0.1:8080/"


def program(tmp_path, *changes, extra=None):
    """The dev stack with `changes` applied to its config, run under the mocks."""
    doc = yaml.safe_load(stackfile.stack_path("dev").read_text())
    for change in changes:
        change(doc["config"])
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    return run_program("dev", stack_file=path, extra_config=extra)


def app_ok():
    def get():
        with urllib.request.urlopen(ENTRY, timeout=5) as r:
            return r.status == 200 and "hits" in json.loads(r.read())
    return wait_until(get, 90, "the app through HAProxy")


def container_ids(engine) -> dict[str, str]:
    return {c.name: c.id for c in engine.client.containers.list(all=True)}


def queue_len(engine):
    pw = engine.read("dev-redis-queue", "/etc/tunestack/secrets/redis-queue-password")
    res = engine.client.containers.get("dev-redis-queue").exec_run(
        ["redis-cli", "--no-auth-warning", "-p", "6380", "LLEN", "kept-jobs"], environment={"REDISCLI_AUTH": pw})
    return int(res.output.decode().strip())


def pgbouncer_config(engine, key):
    pw = engine.read("dev-pgbouncer", "/etc/tunestack/secrets/tunestack_admin-password")
    res = engine.client.containers.get("dev-pgbouncer").exec_run(
        ["psql", "-h", "127.0.0.1", "-p", "6432", "-U", "tunestack_admin", "-d", "pgbouncer", "-AtX", "-c", "SHOW CONFIG"],
        environment={"PGPASSWORD": pw})
    assert res.exit_code == 0, res.output.decode()
    return {line.split("|")[0]: line.split("|")[1] for line in res.output.decode().splitlines()}[key]


# Changes, cumulative: each test's program keeps the earlier tests' changes.
def work_mem(c): c["tunestack:postgres"]["overrides"] = {"work_mem": "8MB"}
def more_clients(c): c["tunestack:pgbouncer"]["max_client_conn"] = 300
def wal_senders(c): c["tunestack:postgres"]["overrides"] = {"work_mem": "8MB", "max_wal_senders": 5}
def timeouts(c): c["tunestack:postgres"].update(statement_timeout="5s", lock_timeout="2s")
def new_app_version(c): c["tunestack:images"]["app"] = "tunestack/refapp:0.2.0"
def canary_half(c): c["tunestack:canaryWeight"] = 50


@pytest.fixture(scope="module")
def deployed(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("day2")
    replay = Replay(program(tmp), engine.connect, say=lambda m: print(m, flush=True))
    replay.apply()
    engine.psql("CREATE TABLE kept (v int); INSERT INTO kept SELECT generate_series(1, 500)")
    pw = engine.read("dev-redis-queue", "/etc/tunestack/secrets/redis-queue-password")
    engine.client.containers.get("dev-redis-queue").exec_run(
        ["sh", "-c", "for i in $(seq 1 1000); do echo RPUSH kept-jobs $i; done | redis-cli --no-auth-warning -p 6380"],
        environment={"REDISCLI_AUTH": pw})
    assert app_ok()
    yield engine, replay, tmp
    for c in engine.client.containers.list(all=True):
        c.remove(force=True)
    for v in engine.client.volumes.list():   # the next module deploys dev from nothing
        v.remove(force=True)


def apply_under_load(replay, new, what):
    """`pulumi up` of `new` while three clients keep asking the entry point (bounded: 5 minutes)."""
    with Load(ENTRY, threads=3, limit_s=300, pause_s=0.02) as load:
        replay.update(new)
    print(f"{what}: {len(load.results)} requests during the change, {load.failed} failed", flush=True)
    if load.failed:   # HAProxy's own account of each failed request (termination state, timers, server)
        logs = replay.where["dev-lb"].containers.get("dev-lb").logs(tail=2000).decode(errors="replace")
        print("\n".join(line for line in logs.splitlines() if "HTTP/1.1" in line and " 200 " not in line))
    return load


ROTATED = {"tunestack:dbPassword": "rotated-" + "x" * 24}


def kept(engine):
    return engine.psql("SELECT count(*) FROM kept") == "500" and queue_len(engine) == 1000


def test_reload_only_settings_reach_running_servers_without_replacing_a_container(deployed):
    engine, replay, tmp = deployed
    before = container_ids(engine)
    started = engine.psql("SELECT pg_postmaster_start_time()")
    mark = len(replay.steps)
    load = apply_under_load(replay, program(tmp, work_mem, more_clients), "reload-only settings")
    assert container_ids(engine) == before, "no container was replaced"
    # PgBouncer's alert follows max_client_conn: Prometheus gets the new rules live too (issue #29)
    assert sorted(replay.steps[mark:]) == ["run dev-monitoring-prometheus-live-alerts.yml",
                                           "run dev-pgbouncer-live-pgbouncer.ini",
                                           "run dev-postgres-live-postgresql.conf"]
    assert engine.psql("SHOW work_mem") == "8MB"
    assert engine.psql("SELECT pg_postmaster_start_time()") == started, "PostgreSQL reloaded, never restarted"
    assert pgbouncer_config(engine, "max_client_conn") == "300"
    assert load.results and load.failed == 0, f"{load.failed} of {len(load.results)} requests failed"
    assert kept(engine)


def test_a_setting_postgresql_rejects_is_never_loaded(deployed):
    """PostgreSQL docs (pg_file_settings): a file with an error is not applied; the delivery fails."""
    engine, replay, tmp = deployed
    res = engine.client.containers.get("dev-postgres").exec_run(
        ["sh", "-c", "printf 'work_mem = lots\\n' | tunestack-live postgresql.conf"])
    assert res.exit_code == 1 and b"rejects" in res.output and b"work_mem" in res.output
    assert engine.psql("SHOW work_mem") == "8MB"
    live = engine.read("dev-postgres", "/etc/tunestack/live/postgresql.conf")
    assert re.search(r"^work_mem = '?8MB'?\t", live, re.M) and "lots" not in live, "the previous file is back"


def test_restart_only_setting_restarts_gracefully_and_keeps_data(deployed):
    """Only PostgreSQL is replaced; PgBouncer is PAUSEd first and RESUMEd once the new server is
    healthy (PgBouncer manual: PAUSE waits for running queries, then holds new ones), so clients
    wait instead of failing; fast shutdown leaves no crash recovery."""
    engine, replay, tmp = deployed
    mark = len(replay.steps)
    load = apply_under_load(replay, program(tmp, work_mem, more_clients, wal_senders), "restart-only setting")
    steps = replay.steps[mark:]
    assert [s for s in steps if not s.startswith("run ") or "hold" in s] == [
        "run dev-pgbouncer-hold (delete)", "delete dev-postgres", "create dev-postgres", "run dev-pgbouncer-hold"], steps
    assert engine.psql("SHOW max_wal_senders") == "5"
    assert engine.psql("SHOW work_mem") == "8MB", "the new container starts with the live settings"
    new_logs = engine.client.containers.get("dev-postgres").logs().decode(errors="replace")
    assert "not properly shut down" not in new_logs and "automatic recovery" not in new_logs, new_logs[-1500:]
    assert load.results and load.failed == 0, f"{load.failed} of {len(load.results)} requests failed"
    assert kept(engine)
    assert app_ok()


def test_timeout_change_reaches_the_roles_without_a_restart(deployed):
    """The roles get the new timeouts live (roles.sql); the app's env carries them too, so its
    containers get a new generation, while PostgreSQL, PgBouncer and HAProxy stay as they are."""
    engine, replay, tmp = deployed
    servers = ("dev-postgres", "dev-pgbouncer", "dev-lb", "dev-redis-cache", "dev-redis-queue")
    before = {k: v for k, v in container_ids(engine).items() if k in servers}
    load = apply_under_load(replay, program(tmp, work_mem, more_clients, wal_senders, timeouts), "timeout change")
    assert {k: v for k, v in container_ids(engine).items() if k in servers} == before
    config = engine.psql("SELECT array_to_string(rolconfig, ',') FROM pg_roles WHERE rolname = 'app'")
    assert "statement_timeout=5s" in config and "lock_timeout=2s" in config
    assert load.results and load.failed == 0, f"{load.failed} of {len(load.results)} requests failed"
    assert kept(engine)


def test_an_app_version_replaces_the_replica_with_no_failed_request(deployed):
    engine, replay, tmp = deployed
    old_web = {c.name for c in engine.client.containers.list(filters={"label": ["tunestack.replica=dev-app-web-1", "tunestack.service=web"]})}
    new = program(tmp, work_mem, more_clients, wal_senders, timeouts, new_app_version)
    mark = len(replay.steps)
    load = apply_under_load(replay, new, "new app version")
    steps = replay.steps[mark:]
    new_web = next(plain(r.inputs)["name"] for r in new.of_type(CONTAINER) if r.name == "dev-app-web-1")
    (old_name,) = old_web
    assert steps.index(f"create {new_web}") < steps.index(f"delete {old_name}"), steps
    assert "create dev-lb" not in steps and "create dev-postgres" not in steps
    assert load.results and load.failed == 0, f"{load.failed} of {len(load.results)} requests failed"
    assert engine.client.containers.get(new_web).image.tags[0] in ("tunestack/refapp:0.2.0", "tunestack/refapp:0.1.0")
    assert kept(engine)


def test_a_rollout_step_never_replaces_the_load_balancer(deployed):
    engine, replay, tmp = deployed
    lb = engine.client.containers.get("dev-lb").id
    load = apply_under_load(replay, program(tmp, work_mem, more_clients, wal_senders, timeouts, new_app_version,
                                            canary_half), "rollout step to 50%")
    assert engine.client.containers.get("dev-lb").id == lb
    assert load.results and load.failed == 0, f"{load.failed} of {len(load.results)} requests failed"
    # dev has one replica: the canary runs beside it (issue #26, point 6), and both answer through
    # the same load balancer, half each.
    with Load(ENTRY, threads=2, limit_s=20, pause_s=0.01) as after:
        wait_until(lambda: {"canary", "stable"} <= {t for _, t in after.results}, 20, "both tracks answering")
    assert after.failed == 0


GENERATED_DB_PASSWORD = "mock-generated-dev-secrets-db"   # the app role's, as the mocks' RandomPassword made it


def app_login(engine, password: str) -> bool:
    """A new session as the app role through PgBouncer, with `password`."""
    res = engine.client.containers.get("dev-pgbouncer").exec_run(
        ["psql", "-h", "127.0.0.1", "-p", "6432", "-U", "app", "-d", "app", "-AtX", "-c", "SELECT 1"],
        environment={"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"})
    return res.exit_code == 0


def test_a_password_rotation_fails_no_request_and_restarts_no_server(deployed):
    """Issue #25, point 4: PostgreSQL and PgBouncer restarted with the new password while replicas
    still had the old one. Now: two `up`s (components/dbpassword.py), the servers switch live."""
    engine, replay, tmp = deployed
    rotated = ROTATED["tunestack:dbPassword"]
    servers = {n: i for n, i in container_ids(engine).items() if n in ("dev-postgres", "dev-pgbouncer")}
    changes = (work_mem, more_clients, wal_senders, timeouts, new_app_version, canary_half)
    first = apply_under_load(replay, program(tmp, *changes, extra={
        **ROTATED, "tunestack:dbPasswordPrevious": GENERATED_DB_PASSWORD}), "rotation 1/2: replicas learn both")
    assert app_login(engine, GENERATED_DB_PASSWORD) and not app_login(engine, rotated), "servers keep the old one"
    assert app_ok(), "the new replica logs in with the previous password"
    second = apply_under_load(replay, program(tmp, *changes, extra=ROTATED), "rotation 2/2: servers switch")
    for load in (first, second):
        assert load.results and load.failed == 0, f"{load.failed} of {len(load.results)} requests failed"
    assert {n: i for n, i in container_ids(engine).items() if n in servers} == servers, "no server restarted"
    assert app_login(engine, rotated) and not app_login(engine, GENERATED_DB_PASSWORD)
    assert engine.read("dev-postgres", "/etc/tunestack/live/secrets/app-password") == rotated
    assert app_ok(), "PostgreSQL, PgBouncer and the app agree on the new password"
    assert kept(engine)


def test_removing_a_restart_only_override_goes_back_to_the_default(deployed):
    """The live file never holds a start-only setting, so the restart that removing one needs
    starts PostgreSQL with its default (PostgreSQL docs: max_wal_senders defaults to 10)."""
    engine, replay, tmp = deployed
    def without_wal_senders(c): c["tunestack:postgres"]["overrides"] = {"work_mem": "8MB"}
    replay.update(program(tmp, without_wal_senders, more_clients, timeouts, new_app_version, canary_half,
                          extra=ROTATED))
    assert engine.psql("SHOW max_wal_senders") == "10"
    assert engine.psql("SHOW work_mem") == "8MB"
    assert kept(engine)


# A new app version is the user's own image, from their registry (the stack file refuses tunestack/*
# tags no recipe makes); `.test` is a name that resolves nowhere, and the engine has the image already.
NEW_APP = "registry.test/shop"


def app_image_with_migration(engine, tag: str, name: str, sql: str) -> str:
    """The reference app image plus one migration file: a new app version with a schema change."""
    return engine.derived_image("tunestack/refapp:0.1.0", f"{NEW_APP}:{tag}", {f"/app/refapp/migrations/{name}": sql})


def app_030(c): c["tunestack:images"].update(app=f"{NEW_APP}:0.3.0", canary_app=f"{NEW_APP}:0.3.0")
def app_040(c): c["tunestack:images"].update(app=f"{NEW_APP}:0.4.0", canary_app=f"{NEW_APP}:0.4.0")


def no_canary(c):
    c["tunestack:canaryWeight"] = 0


# dev runs its stable replica and, since the rollout step above, a canary beside it: a new version
# is the same image on both tracks, so both take it and its migrations run once, before either.
BEFORE_MIGRATIONS = (work_mem, more_clients, wal_senders, timeouts, new_app_version, canary_half)


def test_a_new_version_migrates_before_its_replicas_start(deployed):
    """Issue #25: nothing ran migrations. A version that adds a column: the program runs its
    migrations once, as migrator, before any replica of it starts; rows kept, 0 failed requests."""
    engine, replay, tmp = deployed
    app_image_with_migration(engine, "0.3.0", "002_hits_note.sql", "ALTER TABLE hits ADD COLUMN note text;\n")
    mark = len(replay.steps)
    load = apply_under_load(replay, program(tmp, *BEFORE_MIGRATIONS, app_030, extra=ROTATED), "a migration")
    steps = replay.steps[mark:]
    first_app = min(i for i, s in enumerate(steps) if s.startswith("create dev-app-"))
    assert steps.index("run dev-migrate-run") < first_app, steps
    assert steps.count("run dev-migrate-run") == 1
    assert engine.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'hits' "
                       "AND column_name = 'note'") == "1"
    assert engine.psql("SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations") == \
        "001_hits,002_hits_note"
    assert load.results and load.failed == 0, f"{load.failed} of {len(load.results)} requests failed"
    assert kept(engine)


def test_a_failed_migration_stops_before_any_replica_changes(deployed):
    from tests.docker.replay import CommandFailed

    engine, replay, tmp = deployed
    app_image_with_migration(engine, "0.4.0", "003_broken.sql", "ALTER TABLE no_such_table ADD COLUMN x int;\n")
    before = container_ids(engine)
    with pytest.raises(CommandFailed, match="migration 003_broken.sql failed"):
        replay.update(program(tmp, *BEFORE_MIGRATIONS, app_040, extra=ROTATED))
    assert container_ids(engine) == before, "no replica changed"
    assert engine.psql("SELECT count(*) FROM schema_migrations WHERE version = '003_broken'") == "0"
    assert app_ok() and kept(engine)


def test_an_up_that_would_undo_a_rollout_in_progress_is_refused(deployed):
    """Issue #25: a `pulumi up` from CI or another checkout, with the canary config as it was
    before, rolled a rollout's canaries back mid-gate. The rollout's marker sits on the load
    balancer's volume (`tunestack-lb rollout set`, as DockerEngine writes it); the guard reads it
    before any app replica changes and refuses the `up`."""
    from tests.docker.replay import CommandFailed

    engine, replay, tmp = deployed
    lb = engine.client.containers.get("dev-lb")
    assert lb.exec_run(["sh", "-c", "printf 'version=tunestack/refapp:0.9.0\\nweight=25\\n' | tunestack-lb rollout set"]
                       ).exit_code == 0
    try:
        before = container_ids(engine)
        # an `up` from a checkout whose canary config is another (no canary at all)
        stale = program(tmp, *BEFORE_MIGRATIONS, app_030, no_canary, extra=ROTATED)
        with pytest.raises(CommandFailed, match="a rollout of tunestack/refapp:0.9.0 is in progress"):
            replay.update(stale)
        assert container_ids(engine) == before, "no container changed"
        assert app_ok()
    finally:
        lb.exec_run(["tunestack-lb", "rollout", "clear"])


def major_16(c):
    c["tunestack:postgres"]["version"] = 16
    c["tunestack:images"]["postgres"] = "tunestack/postgres:16"


def test_a_major_change_is_refused_before_the_server_is_touched(deployed):
    """Issue #25: a changed postgres.version replaced the server with one that refuses the old data
    directory, and left the database down. The guard reads the volume's PG_VERSION first and fails
    the `up`: the running server, its rows and the app are as they were."""
    from tests.docker.replay import CommandFailed

    engine, replay, tmp = deployed
    # tunestack/postgres:16 is on the engine (built from the fetched server for the staging shape)
    before = container_ids(engine)["dev-postgres"]
    new = program(tmp, *BEFORE_MIGRATIONS, app_030, major_16, extra=ROTATED)
    with pytest.raises(CommandFailed, match="is PostgreSQL 15; the stack names 16"):
        replay.update(new)
    assert container_ids(engine)["dev-postgres"] == before, "the server was not replaced"
    assert engine.psql("SHOW server_version_num").startswith("15")
    assert kept(engine) and app_ok()


def test_a_one_replica_rollout_runs_its_canary_beside_stable(deployed):
    """Issue #26, point 6: dev has one app replica, and a canary used to replace it, so the "10 %"
    step sent the canary every request. The shipped Docker rollout engine now starts the canary in
    a container of its own beside stable: HAProxy's own log shows each step's share of requests,
    stable serves the rest, the promotion fails no request, and no canary container is left."""
    from tests.docker.replay import ReplayStack
    from tunestack.plan import build_plan
    from tunestack.rollout import (SYNTHETIC_HEADER, CanaryHostCheck, DockerEngine, LoadBalancerControl, Rollout,
                                   StateStore)

    engine, replay, tmp = deployed
    version = app_image_with_migration(engine, "0.5.0", "003_hits_tag.sql", "ALTER TABLE hits ADD COLUMN tag text;\n")
    # The stack as the module left it, with the canary at 50 % taken away: where a rollout starts.
    replay.update(program(tmp, *BEFORE_MIGRATIONS, app_030, no_canary, extra=ROTATED))
    assert not web_containers(engine, "canary"), "the canary left with its weight"
    path = tmp / "Pulumi.dev.yaml"
    plan = build_plan(stackfile.load(path, name="dev"), target="docker")
    host_gate = CanaryHostCheck(plan)
    host_gate.machine_of = dict.fromkeys(host_gate.machine_of, engine.url)   # this test's private engine
    lb = LoadBalancerControl("dev-lb", engine.url)
    rollout_engine = DockerEngine.for_stack(plan, ReplayStack(replay, path, "dev", extra=ROTATED), lb,
                                            verify_fn=host_gate, say=lambda m: print(m, flush=True))
    shares = []
    measure = rollout_engine.measure

    def measure_and_count(since):
        servers = re.findall(r" app/(\S+) ", lb.log_since(since))
        shares.append(sum(s.startswith("dev-app-web-canary") for s in servers) / max(1, len(servers)))
        return measure(since)
    rollout_engine.measure = measure_and_count
    rollout = Rollout(rollout_engine, StateStore(tmp / "rollout.json"), (0.05, 1000.0, 5),
                      say=lambda m: print(m, flush=True),
                      load=lambda: Load(ENTRY, threads=1, limit_s=60, rate=20, headers={SYNTHETIC_HEADER: "1"}))
    with Load(ENTRY, threads=3, limit_s=300, pause_s=0.02) as users:
        assert rollout.run(version, {}, [10, 25, 50, 100], 5) == 0
    print(f"canary share per step: {[round(100 * s, 1) for s in shares]}", flush=True)
    for share, step in zip(shares, (10, 25, 50)):
        assert abs(100 * share - step) <= 5, f"the {step} % step gave the canary {100 * share:.1f} %"
    assert shares[3] == 1.0
    assert users.results and users.failed == 0, f"{users.failed} of {len(users.results)} requests failed"
    assert {t for _, t in users.results} == {"stable", "canary"}
    assert not web_containers(engine, "canary"), "the canary's container left at the promotion"
    (stable,) = web_containers(engine, "stable")
    assert version in stable.image.tags
    assert kept(engine) and app_ok()


def web_containers(engine, track: str) -> list:
    return engine.client.containers.list(filters={"label": ["tunestack.service=web", f"tunestack.track={track}"]})


def test_a_restore_to_just_before_a_drop_returns_exactly_the_rows_committed_before_it(deployed):
    """Issue #27, point 5, on the real engine: dev archives through pgBackRest into a volume beside
    PostgreSQL, and its first `up` took a full backup. 1,000 rows, a differential backup, 500 more,
    the target, 200 more, DROP TABLE: the restore into a new volume, proven in a throwaway
    container of the same image, holds exactly the 1,500 rows committed before the target and the
    500 rows of `kept`; the running server is untouched (same start time, the table still gone)."""
    from tunestack.backup.docker import DockerBackups
    from tunestack.poll import wait_until

    engine, replay, tmp = deployed
    backups = DockerBackups("dev", engine.url)
    first = backups.backups()
    assert first and first[0].type == "full", "the first `up` took a full backup"
    started = engine.psql("SELECT pg_postmaster_start_time()")
    engine.psql("CREATE TABLE drill (v int); INSERT INTO drill SELECT generate_series(1, 1000)")
    assert backups.backup("diff").type == "diff"
    engine.psql("INSERT INTO drill SELECT generate_series(1001, 1500)")
    target = engine.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    engine.psql("INSERT INTO drill SELECT generate_series(1501, 1700)")
    engine.psql("DROP TABLE drill")
    # The WAL past the target reaches the repository (archive_timeout would close it within 60 s).
    segment = engine.psql("SELECT pg_walfile_name(pg_switch_wal())")
    assert wait_until(lambda: engine.psql("SELECT last_archived_wal FROM pg_stat_archiver") >= segment, 120,
                      "the segment with the DROP archived")
    volume = "dev-restore-drill"
    try:
        restored = backups.restore(target, volume)
        print(f"restore: {restored}", flush=True)
        assert restored["tables"]["public.drill"] == 1500, restored
        assert restored["tables"]["public.kept"] == 500, restored
    finally:
        for v in engine.client.volumes.list(filters={"name": volume}):
            v.remove(force=True)
    assert engine.psql("SELECT pg_postmaster_start_time()") == started, "the running server was not restarted"
    assert engine.psql("SELECT to_regclass('public.drill') IS NULL") == "t"
    assert kept(engine)


def test_cron_runs_the_backup_schedule_beside_postgresql(deployed):
    """One db host: backups run in the PostgreSQL container, so its cron runs the plan's schedule,
    from a root-owned file no service user can change."""
    engine, replay, tmp = deployed
    postgres = engine.client.containers.get("dev-postgres")
    assert postgres.exec_run(["pgrep", "-x", "cron"]).exit_code == 0
    assert postgres.exec_run(["stat", "-c", "%U %a", "/etc/cron.d/tunestack-backup"]).output.decode().split() \
        == ["root", "644"]


def test_a_restore_target_before_the_oldest_backup_is_refused_with_nothing_made(deployed):
    from tunestack.backup.docker import DockerBackups
    from tunestack.backup.target import TargetError

    engine, replay, tmp = deployed
    with pytest.raises(TargetError, match="before the oldest backup ended"):
        DockerBackups("dev", engine.url).restore("2020-01-01T00:00:00Z", "dev-restore-never")
    assert not engine.client.volumes.list(filters={"name": "dev-restore-never"})


def test_backup_and_restore_take_target_docker_from_the_command_line(deployed, tmp_path):
    """`tunestack backup|restore --stack dev --target docker`, as a user runs them (DOCKER_HOST names
    the engine of a host on this machine): the backup list as JSON; a restore target before the
    oldest backup, and --replace (local stacks only), refused with exit 2 and nothing made."""
    import os
    import subprocess
    import sys

    engine, replay, tmp = deployed
    env = {**os.environ, "DOCKER_HOST": engine.url}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tunestack", *args, "--stack", "dev", "--target", "docker"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    made = cli("backup", "--type", "incr", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["redis_queue_snapshot"].endswith(".rdb")   # the queue beside it
    listed = cli("backup", "--list", "--json")
    assert listed.returncode == 0, listed.stderr
    labels = [b["label"] for b in json.loads(listed.stdout)]
    assert json.loads(made.stdout)["label"] == labels[-1] and len(labels) >= 3   # the first, the drill's, this one
    early = cli("restore", "--to", "2020-01-01T00:00:00Z")
    assert early.returncode == 2 and "before the oldest backup ended" in early.stderr and "Traceback" not in early.stderr
    replace = cli("restore", "--to", "latest", "--replace", "--yes")
    assert replace.returncode == 2 and "nothing running is touched" in replace.stderr
    assert not [v for v in engine.client.volumes.list() if "restore" in v.name]
