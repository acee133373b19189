"""Prometheus alert rules whose thresholds come from the plan, on the metric names real exporters
export. Pure.

- PgBouncer: spreaker/prometheus-pgbouncer-exporter 2.1.2 (PyPI; its collector.py: SHOW POOLS
  cl_waiting → pgbouncer_pools_client_waiting_connections, maxwait →
  pgbouncer_pools_client_maxwait_seconds, and pgbouncer_up), the names prometheus-community's
  exporter uses too. Debian's prometheus-pgbouncer-exporter 1.7 is not used: it reads SHOW STATS'
  total_requests, which PgBouncer 1.8 dropped, and fails at start on PgBouncer 1.18.
- Redis: oliver006/redis_exporter (redis_memory_used_bytes, redis_evicted_keys_total,
  redis_rejected_connections_total, redis_errors_total{err}, redis_aof_last_write_status). It
  labels series by scrape target only, so the scrape config adds role="cache" / role="queue".
- The app's own metrics (every reference app, on METRICS_PATH at the app port):
  tunestack_http_request_duration_seconds (a histogram: the guides' p95 < 200 ms), the DB pool's
  tunestack_db_pool_in_use_connections / tunestack_db_pool_max_connections (the guides' pool < 80 %),
  tunestack_cache_reads_total{result} (the cache hit rate as the app sees it) and
  tunestack_job_queue_depth (the guides' queue depth). tests/test_local_go_node.py,
  test_local_stack_e2e.py and test_local_rails.py read these names off the running apps.
- The load balancer: HAProxy's built-in exporter (HAProxy docs, "prometheus-exporter" service:
  haproxy_backend_http_responses_total, haproxy_backend_response_time_average_seconds), which the
  rendered haproxy.cfg serves. The error rate comes from it for every framework: it also counts the
  502/503/504 HAProxy answers itself when no app process does.
"""
from __future__ import annotations

import math

from ..stackfile.spec import StackSpec

SHARE_NEAR_LIMIT = 0.8
CACHE_HIT_RATE_MIN = 0.8      # policy: below it the cache costs more round trips than it saves
METRICS_PATH = "/_tunestack/metrics"
JOBS_KEY = "jobs"              # the reference apps' job list in the queue Redis
# Every reference app serves the tunestack_* metrics (the Rails app keeps its Puma workers' counts
# in the queue Redis); a team's own app is expected to serve the same names.


def alert_rules(spec: StackSpec, query_wait_ms: int, max_client: int, queue_max: int, cache_max: int,
                fleet: int, web_pool: int) -> list[dict]:
    g = spec.rollout.gates
    machines = sum(h.count for h in spec.app_hosts())
    depth = max(100, 10 * spec.app.jobs.concurrency * max(1, spec.app.jobs.processes) * machines)
    waited = max(1, query_wait_ms // 2000)
    app = 'proxy="app"'
    return [
        {"alert": "PgBouncerDown", "expr": "pgbouncer_up == 0", "for": "1m", "severity": "critical",
         "summary": "the exporter cannot read PgBouncer's admin console: PgBouncer is down or refuses logins, and "
                    "every client of the database with it"},
        {"alert": "PgBouncerClientsWaiting",
         "expr": f"max(pgbouncer_pools_client_maxwait_seconds) >= {waited}",
         "for": "1m", "severity": "warning",
         "summary": f"a client waited {waited}s or more for a server connection: half of query_wait_timeout "
                    f"({query_wait_ms // 1000}s), after which PgBouncer refuses it (a busy pool alone is normal "
                    "in transaction mode; waiting clients are the signal)"},
        {"alert": "PgBouncerClientsNearLimit",
         "expr": "sum(pgbouncer_pools_client_active_connections) + sum(pgbouncer_pools_client_waiting_connections) > "
                 f"{math.floor(max_client * SHARE_NEAR_LIMIT)}",
         "for": "5m", "severity": "warning",
         "summary": f"client connections above 80% of max_client_conn {max_client} (the fleet plans {fleet}); "
                    "past it PgBouncer refuses logins"},
        app_latency(g.max_p95_ms),
        {"alert": "AppErrorRateHigh",
         "expr": f'sum(rate(haproxy_backend_http_responses_total{{{app},code="5xx"}}[5m])) / '
                 f"sum(rate(haproxy_backend_http_responses_total{{{app}}}[5m])) > {g.max_error_rate:g}",
         "for": "5m", "severity": "critical", "summary": f"5xx rate above {g.max_error_rate:.2%} (the rollout gate)"},
        {"alert": "RedisQueueMemoryHigh",
         "expr": f'redis_memory_used_bytes{{role="queue"}} > {int(queue_max * SHARE_NEAR_LIMIT)}',
         "for": "5m", "severity": "critical",
         "summary": "queue Redis above 80% of maxmemory: at 100% noeviction refuses new jobs"},
        cache_hit_rate(cache_max),
        *redis_alerts(),
        {"alert": "JobQueueBacklog", "for": "10m", "severity": "warning",
         "expr": f"max(tunestack_job_queue_depth) > {depth}",
         "summary": f"more than {depth} queued jobs: 10 per job thread in the fleet"},
        pool_near_full(spec.app.framework, spec.app.threads, web_pool),
    ]


def redis_alerts() -> list[dict]:
    """Both Redis: what loses work or refuses clients. The queue never evicts (noeviction), so a full
    queue shows as writes refused with OOM (INFO errorstats, Redis 6.2 on); a full cache evicts by
    design, which matters only when it does so without pause."""
    return [
        # redis_exporter answers its scrape whether or not it reaches the Redis: `up` stays 1 and only
        # redis_up says the Redis (or a Sentinel: role="sentinel") is gone
        {"alert": "RedisDown", "for": "1m", "severity": "critical", "expr": "redis_up == 0",
         "summary": "the exporter cannot reach or log in to this Redis: its clients fail (the cache's read "
                    "PostgreSQL instead, the queue's cannot queue jobs)"},
        {"alert": "RedisQueueWritesRefused", "for": "0m", "severity": "critical",
         "expr": 'sum(increase(redis_errors_total{role="queue",err="OOM"}[5m])) > 0',
         "summary": "the queue Redis refused writes at maxmemory (noeviction): jobs were not queued; its "
                    "workers are behind or stopped"},
        {"alert": "RedisCacheEvicting", "for": "15m", "severity": "info",
         "expr": 'sum(rate(redis_evicted_keys_total{role="cache"}[5m])) > 0',
         "summary": "the cache has evicted keys without pause for 15 minutes: it is full, and what it evicts "
                    "must be read from PostgreSQL again (see CacheHitRateLow)"},
        {"alert": "RedisRejectingConnections", "for": "0m", "severity": "critical",
         "expr": "sum by (role) (increase(redis_rejected_connections_total[5m])) > 0",
         "summary": "a Redis refused connections at maxclients: its clients fail until connections close"},
        {"alert": "RedisAofWriteFailing", "for": "1m", "severity": "critical",
         "expr": "min by (role, instance) (redis_aof_last_write_status) == 0 or "
                 "min by (role, instance) (redis_aof_last_bgrewrite_status) == 0",
         "summary": "a Redis cannot write or rewrite its append-only file (a full or read-only disk): what it "
                    "accepts now is lost at its next restart"},
    ]


def app_latency(p95_ms: float) -> dict:
    return {"alert": "AppLatencyP95High", "for": "10m", "severity": "warning",
            "expr": "histogram_quantile(0.95, sum by (le) (rate(tunestack_http_request_duration_seconds_bucket[5m])))"
                    f" > {p95_ms / 1000:g}",
            "summary": f"p95 request latency above the rollout's p95 gate {p95_ms:g} ms"}


def cache_hit_rate(cache_max: int) -> dict:
    # As the app sees it: a read that timed out or failed is a miss too.
    hits, reads = ('sum(rate(tunestack_cache_reads_total{result="hit"}[10m]))',
                   "sum(rate(tunestack_cache_reads_total[10m]))")
    return {"alert": "CacheHitRateLow", "for": "30m", "severity": "warning",
            "expr": f"{hits} / {reads} < {CACHE_HIT_RATE_MIN:g}",
            "summary": f"cache hit rate below {CACHE_HIT_RATE_MIN:.0%}: evicting what is still read (maxmemory "
                       f"{cache_max} bytes), or keys that are never read twice"}


THREAD_PER_REQUEST = ("python", "rails")   # a request holds a thread, and at most one connection


def pool_near_full(framework: str, threads: int, pool: int) -> dict:
    """A process lends at most what its requests can hold at once: one connection per thread where a
    request holds a thread (Gunicorn, Puma), so their pool (threads + headroom) never reaches 80 %
    (3 of 5 is 60 %: the alert could never fire). The threshold is 80 % of what the app really fills;
    Go and Node can fill their whole pool."""
    fills = min(threads, pool) if framework in THREAD_PER_REQUEST else pool
    share = SHARE_NEAR_LIMIT * fills / pool
    return {"alert": "AppDbPoolNearFull", "for": "5m", "severity": "warning",
            "expr": "sum by (instance) (tunestack_db_pool_in_use_connections) / "
                    f"sum by (instance) (tunestack_db_pool_max_connections) > {round(share, 4):g}",
            "summary": f"an app instance has lent out more than {SHARE_NEAR_LIMIT:.0%} of the {fills} connections "
                       f"per process it can use (of a pool of {pool}) for 5 minutes: its requests will soon wait "
                       "for a connection (add capacity; the connection budget must still hold)"}

