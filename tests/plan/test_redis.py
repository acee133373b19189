"""Redis stage: a cache that evicts and keeps nothing, a queue that never evicts and keeps every job."""
import pytest

from tunestack.plan import build_plan
from tunestack.plan.redis import redis_settings
from tunestack.stackfile.spec import RedisInstanceSpec

from .helpers import GIB, MIB, spec


def default_source(_key):
    return "default"


@pytest.mark.parametrize("role,memory,policy,maxmemory,appendonly,save", [
    # Redis docs (eviction): a cache evicts under allkeys-*; no persistence, 75% leaves room for fragmentation.
    ("cache", 1 * GIB, "allkeys-lru", 768 * MIB, "no", ""),
    ("cache", 16 * GIB, "allkeys-lfu", 12 * GIB, "no", ""),
    # Sidekiq wiki (Using Redis): noeviction and AOF; 50% because an AOF rewrite fork can double memory.
    ("queue", 256 * MIB, "noeviction", 128 * MIB, "yes", "3600 1 300 100 60 10000"),
])
def test_role_settings(role, memory, policy, maxmemory, appendonly, save):
    s = redis_settings(RedisInstanceSpec(role, memory, policy, 6379), "127.0.0.1", "", default_source)
    assert (s["maxmemory"].value, s["maxmemory-policy"].value, s["appendonly"].value, s["save"].text) == \
        (maxmemory, policy, appendonly, save)
    assert s["maxmemory"].text == str(maxmemory)   # bytes, never a percentage (redis config.c)


def test_queue_fsyncs_every_second():
    # Redis docs (persistence): appendfsync everysec loses at most about one second of writes.
    s = redis_settings(RedisInstanceSpec("queue", GIB, "noeviction", 6380), "127.0.0.1", "", default_source)
    assert s["appendfsync"].value == "everysec"


def test_redis_roles():
    # Sidekiq wiki / runtime-rules §1.6, §4.4: queue noeviction + AOF everysec; cache evicts, no persistence.
    plan = build_plan(spec("prod"))
    q, c = plan.redis["queue"], plan.redis["cache"]
    assert (q["maxmemory-policy"].value, q["appendonly"].value, q["appendfsync"].value) == ("noeviction", "yes", "everysec")
    assert (c["maxmemory-policy"].value, c["appendonly"].value, c["save"].value) == ("allkeys-lfu", "no", "")
    # maxmemory in bytes, never a percentage (redis config.c), with headroom under the allotment.
    assert q["maxmemory"].value == 4 * GIB and c["maxmemory"].value == 12 * GIB
