"""The monitoring containers of a Docker stack (tunestack/monitoring/containers.py), from the plan
alone: where each runs, what it is told, and that no credential is in a command or environment."""
from dataclasses import replace

from tunestack.images import images_by_machine
from tunestack.monitoring.containers import credentials, monitoring_containers
from tunestack.plan import build_plan
from tunestack.plan.tls import CA_FILE
from tunestack.stackfile.spec import MonitoringSpec

from tests.plan.helpers import spec


def staging():
    s = spec("staging")
    return build_plan(replace(s, monitoring=MonitoringSpec(enabled=True),
                              images={**s.images, "monitoring": "tunestack/monitoring:2.42"}), target="docker")


def test_a_node_exporter_on_every_machine_and_the_rest_beside_prometheus():
    plan = staging()
    by = {c.name: c for c in monitoring_containers(plan)}
    nodes = [c for c in by.values() if c.service == "node-exporter"]
    assert sorted((c.host, c.machine) for c in nodes) == sorted(
        (h.name, i) for h in plan.spec.hosts for i in range(h.count))
    assert {c.host for c in by.values() if c.service != "node-exporter"} == {"cache"}
    # every machine that runs one gets the monitoring image, and only those need it
    machines = {(c.host, c.machine) for c in by.values()}
    assert {m for m, refs in images_by_machine(plan).items() if plan.spec.images["monitoring"] in refs} == machines


def test_published_node_exporters_serve_https_with_their_own_certificate_and_the_rest_publish_nothing():
    plan = staging()
    for c in monitoring_containers(plan):
        if c.service == "node-exporter" and c.publish:
            assert c.tls in plan.tls and c.health.startswith("https://localhost:")
            assert any(a.startswith("--web.config.file=") for a in c.command)
        elif c.service in ("prometheus", "alertmanager"):   # the operator's tools reach these
            assert c.publish == ((c.port, plan.monitoring["host address"].value),)
        else:
            assert not c.publish and not c.tls


def test_exporters_read_published_servers_over_verified_tls_and_no_secret_is_in_argv_or_env():
    plan = staging()
    by = {c.service: c for c in monitoring_containers(plan)}
    env = dict(by["postgres-exporter"].env)
    assert env["DATA_SOURCE_URI"].endswith(f"?sslmode=verify-full&sslrootcert={CA_FILE}")
    assert by["postgres-exporter"].ca and by["pgbouncer-exporter"].ca and by["redis-exporter"].ca
    passwords = {"monitor-postgres": "pg-Secret-1", "monitor-pgbouncer": "pgb:Secret\\2", "monitor-redis": "r-Secret-3"}
    files = credentials(plan, passwords)
    # libpq's password file escapes ':' and '\' (PostgreSQL docs, 34.16 "The Password File")
    assert files["pgbouncer-exporter.pgpass"].endswith(":pgb\\:Secret\\\\2\n")
    for c in monitoring_containers(plan):
        said = " ".join(c.command) + " " + " ".join(f"{k}={v}" for k, v in c.env)
        assert not any(p in said for p in passwords.values()), c.name


def test_prometheus_and_alertmanager_take_their_files_live():
    """A changed target, rule or receiver reloads them (tunestack-live); it is no container input."""
    plan = staging()
    by = {c.service: c for c in monitoring_containers(plan)}
    assert by["prometheus"].live == ("alerts.yml", "prometheus.yml") and not by["prometheus"].files
    assert by["alertmanager"].live == ("alertmanager.yml",)
    assert ("TUNESTACK_SELF", f"http://127.0.0.1:{by['prometheus'].port}") in by["prometheus"].env
