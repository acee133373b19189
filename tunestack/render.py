"""Stage 3: plan → config files, through the Jinja2 templates in configs/. Renders; never computes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .paths import TEMPLATES
from .plan import Plan
from .postgres.catalog import catalog

_BARE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Layout:
    """Where rendered files point on the host. Production paths by default; tests use a temp dir."""

    secrets_dir: str = "/etc/tunestack/secrets"
    data_dir: str = "/var/lib/tunestack"
    run_dir: str = "/run/tunestack"


@lru_cache(maxsize=None)
def environment(pg_version: int | None = None) -> Environment:
    """The one Jinja environment: strict undefined, and a quoting filter per file format."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)

    def pg_quote(value, name):
        text = str(value)
        if catalog(pg_version)[name].vartype == "string" or not _BARE.match(text):
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
    env = environment(spec.postgres.version)
    files = {
        "postgresql.conf": env.get_template("postgresql.conf.j2").render(
            stack=plan.stack, version=spec.postgres.version, settings=plan.postgres),
        "roles.sql": env.get_template("roles.sql.j2").render(stack=plan.stack, roles=plan.postgres_roles),
        "pgbouncer.ini": env.get_template("pgbouncer.ini.j2").render(
            stack=plan.stack, bouncer_version=".".join(map(str, spec.pgbouncer.version)),
            db_host=plan.placement["postgres"].reach, db_port=spec.postgres.port, settings=plan.pgbouncer,
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
    if spec.app.framework == "rails":
        files["puma.rb"] = env.get_template("puma.rb.j2").render(stack=plan.stack, app=plan.app)
    else:
        files["gunicorn.conf.py"] = env.get_template("gunicorn.conf.py.j2").render(
            stack=plan.stack, app=plan.app, bind=plan.placement.app_bind)
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
