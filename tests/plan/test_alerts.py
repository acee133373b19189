"""Alert thresholds come from the plan's own numbers; metric names are the exporters' own."""
from dataclasses import replace

import pytest

from tunestack.plan.alerts import alert_rules

from .helpers import spec


def rules_for(s=None, query_wait_ms=5000, max_client=176):
    return {r["alert"]: r for r in alert_rules(s or spec("staging"), query_wait_ms, max_client, 1000, 1000, 160, 5)}


@pytest.mark.parametrize("query_wait_ms,seconds", [(5000, 2), (13000, 6), (1000, 1)])
def test_pgbouncer_alerts_on_waiting_clients_not_a_busy_pool(query_wait_ms, seconds):
    """spreaker/prometheus-pgbouncer-exporter 2.1.2, collector.py: SHOW POOLS maxwait →
    pgbouncer_pools_client_maxwait_seconds. In transaction mode a pool at 100 % is normal at peak;
    a client waiting toward query_wait_timeout (then refused) is the signal."""
    rules = rules_for(query_wait_ms=query_wait_ms)
    assert rules["PgBouncerClientsWaiting"]["expr"] == f"max(pgbouncer_pools_client_maxwait_seconds) >= {seconds}"
    assert rules["PgBouncerDown"]["expr"] == "pgbouncer_up == 0"
    assert not any("server_active" in r["expr"] for r in rules.values())


@pytest.mark.parametrize("max_client,threshold", [(176, 140), (1100, 880)])
def test_client_limit_alert_at_80_percent(max_client, threshold):
    # cl_active + cl_waiting: every client PgBouncer holds (the same exporter's SHOW POOLS columns)
    assert rules_for(max_client=max_client)["PgBouncerClientsNearLimit"]["expr"].endswith(f"> {threshold}")


def with_framework(framework):
    s = spec("staging")
    return replace(s, app=replace(s.app, framework=framework))


@pytest.mark.parametrize("framework", ["rails", "python", "go", "node"])
def test_backlog_alert_reads_the_apps_queue_depth(framework):
    # The reference apps' own gauge (refapp/metrics.py, refapp/go/metrics.go, refapp/node/server.js,
    # refapp/rails/app.rb). 10 queued jobs per job thread in the fleet: 3 hosts × 1 process × 10 × 10.
    assert rules_for(with_framework(framework))["JobQueueBacklog"]["expr"] == "max(tunestack_job_queue_depth) > 300"


def test_redis_alerts_select_the_role_the_scrape_config_adds():
    # redis_exporter labels series by scrape target only; prometheus-scrape.yml adds role.
    assert 'redis_memory_used_bytes{role="queue"} > 800' == rules_for()["RedisQueueMemoryHigh"]["expr"]


@pytest.mark.parametrize("framework", ["rails", "python", "go", "node"])
def test_the_guides_targets_on_the_apps_own_metrics(framework):
    """The guides' targets: p95 < the gate (200 ms by default), DB pool < 80 %, the cache hit rate; a
    true p95 from the app's histogram (HAProxy exports only an average)."""
    rules = rules_for(with_framework(framework))
    gates = spec("staging").rollout.gates
    assert rules["AppLatencyP95High"]["expr"] == ("histogram_quantile(0.95, sum by (le) "
                                                  "(rate(tunestack_http_request_duration_seconds_bucket[5m]))) "
                                                  f"> {gates.max_p95_ms / 1000:g}")
    assert "tunestack_db_pool_in_use_connections" in rules["AppDbPoolNearFull"]["expr"]   # its threshold: below
    assert rules["CacheHitRateLow"]["expr"].startswith('sum(rate(tunestack_cache_reads_total{result="hit"}[10m]))')
    assert "AppLatencyHigh" not in rules


def test_gate_alerts_follow_the_rollout_gates():
    rules = rules_for(with_framework("rails"))
    gates = spec("staging").rollout.gates
    assert rules["AppLatencyP95High"]["expr"].endswith(f"> {gates.max_p95_ms / 1000:g}")
    assert rules["AppErrorRateHigh"]["expr"].endswith(f"> {gates.max_error_rate:g}")
    assert 'code="5xx"' in rules["AppErrorRateHigh"]["expr"]


@pytest.mark.parametrize("framework,threads,pool,threshold", [
    ("python", 3, 5, 0.48), ("rails", 4, 6, 0.5333), ("go", 16, 18, 0.8), ("node", 10, 12, 0.8)])
def test_the_pool_alert_can_fire_on_what_the_app_can_lend(framework, threads, pool, threshold):
    """Issue #26: at 80 % of a pool sized threads + 2, a thread-per-request app (Gunicorn, Puma)
    can lend at most threads/pool (3/5 = 60 %): the alert could never fire. 80 % of what it can lend."""
    from tunestack.plan.alerts import pool_near_full

    rule = pool_near_full(framework, threads, pool)
    assert rule["expr"].endswith(f"> {threshold:g}")
    reachable = (threads if framework in ("python", "rails") else pool) / pool
    assert threshold < reachable
