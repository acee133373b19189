"""Prometheus' size (plan/monitoring.py, issue #29): what it scrapes, and the disk and memory that
follow from the series, recomputed here from the sources' own figures."""
from dataclasses import replace

import pytest

from tunestack.errors import StackError
from tunestack.plan import build_plan
from tunestack.plan.monitoring import SERIES
from tunestack.stackfile.spec import MonitoringSpec
from tunestack.units import GIB, MIB

from .helpers import spec


def test_every_server_of_the_stack_is_a_target_and_every_machine_has_a_node_exporter():
    plan = build_plan(spec("staging"), target="docker")
    kinds = [t.kind for t in plan.monitoring["targets"].value]
    machines = sum(h.count for h in plan.spec.hosts)
    assert kinds.count("node") == machines
    assert kinds.count("app") == len(plan.placement.replicas)
    assert {"postgres", "pgbouncer", "redis", "haproxy", "prometheus", "alertmanager"} <= set(kinds)


def test_memory_is_a_base_and_three_kilobytes_a_series():
    """Robust Perception, "Why does Prometheus use so much RAM": about 3 kB per series in the head."""
    plan = build_plan(spec("local"))
    series = plan.monitoring["series"].value
    assert series == sum(SERIES[t.kind] for t in plan.monitoring["targets"].value)
    assert plan.monitoring["memory"].value == 128 * MIB + series * 3 * 1024


def test_a_disk_too_small_for_the_retention_is_refused_with_the_longest_that_fits():
    s = spec("local")
    with pytest.raises(StackError) as err:
        build_plan(replace(s, monitoring=MonitoringSpec(retention_ms=365 * 86_400_000, disk_bytes=2 * GIB)))
    problem = err.value.problems[0]
    assert problem.key_path.endswith("monitoring → retention") and "at most" in problem.allowed


def test_extra_targets_count_and_a_given_disk_is_kept():
    s = spec("local")
    plan = build_plan(replace(s, monitoring=MonitoringSpec(targets=("10.0.0.7:9100",), disk_bytes=50 * GIB)))
    assert "10.0.0.7:9100" in [t.address for t in plan.monitoring["targets"].value]
    assert plan.monitoring["disk"].value == 50 * GIB


def on(name: str, **changes):
    s = spec(name)
    return build_plan(replace(s, monitoring=MonitoringSpec(enabled=True), **changes), target="docker")


def test_on_containers_the_exporters_sit_beside_prometheus_and_read_their_servers_over_tls():
    """staging: db, cache and three app machines. Prometheus, Alertmanager and the three server
    exporters on the cache host; PostgreSQL and PgBouncer (db host) read at the db host's
    published address over TLS (verify-full), both Redis (cache host) by their aliases over TLS
    (rediss://): each exporter is a client as the apps are."""
    from tunestack.plan.monitoring import docker_exporters

    plan = on("staging")
    db = plan.spec.host_with("db").address
    by = {e.program: e for e in docker_exporters(plan) if e.program != "node_exporter"}
    assert {e.host for e in by.values()} == {"cache"}
    assert (by["postgres_exporter"].reads, by["postgres_exporter"].reads_tls) == (f"{db}:5432", True)
    assert (by["pgbouncer_exporter"].reads, by["pgbouncer_exporter"].reads_tls) == (f"{db}:6432", True)
    redis = [t.target for t in plan.monitoring["targets"].value if t.kind == "redis"]
    assert redis == ["rediss://staging-redis-cache:6379", "rediss://staging-redis-queue:6380"]


def test_a_node_exporter_away_from_prometheus_is_published_and_scraped_over_https_with_its_own_certificate():
    plan = on("staging")
    nodes = {t.name: t for t in plan.monitoring["targets"].value if t.kind == "node"}
    assert set(nodes) == {"db-0", "cache-0", "app-0", "app-1", "app-2"}
    assert not nodes["cache-0"].tls and nodes["cache-0"].address == "staging-monitoring-node-exporter-cache-0:9100"
    app1 = plan.spec.app_hosts()[0].addresses[1]
    assert nodes["app-1"].tls and nodes["app-1"].address == f"{app1}:9100"
    cert = plan.tls["monitoring-node-exporter-app-1"]
    assert app1 in cert.ip_addresses   # Prometheus verifies the name it connects to
    assert "monitoring-node-exporter-cache-0" not in plan.tls


def test_the_monitoring_containers_are_in_the_hosts_memory_and_limits():
    """Each container's memory limit is the item its host's memory budget counts."""
    plan = on("staging")
    for host in plan.hosts:
        items = dict(host.memory_items)
        limits = {c.service: c.memory_bytes for c in plan.containers[host.name]}
        assert limits["node-exporter"] == items["node_exporter"]
        if host.name == "cache":
            assert limits["prometheus"] == items["Prometheus"] == plan.monitoring["memory"].value
            assert {"alertmanager", "postgres-exporter", "pgbouncer-exporter", "redis-exporter"} <= set(limits)
        else:
            assert "Prometheus" not in items and "postgres-exporter" not in limits


def test_with_standbys_on_containers_the_exporter_follows_the_primary_and_every_node_member_and_sentinel_is_read():
    """staging with a standby and a queue replica: postgres_exporter reads through the proxy to the
    primary (its alias beside Prometheus, as PgBouncer does) over TLS; each Patroni's and etcd
    member's /metrics over HTTPS at its machine's address; each queue node and Sentinel over TLS
    (rediss://) at the address it announces; and every machine has a node exporter."""
    from tunestack.monitoring.containers import monitoring_containers
    from tunestack.plan.monitoring import docker_exporters

    from .test_ha import staging_ha
    from .test_queueha import staging_queue

    ha, queue = staging_ha(replicas=1), staging_queue()
    cache = next(h for h in queue.hosts if "cache" in h.roles)
    both = replace(ha, hosts=tuple(cache if "cache" in h.roles else h for h in ha.hosts), queue_ha=queue.queue_ha,
                   app=replace(ha.app, framework="python"), monitoring=MonitoringSpec(enabled=True))
    plan = build_plan(both, target="docker")
    assert not [w for w in plan.warnings if w.startswith("tunestack:monitoring")]
    exporter = next(e for e in docker_exporters(plan) if e.program == "postgres_exporter")
    assert (exporter.reads, exporter.reads_tls) == ("staging-postgres:5432", True)
    assert "staging-postgres" in plan.tls["postgres"].dns_names   # verify-full checks the name it dials
    targets = {(t.kind, t.name): t for t in plan.monitoring["targets"].value}
    for n in plan.ha["nodes"].value:
        patroni = targets[("patroni", n.name)]
        assert (patroni.address, patroni.tls) == (f"{n.address}:{n.rest_port}", True)
    for m in plan.ha["etcd members"].value:
        etcd = targets[("etcd", m.name)]
        assert (etcd.address, etcd.tls) == (f"{m.address}:{m.client_port}", True)
    for n in plan.queue_ha["nodes"].value:
        assert targets[("redis", n.name)].target == f"rediss://{n.address}:{n.port}"
    for m in plan.queue_ha["sentinels"].value:
        assert targets[("sentinel", m.name)].target == f"rediss://{m.address}:{m.port}"
    machines = {(h.name, i) for h in plan.spec.hosts for i in range(h.count)}
    assert {(c.host, c.machine) for c in monitoring_containers(plan) if c.service == "node-exporter"} == machines
    assert "Prometheus" in dict(next(h for h in plan.hosts if h.name == "cache").memory_items)


def test_the_monitoring_servers_are_in_the_hosts_memory_and_the_exporters_login_in_max_connections():
    """Turning monitoring on adds Prometheus (its planned memory), Alertmanager and each exporter to
    the host's memory items, and postgres_exporter's CONNECTION LIMIT to the direct connections."""
    from tunestack.plan.monitoring import ALERTMANAGER_MEMORY, EXPORTER_MEMORY, MONITOR_CONNECTIONS

    s = spec("local")
    off = build_plan(replace(s, monitoring=MonitoringSpec()))
    on = build_plan(replace(s, monitoring=MonitoringSpec(enabled=True)))
    added = dict(on.hosts[0].memory_items).keys() - dict(off.hosts[0].memory_items).keys()
    assert added == {"Prometheus", "Alertmanager", *EXPORTER_MEMORY}
    items = dict(on.hosts[0].memory_items)
    assert items["Prometheus"] == on.monitoring["memory"].value and items["Alertmanager"] == ALERTMANAGER_MEMORY
    budget = next(b for b in on.budgets if b.name == "memory on local")
    assert budget.used == sum(v for _, v in on.hosts[0].memory_items)
    server = next(b for b in on.budgets if b.name.startswith("server pools"))
    server_off = next(b for b in off.budgets if b.name.startswith("server pools"))
    assert server.used == server_off.used + MONITOR_CONNECTIONS


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_rollout_step_changes_what_is_scraped_but_never_prometheus_size(stack):
    """Prometheus' memory and disk are its container's limit and arguments: a change restarts it.
    They are sized for every app slot, so a canary coming and going (targets, delivered live)
    leaves them as they are (found by the dev stack's day-2 test on the real engine)."""
    s = spec(stack)
    steady = build_plan(s, target="docker")
    rolling = build_plan(replace(s, rollout=replace(s.rollout, canary_weight=50)), target="docker")
    tracks = [sorted(dict(t.labels)["track"] for t in p.monitoring["targets"].value if t.kind == "app")
              for p in (steady, rolling)]
    assert tracks[0] != tracks[1] and "canary" in tracks[1]
    for key in ("series", "memory", "disk"):
        assert steady.monitoring[key].value == rolling.monitoring[key].value, key
