"""The Go, Node and Rails reference app images on the real engine (issue #25, point 7: migrations with
each reference app). For each: the dev stack with that framework and image, deployed by the
program through the replay: its migrations run once as migrator before any replica, the app answers
through HAProxy from the migrated table; then a new version that adds a column migrates before its
replica starts, with requests counted during the change. The Python image's own run of this is
tests/docker/test_dev_day2.py."""
import json
from collections import Counter
import urllib.request

import pytest
import yaml

from components.mockrun import run_program
from tests.docker.replay import Replay
from tunestack import images, stackfile
from tunestack.loadgen import Load
from tunestack.recipes import APP_IMAGES, RECIPES
from tunestack.poll import wait_until

pytestmark = pytest.mark.docker
ENTRY = "http://127.0.0.1:8080/"
NEW_VERSION = "registry.test/shop-{framework}:0.2.0"   # the team's own next version (see test_dev_day2)


def stack_file(tmp, framework: str, app_image: str):
    doc = yaml.safe_load(stackfile.stack_path("dev").read_text())
    doc["config"]["tunestack:app"]["framework"] = framework
    doc["config"]["tunestack:images"].update(app=app_image, canary_app=app_image)
    path = tmp / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def answers():
    def get():
        with urllib.request.urlopen(ENTRY, timeout=5) as r:
            return r.status == 200 and "hits" in json.loads(r.read())
    return wait_until(get, 90, "the app through HAProxy")


@pytest.fixture(scope="module", params=["go", "node", "rails"])
def deployed(request, engine, tmp_path_factory):
    framework, image = request.param, APP_IMAGES[request.param]
    images.build(engine.client, say=lambda m: print(m, flush=True), recipes=[r for r in RECIPES if r.tag == image])
    tmp = tmp_path_factory.mktemp(framework)
    replay = Replay(run_program("dev", stack_file=stack_file(tmp, framework, image)), engine.connect,
                    say=lambda m: print(m, flush=True))
    try:
        replay.apply()
        yield framework, engine, replay, tmp
    finally:
        for c in engine.client.containers.list(all=True):
            c.remove(force=True)
        for v in engine.client.volumes.list():   # the next stack deploys from nothing
            v.remove(force=True)


def test_the_image_migrates_before_its_replicas_and_serves_from_the_migrated_table(deployed):
    framework, engine, replay, _ = deployed
    migrate = replay.steps.index("run dev-migrate-run")
    first_app = min(i for i, s in enumerate(replay.steps) if s.startswith("create dev-app-"))
    assert migrate < first_app, replay.steps
    assert engine.psql("SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations") == "001_hits"
    assert answers(), f"the {framework} app answers through HAProxy"
    assert int(wait_until(lambda: engine.psql("SELECT count(*) FROM hits") != "0" and engine.psql(
        "SELECT count(*) FROM hits"), 60, "a job writing its row")) > 0, "its job process wrote rows"


def test_a_version_that_adds_a_column_migrates_before_its_replica_with_no_failed_request(deployed):
    framework, engine, replay, tmp = deployed
    new = engine.derived_image(APP_IMAGES[framework], NEW_VERSION.format(framework=framework),
                               {"/app/migrations/002_hits_note.sql": "ALTER TABLE hits ADD COLUMN note text;\n"})
    mark = len(replay.steps)
    with Load(ENTRY, threads=3, limit_s=300, pause_s=0.02) as load:
        replay.update(run_program("dev", stack_file=stack_file(tmp, framework, new)))
    steps = replay.steps[mark:]
    print(f"{framework}: {len(load.results)} requests during the new version, {load.failed} failed", flush=True)
    created = [i for i, s in enumerate(steps) if s.startswith("create dev-app-web-")]
    assert created and steps.index("run dev-migrate-run") < created[0], steps
    assert engine.psql("SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations") == \
        "001_hits,002_hits_note"
    assert engine.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'hits' "
                       "AND column_name = 'note'") == "1"
    assert load.results and load.failed == 0, (
        f"{load.failed} of {len(load.results)} requests failed: {failed_statuses(load)}; "
        f"HAProxy logged: {unanswered(engine)}")


def failed_statuses(load) -> dict:
    """How the failed requests ended (0: the connection itself failed)."""
    return dict(Counter(status for status, _ in load.results if status != 200))


def unanswered(engine) -> list[str]:
    """HAProxy's log lines of requests it did not answer 200 (their termination state says which side
    ended them: HAProxy docs, "Session state at disconnection")."""
    lines = engine.client.containers.get("dev-lb").logs(tail=20000).decode(errors="replace").splitlines()
    return [line for line in lines if " HTTP/1.1\"" in line and '" 200 ' not in line and " 200 " not in line][-10:]
