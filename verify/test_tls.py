"""TLS between hosts (plan.tls): every server whose clients live on other hosts speaks only TLS,
with a certificate its clients verify against the stack's CA.

Run inside each server's container (on loopback: the certificate names 127.0.0.1 too):
- a client that verifies the certificate and its name gets in (libpq sslmode=verify-full, redis-cli
  --tls --cacert), and the server says the session is encrypted;
- a plaintext client is refused: PostgreSQL's pg_hba.conf has no line for it (hostssl only),
  PgBouncer requires TLS (client_tls_sslmode), Redis has no plaintext port (port 0);
PostgreSQL's own check that its network sessions are all encrypted is in test_postgres.py."""
from tunestack.plan.tls import CA_FILE
from tunestack.probes import psql_command
from verify.conftest import plan_of
from verify.helpers import redis_config

VERIFIED = f"PGSSLMODE=verify-full PGSSLROOTCERT={CA_FILE}"
# What each server says to a plaintext client (PostgreSQL: "pg_hba.conf rejects connection … no
# encryption"; PgBouncer 1.18: "SSL required").
PLAINTEXT_REFUSED = {"postgres": "no encryption", "pgbouncer": "SSL required"}


def pytest_generate_tests(metafunc):
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", sorted(plan_of(metafunc.config).tls))


def _sql(host, secrets_dir, plan, service, sql, env=VERIFIED, db="app", user="migrator"):
    """The result, not only the output: a refusal is what some checks expect."""
    return host.run(psql_command(secrets_dir, plan.ports()[service], sql, db, user, env=env))


def test_verified_client_is_encrypted(host, plan, secrets_dir, record, service):
    if service.startswith("redis-"):
        role = service.removeprefix("redis-")
        config = redis_config(host, secrets_dir, role, plan.redis[role]["port"].value, tls=True)
        said = f"tls-port {config.get('tls-port')}, port {config.get('port')}"
        record(f"tls-port {plan.redis[role]['port'].value}, port 0", said)
        return
    if service == "postgres":
        res = _sql(host, secrets_dir, plan, service, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    else:   # PgBouncer's console lists each client with its TLS session (SHOW CLIENTS, column tls)
        res = _sql(host, secrets_dir, plan, service, "SHOW CLIENTS", db="pgbouncer", user="tunestack_admin")
    said = res.stdout.strip() if res.rc == 0 else f"rc {res.rc}: {res.stderr.strip()[-120:]}"
    encrypted = res.rc == 0 and (said == "t" if service == "postgres" else "TLSv1." in said)
    record("a verified TLS session", "a verified TLS session" if encrypted else said, encrypted)


def test_plaintext_is_refused(host, plan, secrets_dir, record, service):
    if service.startswith("redis-"):
        role = service.removeprefix("redis-")
        res = host.run(f"timeout 10 redis-cli -h 127.0.0.1 -p {plan.redis[role]['port'].value} PING")
        said = (res.stdout + res.stderr).strip()
        refused = "PONG" not in said and "NOAUTH" not in said   # neither an answer nor an auth prompt
    else:
        res = _sql(host, secrets_dir, plan, service, "SELECT 1", env="PGSSLMODE=disable",
                   db="pgbouncer" if service == "pgbouncer" else "app",
                   user="tunestack_admin" if service == "pgbouncer" else "migrator")
        said = (res.stderr or res.stdout).strip()
        refused = res.rc != 0 and PLAINTEXT_REFUSED[service] in said
    record("plaintext refused", "plaintext refused" if refused else said[-120:], refused)
