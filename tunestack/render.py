"""Plan → config files, through the Jinja2 templates in configs/. Renders; never computes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .planner import Plan, container_name
from .postgres.catalog import catalog

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "configs"
RENDERED = ROOT / "rendered"
_BARE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Layout:
    """Where rendered files point on the host. Production paths by default; tests use a temp dir."""

    secrets_dir: str = "/etc/tunestack/secrets"
    data_dir: str = "/var/lib/tunestack"
    run_dir: str = "/run/tunestack"


def _environment(version: int) -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    gucs = catalog(version)

    def pg_quote(value, name):
        text = str(value)
        if gucs[name].vartype == "string" or not _BARE.match(text):
            return "'" + text.replace("'", "''") + "'"
        return text

    def redis_quote(value):
        text = str(value)
        return text if text else '""'  # `save ""` turns snapshots off

    env.filters["pg_quote"] = pg_quote
    env.filters["redis_quote"] = redis_quote
    return env


def render_plan(plan: Plan, layout: Layout = Layout()) -> dict[str, str]:
    """File name → content, for every file a host of this stack receives."""
    spec = plan.spec
    env = _environment(spec.postgres.version)
    db_host = spec.host_with("db")
    files = {
        "postgresql.conf": env.get_template("postgresql.conf.j2").render(
            stack=plan.stack, version=spec.postgres.version, settings=plan.postgres),
        "roles.sql": env.get_template("roles.sql.j2").render(stack=plan.stack, roles=plan.postgres_roles),
        "pgbouncer.ini": env.get_template("pgbouncer.ini.j2").render(
            stack=plan.stack, bouncer_version=".".join(map(str, spec.pgbouncer.version)),
            db_host=container_name(plan.stack, "postgres") if plan.target == "docker" else db_host.address,
            db_port=spec.postgres.port, settings=plan.pgbouncer,
            secrets_dir=layout.secrets_dir),
        "pgbouncer-limits.conf": env.get_template("pgbouncer-limits.conf.j2").render(
            stack=plan.stack, settings=plan.pgbouncer_service),
    }
    for role, settings in plan.redis.items():
        files[f"redis-{role}.conf"] = env.get_template("redis.conf.j2").render(
            stack=plan.stack, role=role, settings=settings, secrets_dir=layout.secrets_dir,
            data_dir=layout.data_dir)
    files["web.env"] = env.get_template("app.env.j2").render(stack=plan.stack, process="web", env=plan.web_env)
    files["jobs.env"] = env.get_template("app.env.j2").render(stack=plan.stack, process="jobs", env=plan.jobs_env)
    app_host = spec.app_hosts()[0]
    if spec.app.framework == "rails":
        files["puma.rb"] = env.get_template("puma.rb.j2").render(stack=plan.stack, app=plan.app)
    else:
        files["gunicorn.conf.py"] = env.get_template("gunicorn.conf.py.j2").render(
            stack=plan.stack, app=plan.app,
            bind="127.0.0.1" if app_host.is_local and plan.target == "hosts" else "0.0.0.0")
    files["haproxy.cfg"] = env.get_template("haproxy.cfg.j2").render(
        stack=plan.stack, lb=plan.loadbalancer, replicas=plan.replicas, layout=layout)
    files["alerts.yml"] = env.get_template("alerts.yml.j2").render(stack=plan.stack, alerts=plan.alerts)
    return files


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
