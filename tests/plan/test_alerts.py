"""Alert thresholds come from the plan's own numbers."""
from dataclasses import replace

import pytest

from tunestack.plan.alerts import alert_rules

from .helpers import spec


@pytest.mark.parametrize("server,max_client,pool_threshold,client_threshold", [(19, 176, 15, 140), (76, 1100, 60, 880)])
def test_pgbouncer_alerts_at_80_percent(server, max_client, pool_threshold, client_threshold):
    rules = {r["alert"]: r for r in alert_rules(spec("staging"), server, max_client, 1, 1, 160)}
    assert rules["PgBouncerServerPoolSaturated"]["expr"].endswith(f"> {pool_threshold}")
    assert rules["PgBouncerClientsNearLimit"]["expr"].endswith(f"> {client_threshold}")


@pytest.mark.parametrize("framework,metric", [("rails", "sidekiq_queue_size"), ("python", "job_queue_depth")])
def test_backlog_alert_names_the_framework_metric(framework, metric):
    s = spec("staging")
    s = replace(s, app=replace(s.app, framework=framework))
    rules = {r["alert"]: r for r in alert_rules(s, 19, 176, 1, 1, 160)}
    # 10 queued jobs per job thread in the fleet: 3 hosts × 1 process × 10 threads × 10 = 300
    assert rules["JobQueueBacklog"]["expr"] == f"sum({metric}) > 300"


def test_gate_alerts_follow_the_rollout_gates():
    rules = {r["alert"]: r for r in alert_rules(spec("staging"), 19, 176, 1, 1, 160)}
    gates = spec("staging").rollout.gates
    assert rules["AppLatencyP95High"]["expr"].endswith(f"> {gates.max_p95_ms / 1000:g}")
    assert rules["AppErrorRateHigh"]["expr"].endswith(f"> {gates.max_error_rate:g}")
