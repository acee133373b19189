"""The queue Redis with replicas (redis.queue.replicas): every Sentinel names the same master, a
node of the plan; that master streams to every replica; each Sentinel has its quorum and refuses a
client without the password; every node runs the queue's settings (a replica that takes over must
keep jobs the same way). Skipped where the plan has no queue replicas."""
import json

import pytest

from tunestack.probes import redis_cli
from verify.helpers import redis_config


@pytest.fixture
def qha(plan):
    if not plan.queue_ha:
        pytest.skip("one queue Redis: redis.queue.replicas is 0")
    return plan.queue_ha


def sentinel(host, secrets_dir, member, *command: str) -> str:
    return redis_cli(host, secrets_dir, "sentinel", member.port, *command)


def master_of(host, secrets_dir, qha) -> set[tuple[str, int]]:
    name = qha["master name"].text
    answers = set()
    for member in qha["sentinels"].value:
        addr = sentinel(host, secrets_dir, member, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name).split()
        answers.add((addr[0], int(addr[1])) if len(addr) == 2 else ("none", 0))
    return answers


def test_every_sentinel_names_the_same_master_a_node_of_the_plan(host, qha, secrets_dir, record):
    answers = master_of(host, secrets_dir, qha)
    nodes = {(n.address, n.port) for n in qha["nodes"].value}
    record(f"one master among {sorted(nodes)}", sorted(answers), len(answers) == 1 and answers <= nodes)


def test_the_master_streams_to_every_replica(host, plan, qha, secrets_dir, record):
    (address, port), = master_of(host, secrets_dir, qha)
    info = redis_cli(host, secrets_dir, "queue", port, "INFO", "replication")
    online = sum(1 for line in info.splitlines() if line.startswith("slave") and "state=online" in line)
    record(f"role:master with {plan.spec.queue_ha.replicas} replica(s) online",
           f"{'role:master' if 'role:master' in info else 'not a master'}, {online} online",
           "role:master" in info and online == plan.spec.queue_ha.replicas)


def test_each_sentinel_has_its_quorum(host, qha, secrets_dir, record):
    name = qha["master name"].text
    answers = [sentinel(host, secrets_dir, m, "SENTINEL", "CKQUORUM", name).strip() for m in qha["sentinels"].value]
    record(f"OK from all {len(answers)}", answers, all(a.startswith("OK") for a in answers))


def test_a_sentinel_refuses_a_client_without_its_password(host, qha, record):
    member = qha["sentinels"].value[0]
    answer = host.run(f"redis-cli --no-auth-warning -h 127.0.0.1 -p {member.port} PING")
    record("NOAUTH", (answer.stdout + answer.stderr).strip(), "NOAUTH" in answer.stdout + answer.stderr)


@pytest.mark.parametrize("key", ["maxmemory", "maxmemory-policy", "appendonly", "appendfsync"])
def test_every_queue_node_runs_the_queues_settings(host, plan, qha, secrets_dir, record, key):
    seen = {n.name: redis_config(host, secrets_dir, "queue", n.port).get(key) for n in qha["nodes"].value}
    record(plan.redis["queue"][key].text, json.dumps(seen), set(seen.values()) == {plan.redis["queue"][key].text})
