"""Prometheus and Alertmanager across machines answer HTTPS only (Standards: TLS wherever traffic
leaves a host; the operators' tools reach them at the cache host's address). The prod stack's
program, under Pulumi's mocks (which sign real certificates), gives both containers their web
config, certificate, key and the CA; Debian's Prometheus and Alertmanager run here with exactly
those files and arguments on loopback ports of their own:

- `status`'s client (tunestack.monitoring.api) verifying the stack's CA reads Prometheus;
- Prometheus sends an alert to Alertmanager with the alerting section the plan renders (scheme
  https, the stack's CA), and scrapes both over verified HTTPS;
- plaintext HTTP gets no answer, and a client trusting another CA is refused.

Nothing is sent to prod's own addresses (they belong to no one here): the targets are these two."""
from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml

from components.mockrun import run_program
from tests.docker.replay import CONTAINER, plain
from tests.realservers import free_port
from tunestack import stackfile
from tunestack.monitoring.api import Prometheus
from tunestack.monitoring.config import prometheus_config
from tunestack.plan import build_plan
from tunestack.plan.tls import CA_FILE
from tunestack.poll import wait_until
from tunestack.servers import which

pytestmark = pytest.mark.servers


def uploads_of(containers: list[dict], name: str, here) -> tuple[list[str], dict[str, str]]:
    """The container's command and its uploaded files, written under `here` (path → local path)."""
    (c,) = [c for c in containers if c["name"] == name]
    moved = {}
    for u in c["uploads"]:
        local = here / u["file"].lstrip("/").replace("/", "_")
        local.write_text(u["content"])
        moved[u["file"]] = str(local)
    for local in moved.values():   # the web config names the certificate and key by their container paths
        text = open(local).read()
        for old, new in moved.items():
            text = text.replace(old, new)
        open(local, "w").write(text)
    return c["command"], moved


def flag(command: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in command if a.startswith(f"--{name}="))


def fetch(url: str, cafile=None) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    with urllib.request.urlopen(url, timeout=5, context=context) as answer:
        return answer.status, answer.read()


def get(url: str, cafile=None):
    return json.loads(fetch(url, cafile)[1])


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    plan = build_plan(stackfile.load(stackfile.stack_path("prod"), name="prod"), target="docker")
    containers = [plain(c.inputs) for c in run_program("prod").of_type(CONTAINER)]
    here = tmp_path_factory.mktemp("monitoring-https")
    prom_cmd, prom_files = uploads_of(containers, "prod-monitoring-prometheus", here)
    am_cmd, am_files = uploads_of(containers, "prod-monitoring-alertmanager", here)
    ca = prom_files[CA_FILE]
    prom_port, am_port = free_port(), free_port()
    # The plan's alerting section, pointed at this Alertmanager by a name its certificate holds
    # (localhost), the CA at this machine's path; both servers scraped as the plan scrapes them.
    alerting = prometheus_config(plan)["alerting"]
    alerting["alertmanagers"][0]["static_configs"] = [{"targets": [f"localhost:{am_port}"]}]
    alerting["alertmanagers"][0]["tls_config"]["ca_file"] = ca
    jobs = [{"job_name": k, "scheme": "https", "tls_config": {"ca_file": ca},
             "static_configs": [{"targets": [f"localhost:{p}"]}]} for k, p in (("prometheus", prom_port),
                                                                               ("alertmanager", am_port))]
    (here / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "t", "rules": [
        {"alert": "Always", "expr": "vector(1)", "for": "0s", "labels": {"severity": "info"}}]}]}))
    (here / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "alerting": alerting,
        "rule_files": [str(here / "rules.yml")], "scrape_configs": jobs}))
    (here / "alertmanager.yml").write_text(yaml.safe_dump({"route": {"receiver": "none", "group_wait": "1s"},
                                                           "receivers": [{"name": "none"}]}))
    started = [subprocess.Popen([which("prometheus-alertmanager"), f"--config.file={here / 'alertmanager.yml'}",
                                 f"--storage.path={here / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                                 "--cluster.listen-address=",
                                 f"--web.config.file={am_files[flag(am_cmd, 'web.config.file')]}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        # Alertmanager first: a first notification that fails waits for the resend delay
        wait_until(lambda: fetch(f"https://localhost:{am_port}/-/ready", ca)[0] == 200, 30, "Alertmanager")
        started.append(subprocess.Popen(
            [which("prometheus"), f"--config.file={here / 'prometheus.yml'}", f"--storage.tsdb.path={here / 'prom-data'}",
             f"--web.listen-address=127.0.0.1:{prom_port}",
             # its first evaluations run before it has found its Alertmanager: resent after this
             "--rules.alert.resend-delay=2s",
             f"--web.config.file={prom_files[flag(prom_cmd, 'web.config.file')]}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield {"prometheus": prom_port, "alertmanager": am_port, "ca": ca}
    finally:
        for p in started:
            p.terminate()
            p.wait(10)


def test_prometheus_is_read_over_verified_https_and_scrapes_both_so(servers):
    api = Prometheus(f"https://localhost:{servers['prometheus']}", open(servers["ca"]).read())
    wait_until(lambda: {t.job: t.health for t in api.targets()} == {"prometheus": "up", "alertmanager": "up"}, 30,
               "Prometheus scraping itself and Alertmanager over HTTPS")


def test_prometheus_delivers_alerts_to_alertmanager_over_https(servers):
    url = f"https://localhost:{servers['alertmanager']}/api/v2/alerts"
    wait_until(lambda: any(a["labels"]["alertname"] == "Always" for a in get(url, servers["ca"])), 60,
               "the alert in Alertmanager")


@pytest.mark.parametrize("server", ["prometheus", "alertmanager"])
def test_plaintext_gets_no_answer_and_another_ca_is_refused(servers, server):
    port = servers[server]
    wait_until(lambda: fetch(f"https://localhost:{port}/-/ready", servers["ca"])[0] == 200, 30, f"{server} ready")
    with pytest.raises(urllib.error.HTTPError) as err:   # Go's TLS server answers 400 to plain HTTP
        fetch(f"http://127.0.0.1:{port}/-/ready")
    assert err.value.code == 400
    with pytest.raises(urllib.error.URLError) as err:
        fetch(f"https://localhost:{port}/-/ready", "/etc/ssl/certs/ca-certificates.crt")
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
