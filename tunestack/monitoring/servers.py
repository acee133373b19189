"""How each monitoring server is started, from the plan: one argument list per program, for the
local stack's supervisord programs and the Pulumi program's containers alike. Pure.

Flags as each program documents them (`--help` of Prometheus 2.42, Alertmanager 0.25,
node_exporter 1.5, postgres_exporter 0.11, redis_exporter 1.x; spreaker's pgbouncer-exporter 2.1)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..plan.monitoring import MONITOR_ROLE
from ..plan.tls import CA_FILE

MIB = 1024 * 1024


@dataclass(frozen=True)
class Paths:
    """Where a program finds its files and keeps its data: the local stack's state folders, or a
    container's own paths."""
    etc: str          # prometheus.yml, alerts.yml, alertmanager.yml, the exporters' files
    data: str         # Prometheus' TSDB and Alertmanager's silences, under <data>/<program>
    secrets: str      # the exporters' credentials


def prometheus(plan, binary: str, paths: Paths, listen: str, web_config: str = "") -> list[str]:
    """`web_config`: HTTPS (exporter-toolkit's file), as for node_exporter."""
    m = plan.monitoring
    hours = max(2, m["retention"].value // 3_600_000)
    return [binary, f"--config.file={paths.etc}/prometheus.yml", f"--storage.tsdb.path={paths.data}/prometheus",
            f"--storage.tsdb.retention.time={hours}h", f"--storage.tsdb.retention.size={m['disk'].value // MIB}MB",
            f"--rules.alert.resend-delay={m['alert_resend_delay'].text}", f"--web.listen-address={listen}",
            *([f"--web.config.file={web_config}"] if web_config else [])]


def alertmanager(binary: str, paths: Paths, listen: str, web_config: str = "") -> list[str]:
    return [binary, f"--config.file={paths.etc}/alertmanager.yml", f"--storage.path={paths.data}/alertmanager",
            f"--web.listen-address={listen}", "--cluster.listen-address=",   # empty: no gossip port, one Alertmanager
            *([f"--web.config.file={web_config}"] if web_config else [])]


def node_exporter(binary: str, listen: str, textfiles: str = "", rootfs: str = "", web_config: str = "") -> list[str]:
    """`rootfs`: the host's root mounted read-only in a container; `web_config`: TLS (exporter-toolkit)."""
    return [binary, f"--web.listen-address={listen}",
            *([f"--collector.textfile.directory={textfiles}"] if textfiles else []),
            *([f"--path.rootfs={rootfs}"] if rootfs else []),
            *([f"--web.config.file={web_config}"] if web_config else [])]


def postgres_exporter(binary: str, paths: Paths, listen: str) -> list[str]:
    return [binary, f"--web.listen-address={listen}", f"--extend.query-path={paths.etc}/postgres-exporter-queries.yml"]


POSTGRES_PASSWORD_FILE = "postgres-exporter-password"
PGBOUNCER_PGPASS = "pgbouncer-exporter.pgpass"
REDIS_PASSWORDS = "redis-exporter-passwords.json"
REDIS_USER = "tunestack-monitor"   # Redis ACL user names may hold a dash; the SQL role's may not unquoted


def postgres_exporter_env(reads: str, tls: bool, paths: Paths) -> dict[str, str]:
    """The server it reads as tunestack_monitor; the password from its file (never argv or env)."""
    ssl = f"sslmode=verify-full&sslrootcert={CA_FILE}" if tls else "sslmode=disable"
    return {"DATA_SOURCE_URI": f"{reads}/app?{ssl}", "DATA_SOURCE_USER": MONITOR_ROLE,
            "DATA_SOURCE_PASS_FILE": f"{paths.secrets}/{POSTGRES_PASSWORD_FILE}"}


def pgbouncer_exporter(venv: str, paths: Paths) -> list[str]:
    return [f"{venv}/bin/pgbouncer-exporter", "--config", f"{paths.etc}/pgbouncer-exporter.yml"]


def pgbouncer_exporter_env(paths: Paths) -> dict[str, str]:
    return {"PGPASSFILE": f"{paths.secrets}/{PGBOUNCER_PGPASS}"}


def redis_exporter(binary: str, paths: Paths, listen: str, tls: bool = False) -> list[str]:
    """Multi-target mode (no --redis.addr): Prometheus names each Redis; its user's password per URI."""
    return [binary, f"--web.listen-address={listen}", "--redis.addr=", f"--redis.user={REDIS_USER}",
            f"--redis.password-file={paths.secrets}/{REDIS_PASSWORDS}",
            *([f"--tls-ca-cert-file={CA_FILE}"] if tls else [])]


def pgpass_field(text: str) -> str:
    """libpq's password file: `:` and `\\` escaped with a backslash (PostgreSQL docs, 34.16)."""
    return text.replace("\\", "\\\\").replace(":", "\\:")


def redis_password_hash(password: str) -> str:
    """Redis ACL's `#<hash>` form: the SHA-256 of the password, hex (Redis docs, ACL rules)."""
    return hashlib.sha256(password.encode()).hexdigest()


def monitor_hash(password: str | None) -> str:
    """redis_exporter's ACL user's password hash for a Redis or Sentinel secret file; "" where the
    stack runs no monitoring (no password), which leaves the user out."""
    return redis_password_hash(password) if password else ""


def redis_uris(plan) -> list[str]:
    return [t.target for t in plan.monitoring["targets"].value if t.kind in ("redis", "sentinel")]


def secret_files(plan, pw: dict[str, str], bouncer: str) -> dict[str, str]:
    """The exporters' own credentials by file name: postgres_exporter's password, the PgBouncer
    exporter's libpq password file for `bouncer` (host:port), redis_exporter's passwords by URI."""
    host, port = bouncer.rsplit(":", 1)
    return {POSTGRES_PASSWORD_FILE: pw["monitor-postgres"],
            PGBOUNCER_PGPASS: f"{host}:{port}:pgbouncer:{MONITOR_ROLE}:{pgpass_field(pw['monitor-pgbouncer'])}\n",
            REDIS_PASSWORDS: json.dumps({uri: pw["monitor-redis"] for uri in redis_uris(plan)})}
