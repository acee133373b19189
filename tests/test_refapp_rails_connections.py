"""The Rails reference app across hosts and during a rotation (issue #25 points 4 and 8), on real
servers: Redis over TLS verified against the stack's CA, a server whose certificate another CA
signed refused; and the previous database password used when PostgreSQL refuses the new one, as
the Python, Go and Node apps do (refapp/rails/connections.rb)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import redis as redis_py

from tests.realservers import free_port, own, start_postgres
from tunestack.paths import ROOT
from tunestack.poll import wait_until
from tunestack.servers import psql_socket, service_user, which

pytestmark = pytest.mark.servers
CONNECTIONS = ROOT / "refapp" / "rails" / "connections.rb"


def ruby(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["ruby", "-e", f"require {str(CONNECTIONS)!r}\n" + script], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], **env}, timeout=60)


@pytest.fixture(scope="module")
def reachable():
    """Folders the unprivileged server user can reach (pytest's tmp_path is root-only)."""
    made = []

    def folder():
        made.append(Path(tempfile.mkdtemp(prefix="tunestack-test-")))
        made[-1].chmod(0o755)
        return made[-1]
    yield folder
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres(reachable):
    work = reachable()
    hba = work / "hba.conf"
    hba.write_text("local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n")
    server = start_postgres(work, f"hba_file = '{hba}'\npassword_encryption = 'scram-sha-256'\n")
    own(work)
    res = psql_socket(str(work / "pgsock"), server.port, "CREATE ROLE app LOGIN PASSWORD 'before'")
    assert res.returncode == 0, res.stderr
    yield server
    server.stop()


CONNECT = ('ActiveRecord::Base.establish_connection(adapter: "postgresql", host: "127.0.0.1", port: ENV["PGPORT"], '
           'database: "postgres", username: "app", password: RefApp.secret("DATABASE_PASSWORD"))\n'
           'puts ActiveRecord::Base.connection.select_value("SELECT current_user")\n')


def test_the_previous_password_is_used_while_the_server_still_has_it(postgres):
    res = ruby(CONNECT, {"PGPORT": str(postgres.port), "DATABASE_PASSWORD": "after",
                         "DATABASE_PASSWORD_PREVIOUS": "before"})
    assert res.returncode == 0 and res.stdout.strip() == "app", res.stderr[-800:]


@pytest.mark.parametrize("env", [{"DATABASE_PASSWORD": "after"},
                                 {"DATABASE_PASSWORD": "after", "DATABASE_PASSWORD_PREVIOUS": "wrong"}])
def test_without_a_previous_password_that_works_the_refusal_stands(postgres, env):
    res = ruby(CONNECT, {"PGPORT": str(postgres.port), **env})
    assert res.returncode != 0 and "ConnectionNotEstablished" in res.stderr and "password authentication failed" \
        in res.stderr


def _ca(work, name):
    key, cert = work / f"{name}.key", work / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return key, cert


@pytest.fixture(scope="module")
def tls_redis(reachable):
    work = reachable()
    ca_key, ca = _ca(work, "stack-ca")
    _, other_ca = _ca(work, "other-ca")
    key, csr, cert = work / "server.key", work / "server.csr", work / "server.crt"
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=redis", "-keyout", str(key),
                    "-out", str(csr)], check=True, capture_output=True)
    (work / "san.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
                    "-days", "2", "-extfile", str(work / "san.ext"), "-out", str(cert)], check=True, capture_output=True)
    (work / "secret.conf").write_text("requirepass queue-secret\n")   # a password never on a command line
    own(work)
    port = free_port()
    server = subprocess.Popen([which("redis-server"), str(work / "secret.conf"), "--port", "0", "--tls-port", str(port),
                               "--bind", "127.0.0.1", "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                               "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no", "--save", "",
                               "--appendonly", "no", "--dir", str(work)],
                              user=service_user(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis_py.Redis(host="127.0.0.1", port=port, password="queue-secret", ssl=True, ssl_ca_certs=str(ca))
        wait_until(client.ping, 20, "Redis over TLS")
        yield port, ca, other_ca
    finally:
        server.terminate()
        server.wait(10)


PING = 'require "redis"\nurl = ENV["REDIS_URL"]\nputs Redis.new(url: url, password: "queue-secret", **RefApp.redis_tls(url)).ping\n'


def test_rediss_is_verified_against_the_stacks_ca(tls_redis):
    port, ca, _ = tls_redis
    res = ruby(PING, {"REDIS_URL": f"rediss://127.0.0.1:{port}/0", "REDIS_TLS_CA_FILE": str(ca)})
    assert res.returncode == 0 and res.stdout.strip() == "PONG", res.stderr[-800:]


def test_a_server_another_ca_signed_is_refused(tls_redis):
    port, _, other_ca = tls_redis
    res = ruby(PING, {"REDIS_URL": f"rediss://127.0.0.1:{port}/0", "REDIS_TLS_CA_FILE": str(other_ca)})
    assert res.returncode != 0 and "certificate verify failed" in res.stderr, res.stderr[-800:]
