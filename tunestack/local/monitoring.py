"""The local stack's monitoring (issue #29, tunestack:monitoring): Prometheus, Alertmanager and the
exporters as supervisord programs, as the service user, listening on loopback only. Each exporter
logs in with credentials of its own, read from the service user's secret folder (never argv):

- postgres_exporter: role tunestack_monitor (pg_monitor), its password file (DATA_SOURCE_PASS_FILE);
- spreaker's pgbouncer exporter (PyPI, tunestack/recipes.py): PgBouncer's stats user
  tunestack_monitor, through libpq's PGPASSFILE;
- redis_exporter: the ACL user tunestack-monitor on both Redis, its passwords file
  (--redis.password-file: a JSON map from each Redis' URI to its password).

Binaries from Debian's packages (tunestack/local/packages.py MONITORING_BINARIES), but PgBouncer's
exporter (scripts/setup installs it)."""
from __future__ import annotations

import hashlib
import json

from ..plan.monitoring import MONITOR_ROLE, address_of, runs as enabled
from ..recipes import PGBOUNCER_EXPORTER_VENV
from ..servers import which
from .folders import StateFolders

PROGRAMS = ("node-exporter", "postgres-exporter", "pgbouncer-exporter", "redis-exporter", "alertmanager", "prometheus")
REDIS_USER = "tunestack-monitor"   # Redis ACL user names may hold a dash; the SQL role's may not unquoted
POSTGRES_PASSWORD_FILE = "postgres-exporter-password"
PGBOUNCER_PGPASS = "pgbouncer-exporter.pgpass"
REDIS_PASSWORDS = "redis-exporter-passwords.json"


def monitoring_programs(plan) -> tuple[str, ...]:
    return PROGRAMS if enabled(plan) else ()


def program_ports(plan) -> dict[str, int]:
    """Each program's planned port: a server's name in the stack file, with a dash for supervisord."""
    if not enabled(plan):
        return {}
    return {name.replace("_", "-"): port for name, port in plan.spec.monitoring.ports}


def redis_uris(plan) -> list[str]:
    return [t.target for t in plan.monitoring["targets"].value if t.kind == "redis"]


def pgpass_field(text: str) -> str:
    """libpq's password file: `:` and `\\` escaped with a backslash (PostgreSQL docs, 34.16)."""
    return text.replace("\\", "\\\\").replace(":", "\\:")


def redis_password_hash(password: str) -> str:
    """Redis ACL's `#<hash>` form: the SHA-256 of the password, hex (Redis docs, ACL rules)."""
    return hashlib.sha256(password.encode()).hexdigest()


def exporter_secret_files(plan, pw: dict[str, str]) -> dict[str, str]:
    """The exporters' own credentials, for the service user's secret folder."""
    if not enabled(plan):
        return {}
    bouncer = plan.pgbouncer["listen_port"].value
    return {POSTGRES_PASSWORD_FILE: pw["monitor-postgres"],
            PGBOUNCER_PGPASS: f"127.0.0.1:{bouncer}:pgbouncer:{MONITOR_ROLE}:{pgpass_field(pw['monitor-pgbouncer'])}\n",
            REDIS_PASSWORDS: json.dumps({uri: pw["monitor-redis"] for uri in redis_uris(plan)})}


def programs(plan, folders: StateFolders, program_env) -> list[dict]:
    """The supervisord programs; each listens on loopback at its planned port."""
    if not enabled(plan):
        return []
    etc, data, secrets, user = folders.etc, folders.data, folders.service_secrets, folders.user
    port, m = program_ports(plan), plan.monitoring
    hours = max(2, m["retention"].value // 3_600_000)

    def program(name: str, command: str, env: dict[str, str] | None = None) -> dict:
        return dict(name=name, user=user, startsecs=1, stopsignal="TERM", command=command,
                    environment=program_env({}, env or {}))
    return [
        program("node-exporter", f"{which('prometheus-node-exporter')} --web.listen-address=127.0.0.1:"
                f"{port['node-exporter']} --collector.textfile.directory={folders.metrics}"),
        program("postgres-exporter", f"{which('prometheus-postgres-exporter')} --web.listen-address=127.0.0.1:"
                f"{port['postgres-exporter']} --extend.query-path={etc}/postgres-exporter-queries.yml",
                {"DATA_SOURCE_URI": f"127.0.0.1:{plan.postgres['port'].value}/app?sslmode=disable",
                 "DATA_SOURCE_USER": MONITOR_ROLE, "DATA_SOURCE_PASS_FILE": str(secrets / POSTGRES_PASSWORD_FILE)}),
        program("pgbouncer-exporter", f"{PGBOUNCER_EXPORTER_VENV}/bin/pgbouncer-exporter --config "
                f"{etc}/pgbouncer-exporter.yml", {"PGPASSFILE": str(secrets / PGBOUNCER_PGPASS)}),
        program("redis-exporter", f"{which('prometheus-redis-exporter')} --web.listen-address=127.0.0.1:"
                f"{port['redis-exporter']} --redis.addr= --redis.user={REDIS_USER} "
                f"--redis.password-file={secrets / REDIS_PASSWORDS}"),
        program("alertmanager", f"{which('prometheus-alertmanager')} --config.file={etc}/alertmanager.yml "
                f"--storage.path={data}/alertmanager --web.listen-address=127.0.0.1:{port['alertmanager']} "
                "--cluster.listen-address="),   # empty: no gossip port, one Alertmanager
        program("prometheus", f"{which('prometheus')} --config.file={etc}/prometheus.yml "
                f"--storage.tsdb.path={data}/prometheus --storage.tsdb.retention.time={hours}h "
                f"--storage.tsdb.retention.size={m['disk'].value // (1024 * 1024)}MB "
                f"--rules.alert.resend-delay={m['alert_resend_delay'].text} "
                f"--web.listen-address=127.0.0.1:{port['prometheus']}"),
    ]


def actions(plan, changed: set[str]) -> dict[str, str]:
    """Prometheus and Alertmanager reread their files on SIGHUP; an exporter with a new password
    restarts."""
    if not enabled(plan):
        return {}
    out = {}
    if changed & {"prometheus.yml", "alerts.yml"}:
        out["prometheus"] = "reload"
    if "alertmanager.yml" in changed:
        out["alertmanager"] = "reload"
    if "postgres-exporter-queries.yml" in changed or f"service-secrets/{POSTGRES_PASSWORD_FILE}" in changed:
        out["postgres-exporter"] = "restart (new queries or password)"
    if "pgbouncer-exporter.yml" in changed or f"service-secrets/{PGBOUNCER_PGPASS}" in changed:
        out["pgbouncer-exporter"] = "restart (new file or password)"
    if f"service-secrets/{REDIS_PASSWORDS}" in changed:
        out["redis-exporter"] = "restart (new password)"
    return out


def wait_first_scrapes(plan) -> None:
    """After `up` starts Prometheus: every target scraped once (bounded by three intervals), so the
    stack's state printed next says up or down rather than "starting". Not a failure when it takes
    longer: status says what it sees."""
    from ..monitoring.api import MonitoringUnreachable, Prometheus
    from ..poll import poll

    if not enabled(plan):
        return
    prometheus = Prometheus(address_of(plan, "prometheus"))

    def scraped() -> bool:
        try:
            targets = prometheus.targets()
        except MonitoringUnreachable:
            return False
        return bool(targets) and all(t.health != "unknown" for t in targets)
    poll(scraped, 3 * plan.monitoring["scrape_interval"].value / 1000 + 10, interval=0.5)
