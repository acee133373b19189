"""A node exporter away from Prometheus answers HTTPS only (issue #29: TLS wherever traffic leaves a
host). The prod stack's program, under Pulumi's mocks (which sign real certificates), gives the db
machine's node exporter its web config, certificate, key and CA; Debian's node_exporter runs here
with exactly those files on loopback: a client that verifies against the stack's CA is answered,
plaintext HTTP is not, and a client with another CA is refused."""
from __future__ import annotations

import shutil
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from components.mockrun import run_program
from tests.docker.replay import CONTAINER, plain
from tests.realservers import free_port
from tunestack.plan.tls import CA_FILE
from tunestack.poll import wait_until

pytestmark = pytest.mark.servers
EXPORTER = "prod-monitoring-node-exporter-db-0"


@pytest.fixture(scope="module")
def exporter(tmp_path_factory):
    binary = shutil.which("prometheus-node-exporter")
    if not binary:
        pytest.skip("prometheus-node-exporter is not installed: scripts/setup installs it")
    (container,) = [plain(c.inputs) for c in run_program("prod").of_type(CONTAINER) if plain(c.inputs)["name"] == EXPORTER]
    uploads = {u["file"]: u["content"] for u in container["uploads"]}
    here = tmp_path_factory.mktemp("node-exporter")
    moved = {path: here / path.lstrip("/").replace("/", "_") for path in uploads}
    for path, content in uploads.items():   # the same files, at paths of this machine
        for old, new in moved.items():
            content = content.replace(old, str(new))
        moved[path].write_text(content)
    moved_ca = moved[CA_FILE]
    command = container["command"]
    web_config = next(a.split("=", 1)[1] for a in command if a.startswith("--web.config.file="))
    port = free_port()
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={moved[web_config]}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield port, moved_ca, proc
    finally:
        proc.terminate()
        proc.wait(10)


def get(url: str, cafile=None):
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    with urllib.request.urlopen(url, timeout=5, context=context) as answer:
        return answer.status, answer.read().decode()


def test_a_client_verifying_the_stacks_ca_is_answered(exporter):
    port, ca, proc = exporter
    # "localhost" is among the certificate's names (the container's own healthcheck uses it)
    status, body = wait_until(lambda: get(f"https://localhost:{port}/metrics", ca), 20, "node_exporter over HTTPS")
    assert status == 200 and "node_memory_MemTotal_bytes" in body


def test_plaintext_is_not_served(exporter):
    port, ca, proc = exporter
    wait_until(lambda: get(f"https://localhost:{port}/", ca), 20, "node_exporter over HTTPS")
    with pytest.raises(urllib.error.HTTPError) as err:   # Go's TLS server: 400, and why
        get(f"http://127.0.0.1:{port}/metrics")
    assert err.value.code == 400 and b"HTTPS server" in err.value.read()


def test_a_client_trusting_another_ca_is_refused(exporter):
    port, ca, proc = exporter
    wait_until(lambda: get(f"https://localhost:{port}/", ca), 20, "node_exporter over HTTPS")
    with pytest.raises(urllib.error.URLError) as err:
        get(f"https://localhost:{port}/metrics", "/etc/ssl/certs/ca-certificates.crt")
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
