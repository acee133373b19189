"""The monitoring containers of a stack on Docker, from its plan: what each runs, with which files,
secrets and ports, and how its health is probed. Pure; components/monitoring.py creates them.

Prometheus, Alertmanager and the three server exporters run on the monitoring host (the cache
host, plan/monitoring.py); a node exporter runs on every machine, reading the host's /proc, /sys
and root file system (mounted read-only; node_exporter docs, "Docker": --path.rootfs, the host's
PID namespace). Prometheus and Alertmanager are published on the monitoring host's address for the
operator's tools; a node exporter on another machine is published on its own. Whatever is reached
from another machine answers HTTPS only (exporter-toolkit's web config), verified against the
stack's CA. Every process runs as the image's `prometheus` user."""
from __future__ import annotations

from dataclasses import dataclass

from ..plan.monitoring import docker_exporters, monitoring_host, monitoring_name, on_containers, serves_https
from ..paths import LIVE_DIR
from ..recipes import PGBOUNCER_EXPORTER_VENV
from . import servers

ETC, DATA, SECRETS = "/etc/tunestack", "/var/lib/tunestack", "/etc/tunestack/secrets"
PATHS = servers.Paths(ETC, DATA, SECRETS)
LIVE_PATHS = servers.Paths(LIVE_DIR, DATA, SECRETS)   # reloaded on SIGHUP
HOST_ROOT = "/host"                     # the machine's / inside a node exporter's container
WEB_CONFIG = "web-tls.yml"              # HTTPS for node_exporter, Prometheus, Alertmanager (exporter-toolkit)
BINARIES = {"prometheus": "/usr/bin/prometheus", "alertmanager": "/usr/bin/prometheus-alertmanager",
            "node_exporter": "/usr/bin/prometheus-node-exporter",
            "postgres_exporter": "/usr/bin/prometheus-postgres-exporter",
            "redis_exporter": "/usr/bin/prometheus-redis-exporter"}


@dataclass(frozen=True)
class MonitoringContainer:
    name: str                      # container name and private-network alias
    service: str                   # its limit in plan.containers (the host's)
    host: str
    machine: int
    command: tuple[str, ...]
    health: str                    # the URL its healthcheck fetches inside the container
    env: tuple[tuple[str, str], ...] = ()
    files: tuple[str, ...] = ()    # rendered files, uploaded to ETC/<name>
    secrets: tuple[str, ...] = ()  # exporter credentials (servers.secret_files), uploaded to SECRETS/<name>
    tls: str = ""                  # plan.tls key of its server certificate (HTTPS), or ""
    ca: bool = False               # verifies servers with the stack's CA
    data: str = ""                 # a volume at this path
    publish: tuple[tuple[int, str], ...] = ()   # (port, host address)
    host_root: bool = False        # the machine's / read-only at HOST_ROOT, and its PID namespace
    live: tuple[str, ...] = ()     # rendered files delivered live to LIVE_DIR/<name> (a reload, no replacement)

    @property
    def port(self) -> int:
        return int(self.health.rsplit(":", 1)[1].split("/", 1)[0])


def monitoring_containers(plan) -> tuple[MonitoringContainer, ...]:
    """Nothing unless monitoring runs on this Docker stack (plan/monitoring.with_monitoring)."""
    if not on_containers(plan.spec, plan.placement.docker):
        return ()

    def listen(p: int) -> str:
        return f"0.0.0.0:{p}"   # inside its container: reached by its alias, or where it is published
    out = []
    for e in docker_exporters(plan):
        if e.program == "node_exporter":
            tls = e.container.removeprefix(f"{plan.stack}-") if e.publish else ""
            out.append(MonitoringContainer(
                e.container, "node-exporter", e.host, e.machine,
                tuple(servers.node_exporter(BINARIES["node_exporter"], listen(e.port), rootfs=HOST_ROOT,
                                            web_config=f"{ETC}/{WEB_CONFIG}" if tls else "")),
                f"{'https://localhost' if tls else 'http://127.0.0.1'}:{e.port}/", files=(WEB_CONFIG,) if tls else (),
                tls=tls, ca=bool(tls), publish=((e.port, e.publish),) if e.publish else (), host_root=True))
        elif e.program == "postgres_exporter":
            out.append(MonitoringContainer(
                e.container, "postgres-exporter", e.host, e.machine,
                tuple(servers.postgres_exporter(BINARIES["postgres_exporter"], PATHS, listen(e.port))),
                f"http://127.0.0.1:{e.port}/", tuple(servers.postgres_exporter_env(e.reads, e.reads_tls, PATHS).items()),
                ("postgres-exporter-queries.yml",), (servers.POSTGRES_PASSWORD_FILE,), ca=e.reads_tls))
        elif e.program == "pgbouncer_exporter":
            out.append(MonitoringContainer(
                e.container, "pgbouncer-exporter", e.host, e.machine,
                tuple(servers.pgbouncer_exporter(PGBOUNCER_EXPORTER_VENV, PATHS)), f"http://127.0.0.1:{e.port}/",
                tuple(servers.pgbouncer_exporter_env(PATHS).items()), ("pgbouncer-exporter.yml",),
                (servers.PGBOUNCER_PGPASS,), ca=e.reads_tls))
        else:
            out.append(MonitoringContainer(
                e.container, "redis-exporter", e.host, e.machine,
                tuple(servers.redis_exporter(BINARIES["redis_exporter"], PATHS, listen(e.port), tls=e.reads_tls)),
                f"http://127.0.0.1:{e.port}/", secrets=(servers.REDIS_PASSWORDS,), ca=e.reads_tls))
    return tuple(out) + _servers(plan)


def _servers(plan) -> tuple[MonitoringContainer, ...]:
    """Prometheus and Alertmanager on the monitoring host, published on its address; HTTPS only
    where that address is reached from other machines (plan/monitoring.serves_https). Targets, rules
    and the receiver follow the plan live: tunestack-live reloads the server in place
    (images/monitoring/live.sh), told where it answers by TUNESTACK_SELF."""
    home, published, https = monitoring_host(plan.spec).name, plan.monitoring["host address"].value, serves_https(plan)
    web_config = f"{ETC}/{WEB_CONFIG}" if https else ""
    self_url = "https://localhost" if https else "http://127.0.0.1"
    out = []
    for kind, live, data in (("alertmanager", ("alertmanager.yml",), "alertmanager"),
                             ("prometheus", ("alerts.yml", "prometheus.yml"), "prometheus")):
        p = plan.spec.monitoring.port(kind)
        command = (servers.alertmanager(BINARIES[kind], LIVE_PATHS, f"0.0.0.0:{p}", web_config) if kind == "alertmanager"
                   else servers.prometheus(plan, BINARIES[kind], LIVE_PATHS, f"0.0.0.0:{p}", web_config))
        out.append(MonitoringContainer(
            monitoring_name(plan.stack, kind), kind, home, 0, tuple(command), f"{self_url}:{p}/-/ready",
            (("TUNESTACK_SELF", f"{self_url}:{p}"),), files=(WEB_CONFIG,) if https else (),
            tls=f"monitoring-{kind}" if https else "", ca=https or (kind == "prometheus" and bool(plan.tls)),
            live=live, data=f"{DATA}/{data}", publish=((p, published),)))
    return tuple(out)


def credentials(plan, passwords: dict[str, str]) -> dict[str, str]:
    """The exporters' secret files (servers.secret_files) by name, for the PgBouncer they read as
    the exporter beside Prometheus reaches it. `passwords`: monitor-postgres, -pgbouncer, -redis."""
    bouncer = next(e.reads for e in docker_exporters(plan) if e.program == "pgbouncer_exporter")
    return servers.secret_files(plan, passwords, bouncer)
