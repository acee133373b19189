"""Prometheus' size (plan/monitoring.py, issue #29): what it scrapes, and the disk and memory that
follow from the series, recomputed here from the sources' own figures."""
from dataclasses import replace

import pytest

from tunestack.errors import StackError
from tunestack.plan import build_plan
from tunestack.plan.monitoring import SERIES, disk_needed, longest_retention_ms
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


def test_the_disk_follows_the_prometheus_docs_formula():
    """Prometheus docs, Storage: retention seconds × samples per second × bytes per sample (1-2;
    planned at 2), here with 10 % for indexes, plus the write-ahead log: at least three 128 MiB
    segments."""
    # 10,000 series every 15 s for 15 days: 666.67 samples/s × 1,296,000 s × 2 B × 1.1 = 1,900,800,000 B;
    # the log: 3 h of raw samples at 16 B is 115,200,000 B, under its minimum of 3 × 128 MiB
    assert abs(disk_needed(10_000, 15_000, 15 * 86_400_000) - (1_900_800_000 + 3 * 128 * MIB)) <= 1


def test_the_longest_retention_is_what_the_disk_holds_after_the_log():
    days = longest_retention_ms(10_000, 15_000, 10 * GIB) / 86_400_000
    assert disk_needed(10_000, 15_000, int(days * 86_400_000)) <= 10 * GIB < \
        disk_needed(10_000, 15_000, int((days + 0.1) * 86_400_000))


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


def test_monitoring_on_containers_is_said_not_to_run_there_yet():
    s = spec("staging")
    plan = build_plan(replace(s, monitoring=MonitoringSpec(enabled=True)), target="docker")
    assert any(w.startswith("tunestack:monitoring: ") and "on containers none is deployed" in w for w in plan.warnings)
    assert "Prometheus" not in dict(plan.hosts[0].memory_items)   # nothing planned that does not run


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
