"""Day-2 changes on the dev stack's real containers (issue #11): what `pulumi up` would replace is
replaced the way the provider does it (graceful stop within the declared timeout, then a new
container), with rows and queue keys counted before and after."""
import json
import urllib.request

import pytest
import yaml

from components.mockrun import run_program
from tests.docker.replay import CONTAINER, Replay, plain
from tunestack import stackfile
from tunestack.poll import wait_until

pytestmark = pytest.mark.docker


def program(tmp_path, change=None, extra=None):
    doc = yaml.safe_load(stackfile.stack_path("dev").read_text())
    if change:
        change(doc["config"])
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    return run_program("dev", stack_file=path, extra_config=extra)


def changed(old, new):
    before = {r.name: plain(r.inputs) for r in old.of_type(CONTAINER)}
    return [r for r in new.of_type(CONTAINER) if before.get(r.name) != plain(r.inputs)]


def app_ok(port=8080):
    def get():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            return r.status == 200 and "hits" in json.loads(r.read())
    return wait_until(get, 90, "the app through HAProxy")


@pytest.fixture(scope="module")
def deployed(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("day2")
    run = program(tmp)
    replay = Replay(engine.client, run, say=lambda m: print(m, flush=True))
    replay.apply()
    engine.migrate(replay.images["dev-app-web-1-image"])
    engine.psql("CREATE TABLE kept (v int); INSERT INTO kept SELECT generate_series(1, 500)")
    state = {"run": run, "tmp": tmp}
    yield engine, replay, state
    for c in engine.client.containers.list(all=True):
        c.remove(force=True)


def queue_len(engine):
    pw = engine.read("dev-redis-queue", "/etc/tunestack/secrets/redis-queue.conf").split()[-1]
    res = engine.client.containers.get("dev-redis-queue").exec_run(
        ["redis-cli", "--no-auth-warning", "-p", "6380", "LLEN", "kept-jobs"], environment={"REDISCLI_AUTH": pw})
    return int(res.output.decode().strip())


def test_restart_only_setting_restarts_gracefully_and_keeps_data(deployed):
    engine, replay, state = deployed
    pw = engine.read("dev-redis-queue", "/etc/tunestack/secrets/redis-queue.conf").split()[-1]
    engine.client.containers.get("dev-redis-queue").exec_run(
        ["sh", "-c", "for i in $(seq 1 1000); do echo RPUSH kept-jobs $i; done | redis-cli --no-auth-warning -p 6380"],
        environment={"REDISCLI_AUTH": pw})
    assert queue_len(engine) == 1000
    new = program(state["tmp"], lambda c: c["tunestack:postgres"].__setitem__("overrides", {"max_wal_senders": 5}))
    to_replace = changed(state["run"], new)
    assert [r.name for r in to_replace] == ["dev-postgres"], "only PostgreSQL's container changes"
    old_logs = []
    replay.run = new
    for r in to_replace:
        old_logs.append(engine.client.containers.get(r.name).logs().decode(errors="replace"))
        replay.replace(r)
    state["run"] = new
    assert engine.psql("SHOW max_wal_senders") == "5"
    assert engine.psql("SELECT count(*) FROM kept") == "500"
    assert queue_len(engine) == 1000
    new_logs = engine.client.containers.get("dev-postgres").logs().decode(errors="replace")
    assert "not properly shut down" not in new_logs and "automatic recovery" not in new_logs, new_logs[-1500:]
    assert app_ok()


def test_timeout_change_reaches_the_roles(deployed):
    engine, replay, state = deployed
    new = program(state["tmp"], lambda c: (c["tunestack:postgres"].update(statement_timeout="5s", lock_timeout="2s"),
                                           c["tunestack:postgres"].__setitem__("overrides", {"max_wal_senders": 5})))
    replay.run = new
    for r in changed(state["run"], new):
        replay.replace(r)
    state["run"] = new
    config = engine.psql("SELECT array_to_string(rolconfig, ',') FROM pg_roles WHERE rolname = 'app'")
    assert "statement_timeout=5s" in config and "lock_timeout=2s" in config
    assert engine.psql("SELECT count(*) FROM kept") == "500"


def test_password_rotation_works_end_to_end(deployed):
    engine, replay, state = deployed
    rotated = "rotated-" + "x" * 24
    new = program(state["tmp"], lambda c: (c["tunestack:postgres"].update(statement_timeout="5s", lock_timeout="2s"),
                                           c["tunestack:postgres"].__setitem__("overrides", {"max_wal_senders": 5})),
                  extra={"tunestack:dbPassword": rotated})
    replay.run = new
    names = [r.name for r in changed(state["run"], new)]
    assert "dev-postgres" in names and "dev-pgbouncer" in names and "dev-app-web-1" in names
    for r in changed(state["run"], new):
        replay.replace(r)
    state["run"] = new
    assert engine.read("dev-postgres", "/etc/tunestack/secrets/app-password") == rotated
    assert app_ok(), "PostgreSQL, PgBouncer and the app agree on the new password"
    assert engine.psql("SELECT count(*) FROM kept") == "500"
