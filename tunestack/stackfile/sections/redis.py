"""tunestack:redis: the cache (evicts any key) and the queue (never evicts), their memory and ports."""
from __future__ import annotations

from ...choices import CACHE_POLICIES, QUEUE_POLICY
from ...units import MIB
from ..checker import Checker
from ..schema import NS
from ..spec import DEFAULT_REDIS_PORTS, RedisInstanceSpec

KEY = f"{NS}:redis"
MIN_REDIS_MEMORY = 16 * MIB  # Redis itself needs a few MB; maxmemory is a share of this


def redis(ck: Checker) -> tuple[RedisInstanceSpec, RedisInstanceSpec]:
    c = ck.config[KEY]
    cache_policy = c["cache"].get("policy", "allkeys-lru")
    if cache_policy not in CACHE_POLICIES:
        ck.problem([KEY, "cache", "policy"], cache_policy, "allkeys-lru or allkeys-lfu",
                   "a cache evicts any key under memory pressure: use allkeys-lru")
    queue_policy = c["queue"].get("policy", QUEUE_POLICY)
    if queue_policy != QUEUE_POLICY:
        ck.problem([KEY, "queue", "policy"], queue_policy, "noeviction (Sidekiq: an evicting queue loses jobs silently)",
                   "set policy: noeviction or remove the key")
    memories = {}
    for role in ("cache", "queue"):
        memory = memories[role] = ck.size([KEY, role, "memory"], c[role]["memory"])
        if memory and memory < MIN_REDIS_MEMORY:
            ck.problem([KEY, role, "memory"], c[role]["memory"], "at least 16MiB per Redis instance",
                       "give the instance more memory, e.g. 128MiB")
        ck.note_given("redis", c[role], f"{role}.")
    policies = {"cache": cache_policy, "queue": queue_policy}
    cache, queue = (RedisInstanceSpec(role, memories[role], policies[role], c[role].get("port", DEFAULT_REDIS_PORTS[role]))
                    for role in ("cache", "queue"))
    return cache, queue
