"""redis.queue.replicas and sentinel_port: the queue Redis with replicas, failed over by three
Sentinels. Refused here: replicas of the cache (a cache is rebuilt, never failed over), Sentinel's
port without replicas, jobs that do not use the queue instance, a replica on the master's machine
on a stack of several machines, and fewer than three machines for the three Sentinels."""
from __future__ import annotations

from ..checker import Checker
from ..schema import NS
from ..spec import SENTINELS, HostSpec, QueueHaSpec
from .ha import machines

KEY = f"{NS}:redis"


def queue_ha(ck: Checker, hosts: tuple[HostSpec, ...], jobs_redis: str) -> QueueHaSpec:
    c = ck.config[KEY]
    if "replicas" in c["cache"] or "sentinel_port" in c["cache"]:
        key = "replicas" if "replicas" in c["cache"] else "sentinel_port"
        ck.problem([KEY, "cache", key], c["cache"][key], "no such key for the cache: a cache is rebuilt from the "
                   "database, never failed over", f"remove redis.cache.{key}; replicas belong to redis.queue")
    queue = c["queue"]
    replicas = queue.get("replicas", 0)
    if not replicas:
        if "sentinel_port" in queue:
            ck.problem([KEY, "queue", "sentinel_port"], queue["sentinel_port"], "only with redis.queue.replicas of 1 "
                       "or more: one instance has nothing to fail over to", "set redis.queue.replicas: 1, or remove "
                       "sentinel_port")
        return QueueHaSpec()
    if jobs_redis != "queue":
        ck.problem([f"{NS}:app", "jobs", "redis"], jobs_redis, "queue, with redis.queue.replicas: the replicas keep the "
                   "queue instance's jobs, not the cache's", "set app.jobs.redis: queue, or remove redis.queue.replicas")
    if machines(hosts) > 1:
        _placement(ck, hosts, replicas)
    return QueueHaSpec(replicas=replicas, sentinel_port=queue.get("sentinel_port", QueueHaSpec.sentinel_port))


def _placement(ck: Checker, hosts: tuple[HostSpec, ...], replicas: int) -> None:
    """One machine per queue node (the cache host's machines), and three machines for Sentinel."""
    cache = next(h for h in hosts if "cache" in h.roles)
    if cache.count < replicas + 1:
        ck.problem([f"{NS}:hosts", hosts.index(cache), "count"], cache.count,
                   f"{replicas + 1}: one machine per queue Redis (redis.queue.replicas: {replicas} + the master); a "
                   "replica on the master's machine is lost with it", f"set count: {replicas + 1} on host {cache.name}, "
                   "with one address per machine")
    if machines(hosts) < SENTINELS:
        ck.problem([KEY, "queue", "replicas"], replicas, f"a stack of at least {SENTINELS} machines: Sentinel needs a "
                   f"majority of {SENTINELS} Sentinels on distinct machines to agree on a failover (Redis Sentinel "
                   "docs, 'Example 1: just two Sentinels, DON'T DO THIS')", "add a host, or remove redis.queue.replicas")
