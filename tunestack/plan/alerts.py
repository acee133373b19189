"""Prometheus alert rules whose thresholds come from the plan, on the metric names real exporters
export. Pure.

- PgBouncer: prometheus-community/pgbouncer_exporter (README, "Metrics": pools.cl_waiting →
  pgbouncer_pools_client_waiting_connections, pools.maxwait → pgbouncer_pools_client_maxwait_seconds).
- Redis: oliver006/redis_exporter (redis_memory_used_bytes, redis_keyspace_hits_total,
  redis_keyspace_misses_total; with --check-single-keys, redis_key_size). It labels series by
  scrape target only, so the scrape config (alerts' `scrape`) adds role="cache" / role="queue".
- Sidekiq: Strech/sidekiq-prometheus-exporter (README: sidekiq_enqueued_jobs,
  sidekiq_queue_latency_seconds).
- The app: HAProxy's built-in exporter (HAProxy docs, "prometheus-exporter" service:
  haproxy_backend_http_responses_total, haproxy_backend_response_time_average_seconds), which the
  rendered haproxy.cfg serves; tunestack runs every stack's load balancer.
"""
from __future__ import annotations

import math

from ..stackfile.spec import StackSpec

SHARE_NEAR_LIMIT = 0.8
CACHE_HIT_RATE_MIN = 0.8      # policy: below it the cache costs more round trips than it saves
METRICS_PATH = "/_tunestack/metrics"
PYTHON_JOBS_KEY = "jobs"       # the reference app's job list (refapp/worker.py)


def alert_rules(spec: StackSpec, query_wait_ms: int, max_client: int, queue_max: int, cache_max: int,
                fleet: int) -> list[dict]:
    g = spec.rollout.gates
    machines = sum(h.count for h in spec.app_hosts())
    depth = max(100, 10 * spec.app.jobs.concurrency * max(1, spec.app.jobs.processes) * machines)
    waited = max(1, query_wait_ms // 2000)
    backlog = (f"sum(sidekiq_enqueued_jobs) > {depth}" if spec.app.framework == "rails"
               else f'sum(redis_key_size{{role="queue",key="{PYTHON_JOBS_KEY}"}}) > {depth}')
    app = 'proxy="app"'
    return [
        {"alert": "PgBouncerClientsWaiting",
         "expr": f"max(pgbouncer_pools_client_maxwait_seconds) >= {waited}",
         "for": "2m", "severity": "warning",
         "summary": f"a client waited {waited}s or more for a server connection: half of query_wait_timeout "
                    f"({query_wait_ms // 1000}s), after which PgBouncer refuses it (a busy pool alone is normal "
                    "in transaction mode; waiting clients are the signal)"},
        {"alert": "PgBouncerClientsQueued",
         "expr": "sum(pgbouncer_pools_client_waiting_connections) > 0",
         "for": "5m", "severity": "info",
         "summary": "clients queued for a server connection for 5 minutes: the server pool is too small for the load"},
        {"alert": "PgBouncerClientsNearLimit",
         "expr": "sum(pgbouncer_pools_client_active_connections + pgbouncer_pools_client_waiting_connections) > "
                 f"{math.floor(max_client * SHARE_NEAR_LIMIT)}",
         "for": "5m", "severity": "warning",
         "summary": f"client connections above 80% of max_client_conn {max_client} (the fleet plans {fleet})"},
        {"alert": "AppLatencyHigh",
         "expr": f"max(haproxy_backend_response_time_average_seconds{{{app}}}) > {g.max_p95_ms / 1000:g}",
         "for": "10m", "severity": "warning",
         "summary": f"HAProxy's average response time (its last 1024 requests) above the rollout's p95 gate "
                    f"{g.max_p95_ms:g} ms"},
        {"alert": "AppErrorRateHigh",
         "expr": f'sum(rate(haproxy_backend_http_responses_total{{{app},code="5xx"}}[5m])) / '
                 f"sum(rate(haproxy_backend_http_responses_total{{{app}}}[5m])) > {g.max_error_rate:g}",
         "for": "5m", "severity": "critical", "summary": f"5xx rate above {g.max_error_rate:.2%} (the rollout gate)"},
        {"alert": "RedisQueueMemoryHigh",
         "expr": f'redis_memory_used_bytes{{role="queue"}} > {int(queue_max * SHARE_NEAR_LIMIT)}',
         "for": "5m", "severity": "critical",
         "summary": "queue Redis above 80% of maxmemory: at 100% noeviction refuses new jobs"},
        {"alert": "RedisCacheHitRateLow",
         "expr": 'sum(rate(redis_keyspace_hits_total{role="cache"}[10m])) / '
                 '(sum(rate(redis_keyspace_hits_total{role="cache"}[10m])) + '
                 f'sum(rate(redis_keyspace_misses_total{{role="cache"}}[10m]))) < {CACHE_HIT_RATE_MIN:g}',
         "for": "30m", "severity": "warning",
         "summary": f"cache hit rate below {CACHE_HIT_RATE_MIN:.0%}: evicting what is still read (maxmemory "
                    f"{cache_max} bytes), or keys that are never read twice"},
        {"alert": "JobQueueBacklog", "expr": backlog, "for": "10m", "severity": "warning",
         "summary": f"more than {depth} queued jobs: 10 per job thread in the fleet"},
    ]

