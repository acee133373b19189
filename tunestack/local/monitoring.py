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

from ..monitoring import servers
from ..monitoring.servers import PGBOUNCER_PGPASS, POSTGRES_PASSWORD_FILE, REDIS_PASSWORDS
from ..plan.monitoring import api_address, runs as enabled
from ..recipes import PGBOUNCER_EXPORTER_VENV
from ..servers import which
from .folders import StateFolders

PROGRAMS = ("node-exporter", "postgres-exporter", "pgbouncer-exporter", "redis-exporter", "alertmanager", "prometheus")


def monitoring_programs(plan) -> tuple[str, ...]:
    return PROGRAMS if enabled(plan) else ()


def program_ports(plan) -> dict[str, int]:
    """Each program's planned port: a server's name in the stack file, with a dash for supervisord."""
    if not enabled(plan):
        return {}
    return {name.replace("_", "-"): port for name, port in plan.spec.monitoring.ports}


def exporter_secret_files(plan, pw: dict[str, str]) -> dict[str, str]:
    """The exporters' own credentials, for the service user's secret folder."""
    if not enabled(plan):
        return {}
    return servers.secret_files(plan, pw, f"127.0.0.1:{plan.pgbouncer['listen_port'].value}")


def programs(plan, folders: StateFolders, program_env) -> list[dict]:
    """The supervisord programs; each listens on loopback at its planned port."""
    if not enabled(plan):
        return []
    port = program_ports(plan)
    paths = servers.Paths(str(folders.etc), str(folders.data), str(folders.service_secrets))

    def at(name: str) -> str:
        return f"127.0.0.1:{port[name]}"

    def program(name: str, argv: list[str], env: dict[str, str] | None = None) -> dict:
        return dict(name=name, user=folders.user, startsecs=1, stopsignal="TERM", command=" ".join(argv),
                    environment=program_env({}, env or {}))
    return [
        program("node-exporter", servers.node_exporter(which("prometheus-node-exporter"), at("node-exporter"),
                                                       textfiles=str(folders.metrics))),
        program("postgres-exporter", servers.postgres_exporter(which("prometheus-postgres-exporter"), paths,
                                                               at("postgres-exporter")),
                servers.postgres_exporter_env(f"127.0.0.1:{plan.postgres['port'].value}", False, paths)),
        program("pgbouncer-exporter", servers.pgbouncer_exporter(PGBOUNCER_EXPORTER_VENV, paths),
                servers.pgbouncer_exporter_env(paths)),
        program("redis-exporter", servers.redis_exporter(which("prometheus-redis-exporter"), paths,
                                                         at("redis-exporter"))),
        program("alertmanager", servers.alertmanager(which("prometheus-alertmanager"), paths, at("alertmanager"))),
        program("prometheus", servers.prometheus(plan, which("prometheus"), paths, at("prometheus"))),
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
    prometheus = Prometheus(api_address(plan, "prometheus"))

    def scraped() -> bool:
        try:
            targets = prometheus.targets()
        except MonitoringUnreachable:
            return False
        return bool(targets) and all(t.health != "unknown" for t in targets)
    poll(scraped, 3 * plan.monitoring["scrape_interval"].value / 1000 + 10, interval=0.5)
