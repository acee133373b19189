"""Bad input in redis.queue.replicas and sentinel_port (issue #28): replicas of the cache, Sentinel
without replicas, jobs kept on the cache, a replica on the master's machine, too few machines for
three Sentinels, a replica's or Sentinel's port already taken, no room for the replicas. Each case
is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import copy

import pytest
import yaml

from .badinput import BASE, check, staging_with

REDIS = "tunestack:redis"


def local_with(cache=None, app_jobs=None, memory=None, **queue):
    doc = copy.deepcopy(BASE)
    doc["config"][REDIS]["queue"].update(queue)
    doc["config"][REDIS]["cache"].update(cache or {})
    if app_jobs:
        doc["config"]["tunestack:app"]["jobs"].update(app_jobs)
    if memory:
        doc["config"]["tunestack:hosts"][0]["memory"] = memory
    return yaml.safe_dump(doc)


def staging_queue(cache_count=1, **queue):
    def change(c):
        c[REDIS]["queue"].update(queue)
        cache = next(h for h in c["tunestack:hosts"] if "cache" in h["roles"])
        cache["count"], cache["addresses"] = cache_count, [f"10.20.9.{10 + i}" for i in range(cache_count)]
    return staging_with(change)


def two_machines(c):
    c[REDIS]["queue"]["replicas"] = 1
    c["tunestack:hosts"] = [{"name": "all", "roles": ["db", "cache", "app"], "count": 2, "instance_type": "m6i.2xlarge",
                             "addresses": ["10.20.1.10", "10.20.1.11"]}]


def port_of(role):
    return BASE["config"][REDIS][role]["port"]


CASES = [
    ("cache-replicas", local_with(cache={"replicas": 1}), ["redis → cache → replicas", "a cache is rebuilt"]),
    ("sentinel-port-without-replicas", local_with(sentinel_port=26390), ["queue → sentinel_port",
                                                                        "only with redis.queue.replicas"]),
    ("jobs-on-the-cache", local_with(replicas=1, app_jobs={"redis": "cache"}), ["jobs → redis", "queue, with"]),
    # Redis Sentinel docs: a replica on the master's machine is lost with it.
    ("replica-on-the-masters-machine", staging_queue(cache_count=1, replicas=1),
     ["→ count", "one machine per queue Redis"]),
    # Redis Sentinel docs, "Example 1: just two Sentinels, DON'T DO THIS".
    ("two-machines-for-sentinel", staging_with(two_machines), ["queue → replicas", "at least 3 machines"]),
    ("three-replicas", local_with(replicas=3), ["queue → replicas"]),
    # The replica of a one-machine stack listens on redis.queue.port + 1.
    ("replica-port-taken", local_with(replicas=1, port=port_of("cache") - 1), ["a port not already taken"]),
    ("sentinel-port-taken", local_with(replicas=1, sentinel_port=port_of("cache") - 2), ["sentinel_port",
                                                                                        "a port not already taken"]),
    ("no-room-for-the-replicas", local_with(replicas=2, memory="1GiB"), ["memory"]),
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)


def test_a_cache_host_with_one_machine_per_queue_node_plans(tmp_path, capsys):
    from tunestack.cli import main

    path = tmp_path / "Pulumi.q.yaml"
    path.write_text(staging_queue(cache_count=2, replicas=1))
    assert main(["plan", "--stack-file", str(path)]) == 0, capsys.readouterr().err
