"""What `status` says of a local stack: the applied plan, each program's state, the endpoints."""
from __future__ import annotations

from ..monitoring.report import monitoring_lines, monitoring_report


def _applied(local) -> dict | None:
    from .stack import read_state

    return read_state(local.dir)


def _who_reads(path) -> str:
    """Who may read a private file, by its owner: "root only", or "only <user>"."""
    import pwd

    try:
        owner = pwd.getpwuid(path.stat().st_uid).pw_name
    except (OSError, KeyError):
        return "not there yet"
    return "root only" if owner == "root" else f"only {owner}"


def as_json(local) -> dict:
    """For machines: the applied plan's digest, each program's state and pid (supervisord's
    XML-RPC), and the endpoints."""
    out = {"stack": local.stack, "state_dir": str(local.dir), "running": local.supervisor.is_up(),
           "applied": _applied(local), "programs": {}}
    if out["running"]:
        out["programs"] = {p["name"]: {"state": p["statename"], "pid": p["pid"] or None}
                           for p in local.supervisor.programs()}
    try:
        plan = local.plan()
        out["endpoints"] = {service: f"127.0.0.1:{port}" for service, port in plan.ports().items()}
        if plan.ha and out["running"]:
            out["cluster"] = local.servers.cluster.members(plan)   # Patroni's GET /cluster
        if plan.queue_ha and out["running"]:
            out["queue"] = local.servers.queue.roles(plan)         # each node's INFO replication
        if out["running"]:
            out["monitoring"] = monitoring_report(plan)            # Prometheus' targets and alerts
    except Exception as exc:  # status must work even when the stack file is broken
        out["endpoints"], out["plan_error"] = None, str(exc)
    return out


def _cluster_lines(local, plan) -> list[str]:
    """Each node's role as Patroni sees it: who leads, who is the synchronous standby, how far behind."""
    members = local.servers.cluster.members(plan)
    if not members:
        return ["nodes:      Patroni does not answer on any node"]
    return [f"node:       {m['name']} {m['role']} {m['state']} 127.0.0.1:{m['port']} timeline {m.get('timeline', '?')}"
            + (f" lag {m['lag']} bytes" if "lag" in m else "") for m in members]


def as_text(local) -> str:
    lines = [f"stack {local.stack}: state in {local.dir}"]
    applied = _applied(local)
    if applied:
        lines.append(f"plan {applied['plan_digest']} applied {applied['applied_at']} (PostgreSQL {applied['pg_version']})")
    if not local.supervisor.is_up():
        lines.append("not running")
        return "\n".join(lines)
    lines.append(local.supervisor.ctl("status", check=False).rstrip())
    try:
        plan = local.plan()
        lines.append(f"web:        http://127.0.0.1:{plan.loadbalancer['port'].value}/ (HAProxy)")
        lines.append(f"postgres:   127.0.0.1:{plan.postgres['port'].value}  "
                     f"pgbouncer: 127.0.0.1:{plan.pgbouncer['listen_port'].value}")
        lines.append(f"redis:      cache 127.0.0.1:{plan.redis['cache']['port'].value}, "
                     f"queue 127.0.0.1:{plan.redis['queue']['port'].value}")
        if plan.ha:
            lines += _cluster_lines(local, plan)
        if plan.queue_ha:
            lines += [f"queue node: {n['name']} {n['role']} 127.0.0.1:{n['port']}"
                      + (f" link {n['link']}" if n["link"] else "") for n in local.servers.queue.roles(plan)]
        lines += monitoring_lines(monitoring_report(plan))
        lines.append(f"logs:       {local.folders.log}   passwords: {local.secrets_dir / 'passwords.json'} "
                     f"({_who_reads(local.secrets_dir / 'passwords.json')})")
    except Exception as exc:  # status must work even when the stack file is broken
        lines.append(f"(plan unavailable: {exc})")
    return "\n".join(lines)
