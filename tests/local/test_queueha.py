"""The queue's replicas and Sentinels on the local stack (tunestack/local/sentinel.py, apply.py,
queuefiles.py), as pure policy: the order `up` starts them in, what a second `up` does to each, and
what the rendered and runtime files hold."""
import json

import pytest

from tunestack.local.apply import actions, services_in_order, start_groups
from tunestack.local.sentinel import sentinel_runtime_conf
from tunestack.plan import build_plan
from tunestack.render import render_plan

from ..plan.helpers import spec


@pytest.fixture(scope="module")
def plan():
    return build_plan(spec("local-ha"))


def test_the_replica_starts_beside_its_master_and_the_sentinels_before_the_apps(plan):
    groups = start_groups(plan)
    servers = next(g for g in groups if "redis-queue" in g)
    sentinels = groups[groups.index(servers) + 1]
    assert "redis-queue-1" in servers
    assert sentinels == ("sentinel-0", "sentinel-1", "sentinel-2")
    assert "web" in groups[groups.index(sentinels) + 1]   # the apps ask the Sentinels where the master is
    order = services_in_order(plan)
    assert order.index("redis-queue") < order.index("redis-queue-1") < order.index("sentinel-0") < order.index("web")


def test_a_second_up_sets_settings_live_and_restarts_the_replica_only_for_a_new_password(plan):
    doc = json.loads(json.dumps(plan.to_json(), default=str))
    same = actions(plan, doc, set())
    assert same["redis-queue-1"] == "config set"
    assert {same[f"sentinel-{i}"] for i in range(3)} == {"sentinel set"}
    new_password = actions(plan, doc, {"service-secrets/redis-queue.conf"})
    assert new_password["redis-queue-1"].startswith("restart")


def test_no_node_file_says_replicaof_so_a_restarted_node_never_follows_a_stale_master(plan):
    files = render_plan(plan)
    for name in ("redis-queue.conf", "redis-queue-1.conf"):
        assert not any(line.startswith(("replicaof", "slaveof")) for line in files[name].splitlines())
    assert "port 16781" in files["redis-queue-1.conf"].splitlines()
    assert "appendonly yes" in files["redis-queue-1.conf"].splitlines()   # the issue: AOF on both


def test_passwords_reach_only_the_sentinels_own_copies(plan):
    rendered = render_plan(plan)["sentinel-0.conf"]
    settings = [line for line in rendered.splitlines() if not line.startswith("#")]
    assert not [line for line in settings if line.startswith(("requirepass", "sentinel auth-pass"))]
    runtime = sentinel_runtime_conf(rendered, "local-ha-queue", {"redis-sentinel": "s3nt", "redis-queue": "q pw"})
    assert "requirepass s3nt" in runtime.splitlines()
    assert 'sentinel auth-pass local-ha-queue "q pw"' in runtime.splitlines()   # quoted for redis.conf
    assert runtime.index("sentinel monitor") < runtime.index("sentinel auth-pass")   # auth-pass names a known master
