"""Redis: CONFIG GET maxmemory, policy and persistence, per role."""
import pytest

from verify.helpers import redis_config

KEYS = ["maxmemory", "maxmemory-policy", "appendonly", "save", "timeout"]


@pytest.mark.parametrize("role", ["cache", "queue"])
@pytest.mark.parametrize("key", KEYS)
def test_config(host, plan, secrets_dir, record, role, key):
    settings = plan.redis[role]
    record(settings[key].text, redis_config(host, secrets_dir, role, settings["port"].value,
                                            f"redis-{role}" in plan.tls).get(key))


@pytest.mark.parametrize("role", ["queue"])
def test_queue_fsync(host, plan, secrets_dir, record, role):
    record("everysec", redis_config(host, secrets_dir, "queue", plan.redis["queue"]["port"].value,
                                    "redis-queue" in plan.tls).get("appendfsync"))
