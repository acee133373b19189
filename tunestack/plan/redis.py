"""Redis per role: the cache evicts and keeps nothing; the queue never evicts and keeps every job.
Pure."""
from __future__ import annotations

from ..stackfile.spec import RedisInstanceSpec
from ..units import format_bytes_human
from .setting import Setting, chosen, policy, seconds

CACHE_MAXMEMORY_SHARE = 0.75    # no persistence: leave room for fragmentation only
QUEUE_MAXMEMORY_SHARE = 0.5     # AOF rewrite forks copy-on-write: up to 2× in write-heavy cases
MAXMEMORY_SHARE = {"cache": CACHE_MAXMEMORY_SHARE, "queue": QUEUE_MAXMEMORY_SHARE}


def redis_settings(inst: RedisInstanceSpec, listen: str, listen_why: str, source_of) -> dict[str, Setting]:
    share = MAXMEMORY_SHARE[inst.role]
    settings = {
        "bind": policy(listen, listen_why),
        "port": chosen(inst.port, f"redis.{inst.role}.port", source_of,
                       "Redis' own port" if inst.role == "cache" else "Redis' own port + 1 (a second instance)"),
        # Bytes, never a percentage: redis config.c reads a bare number as bytes.
        "maxmemory": Setting(int(inst.memory_bytes * share),
                             f"{int(share * 100)}% of the {format_bytes_human(inst.memory_bytes)} set aside: "
                             + ("room for fragmentation" if inst.role == "cache"
                                else "AOF rewrite forks copy-on-write, up to 2×"), unit="bytes"),
        "maxmemory-policy": Setting(inst.policy, "cache: evict any key under pressure" if inst.role == "cache"
                                    else "queue: never drop a job (Sidekiq requires noeviction)"),
        "timeout": seconds(0, "pooled clients keep connections; never close them", "policy"),
        "tcp-keepalive": seconds(300_000, "detect dead peers (Redis default)", "policy"),
    }
    if inst.role == "cache":
        settings["appendonly"] = policy("no", "a cache is rebuilt, not restored")
        settings["save"] = policy("", "no snapshots for a cache")
    else:
        settings["appendonly"] = policy("yes", "jobs survive a restart")
        settings["appendfsync"] = policy("everysec", "lose at most about 1 s of jobs (Redis docs)")
        settings["save"] = policy("3600 1 300 100 60 10000", "RDB snapshots for backups (Redis defaults)")
    return settings
