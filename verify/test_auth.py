"""Nothing answers without a password: PostgreSQL and PgBouncer refuse a login that brings none
(no `trust` anywhere), and each Redis answers NOAUTH to a client that did not authenticate."""
import pytest

from tunestack.probes import redis_tls_flags


@pytest.mark.parametrize("service", ["postgres", "pgbouncer"])
def test_sql_login_without_a_password_is_refused(host, plan, record, service):
    port = plan.ports()[service]
    # -w: never prompt; no password file either, so only the server's own rules decide.
    res = host.run(f"PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p {port} -U app -d app -w -AtX "
                   "-c 'SELECT 1'")
    refused = res.rc != 0 and "password" in res.stderr
    said = (res.stderr or res.stdout).strip().splitlines()
    record("refused: a password is required", "refused: a password is required" if refused
           else f"rc {res.rc}: {said[-1][:80] if said else ''}", refused)


@pytest.mark.parametrize("role", ["cache", "queue"])
def test_redis_without_a_password_answers_noauth(host, plan, record, role):
    port = plan.redis[role]["port"].value
    # Over TLS where the instance serves only TLS: the password is what this check is about.
    res = host.run(f"redis-cli {redis_tls_flags(f'redis-{role}' in plan.tls)}-h 127.0.0.1 -p {port} PING")
    said = (res.stdout + res.stderr).strip()
    record("NOAUTH", "NOAUTH" if "NOAUTH" in said else said[:80], "NOAUTH" in said)
