"""The rendered alerts against real tools: Prometheus' own checker (promtool, from Debian's
`prometheus` package) parses every rule and the scrape config, and the metric names the rules use
are in the real output of redis_exporter (Debian's prometheus-redis-exporter) and HAProxy's
built-in exporter. pgbouncer_exporter and the Sidekiq exporter are not packaged here: their names
are checked against their READMEs in tests/plan/test_alerts.py.
Tools: scripts/fetch-prometheus-tools (run by scripts/setup)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.request

import pytest
import redis as redis_py

from tests.realservers import free_port
from tunestack import stackfile
from tunestack.plan import build_plan
from tunestack.poll import wait_until
from tunestack.render import render_plan, Layout
from tunestack.servers import fetched_cache

pytestmark = pytest.mark.servers
TOOLS = fetched_cache("tools", "TUNESTACK_TOOLS_CACHE")   # scripts/fetch-prometheus-tools
METRIC = re.compile(r"\b((?:redis|haproxy|pgbouncer|sidekiq)_[a-z0-9_]+)")   # the app's own: test_local_go_node.py


def tool(name):
    path = os.path.join(TOOLS, name)
    assert os.access(path, os.X_OK), f"{path} missing: run scripts/fetch-prometheus-tools"
    return path


def used_metrics(plan, prefix):
    return {m for a in plan.alerts for m in METRIC.findall(a["expr"]) if m.startswith(prefix)}


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


@pytest.mark.parametrize("stack", stackfile.stack_names())
def test_promtool_and_amtool_accept_the_rendered_files(stack, tmp_path):
    files = render_plan(build_plan(stackfile.load(stackfile.stack_path(stack), name=stack)))
    (tmp_path / "alerts.yml").write_text(files["alerts.yml"])
    res = subprocess.run([tool("promtool"), "check", "rules", str(tmp_path / "alerts.yml")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    (tmp_path / "prometheus.yml").write_text(files["prometheus.yml"])
    res = subprocess.run([tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    (tmp_path / "alertmanager.yml").write_text(files["alertmanager.yml"])
    res = subprocess.run([shutil.which("amtool") or "/usr/bin/amtool", "check-config", str(tmp_path / "alertmanager.yml")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("stack", ["local", "local-rails", "local-ha"])   # local-ha: the queue's replica alerts
def test_redis_metric_names_are_in_redis_exporters_output(stack, server_dir):
    """local-ha's Sentinel alerts too: a Sentinel watching that Redis, read by the same exporter."""
    plan = build_plan(stackfile.load(stackfile.stack_path(stack), name=stack))
    port, web, sentinel_port = free_port(), free_port(), free_port()
    redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
    started = [subprocess.Popen([redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--dir", str(server_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        client = redis_py.Redis(port=port)
        wait_until(lambda: client.ping(), 10, "redis")
        client.set("k", "v"), client.get("k"), client.get("missing")   # a hit and a miss
        if plan.queue_ha:
            (server_dir / "sentinel.conf").write_text(f"port {sentinel_port}\nbind 127.0.0.1\n"
                                                      f"sentinel monitor q 127.0.0.1 {port} 1\n")
            started.append(subprocess.Popen([redis_server, str(server_dir / "sentinel.conf"), "--sentinel"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_until(lambda: redis_py.Redis(port=sentinel_port).ping(), 10, "sentinel")
        started.append(subprocess.Popen([tool("prometheus-redis-exporter"), f"--redis.addr=redis://127.0.0.1:{port}",
                                         f"--web.listen-address=127.0.0.1:{web}"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        output = wait_until(lambda: fetch(f"http://127.0.0.1:{web}/metrics"), 15, "redis_exporter")
        if plan.queue_ha:
            output += wait_until(lambda: fetch(f"http://127.0.0.1:{web}/scrape?target=redis://127.0.0.1:{sentinel_port}"),
                                 15, "redis_exporter reading the Sentinel")
    finally:
        for p in reversed(started):
            p.terminate()
            p.wait(10)
    exported = set(re.findall(r"^(redis_\w+)", output, re.M))
    used = used_metrics(plan, "redis_")
    assert used and used <= exported, used - exported


def test_haproxy_serves_the_metrics_the_alerts_use_to_private_addresses(server_dir):
    plan = build_plan(stackfile.load(stackfile.stack_path("local"), name="local"))
    cfg = render_plan(plan, Layout(run_dir=str(server_dir)))["haproxy.cfg"]
    port = free_port()
    cfg = cfg.replace(f"bind 127.0.0.1:{plan.loadbalancer['port'].text}", f"bind 127.0.0.1:{port}")
    (server_dir / "haproxy.cfg").write_text(cfg)
    proc = subprocess.Popen([shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(server_dir / "haproxy.cfg")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        output = wait_until(lambda: fetch(f"http://127.0.0.1:{port}/_tunestack/metrics"), 15, "HAProxy metrics")
    finally:
        proc.terminate()
        proc.wait(10)
    used = used_metrics(plan, "haproxy_")
    assert used
    for name in used:
        assert re.search(rf'^{name}{{proxy="app"', output, re.M), name
    assert re.search(r'^haproxy_backend_http_responses_total\{proxy="app",code="5xx"\}', output, re.M)


@pytest.mark.parametrize("stack", ["local", "local-rails", "local-go"])
def test_the_pool_alert_fires_on_what_an_app_can_lend_and_stays_quiet_below(stack, tmp_path):
    """Issue #26: `AppDbPoolNearFull` at 80 % of a pool sized threads + 2 could never fire for a
    thread-per-request app. promtool runs the rendered rule on series the app can really produce:
    two processes each lending one connection per busy thread (all of them: it fires after its 5
    minutes; half of them: quiet)."""
    import yaml

    plan = build_plan(stackfile.load(stackfile.stack_path(stack), name=stack))
    files = render_plan(plan)
    (tmp_path / "alerts.yml").write_text(files["alerts.yml"])
    rule = next(r for g in yaml.safe_load(files["alerts.yml"])["groups"] for r in g["rules"]
                if r.get("alert") == "AppDbPoolNearFull")
    pool = plan.app["web_db_pool"].value
    busy = plan.spec.app.threads if plan.spec.app.framework in ("python", "rails") else pool

    def series(in_use: int) -> list[dict]:
        return [s for pid in (1, 2) for s in (
            {"series": f'tunestack_db_pool_in_use_connections{{instance="web:8000",pid="{pid}"}}',
             "values": f"{in_use}x15"},
            {"series": f'tunestack_db_pool_max_connections{{instance="web:8000",pid="{pid}"}}',
             "values": f"{pool}x15"})]

    fired = {"exp_labels": {**rule["labels"], "instance": "web:8000"}, "exp_annotations": rule["annotations"]}
    tests = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": series(busy),
         "alert_rule_test": [{"eval_time": "10m", "alertname": "AppDbPoolNearFull", "exp_alerts": [fired]}]},
        {"interval": "1m", "input_series": series(busy // 2),
         "alert_rule_test": [{"eval_time": "10m", "alertname": "AppDbPoolNearFull", "exp_alerts": []}]}]}
    (tmp_path / "pool.test.yml").write_text(yaml.safe_dump(tests))
    res = subprocess.run([tool("promtool"), "test", "rules", str(tmp_path / "pool.test.yml")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_postgres_and_node_exporters_export_what_the_postgres_and_host_alerts_read(server_dir):
    """Issue #26, point 5: the PostgreSQL and host alerts read names the real exporters export:
    Debian's postgres_exporter 0.11 against a real server, with the queries file the plan renders
    (its --extend.query-path), and node_exporter's filesystem collector."""
    from tests.realservers import start_postgres

    plan = build_plan(stackfile.load(stackfile.stack_path("local"), name="local"))
    files = render_plan(plan, Layout(run_dir=str(server_dir)))
    (server_dir / "queries.yml").write_text(files["postgres-exporter-queries.yml"])
    server = start_postgres(server_dir / "pg", "max_connections = 20\n")
    web, node_web = free_port(), free_port()
    exporters = []
    try:
        # The cluster is the test's own (initdb -A trust on loopback): no password to hand over.
        exporters.append(subprocess.Popen(
            [tool("prometheus-postgres-exporter"), f"--web.listen-address=127.0.0.1:{web}",
             f"--extend.query-path={server_dir / 'queries.yml'}"],
            env={"DATA_SOURCE_NAME": f"postgresql://postgres@127.0.0.1:{server.port}/postgres?sslmode=disable"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        exporters.append(subprocess.Popen(
            [tool("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{node_web}",
             "--collector.disable-defaults", "--collector.filesystem", "--collector.meminfo", "--collector.cpu"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def scraped():
            out = fetch(f"http://127.0.0.1:{web}/metrics")
            return out if re.search(r"^pg_wal_bytes[{ ]", out, re.M) else None
        output = wait_until(scraped, 30, "postgres_exporter with the rendered queries")
        node = wait_until(lambda: fetch(f"http://127.0.0.1:{node_web}/metrics"), 15, "node_exporter")
    finally:
        for p in exporters:
            p.terminate()
            p.wait(10)
        server.stop()
    exported = set(re.findall(r"^((?:pg|node)_\w+)", output + node, re.M))
    used = {m for a in plan.alerts for m in re.findall(r"\b((?:pg|node)_[A-Za-z0-9_]+)", a["expr"])}
    assert {"pg_up", "pg_database_xid_age", "pg_wal_bytes", "node_filesystem_avail_bytes"} <= used
    assert used <= exported, used - exported
    assert re.search(r"^pg_up(\{[^}]*\})? 1$", output, re.M)


def test_backup_stale_fires_when_no_backup_was_ever_reported(tmp_path):
    """A stack whose backups never ran exports no success time at all: that must not read as fine."""
    import yaml

    plan = build_plan(stackfile.load(stackfile.stack_path("local"), name="local"))
    (tmp_path / "alerts.yml").write_text(render_plan(plan)["alerts.yml"])
    rule = next(r for g in yaml.safe_load((tmp_path / "alerts.yml").read_text())["groups"] for r in g["rules"]
                if r.get("alert") == "BackupStale")
    tests = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": [{"series": "up{job=\"node\"}", "values": "1x90"}],
         "alert_rule_test": [{"eval_time": "80m", "alertname": "BackupStale",
                              "exp_alerts": [{"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}]}]}]}
    (tmp_path / "t.yml").write_text(yaml.safe_dump(tests))
    res = subprocess.run([tool("promtool"), "test", "rules", str(tmp_path / "t.yml")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def _promtool_test(tmp_path, files: dict, tests: list[dict]) -> None:
    import yaml

    (tmp_path / "alerts.yml").write_text(files["alerts.yml"])
    (tmp_path / "t.test.yml").write_text(yaml.safe_dump({"rule_files": ["alerts.yml"], "evaluation_interval": "1m",
                                                         "tests": tests}))
    res = subprocess.run([tool("promtool"), "test", "rules", str(tmp_path / "t.test.yml")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_queue_failover_alerts_fire_and_stay_quiet(tmp_path):
    """Issue #28: on redis_exporter's series as a failover really changes them: the replica's
    instance_info moves from slave to master (a new series, not a new value), and a master whose
    replica is gone streams to 0. Labelled as Prometheus stores them: the scrape config's role
    (queue, cache), the exporter's own as exported_role (what local-ha's live series show)."""
    import yaml

    files = render_plan(build_plan(stackfile.load(stackfile.stack_path("local-ha"), name="local-ha")))
    node0, node1 = 'instance="q0:9121",role="queue"', 'instance="q1:9121",role="queue"'
    cache = 'instance="c:9121",role="cache"'
    steady = [{"series": f'redis_instance_info{{{node0},exported_role="master"}}', "values": "1x30"},
              {"series": f'redis_instance_info{{{node1},exported_role="slave"}}', "values": "1x30"},
              {"series": f'redis_instance_info{{{cache},exported_role="master"}}', "values": "1x30"},
              {"series": f"redis_connected_slaves{{{node0}}}", "values": "1x30"},
              {"series": f"redis_connected_slaves{{{node1}}}", "values": "0x30"},
              {"series": f"redis_connected_slaves{{{cache}}}", "values": "0x30"}]
    # at minute 10 node 1 is promoted; node 0 is gone (its series end), so none streams to a replica
    failover = [{"series": f'redis_instance_info{{{node0},exported_role="master"}}', "values": "1x10"},
                {"series": f'redis_instance_info{{{node1},exported_role="slave"}}', "values": "1x10"},
                {"series": f'redis_instance_info{{{node1},exported_role="master"}}', "values": "_x10 1x20"},
                {"series": f'redis_instance_info{{{cache},exported_role="master"}}', "values": "1x30"},
                {"series": f"redis_connected_slaves{{{node0}}}", "values": "1x10"},
                {"series": f"redis_connected_slaves{{{node1}}}", "values": "0x30"},
                {"series": f"redis_connected_slaves{{{cache}}}", "values": "0x30"}]
    quiet = [{"eval_time": "20m", "alertname": name, "exp_alerts": []}
             for name in ("RedisQueueFailedOver", "RedisQueueReplicaMissing")]
    rules = {r["alert"]: r for g in yaml.safe_load(files["alerts.yml"])["groups"] for r in g["rules"] if "alert" in r}

    def alert(name: str, **labels) -> dict:
        return {"exp_labels": {**rules[name]["labels"], **labels}, "exp_annotations": rules[name]["annotations"]}
    # node 0's last samples stay visible for Prometheus' 5-minute lookback: the replica is missed from 16m
    fired = [{"eval_time": "14m", "alertname": "RedisQueueFailedOver",
              "exp_alerts": [alert("RedisQueueFailedOver", instance="q1:9121", role="queue", exported_role="master")]},
             {"eval_time": "20m", "alertname": "RedisQueueReplicaMissing", "exp_alerts": [alert("RedisQueueReplicaMissing")]},
             {"eval_time": "40m", "alertname": "RedisQueueFailedOver", "exp_alerts": []}]
    _promtool_test(tmp_path, files, [{"interval": "1m", "input_series": steady, "alert_rule_test": quiet},
                                     {"interval": "1m", "input_series": failover, "alert_rule_test": fired}])
