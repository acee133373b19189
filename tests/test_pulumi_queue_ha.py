"""The Pulumi program for a stack whose queue has a replica under three Sentinels (issue #28),
under Pulumi's mocks: a node per cache machine, Sentinels on three machines, TLS on every link
that crosses one, the passwords only in secret files, and the order a first deploy needs.
tests/multihost/test_ha_bed.py replays the same program on the bed and kills the queue's master."""
from __future__ import annotations

import json

import pytest
import yaml

from components.mockrun import SECRET_SIG, run_program
from tests.docker.replay import plain
from tests.test_pulumi_program import _walk_plain
from tunestack import stackfile

pytestmark = pytest.mark.pulumi
CONTAINER = "docker:index/container:Container"
CACHE = ["10.20.1.20", "10.20.1.21"]


def queue_ha_document(framework: str = "python") -> dict:
    doc = yaml.safe_load(stackfile.stack_path("staging").read_text())
    cache = next(h for h in doc["config"]["tunestack:hosts"] if "cache" in h["roles"])
    cache.update(count=2, addresses=CACHE)
    doc["config"]["tunestack:redis"]["queue"]["replicas"] = 1
    doc["config"]["tunestack:app"]["framework"] = framework
    return doc


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("qha") / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(queue_ha_document()))
    return run_program("staging", stack_file=path)


def containers(run) -> dict[str, object]:
    return {plain(c.inputs)["name"]: c for c in run.of_type(CONTAINER)}


def where(run, resource) -> str:
    return plain(run.by_name(resource.provider_name).inputs)["host"]


def uploads(container) -> dict[str, str]:
    return {u["file"]: u["content"] for u in container.inputs["uploads"]}


def test_a_queue_node_per_cache_machine_and_sentinels_on_three_machines(run):
    c = containers(run)
    assert where(run, c["staging-queue-0"]) == f"ssh://deploy@{CACHE[0]}"
    assert where(run, c["staging-queue-1"]) == f"ssh://deploy@{CACHE[1]}"
    assert "staging-redis-queue" not in c, "no single queue beside the nodes"
    sentinels = [n for n in c if n.startswith("staging-sentinel-")]
    assert len(sentinels) == 3 and len({where(run, c[s]) for s in sentinels}) == 3


def test_the_replica_is_attached_before_any_sentinel_starts_and_the_apps_wait_for_the_sentinels(run):
    c = containers(run)
    attach = run.by_name("staging-queue-1-attach")
    assert c["staging-queue-0"].urn in run.waits_for(attach) and c["staging-queue-1"].urn in run.waits_for(attach)
    for s in (n for n in c if n.startswith("staging-sentinel-")):
        assert attach.urn in run.waits_for(c[s])
    web = next(n for n in c if "-web-" in n)
    assert any(c[s].urn in run.waits_for(c[web]) for s in c if s.startswith("staging-sentinel-"))


def test_nodes_and_sentinels_serve_tls_and_replicate_over_it(run):
    c = containers(run)
    for name in ("staging-queue-0", "staging-queue-1"):
        files = uploads(c[name])
        conf = next(v for k, v in files.items() if k.startswith("/etc/tunestack/redis-queue"))
        assert "\nport 0\n" in conf and "\ntls-replication yes\n" in conf
        assert SECRET_SIG in files["/etc/tunestack/secrets/tls.key"]
    for name in (n for n in c if n.startswith("staging-sentinel-")):
        conf = plain(c[name].inputs)["uploads"]
        text = next(u["content"] for u in conf if u["file"] == "/etc/tunestack/sentinel.conf")
        assert "\nport 0\n" in text and "\ntls-replication yes\n" in text and "sentinel announce-ip 10." in text


def test_the_apps_reach_the_queue_through_the_sentinels_over_tls(run):
    c = containers(run)
    web = next(c[n] for n in c if "-web-" in n)
    env = dict(e.split("=", 1) for e in plain(web.inputs)["envs"])
    assert env["REDIS_URL"] == "rediss://staging-queue/0"
    assert env["REDIS_SENTINELS"].count(":26379") == 3
    assert env["REDIS_SENTINEL_PASSWORD_FILE"] in uploads(web)
    assert SECRET_SIG in uploads(web)[env["REDIS_SENTINEL_PASSWORD_FILE"]]


def test_the_sentinel_and_queue_passwords_stay_secret(run):
    secrets = ["mock-generated-staging-secrets-redis-sentinel", "mock-generated-staging-secrets-redis"]
    for r in run.registrations:
        _walk_plain(r.inputs, secrets, r.name)
    assert not any(s in json.dumps(run.outputs) for s in secrets)


@pytest.mark.parametrize("framework", ["go", "node", "rails"])
def test_frameworks_whose_sentinel_client_lacks_tls_are_refused_on_containers(tmp_path, framework):
    from tunestack.errors import StackError
    from tunestack.plan import build_plan
    from tunestack.stackfile import load_document

    spec = load_document(queue_ha_document(framework), str(tmp_path / "Pulumi.staging.yaml"), "staging")
    with pytest.raises(StackError) as err:
        build_plan(spec, target="docker")
    assert "redis → queue → replicas" in str(err.value) and framework in str(err.value)
