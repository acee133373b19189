"""Prometheus alert rules whose thresholds come from the plan. Pure."""
from __future__ import annotations

import math

from ..stackfile.spec import StackSpec

SATURATION_SHARE = 0.8


def alert_rules(spec: StackSpec, server_conns: int, max_client: int, queue_max: int, cache_max: int,
                fleet: int) -> list[dict]:
    g = spec.rollout.gates
    machines = sum(h.count for h in spec.app_hosts())
    depth = max(100, 10 * spec.app.jobs.concurrency * max(1, spec.app.jobs.processes) * machines)
    return [
        {"alert": "PgBouncerServerPoolSaturated",
         "expr": f"sum(pgbouncer_pools_server_active_connections) > {math.floor(server_conns * SATURATION_SHARE)}",
         "for": "5m", "severity": "warning",
         "summary": f"server connections above 80% of the planned {server_conns} (pool + reserve)"},
        {"alert": "PgBouncerClientsNearLimit",
         "expr": "sum(pgbouncer_pools_client_active_connections + pgbouncer_pools_client_waiting_connections) > "
                 f"{math.floor(max_client * SATURATION_SHARE)}",
         "for": "5m", "severity": "warning",
         "summary": f"client connections above 80% of max_client_conn {max_client} (fleet plans {fleet})"},
        {"alert": "AppLatencyP95High",
         "expr": "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > "
                 f"{g.max_p95_ms / 1000:g}",
         "for": "10m", "severity": "warning", "summary": f"p95 latency above {g.max_p95_ms:g} ms (rollout gate)"},
        {"alert": "AppErrorRateHigh",
         "expr": f"sum(rate(http_requests_total{{status=~\"5..\"}}[5m])) / sum(rate(http_requests_total[5m])) > "
                 f"{g.max_error_rate:g}",
         "for": "5m", "severity": "critical", "summary": f"5xx rate above {g.max_error_rate:.2%} (rollout gate)"},
        {"alert": "RedisQueueMemoryHigh",
         "expr": f"redis_memory_used_bytes{{role=\"queue\"}} > {int(queue_max * SATURATION_SHARE)}",
         "for": "5m", "severity": "critical",
         "summary": "queue Redis above 80% of maxmemory: at 100% noeviction rejects new jobs"},
        {"alert": "RedisCacheMemoryHigh",
         "expr": f"redis_memory_used_bytes{{role=\"cache\"}} > {int(cache_max * 0.95)}",
         "for": "15m", "severity": "info", "summary": "cache Redis at maxmemory: evicting (expected, watch hit rate)"},
        {"alert": "JobQueueBacklog",
         "expr": f"sum(sidekiq_queue_size) > {depth}" if spec.app.framework == "rails"
                 else f"sum(job_queue_depth) > {depth}",
         "for": "10m", "severity": "warning",
         "summary": f"more than {depth} queued jobs: 10 per job thread in the fleet"},
    ]
