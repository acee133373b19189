"""Stage 3: plan → config files, through the Jinja2 templates in configs/. Renders; never computes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .harender import container_patroni_files, node_paths, patroni_files, postgres_proxy_cfg, primary_service
from .monitoring.config import (alertmanager_config, dump, web_tls_config, pgbouncer_exporter_config,
                                prometheus_config)
from .monitoring.containers import WEB_CONFIG, monitoring_containers
from .queuefiles import queue_ha_files

from .paths import LIVE_DIR, TEMPLATES
from .plan import Plan
from .units import format_bytes_human
from .plan.alerts import METRICS_PATH
from .plan.backup import CONTAINER_SOCKET_DIR, PGBACKREST_OPTIONS, repository_options
from .plan.backupserver import AGENT_SERVICE, REPOSITORY_SERVICE, client_options
from .plan.pgalerts import EXPORTER_QUERIES
from .plan.rollout import running
from .plan.tls import tls_keys
from .postgres.catalog import catalog

_BARE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Layout:
    """Where rendered files point on the host. Production paths by default; tests use a temp dir."""

    secrets_dir: str = "/etc/tunestack/secrets"
    data_dir: str = "/var/lib/tunestack"
    run_dir: str = "/run/tunestack"
    # Control sockets (Puma's control app): a folder only root and the web server's user enter.
    control_dir: str = "/run/tunestack/control"
    # pgBackRest: the repository when the stack names none (plan/backup.py DEFAULT_PATH), and the
    # folder of its spool, log and lock files.
    backup_dir: str = "/var/lib/pgbackrest"
    pgbackrest_dir: str = "/var/lib/tunestack/pgbackrest"
    pg_socket_dir: str = "/run/postgresql"
    conf_dir: str = "/etc/tunestack"       # where the rendered files land on the host


class UnsafeValue(ValueError):
    """A value that would change the structure of the file it lands in. The loader refuses such
    values first; this is the last line, so that even an unchecked value cannot add a line."""


def _one_line(text: str, where: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise UnsafeValue(f"{where}: control character in {text[:40]!r}")
    return text


def pg_conf_value(value: str, vartype: str) -> str:
    """postgresql.conf: bare when it is a plain word or number, else single-quoted with quotes
    doubled and backslashes escaped (the GUC file parser reads backslash escapes inside quotes;
    an unescaped trailing backslash would swallow the closing quote). Line breaks and other control
    characters are written as escapes, never raw."""
    text = str(value)
    if vartype != "string" and _BARE.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace("'", "''")
    for raw, esc in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"), ("\f", "\\f")):
        escaped = escaped.replace(raw, esc)
    return "'" + _one_line(escaped, "postgresql.conf") + "'"


_REDIS_BARE = re.compile(r"^[A-Za-z0-9._-]+( [A-Za-z0-9._-]+)*$")


def _redis_quoted(text: str) -> str:
    r"""Double quotes with Redis' escapes (sdssplitargs: \\, \", \xHH)."""
    escaped = "".join("\\" + ch if ch in '\\"' else f"\\x{ord(ch):02x}" if ord(ch) < 32 or ord(ch) == 127
                      else ch for ch in text)
    return '"' + escaped + '"'


def redis_value(value: str) -> str:
    r"""redis.conf: plain words stay bare (save's pairs too); anything else in double quotes with
    Redis' escapes. `save ""` turns snapshots off."""
    text = str(value)
    if text == "" or _REDIS_BARE.match(text):
        return text or '""'
    return _redis_quoted(text)


def redis_word(value) -> str:
    """One redis.conf argument (a password): bare only as a single plain word, else quoted, so a
    space can never split it into two arguments."""
    text = str(value)
    return text if re.fullmatch(r"[A-Za-z0-9._-]+", text) else _redis_quoted(text)


def line_value(value, where: str = "a config file") -> str:
    """Formats without a quoting rule that covers line breaks (env files, pgbouncer.ini, haproxy.cfg,
    Prometheus YAML via tojson aside): one line, or refused."""
    return _one_line(str(value), where)


def haproxy_word(value) -> str:
    """haproxy.cfg splits on spaces: a word without spaces, quotes, backslashes or '#'."""
    text = _one_line(str(value), "haproxy.cfg")
    if re.search(r"[\s'\"\\#]", text):
        raise UnsafeValue(f"haproxy.cfg: {text[:40]!r} is not one word")
    return text


def yaml_quoted(value) -> str:
    """A YAML single-quoted scalar: written as is, quotes doubled (YAML 1.2, 7.3.2), on one line.
    PromQL's double quotes and braces stay readable, unlike JSON's \u003e."""
    return "'" + _one_line(str(value), "YAML").replace("'", "''") + "'"


def ruby_literal(value) -> str:
    """A Ruby single-quoted string: only backslash and quote are special there (no #{} interpolation)."""
    return "'" + _one_line(str(value), "Ruby").replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_literal(value) -> str:
    """A SQL string literal: quotes doubled (standard_conforming_strings is on by default)."""
    return "'" + _one_line(str(value), "SQL").replace("'", "''") + "'"


def supervisor_env_value(value) -> str:
    """supervisord's environment=KEY="value",… is read with a non-POSIX shlex (no escapes) and the
    quotes stripped from both ends: a value is double-quoted as is, % doubled (supervisord expands
    %(name)s), and a double quote, or a single quote at either end, is refused: it cannot be carried."""
    text = _one_line(str(value), "supervisord.conf")
    if '"' in text or text[:1] == "'" or text[-1:] == "'":
        raise UnsafeValue("supervisord.conf: environment values cannot hold a double quote, "
                          "nor start or end with a single quote")
    return '"' + text.replace("%", "%%") + '"'


@lru_cache(maxsize=None)
def environment(pg_version: int | None = None) -> Environment:
    """The one Jinja environment: strict undefined, and an escaping filter per file format."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pg_quote"] = lambda value, name: pg_conf_value(value, catalog(pg_version)[name].vartype)
    env.filters["redis_quote"] = redis_value
    env.filters["line"] = line_value
    env.filters["haproxy_word"] = haproxy_word
    env.filters["supervisor_env"] = supervisor_env_value
    env.filters["sql_literal"] = sql_literal
    env.filters["ruby_literal"] = ruby_literal
    env.filters["yaml_quoted"] = yaml_quoted
    env.filters["userlist_quote"] = userlist_value
    env.filters["redis_word"] = redis_word
    return env


def userlist_value(value) -> str:
    """PgBouncer's auth_file: a double-quoted field, a double quote inside doubled."""
    return '"' + _one_line(str(value), "the PgBouncer auth file").replace('"', '""') + '"'


def render_text(template: str, **values) -> str:
    """One configs/ template that is not part of the plan's files: secrets files, pg_hba.conf and
    the bootstrap SQL, shared by the local stack, the Pulumi components and the images."""
    return environment().get_template(template).render(**values)


def render_plan(plan: Plan, layout: Layout = Layout()) -> dict[str, str]:
    """File name → content, for every file a host of this stack receives."""
    spec = plan.spec
    env = environment(spec.postgres.version)
    files = {
        "postgresql.conf": env.get_template("postgresql.conf.j2").render(
            stack=plan.stack, version=spec.postgres.version, settings=plan.postgres),
        "roles.sql": env.get_template("roles.sql.j2").render(stack=plan.stack, roles=plan.postgres_roles),
        "pgbouncer.ini": env.get_template("pgbouncer.ini.j2").render(
            stack=plan.stack, bouncer_version=".".join(map(str, spec.pgbouncer.version)),
            db_host=plan.placement["postgres"].reach, db_port=spec.postgres.port, settings=plan.pgbouncer,
            users=plan.pgbouncer_users, secrets_dir=layout.secrets_dir,
            replica_port=plan.ha["replica port"].value if plan.ha else None,
            monitoring=spec.monitoring.enabled),
    }
    for service, settings in plan.service_limits.items():
        files[f"{service}-limits.conf"] = env.get_template("limits.conf.j2").render(
            stack=plan.stack, unit=SYSTEMD_UNITS[service], settings=settings)
    for host, settings in plan.host_kernel.items():
        files[f"sysctl-{host}.conf"] = env.get_template("sysctl.conf.j2").render(stack=plan.stack, host=host,
                                                                                  settings=settings)
        if "transparent_hugepage" in settings:
            files[f"thp-{host}.conf"] = env.get_template("thp.conf.j2").render(
                stack=plan.stack, host=host, setting=settings["transparent_hugepage"])
    for role, settings in plan.redis.items():
        files[f"redis-{role}.conf"] = env.get_template("redis.conf.j2").render(
            stack=plan.stack, role=role, instance=None, settings=settings, secrets_dir=layout.secrets_dir,
            data_dir=layout.data_dir)
    if plan.postgres["archive_mode"].text == "on":
        files["pgbackrest.conf"] = pgbackrest_conf(plan, layout, env)
    files["web.env"] = env.get_template("app.env.j2").render(stack=plan.stack, process="web", env=plan.web_env)
    files["jobs.env"] = env.get_template("app.env.j2").render(stack=plan.stack, process="jobs", env=plan.jobs_env)
    if spec.app.framework == "rails":
        files["puma.rb"] = env.get_template("puma.rb.j2").render(stack=plan.stack, app=plan.app,
                                                                 control_dir=layout.control_dir,
                                                                 bind=plan.placement.app_bind,
                                                                 bind_reason=plan.placement.listen_why)
        files["sidekiq.yml"] = env.get_template("sidekiq.yml.j2").render(stack=plan.stack, app=plan.app)
    elif spec.app.framework == "python":
        files["gunicorn.conf.py"] = env.get_template("gunicorn.conf.py.j2").render(
            stack=plan.stack, app=plan.app, bind=plan.placement.app_bind)
    files["haproxy.cfg"] = haproxy_cfg(plan, layout, env)
    files.update(postgres_proxy_cfg(plan, layout, env) | patroni_files(plan, layout) | queue_ha_files(plan, layout, env))
    files["alerts.yml"] = env.get_template("alerts.yml.j2").render(stack=plan.stack, alerts=plan.alerts)
    # postgres_exporter's --extend.query-path: YAML written by the YAML library, never by hand.
    files["postgres-exporter-queries.yml"] = (
        f"# postgres_exporter queries for stack {plan.stack}, rendered by tunestack: the metrics the\n"
        "# PostgreSQL alerts read beyond the exporter's defaults (--extend.query-path).\n"
        + yaml.safe_dump(EXPORTER_QUERIES, sort_keys=False, width=1000))
    files["deploy.yml"] = env.get_template("deploy.yml.j2").render(
        stack=plan.stack, containers=plan.containers, splits=plan.splits, human=format_bytes_human)
    files["prometheus.yml"] = dump(plan.stack, "Prometheus' configuration", prometheus_config(plan))
    files["alertmanager.yml"] = dump(plan.stack, "Alertmanager's configuration", alertmanager_config(plan))
    if spec.monitoring.enabled:
        files["pgbouncer-exporter.yml"] = dump(plan.stack, "PgBouncer's exporter", pgbouncer_exporter_config(plan))
    if any(c.tls for c in monitoring_containers(plan)):
        files[WEB_CONFIG] = dump(plan.stack, "HTTPS for the monitoring servers reached from other hosts", web_tls_config())
    return files


def haproxy_cfg(plan: Plan, layout: Layout, env: Environment) -> str:
    return env.get_template("haproxy.cfg.j2").render(
        stack=plan.stack, lb=plan.loadbalancer, replicas=plan.replicas, layout=layout, docker=plan.placement.docker,
        metrics_path=METRICS_PATH, primary=primary_service(plan))


def pgbackrest_conf(plan: Plan, layout: Layout, env: Environment, pg_path: str | None = None,
                    side: str = "db") -> str:
    """pgBackRest's config: the plan's options, the repository where the plan puts it, and where
    the stack's PostgreSQL keeps its data (`pg_path`, else the layout's) and socket. With a
    repository server on another host (plan `repository server`, containers), `side` "db" is the
    PostgreSQL container's (a client of the repository, and the agent's TLS server) and
    "repository" the repository server's (the repository, and a client of the agent)."""
    spec, tls = plan.spec, plan.tls
    remote = "repository server" in plan.backup
    if not remote:
        repo = repository_options(plan.backup["repository"].value, spec.backup, spec.hosts, layout.backup_dir)
    elif side == "db":
        repo = {k: s.text for k, s in client_options("repo1-host", plan.backup["repository server"].value).items()}
    else:
        repo = {"repo1-path": layout.backup_dir}
    server = tls[AGENT_SERVICE if side == "db" else REPOSITORY_SERVICE].settings if remote else {}
    pg_port = spec.postgres.port
    if plan.ha and not pg_path:   # the first node's; commands name the leader's (--pg1-path, --pg1-port)
        first = plan.ha["nodes"].value[0]
        pg_path, pg_port = node_paths(layout, first.name, "").data_dir, first.port
    pg_path = pg_path or f"{layout.data_dir}/postgres"
    # The repository side reaches each node's agent (pg1-host, pg2-host, …); the db side is pg1 itself.
    agents = plan.backup["database agents"].value if remote and side != "db" else (None,)
    pgs = [{"index": i + 1, "host": client_options(f"pg{i + 1}-host", a) if a else {}, "path": pg_path,
            "port": pg_port} for i, a in enumerate(agents)]
    return env.get_template("pgbackrest.conf.j2").render(
        stack=plan.stack, options={k: plan.backup[k] for k in PGBACKREST_OPTIONS}, repo=repo, server=server,
        pgs=pgs, work_dir=layout.pgbackrest_dir, pg_socket=layout.pg_socket_dir)


# The PostgreSQL image's places (images/postgres): PGDATA on the data volume, pgBackRest's work
# folder beside it, the repository on a volume of its own, the socket where Debian's build puts it.
CONTAINER_PGDATA = "/var/lib/tunestack/postgres/pgdata"
CONTAINER_BACKUP = Layout(backup_dir="/var/lib/pgbackrest", pgbackrest_dir="/var/lib/tunestack/postgres/pgbackrest",
                          pg_socket_dir=CONTAINER_SOCKET_DIR)


# Debian's unit names for the services a drop-in configures.
SYSTEMD_UNITS = {"postgres": "postgresql@.service", "pgbouncer": "pgbouncer.service",
                 "redis-cache": "redis-server@cache.service", "redis-queue": "redis-server@queue.service",
                 "haproxy": "haproxy.service"}
# The Docker image's auth file: composed by the image from its uploaded users and the app's password,
# which arrives live (images/pgbouncer/admin.sh), so a rotation never restarts PgBouncer.
PGBOUNCER_AUTH_FILE = "/run/tunestack/pgbouncer-userlist.txt"
# What PgBouncer reads only at start (PgBouncer manual: these "cannot be changed at run time"), and
# what the admin console needs before the first live delivery. listen_backlog is listen(2)'s argument.
PGBOUNCER_AT_START = ("listen_addr", "listen_port", "unix_socket_dir", "auth_type", "listen_backlog")


def render_container_bases(plan: Plan, layout: Layout = Layout()) -> dict[str, str]:
    """The files of the Docker target for the servers whose settings arrive live (tunestack-live):
    - postgresql.conf, the container's own: the settings PostgreSQL reads only at start, and an
      include of postgresql.live.conf: every other setting, which a reload applies. The two never
      share a setting, so a live file left from before can never hold a start-only value (a
      removed override goes back to PostgreSQL's default at the restart it needs);
    - pgbouncer.ini, the container's own: [databases] and what PgBouncer reads only at start, then
      includes pgbouncer.live.ini: the rest of [pgbouncer], which RELOAD applies."""
    spec = plan.spec
    env = environment(spec.postgres.version)
    gucs = catalog(spec.postgres.version)
    # TLS belongs with the certificate files the container is created with: from its first second
    # (pg_hba.conf takes hostssl only), never from a later live delivery.
    tls = tls_keys(plan)
    at_start = {k: s for k, s in plan.postgres.items() if gucs[k].context == "postmaster" or k in tls}
    return {
        "postgresql.conf": env.get_template("postgresql.container.conf.j2").render(
            stack=plan.stack, settings=at_start, live=f"{LIVE_DIR}/postgresql.conf"),
        "postgresql.live.conf": env.get_template("postgresql.conf.j2").render(
            stack=plan.stack, version=spec.postgres.version,
            settings={k: s for k, s in plan.postgres.items() if k not in at_start}),
        "pgbouncer.ini": env.get_template("pgbouncer.container.ini.j2").render(
            stack=plan.stack, at_start={k: s for k, s in plan.pgbouncer.items() if k in PGBOUNCER_AT_START or k in tls},
            db_host=plan.placement["postgres"].reach, db_port=spec.postgres.port, users=plan.pgbouncer_users,
            live=f"{LIVE_DIR}/pgbouncer.ini", auth_file=PGBOUNCER_AUTH_FILE,
            replica_port=plan.ha["replica port"].value if plan.ha else None,
            monitoring=bool(monitoring_containers(plan))),
        "pgbouncer.live.ini": env.get_template("pgbouncer.live.ini.j2").render(
            stack=plan.stack, settings={k: s for k, s in plan.pgbouncer.items()
                                        if k not in PGBOUNCER_AT_START and k not in tls}),
        **({"pgbackrest.conf": pgbackrest_conf(plan, CONTAINER_BACKUP, env, CONTAINER_PGDATA)}
           if plan.postgres["archive_mode"].text == "on" else {}),
        **({"pgbackrest.repository.conf": pgbackrest_conf(plan, CONTAINER_BACKUP, env, CONTAINER_PGDATA, "repository")}
           if "repository server" in plan.backup else {}),
        **({"backup.cron": backup_crontab(plan, env)} if plan.postgres["archive_mode"].text == "on" else {}),
        **container_patroni_files(plan, CONTAINER_PGDATA),
    }




def backup_crontab(plan: Plan, env: Environment) -> str:
    """The backup schedule for cron in the container that runs backups (/etc/cron.d)."""
    from .backup.schedule import cron_entries
    from .plan.backup import FULL_WEEKDAY

    return env.get_template("backup.cron.j2").render(stack=plan.stack, entries=cron_entries(
        plan.backup["full"].value, plan.backup["backup hour"].value, FULL_WEEKDAY))


def write(files: dict[str, str], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = out_dir / name
        path.write_text(content)
        written.append(path)
    for stale in out_dir.iterdir():  # a file the plan no longer produces (puma.rb after a switch)
        if stale.is_file() and stale.name not in files:
            stale.unlink()
    return written


def stale_stacks(rendered: dict[str, dict[str, str]], root: Path) -> list[str]:
    """The stacks whose folder under `root` differs from a fresh render (`render --check`)."""
    stale = []
    for name, files in rendered.items():
        target = root / name
        present = {p.name: p.read_text() for p in target.glob("*")} if target.exists() else {}
        if present != files:
            stale.append(name)
    return stale
