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
    """A changed target, rule or receiver reloads them (tunestack-live); it is no container input.
    Their one rendered input is the HTTPS setting, which no plan change touches."""
    plan = staging()
    by = {c.service: c for c in monitoring_containers(plan)}
    assert by["prometheus"].live == ("alerts.yml", "prometheus.yml") and by["prometheus"].files == ("web-tls.yml",)
    assert by["alertmanager"].live == ("alertmanager.yml",) and by["alertmanager"].files == ("web-tls.yml",)
    assert ("TUNESTACK_SELF", f"https://localhost:{by['prometheus'].port}") in by["prometheus"].env


def test_across_machines_prometheus_and_alertmanager_answer_https_only_and_are_reached_so():
    """Standards, "TLS wherever traffic leaves a host": the operators' tools reach them at the cache
    host's address from elsewhere. Their certificates name every way they are reached; Prometheus
    scrapes both and sends alerts over verified HTTPS."""
    from tunestack.monitoring.config import prometheus_config
    from tunestack.plan.monitoring import api_url

    plan = staging()
    published = plan.monitoring["host address"].value
    for c in monitoring_containers(plan):
        if c.service in ("prometheus", "alertmanager"):
            cert = plan.tls[c.tls]
            assert set(cert.dns_names) == {c.name, "localhost"} and set(cert.ip_addresses) == {"127.0.0.1", published}
            assert "--web.config.file=/etc/tunestack/web-tls.yml" in c.command
            assert c.health == f"https://localhost:{c.port}/-/ready"
    assert api_url(plan, "prometheus") == f"https://{published}:9090"
    config = prometheus_config(plan)
    assert config["alerting"]["alertmanagers"][0]["scheme"] == "https"
    assert config["alerting"]["alertmanagers"][0]["tls_config"] == {"ca_file": CA_FILE}
    for job in config["scrape_configs"]:
        if job["job_name"] in ("prometheus", "alertmanager"):
            assert job["static_configs"][0]["labels"]["__scheme__"] == "https" and job["tls_config"]["ca_file"] == CA_FILE


def test_on_one_machine_they_stay_plain_http():
    """dev: nothing leaves the machine (the same rule as every server's TLS, plan/tls.py)."""
    from tunestack.plan.monitoring import api_url

    plan = build_plan(spec("dev"), target="docker")
    by = {c.service: c for c in monitoring_containers(plan)}
    assert not by["prometheus"].tls and not by["alertmanager"].tls and not by["prometheus"].files
    assert api_url(plan, "prometheus").startswith("http://127.0.0.1:")
