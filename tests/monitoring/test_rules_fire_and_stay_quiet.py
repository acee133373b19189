"""Every rule the plans render, run by Prometheus' own rule tester (`promtool test rules`) on series
shaped as the deployed exporters export them: each fires on a value past its meaning (a client
refused at query_wait_timeout, a transaction PostgreSQL is about to end, a host out of memory) held
longer than its `for`, and stays quiet on a healthy one. A rule no case covers fails the coverage
test: a new alert needs its case here.

Series are written as exported (tests/monitoring/test_exporters_live.py reads the same names off
the running exporters); promtool's notation: `a+bxN` is a, a+b, … N+1 samples, one a minute."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

import pytest
import yaml

from tests.test_alerts_real import tool
from tunestack import stackfile
from tunestack.plan import build_plan
from tunestack.render import render_plan

pytestmark = pytest.mark.servers   # promtool from scripts/fetch-prometheus-tools
STACKS = ("local", "local-ha", "prod")
EVAL = "80m"          # every `for` in the rules is at most 30m; series last 90 minutes


@dataclass(frozen=True)
class Case:
    fire: dict[str, str]                 # series → values that make the alert fire
    quiet: dict[str, str]                # series → values that keep it quiet
    labels: dict[str, str] = field(default_factory=dict)   # the series' labels the fired alert keeps


def flat(value) -> str:
    return f"{value}x90"


def grows(per_minute) -> str:
    return f"0+{per_minute}x90"


def histogram(seconds_of_all: float) -> dict[str, str]:
    """Every request takes about `seconds_of_all` (100 a minute), in the reference apps' buckets."""
    buckets = (0.05, 0.1, 0.2, 0.5, 1, "+Inf")
    return {f'tunestack_http_request_duration_seconds_bucket{{le="{b}"}}':
            grows(100) if b == "+Inf" or b >= seconds_of_all else flat(0) for b in buckets}


def cases(plan) -> dict[str, Case]:
    pg, bouncer = plan.postgres, plan.pgbouncer
    idle_timeout_s = int(pg["idle_in_transaction_session_timeout"].value) // 1000
    node, queue = 'instance="db:9100"', 'role="queue",instance="redis://q:6379"'
    out = {
        # PgBouncer: spreaker's exporter, one series per database and user
        "PgBouncerDown": Case({'pgbouncer_up{instance="db:9127"}': flat(0)}, {'pgbouncer_up{instance="db:9127"}': flat(1)},
                              {"instance": "db:9127"}),
        "PgBouncerClientsWaiting": Case(   # a client refused at query_wait_timeout waited all of it
            {'pgbouncer_pools_client_maxwait_seconds{database="app",user="app"}': flat(bouncer["query_wait_timeout"].value // 1000)},
            {'pgbouncer_pools_client_maxwait_seconds{database="app",user="app"}': flat(0)}),
        "PgBouncerClientsNearLimit": Case(
            {'pgbouncer_pools_client_active_connections{database="app",user="app"}': flat(bouncer["max_client_conn"].value),
             'pgbouncer_pools_client_waiting_connections{database="app",user="app"}': flat(0)},
            {'pgbouncer_pools_client_active_connections{database="app",user="app"}': flat(1),
             'pgbouncer_pools_client_waiting_connections{database="app",user="app"}': flat(0)}),
        # the apps' own metrics and HAProxy's
        "AppLatencyP95High": Case(histogram(0.5), histogram(0.05)),   # the gates allow 200 ms at p95
        "AppErrorRateHigh": Case(
            {'haproxy_backend_http_responses_total{proxy="app",code="5xx"}': grows(10),
             'haproxy_backend_http_responses_total{proxy="app",code="2xx"}': grows(90)},
            {'haproxy_backend_http_responses_total{proxy="app",code="5xx"}': flat(3),
             'haproxy_backend_http_responses_total{proxy="app",code="2xx"}': grows(100)}),
        "AppDbPoolNearFull": Case(   # every thread holding its connection
            {'tunestack_db_pool_in_use_connections{instance="web:8000"}': flat(plan.app["web_db_pool"].value),
             'tunestack_db_pool_max_connections{instance="web:8000"}': flat(plan.app["web_db_pool"].value)},
            {'tunestack_db_pool_in_use_connections{instance="web:8000"}': flat(0),
             'tunestack_db_pool_max_connections{instance="web:8000"}': flat(plan.app["web_db_pool"].value)},
            {"instance": "web:8000"}),
        "JobQueueBacklog": Case({"tunestack_job_queue_depth": flat(10**6)}, {"tunestack_job_queue_depth": flat(0)}),
        "CacheHitRateLow": Case(
            {'tunestack_cache_reads_total{result="hit"}': grows(10), 'tunestack_cache_reads_total{result="miss"}': grows(90)},
            {'tunestack_cache_reads_total{result="hit"}': grows(95), 'tunestack_cache_reads_total{result="miss"}': grows(5)}),
        # Redis (redis_exporter; the scrape config adds role)
        "RedisQueueMemoryHigh": Case({f"redis_memory_used_bytes{{{queue}}}": flat(plan.redis["queue"]["maxmemory"].value)},
                                     {f"redis_memory_used_bytes{{{queue}}}": flat(1024)},
                                     {"role": "queue", "instance": "redis://q:6379"}),
        "RedisQueueWritesRefused": Case(   # the exporter's own refused CONFIG GET counts NOPERM every scrape
            {f'redis_errors_total{{{queue},err="OOM"}}': grows(1), f'redis_errors_total{{{queue},err="NOPERM"}}': grows(4)},
            {f'redis_errors_total{{{queue},err="OOM"}}': flat(0), f'redis_errors_total{{{queue},err="NOPERM"}}': grows(4)}),
        "RedisDown": Case({f"redis_up{{{queue}}}": flat(0)}, {f"redis_up{{{queue}}}": flat(1)},
                          {"role": "queue", "instance": "redis://q:6379"}),
        "RedisCacheEvicting": Case({'redis_evicted_keys_total{role="cache"}': grows(100)},
                                   {'redis_evicted_keys_total{role="cache"}': flat(5)}),
        "RedisRejectingConnections": Case({f"redis_rejected_connections_total{{{queue}}}": grows(1)},
                                          {f"redis_rejected_connections_total{{{queue}}}": flat(2)}, {"role": "queue"}),
        "RedisAofWriteFailing": Case(
            {f"redis_aof_last_write_status{{{queue}}}": flat(0), f"redis_aof_last_bgrewrite_status{{{queue}}}": flat(1)},
            {f"redis_aof_last_write_status{{{queue}}}": flat(1), f"redis_aof_last_bgrewrite_status{{{queue}}}": flat(1)},
            {"role": "queue", "instance": "redis://q:6379"}),
        # PostgreSQL (postgres_exporter and the rendered queries)
        "PostgresDown": Case({'pg_up{instance="db:9187"}': flat(0)}, {'pg_up{instance="db:9187"}': flat(1),
                                                                       'up{job="postgres",instance="db:9187"}': flat(1)},
                             {"instance": "db:9187"}),
        "PostgresConnectionsNearMax": Case(
            {'pg_stat_activity_count{datname="app",state="active"}': flat(pg["max_connections"].value)},
            {'pg_stat_activity_count{datname="app",state="active"}': flat(1)}),
        "PostgresLongTransaction": Case(
            {'pg_stat_activity_max_tx_duration{datname="app",state="active"}': flat(86_400)},
            {'pg_stat_activity_max_tx_duration{datname="app",state="active"}': flat(1)}),
        "PostgresIdleInTransaction": Case(   # at the timeout PostgreSQL ends it: the alert came before
            {'pg_stat_activity_max_tx_duration{datname="app",state="idle in transaction"}': flat(idle_timeout_s)},
            {'pg_stat_activity_max_tx_duration{datname="app",state="idle in transaction"}': flat(1)}),
        "PostgresDeadlocks": Case({'pg_stat_database_deadlocks{datname="app"}': grows(1)},
                                  {'pg_stat_database_deadlocks{datname="app"}': flat(3)}),
        "PostgresXidAgeHigh": Case({'pg_database_xid_age{datname="app"}': flat(2**31 - 10**7)},
                                   {'pg_database_xid_age{datname="app"}': flat(10**6)}),
        "PostgresWalPiling": Case({"pg_wal_bytes": flat(10 * pg["max_wal_size"].value)},
                                  {"pg_wal_bytes": flat(pg["max_wal_size"].value // 2)}),
        # a canary's target is down outside rollouts: quiet
        "TargetDown": Case({'up{job="postgres",instance="db:9187"}': flat(0)},
                           {'up{job="postgres",instance="db:9187"}': flat(1), 'up{job="app",track="canary"}': flat(0)},
                           {"job": "postgres", "instance": "db:9187"}),
        # the hosts (node_exporter)
        "DiskSpaceLow": Case(
            {f'node_filesystem_avail_bytes{{{node},fstype="ext4",mountpoint="/"}}': flat(10**9),
             f'node_filesystem_size_bytes{{{node},fstype="ext4",mountpoint="/"}}': flat(100 * 10**9)},
            {f'node_filesystem_avail_bytes{{{node},fstype="ext4",mountpoint="/"}}': flat(50 * 10**9),
             f'node_filesystem_size_bytes{{{node},fstype="ext4",mountpoint="/"}}': flat(100 * 10**9),
             f'node_filesystem_avail_bytes{{{node},fstype="tmpfs",mountpoint="/run"}}': flat(0),
             f'node_filesystem_size_bytes{{{node},fstype="tmpfs",mountpoint="/run"}}': flat(10**6)},
            {"instance": "db:9100", "fstype": "ext4", "mountpoint": "/"}),
        "HostMemoryLow": Case({f"node_memory_MemAvailable_bytes{{{node}}}": flat(5 * 2**20),
                               f"node_memory_MemTotal_bytes{{{node}}}": flat(4 * 2**30)},
                              {f"node_memory_MemAvailable_bytes{{{node}}}": flat(2 * 2**30),
                               f"node_memory_MemTotal_bytes{{{node}}}": flat(4 * 2**30)}, {"instance": "db:9100"}),
        "HostCpuSaturated": Case({f'node_cpu_seconds_total{{{node},cpu="0",mode="idle"}}': grows(1)},   # 59 of 60 s busy
                                 {f'node_cpu_seconds_total{{{node},cpu="0",mode="idle"}}': grows(45)}, {"instance": "db:9100"}),
        # archiving and backups (promtool's time() at 80m is 4800 s)
        "PostgresArchiveFailing": Case({"pg_archiver_failing": flat(1)}, {"pg_archiver_failing": flat(0)}),
        "PostgresArchiveLagging": Case({"pg_archiver_oldest_ready_seconds": flat(10 * pg["archive_timeout"].value // 1000)},
                                       {"pg_archiver_oldest_ready_seconds": flat(0)}),
        "BackupStale": Case(
            {'tunestack_backup_last_success_timestamp_seconds{stanza="s",type="diff"}':
             flat(4800 - plan.backup["newest backup at most"].value - 3600)},
            {'tunestack_backup_last_success_timestamp_seconds{stanza="s",type="diff"}': flat(4800 - 3600)}),
    }
    return out | (ha_cases(plan) if plan.ha else {}) | (queue_ha_cases() if plan.queue_ha else {})


def ha_cases(plan) -> dict[str, Case]:
    """Patroni's and etcd's metrics. Every node or member down is the worst case: no series at all,
    which must still fire."""
    scope = f'scope="{plan.ha["scope"].value}"'
    members = len(plan.ha["etcd members"].value)
    leaders = {f'etcd_server_has_leader{{job="etcd",instance="e{i}"}}': flat(1) for i in range(members)}
    return {
        "PostgresNoPrimary": Case({f'patroni_primary{{{scope},instance="n0"}}': flat(0),
                                   f'patroni_primary{{{scope},instance="n1"}}': flat(0)},
                                  {f'patroni_primary{{{scope},instance="n0"}}': flat(1),
                                   f'patroni_primary{{{scope},instance="n1"}}': flat(0)}),
        "PostgresNoSynchronousStandby": Case({f'patroni_sync_standby{{{scope},instance="n1"}}': flat(0)},
                                             {f'patroni_sync_standby{{{scope},instance="n1"}}': flat(1)}),
        "PostgresReplicaLagging": Case(
            {f'patroni_xlog_location{{{scope},instance="n0"}}': grows(2**30),
             f'patroni_xlog_replayed_location{{{scope},instance="n1"}}': flat(0),
             f'patroni_replica{{{scope},instance="n1"}}': flat(1)},
            {f'patroni_xlog_location{{{scope},instance="n0"}}': flat(2**30),
             f'patroni_xlog_replayed_location{{{scope},instance="n1"}}': flat(2**30),
             f'patroni_replica{{{scope},instance="n1"}}': flat(1)}),
        "PostgresFailoverHappened": Case({f'patroni_postgres_timeline{{{scope},instance="n1"}}': "1x75 2x15"},
                                         {f'patroni_postgres_timeline{{{scope},instance="n1"}}': flat(1)}),
        "EtcdMemberDown": Case({"up": flat(1)}, leaders),   # every member gone: no etcd series at all
    }


def queue_ha_cases() -> dict[str, Case]:
    # As Prometheus stores them: the scrape config's role (queue) wins, the exporter's own role label
    # (master or slave) is kept as exported_role (as the live series on local-ha show)
    master, replica = 'role="queue",instance="redis://q0:6379"', 'role="queue",instance="redis://q1:6379"'
    return {
        "RedisQueueEnqueueUnreplicated": Case({"tunestack_queue_unreplicated_total": grows(2)},
                                              {"tunestack_queue_unreplicated_total": flat(4)}),
        "RedisQueueReplicaMissing": Case(   # the master gone too: no series at all
            {f'redis_instance_info{{{replica},exported_role="slave"}}': flat(1)},
            {f'redis_instance_info{{{master},exported_role="master"}}': flat(1), f"redis_connected_slaves{{{master}}}": flat(1),
             f'redis_instance_info{{{replica},exported_role="slave"}}': flat(1), f"redis_connected_slaves{{{replica}}}": flat(0)}),
        # SENTINEL CKQUORUM as redis_exporter reports it; its message is a label (Sentinel's own words)
        "RedisSentinelQuorumLost": Case(
            {'redis_sentinel_master_ckquorum_status{master_name="q",message="NOQUORUM 1 usable Sentinels"}': flat(0)},
            {'redis_sentinel_master_ckquorum_status{master_name="q",message="OK 3 usable Sentinels"}': flat(1)}),
        "RedisQueueFailedOver": Case(
            {f'redis_instance_info{{{replica},exported_role="slave"}}': "1x70", f'redis_instance_info{{{replica},exported_role="master"}}': "_x70 1x20"},
            {f'redis_instance_info{{{replica},exported_role="slave"}}': flat(1), f'redis_instance_info{{{master},exported_role="master"}}': flat(1)},
            {"instance": "redis://q1:6379", "role": "queue", "exported_role": "master"}),
    }


def rules_of(stack: str):
    plan = build_plan(stackfile.load(stackfile.stack_path(stack), name=stack))
    files = render_plan(plan)
    return plan, files, {r["alert"]: r for g in yaml.safe_load(files["alerts.yml"])["groups"] for r in g["rules"]}


@pytest.mark.parametrize("stack", stackfile.stack_names())
def test_every_rule_of_every_stack_has_its_case(stack):
    plan, _, rules = rules_of(stack)
    assert set(rules) <= set(cases(plan)), set(rules) - set(cases(plan))


@pytest.mark.parametrize("stack", STACKS)
def test_each_rule_fires_past_its_meaning_and_stays_quiet_on_health(stack, tmp_path):
    plan, files, rules = rules_of(stack)
    tests = []
    for name, case in cases(plan).items():
        if name not in rules:
            continue
        fired = {"exp_labels": {**rules[name]["labels"], **case.labels}, "exp_annotations": rules[name]["annotations"]}
        for series, expected in ((case.fire, [fired]), (case.quiet, [])):
            tests.append({"name": f"{name} {'fires' if expected else 'stays quiet'}", "interval": "1m",
                          "input_series": [{"series": s, "values": v} for s, v in series.items()],
                          "alert_rule_test": [{"eval_time": EVAL, "alertname": name, "exp_alerts": expected}]})
    (tmp_path / "alerts.yml").write_text(files["alerts.yml"])
    (tmp_path / "t.yml").write_text(yaml.safe_dump({"rule_files": ["alerts.yml"], "evaluation_interval": "1m",
                                                    "tests": tests}))
    res = subprocess.run([tool("promtool"), "test", "rules", str(tmp_path / "t.yml")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
